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
    stated = re.search(r"about a quarter of an hour per teacher \((\d+)-(\d+) s per epoch\) and "
                       r"(\d+)-(\d+) minutes per student \((\d+)-(\d+) on jittered images\)",
                       source)
    assert stated, "the paper profile's comment no longer states its times"
    epoch_low, epoch_high, low, high, jitter_low, jitter_high = map(int, stated.groups())
    runs = records.table_runs("06_hinton_main_paper", REPO / "results")
    teachers = runs[runs.role == "teacher"]
    per_epoch = teachers.wall_seconds / teachers.epochs_trained
    assert epoch_low - 0.5 <= per_epoch.min() and per_epoch.max() < epoch_high + 0.5
    assert 10 <= teachers.wall_seconds.min() / 60 and teachers.wall_seconds.max() / 60 <= 20
    students = runs[runs.role != "teacher"].wall_seconds / 60
    assert low - 0.5 <= students.min() and students.max() < high + 0.5
    variants = records.table_runs("06_hinton_variants_paper", REPO / "results")
    jittered = variants[variants.jitter_pixels > 0].wall_seconds / 60
    assert jitter_low - 0.5 <= jittered.min() and jittered.max() < jitter_high + 0.5
