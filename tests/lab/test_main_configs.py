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


def test_the_paper_profile_s_stated_times_are_its_records():
    """The comment on the paper profile states how long its runs take; the records of notebook
    06's tables must bear it out (it once said 27 minutes per teacher where they took 14-19)."""
    import re

    from helpers import REPO

    from kd_lab import records

    source = " ".join((REPO / "kd_lab" / "main_configs.py").read_text().replace("#", "").split())
    stated = re.search(r"the records of `make compare` took (\d+)-(\d+) minutes per teacher and "
                       r"(\d+)-(\d+) minutes per student", source)
    assert stated, "the paper profile's comment no longer states its times"
    teacher_low, teacher_high, low, high = map(int, stated.groups())
    runs = records.table_runs("compare_mnist_paper", REPO / "results")
    minutes = runs.wall_seconds / 60
    teachers = minutes[runs.role == "teacher"]
    assert teacher_low <= teachers.min() and teachers.max() <= teacher_high
    students = minutes[runs.role != "teacher"]
    assert low <= students.min() and students.max() <= high
