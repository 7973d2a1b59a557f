"""The README's "paper vs ours" block for Hinton, Vinyals & Dean (2015), section 3, rendered from
the committed tables alone (`readme_paper_vs_ours`), and the regulariser table beneath it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kd_lab import stats
from kd_lab.records import RESULTS_DIR
from kd_lab.report import frame_markdown, markdown_table, mean_spread, mean_spread_of

from .hinton2015 import COMPARE_TABLE, PROFILES, with_paper_errors

TRANSFER_SET_LABELS = {"omit_3": "no 3s", "only_7_8": "only 7s and 8s"}


def paper_vs_ours(main: pd.DataFrame | None = None, omitted: pd.DataFrame | None = None,
                  ensemble: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per number of the paper's section 3: the paper's value beside ours (mean ± std
    over seeds, then the mean's 95% interval).

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
                          "ours": mean_spread_of(row, "test_errors"),
                          "seeds": int(row.test_errors_count)})
    if omitted is not None:
        for _, row in omitted.iterrows():
            shifted = row.bias != "none"
            suffix = (f" + bias shift ({mean_spread(row.shift_mean, row.shift_std, 2)}; paper "
                      f"{row.paper_shift:g})" if shifted else "")
            if row.transfer_set == "omit_3":
                experiment = (f"{TRANSFER_SET_LABELS['omit_3']} in the transfer set, test errors "
                              "(on 3s)" + suffix)
                paper = f"{row.paper_errors:g} ({row.paper_class_errors:g})"
                ours = (f"{mean_spread_of(row, 'errors')} "
                        f"({mean_spread_of(row, 'class_errors')})")
            else:
                experiment = (f"{TRANSFER_SET_LABELS['only_7_8']} in the transfer set, test "
                              "error %" + suffix)
                paper = f"{row.paper_error_percent:g}"
                ours = mean_spread_of(row, "error_percent", 2)
            lines.append({"experiment": experiment, "paper": paper, "ours": ours,
                          "seeds": int(row.errors_count)})
    if ensemble is not None:
        for _, row in ensemble.iterrows():
            experiment = (f"ensemble of {row.members} teachers (averaged logits), test errors"
                          if row.role == "ensemble_teacher" else
                          "800-800 distilled from that ensemble (T = 20), test errors")
            lines.append({"experiment": experiment, "paper": "-",
                          "ours": mean_spread_of(row, "test_errors"),
                          "seeds": int(row.test_errors_count)})
    return pd.DataFrame(lines, columns=["experiment", "paper", "ours", "seeds"])


def format_paper_vs_ours(table: pd.DataFrame) -> str:
    """`paper_vs_ours` as a Markdown table (what the README shows)."""
    return frame_markdown(table, {"experiment": "experiment (Hinton et al. 2015, section 3)",
                                  "paper": "paper",
                                  "ours": "ours (mean ± std [95% CI])",
                                  "seeds": "seeds"})


def readme_paper_vs_ours(results_dir=RESULTS_DIR, family=None) -> str:
    """The README's "paper vs ours" block, from the committed tables alone.

    The main rows come from `make compare`'s paper-profile table (`compare_mnist_paper.csv`,
    notebook 06's too), with a caption line naming it. `family` (`readme_family.Family`):
    the verdicts corrected over the README's family, used for the tables it holds; None: each
    table's own.
    """
    tables = Path(results_dir) / "tables"
    holm = (f"Holm over {family.holm_over()}" if family is not None else None)

    def read_csv(path: Path) -> pd.DataFrame:
        held = family.tables.get(path.stem) if family is not None else None
        return held.copy() if held is not None else pd.read_csv(path)

    main, source = None, ""
    paper = PROFILES["paper"]
    name = COMPARE_TABLE
    if (tables / f"{name}.csv").exists():
        main = with_paper_errors(read_csv(tables / f"{name}.csv"))
        source = (f"Main rows: the paper profile ({paper['teacher_epochs']} teacher epochs, "
                  f"{paper['student_epochs']} per student), `make compare` and notebook 06, "
                  f"`results/tables/{name}.csv`.")
    omitted_path = tables / "08_omitted_class_paper.csv"
    omitted = read_csv(omitted_path) if omitted_path.exists() else None
    ensemble_path = tables / "06_hinton_ensemble_paper.csv"
    # Ensemble rows only beside the paper-profile main rows they were distilled alongside.
    ensemble = (read_csv(ensemble_path) if ensemble_path.exists() and main is not None
                else None)
    lines = [format_paper_vs_ours(paper_vs_ours(main, omitted, ensemble))]
    if source:
        lines.append(f"\n\n{source}")
    if main is not None and "verdict" in main:
        lines.append(" " + _verdict(main.set_index("role").loc["distilled"],
                                    "Distilled minus scratch:") + ".")
    if ensemble is not None:
        lines.append(" Ensemble rows: notebook 06, the same profile, "
                     "`results/tables/06_hinton_ensemble_paper.csv` (the teacher is one model).")
        variants_path = tables / "06_hinton_variants_paper.csv"
        if variants_path.exists():
            variants = read_csv(variants_path).set_index("variant")
            tested = {"ensemble": "distilled from the ensemble,",
                      "jittered": "distilled on jittered images,"}
            lines.append(" Against the distilled row (notebook 06): " + "; ".join(
                _verdict(variants.loc[name], label) for name, label in tested.items()
                if name in variants.index) + ".")
    if omitted is not None:
        lines.append(" Omitted-class rows: notebook 08, paper profile, "
                     "`results/tables/08_omitted_class_paper.csv`.")
        if "verdict" in omitted:
            shifted = omitted[omitted.bias != "none"]
            lines.append(
                " Bias shift against none (the same runs, a paired t test, "
                f"{holm or f'Holm over the {len(shifted)} transfer sets'}): " + "; ".join(
                    _verdict(row, TRANSFER_SET_LABELS.get(row.transfer_set, row.transfer_set)
                             + ",", count="errors_count")
                    for row in shifted.itertuples()) + ".")
    if family is not None:
        lines.append(f" Every verdict in this block is Holm-corrected over {family.holm_over()}.")
    regulariser_path = tables / "09_soft_targets_regulariser_paper.csv"
    if regulariser_path.exists():
        regulariser = pd.read_csv(regulariser_path)
        soft = regulariser[regulariser.targets.str.startswith("soft")].iloc[0]
        lines.append("\n\n" + format_regulariser_table(regulariser)
                     + f"\n\nRegulariser rows: notebook 09, paper profile (T = "
                     f"{soft.temperature:g}, alpha = {soft.alpha:g}), "
                     "`results/tables/09_soft_targets_regulariser_paper.csv`; its verdicts are "
                     "in the notebook.")
    return "".join(lines)


def _verdict(line, label: str, count: str = "test_errors_count") -> str:
    """'<label> <difference> errors [interval] (<n> seeds[, paired], Holm p): <verdict>'."""
    pairs = getattr(line, "pairs", float("nan"))
    seeds = (f"{int(pairs)} seeds, paired" if pd.notna(pairs)
             else f"{int(getattr(line, count))} seeds")
    return (f"{label} {line.difference:+.1f} errors {stats.interval(line.diff_low, line.diff_high)}"
            f" ({seeds}, Holm p = {line.p_holm:.3g}): {line.verdict}")


def format_regulariser_table(table: pd.DataFrame) -> str:
    """`regulariser_table` as Markdown: train and test accuracy (%) per data fraction and target."""
    rows = [(f"{r.train_percent:g}% ({r.train_examples:,} images)", r.targets,
             mean_spread_of(r, "train_accuracy", 2, scale=100),
             mean_spread_of(r, "test_accuracy", 2, scale=100),
             r.test_accuracy_count) for r in table.itertuples()]
    return markdown_table(rows, ["training data", "targets", "train accuracy %",
                                 "test accuracy %", "seeds"])
