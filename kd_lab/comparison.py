"""The comparison of teacher, student from scratch and distilled student, for any models: one
line per role with n, mean, std and the 95% interval over seeds, each role's test errors
against the student from scratch (`stats.compare`: difference, interval, Holm, verdict), as a
table (`comparison_table`), as aligned text (`format_table`), written with the learning curves
(`write_comparison`) and in words (`comparison_sentences`). `make compare`, notebooks 03, 06
and 17 use it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import stats
from .records import RESULTS_DIR, RunRecord, aggregate, variant_of, write_table
from .report import mean_spread

ROLE_LABELS = {"teacher": "teacher", "scratch": "student from scratch",
               "distilled": "distilled student"}


def comparison_table(records: list[RunRecord]) -> pd.DataFrame:
    """One line per role: n, mean, std and 95% interval over seeds of test accuracy and errors,
    from the records; and each role's test errors against the student from scratch
    (difference, its interval, p-value, Holm's, verdict: `stats.compare`, paired by seed: a
    seed's student from scratch and distilled student share their initial weights and batch
    order, and the distilled one distils that seed's teacher)."""
    summary = pd.DataFrame([r.row for r in records])
    table = aggregate(summary, by=("role", "architecture", "temperature", "alpha"),
                      metrics=("test_accuracy", "test_errors", "test_teacher_agreement",
                               "best_epoch"))
    if (table["role"] == "scratch").sum() == 1 and len(table) > 1:
        tests = stats.compare(summary, ("role",), "test_errors",
                              lambda line: line["role"] == "scratch", pair_by="seed")
        table = table.merge(tests[["role", *stats.TEST_COLUMNS]], on="role", how="left")
        table.loc[table["role"] == "scratch", "verdict"] = "baseline"
    table["model"] = table["role"].map(ROLE_LABELS)
    table["role"] = pd.Categorical(table["role"], list(ROLE_LABELS), ordered=True)
    table = table.sort_values("role").reset_index(drop=True)
    table["seeds"] = table["test_errors_count"].astype(int)
    return table


def tested_pairs(rows: pd.DataFrame | None) -> list[tuple[frozenset, frozenset]]:
    """(each role's run ids, the student from scratch's) that `comparison_table` tests over
    these summary rows, for another table to cite (`sweep.sweep_table`'s `cited`)."""
    if rows is None or not (rows["role"] == "scratch").any():
        return []
    scratch = frozenset(rows.loc[rows["role"] == "scratch", "run_id"])
    return [(frozenset(own["run_id"]), scratch) for role, own in rows.groupby("role")
            if role != "scratch"]


def format_table(table: pd.DataFrame, holm_over: str | None = None) -> str:
    """The comparison as readable text: accuracy in %, errors out of the test count with their
    95% interval, then each role against the student from scratch (when the table has it),
    Holm-corrected over `holm_over` (words: "the README's 14 verdicts"; None: the table's own
    comparisons)."""
    width = max(16, int(table["architecture"].astype(str).str.len().max()) + 2)
    lines = [f"{'model':<22}{'architecture':<{width}}{'T':>4}{'alpha':>7}{'seeds':>7}"
             f"{'test accuracy %':>20}{'test errors':>16}  {'95% CI':<16}{'agreement %':>12}"]
    for _, r in table.iterrows():
        knobs = f"{r.temperature:>4g}{r.alpha:>7g}" if r.role == "distilled" else " " * 11
        agreement = ("" if pd.isna(r.test_teacher_agreement_mean)
                     else f"{100 * r.test_teacher_agreement_mean:.2f}")
        ci = stats.interval(r.get("test_errors_ci_low"), r.get("test_errors_ci_high"))
        lines.append(
            f"{r.model:<22}{r.architecture:<{width}}{knobs}{r.seeds:>7d}"
            f"{mean_spread(r.test_accuracy_mean, _sd(r.test_accuracy_std), 2, 100, widths=(11, 5))}"
            f"{mean_spread(r.test_errors_mean, _sd(r.test_errors_std), 1, widths=(9, 5))}"
            f"  {ci:<16}{agreement:>10}")
    tested = table[table["verdict"].notna() & (table["verdict"] != "baseline")] if (
        "verdict" in table) else table.iloc[:0]
    if len(tested):
        lines += ["", f"Test errors against the student from scratch ({stats.how_tested(table)}, "
                      f"Holm over {holm_over or f'{len(tested)} comparisons'}):"]
        for _, r in tested.iterrows():
            lines.append(f"{r.model:<22}{r.difference:+7.1f} "
                         f"{stats.interval(r.diff_low, r.diff_high):<16} "
                         f"p {stats.p_text(r.p_value)}, "
                         f"Holm {stats.p_text(r.p_holm)}: {r.verdict} (detectable at this n: "
                         f"{r.detectable:.0f})")
    lines.append("alpha weights the hard-label loss; 1 - alpha weights the T^2-scaled soft loss. "
                 "± is the standard deviation over seeds; [ ] a 95% confidence interval.")
    return "\n".join(line.rstrip() for line in lines)


def _sd(value) -> float:  # a spread for the aligned text table: 0 where one seed leaves none
    return 0.0 if pd.isna(value) else float(value)


def write_comparison(records, results_dir=RESULTS_DIR, name: str = "compare_mnist_paper",
                     replace: bool | None = None):
    """Write the table as CSV and the learning curves as PNG, named after the table (see
    `records.write_table` for when its name changes); return the table and their paths."""
    from kd_utils import plots

    results_dir = Path(results_dir)
    table = comparison_table(records)
    csv_path = write_table(table, name, results_dir, runs=pd.DataFrame([r.row for r in records]),
                           replace=replace)
    variant = variant_of(csv_path)  # where the table under `name` was kept (`write_table`)
    histories: dict = {}
    for record in records:
        histories.setdefault(ROLE_LABELS[record.config.role], []).append(record.history)
    plots.plot_learning_curves(histories, metrics=("student_loss", "accuracy"))
    plots.save_fig(f"{name}_learning_curves{variant}", figures_dir=results_dir / "figures")
    fig_path = plots.figure_path(f"{name}_learning_curves{variant}", results_dir / "figures")
    plots.plt.close("all")
    return table, csv_path, fig_path


def comparison_sentences(table: pd.DataFrame) -> str:
    """`comparison_table` in words: the means over seeds, the distilled student's agreement with
    its teacher, and its verdict against the student from scratch with the difference, its
    interval and the difference the comparison could detect."""
    t = table.set_index("role")
    teacher, scratch, distilled = (t.loc[r, "test_errors_mean"] for r in
                                   ("teacher", "scratch", "distilled"))
    n = int(t.loc["distilled", "seeds"])
    text = (f"Mean test errors over {n} seeds: teacher {teacher:.1f}, student from scratch "
            f"{scratch:.1f}, distilled student {distilled:.1f} (T = "
            f"{t.loc['distilled', 'temperature']:g}, alpha = {t.loc['distilled', 'alpha']:g}); "
            f"the distilled student agrees with its teacher on "
            f"{100 * t.loc['distilled', 'test_teacher_agreement_mean']:.2f}% of the test images.")
    if "verdict" not in t:
        return text
    d = t.loc["distilled"]
    outcome = {"better": "the distilled student makes fewer test errors than the student from "
                         "scratch",
               "worse": "the distilled student makes more test errors than the student from "
                        "scratch"}.get(d.verdict, f"{d.verdict} between the distilled student "
                                                  "and the student from scratch")
    return (f"{text} Distilled minus scratch: {d.difference:+.1f} errors, 95% CI "
            f"{stats.interval(d.diff_low, d.diff_high)} ({_test_word(d)} "
            f"p {stats.p_text(d.p_value)}, Holm {stats.p_text(d.p_holm)}): {outcome}. "
            f"With these {n} seeds the comparison detects a difference of about "
            f"{d.detectable:.0f} errors (80% power).")


def _test_word(line) -> str:
    """"paired" or "Welch": the test behind one compared line."""
    return "Welch" if pd.isna(line.get("pairs", float("nan"))) else "paired"
