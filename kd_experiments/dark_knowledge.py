"""Dark knowledge or regularisation? The lab's strong teachers, chosen on validation.

    nohup python -m kd_experiments.dark_knowledge > results/dark_knowledge.log 2>&1 &
    python -m kd_experiments.dark_knowledge --plan      # what is done, what is decided, left
    python -m kd_experiments.dark_knowledge --teacher-epochs 600   # the plan on longer teachers

Hinton, Vinyals & Dean (2015)'s MNIST teacher makes 67 test errors; the lab's earlier teacher
(Adam at a constant rate, stopped early after 12-35 epochs) made about 146, as many as the
paper's student from scratch, so a distilled student's gain could not be told apart from a
regulariser's. This module trains one set of teachers for the whole lab with the paper's
ingredients (784-1200-1200-10, dropout 0.2/0.5, max-norm 3.5, +-2 pixel jitter) and a long
schedule (SGD with momentum 0.9, cosine decay over 300 epochs, no early stop; the best
validation epoch is kept), in three stages, each decided from the records of the one before:

1. **Precision.** Mixed bfloat16 trained a teacher epoch about 1.7x as fast as float32 when
   this stage was decided, and 1.3x since float32's epoch got faster
   (`benchmarks/teacher_speed.py`). It is used only if a paired check over `CHECK_SEEDS`
   (the same recipe over `CHECK_EPOCHS` epochs, both precisions, paired by seed: same
   initial weights, same batches) detects no difference in test errors.
2. **Pilot.** The learning rates `PILOT_RATES` at seed 0, in the chosen precision, over the
   full schedule; the one with the fewest *validation* errors at its kept epoch wins (the test
   set plays no part).
3. **Teachers.** The winning recipe at `TEACHER_SEEDS` (seed 0 is the pilot's own run).

A **schedule** stage asks whether twice as long a schedule earns its hours: the recipe over
`LONGER_EPOCHS` at `SCHEDULE_SEEDS`, taken if its runs end with at least `SCHEDULE_GAIN`
fewer validation errors (`schedule_choice`). If it does, the whole plan is trained again on those
teachers (`--teacher-epochs 600`: its records sit beside this plan's, which every table reads
until the longer plan is complete).

Then the students (`STUDENTS`, the paper's 800-800 and the 30-30), each seed distilling the
teacher of its own seed:

4. **The student's recipe**, chosen among `STUDENT_RECIPES` at seed 0 on the validation errors
   of its scratch and distilled runs together (neutral between the two), the strength of
   label smoothing among `SMOOTHINGS` on the validation errors of smoothed students, and the
   temperature among `TEMPERATURES` on those of Hinton KD students (alpha = 0.1).
5. **Controls** (`CONTROLS`): Hinton KD (its chosen T, alpha = 0.1) and the student from scratch,
   against label smoothing, the scratch student with the teacher's regularisers (dropout,
   max-norm, jitter), class-mean soft targets (class similarity kept, the per-example part
   removed), shuffled soft targets and a weak teacher (the same recipe over `CHECK_EPOCHS`).
   First `FIRST_CONTROL_SEEDS`; then as many seeds as let every comparison detect half the
   measured distillation gain at 80% power in one Holm family (`control_seeds`), at most the
   teachers there are. `controls_table` gives each comparison paired by seed.
6. **The lab's tables** on these teachers (`lab_table_configs`): every run that `make
   compare` and notebooks 03, 04 and 06-09 read, built by their experiment modules in the paper
   profile with this plan's teacher, so that one set of teachers serves the whole lab. Every
   run trains alone, small students too: the grids hold the controls' scratch and Hinton KD
   runs, trained alone, and a table trains each architecture one way.

A killed process loses at most the epoch it was in: run it again to go on. A table's runs come
from one commit: run this from a worktree at the commit that trained the stage's first runs.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import pandas as pd

from kd_lab import (
    datasets,
    main_configs,
    records,
    run_claims,
    runner,
    stats,
    sweep,
    teacher_logits,
)
from kd_lab.config import KNOBS, RunConfig, differing_fields, ensemble_members
from kd_utils import plots

CHECK_SEEDS = tuple(range(5))
CHECK_EPOCHS = 30
PILOT_RATES = (0.05, 0.1)
TEACHER_SEEDS = tuple(range(10))
EPOCHS = 300  # the teachers' schedule: the plan every table reads
LONGER_EPOCHS = 600  # the schedule stage's candidate (`schedule_choice`)
PLANS = (EPOCHS, LONGER_EPOCHS)  # the teachers' schedules a plan is made for
SCHEDULE_SEEDS = (0, 1)
SCHEDULE_GAIN = 0.10  # the share of validation errors the longer schedule must save
SCHEDULE_END_EPOCHS = 10  # where a schedule's runs end: the mean of their last epochs
PRECISIONS = ("mixed_bfloat16", "float32")  # the faster first: used unless the check objects
STUDENTS = ("mlp:800,800", "mlp:30,30")
# Adam on a cosine schedule trained the paper's distilled student to 89 errors with a strong
# teacher (the measurement); SGD at 0.05 suffered from T^2 scaling its steps.
STUDENT_RECIPES = {
    "adam-1e-3": dict(optimizer="adam", learning_rate=1e-3, lr_schedule="cosine", epochs=60),
    "adam-3e-4": dict(optimizer="adam", learning_rate=3e-4, lr_schedule="cosine", epochs=60),
}
SMOOTHINGS = (0.05, 0.1, 0.2)
TEMPERATURE, ALPHA = 20.0, 0.1  # the paper's MNIST setting; alpha weights the hard labels
# Each student's temperature, chosen on validation: the paper found every T above 8 alike for
# students of 300 units or more, but 2.5 to 4 clearly best for the 30-30 student (at T = 20 the
# lab's 30-30 students did worse than from scratch, here and in notebook 07).
TEMPERATURES = (2.0, 4.0, 8.0, TEMPERATURE)
CONTROLS = ("label_smoothing", "teacher_regularisers", "class_mean", "shuffled", "weak_teacher")
# The methods notebook's other distillation losses, on the same students, teachers and seeds:
# decoupled KD at its paper's T = 4 and weights (1, 8), and a FitNets hint from the teacher's
# second hidden layer to the student's, each with the hard-label loss at equal weight.
METHODS = ("decoupled", "hint")
METHOD_ALPHA = 0.5
FIRST_CONTROL_SEEDS = tuple(range(5))


def teacher_config(seed: int, learning_rate: float = PILOT_RATES[0], epochs: int = EPOCHS,
                   precision: str = "float32") -> RunConfig:
    """The strong teacher recipe at one seed (the paper profile's data: 55,000 training
    images, 5,000 for validation)."""
    return RunConfig(dataset="mnist", role="teacher", architecture="hinton_teacher",
                     jitter_pixels=2, optimizer="sgd", learning_rate=learning_rate,
                     momentum=0.9, lr_schedule="cosine", epochs=epochs, patience=0,
                     batch_size=128, val_size=5000, seed=seed, profile="paper",
                     precision=precision)


def check_configs() -> list[RunConfig]:
    """The precision check's runs: each seed in each precision, over `CHECK_EPOCHS`."""
    return [teacher_config(seed, epochs=CHECK_EPOCHS, precision=precision)
            for seed in CHECK_SEEDS for precision in PRECISIONS]


def _rows(configs, results_dir) -> list[dict] | None:
    """The finished records' rows of `configs`, or None while any is unfinished."""
    if not all(records.is_finished(c, results_dir) for c in configs):
        return None
    return [records.load_row(c, results_dir) for c in configs]


def precision_check(results_dir=records.RESULTS_DIR) -> dict | None:
    """The paired comparison of test errors, bfloat16 minus float32 by seed, with the
    precision it chooses; None until every check run is finished."""
    rows = _rows(check_configs(), results_dir)
    if rows is None:
        return None
    errors = {p: [r["test_errors"] for r in rows if r["precision"] == p] for p in PRECISIONS}
    result = stats.paired(errors["mixed_bfloat16"], errors["float32"])
    verdict = stats.verdict(result["difference"], result["p_value"], "test_errors")
    return dict(result, n=len(CHECK_SEEDS), verdict=verdict, errors=errors,
                precision="mixed_bfloat16" if verdict == stats.UNDECIDED else "float32")


def pilot_configs(precision: str) -> list[RunConfig]:
    return [teacher_config(0, rate, precision=precision) for rate in PILOT_RATES]


def pilot_choice(precision: str, results_dir=records.RESULTS_DIR) -> dict | None:
    """The pilot's learning rate with the fewest validation errors (ties: the smaller rate),
    with every candidate's validation errors; None until the pilot is finished."""
    rows = _rows(pilot_configs(precision), results_dir)
    if rows is None:
        return None
    val_errors = {r["learning_rate"]: round((1 - r["val_accuracy"]) * r["val_size"])
                  for r in rows}
    return dict(learning_rate=min(PILOT_RATES, key=lambda rate: (val_errors[rate], rate)),
                val_errors=val_errors)


def schedule_configs(precision: str, learning_rate: float) -> list[RunConfig]:
    """The schedule stage's runs: the chosen recipe at `SCHEDULE_SEEDS` over `EPOCHS` (the
    pilot's and the teachers' own runs) and over `LONGER_EPOCHS`."""
    return [teacher_config(seed, learning_rate, epochs, precision)
            for epochs in PLANS for seed in SCHEDULE_SEEDS]


def schedule_choice(precision: str, learning_rate: float,
                    results_dir=records.RESULTS_DIR) -> dict | None:
    """The teachers' schedule: `LONGER_EPOCHS` if its teachers at `SCHEDULE_SEEDS` end with at
    least `SCHEDULE_GAIN` fewer validation errors than those over `EPOCHS` (a longer schedule
    doubles every teacher's hours: it must earn them), else `EPOCHS`; with, per schedule, the
    validation errors where its runs end (`val_errors`: the mean of each run's last
    `SCHEDULE_END_EPOCHS` epochs, averaged over the seeds) and, for context only, at their
    kept epochs (`kept_val_errors`). None until the stage is finished.

    Where the runs end, not at their kept epoch: the kept epoch is the best of a run's epochs on
    validation, and a longer schedule has more epochs to be lucky on. The rule (end, 10%) was
    set in an earlier session after seed 0's runs and before seed 1's, and is not changed after
    seeing them."""
    configs = schedule_configs(precision, learning_rate)
    rows = _rows(configs, results_dir)
    if rows is None:
        return None
    end, kept = {epochs: [] for epochs in PLANS}, {epochs: [] for epochs in PLANS}
    for config, row in zip(configs, rows, strict=True):
        history = records.read_history(records.run_dir(config, results_dir))
        last = history["val_accuracy"].tail(SCHEDULE_END_EPOCHS)
        end[config.epochs].append(float((1 - last).mean() * row["val_size"]))
        kept[config.epochs].append(_val_errors(row))
    val_errors = {epochs: sum(values) / len(values) for epochs, values in end.items()}
    longer = val_errors[LONGER_EPOCHS] <= (1 - SCHEDULE_GAIN) * val_errors[EPOCHS]
    return dict(epochs=LONGER_EPOCHS if longer else EPOCHS, val_errors=val_errors,
                kept_val_errors={epochs: sum(v) / len(v) for epochs, v in kept.items()})


def student_config(student: str, arm: str, seed: int, teacher: RunConfig, recipe: dict,
                   smoothing: float = SMOOTHINGS[1],
                   temperature: float = TEMPERATURE) -> RunConfig:
    """One student run: `arm` "scratch", "hinton" or one of `CONTROLS` or `METHODS`,
    distilling (where it does) `teacher` at this seed and, but for decoupled KD (its paper's
    T = 4), at `temperature`; `teacher` of another seed is replaced by this seed's."""
    teacher = teacher.replace(seed=seed)
    base = dict(dataset="mnist", architecture=student, batch_size=128, val_size=5000,
                patience=0, profile="paper", seed=seed, **recipe)
    distilled = RunConfig(role="distilled", teacher=teacher, temperature=temperature,
                          alpha=ALPHA, **base)
    scratch = RunConfig(role="scratch", **base)
    arms = {
        "scratch": lambda: scratch,
        "hinton": lambda: distilled,
        "label_smoothing": lambda: scratch.replace(loss="label_smoothing",
                                                   loss_params={"smoothing": smoothing}),
        "teacher_regularisers": lambda: scratch.replace(architecture=f"{student}+dropout",
                                                        jitter_pixels=2),
        "class_mean": lambda: distilled.replace(soft_targets="class_mean"),
        "shuffled": lambda: distilled.replace(soft_targets="shuffled"),
        "weak_teacher": lambda: distilled.replace(teacher=teacher.replace(epochs=CHECK_EPOCHS)),
        "decoupled": lambda: distilled.replace(loss="decoupled", temperature=4.0,
                                               alpha=METHOD_ALPHA),
        "hint": lambda: distilled.replace(loss="hint", alpha=METHOD_ALPHA, loss_params={
            "teacher_layer": 2, "student_layer": 2}),
    }
    if arm not in arms:
        raise ValueError(f"arm must be one of {', '.join(arms)}; got {arm!r}")
    return arms[arm]()


def arm_of(row, weak_teachers=frozenset()) -> str:
    """The arm a student record belongs to (the inverse of `student_config`); `weak_teachers`
    holds the weak teachers' run ids."""
    if row["role"] == "scratch":
        return ("label_smoothing" if row.get("loss") == "label_smoothing" else
                "teacher_regularisers" if "+dropout" in row["architecture"] else "scratch")
    if row.get("soft_targets", "teacher") != "teacher":
        return row["soft_targets"]
    if row.get("loss", "hinton") != "hinton":
        return row["loss"]
    return "weak_teacher" if row["teacher_run_id"] in weak_teachers else "hinton"


def weak_teachers(teacher: RunConfig) -> frozenset:
    """The run ids of the weak teachers of `teacher`'s recipe, at every teacher seed."""
    return frozenset(teacher.replace(seed=seed, epochs=CHECK_EPOCHS).run_id
                     for seed in TEACHER_SEEDS)


def _val_errors(row) -> int:
    return round((1 - row["val_accuracy"]) * row["val_size"])


def student_pilot_configs(teacher: RunConfig) -> list[RunConfig]:
    return [student_config(student, arm, 0, teacher, recipe) for student in STUDENTS
            for recipe in STUDENT_RECIPES.values() for arm in ("scratch", "hinton")]


def student_recipe(teacher: RunConfig, results_dir=records.RESULTS_DIR) -> dict | None:
    """Per student, the `STUDENT_RECIPES` name with the fewest validation errors of its scratch
    and distilled runs at seed 0 together; None until the pilot is finished."""
    chosen = {}
    for student in STUDENTS:
        totals = {}
        for name, recipe in STUDENT_RECIPES.items():
            rows = _rows([student_config(student, arm, 0, teacher, recipe)
                          for arm in ("scratch", "hinton")], results_dir)
            if rows is None:
                return None
            totals[name] = sum(_val_errors(r) for r in rows)
        chosen[student] = min(STUDENT_RECIPES, key=lambda name: (totals[name], name))
    return chosen


def smoothing_configs(teacher: RunConfig, recipes: dict) -> list[RunConfig]:
    return [student_config(student, "label_smoothing", 0, teacher,
                           STUDENT_RECIPES[recipes[student]], smoothing)
            for student in STUDENTS for smoothing in SMOOTHINGS]


def smoothing_choice(teacher: RunConfig, recipes: dict,
                     results_dir=records.RESULTS_DIR) -> dict | None:
    """Per student, the smoothing with the fewest validation errors at seed 0 (ties: the
    smaller); None until those runs are finished."""
    chosen = {}
    for student in STUDENTS:
        configs = [student_config(student, "label_smoothing", 0, teacher,
                                  STUDENT_RECIPES[recipes[student]], smoothing)
                   for smoothing in SMOOTHINGS]
        rows = _rows(configs, results_dir)
        if rows is None:
            return None
        errors = {smoothing: _val_errors(r) for smoothing, r in zip(SMOOTHINGS, rows,
                                                                     strict=True)}
        chosen[student] = min(SMOOTHINGS, key=lambda smoothing: (errors[smoothing], smoothing))
    return chosen


def temperature_configs(teacher: RunConfig, recipes: dict) -> list[RunConfig]:
    return [student_config(student, "hinton", 0, teacher, STUDENT_RECIPES[recipes[student]],
                           temperature=temperature)
            for student in STUDENTS for temperature in TEMPERATURES]


def temperature_choice(teacher: RunConfig, recipes: dict,
                       results_dir=records.RESULTS_DIR) -> dict | None:
    """Per student, the `TEMPERATURES` value whose Hinton KD student at seed 0 makes the fewest
    validation errors (ties: the higher, nearer the paper's setting); None until those runs are
    finished."""
    chosen = {}
    for student in STUDENTS:
        configs = [c for c in temperature_configs(teacher, recipes)
                   if c.architecture == student]
        rows = _rows(configs, results_dir)
        if rows is None:
            return None
        errors = {c.temperature: _val_errors(r) for c, r in zip(configs, rows, strict=True)}
        chosen[student] = min(TEMPERATURES, key=lambda t: (errors[t], -t))
    return chosen


def control_configs(teacher: RunConfig, recipes: dict, smoothings: dict, temperatures: dict,
                    seeds) -> list:
    return [student_config(student, arm, seed, teacher, STUDENT_RECIPES[recipes[student]],
                           smoothings[student], temperatures[student])
            for seed in seeds for student in STUDENTS for arm in ("scratch", "hinton", *CONTROLS)]


def controls_table(rows: pd.DataFrame, weak: frozenset, arms=CONTROLS,
                   metric: str = "test_errors", hinton_gain: bool = True) -> pd.DataFrame:
    """Every one of `arms` (the controls, or the methods) against Hinton KD and against the
    student from scratch, and (`hinton_gain`) Hinton KD against scratch, per student, paired by
    seed: one Holm family over all of them. `weak`: the weak teachers' run ids
    (`weak_teachers`)."""
    rows = _with_arms(rows, weak)
    rows = rows[rows["arm"].isin(("scratch", "hinton", *arms))]
    parts = []
    for baseline in ("hinton", "scratch"):
        left_out = {"hinton": ("scratch",), "scratch": () if hinton_gain else ("hinton",)}
        compared = rows[~rows["arm"].isin(left_out[baseline])]
        part = stats.compare_within(compared, "student", "arm", baseline, metric,
                                    pair_by="seed")
        parts.append(part.assign(baseline=baseline))
    table = stats.holm_together(pd.concat(parts, ignore_index=True), metric)
    summary = stats.summarise(rows, ("student", "arm"), (metric,))
    return table.merge(summary, on=["student", "arm"], how="left")


def controls_so_far(results_dir=records.RESULTS_DIR) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(`controls_table` over the control runs finished so far, those runs' rows with their
    `arm` and `student`): a reading in progress until every planned seed is in; two empty
    frames before the first.

    Holm counts the whole planned family, a line not testable yet as p = 1, so that no verdict
    is decided here that the full family could not decide (its lines are "too few runs")."""
    return _so_far(results_dir, ("controls", "more controls"), CONTROLS)


def methods_so_far(results_dir=records.RESULTS_DIR) -> tuple[pd.DataFrame, pd.DataFrame]:
    """As `controls_so_far`, for the methods notebook (18): decoupled KD and the FitNets hint,
    each against Hinton KD and against the student from scratch, per student, on the methods
    stage's seeds, in one Holm family of their own. Hinton KD against scratch, and label
    smoothing, are the controls table's comparisons (each comparison in one table only)."""
    return _so_far(results_dir, ("controls", "methods"), METHODS, hinton_gain=False)


def _so_far(results_dir, stage_names, arms,
            hinton_gain: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    named = dict(stages(results_dir))
    configs = [c for name in stage_names for c in named[name] or []]
    finished = [c for c in configs if records.is_finished(c, results_dir)]
    if not finished:
        return pd.DataFrame(), pd.DataFrame()
    weak = weak_teachers(named["teachers"][0])
    rows = _with_arms(pd.DataFrame([records.load_row(c, results_dir) for c in finished]),
                      weak)
    rows = rows[rows["arm"].isin(("scratch", "hinton", *arms))].reset_index(drop=True)
    table = controls_table(rows, weak, arms=arms, hinton_gain=hinton_gain)
    tested = table["p_value"].notna()
    # every planned line: each arm against Hinton KD and scratch (and Hinton KD against scratch)
    planned = len(STUDENTS) * (2 * len(arms) + hinton_gain)
    padded = [*table["p_value"].fillna(1.0), *[1.0] * (planned - len(table))]
    table["p_holm"] = pd.Series(stats.holm(padded)[:len(table)], table.index).where(tested)
    table["verdict"] = [stats.verdict(d, p, "test_errors") if t else stats.TOO_FEW
                        for d, p, t in zip(table["difference"], table["p_holm"], tested,
                                           strict=True)]
    return table, rows


CONTROLS_TABLE = "19_controls"  # tables/ and figures/, written once every control is in
SHARES_TABLE = "19_gain_shares"


ARM_WORDS = {  # the arms in words, as tables and figures name them
    "hinton": "Hinton KD", "label_smoothing": "label smoothing",
    "teacher_regularisers": "scratch with the teacher's regularisers",
    "class_mean": "class-mean soft targets", "shuffled": "shuffled soft targets",
    "weak_teacher": "a weak teacher"}


def in_reading_order(table):
    """The controls table by student (as the plan lists them), against scratch first (Hinton KD
    leading), then against Hinton KD."""
    order = {name: i for i, name in enumerate(("hinton", *CONTROLS))}
    return table.assign(
        _s=table["student"].map({s: i for i, s in enumerate(STUDENTS)}),
        _b=table["baseline"].map({"scratch": 0, "hinton": 1}), _a=table["arm"].map(order),
    ).sort_values(["_s", "_b", "_a"]).drop(columns=["_s", "_b", "_a"]).reset_index(drop=True)


def controls_complete(results_dir=records.RESULTS_DIR) -> bool:
    """Whether every planned control run is recorded (the first stage's and the more seeds the
    power rule asked for): only then are the controls' verdicts final."""
    named = dict(stages(results_dir))
    if not named["controls"] or named["more controls"] is None:
        return False
    return all(records.is_finished(c, results_dir)
               for c in named["controls"] + named["more controls"])


def write_controls_outputs(results_dir=records.RESULTS_DIR) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                     Path | None]:
    """(the controls table, the gain shares, the table's CSV or None): once every control run is
    in (`controls_complete`), `tables/19_controls.csv` (with its runs), `tables/19_gain_shares.csv`
    and `figures/19_controls.png` are written, for the README to state their verdicts; before,
    nothing is written and the tables so far are returned (provisional)."""
    table, rows = controls_so_far(results_dir)
    shares = gain_shares(rows)
    if table.empty or not controls_complete(results_dir):
        return table, shares, None
    csv = records.write_table(table, CONTROLS_TABLE, results_dir, runs=rows)
    records.write_table(shares, SHARES_TABLE, results_dir)
    save_controls_figure(in_reading_order(table), CONTROLS_TABLE + records.variant_of(csv),
                         results_dir, ARM_WORDS)
    return table, shares, csv


def save_controls_figure(table: pd.DataFrame, name: str, results_dir, labels=None) -> Path:
    """`plot_controls` of `table`'s tested lines (named by `labels`), saved as
    `figures/<name>.png`."""
    plot_controls(table[table["p_value"].notna()], labels=labels)
    figures = Path(results_dir) / "figures"
    plots.save_fig(name, figures_dir=figures, tight_layout=False)  # it lays itself out
    return plots.figure_path(name, figures)


def gain_shares(rows: pd.DataFrame, metric: str = "test_errors") -> pd.DataFrame:
    """How much of Hinton KD's gain each control keeps, per student: over the seeds where the
    student from scratch, Hinton KD and the control are all recorded, mean(scratch - control)
    / mean(scratch - Hinton KD), with Fieller's 95% interval (`stats.paired_ratio`). The line
    "per-example part" is what class-mean targets lose, mean(class mean - Hinton KD) / the same
    gain: the share of the gain that needs the teacher's knowledge of each image, beyond its
    knowledge of each class. `rows`: the control runs with their arms (`controls_so_far`).

    A share of 1 keeps all of the gain, 0 none; an interval is unbounded while the gain itself
    is not told from 0 by its paired t test, and no share is given (NaN) where the mean gain is
    not positive: there is then nothing to share."""
    lower = stats.lower_is_better(metric)
    lines = []
    for student, own in (rows.groupby("student", sort=False) if len(rows) else ()):
        wide = own.pivot_table(index="seed", columns="arm", values=metric)
        if not {"scratch", "hinton"} <= set(wide.columns):
            continue
        parts = {arm: (wide[arm], wide["scratch"]) for arm in CONTROLS if arm in wide}
        if "class_mean" in wide:
            parts["per-example part"] = (wide["hinton"], wide["class_mean"])
        for arm, (better, worse) in parts.items():
            # the seeds holding all three; signs so that a gain is an improvement
            both = pd.DataFrame({"gain": wide["scratch"] - wide["hinton"],
                                 "part": worse - better}).dropna() * (1 if lower else -1)
            share = stats.paired_ratio(both["part"], both["gain"])
            if not both["gain"].mean() > 0:  # a share of a loss, or of nothing, means nothing
                share.update(ratio=math.nan, ratio_low=math.nan, ratio_high=math.nan)
            lines.append(dict(student=student, arm=arm, gain=float(both["gain"].mean()), **share))
    return pd.DataFrame(lines, columns=["student", "arm", "gain", "ratio", "ratio_low",
                                        "ratio_high", "pairs"])


def plot_controls(table: pd.DataFrame, metric_label: str = "test errors", labels=None):
    """One panel per baseline (Hinton KD, scratch): each arm's paired difference from it, per
    student, with its 95% interval (per comparison: an interval clear of 0 can still be
    undecided once Holm corrects the family); filled where the Holm verdict is "better" or
    "worse". An
    interval reaching five times further than the typical one (shuffled targets cost thousands
    of errors, the others tens) is drawn as an arrow at the edge with its numbers, so that the
    axis keeps the scale of the others."""
    import matplotlib.pyplot as plt

    baselines = [b for b in ("scratch", "hinton") if b in set(table["baseline"])]
    rows = max(len(table[table["baseline"] == b]) for b in baselines)
    longest = max(len(f"{(labels or {}).get(arm, arm)} ({student})")
                  for arm, student in zip(table["arm"], table["student"], strict=True))
    width = max(6.0, 2.5 + 0.1 * longest)  # per panel: room for the longest row label
    fig, axes = plt.subplots(1, len(baselines), figsize=(width * len(baselines), 1.4 + 0.5 * rows),
                             squeeze=False, layout="constrained")
    reach = table[["diff_low", "diff_high"]].abs().max(axis=1)
    far = reach > 5 * reach.median()
    limit = 1.15 * reach[~far].max() if far.any() and not far.all() else None
    fig.suptitle("each arm's paired difference and its 95% interval (per comparison, not "
                 "Holm-corrected); filled where the Holm verdict is decided (better or worse)"
                 + ("; arrows: off the scale" if limit else ""),
                 fontsize=10)
    for ax, baseline in zip(axes[0], baselines, strict=True):
        part = table[table["baseline"] == baseline].reset_index(drop=True)
        names = [f"{(labels or {}).get(arm, arm)} ({student})"
                 for arm, student in zip(part["arm"], part["student"], strict=True)]
        for y, line in part.iterrows():
            decided = line["verdict"] in ("better", "worse")
            color = "C0" if decided else "0.5"
            if limit and max(abs(line["diff_low"]), abs(line["diff_high"])) > limit:
                edge = math.copysign(limit, line["difference"])
                ax.plot(edge, y, marker=">" if edge > 0 else "<", color=color, ms=9)
                ax.annotate(f"{line['difference']:+.0f} [{line['diff_low']:.0f}, "
                            f"{line['diff_high']:.0f}]", (edge, y), xytext=(
                                -10 if edge > 0 else 10, 0), textcoords="offset points",
                            ha="right" if edge > 0 else "left", va="center", fontsize=8)
                continue
            ax.errorbar(line["difference"], y, xerr=[[line["difference"] - line["diff_low"]],
                        [line["diff_high"] - line["difference"]]], fmt="o", capsize=3,
                        color=color, mfc=color if decided else "white")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(part)), names)
        ax.invert_yaxis()
        name = {"scratch": "the student from scratch", "hinton": "Hinton KD"}[baseline]
        if limit:
            ax.set_xlim(-limit, limit)
        ax.set_xlabel(f"{metric_label}: arm minus {name}")
        ax.set_title(f"against {name}", fontsize=10)
    return fig


def _with_arms(rows: pd.DataFrame, weak: frozenset) -> pd.DataFrame:
    # `student`: the architecture without the regularisers one control adds to it.
    return rows.assign(arm=[arm_of(row, weak) for _, row in rows.iterrows()],
                       student=rows["architecture"].str.replace("+dropout", "", regex=False))


SELECTION_SEED = 0  # the students' recipe, smoothing and temperature were chosen on its runs


def without_selection_seed(results_dir=records.RESULTS_DIR) -> pd.DataFrame:
    """The controls' comparisons (`controls_so_far`) with their verdicts read again without
    `SELECTION_SEED`: that seed's Hinton KD and label-smoothing students won the choices made on
    its validation errors, a selection inside the table. The same comparisons in one Holm family
    as before (a check of the verdicts, not a second family): per line `verdict` and
    `verdict_without`, with the difference and Holm p-value of each; empty before the first
    control."""
    table, rows = controls_so_far(results_dir)
    if table.empty:
        return table
    weak = weak_teachers(teachers(results_dir)[0])
    again = controls_table(rows[rows["seed"] != SELECTION_SEED], weak)
    keys, shown = ["student", "arm", "baseline"], ["difference", "p_holm", "verdict"]
    return table[keys + shown].merge(again[keys + shown], on=keys, how="left",
                                     suffixes=("", "_without"))


def control_seeds(table: pd.DataFrame, rows: pd.DataFrame, weak: frozenset,
                  metric: str = "test_errors") -> int:
    """Seeds that let every control comparison detect half the distillation gain (scratch
    minus Hinton KD, per student) at 80% power in the table's Holm family; at least
    `FIRST_CONTROL_SEEDS`, at most `TEACHER_SEEDS`."""
    wide = _with_arms(rows, weak).pivot_table(index=["student", "seed"], columns="arm",
                                              values=metric)
    needed = len(FIRST_CONTROL_SEEDS)
    for _, own in wide.groupby(level="student"):
        gain = float((own["scratch"] - own["hinton"]).mean())
        for arm in CONTROLS:
            for baseline in ("hinton", "scratch"):
                spread = float((own[arm] - own[baseline]).std())
                needed = max(needed, stats.seeds_to_detect(spread, gain / 2, len(table),
                                                           at_most=len(TEACHER_SEEDS)))
    return needed


def method_configs(teacher: RunConfig, recipes: dict, seeds) -> list[RunConfig]:
    return [student_config(student, arm, seed, teacher, STUDENT_RECIPES[recipes[student]])
            for seed in seeds for student in STUDENTS for arm in METHODS]


# The lab's tables on the strong teachers: seeds per table.
COMPARE_SEEDS = TEACHER_SEEDS  # `make compare`, notebooks 03 and 06: teacher, scratch, distilled
GRID_SEEDS = {"mlp:800,800": tuple(range(5)), "mlp:30,30": TEACHER_SEEDS}  # notebook 04
TABLE_SEEDS = tuple(range(5))  # widths (07), restricted transfer sets (08), regulariser (09)
VARIANT_SEEDS = tuple(range(3))  # notebook 06: students of the ensemble


def teacher_knobs(teacher: RunConfig) -> dict:
    """The training knobs that make the paper profile's teacher this plan's `teacher`."""
    paper = main_configs.hinton_configs(teacher.seed, "paper")[0]
    knobs = {k: getattr(teacher, k) for k in KNOBS if getattr(teacher, k) != getattr(paper, k)}
    left = differing_fields(paper.replace(**knobs), teacher)
    if left:
        raise ValueError(f"the teacher differs from the paper profile's in {left}, which are "
                         "not training knobs: its tables cannot be built from the profile")
    return knobs


def lab_table_configs(teacher: RunConfig) -> list[RunConfig]:
    """Every run of the lab's MNIST distillation tables distilling `teacher`'s recipe (each
    seed its own teacher), in training order: the comparison first, then the cheap tables,
    the grids, the widths and notebook 06's ensemble. The teachers are the plan's own; the
    student on jittered inputs, which runs its teacher's model on every batch, is not among
    them (the teachers' logits are committed, their models are not)."""
    from . import hinton2015, hinton2015_ensemble, hinton2015_transfer

    knobs = dict(profile="paper", teacher_knobs=teacher_knobs(teacher))
    configs = [c for seed in COMPARE_SEEDS
               for c in main_configs.hinton_configs(seed, "paper",
                                                    teacher_knobs=knobs["teacher_knobs"])[1:]]
    configs += hinton2015.regulariser_configs(seeds=TABLE_SEEDS, train_size=55_000, **knobs)
    for name in hinton2015_transfer.TRANSFER_SETS:
        configs += hinton2015_transfer.omitted_class_configs(name, TABLE_SEEDS,
                                                             monitor="val_loss", **knobs)
    template = main_configs.hinton_configs(0, "paper", teacher_knobs=knobs["teacher_knobs"])[2]
    for student, seeds in GRID_SEEDS.items():
        configs += sweep.sweep_configs(template.replace(architecture=student), seeds=seeds,
                                       fixed_teacher=False, scratch_baseline=True)
    configs += hinton2015.width_configs(seeds=TABLE_SEEDS, fixed_teacher=False,
                                        scratch_baseline=True, **knobs)
    configs += hinton2015_ensemble.ensemble_configs(VARIANT_SEEDS, members=TABLE_SEEDS, **knobs)
    unique = {}  # each run once, at its first place (the grids hold the comparison's runs)
    for config in configs:
        unique.setdefault(config.run_id, config)
    return list(unique.values())


def stages(results_dir=records.RESULTS_DIR,
           teacher_epochs: int = EPOCHS) -> list[tuple[str, list[RunConfig] | None]]:
    """(stage, its configs) in order; None where an earlier stage has not decided yet.

    `teacher_epochs`: the plan on the teachers of that schedule. The tables read the plan over
    `EPOCHS`; the plan over `LONGER_EPOCHS` shares its precision check and pilot, has a schedule
    stage of its own and goes on only if that stage takes the longer schedule."""
    if teacher_epochs not in PLANS:
        raise ValueError(f"teacher_epochs must be one of {PLANS}; got {teacher_epochs!r}")
    # Decided from the records, and asked for by several tables of one page: worked out again
    # only when a record has been written since.
    key = (str(Path(results_dir).resolve()), records.files_signature(results_dir),
           teacher_epochs)
    if key not in _STAGES:
        for stale in [other for other in _STAGES if other[:2] != key[:2]]:
            del _STAGES[stale]  # records written since: every plan is decided again
        _STAGES[key] = _decide_stages(results_dir, teacher_epochs)
    return [(name, None if configs is None else list(configs))
            for name, configs in _STAGES[key]]


_STAGES: dict = {}


def decisions(results_dir=records.RESULTS_DIR, teacher_epochs: int = EPOCHS) -> dict:
    """The plan's decisions so far, each from the records of the stage that makes it, in
    order: "precision", "learning_rate", in a longer plan "epochs" (the schedule stage's),
    then per student "recipes", "smoothings" and "temperatures", and "control_seeds" (the
    power rule's, from the first controls' spread). A decision is missing until
    its stage is finished, and so is every one after it; "teacher" (seed 0's config) is there
    once the teachers' recipe is decided for this plan."""
    made = {}
    check = precision_check(results_dir)
    if check is None:
        return made
    made["precision"] = check["precision"]
    pilot = pilot_choice(made["precision"], results_dir)
    if pilot is None:
        return made
    made["learning_rate"] = pilot["learning_rate"]
    if teacher_epochs != EPOCHS:  # its own schedule stage decides whether this plan goes on
        schedule = schedule_choice(made["precision"], made["learning_rate"], results_dir)
        if schedule is None:
            return made
        made["epochs"] = schedule["epochs"]
        if made["epochs"] != teacher_epochs:
            return made
    teacher = made["teacher"] = teacher_config(0, made["learning_rate"], teacher_epochs,
                                               made["precision"])
    recipes = student_recipe(teacher, results_dir)
    if recipes is None:
        return made
    made["recipes"] = recipes
    smoothings = smoothing_choice(teacher, recipes, results_dir)
    if smoothings is None:
        return made
    made["smoothings"] = smoothings
    temperatures = temperature_choice(teacher, recipes, results_dir)
    if temperatures is None:
        return made
    made["temperatures"] = temperatures
    first = _rows(control_configs(teacher, recipes, smoothings, temperatures,
                                  FIRST_CONTROL_SEEDS), results_dir)
    if first is not None:  # the power rule, on the first controls' spread
        rows, weak = pd.DataFrame(first), weak_teachers(teacher)
        made["control_seeds"] = control_seeds(controls_table(rows, weak), rows, weak)
    return made


# The decisions taken, as the records made them when each stage finished (`decisions`): a
# record rewritten later (a retrain, a folder copied in) must not move a decided stage, and
# the runs planned on it, behind the plan's back (`check_decisions`).
TAKEN = {
    EPOCHS: {"precision": "float32", "learning_rate": 0.05,
             "recipes": {"mlp:800,800": "adam-1e-3", "mlp:30,30": "adam-1e-3"},
             "smoothings": {"mlp:800,800": 0.05, "mlp:30,30": 0.1},
             "temperatures": {"mlp:800,800": 8.0, "mlp:30,30": 2.0}, "control_seeds": 10},
    LONGER_EPOCHS: {"precision": "float32", "learning_rate": 0.05, "epochs": LONGER_EPOCHS,
                    "recipes": {"mlp:800,800": "adam-1e-3", "mlp:30,30": "adam-1e-3"},
                    "smoothings": {"mlp:800,800": 0.05, "mlp:30,30": 0.1},
                    "temperatures": {"mlp:800,800": 4.0, "mlp:30,30": 2.0}},
}


class DecisionMoved(ValueError):
    """The records now make a decision other than the one the plan took (`TAKEN`)."""


def check_decisions(results_dir=records.RESULTS_DIR, teacher_epochs: int = EPOCHS) -> dict:
    """The plan's `decisions`, once every one the records make agrees with `TAKEN`; raises
    `DecisionMoved` naming the first that does not."""
    made = decisions(results_dir, teacher_epochs)
    for key, taken in TAKEN[teacher_epochs].items():
        if key in made and made[key] != taken:
            raise DecisionMoved(
                f"the records in {results_dir} now decide {key} = {made[key]!r}, where the plan "
                f"on {teacher_epochs}-epoch teachers took {taken!r}: a record behind that "
                "decision was rewritten since (a retrain, a folder copied in). Restore it, or "
                "change TAKEN on purpose, knowing that every run planned on it changes")
    return made


def _decide_stages(results_dir, teacher_epochs) -> list[tuple[str, list[RunConfig] | None]]:
    made = decisions(results_dir, teacher_epochs)
    precision, rate = made.get("precision"), made.get("learning_rate")
    teacher, recipes = made.get("teacher"), made.get("recipes")
    smoothings, temperatures = made.get("smoothings"), made.get("temperatures")
    longer = ([("schedule", schedule_configs(precision, rate) if rate else None)]
              if teacher_epochs != EPOCHS else [])
    first = temperatures and control_configs(teacher, recipes, smoothings, temperatures,
                                             FIRST_CONTROL_SEEDS)
    more = ("control_seeds" in made or None) and control_configs(
        teacher, recipes, smoothings, temperatures,
        range(len(FIRST_CONTROL_SEEDS), made["control_seeds"]))
    seeds_first = [teacher.replace(seed=s) for s in FIRST_CONTROL_SEEDS] if teacher else None
    seeds_rest = ([teacher.replace(seed=s) for s in TEACHER_SEEDS
                   if s not in FIRST_CONTROL_SEEDS] if teacher else None)
    return [("precision check", check_configs()),
            ("pilot", pilot_configs(precision) if precision else None),
            *longer,
            ("student recipe", student_pilot_configs(teacher) if teacher else None),
            ("label smoothing strength", smoothing_configs(teacher, recipes) if recipes else None),
            ("student temperature", temperature_configs(teacher, recipes) if smoothings
             else None),
            ("teachers", seeds_first),
            ("controls", first or None),
            # the methods need only the students' recipe: planned as soon as it is chosen, so
            # that a hint run trains while its teacher's model is on the machine that made it
            ("methods", method_configs(teacher, recipes, FIRST_CONTROL_SEEDS) if recipes
             else None),
            ("more teachers", seeds_rest),
            ("more controls", more),
            ("lab tables", lab_table_configs(teacher) if teacher else None)]


def teachers(results_dir=records.RESULTS_DIR,
             teacher_epochs: int = EPOCHS) -> list[RunConfig] | None:
    """The plan's teachers (`TEACHER_SEEDS`), once precision and pilot (and, for a longer
    plan, the schedule) are decided."""
    named = dict(stages(results_dir, teacher_epochs))
    return None if named["teachers"] is None else named["teachers"] + named["more teachers"]


def hinton_kd_comparisons(results_dir=records.RESULTS_DIR) -> list[tuple[frozenset, frozenset]]:
    """Per student, (Hinton KD's run ids, the student from scratch's) that the controls table
    compares: a table holding those runs (or some of them) cites that test rather than
    testing them again (`sweep.sweep_table`'s `cited`). Empty before the table is written."""
    rows = records.table_runs(CONTROLS_TABLE, results_dir)
    if rows is None:
        return []
    rows = _with_arms(rows, weak_teachers(teachers(results_dir)[0]))
    return [(frozenset(own.loc[own["arm"] == "hinton", "run_id"]),
             frozenset(own.loc[own["arm"] == "scratch", "run_id"]))
            for _, own in rows.groupby("student")]


TEACHER_TARGET = 75  # the issue's target for the teachers' mean test errors (the paper: 67)


def teacher_rows(results_dir=records.RESULTS_DIR) -> pd.DataFrame:
    """The finished teachers' rows in seed order, with their validation errors (empty until
    the pilot has chosen the recipe)."""
    configs = [c for c in teachers(results_dir) or () if records.is_finished(c, results_dir)]
    rows = pd.DataFrame([records.load_row(c, results_dir) for c in configs])
    if rows.empty:
        return rows
    rows["val_errors"] = [_val_errors(row) for _, row in rows.iterrows()]
    return rows.sort_values("seed", ignore_index=True)


def train_teachers(results_dir=records.RESULTS_DIR, data_dir=None, only=None,
                   wait_seconds: float | None = 300, teacher_epochs: int = EPOCHS) -> None:
    """Train every stage's missing runs in order (hours on 2 cores; resumable). Several
    processes may share the results folder, one per core: each claims a run, and the unfinished
    teachers it starts from, before training it (`run_claims`), and passes by the runs another
    process has claimed. `only`: the names of the stages to train, the others left to another
    process; a run whose teacher belongs to a stage left to another process waits until that
    teacher is finished. Waiting is checked every `wait_seconds` (None: stop instead).
    `teacher_epochs`: the plan to train (`stages`)."""
    check_decisions(results_dir, teacher_epochs)
    named = [name for name, _ in stages(results_dir, teacher_epochs)]
    unknown = sorted(set(only or ()) - set(named))
    if unknown:
        raise ValueError(f"only must name stages among {', '.join(named)}; got {unknown}")
    keep_teacher_logits(results_dir, data_dir, teacher_epochs)
    while True:
        check_decisions(results_dir, teacher_epochs)  # a record rewritten while this runs
        planned = stages(results_dir, teacher_epochs)
        owner = {}  # a run listed by several stages is the first one's (the lab tables hold
        for name, configs in planned:  # the controls' scratch and Hinton KD runs, for one)
            for config in configs or ():
                owner.setdefault(config.run_id, name)
        ours = [(name, c) for name, configs in planned for c in configs or ()
                if owner[c.run_id] == name and (only is None or name in only)
                and not records.is_finished(c, results_dir)]
        # the runs of stages left to another process (a run in no stage, a weak teacher say,
        # is trained by the run that starts from it)
        elsewhere = {run_id for run_id, name in owner.items() if only and name not in only}
        pending = [(name, c) for name, c in ours
                   if not _waits_for(c, elsewhere, results_dir)]
        # A run that reads its teacher's model trains while that model is on this machine:
        # models are not committed, and another machine has only the teacher's logits.
        gone = [c for _, c in pending if _teacher_model_here(c, results_dir) is False]
        if gone:
            print(f"{time.strftime('%H:%M:%S')} left: {', '.join(c.run_id for c in gone)} "
                  "(they read their teachers' models, which are not on this machine: train "
                  "them where those models are. Retraining a teacher here would replace its "
                  "record, which the plan's other runs and decisions read)", flush=True)
        pending = sorted([(name, c) for name, c in pending if c not in gone],
                         key=lambda item: not _teacher_model_here(item[1], results_dir))
        picked = next(((name, c, taken) for name, c in pending
                       if (taken := _claim_with_teachers(c, results_dir))), None)
        if picked is None:
            waiting = {t.run_id for _, c in ours for t in _waits_for(c, elsewhere, results_dir)}
            waiting |= {c.run_id for _, c in pending}  # claimed by other processes
            if not waiting:
                break
            print(f"{time.strftime('%H:%M:%S')} waiting for {', '.join(sorted(waiting))}, "
                  "trained by another process", flush=True)
            if wait_seconds is None:
                break
            time.sleep(wait_seconds)
            continue
        name, config, taken = picked
        started = time.perf_counter()
        print(f"{time.strftime('%H:%M:%S')} {name}: {config.run_id}", flush=True)
        # Every run alone, the lab tables' small students too: the grids share the controls'
        # scratch and Hinton KD runs (trained alone), and a table trains each architecture
        # one way (`records.execution_mix`).
        try:
            runner.run(config, results_dir, data_dir=data_dir, verbose=2,
                       why=f"{name}: training")
        finally:
            for run_id in taken:
                run_claims.release(run_id, results_dir)
        print(f"{time.strftime('%H:%M:%S')} done in {(time.perf_counter() - started) / 60:.1f} "
              "min", flush=True)
        keep_teacher_logits(results_dir, data_dir, teacher_epochs)
    describe(results_dir, teacher_epochs)


def _teacher_model_here(config: RunConfig, results_dir) -> bool | None:
    """For a run that reads its teacher's model, not only its logits (hidden layers, jittered
    inputs), whether that finished teacher's model is on this machine; None for any other
    run, and while its teacher is unfinished (training the run trains the teacher first)."""
    if (not runner.reads_teacher_model(config)
            or not records.is_finished(config.teacher, results_dir)):
        return None
    return (records.run_dir(config.teacher, results_dir) / "model.keras").exists()


def _claim_with_teachers(config: RunConfig, results_dir) -> list[str]:
    """Claim `config` and the unfinished runs it starts from (a weak teacher that its run
    trains first, say), so that no other process trains them too: the run ids claimed, or []
    (nothing held) when another process holds any of them."""
    needed = [config.run_id] + [run.run_id for run in _starts_from(config)
                                if not records.is_finished(run, results_dir)]
    taken = []
    for run_id in needed:
        if not run_claims.claim(run_id, results_dir):
            for held in taken:
                run_claims.release(held, results_dir)
            return []
        taken.append(run_id)
    return taken


def _waits_for(config: RunConfig, elsewhere: set, results_dir) -> list[RunConfig]:
    """The runs `config` starts from (its teacher, an ensemble's every member, its initial
    weights' run) that are unfinished and belong to stages `elsewhere` (run ids) trains."""
    return [run for run in _starts_from(config)
            if run.run_id in elsewhere and not records.is_finished(run, results_dir)]


def _starts_from(config: RunConfig) -> list[RunConfig]:
    """The runs `config` starts from: its teacher, an ensemble's every member, the run whose
    weights it starts from."""
    members = ensemble_members(config) if config.teacher_seeds else []
    return [run for run in (config.teacher, *members, config.init_from) if run is not None]


def keep_teacher_logits(results_dir=records.RESULTS_DIR, data_dir=None,
                        teacher_epochs: int = EPOCHS) -> list[str]:
    """Keep beside its record the logits of every finished teacher that has none yet (on the
    splits its students train on), while its model is on this machine: the record is what
    other machines distil from: the plan's teachers, and in a longer plan its schedule stage's
    longer runs before the stage decides (their models may not outlive the decision). A
    teacher whose model is gone too is named, not kept. Returns the run ids kept."""
    named = dict(stages(results_dir, teacher_epochs))
    longer = [c for c in named.get("schedule") or () if c.epochs == teacher_epochs]
    kept = []
    for config in {c.run_id: c for c in [*longer, *(teachers(results_dir, teacher_epochs)
                                                    or ())]}.values():
        if not records.is_finished(config, results_dir):
            continue
        splits = datasets.splits_for(config, data_dir)
        if teacher_logits.recorded_logits(config, splits, results_dir) is not None:
            continue
        if not (records.run_dir(config, results_dir) / "model.keras").exists():
            print(f"{config.run_id}: neither its logits nor its model are here; its students "
                  "can train only where its model is", flush=True)
            continue
        model = records.load_record(config, results_dir).load_model()
        teacher_logits.teacher_logits_for(config, model, splits, results_dir)
        kept.append(config.run_id)
    return kept


def describe(results_dir=records.RESULTS_DIR, teacher_epochs: int = EPOCHS) -> None:
    """Print each stage's progress and decision (of the plan on `teacher_epochs` teachers);
    `DecisionMoved` first where the records no longer make a decision taken."""
    made = check_decisions(results_dir, teacher_epochs)
    print(f"The plan on teachers of {teacher_epochs} epochs:")
    for name, configs in stages(results_dir, teacher_epochs):
        if configs is None:
            print(f"  -/- {name}: waits for the stage before")
            continue
        finished = [c for c in configs if records.is_finished(c, results_dir)]
        print(f"{len(finished):>3}/{len(configs):<3} {name}")
        if "teacher" in name or name in ("pilot", "schedule"):  # test, validation errors
            rows = [records.load_row(c, results_dir) for c in finished]
            print("".join(f"        s{r['seed']} lr {r['learning_rate']:g}, {r['epochs']} "
                          f"epochs: {r['test_errors']} test, {_val_errors(r)} validation "
                          "errors\n" for r in rows), end="")
    check = precision_check(results_dir)
    if not check:
        return
    print(f"precision: bfloat16 - float32 test errors {check['difference']:+.1f} "
          f"[{check['diff_low']:+.1f}, {check['diff_high']:+.1f}], paired p = "
          f"{check['p_value']:.3f}, n = {check['n']}: {check['verdict']} -> "
          f"{check['precision']}")
    pilot = pilot_choice(check["precision"], results_dir)
    if not pilot:
        return
    print(f"pilot: validation errors by learning rate {pilot['val_errors']} -> "
          f"{pilot['learning_rate']}")
    schedule = (schedule_choice(check["precision"], pilot["learning_rate"], results_dir)
                if teacher_epochs != EPOCHS else None)
    if schedule:
        print(f"schedule: validation errors where the runs end (mean of their last "
              f"{SCHEDULE_END_EPOCHS} epochs, over the seeds) by epochs "
              f"{ {e: round(v, 1) for e, v in schedule['val_errors'].items()} } -> "
              f"{schedule['epochs']} (the longer must save {SCHEDULE_GAIN:.0%}); at the kept "
              f"epochs (context, not the rule): {schedule['kept_val_errors']}")
    if "recipes" in made:
        print(f"student recipes: {made['recipes']}; label smoothing: "
              f"{made.get('smoothings')}; temperature: {made.get('temperatures')}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", action="store_true", help="print the stages, train nothing")
    parser.add_argument("--results-dir", default=str(records.RESULTS_DIR))
    parser.add_argument("--only", nargs="+", metavar="STAGE", default=None,
                        help="train these stages only (quoted names, as --plan prints them)")
    parser.add_argument("--teacher-epochs", type=int, choices=PLANS, default=EPOCHS,
                        help="the plan on teachers of this schedule (default: the one the "
                             "tables read)")
    args = parser.parse_args(argv)
    try:
        if args.plan:
            describe(args.results_dir, args.teacher_epochs)
        else:
            train_teachers(args.results_dir, only=args.only, teacher_epochs=args.teacher_epochs)
    except DecisionMoved as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except ValueError as error:
        if "only must name stages" not in str(error):
            raise
        parser.error(f"argument --only: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
