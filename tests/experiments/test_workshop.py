"""The workshop's experiment: configs, and the table over seeds."""

import pandas as pd
import pytest

from kd_experiments import workshop


def test_the_students_see_a_small_set_and_learn_from_their_seeds_teacher():
    teacher, scratch, distilled = workshop.workshop_configs(3)
    assert teacher.train_limit is None and scratch.train_limit == distilled.train_limit == 1650
    assert distilled.teacher == teacher and teacher.seed == scratch.seed == 3
    assert (distilled.temperature, distilled.alpha) == (20.0, 0.1)
    assert {c.profile for c in (teacher, scratch, distilled)} == {"workshop"}
    fast = workshop.workshop_configs(0, "fast", student_knobs={"epochs": 2})
    assert fast[1].epochs == fast[2].epochs == 2 and fast[0].epochs == 1


def test_the_table_orders_roles_and_counts_seeds():
    rows = pd.DataFrame([
        {"role": role, "architecture": "mlp:800,800", "train_examples": n, "temperature": t,
         "alpha": a, "test_errors": e, "test_accuracy": 1 - e / 10000, "train_accuracy": 1.0}
        for role, n, t, a, base in (("distilled", 1650, 20.0, 0.1, 400),
                                    ("teacher", 55000, 1.0, 1.0, 200),
                                    ("scratch", 1650, 1.0, 1.0, 700))
        for e in (base, base + 10)])
    table = workshop.workshop_table(rows)
    assert table["model"].tolist() == ["teacher", "student from scratch", "distilled student"]
    assert table["test_errors_mean"].tolist() == [205, 705, 405]
    assert table["test_errors_count"].tolist() == [2, 2, 2]


def test_the_live_plan_scales_each_role_from_its_committed_workshop_runs(monkeypatch):
    # seconds per image and epoch: teacher 1e-4 and 3e-4 (median 2e-4); distilled 4e-4
    rows = pd.DataFrame({"profile": ["workshop"] * 3 + ["full"],
                         "role": ["teacher", "teacher", "distilled", "scratch"],
                         "wall_seconds": [10.0, 30.0, 40.0, 1.0], "epochs_trained": [2, 2, 10, 1],
                         "train_examples": [50_000, 50_000, 10_000, 1_000]})
    monkeypatch.setattr(workshop, "read_summary", lambda *a: rows)
    teacher, scratch, distilled = workshop.workshop_configs(0, "workshop")
    seconds = workshop.live_seconds((teacher, distilled, scratch), (1000, 100, 100))
    assert seconds[0] == pytest.approx(2e-4 * 1000 * teacher.epochs)
    assert seconds[1] == pytest.approx(4e-4 * 100 * distilled.epochs)
    assert seconds[2] is None  # no committed workshop run of its role
