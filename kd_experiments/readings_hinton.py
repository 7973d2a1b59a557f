"""Generated blocks for the README's main results and notebooks 01-09 (see `readings`).

Each function reads committed tables or run records and returns Markdown: the figure, the
numbers, and sentences whose numbers come from those tables. Sentences describe (this many
errors, that many seeds); they claim no significance: the verdicts come with the statistics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kd_lab import comparison, records, stats
from kd_lab.report import markdown_table, mean_spread, mean_spread_of
from kd_utils.losses import softmax

from . import (
    hinton2015,
    hinton2015_readme,
    hinton2015_transfer,
    hinton2015_variants,
    readme_family,
)
from .readings import (
    HEADER,
    errors,
    execution_sentence,
    figure,
    generated,
    listed_runs,
    read_table,
    source_line,
    span,
    teachers_of,
)

COMPARE = hinton2015.COMPARE_TABLE


def _compare_table(results_dir: Path) -> pd.DataFrame:
    return read_table(results_dir, COMPARE)


# The README's blocks show the README's verdicts, one Holm family (`readme_family`).
@generated(COMPARE)
def readme_compare(results_dir: Path) -> str:
    family = readme_family.readme_family(results_dir)
    return "```\n" + comparison.format_table(family.tables[COMPARE],
                                             holm_over=family.holm_over()) + "\n```"


@generated("paper_vs_ours")
def readme_paper_vs_ours(results_dir: Path) -> str:
    return hinton2015_readme.readme_paper_vs_ours(results_dir,
                                                  readme_family.readme_family(results_dir))


@generated("compare_reading")
def readme_compare_reading(results_dir: Path) -> str:
    return comparison.comparison_sentences(
        readme_family.readme_family(results_dir).tables[COMPARE])


@generated("01_teacher")
def teacher_block(results_dir: Path) -> str:
    runs = records.table_runs(COMPARE, results_dir)  # the comparison's teachers
    rows = runs[runs.role == "teacher"].sort_values("seed").reset_index(drop=True)
    table = markdown_table(
        [(r.seed, f"{r.best_epoch} of {r.epochs_trained}", f"{100 * r.val_accuracy:.2f}",
          f"{100 * r.test_accuracy:.2f}", r.test_errors) for r in rows.itertuples()],
        ["seed", "best epoch (trained)", "val accuracy %", "test accuracy %", "test errors"])
    late = int(records.best_in_last_tenth(rows).sum())
    profile = rows.profile.iloc[0]
    return "\n\n".join([
        HEADER, figure(f"01_teacher_learning_curves_{profile}", "teacher learning curves"), table,
        f"The teacher makes {errors(rows.test_errors)} test errors (mean ± std [95% CI] over "
        f"{len(rows)} seeds). " + _budget_sentence(late, len(rows), int(rows.epochs.iloc[0]),
                                                   early_stopping=bool(rows.patience.iloc[0])),
        source_line("summary.csv", f"figures/01_teacher_learning_curves_{profile}.png")])


def _budget_sentence(late: int, runs: int, epochs: int, early_stopping: bool = True) -> str:
    if not early_stopping:  # a fixed schedule: the learning rate reaches its floor at the end
        return (f"Every run trains all {epochs} epochs (no early stop, the learning rate decayed "
                f"on a schedule) and keeps its best validation epoch, which falls in the last "
                f"tenth of the budget in {late} of {runs} runs.")
    if late == 0:
        return (f"No run's best validation epoch falls in the last tenth of the {epochs}-epoch "
                "budget: early stopping ended them, so the budget did not bind.")
    return (f"In {late} of {runs} runs the best validation epoch falls in the last tenth of the "
            f"{epochs}-epoch budget: the validation curve was still rising, so a longer budget "
            "could change these numbers.")


@generated("02_student_baseline")
def scratch_block(results_dir: Path) -> str:
    table = read_table(results_dir, "02_student_baseline_paper")
    lines = [f"- `{r.architecture}` ({int(r.params):,} parameters): "
             f"{mean_spread_of(r, 'test_errors')} test errors "
             f"({int(r.test_errors_count)} seeds)"
             for r in table.itertuples()]
    runs = listed_runs(results_dir, "02_student_baseline_paper")
    return "\n\n".join(filter(None, [
        HEADER, figure("02_student_baseline_learning_curves_paper", "scratch learning curves"),
        "\n".join(lines), execution_sentence(runs),
        source_line("tables/02_student_baseline_paper.csv",
                    "figures/02_student_baseline_learning_curves_paper.png",
                    "tables/02_student_baseline_paper.runs.csv")]))


@generated("03_soft_targets")
def soft_targets_block(results_dir: Path) -> str:
    examples = read_table(results_dir, "03_soft_target_examples_paper")
    logits, _, labels = hinton2015.split_soft_target_examples(examples)
    rows = []
    for label, z in zip(labels, logits, strict=True):
        wrong = [k for k in np.argsort(-z) if k != label]
        rows.append((int(label), *(f"{100 * softmax(z, t)[wrong[0]]:.3g}%" for t in (1, 4, 20)),
                     f"{wrong[0]}, {wrong[1]}"))
    table = markdown_table(rows, ["digit", "top wrong class at T = 1", "T = 4", "T = 20",
                                  "the two likeliest wrong classes"])
    return "\n\n".join([
        HEADER, figure("03_soft_targets_paper", "the teacher's outputs at T = 1, 4 and 20"),
        "The probability the teacher gives its likeliest *wrong* class, for the five test "
        "images of the figure (teacher "
        + ", ".join(f"`{t}`" for t in examples["teacher_run_id"].unique()) + "):", table,
        source_line("tables/03_soft_target_examples_paper.csv")])


@generated("03_compare")
def compare_block(results_dir: Path) -> str:
    table = _compare_table(results_dir)
    return "\n\n".join([
        HEADER, figure(f"{COMPARE}_learning_curves", "learning curves"),
        "```\n" + comparison.format_table(table) + "\n```", comparison.comparison_sentences(table),
        source_line(f"tables/{COMPARE}.csv")])


@generated("05_gallery")
def gallery_block(results_dir: Path) -> str:
    names = sorted(p.stem for p in (Path(results_dir) / "figures").glob("05_*_paper.png"))
    if not names:
        raise FileNotFoundError("no results/figures/05_*_paper.png: run notebook 05 first")
    listed = ", ".join(f"`results/figures/{n}.png`" for n in names)
    return "\n\n".join([HEADER, f"The committed figures, drawn from the same records: {listed}. "
                        "The cells above draw them again; they should look the same.",
                        *(figure(n, n.replace("_", " ")) for n in names),
                        source_line(*(f"figures/{n}.png" for n in names))])


@generated("06_main")
def main_table_block(results_dir: Path) -> str:
    main = hinton2015.with_paper_errors(read_table(results_dir, COMPARE))  # make compare's
    ensemble = read_table(results_dir, "06_hinton_ensemble_paper")
    variants = read_table(results_dir, "06_hinton_variants_paper")
    paper = hinton2015_readme.format_paper_vs_ours(
        hinton2015_readme.paper_vs_ours(main, None, ensemble))
    runs = listed_runs(results_dir, COMPARE)
    m = main.set_index("role")
    budget = hinton2015.PROFILES["paper"]

    def epoch(role: str) -> str:
        return mean_spread(m.loc[role, "best_epoch_mean"], m.loc[role, "best_epoch_std"])

    late = runs[records.best_in_last_tenth(runs)]
    bound = (f"In {len(late)} of {len(runs)} runs ({', '.join(sorted(set(late.role)))}) the "
             "best validation epoch falls in the last tenth of its budget: a longer budget "
             "could change those rows." if len(late) else
             "No run's best validation epoch falls in the last tenth of its budget.")
    teacher = ensemble.set_index("role").loc["ensemble_teacher"]
    return "\n\n".join([
        HEADER, figure(f"{COMPARE}_learning_curves", "paper-profile learning curves"),
        paper,
        comparison.comparison_sentences(main) + " Distilled students: "
        + teachers_of(runs[runs.role == "distilled"]) + ".",
        f"Best validation epochs (mean ± std): teacher {epoch('teacher')} of "
        f"{budget['teacher_epochs']}, student from scratch {epoch('scratch')}, distilled "
        f"{epoch('distilled')} of {budget['student_epochs']}. {bound}",
        f"The ensemble of the {int(teacher.members)} teachers (one model: their test logits "
        f"averaged) makes {teacher.test_errors_mean:.0f} test errors; its members make "
        f"{teacher.member_errors_min:.0f} to {teacher.member_errors_max:.0f} "
        f"(mean {teacher.member_errors_mean:.1f}). The main table's distilled student against "
        "its variants (a paired t test over the seeds both hold, Holm over the variants):",
        hinton2015_variants.format_variants_table(variants),
        source_line(f"tables/{COMPARE}.csv", "tables/06_hinton_ensemble_paper.csv",
                    "tables/06_hinton_variants_paper.csv")])


WIDTHS = "07_width_vs_temperature_paper"  # notebook 07's table, on the strong teachers


@generated("07_width")
def width_block(results_dir: Path) -> str:
    # The table's own verdicts: one family over the widths' temperatures tested there, a
    # temperature another table tests (the same runs, as many seeds or more) citing it.
    table = read_table(results_dir, WIDTHS)
    runs = listed_runs(results_dir, WIDTHS)
    lines = []
    for width, rows in table.groupby("width"):
        distilled, scratch = rows[rows.student == "distilled"], rows[rows.student == "scratch"]
        low, high = (distilled.loc[distilled.test_errors_mean.idxmin()],
                     distilled.loc[distilled.test_errors_mean.idxmax()])
        counts = distilled.verdict.value_counts()
        cited = "; ".join(f"{label.removeprefix('tested in ')}: T = "
                          + ", ".join(f"{t:g}" for t in own.temperature)
                          for label, own in distilled[distilled.p_value.isna()].groupby("verdict"))
        lines.append(
            f"| {width}-{width} | {mean_spread_of(scratch.iloc[0], 'test_errors')} "
            f"| {mean_spread_of(low, 'test_errors')} (T = {low.temperature:g}) "
            f"| {mean_spread_of(high, 'test_errors')} (T = {high.temperature:g}) "
            f"| {counts.get(stats.BETTER, 0)} / {counts.get(stats.WORSE, 0)} / "
            f"{counts.get(stats.UNDECIDED, 0)} "
            f"| {cited or '-'} "
            f"| {_detectable(distilled.detectable.dropna())} "
            f"| {int(distilled.test_errors_count.min())} |")
    header = ("| student | from scratch | lowest distilled mean | highest distilled mean "
              "| temperatures better / worse / undecided against scratch, tested here "
              "| temperatures tested in another notebook (the same runs) "
              "| detectable difference | seeds |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- |")
    return "\n\n".join([
        HEADER, figure("07_errors_vs_temperature_by_width_paper", "errors against T by width"),
        header + "\n" + "\n".join(lines),
        f"Test errors, mean ± std over seeds, alpha = 0.1, {teachers_of(runs)}; "
        "the lowest and highest means over "
        "T in {1, 2, 2.5, 4, 8, 20}. Each temperature against the same width from scratch: "
        "a paired t test by seed, Holm over every width's temperatures tested here; a "
        "temperature whose runs another notebook already compares against the same students "
        "from scratch (notebook 04's grid cells at alpha = 0.1, notebook 03's or 19's "
        "comparisons, on as many seeds or more) is tested there once (verdicts as in the "
        "README's \"How numbers are reported\"; the detectable difference is in test errors, "
        "at 80% power, over the temperatures tested here).",
        *filter(None, [execution_sentence(runs)]),
        source_line(f"tables/{WIDTHS}.csv", "summary.csv")])


def _detectable(values: pd.Series) -> str:
    return span(f"{values.min():.0f}", f"{values.max():.0f}") if len(values) else "-"


@generated("08_omitted")
def omitted_block(results_dir: Path) -> str:
    table = read_table(results_dir, "08_omitted_class_paper")
    paper = hinton2015_readme.format_paper_vs_ours(
        hinton2015_readme.paper_vs_ours(None, table, None))
    listed = listed_runs(results_dir, "08_omitted_class_paper")
    epochs = {name: listed[listed.transfer_classes.astype(str) == str(list(
                  hinton2015_transfer.TRANSFER_SETS[name].transfer_classes))]
              for name in hinton2015_transfer.TRANSFER_SETS}
    kept = "; ".join(f"{name}: {', '.join(str(e) for e in rows.sort_values('seed').best_epoch)}"
                     for name, rows in epochs.items())
    return "\n\n".join([
        HEADER, figure("08_bias_shift_omit_3_paper", "errors against the bias shift, no 3s"),
        figure("08_bias_shift_only_7_8_paper", "errors against the bias shift, only 7s and 8s"),
        paper, " ".join(filter(None, [f"Best validation epochs kept, per seed: {kept}.",
                                      _budget_sentence(
                                          int(records.best_in_last_tenth(listed).sum()),
                                          len(listed), int(listed.epochs.max()),
                                          early_stopping=bool(listed.patience.max())),
                                      hinton2015_transfer.shift_verdicts(table),
                                      readme_family.RESTATED])),
        source_line("tables/08_omitted_class_paper.csv", "summary.csv")])


@generated("09_regulariser")
def regulariser_block(results_dir: Path) -> str:
    table = read_table(results_dir, "09_soft_targets_regulariser_paper")
    small = table[table.train_examples == table.train_examples.min()].set_index("targets")
    hard, soft = (small.loc[k] for k in ("hard labels (scratch)", "soft targets (distilled)"))
    return "\n\n".join([
        HEADER, hinton2015_readme.format_regulariser_table(table),
        f"On {hard.train_percent:g}% of the data ({int(hard.train_examples):,} images) the "
        f"student on hard labels makes {mean_spread_of(hard, 'test_errors')} "
        f"test errors and the one on soft targets "
        f"{mean_spread_of(soft, 'test_errors')} "
        f"({int(soft.test_errors_count)} seeds each); the hard-label student fits its training "
        f"set to {100 * hard.train_accuracy_mean:.2f}%.",
        _regulariser_verdicts(table),
        source_line("tables/09_soft_targets_regulariser_paper.csv")])


def _regulariser_verdicts(table: pd.DataFrame) -> str:
    """Soft targets against hard labels at each data size, from the table's tests."""
    lines = table[table.verdict != "baseline"]
    tests = lines[lines.p_value.notna()]
    sentences = [f"{int(line.train_examples):,} images: {line.difference:+.1f} errors "
                 f"{stats.interval(line.diff_low, line.diff_high)}, Holm p = "
                 f"{line.p_holm:.3g}: {line.verdict}" for line in tests.itertuples()]
    cited = [f"{int(line.train_examples):,} images: {line.verdict} (these runs are among "
             f"its, at T = {line.temperature:g}, alpha = {line.alpha:g})"
             for line in lines[lines.p_value.isna()].itertuples()]
    sizes = f"{len(tests)} data size" + ("s" if len(tests) != 1 else "")
    return ("Soft targets minus hard labels, test errors (a paired t test by seed, Holm over "
            f"{sizes}): " + "; ".join(sentences + cited) + ".")
