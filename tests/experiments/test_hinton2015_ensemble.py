"""Hinton et al. (2015), the ensemble: one averaged teacher shared by every student seed."""

import json

import numpy as np
import pytest

from kd_experiments import hinton2015, hinton2015_ensemble, hinton2015_readme
from kd_lab import datasets, runner
from kd_lab.config import RunConfig, ensemble_members


def test_ensemble_configs_share_one_ensemble_across_student_seeds():
    configs = hinton2015_ensemble.ensemble_configs(seeds=(0, 1, 2), profile="paper")
    teachers = {c.teacher for c in configs}
    assert len(teachers) == 1 and next(iter(teachers)).seed == 0  # one canonical teacher id
    assert [c.seed for c in configs] == [0, 1, 2]
    assert all(c.teacher_seeds == (0, 1, 2) and c.temperature == 20.0 and c.alpha == 0.1
               for c in configs)
    main_teachers = {hinton2015.hinton_configs(s, "paper")[0] for s in (0, 1, 2)}
    assert {m for c in configs[:1] for m in ensemble_members(c)} == main_teachers


@pytest.mark.slow  # trains an ensemble's members and students
def test_the_ensemble_table_scores_the_averaged_teacher_once_and_the_students_per_seed(tmp_path):
    teacher = RunConfig(dataset="digits", role="teacher", architecture="mlp:16", epochs=2,
                        patience=0, val_size=200, profile="fast", learning_rate=0.01)
    students = [RunConfig(dataset="digits", role="distilled", architecture="mlp:8", epochs=2,
                          patience=0, val_size=200, profile="fast", learning_rate=0.01,
                          teacher=teacher, teacher_seeds=(0, 1), seed=seed)
                for seed in (0, 1)]
    records = [runner.run(c, results_dir=tmp_path, verbose=0) for c in students]
    table = hinton2015_ensemble.ensemble_table(records, tmp_path).set_index("role")
    splits = datasets.splits_for(students[0])
    averaged = runner.teacher_of(students[0], splits, tmp_path)[1][2]
    assert table.loc["ensemble_teacher", "test_errors_mean"] == (
        averaged.argmax(-1) != splits.y_test).sum()
    folder = tmp_path / "ensembles" / f"{students[0].teacher.run_id}-ens0-1"
    row = json.loads((folder / "row.json").read_text())  # the ensemble teacher's record
    assert row["test_errors"] == table.loc["ensemble_teacher", "test_errors_mean"]
    assert len(row["member_test_errors"]) == 2 and row["git_commit"]
    members = [runner.run(m, results_dir=tmp_path, verbose=0).row["test_errors"]
               for m in ensemble_members(students[0])]  # read back, not trained again
    assert table.loc["ensemble_teacher", ["member_errors_min", "member_errors_mean",
                                          "member_errors_max"]].tolist() == pytest.approx(
        [min(members), np.mean(members), max(members)])
    assert row["member_test_errors"] == members
    errors = [r.row["test_errors"] for r in records]
    assert table.loc["ensemble_distilled", "test_errors_mean"] == pytest.approx(np.mean(errors))
    assert table.loc["ensemble_distilled", "test_errors_count"] == 2
    lines = hinton2015_readme.paper_vs_ours(ensemble=table.reset_index())
    assert lines["paper"].tolist() == ["-", "-"]
    assert lines["experiment"].iloc[0] == ("ensemble of 2 teachers (averaged logits), "
                                           "test errors")
