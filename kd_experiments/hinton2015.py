"""Hinton, Vinyals & Dean (2015), section 3 on MNIST: the configs, the main comparison and the
paper's numbers.

- `hinton_configs(seed, profile)`: the teacher 784-1200-1200-10 (dropout, max-norm, +-2 pixel
  jitter), the 784-800-800-10 student from scratch, and the same student distilled at T = 20;
  `compare(...)` runs them over seeds (`make compare`) and `comparison.comparison_table`
  derives the table (mean and spread over seeds, test errors out of 10,000) from the run records.
  Paper: 67, 146 and 74 test errors (`main_table` sets them beside ours).
- The ensemble of the main table's teachers distilled into the student is in
  `hinton2015_ensemble.py` (the paper ensembles its speech models; no MNIST number).
- `width_configs` / `width_table`: test errors against T for students of several widths. Paper:
  300+ units per layer are insensitive to T above about 8; 30-30 does best at T = 2.5 to 4.
- `regulariser_configs` / `regulariser_table`: 3% of the training set with hard labels against
  the same 3% with the teacher's soft targets (the paper's speech Table 5, done on MNIST).

The omitted-class experiments are in `hinton2015_transfer.py`, the README's "paper vs ours" in
`hinton2015_readme.py`. alpha weights the hard-label loss everywhere; 1 - alpha weights the
T^2-scaled soft loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kd_lab import datasets, runner, stats, sweep, teacher_logits
from kd_lab.comparison import comparison_table
from kd_lab.config import RunConfig, check_seeds
from kd_lab.main_configs import PROFILES as PROFILES  # noqa: F401  (read as hinton2015.PROFILES)
from kd_lab.main_configs import hinton_configs
from kd_lab.records import RESULTS_DIR, RunRecord, aggregate, write_table

PAPER_MAIN_ERRORS = {"teacher": 67, "scratch": 146, "distilled": 74}
# `make compare`'s table on the strong teachers: the README's headline, notebooks 01, 03 and 06.
COMPARE_TABLE = "compare_mnist_paper"
WIDTHS = (30, 100, 300, 800)
WIDTH_TEMPERATURES = (1.0, 2.0, 2.5, 4.0, 8.0, 20.0)

def compare(seeds=(0, 1, 2), profile: str = "paper", dataset: str = "mnist",
            results_dir=RESULTS_DIR, data_dir=None, verbose=2, **config_overrides):
    """Run teacher -> scratch -> distilled for each seed (reusing finished runs); return records."""
    records = []
    for seed in check_seeds(seeds):
        for config in hinton_configs(seed, profile, dataset, **config_overrides):
            records.append(runner.run(config, results_dir=results_dir, data_dir=data_dir,
                                      verbose=verbose))
    return records


def soft_target_examples(teacher: RunConfig, results_dir=RESULTS_DIR, count: int = 5,
                         data_dir=None) -> pd.DataFrame:
    """The teacher's logits, label and pixels of the first `count` test images, one row each.

    Kept as `tables/03_soft_target_examples_<profile>.csv` and read back from there when it
    holds `count` images of this very teacher (its `teacher_run_id`), so the soft-target figure
    needs no teacher model (models are not committed). `frame.attrs["table"]` is the file it was
    read from or written to (a variant where another teacher's examples are kept under the name:
    `records.write_table`), so that a figure drawn from it can carry the same suffix.
    """
    path = Path(results_dir) / "tables" / f"03_soft_target_examples_{teacher.profile}.csv"
    if has_soft_target_examples(teacher, results_dir, count):
        frame = pd.read_csv(path)
        frame.attrs["table"] = path
        return frame
    splits = datasets.splits_for(teacher, data_dir)  # the test set is whole whatever train_limit
    images = splits.x_test[:count]
    kept = teacher_logits.recorded_logits(teacher, splits, results_dir)
    frame = pd.DataFrame(kept[2][:count] if kept is not None else runner.get_or_train_model(
        teacher, results_dir, data_dir, verbose=0).predict(images, verbose=0))
    frame.columns = [f"logit_{k}" for k in frame.columns]
    frame.insert(0, "label", splits.y_test[:count])
    frame.insert(0, "teacher_run_id", teacher.run_id)
    pixels = pd.DataFrame(images.reshape(count, -1)).add_prefix("pixel_")
    written = write_table(frame := pd.concat([frame, pixels], axis=1), path.stem, results_dir)
    frame.attrs["table"] = written
    return frame


def has_soft_target_examples(teacher: RunConfig, results_dir=RESULTS_DIR,
                             count: int = 5) -> bool:
    """Whether the committed soft-target examples are `count` images of `teacher`."""
    path = Path(results_dir) / "tables" / f"03_soft_target_examples_{teacher.profile}.csv"
    if not path.exists():
        return False
    frame = pd.read_csv(path)
    return (len(frame) == count and "teacher_run_id" in frame
            and set(frame["teacher_run_id"]) == {teacher.run_id})


def split_soft_target_examples(frame: pd.DataFrame, image_shape=(28, 28)):
    """(logits, images, labels) back from a `soft_target_examples` table."""
    logits = frame.filter(like="logit_").to_numpy()
    images = frame.filter(like="pixel_").to_numpy().reshape(len(frame), *image_shape)
    return logits, images, frame["label"].to_numpy()


# -- the main table, with the paper's numbers --------------------------------------------
def main_table(records: list[RunRecord]) -> pd.DataFrame:
    """`comparison_table` with the paper's test errors beside ours."""
    return with_paper_errors(comparison_table(records))


def with_paper_errors(table: pd.DataFrame) -> pd.DataFrame:
    """A comparison table (or its CSV read back) with the paper's test errors beside ours."""
    if "paper_test_errors" not in table:
        table = table.copy()
        table.insert(1, "paper_test_errors", table["role"].astype(str).map(PAPER_MAIN_ERRORS))
    return table


# -- temperature against student width --------------------------------------------------
def width_configs(widths=WIDTHS, temperatures=WIDTH_TEMPERATURES, seeds=(0, 1, 2),
                  profile: str = "paper", alpha: float = 0.1,
                  student_knobs: dict | None = None, teacher_knobs: dict | None = None,
                  fixed_teacher: bool = True, scratch_baseline: bool = False) -> list[RunConfig]:
    """Distilled students of each width at each T, plus each width from scratch (alpha = 1).

    These are the T x alpha sweep's configs (`sweep.sweep_configs`, whose last two arguments
    these are), so the 30-30 and 800-800 runs the sweep made are read back, not retrained.
    """
    template = hinton_configs(0, profile, student_knobs=student_knobs,
                              teacher_knobs=teacher_knobs)[2]
    return [config for width in widths
            for config in sweep.sweep_configs(
                template.replace(architecture=f"mlp:{width},{width}"), temperatures,
                (alpha, 1.0), seeds, fixed_teacher=fixed_teacher,
                scratch_baseline=scratch_baseline)]


def width_table(rows: pd.DataFrame, cited: dict | None = None) -> pd.DataFrame:
    """Test errors (mean, std, count, interval over seeds) per width and T, T = NaN marking
    the student from scratch; each T against its width's scratch student (paired by seed, Holm
    over every width's temperatures: one family, `stats.compare`).

    `cited`: {label: (distilled, baseline) run-id pairs another table already tests}, as
    `sweep.sweep_table` takes it (notebook 04's grid, `sweep.cell_comparisons`, holds the
    800-800 student's cells at alpha = 0.1 and the 30-30 student's on more seeds). A
    temperature whose runs are among one pair's is tested there, once: here it has no test,
    stays out of the family, and its verdict reads the label.
    """
    rows = rows.copy()
    rows["width"] = rows["architecture"].str.extract(r"mlp:(\d+)", expand=False).astype(int)
    rows["student"] = np.where(rows["alpha"] == 1.0, "scratch", "distilled")
    rows.loc[rows["student"] == "scratch", "temperature"] = np.nan
    table = aggregate(rows, by=("width", "student", "temperature", "alpha"),
                      metrics=("test_errors", "test_accuracy"))
    cited = sweep.lines_tested_elsewhere(rows, ("width", "temperature"), cited)
    tested = rows[~rows.set_index(["width", "temperature"]).index.isin(list(cited))]
    # One family: every width's temperatures tested here (the page's claims).
    family = tested[tested["student"] == "distilled"].groupby(["width", "temperature"]).ngroups
    tests = []
    for width, own in tested.groupby("width"):  # each T against the width's scratch student
        if not (own["student"] == "distilled").any():
            continue
        compared = stats.compare(own, ("student", "temperature"), "test_errors",
                                 lambda line: line["student"] == "scratch", pair_by="seed",
                                 family=family)
        tests.append(compared[compared["student"] == "distilled"].assign(width=width)[
            ["width", "student", "temperature", *stats.TEST_COLUMNS]])
    tests = stats.holm_together(pd.concat(tests), "test_errors")
    table = table.merge(tests, on=["width", "student", "temperature"], how="left")
    table.loc[table["student"] == "scratch", "verdict"] = "baseline"
    for (width, temperature), label in cited.items():
        table.loc[(table["width"] == width) & (table["temperature"] == temperature),
                  "verdict"] = label
    return table.sort_values(["width", "student", "temperature"]).reset_index(drop=True)


# -- soft targets as a regulariser ------------------------------------------------------
def regulariser_configs(fraction: float = 0.03, seeds=(0, 1, 2), profile: str = "paper",
                        student="mlp:800,800", temperature=20.0, alpha=0.1,
                        epochs: int | None = None, patience: int | None = None,
                        train_size: int | None = None, student_knobs: dict | None = None,
                        teacher_knobs: dict | None = None) -> list[RunConfig]:
    """Scratch and distilled students on all training data and on its first `fraction`.

    The all-data runs are `compare`'s. A 3% set has few steps per epoch, so the
    small runs get 10 times the epochs and patience by default. `train_size` is the number of
    training examples of the profile (55,000 for MNIST full); loaded when None.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1); got {fraction!r}")
    configs = []
    for seed in seeds:
        _, scratch, distilled = hinton_configs(seed, profile, "mnist", student,
                                               temperature, alpha, student_knobs, teacher_knobs)
        size = train_size or len(datasets.splits_for(scratch).x_train)
        small = dict(train_limit=max(1, round(fraction * size)),
                     epochs=epochs or 10 * scratch.epochs,
                     patience=patience if patience is not None else 10 * scratch.patience)
        configs += [scratch, distilled, scratch.replace(**small), distilled.replace(**small)]
    return configs


def regulariser_table(rows: pd.DataFrame, cited_runs=None, cited_in: str = "") -> pd.DataFrame:
    """Train and test accuracy (mean, std over seeds) per data size and kind of target, and
    each size's soft targets against its hard labels in test errors (`stats.compare_within`,
    Holm over the sizes tested here). `cited_runs`, `cited_in`: as `width_table`'s (all the
    data's runs are `make compare`'s at T = 20, alpha = 0.1, tested there once)."""
    rows = rows.copy()
    rows["targets"] = np.where(rows["role"] == "distilled", "soft targets (distilled)",
                               "hard labels (scratch)")
    table = aggregate(rows, by=("train_examples", "targets", "temperature", "alpha"),
                      metrics=("train_accuracy", "test_accuracy", "test_errors",
                               "best_epoch"))
    total = table["train_examples"].max()
    table.insert(1, "train_percent", (100 * table["train_examples"] / total).round(1))
    cited_runs = set(() if cited_runs is None else cited_runs)
    cited = [size for size, own in rows.groupby("train_examples")
             if cited_runs and set(own["run_id"]) <= cited_runs]
    tested = rows[~rows["train_examples"].isin(cited)]
    tests = (stats.compare_within(tested, "train_examples", "targets", "hard labels (scratch)",
                                  "test_errors", pair_by="seed") if len(tested) else
             pd.DataFrame(columns=["train_examples", "targets", *stats.TEST_COLUMNS]))
    table = table.merge(tests, on=["train_examples", "targets"], how="left")
    table.loc[table["train_examples"].isin(cited), "verdict"] = cited_in
    table.loc[table["targets"] == "hard labels (scratch)", "verdict"] = "baseline"
    return table.sort_values(["train_examples", "targets"]).reset_index(drop=True)
