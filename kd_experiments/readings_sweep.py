"""Generated blocks of notebook 04: the T x alpha grids, each cell against labels alone and
the cell chosen on validation against the teachers it distils (see `readings`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kd_lab import records, stats
from kd_lab.report import mean_spread_of

from .readings import (
    HEADER,
    errors,
    execution_sentence,
    figure,
    generated,
    listed_runs,
    read_table,
    source_line,
    teachers_of,
)

TABLE = "sweep_mnist_paper"  # notebook 04's grids, on the strong teachers


def sweep_rows(results_dir: Path, student: str) -> pd.DataFrame:
    """The summary rows of notebook 04's grid cells for one student."""
    runs = listed_runs(results_dir, TABLE)
    return runs[runs.architecture == student].reset_index(drop=True)


def against_teachers(results_dir: Path, students: pd.DataFrame) -> str:
    """The distilled `students` (summary rows, one per seed) against the teachers they distil,
    pair by pair (`stats.paired`); '' for one fixed teacher."""
    if students.teacher_run_id.nunique() < 2:
        return ""
    summary = records.read_summary(results_dir).set_index("run_id")
    teachers = summary.loc[students.teacher_run_id, "test_errors"].to_numpy()
    test = stats.paired(students.test_errors.to_numpy(), teachers)
    return (f" The teachers its seeds distil make {errors(teachers)} test errors; its students "
            f"minus their own teachers, seed by seed (paired t test): {test['difference']:+.1f} "
            f"{stats.interval(test['diff_low'], test['diff_high'])}, p = {test['p_value']:.3g}: "
            f"{stats.verdict(test['difference'], test['p_value'], 'test_errors')}.")


def _sweep_block(results_dir: Path, student: str) -> str:
    slug = student.replace("mlp:", "mlp").replace(",", "x")
    rows = sweep_rows(results_dir, student)
    scratch = rows[rows.alpha == 1.0]
    table = read_table(results_dir, TABLE)  # its verdicts: one family over both students' cells
    family = int(table.p_value.notna().sum())
    cells = table[(table.architecture == student) & (table.alpha < 1)].reset_index(drop=True)
    validation = (rows[rows.alpha < 1].groupby(["temperature", "alpha"])["val_accuracy"]
                  .mean())
    best_t, best_alpha = validation.idxmax()
    best = cells[(cells.temperature == best_t) & (cells.alpha == best_alpha)].iloc[0]
    verdicts = cells.verdict.value_counts()
    counted = ", ".join(f"{verdicts.get(word, 0)} {word}" for word in
                        (stats.BETTER, stats.WORSE, stats.UNDECIDED))
    # a cell another table tests (the same runs) is cited, not tested again
    cited = cells[cells.p_value.isna()]
    counted += "".join(f"; T = {c.temperature:g}, alpha = {c.alpha:g}: {c.verdict} (its runs "
                       "are among that test's: one comparison, one test)"
                       for c in cited.itertuples())
    against = (f"{best.difference:+.1f} {stats.interval(best.diff_low, best.diff_high)} "
               f"against labels alone: {best.verdict}" if pd.notna(best.p_value)
               else f"against labels alone: {best.verdict}")
    return "\n\n".join([
        HEADER, figure(f"{TABLE}_{slug}_heatmap", f"T x alpha, {student}"),
        f"`{student}`, {int(cells.test_errors_count.min())} seeds per cell, "
        f"{teachers_of(rows)}. Labels alone (alpha = 1): "
        f"{errors(scratch.test_errors)} test errors. "
        f"Against it, the {len(cells)} distilled cells (a paired t test by seed, Holm over "
        f"{family}: every cell of both grids tested here): {counted}; at this n a cell's test "
        "detects a difference of "
        f"{cells.detectable.min():.0f}-{cells.detectable.max():.0f} errors. The cell a "
        f"researcher would pick by mean *validation* accuracy, T = {best_t:g}, alpha = "
        f"{best_alpha:g}, makes {mean_spread_of(best, 'test_errors')} test "
        f"errors, {against}."
        + against_teachers(results_dir, rows[(rows.temperature == best_t)
                                             & (rows.alpha == best_alpha)]),
        *filter(None, [execution_sentence(listed_runs(results_dir, TABLE), TABLE)]),
        source_line("summary.csv", f"tables/{TABLE}.csv")])


@generated("04_sweep_800")
def sweep_800_block(results_dir: Path) -> str:
    return _sweep_block(results_dir, "mlp:800,800")


@generated("04_sweep_30")
def sweep_30_block(results_dir: Path) -> str:
    return _sweep_block(results_dir, "mlp:30,30")
