"""Generated blocks of the methods notebook (18): each distillation method against Hinton KD and
against the student from scratch, paired by seed, one Holm family (see `readings`)."""

from __future__ import annotations

from pathlib import Path

from kd_lab import records, stats
from kd_lab.report import markdown_table, mean_spread_of

from . import methods
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


def comparisons_markdown(table) -> str:
    """Each arm's test errors and its paired difference from each baseline, with verdicts."""
    lines = [(f"{line.arm} (`{line.student}`)", mean_spread_of(line, "test_errors"),
              BASELINES[line.baseline],
              f"{line.difference:+.1f} {stats.interval(line.diff_low, line.diff_high)}",
              f"{line.p_value:.2g}", f"{line.p_holm:.2g}", line.verdict)
             for line in table.itertuples()]
    return markdown_table(lines, ["method", "test errors (mean ± std [95% CI])", "against",
                                  "difference [95% CI]", "paired p", "Holm p", "verdict"])


@generated("18_methods")
def methods_block(results_dir: Path) -> str:
    name = f"{methods.TABLE}_full"
    table = read_table(results_dir, name)
    students = runs_behind(results_dir, name)
    teachers = students["teacher_run_id"].dropna().loc[lambda ids: ids != ""].unique()
    summary = records.read_summary(results_dir).set_index("run_id")
    teacher_errors = summary.loc[teachers, "test_errors"]
    scratch = students[students["teacher_run_id"].fillna("") == ""]
    return "\n\n".join([
        HEADER, figure(name, "each method's paired difference, with its interval"),
        comparisons_markdown(table),
        f"Fashion-MNIST, test errors out of 10,000 test images. Teachers (`mnist_cnn`, one per "
        f"seed): {errors(teacher_errors)}; students `{methods.STUDENT}` over "
        f"{methods.STUDENT_EPOCHS} epochs, the best validation epoch kept, "
        f"{scratch['seed'].nunique()} seeds.",
        methods_sentences(table, "Every method is compared with Hinton KD and with the student "
                          "from scratch, and Hinton KD with scratch."),
        budget_sentence(students),
        source_line(f"tables/{name}.csv")])
