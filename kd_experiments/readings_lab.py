"""Generated blocks for the lab's own notebooks: the index's times (00), the workshop (16) and
bring-your-own (17); and the README's statistical protocol with the evidence behind each
table (see `readings`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kd_lab import comparison, main_configs, records, stats
from kd_lab.report import frame_markdown, markdown_table, mean_spread_of

from . import workshop
from .readings import HEADER, figure, generated, read_table, source_line, span, unlisted_runs


@generated("00_times")
def times_block(results_dir: Path) -> str:
    times = pd.read_csv(Path(results_dir) / "notebook_times.csv")
    return "\n\n".join([frame_markdown(times, {
        "notebook": "notebook", "fast_seconds": "FAST (s)",
        "default_seconds": "defaults, fresh clone (s)", "trains_by_default": "trains by default"}),
        "Measured on 2 CPU cores, each notebook headless in a fresh copy of `results/` "
        "(`python benchmarks/notebook_times.py`), TensorFlow's start-up included.",
        source_line("notebook_times.csv")])


@generated("16_workshop")
def workshop_block(results_dir: Path) -> str:
    summary = records.read_summary(results_dir).set_index("run_id")
    configs = [c for seed in workshop.WORKSHOP_SEEDS for c in workshop.workshop_configs(seed)]
    rows = summary.loc[[c.run_id for c in configs]].reset_index()
    table = workshop.workshop_table(rows)
    shown = markdown_table(
        [(r.model, f"{int(r.train_examples):,}", mean_spread_of(r, 'test_errors'),
          mean_spread_of(r, "train_accuracy", 2, 100, "%"), int(r.test_errors_count))
         for r in table.itertuples()],
        ["model", "training images", "test errors (mean ± std [95% CI])", "train accuracy",
         "seeds"])
    per_seed = rows.pivot(index="seed", columns="role", values="test_errors")
    gains = (per_seed["scratch"] - per_seed["distilled"]).astype(int)
    test = stats.paired(per_seed["distilled"], per_seed["scratch"])
    return "\n\n".join([
        HEADER, shown,
        f"Distilled minus scratch: {test['difference']:+.1f} test errors "
        f"{stats.interval(test['diff_low'], test['diff_high'])} (paired by seed, p = "
        f"{test['p_value']:.2g}): "
        f"{stats.verdict(test['difference'], test['p_value'], 'test_errors')}. The distilled "
        f"student makes fewer test errors than the student from scratch in "
        f"{int((gains > 0).sum())} of {len(gains)} seeds (the differences, seed by seed: "
        f"{', '.join(str(g) for g in gains)}; out of 10,000 test images). How long the "
        "notebook takes is in `00_index`.",
        source_line("summary.csv")])


@generated("17_byo")
def byo_block(results_dir: Path) -> str:
    table = read_table(results_dir, "17_byo_compare_full")
    return "\n\n".join([
        HEADER, figure("17_byo_learning_curves_full", "learning curves, your models"),
        "```\n" + comparison.format_table(table) + "\n```",
        "Test errors are out of 450 test images. " + comparison.comparison_sentences(table),
        figure("17_byo_sweep_full_tiny_mlp_student_heatmap", "T x alpha, your student"),
        source_line("tables/17_byo_compare_full.csv", "tables/17_byo_sweep_full.csv")])


def _logits_sentence(results_dir: Path, tables: dict[str, pd.DataFrame]) -> str:
    """How many of the teachers the `tables` (name: summary rows) distil have their logits in
    `results/`: committed, so their students train on any machine without the teacher's model;
    and which tables distil the others."""
    def kept(run_id: str) -> bool:
        return any((Path(results_dir) / "runs" / run_id).glob(records.LOGITS_FILES))

    teachers = {name: set(runs.get("teacher_run_id", pd.Series(dtype=str)).dropna()) - {""}
                for name, runs in tables.items()}
    ids = set().union(*teachers.values())
    without = [f"`{name}`" for name, own in sorted(teachers.items())
               if any(not kept(i) for i in own)]
    if not without:
        return f"and committed for all {len(ids)} teachers the tables below distil."
    return (f"and committed for {sum(map(kept, ids))} of the {len(ids)} teachers the tables "
            f"below distil: not for those of {', '.join(without)}, trained before the lab "
            "kept them (nor are their models), so a new student of one of them needs its "
            "teacher trained again (`runner.ModelNotHere` says how), which replaces the "
            "teacher's record with this machine's.")


@generated("protocol")
def protocol_block(results_dir: Path) -> str:
    """The protocol in words (its numbers are `stats`' constants and the profiles', its counts
    the records') and, per table, the evidence behind it: runs, seeds per row, how they were
    executed (which were stacked and which alone, when a table mixes them), binding budgets,
    and the training time its runs took (their recorded wall times summed: stack members
    record their share, so nothing is counted twice within a table). The tables are those that
    list their runs, then those whose runs are found otherwise (`readings.unlisted_runs`)."""
    level, power = stats.SIGNIFICANCE, round(100 * stats.POWER)
    tables = {}
    for listed in sorted((Path(results_dir) / "tables").glob("*.runs.csv")):
        name = listed.name.removesuffix(".runs.csv")
        if not records.is_variant(name):
            tables[name] = records.table_runs(name, results_dir)
    unlisted = unlisted_runs(results_dir)
    tables.update(unlisted)
    lines, mixed, binding = [], [], []
    # A row's teachers differ by seed alone, unless a control distils a weaker recipe of them.
    teacher_epochs = records.read_summary(results_dir).set_index("run_id")["epochs"]
    for name in sorted(tables):
        runs = tables[name]
        if "teacher_run_id" in runs:
            runs = runs.assign(teacher_epochs=runs["teacher_run_id"].map(teacher_epochs))
        if "init_from_run_id" in runs:  # a run continuing another is a row of its own
            runs = runs.assign(continues=runs["init_from_run_id"].notna())
        per_row = runs.groupby([c for c in ("role", "architecture", "temperature", "alpha",
                                            "transfer_classes", "train_limit",
                                            "jitter_pixels", "teacher_seeds", "loss",
                                            "loss_params", "soft_targets", "teacher_epochs",
                                            "continues")
                                if c in runs], dropna=False).size()
        ways, mix = records.trained_as_mix(runs), records.execution_mix(runs)
        execution = "; ".join(mix) or ("alike" if not ways else
                                       "alike per architecture; " + "; ".join(ways))
        if {"stack", "alone"} <= set(_trained_as(runs).dropna()):
            mixed.append(f"`{name}`")
        bound = records.best_in_last_tenth(runs)
        binding += [f"`{name}` ({int(bound.sum())} of {len(runs)})"] if bound.any() else []
        if name in unlisted:
            detects = "not computed"
        else:
            table = read_table(results_dir, name)
            detectable = (table["detectable"].dropna() if "detectable" in table
                          else pd.Series(dtype=float))
            detects = (span(f"{detectable.min():.0f}", f"{detectable.max():.0f}")
                       if len(detectable) else "no comparisons")
        lines.append((f"`{name}`", len(runs), span(per_row.min(), per_row.max()), execution,
                      f"{int(bound.sum())} of {len(runs)} ({100 * bound.mean():.0f}%)",
                      detects, _training_time(results_dir, runs)))
    every = pd.concat(tables.values()).drop_duplicates("run_id")
    bound_runs = int(records.best_in_last_tenth(every).sum())
    unrecorded = int(_trained_as(every).isna().sum())
    full, paper = main_configs.PROFILES["full"], main_configs.PROFILES["paper"]
    rules = [
        f"- A number is a mean over seeds, one run per seed, with its n and its "
        f"{round(100 * stats.CONFIDENCE)}% confidence interval (Student's t; ± is the standard "
        "deviation, ddof = 1). Each student seed distils the teacher of its own seed unless a "
        "table says \"one fixed teacher\", so spreads hold the teachers' variance.",
        f"- A comparison names its baseline and gives the difference with its "
        f"{round(100 * stats.CONFIDENCE)}% interval and p-value: a paired t test by seed where "
        "a seed pairs runs (its students share initial weights, batch order and teacher), "
        "Welch's t test otherwise (the public recipes' loops); a table's comparisons "
        f"are Holm-corrected together (the intervals are not: one may exclude 0 while the "
        f"corrected verdict does not). The verdict is \"{stats.BETTER}\" or "
        f"\"{stats.WORSE}\" when the corrected p-value is below {level}, else "
        f"\"{stats.UNDECIDED}\", which is not evidence of no difference: each comparison "
        f"also states the smallest difference its n detects with {power}% power.",
        "- Epochs, T, alpha and bias shifts are chosen on a validation split carved from the "
        "training data; the test set scores the chosen weights once.",
        "- Within one architecture, the runs behind a table share their execution (XLA, steps "
        "per execution, trained alone or in a stack) and TensorFlow's and Keras' versions "
        "(`tests/test_tables.py`). Across architectures a table may mix students trained in a "
        "stack with students trained alone: "
        + (f"{len(mixed)} of the {len(tables)} tables below do ({', '.join(mixed)}), and "
           "their execution column says which runs were stacked; a stacked run matches the "
           "same run trained alone to float rounding (`tests/lab/test_stack_runs.py`)."
           if mixed else "none of the tables below does.")
        + (f" The records of {unrecorded} runs predate the field that says how they were "
           "trained (\"not recorded\" where their table mixes them with runs that have it)."
           if unrecorded else ""),
        f"- Budgets: the full profile trains at most {full['student_epochs']} epochs and stops "
        f"after {full['patience']} without a better validation score; the paper profile "
        f"(the strong teachers' tables) trains a fixed {paper['teacher_epochs']} (teacher) or "
        f"{paper['student_epochs']} (student) epochs with a decaying learning rate; the public "
        "recipes (notebooks 10-15) and the workshop (16) keep their own budgets. A budget "
        "binds where a run's best validation epoch falls in its last tenth (the run may have "
        "been stopped by its budget, not by convergence): "
        + (f"it binds for {bound_runs} of the {len(every)} runs behind the tables below, in "
           f"{', '.join(binding)}, whose numbers a longer budget could change."
           if bound_runs else f"it binds for none of the {len(every)} runs behind the tables "
           "below.")
        + " The main tables' runs are trained by `make dark-knowledge` (resumable; "
        "`python -m kd_experiments.dark_knowledge --plan` lists what is done and left).",
        "- Models are not committed, and training is reproducible only on the machine that "
        "ran it: a teacher's logits are kept beside its record (float16) for its students, "
        + _logits_sentence(results_dir, tables)
        + " A finished run whose model is needed and not on this machine is not retrained "
        "behind its record's back: `runner.ModelNotHere` says so, and retraining it replaces "
        "the record.",
    ]
    evidence = markdown_table(lines, ["table", "runs", "seeds per row", "execution",
                                      "best epoch in the last tenth of its budget",
                                      f"smallest difference it detects ({power}% power)",
                                      "training time"])
    return "\n\n".join(["\n".join(rules), evidence,
                         "`16_workshop` is the workshop notebook's committed runs (it writes "
                         "no table). The tables that list no runs of their own are read from "
                         "their per-run rows (`*_rows_full.csv`) or their configs; their "
                         "comparisons are in `seed_reproductions.csv`, whose smallest "
                         "detectable differences are not computed. Training time sums the "
                         "runs' recorded wall times, plus the as-published loops' records "
                         "(`as_published/`) where a table has them.",
                         source_line("summary.csv", "tables/*.runs.csv",
                                     "tables/*_rows_full.csv", "as_published/")])


def _trained_as(runs: pd.DataFrame) -> pd.Series:
    """How each run was trained ("stack", "alone"; NaN where its record predates the field)."""
    return runs["trained_as"] if "trained_as" in runs else pd.Series(index=runs.index)


def _training_time(results_dir: Path, runs: pd.DataFrame) -> str:
    """The runs' recorded wall time, plus that of the as-published loops based on them."""
    derived = [row for path in sorted((Path(results_dir) / "as_published").glob("*/row.json"))
               if (row := records.read_derived_row(path.parent)) is not None
               and row.get("based_on_run_id") in set(runs["run_id"])]
    spent = _duration(runs["wall_seconds"].sum())
    if derived:
        spent += (f" + {_duration(sum(row['wall_seconds'] for row in derived))} as published "
                  f"({len(derived)} loops)")
    return spent


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


@generated("benchmarks")
def benchmarks_block(results_dir: Path) -> str:
    """Every figure of `results/benchmarks.csv` (the benchmark scripts write it), then each
    script's machine and setup."""
    table = pd.read_csv(Path(results_dir) / "benchmarks.csv")
    lines = ["| measure | value |", "| --- | --- |"]
    for row in table.itertuples():
        if row.kind == "cpu_seconds_per_epoch":
            value = (f"{row.value:.2f} CPU-s per epoch (min wall "
                     f"{row.min_wall_seconds_per_epoch:.2f} s)")
        elif row.kind == "ratio":
            value = f"{row.value:.3f}"
        else:
            value = f"{row.value:.0f}" if abs(row.value) >= 1000 else f"{row.value:.3g}"
        repetitions = getattr(row, "repetitions", None)
        if isinstance(repetitions, str):  # the stacking benchmark's figures give their spread
            value += f" ({repetitions})"
        lines.append(f"| {row.measure} | {value} |")
    lines.append("")
    for machine, versions, setup in table[["machine", "versions", "setup"]].drop_duplicates(
            ).itertuples(index=False):
        lines.append(f"Machine: {machine}; {versions}; {setup}.")
    return "\n".join(lines)


@generated("benchmark_readings")
def benchmark_readings_block(results_dir: Path) -> str:
    """What the benchmark's figures say, every number read from `results/benchmarks.csv`."""
    table = pd.read_csv(Path(results_dir) / "benchmarks.csv").set_index("measure")
    value = table["value"]

    def cpu(case):
        return value[case]

    def wall(case):
        return table.loc[case, "min_wall_seconds_per_epoch"]

    def ratio(prefix):
        return value[next(m for m in table.index if m.startswith(prefix))]

    cached_vs_keras = ratio("ours cached (the sweep's default) / Keras-example")
    teacher_pass = cpu("distiller_teacher_every_batch") - cpu("distiller_cached")
    cached = ratio("cached distillation / plain student")
    arrays, onednn = ratio("plain student: arrays / tf.data"), ratio("plain student: oneDNN")
    memory_plain = value["peak RSS, plain student run (GB)"]
    memory_cached = value["peak RSS, distillation run on cached logits (GB)"]
    bullets = [
        f"- **Cached logits cost {'little' if cached <= 1.05 else 'more than they should'}**: "
        "distillation on cached logits takes "
        f"{cached:.2f}x the CPU time of training the "
        "student alone (target <= 1.05). Sweeps and `make compare` use cached logits whenever "
        "the teacher's input is not jittered.",
        f"- **Our defaults against the Keras example**: on cached logits, the sweep's "
        f"configuration takes {cached_vs_keras:.2f}x the CPU time of the Keras-example-style "
        f"distiller ({1 / cached_vs_keras:.2f}x faster; wall "
        f"{wall('distiller_cached') / wall('keras_example_distiller'):.2f}x) against a 2x "
        f"target. When the teacher must run every batch the gain is only XLA and multi-step "
        f"execution: {ratio('ours with teacher every batch / Keras-example'):.2f}x. The "
        f"teacher's forward pass (1200-1200) adds "
        f"{100 * teacher_pass / cpu('distiller_cached'):.0f}% to a student's "
        "training step, and no setting removes it; caching it is where the 2x comes from.",
        f"- **XLA and 32 steps per execution** (`config.execution_defaults`) cut the 800-800 "
        f"student's CPU time to {ratio('plain student: our defaults'):.2f}x (plain) and "
        f"{ratio('cached distillation: our defaults'):.2f}x (distillation) of TensorFlow's "
        f"defaults. Arrays take {arrays:.2f}x the CPU time of tf.data; runs keep tf.data "
        "(which shuffles, jitters and carries cached logits). oneDNN, on by default in "
        f"TensorFlow 2.21 on x86, took {onednn:.2f}x the CPU time of oneDNN off: "
        + ("leave `TF_ENABLE_ONEDNN_OPTS` alone." if onednn <= 1.0 else
           "`TF_ENABLE_ONEDNN_OPTS=0` would be faster here."),
        f"- **Against keras.distillation**, with the teacher every batch: our step takes "
        f"{ratio('ours with teacher every batch / keras.distillation, our settings'):.2f}x "
        "keras.distillation's CPU time, both with our execution settings, and "
        f"{ratio('ours with teacher every batch / keras.distillation, TF defaults'):.2f}x "
        "with TensorFlow's defaults (target <= 1.0).",
        f"- **FLOP rate**: the student trains at "
        f"{value['800-800 student training (GFLOP/s, min wall epoch)']:.0f} GFLOP/s, "
        f"{ratio('student FLOP rate / dense matmul rate'):.2f} of a 1024 x 1024 matmul's "
        f"{value['dense matmul 1024x1024 (GFLOP/s, best of 3x20)']:.0f} GFLOP/s measured in "
        "the same run (target >= 0.70).",
        f"- **Memory**: a full MNIST distillation run on cached logits peaks at "
        f"{memory_cached:.2f} GB of resident memory, against {memory_plain:.2f} GB for the "
        f"student alone (target < 2 GB; the cached logits and the teacher add "
        f"{memory_cached - memory_plain:.2f} GB).",
        teacher_speed_bullet(table),
    ]
    return "\n".join(bullets)


def teacher_speed_bullet(table: pd.DataFrame) -> str:
    """The paper's teacher epoch against the matmul rate of its precision (issue 32)."""
    value = table["value"]
    fractions = {p: value[f"teacher_epoch_{p}"] for p in ("float32", "mixed_bfloat16")}
    met = [p.replace("mixed_", "mixed ") for p, f in fractions.items() if f >= 0.6]
    return (
        f"- **The paper's teacher** (mean epoch; +-2 px jitter, dropout, max-norm, SGD): "
        f"{fractions['float32']:.2f} of the float32 matmul rate "
        f"({value['matmul_float32']:.0f} GFLOP/s) and {fractions['mixed_bfloat16']:.2f} of "
        f"bfloat16's ({value['matmul_mixed_bfloat16']:.0f}), measured in one run (issue 32's "
        f"target >= 0.6: {'met in ' + ' and '.join(met) if met else 'not met'}); mixed "
        f"bfloat16 trains an epoch {value['teacher_epoch_float32_over_mixed_bfloat16']:.2f}x "
        "as fast as float32. Keras' SGD takes "
        f"{value['teacher_epoch_keras_sgd_over_fused']:.2f}x the epoch of `FusedMomentumSGD`, "
        "and tf.data's autotuning "
        f"{value['teacher_epoch_autotuned_over_not']:.2f}x the epoch without it "
        "(`pipeline.without_autotuning`): together, as the lab trained before, "
        f"{value['teacher_epoch_float32_as_before_over_now']:.2f}x.")
