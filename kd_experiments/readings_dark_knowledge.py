"""Generated blocks of the dark-knowledge plan: notebook 19's (the precision check, the pilot and
the lab's strong teachers so far) and the README's (the plan's status, and the controls'
verdicts once every control is in), from their records (see `readings`)."""

from __future__ import annotations

import math
from pathlib import Path

from kd_lab import records, registry, stats
from kd_lab.report import markdown_table

from . import dark_knowledge, readme_family
from .hinton2015 import PAPER_MAIN_ERRORS
from .readings import HEADER, errors, figure, generated, read_table, source_line
from .readings_methods import comparisons_markdown


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


@generated("19_selection_seed")
def selection_seed_block(results_dir: Path) -> str:
    """Whether any controls verdict leans on the seed whose runs made the students' choices."""
    checked = dark_knowledge.without_selection_seed(results_dir)
    seed = dark_knowledge.SELECTION_SEED
    if checked.empty:
        return f"{HEADER}\n\nThe check without seed {seed} waits for the first controls."
    changed = checked[checked["verdict"] != checked["verdict_without"]]
    words = {**dark_knowledge.ARM_WORDS, "scratch": "the student from scratch"}
    parts = [HEADER, (
        f"Without seed {seed}'s runs (on whose validation errors each student's recipe, label "
        f"smoothing and temperature were chosen), " + (
            f"every one of the {len(checked)} verdicts holds: none leans on the seed that made "
            "the choices." if changed.empty else
            f"{len(changed)} of the {len(checked)} verdicts change: " + "; ".join(
                f"`{r.student}`, {words[r.arm]} against {words[r.baseline]}: {r.verdict}, "
                f"without it "
                f"{r.verdict_without}" for r in changed.itertuples())
            + ". Those verdicts lean on the seed that made the choices."))]
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
                   f"controls\"), {len(controls)} recorded; " + (
                       "all are in, and their verdicts head this page"
                       if dark_knowledge.controls_complete(results_dir) else
                       "the verdicts are read once all are in (notebook 19)"))
    tables = stages["lab tables"] or []
    recorded = sum(records.is_finished(c, results_dir) for c in tables)
    lab = (f" Lab tables: {recorded} of their {len(tables)} runs are recorded"
           + (", so every table of `make compare` and notebooks 01-09 distils these teachers."
              if recorded == len(tables) else
              " (`python -m kd_experiments.dark_knowledge --plan`).") if tables else "")
    return (f"Status, from the records: {teachers} Controls: {counted}.{lab} "
            + longer_plan_sentence(results_dir))


def longer_plan_sentence(results_dir: Path) -> str:
    """How far the plan on `LONGER_EPOCHS` teachers has come: the runs of its own stages
    (the schedule and after; the precision check and the pilot are shared) decided so far."""
    epochs = dark_knowledge.LONGER_EPOCHS
    own = dark_knowledge.stages(results_dir, epochs)[2:]
    planned = [(name, configs) for name, configs in own if configs is not None]
    runs = {c.run_id: c for _, configs in planned for c in configs}
    recorded = sum(records.is_finished(c, results_dir) for c in runs.values())
    made = dark_knowledge.decisions(results_dir, epochs)
    if made.get("epochs") == dark_knowledge.EPOCHS:
        return (f"The schedule stage did not take {epochs}-epoch teachers: the plan stays on "
                f"{dark_knowledge.EPOCHS} epochs.")
    if not planned:
        return (f"The plan again on {epochs}-epoch teachers waits for the precision check and "
                "the pilot.")
    waiting = len(own) - len(planned)
    return (f"The plan again on {epochs}-epoch teachers (its schedule stage first): {recorded} "
            f"of the {len(runs)} runs of its decided stages "
            f"({', '.join(name for name, _ in planned)}) are recorded"
            + (f", {waiting} {'stage waits' if waiting == 1 else 'stages wait'} for earlier "
               "stages" if waiting else "")
            + "; once it is complete, the lab's tables are made again on it (a landing step: "
            "the paper profile's teacher moves to the longer schedule, and every table and "
            "notebook is regenerated from its records).")


VERDICT_WORDS = {"better": "fewer test errors than", "worse": "more test errors than",
                 "no detectable difference": "no detectable difference from"}


def controls_setting(results_dir: Path) -> str:
    """What the controls trained, from the plan's decisions and the records, in one paragraph."""
    made = dark_knowledge.decisions(results_dir)
    teacher, recipes = made["teacher"], made["recipes"]
    smoothings, temperatures = made["smoothings"], made["temperatures"]
    reg = registry.TEACHER_REGULARISERS
    summary = records.read_summary(results_dir).set_index("run_id")
    weak = summary.loc[summary.index.isin(dark_knowledge.weak_teachers(teacher)), "test_errors"]
    chosen = "; ".join(f"`{s}`: {dark_knowledge.STUDENT_RECIPES[recipes[s]]['optimizer'].title()}"
                       f" at {dark_knowledge.STUDENT_RECIPES[recipes[s]]['learning_rate']:g}, "
                       f"T = {temperatures[s]:g}, smoothing {smoothings[s]:g}"
                       for s in dark_knowledge.STUDENTS)
    return (f"MNIST, test errors out of 10,000 test images. Teachers: the lab's strong teachers, "
            f"one per seed ({errors(dark_knowledge.teacher_rows(results_dir)['test_errors'])}); "
            f"the weak teacher is the same recipe on a {dark_knowledge.CHECK_EPOCHS}-epoch "
            f"schedule ({errors(weak)}). Each student's recipe, Hinton KD's temperature and label "
            f"smoothing's strength were chosen on validation ({chosen}); alpha = "
            f"{dark_knowledge.ALPHA:g} weights the hard labels. `make compare` (below) distils "
            f"the 800-800 student at the paper's T = {dark_knowledge.TEMPERATURE:g}: no test "
            "sets the two temperatures against each other. The teacher's regularisers, added "
            f"to the student trained from scratch, are its dropout ({reg['input_dropout']:g} on "
            f"the inputs, {reg['dropout']:g} on the hidden layers), max-norm "
            f"({reg['max_norm']:g}) and ±2-pixel jitter.")


def controls_readings(table) -> str:
    """Each student's verdicts in words: Hinton KD against scratch, then each control against
    Hinton KD and against scratch (every word generated from the table's verdicts)."""
    sentences = []
    for student, own in table.groupby("student", sort=False):
        line = own.set_index(["arm", "baseline"])["verdict"]
        parts = [f"`{student}`: Hinton KD, {VERDICT_WORDS[line[('hinton', 'scratch')]]} the "
                 "student from scratch"]
        parts += [f"{dark_knowledge.ARM_WORDS[arm]}, {VERDICT_WORDS[line[(arm, 'hinton')]]} "
                  f"Hinton KD and {VERDICT_WORDS[line[(arm, 'scratch')]]} scratch"
                  for arm in dark_knowledge.CONTROLS]
        sentences.append("; ".join(parts) + ".")
    return " ".join(sentences)


def shares_markdown(shares) -> str:
    """The gain shares (no verdict of their own), one line per student and control."""
    return markdown_table(
        [(f"`{s.student}`", dark_knowledge.ARM_WORDS.get(s.arm, s.arm), f"{s.gain:.1f}",
          "-" if math.isnan(s.ratio) else
          f"{s.ratio:.2f} {stats.interval(s.ratio_low, s.ratio_high, 2)}",
          int(s.pairs)) for s in shares.itertuples()],
        ["student", "control (or part)", "Hinton KD's gain, errors", "share of the gain [95% CI]",
         "seeds"])


@generated("dark_knowledge_controls")
def readme_controls_block(results_dir: Path) -> str:
    """The README's headline on dark knowledge: the controls' verdicts in the README's Holm
    family, once every control run is in (until then, a line saying so)."""
    path = Path(results_dir) / "tables" / f"{dark_knowledge.CONTROLS_TABLE}.csv"
    if not path.exists():
        return ("The controls' verdicts appear here once every control run is recorded (the "
                "status below counts them).")
    family = readme_family.readme_family(results_dir)
    table = dark_knowledge.in_reading_order(family.tables[dark_knowledge.CONTROLS_TABLE])
    shares = read_table(results_dir, dark_knowledge.SHARES_TABLE)
    return "\n\n".join([
        figure(dark_knowledge.CONTROLS_TABLE, "Hinton KD and each control against the student "
               "from scratch and against Hinton KD: paired differences with their 95% intervals",
               from_notebook=False),
        "The figure (from notebook 19) fills a point where its verdict is decided in the "
        f"notebook's own Holm family, the table's {len(table)} comparisons; the table below "
        "corrects the same tests over the README's family.",
        controls_setting(results_dir),
        "Each line: a method's test errors, and its difference from the model it is compared "
        "against (the method's errors minus that model's, seed by seed: negative means fewer "
        "errors), with the difference's 95% interval, not corrected for the many comparisons: "
        "an interval can exclude 0 while the Holm-corrected verdict says \"no detectable "
        "difference\".",
        comparisons_markdown(table, dark_knowledge.ARM_WORDS),
        f"Each seed's students share their initial weights, batch order and teacher: every "
        f"comparison is a paired t test over the {int(table['pairs'].max())} seeds, "
        f"Holm-corrected over {family.holm_over()} ({len(table)} of them here, the others in "
        "the tables further down). "
        + controls_readings(table),
        "How much of Hinton KD's gain each control keeps: mean(scratch - control) / "
        "mean(scratch - Hinton KD), where 1 keeps the whole gain and 0 none (below 0: worse than "
        "scratch), with a 95% interval for a ratio (Fieller's: the ratios a paired t test does not "
        "reject), not corrected, and no verdict of its own: read it beside the verdict of Hinton "
        "KD against scratch. The *per-example part* is what class-mean targets lose, 1 minus "
        "their share:",
        shares_markdown(shares),
        source_line(f"tables/{dark_knowledge.CONTROLS_TABLE}.csv",
                    f"tables/{dark_knowledge.SHARES_TABLE}.csv")])
