"""The MNIST experiments of Hinton, Vinyals & Dean (2015), section 3, with the paper's numbers.

Each experiment is a list of ordinary run configs (so it resumes, and shares records with the
other notebooks) plus a function that derives its table from the run records:

- `main_table`: teacher 784-1200-1200-10 (dropout, max-norm, +-2 pixel jitter), the
  784-800-800-10 student from scratch, and the same student distilled at T = 20.
  Paper: 67, 146 and 74 test errors.
- `width_configs` / `width_table`: test errors against T for students of several widths. Paper:
  300+ units per layer are insensitive to T above about 8; 30-30 does best at T = 2.5 to 4.
- `omitted_class_configs` / `bias_shift_curves` / `omitted_class_table`: distillation on a
  transfer set with classes removed, then a shift of the removed classes' output biases, picked
  on the validation split (the paper picked it on the test set). Paper: without 3s, 206 errors
  (133 of the 1,010 test 3s); +3.5 on the 3's bias, 109 errors (14 on 3s). Only 7s and 8s:
  47.3% test error; -7.6 on the 7 and 8 biases, 13.2%.
- `regulariser_configs` / `regulariser_table`: 3% of the training set with hard labels against
  the same 3% with the teacher's soft targets (the paper's speech Table 5, done on MNIST).
- `ensemble_configs` / `ensemble_table`: the 800-800 student distilled from the averaged
  logits of the main table's teachers (the paper ensembles its speech models; no MNIST number).

alpha weights the hard-label loss everywhere; 1 - alpha weights the T^2-scaled soft loss.
Shifting a class's output bias by b adds b to that class's logit, so the bias-shift curves are
computed from the student's logits without touching the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import experiments, runs, sweep

PAPER_MAIN_ERRORS = {"teacher": 67, "scratch": 146, "distilled": 74}

WIDTHS = (30, 100, 300, 800)
WIDTH_TEMPERATURES = (1.0, 2.0, 2.5, 4.0, 8.0, 20.0)


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


# -- 1. the main table ---------------------------------------------------------------------
def main_table(records: list[runs.RunRecord]) -> pd.DataFrame:
    """`experiments.comparison_table` with the paper's test errors beside ours."""
    table = experiments.comparison_table(records)
    table.insert(1, "paper_test_errors", table["role"].astype(str).map(PAPER_MAIN_ERRORS))
    return table


# -- 5. an ensemble teacher (optional in the issue; the paper's section 2 idea on MNIST) -----
ENSEMBLE_MEMBERS = (0, 1, 2)


def ensemble_configs(seeds=(0, 1, 2), profile: str = "paper", members=ENSEMBLE_MEMBERS,
                     temperature: float = 20.0, alpha: float = 0.1) -> list[runs.RunConfig]:
    """The main table's 800-800 student distilled from the average of its teachers' logits.

    The members are the main table's teachers of seeds `members` (the same runs, not new
    ones), so the ensemble costs only its students. One config per student seed.
    """
    configs = []
    for seed in seeds:
        _, _, distilled = experiments.hinton_configs(seed, profile, temperature=temperature,
                                                     alpha=alpha)
        configs.append(distilled.replace(teacher=distilled.teacher.replace(seed=members[0]),
                                         teacher_seeds=tuple(members)))
    return configs


def ensemble_table(records: list[runs.RunRecord], results_dir=runs.RESULTS_DIR,
                   data_dir=None) -> pd.DataFrame:
    """Test errors of the ensemble teacher and of the students distilled from it.

    The ensemble teacher is evaluated from its members' cached logits (one number: it is one
    model); the students are mean, std and count over their seeds.
    """
    config = records[0].config
    splits = runs.load_splits(config, data_dir)
    _, _, test_logits = runs.ensemble_logits(config, splits, results_dir, data_dir)
    teacher_errors = int((test_logits.argmax(-1) != splits.y_test).sum())
    students = pd.Series([r.row["test_errors"] for r in records], dtype=float)
    return pd.DataFrame([
        {"role": "ensemble_teacher", "members": len(config.teacher_seeds),
         "test_errors_mean": float(teacher_errors), "test_errors_std": float("nan"),
         "test_errors_count": 1},
        {"role": "ensemble_distilled", "members": len(config.teacher_seeds),
         "test_errors_mean": students.mean(), "test_errors_std": students.std(),
         "test_errors_count": len(students)}])


# -- 2. temperature against student width --------------------------------------------------
def width_configs(widths=WIDTHS, temperatures=WIDTH_TEMPERATURES, seeds=(0, 1, 2),
                  profile: str = "full", alpha: float = 0.1) -> list[runs.RunConfig]:
    """Distilled students of each width at each T, plus each width from scratch (alpha = 1).

    These are the T x alpha sweep's configs, so the 30-30 and 800-800 runs the sweep made
    are read back, not retrained.
    """
    return [config for width in widths
            for config in sweep.sweep_configs("mnist", f"mlp:{width},{width}", temperatures,
                                              (alpha, 1.0), seeds, profile)]


def width_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Test errors (mean, std, count over seeds) per width and T; T = NaN marks from-scratch."""
    rows = rows.copy()
    rows["width"] = rows["architecture"].str.extract(r"mlp:(\d+)", expand=False).astype(int)
    rows["student"] = np.where(rows["alpha"] == 1.0, "scratch", "distilled")
    rows.loc[rows["student"] == "scratch", "temperature"] = np.nan
    table = runs.aggregate(rows, by=("width", "student", "temperature", "alpha"),
                           metrics=("test_errors", "test_accuracy"))
    return table.sort_values(["width", "student", "temperature"]).reset_index(drop=True)


# -- 3. omitted classes and the bias shift -------------------------------------------------
def omitted_class_configs(transfer_set: str | TransferSet, seeds=(0, 1, 2), profile="full",
                          student="mlp:800,800", temperature=20.0,
                          alpha=0.1) -> list[runs.RunConfig]:
    """The 800-800 student distilled at T = 20 on a transfer set without some classes.

    Each seed distils its own seed's teacher, as in `experiments.compare`; the teacher saw every
    class.
    """
    transfer_set = _transfer_set(transfer_set)
    return [experiments.hinton_configs(seed, profile, "mnist", student, temperature, alpha)[2]
            .replace(transfer_classes=transfer_set.transfer_classes) for seed in seeds]


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


def bias_shift_curves(records: list[runs.RunRecord], transfer_set, results_dir=runs.RESULTS_DIR,
                      data_dir=None) -> pd.DataFrame:
    """The bias-shift curve of each run on the full validation and test splits (every class).

    The model comes from its record (retrained, deterministically, if `model.keras` is missing).
    """
    transfer_set = _transfer_set(transfer_set)
    curves = []
    for record in records:
        model = runs.get_model(record.config, results_dir, data_dir, verbose=0)
        splits = runs.load_splits(record.config.replace(transfer_classes=None), data_dir)
        for split, x, y in (("val", splits.x_val, splits.y_val),
                            ("test", splits.x_test, splits.y_test)):
            logits = model.predict(x, batch_size=1024, verbose=0)
            curve = bias_shift_curve(logits, y, transfer_set.shifted_classes, transfer_set.shifts)
            curves.append(curve.assign(transfer_set=transfer_set.name, seed=record.config.seed,
                                       split=split, run_id=record.run_id))
    return pd.concat(curves, ignore_index=True)


def choose_shifts(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run, the shift with the fewest validation errors (the smallest |shift| on ties)."""
    val = curves[curves["split"] == "val"].assign(size=lambda f: f["shift"].abs())
    best = val.sort_values(["run_id", "errors", "size"]).groupby("run_id").head(1)
    return best[["transfer_set", "seed", "run_id", "shift"]].reset_index(drop=True)


def omitted_class_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Test results without a shift and with the validation-chosen shift, mean/std over seeds."""
    chosen = choose_shifts(curves)
    test = curves[curves["split"] == "test"]
    no_shift = test[test["shift"] == 0].assign(bias="none")
    shifted = test.merge(chosen, on=["transfer_set", "seed", "run_id", "shift"])
    shifted = shifted.assign(bias="shift chosen on validation")
    rows = pd.concat([no_shift, shifted], ignore_index=True)
    table = runs.aggregate(rows, by=("transfer_set", "bias"),
                           metrics=("shift", "errors", "error_percent", "class_errors",
                                    "class_accuracy_percent"))
    paper = []
    for _, row in table.iterrows():
        numbers = TRANSFER_SETS[row.transfer_set].paper if row.transfer_set in TRANSFER_SETS else {}
        prefix = "" if row.bias == "none" else "shifted_"
        paper.append({"paper_shift": numbers.get("shift") if prefix else 0.0,
                      "paper_errors": numbers.get(f"{prefix}test_errors"),
                      "paper_error_percent": numbers.get(f"{prefix}test_error_percent"),
                      "paper_class_errors": numbers.get(f"{prefix}class_errors")})
    return pd.concat([table, pd.DataFrame(paper)], axis=1)


# -- 4. soft targets as a regulariser ------------------------------------------------------
def regulariser_configs(fraction: float = 0.03, seeds=(0, 1, 2), profile: str = "full",
                        student="mlp:800,800", temperature=20.0, alpha=0.1,
                        epochs: int | None = None, patience: int | None = None,
                        train_size: int | None = None) -> list[runs.RunConfig]:
    """Scratch and distilled students on all training data and on its first `fraction`.

    The all-data runs are `experiments.compare`'s. A 3% set has few steps per epoch, so the
    small runs get 10 times the epochs and patience by default. `train_size` is the number of
    training examples of the profile (55,000 for MNIST full); loaded when None.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1); got {fraction!r}")
    configs = []
    for seed in seeds:
        _, scratch, distilled = experiments.hinton_configs(seed, profile, "mnist", student,
                                                           temperature, alpha)
        size = train_size or len(runs.load_splits(scratch).x_train)
        small = dict(train_limit=max(1, round(fraction * size)),
                     epochs=epochs or 10 * scratch.epochs,
                     patience=patience if patience is not None else 10 * scratch.patience)
        configs += [scratch, distilled, scratch.replace(**small), distilled.replace(**small)]
    return configs


def regulariser_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Train and test accuracy (mean, std over seeds) per data size and kind of target."""
    rows = rows.copy()
    rows["targets"] = np.where(rows["role"] == "distilled", "soft targets (distilled)",
                               "hard labels (scratch)")
    table = runs.aggregate(rows, by=("train_examples", "targets", "temperature", "alpha"),
                           metrics=("train_accuracy", "test_accuracy", "test_errors",
                                    "best_epoch"))
    total = table["train_examples"].max()
    table.insert(1, "train_percent", (100 * table["train_examples"] / total).round(1))
    return table.sort_values(["train_examples", "targets"]).reset_index(drop=True)


# -- the README's "paper vs ours" ----------------------------------------------------------
def _mean_sd(mean, std, digits=1) -> str:
    """`mean ± std`, or the mean alone when there is no spread to show (a single seed)."""
    return f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def paper_vs_ours(main: pd.DataFrame | None = None, omitted: pd.DataFrame | None = None,
                  ensemble: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per number of the paper's section 3: the paper's value beside ours (mean ± std).

    Args:
        main: `main_table(...)` output (or its CSV read back).
        omitted: `omitted_class_table(...)` output (or its CSV read back).
        ensemble: `ensemble_table(...)` output; the paper has no MNIST number for it ("-").
    """
    lines = []
    if main is not None:
        labels = {"teacher": "teacher 1200-1200, test errors",
                  "scratch": "800-800 from scratch, test errors",
                  "distilled": "800-800 distilled (T = 20), test errors"}
        for _, row in main.iterrows():
            lines.append({"experiment": labels[str(row.role)],
                          "paper": f"{row.paper_test_errors:g}",
                          "ours": _mean_sd(row.test_errors_mean, row.test_errors_std),
                          "seeds": int(row.test_errors_count)})
    if omitted is not None:
        for _, row in omitted.iterrows():
            shifted = row.bias != "none"
            suffix = (f" + bias shift ({_mean_sd(row.shift_mean, row.shift_std, 2)}; paper "
                      f"{row.paper_shift:g})" if shifted else "")
            if row.transfer_set == "omit_3":
                experiment = "no 3s in the transfer set, test errors (on 3s)" + suffix
                paper = f"{row.paper_errors:g} ({row.paper_class_errors:g})"
                ours = (f"{_mean_sd(row.errors_mean, row.errors_std)} "
                        f"({_mean_sd(row.class_errors_mean, row.class_errors_std)})")
            else:
                experiment = "only 7s and 8s in the transfer set, test error %" + suffix
                paper = f"{row.paper_error_percent:g}"
                ours = _mean_sd(row.error_percent_mean, row.error_percent_std, 2)
            lines.append({"experiment": experiment, "paper": paper, "ours": ours,
                          "seeds": int(row.errors_count)})
    if ensemble is not None:
        for _, row in ensemble.iterrows():
            experiment = (f"ensemble of {row.members} teachers (averaged logits), test errors"
                          if row.role == "ensemble_teacher" else
                          "800-800 distilled from that ensemble (T = 20), test errors")
            lines.append({"experiment": experiment, "paper": "-",
                          "ours": _mean_sd(row.test_errors_mean, row.test_errors_std),
                          "seeds": int(row.test_errors_count)})
    return pd.DataFrame(lines, columns=["experiment", "paper", "ours", "seeds"])


def format_paper_vs_ours(table: pd.DataFrame) -> str:
    """`paper_vs_ours` as a Markdown table (what the README shows)."""
    lines = ["| experiment (Hinton et al. 2015, section 3) | paper | ours (mean ± std) | seeds |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {r.experiment} | {r.paper} | {r.ours} | {r.seeds} |" for r in table.itertuples()]
    return "\n".join(lines)


def readme_paper_vs_ours(results_dir=runs.RESULTS_DIR) -> str:
    """The README's "paper vs ours" block, from the committed tables alone.

    The main rows come from notebook 06's paper-profile table when it exists, else from the
    20-epoch full profile of `make compare` (`compare_mnist_full.csv`); a caption line says
    which, so a shorter training is never passed off as the paper's.
    """
    tables = Path(results_dir) / "tables"
    main, main_name, source = None, None, ""
    paper = experiments.PROFILES["paper"]
    paper_label = (f"the paper profile ({paper['teacher_epochs']} teacher epochs, "
                   f"{paper['student_epochs']} per student)")
    for name, label in (("06_hinton_main_paper", paper_label),
                        ("compare_mnist_full", "the full profile (20 epochs each, "
                                               "`make compare`)")):
        if (tables / f"{name}.csv").exists():
            main = pd.read_csv(tables / f"{name}.csv")
            if "paper_test_errors" not in main:
                main.insert(1, "paper_test_errors", main["role"].map(PAPER_MAIN_ERRORS))
            main_name, source = name, f"Main rows: {label}, `results/tables/{name}.csv`."
            break
    omitted_path = tables / "08_omitted_class_full.csv"
    omitted = pd.read_csv(omitted_path) if omitted_path.exists() else None
    ensemble_path = tables / "06_hinton_ensemble_paper.csv"
    # Ensemble rows only beside the paper-profile main rows they were distilled alongside.
    ensemble = (pd.read_csv(ensemble_path) if ensemble_path.exists()
                and main_name == "06_hinton_main_paper" else None)
    lines = [format_paper_vs_ours(paper_vs_ours(main, omitted, ensemble))]
    if source:
        lines.append(f"\n\n{source}")
    if ensemble is not None:
        lines.append(" Ensemble rows: notebook 06, the same profile, "
                     "`results/tables/06_hinton_ensemble_paper.csv` (the teacher is one model).")
    if omitted is not None:
        lines.append(" Omitted-class rows: notebook 08, full profile, "
                     "`results/tables/08_omitted_class_full.csv`.")
    regulariser_path = tables / "09_soft_targets_regulariser_full.csv"
    if regulariser_path.exists():
        lines.append("\n\n" + format_regulariser_table(pd.read_csv(regulariser_path)))
    return "".join(lines)


def format_regulariser_table(table: pd.DataFrame) -> str:
    """`regulariser_table` as Markdown: train and test accuracy (%) per data fraction and target."""
    lines = ["| training data | targets | train accuracy % | test accuracy % | seeds |",
             "| --- | --- | --- | --- | --- |"]
    for r in table.itertuples():
        lines.append(
            f"| {r.train_percent:g}% ({r.train_examples:,} images) | {r.targets} | "
            f"{_mean_sd(100 * r.train_accuracy_mean, 100 * r.train_accuracy_std, 2)} | "
            f"{_mean_sd(100 * r.test_accuracy_mean, 100 * r.test_accuracy_std, 2)} | "
            f"{r.test_accuracy_count} |")
    return "\n".join(lines)
