"""The default teacher and students: one seed's three configs share their data and settings."""

import pytest

from kd_lab import main_configs


def test_one_seed_gives_teacher_scratch_and_distilled_on_the_same_data():
    teacher, scratch, distilled = main_configs.hinton_configs(3, "full")
    assert (teacher.role, scratch.role, distilled.role) == ("teacher", "scratch", "distilled")
    assert distilled.teacher == teacher and teacher.jitter_pixels == 2
    assert {c.seed for c in (teacher, scratch, distilled)} == {3}
    assert scratch.replace(role="distilled", teacher=teacher, temperature=20.0,
                           alpha=0.1) == distilled


def test_student_knobs_change_both_students_alike():
    _, scratch, distilled = main_configs.hinton_configs(0, "fast", student_knobs={"epochs": 7})
    assert scratch.epochs == distilled.epochs == 7
    with pytest.raises(ValueError, match="profile"):
        main_configs.hinton_configs(0, "nonsense")
