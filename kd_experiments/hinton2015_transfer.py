"""Hinton, Vinyals & Dean (2015), section 3: distilling on a transfer set with classes left out.

The 800-800 student is distilled at T = 20 on a transfer set without some classes (the teacher
saw every class); then the output biases of the left-out classes are shifted, by an amount
picked on the validation split (the paper picked it on the test set). Shifting a class's output
bias by b adds b to that class's logit, so the bias-shift curves are computed from the
student's logits without touching the model. Paper: without 3s, 206 errors (133 of the 1,010
test 3s); +3.5 on the 3's bias, 109 errors (14 on 3s). Only 7s and 8s: 47.3% test error; -7.6
on the 7 and 8 biases, 13.2%.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from kd_lab import datasets, runner, stats, sweep
from kd_lab.config import RunConfig
from kd_lab.records import RESULTS_DIR, RunRecord, aggregate

from .hinton2015 import hinton_configs


@dataclass(frozen=True)
class TransferSet:
    """A transfer set with classes left out, and the output biases shifted afterwards."""

    name: str
    transfer_classes: tuple[int, ...]  # the classes the student sees
    shifted_classes: tuple[int, ...]  # the classes whose output bias is shifted
    shifts: tuple[float, ...]  # the candidate shifts, 0 first
    paper: dict  # the paper's numbers, for the table


TRANSFER_SETS = {
    "omit_3": TransferSet(
        "omit_3", (0, 1, 2, 4, 5, 6, 7, 8, 9), (3,), tuple(np.arange(0, 8.01, 0.25).round(2)),
        paper={"test_errors": 206, "class_errors": 133, "shifted_test_errors": 109,
               "shifted_class_errors": 14, "shift": 3.5}),
    "only_7_8": TransferSet(
        "only_7_8", (7, 8), (7, 8), tuple(np.arange(0, -12.01, -0.25).round(2)),
        paper={"test_error_percent": 47.3, "shifted_test_error_percent": 13.2, "shift": -7.6}),
}


def omitted_class_configs(transfer_set: str | TransferSet, seeds=(0, 1, 2), profile="paper",
                          student="mlp:800,800", temperature=20.0,
                          alpha=0.1, student_knobs: dict | None = None,
                          teacher_knobs: dict | None = None,
                          monitor: str = "val_accuracy") -> list[RunConfig]:
    """The 800-800 student distilled at T = 20 on a transfer set without some classes.

    Each seed distils its own seed's teacher, as in `hinton2015.compare`; the teacher saw every
    class. `monitor` selects the kept epoch: "val_loss" (the distillation loss on the restricted
    validation split), since a split of one or two classes saturates accuracy in epoch 1.
    """
    transfer_set = _transfer_set(transfer_set)
    return [hinton_configs(seed, profile, "mnist", student, temperature, alpha,
                           student_knobs, teacher_knobs)[2]
            .replace(transfer_classes=transfer_set.transfer_classes, monitor=monitor)
            for seed in seeds]


def _transfer_set(transfer_set) -> TransferSet:
    if isinstance(transfer_set, TransferSet):
        return transfer_set
    if transfer_set not in TRANSFER_SETS:
        raise ValueError(f"transfer_set must be one of {', '.join(TRANSFER_SETS)} or a "
                         f"TransferSet; got {transfer_set!r}")
    return TRANSFER_SETS[transfer_set]


def bias_shift_curve(logits, labels, shifted_classes, shifts) -> pd.DataFrame:
    """Errors overall and on `shifted_classes` after adding each shift to their logits.

    Adding b to a class's logits is the same as adding b to its output bias.
    """
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    if logits.ndim != 2 or len(logits) != len(labels):
        raise ValueError(f"logits must be (examples, classes) matching labels; got "
                         f"{logits.shape} for {labels.shape} labels")
    classes = list(shifted_classes)
    in_classes = np.isin(labels, classes)
    rows = []
    for shift in shifts:
        shifted = logits.copy()
        shifted[:, classes] += shift
        wrong = shifted.argmax(-1) != labels
        rows.append({"shift": float(shift), "errors": int(wrong.sum()), "count": len(labels),
                     "class_errors": int(wrong[in_classes].sum()),
                     "class_count": int(in_classes.sum())})
    frame = pd.DataFrame(rows)
    frame["error_percent"] = 100 * frame["errors"] / frame["count"]
    frame["class_accuracy_percent"] = 100 * (1 - frame["class_errors"] / frame["class_count"])
    return frame


def bias_shift_curves(records: list[RunRecord], transfer_set, results_dir=RESULTS_DIR,
                      data_dir=None) -> pd.DataFrame:
    """The bias-shift curve of each run on the full validation and test splits (every class).

    A run's curves already in the committed `tables/08_bias_shift_curves_<profile>.csv` (same
    run id, same shifts) are read from there; otherwise the model comes from its record
    (retrained, deterministically and announced, if `model.keras` is missing).
    """
    transfer_set = _transfer_set(transfer_set)
    curves = []
    for record in records:
        known = _committed_curves(record, transfer_set, results_dir)
        if known is not None:
            curves.append(known)
            continue
        model = runner.get_or_train_model(record.config, results_dir, data_dir, verbose=0)
        splits = datasets.splits_for(record.config.replace(transfer_classes=None), data_dir)
        for split, x, y in (("val", splits.x_val, splits.y_val),
                            ("test", splits.x_test, splits.y_test)):
            logits = model.predict(x, batch_size=1024, verbose=0)
            curve = bias_shift_curve(logits, y, transfer_set.shifted_classes, transfer_set.shifts)
            curves.append(curve.assign(transfer_set=transfer_set.name, seed=record.config.seed,
                                       split=split, run_id=record.run_id))
    return pd.concat(curves, ignore_index=True)


def _committed_curves(record: RunRecord, transfer_set: TransferSet, results_dir):
    return _curve_rows(record.run_id, record.config.profile, transfer_set, results_dir)


def _curve_rows(run_id: str, profile: str, transfer_set: TransferSet, results_dir):
    path = Path(results_dir) / "tables" / f"08_bias_shift_curves_{profile}.csv"
    if not path.exists():
        return None
    table = pd.read_csv(path)
    rows = table[table["run_id"] == run_id]
    expected = 2 * len(transfer_set.shifts)  # validation and test
    if len(rows) != expected or not np.allclose(sorted(set(rows["shift"])),
                                                sorted(set(transfer_set.shifts))):
        return None
    return rows.reset_index(drop=True)


def choose_shifts(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run, the shift with the fewest validation errors (the smallest |shift| on ties)."""
    val = curves[curves["split"] == "val"].assign(size=lambda f: f["shift"].abs())
    best = val.sort_values(["run_id", "errors", "size"]).groupby("run_id").head(1)
    return best[["transfer_set", "seed", "run_id", "shift"]].reset_index(drop=True)


def omitted_class_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Test results without a shift and with the validation-chosen shift, mean/std over seeds;
    on the shifted line, its test errors against the unshifted (`stats.TEST_COLUMNS`: the same
    runs measured twice, so a paired t test; Holm over the transfer sets)."""
    chosen = choose_shifts(curves)
    test = curves[curves["split"] == "test"]
    no_shift = test[test["shift"] == 0].assign(bias="none")
    shifted = test.merge(chosen, on=["transfer_set", "seed", "run_id", "shift"])
    shifted = shifted.assign(bias="shift chosen on validation")
    rows = pd.concat([no_shift, shifted], ignore_index=True)
    table = aggregate(rows, by=("transfer_set", "bias"),
                      metrics=("shift", "errors", "error_percent", "class_errors",
                               "class_accuracy_percent"))
    tests = stats.compare_within(rows, "transfer_set", "bias", "none", "errors",
                                 pair_by="run_id")
    table = table.merge(tests, on=["transfer_set", "bias"], how="left")
    table.loc[table["bias"] == "none", "verdict"] = "baseline"
    paper = []
    for _, row in table.iterrows():
        numbers = TRANSFER_SETS[row.transfer_set].paper if row.transfer_set in TRANSFER_SETS else {}
        prefix = "" if row.bias == "none" else "shifted_"
        paper.append({"paper_shift": numbers.get("shift") if prefix else 0.0,
                      "paper_errors": numbers.get(f"{prefix}test_errors"),
                      "paper_error_percent": numbers.get(f"{prefix}test_error_percent"),
                      "paper_class_errors": numbers.get(f"{prefix}class_errors")})
    return pd.concat([table, pd.DataFrame(paper)], axis=1)


def shift_verdicts(table: pd.DataFrame) -> str:
    """The sentence saying what the validation-chosen shift did to each transfer set's test
    errors (an `omitted_class_table` with its tests); "" for a table without them."""
    if "verdict" not in table:
        return ""
    shifted = table[table["bias"] != "none"]
    parts = [f"{row.transfer_set}: {row.difference:+.1f} errors "
             f"{stats.interval(row.diff_low, row.diff_high)}{_in_points(row)}, Holm p = "
             f"{row.p_holm:.3g}: {row.verdict}" for row in shifted.itertuples()]
    return ("The shift chosen on validation, against no shift (the same runs, a paired t test "
            f"over {int(shifted.errors_count.min())} seeds, Holm over {len(parts)} transfer "
            "sets): " + "; ".join(parts) + ".")


def _in_points(row) -> str:
    # Where the paper gives an error rate, so does the table: the difference in its unit too.
    if pd.isna(getattr(row, "paper_error_percent", None)):
        return ""
    scale = row.error_percent_mean / row.errors_mean  # 100 / the test set's size
    return (f" (= {scale * row.difference:+.2f} points of test error % "
            f"{stats.interval(scale * row.diff_low, scale * row.diff_high, 2)})")


# -- Figures --------------------------------------------------------------------------------
def plot_errors_vs_temperature_by_width(table: pd.DataFrame, ax=None):
    """Test errors against T, one line per student width, with each width's scratch level.

    Args:
        table: `kd_experiments.hinton2015.width_table(...)` output (distilled rows at each T,
            scratch rows at NaN).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    colors = itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for (width, group), color in zip(table.groupby("width"), colors, strict=False):
        distilled = group[group["student"] == "distilled"].sort_values("temperature")
        ax.errorbar(distilled["temperature"], distilled["test_errors_mean"],
                    yerr=distilled["test_errors_std"].fillna(0), marker="o", capsize=3,
                    color=color, label=f"{width}-{width} distilled")
        for _, row in group[group["student"] == "scratch"].iterrows():
            ax.axhline(row.test_errors_mean, color=color, linestyle=":", linewidth=1)
    sweep.temperature_axis(ax, table["temperature"])
    ax.set_xlabel("temperature T")
    ax.set_ylabel("test errors (of 10,000)")
    alphas = sorted(table.loc[table["student"] == "distilled", "alpha"].unique())
    ax.set_title("dotted: the same width from scratch; alpha (hard-label weight) = "
                 + ", ".join(f"{a:g}" for a in alphas), fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return ax


def plot_bias_shift_curves(curves: pd.DataFrame, chosen: pd.DataFrame | None = None,
                           paper_shift: float | None = None, axes=None):
    """Errors overall and on the shifted classes against the bias shift, per split.

    Mean over seeds with the min-max band; the shifts chosen on validation (one per seed) and
    the paper's shift are marked.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    # The classes of the transfer set the curves are of (the omitted 3, or the only 7s and 8s)
    shifted = sorted({c for name in curves.get("transfer_set", pd.Series()).unique()
                      for c in TRANSFER_SETS[name].shifted_classes})
    classes = ("the shifted classes" if not shifted else f"class {shifted[0]}"
               if len(shifted) == 1 else
               f"classes {', '.join(map(str, shifted[:-1]))} and {shifted[-1]}")
    for ax, (column, label) in zip(axes, (("error_percent", "test error % (all classes)"),
                                          ("class_accuracy_percent",
                                           f"% of {classes} right")), strict=True):
        for split, style in (("val", "--"), ("test", "-")):
            stats = (curves[curves["split"] == split].groupby("shift")[column]
                     .agg(["mean", "min", "max"]))
            ax.plot(stats.index, stats["mean"], style, label=split)
            ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.2)
        if chosen is not None:
            for shift in chosen["shift"]:
                ax.axvline(shift, color="gray", linewidth=0.8)
        if paper_shift is not None:
            ax.axvline(paper_shift, color="black", linestyle=":", label=f"paper ({paper_shift:g})")
        ax.set_xlabel(f"shift added to the output bias of {classes}")
        ax.set_ylabel(label.replace("test ", ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_yscale("log")
    axes[0].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[0].yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes[0].yaxis.set_minor_formatter(NullFormatter())
    axes[0].set_title("gray: the shift chosen on validation, per seed", fontsize=8)
    return axes
