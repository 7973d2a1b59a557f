"""Generated blocks of the methods notebook (18): each distillation method against Hinton KD and
against the student from scratch, paired by seed, one Holm family (see `readings`)."""

from __future__ import annotations

import math
from pathlib import Path

from kd_lab import records, stats
from kd_lab.report import markdown_table, mean_spread_of

from . import dark_knowledge, methods
from .readings import (
    HEADER,
    budget_sentence,
    errors,
    figure,
    generated,
    read_table,
    runs_behind,
    source_line,
)

BASELINES = {"scratch": "the student from scratch", "hinton": "Hinton KD"}


def methods_sentences(table, what: str) -> str:
    """How the table's verdicts were reached, in words (no number but the family's size)."""
    return (f"{what} Each seed's runs share their initial weights and batch order, so each "
            "comparison is paired by seed (a paired t test on the per-seed differences); the "
            f"{len(table)} comparisons form one Holm family, and a verdict is \"better\" or "
            f"\"worse\" only when its Holm p-value is below {stats.SIGNIFICANCE}.")


def comparisons_markdown(table, labels=None) -> str:
    """Each arm's test errors and its paired difference from each baseline, with verdicts;
    `labels`: the arms' names in words, by arm (default: as the table names them)."""
    labels = labels or {}
    lines = [(f"{labels.get(line.arm, line.arm)} (`{line.student}`)",
              mean_spread_of(line, "test_errors"),
              BASELINES[line.baseline],
              f"{line.difference:+.1f} {stats.interval(line.diff_low, line.diff_high)}",
              *(("", "") if math.isnan(line.p_value)  # a line with too few runs: untested
                else (f"{line.p_value:.2g}", f"{line.p_holm:.2g}")), line.verdict)
             for line in table.itertuples()]
    return markdown_table(lines, ["method", "test errors (mean ± std [95% CI])", "against",
                                  "difference [95% CI]", "paired p", "Holm p", "verdict"])


def methods_table_block(results_dir: Path, name: str, describe, compared: str) -> str:
    """The block of a methods table: its figure, its lines, `describe(students, teachers' test
    errors)` (what was trained), what is `compared`, how the verdicts were reached and whether
    budgets bind."""
    table = read_table(results_dir, name)
    students = runs_behind(results_dir, name)
    teachers = students["teacher_run_id"].dropna().loc[lambda ids: ids != ""].unique()
    teacher_errors = records.read_summary(results_dir).set_index("run_id").loc[teachers,
                                                                               "test_errors"]
    return "\n\n".join([
        HEADER, figure(name, "each method's paired difference, with its interval"),
        comparisons_markdown(table), describe(students, teacher_errors),
        methods_sentences(table, compared),
        budget_sentence(students),
        source_line(f"tables/{name}.csv")])


@generated("18_methods")
def methods_block(results_dir: Path) -> str:
    def describe(students, teacher_errors):
        scratch = students[students["teacher_run_id"].fillna("") == ""]
        return (f"Fashion-MNIST, test errors out of 10,000 test images. Teachers (`mnist_cnn`, "
                f"one per seed): {errors(teacher_errors)}; students `{methods.STUDENT}` over "
                f"{methods.STUDENT_EPOCHS} epochs, the best validation epoch kept, "
                f"{scratch['seed'].nunique()} seeds.")
    return methods_table_block(results_dir, f"{methods.TABLE}_full", describe,
                               "Every method is compared with Hinton KD and with the student "
                               "from scratch, and Hinton KD with scratch.")


@generated("18_methods_mnist")
def mnist_methods_block(results_dir: Path) -> str:
    def describe(students, teacher_errors):
        architectures = ", ".join(f"`{a}`" for a in sorted(students["architecture"].unique()))
        hinton = students[(students["loss"] == "hinton")
                          & (students["teacher_run_id"].fillna("") != "")]
        temperatures = ", ".join(
            f"T = {t:g} for `{a}`" for a, t in
            hinton.groupby("architecture")["temperature"].first().sort_index().items())
        epochs = "/".join(f"{e:g}" for e in sorted(students["epochs"].unique()))
        return (f"MNIST, test errors out of 10,000 test images. The lab's strong teachers (one "
                f"per seed): {errors(teacher_errors)}; students {architectures}, "
                f"{students['seed'].nunique()} seeds, {epochs} epochs, the best validation epoch "
                f"kept. Hinton KD at alpha = {hinton['alpha'].iloc[0]:g} and each student's "
                f"temperature chosen on validation ({temperatures}); decoupled KD at its "
                f"paper's T = 4 and weights, and the hint, each at alpha = "
                f"{dark_knowledge.METHOD_ALPHA:g}, fixed in advance.")
    return methods_table_block(
        results_dir, methods.MNIST_TABLE, describe,
        "Decoupled KD and the hint are each compared with Hinton KD and with the student from "
        "scratch, for each student. Hinton KD against scratch, and label smoothing, are "
        "notebook 19's controls, in its table (a comparison is tested in one table only).")
