"""Hinton, Vinyals & Dean (2015), section 2's ensemble on MNIST: the 800-800 student distilled
from the averaged logits of the main table's teachers (the paper ensembles its speech models;
it gives no MNIST number). Notebook 06 runs it; `hinton2015_readme` sets it beside the paper.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kd_lab import datasets, runner
from kd_lab.config import RunConfig, ensemble_members
from kd_lab.records import (
    RESULTS_DIR,
    RunRecord,
    load_row,
    read_derived_row,
    write_derived_record,
)

from .hinton2015 import hinton_configs

ENSEMBLE_MEMBERS = (0, 1, 2)


def ensemble_configs(seeds=(0, 1, 2), profile: str = "paper", members=ENSEMBLE_MEMBERS,
                     temperature: float = 20.0, alpha: float = 0.1,
                     student_knobs: dict | None = None,
                     teacher_knobs: dict | None = None) -> list[RunConfig]:
    """The main table's 800-800 student distilled from the average of its teachers' logits.

    The members are the main table's teachers of seeds `members` (the same runs, not new
    ones), so the ensemble costs only its students. One config per student seed.
    """
    configs = []
    for seed in seeds:
        _, _, distilled = hinton_configs(seed, profile, temperature=temperature,
                                         alpha=alpha, student_knobs=student_knobs,
                                         teacher_knobs=teacher_knobs)
        configs.append(distilled.replace(teacher=distilled.teacher.replace(seed=members[0]),
                                         teacher_seeds=tuple(members)))
    return configs


def ensemble_record_folder(config: RunConfig, results_dir=RESULTS_DIR) -> Path:
    """Where the ensemble teacher of a distilled `config` is recorded."""
    seeds = "-".join(str(s) for s in config.teacher_seeds)
    return Path(results_dir) / "ensembles" / f"{config.teacher.run_id}-ens{seeds}"


def ensemble_teacher_errors(config: RunConfig, results_dir=RESULTS_DIR, data_dir=None) -> int:
    """Test errors of a distilled config's ensemble teacher (its members' logits averaged).

    Recorded in `results/ensembles/<teacher run id>-ens<seeds>/` (`records.write_derived_record`:
    the members' configs and run ids, each member's own test errors, the ensemble's, commit and
    versions) and read back, so the table needs no member model once measured (models are not
    committed). Members without a model are retrained first (announced).
    """
    members = ensemble_members(config)
    folder = ensemble_record_folder(config, results_dir)
    finished = read_derived_row(folder)
    if finished is not None:
        return int(finished["test_errors"])
    splits = datasets.splits_for(config, data_dir)
    _, _, test_logits = runner.teacher_of(config, splits, results_dir, data_dir)[1]
    errors = int((test_logits.argmax(-1) != splits.y_test).sum())
    member_rows = [load_row(m, results_dir) for m in members]
    write_derived_record(folder, {"members": [m.to_dict() for m in members],
                                  "combination": "mean of the members' test logits"}, {
        "run_id": folder.name, "members": [m.run_id for m in members],
        "member_test_errors": [int(r["test_errors"]) for r in member_rows],
        "member_git_commits": [r["git_commit"] for r in member_rows],
        "test_errors": errors, "test_count": int(len(splits.y_test)),
        "test_accuracy": 1 - errors / len(splits.y_test)})
    return errors


def ensemble_table(records: list[RunRecord], results_dir=RESULTS_DIR,
                   data_dir=None) -> pd.DataFrame:
    """Test errors of the ensemble teacher and of the students distilled from it.

    The ensemble teacher is one model, one number (`ensemble_teacher_errors`), set beside its
    members' own test errors (lowest, mean, highest); the students are mean, std and count over
    their seeds.
    """
    config = records[0].config
    teacher_errors = ensemble_teacher_errors(config, results_dir, data_dir)  # recorded now
    members = pd.Series(read_derived_row(ensemble_record_folder(config, results_dir))[
        "member_test_errors"], dtype=float)  # as its record keeps them
    students = pd.Series([r.row["test_errors"] for r in records], dtype=float)
    return pd.DataFrame([
        {"role": "ensemble_teacher", "members": len(config.teacher_seeds),
         "test_errors_mean": float(teacher_errors), "test_errors_std": float("nan"),
         "test_errors_count": 1, "member_errors_min": members.min(),
         "member_errors_mean": members.mean(), "member_errors_max": members.max()},
        {"role": "ensemble_distilled", "members": len(config.teacher_seeds),
         "test_errors_mean": students.mean(), "test_errors_std": students.std(),
         "test_errors_count": len(students)}])
