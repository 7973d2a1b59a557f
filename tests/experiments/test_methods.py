"""The Fashion-MNIST methods comparison: its runs, and its table on a FAST run."""

import pytest

from kd_experiments import dark_knowledge, methods


def test_each_method_is_its_own_run_of_one_student_on_one_teacher():
    configs = methods.fashion_configs(0)
    students = [c for arm, c in configs.items() if arm != "teacher"]
    assert len({c.run_id for c in students}) == len(methods.ARMS)
    assert {c.architecture for c in students} == {methods.STUDENT}
    assert {c.teacher.run_id for c in students if c.teacher} == {configs["teacher"].run_id}
    for arm, config in configs.items():
        if arm != "teacher":
            row = {**config.to_dict(), "teacher_run_id": config.teacher.run_id
                   if config.teacher else ""}
            assert dark_knowledge.arm_of(row) == arm


@pytest.mark.slow  # trains a FAST CNN teacher and ten students on Fashion-MNIST (about a minute)
def test_a_fast_run_gives_every_method_its_paired_verdicts(tmp_path):
    table = methods.train_all(seeds=(0, 1), profile="fast", results_dir=tmp_path)
    assert set(table["arm"]) == {"hinton", "decoupled", "hint", "label_smoothing"}
    assert len(table) == 2 * 3 + 1 and table["p_holm"].notna().all()
    assert (table["test_errors_count"] == 2).all()
