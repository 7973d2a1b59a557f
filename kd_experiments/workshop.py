"""The workshop's experiment: the whole story of distillation in about two minutes on a laptop.

A plain 800-800 teacher trained briefly on all of MNIST, then two 800-800 students on the first
3% of the training set (1,650 images): one on hard labels, one on the teacher's soft targets at
T = 20 with alpha = 0.1 (alpha weights the hard-label loss). Little data is where soft targets
help most (notebook 09: the paper's Table 5 on MNIST), so the gain shows within a workshop's
minutes; `results/` holds the same configs at several seeds, which say how reliably.
"""

from __future__ import annotations

import pandas as pd

from kd_lab import runner
from kd_lab.comparison import ROLE_LABELS
from kd_lab.config import RunConfig, profile_settings, with_knobs
from kd_lab.records import (
    COMMITTED_DIR,
    RESULTS_DIR,
    aggregate,
    read_summary,
    seconds_per_example_epoch,
)

WORKSHOP_SEEDS = (0, 1, 2, 3, 4)  # the committed runs behind the notebook's numbers
PROFILES = {
    # the tests' version: seconds, nothing to read into the numbers
    "fast": dict(teacher_limit=5000, teacher_epochs=1, student_epochs=10, patience=10),
    "workshop": dict(teacher_limit=None, teacher_epochs=3, student_epochs=40, patience=40),
}


def workshop_configs(seed: int = 0, profile: str = "workshop", temperature: float = 20.0,
                     alpha: float = 0.1, student_limit: int = 1650,
                     student_knobs: dict | None = None) -> tuple[RunConfig, RunConfig, RunConfig]:
    """(teacher, scratch, distilled) of one seed; the students see `student_limit` images."""
    p = profile_settings(PROFILES, profile)
    common = dict(dataset="mnist", seed=seed, profile=profile, patience=p["patience"])
    teacher = RunConfig(role="teacher", architecture="mlp:800,800", epochs=p["teacher_epochs"],
                        train_limit=p["teacher_limit"], **common)
    student = dict(architecture="mlp:800,800", epochs=p["student_epochs"],
                   train_limit=student_limit, **common)
    scratch = with_knobs(RunConfig(role="scratch", **student), student_knobs)
    distilled = with_knobs(RunConfig(role="distilled", teacher=teacher, temperature=temperature,
                                     alpha=alpha, **student), student_knobs)
    return teacher, scratch, distilled


def workshop_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Test errors and accuracy per model (mean, std and count over seeds)."""
    table = aggregate(rows, by=("role", "architecture", "train_examples", "temperature", "alpha"),
                      metrics=("test_errors", "test_accuracy", "train_accuracy"))
    table["model"] = table["role"].map(ROLE_LABELS)
    table["role"] = pd.Categorical(table["role"], list(ROLE_LABELS), ordered=True)
    return table.sort_values("role").reset_index(drop=True)


def workshop_rows(seeds=WORKSHOP_SEEDS, profile: str = "workshop",
                  results_dir=RESULTS_DIR, **kwargs) -> pd.DataFrame:
    """The summary rows of the workshop's runs (trained, announced, where missing)."""
    return pd.DataFrame([runner.run(c, results_dir=results_dir, verbose=0).row
                         for seed in seeds for c in workshop_configs(seed, profile, **kwargs)])


def live_seconds(configs, images, results_dir=COMMITTED_DIR) -> list[float | None]:
    """How long each of `configs` took as a committed run, scaled to its number of `images`:
    the median seconds per image and epoch of the committed workshop runs of its role (the
    same settings; a small transfer set costs more per image than all of MNIST), times its
    images and epochs. An upper reference for the live cells, which skip the runs' validation
    and records. None for a role without committed runs."""
    rows = read_summary(results_dir)
    rows = rows[(rows.get("profile") == "workshop") & (rows["epochs_trained"] > 0)] if len(
        rows) else rows
    seconds = []
    for config, count in zip(configs, images, strict=True):
        alike = rows[rows["role"] == config.role] if len(rows) else rows
        seconds.append(seconds_per_example_epoch(alike) * count * config.epochs if len(alike)
                       else None)
    return seconds
