"""Generated blocks of the dark-knowledge notebook (19): the precision check, the pilot and the
lab's strong teachers so far, from their records (see `readings`)."""

from __future__ import annotations

from pathlib import Path

from kd_lab import stats
from kd_lab.report import markdown_table

from . import dark_knowledge
from .hinton2015 import PAPER_MAIN_ERRORS
from .readings import HEADER, errors, generated, source_line


def teachers_sentence(rows) -> str:
    """The teachers' test errors against the target and the paper's, in words."""
    summary = stats.describe(rows["test_errors"])
    target, paper = dark_knowledge.TEACHER_TARGET, PAPER_MAIN_ERRORS["teacher"]
    where = ("one teacher gives no interval yet" if not summary["count"] > 1 else
             "its whole interval lies below the target" if summary["ci_high"] <= target else
             "the target lies inside its interval" if summary["ci_low"] <= target else
             "its whole interval lies above the target")
    first = (f"{len(rows)} of {len(dark_knowledge.TEACHER_SEEDS)} teachers trained: "
             f"{errors(rows['test_errors'])} test errors (the target: a mean of at most {target}; "
             f"the paper's teacher: {paper})")
    if len(rows) < len(dark_knowledge.TEACHER_SEEDS):  # the target is on the mean of them all
        return f"{first}; {where}."
    if summary["mean"] <= target:
        return f"{first}; {where}. Every planned teacher is trained: their mean meets the target."
    inside = summary["ci_low"] <= target
    return (f"{first}. Every planned teacher is trained: their mean is above the target, so this "
            f"recipe does not meet it; {where}"
            + (", so these seeds cannot tell the recipe's mean from the target either" if inside
               else "") + ".")


@generated("19_teachers")
def teachers_block(results_dir: Path) -> str:
    check = dark_knowledge.precision_check(results_dir)
    pilot = check and dark_knowledge.pilot_choice(check["precision"], results_dir)
    rows = dark_knowledge.teacher_rows(results_dir)
    parts = [HEADER]
    if check:
        parts.append(
            f"Precision check ({check['n']} seeds, {dark_knowledge.CHECK_EPOCHS} epochs, paired "
            f"by seed): bfloat16 minus float32, {check['difference']:+.1f} test errors "
            f"{stats.interval(check['diff_low'], check['diff_high'])}, paired p = "
            f"{check['p_value']:.2g}: {check['verdict']}. The rule keeps bfloat16 only when no "
            f"difference is detected, so the teachers train in {check['precision']}.")
    if pilot:
        parts.append("Pilot (seed 0, " + ", ".join(
            f"learning rate {rate:g}: {val} validation errors"
            for rate, val in sorted(pilot["val_errors"].items()))
            + f" of 5,000): learning rate {pilot['learning_rate']:g} is chosen on validation.")
    if len(rows):
        parts += [markdown_table(
            [(int(r.seed), int(r.test_errors), int(r.val_errors), int(r.best_epoch),
              f"{r.wall_seconds / 60:.0f}") for r in rows.itertuples()],
            ["seed", "test errors", "validation errors", "best epoch", "minutes"]),
            teachers_sentence(rows)]
    parts.append(source_line("summary.csv"))
    return "\n\n".join(parts)


@generated("dark_knowledge_status")
def status_block(results_dir: Path) -> str:
    """The README's line on the plan's progress: the teachers so far and the controls counted
    (no verdict: the controls are read once their stage is complete, in notebook 19)."""
    rows = dark_knowledge.teacher_rows(results_dir)
    _, controls = dark_knowledge.controls_so_far(results_dir)
    stages = dict(dark_knowledge.stages(results_dir))
    planned, more = stages["controls"] or [], stages["more controls"] or []
    teachers = teachers_sentence(rows) if len(rows) else "No teacher is trained yet."
    counted = (f"{len(controls)} of the first stage's {len(planned)} runs are recorded; their "
               "verdicts are read once the stage is complete (notebook 19)" if planned else
               "they wait for the stages before them")
    if more:  # the first stage is in, and the power rule asks for more seeds
        counted = (f"{len(planned) + len(more)} runs planned (the first stage's {len(planned)}, "
                   f"and the {len(more)} more that the plan's power rule asks for: stage \"more "
                   f"controls\"), {len(controls)} recorded; the verdicts are read once all are "
                   "in (notebook 19)")
    return f"Status, from the records: {teachers} Controls: {counted}."
