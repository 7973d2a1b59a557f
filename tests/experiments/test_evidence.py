"""The evidence plan: seed counts, budgets, one baseline per table, each seed its own teacher."""

import json

from kd_experiments import evidence
from kd_lab import records
from kd_lab.main_configs import PROFILES


def test_every_table_shares_its_baseline_and_each_student_distils_its_own_seed():
    units = evidence.units()
    configs = [c for _, unit in units for c in unit]
    full = PROFILES["full"]
    budget = (full["student_epochs"], full["patience"])
    assert full["teacher_epochs"] == full["student_epochs"]
    # A 3% training set has a thirtieth of the steps per epoch: ten times the epochs.
    assert all((c.epochs, c.patience) == (budget if c.train_limit is None
                                          else (10 * budget[0], 10 * budget[1]))
               for c in configs)
    assert all(c.teacher.seed == c.seed for c in configs if c.teacher is not None)
    grids = [c for name, unit in units if name.startswith("800-800 grid") for c in unit]
    for seed in evidence.LARGE_GRID_SEEDS:
        teacher, scratch, _ = evidence.full_configs(seed)
        second, _, _ = evidence.full_configs(seed, evidence.SECOND)
        grid = [c for c in grids if c.seed == seed]
        # The compare table's scratch row is the 800-800 grid's alpha = 1 cell; the distilled
        # cells distil the second training of the seed's teacher (the first's model is lost).
        assert scratch in grid and len(grid) == 21
        assert {c.teacher for c in grid if c.teacher is not None} == {second}
        assert second.run_id != teacher.run_id and second.replace(replicate=0) == teacher
    teachers = [c for c in configs if c.role == "teacher"]
    assert sorted(c.seed for c in teachers if c.replicate == 0) == list(evidence.COMPARE_SEEDS)
    assert sorted(c.seed for c in teachers if c.replicate == 1) == list(
        evidence.SECOND_TEACHER_SEEDS)
    # Every table trained after the first teachers' models were lost distils a second one.
    late = [c for name, unit in units if not name.startswith(
        ("teacher", "comparison", "30-30")) for c in unit if c.teacher is not None]
    assert late and all(c.teacher.replicate == 1 for c in late)
    small = [c for name, unit in units if name.startswith("30-30 grid") for c in unit]
    assert len(set(small)) == 21 * len(evidence.SMALL_GRID_SEEDS)


def test_a_teacher_is_trained_before_the_students_that_distil_it():
    seen = set()
    for name, unit in evidence.units():
        for config in unit:
            if config.teacher is not None:
                assert config.teacher in seen, name
            seen.add(config)
    # A teacher is a unit of its own, so its logits are kept before any student needs them.
    assert all(len(unit) == 1 for name, unit in evidence.units() if "teacher, seed" in name)


def test_the_plan_counts_finished_runs(tmp_path):
    plan = evidence.plan(tmp_path)
    assert plan[0] == ("teacher, seed 0", 0, 1)
    assert all(done == 0 for _, done, _ in plan)
    # The results runner.run does not train come last, counted by their record folders.
    assert plan[-1] == ("as published: Pratt2762's loops (notebook 15)", 0, 9)
    assert records.RESULTS_DIR.name == "results"


def test_the_time_left_is_the_median_of_finished_runs_alike(tmp_path):
    from helpers import DIGITS_TEACHER

    def finish(config, wall_seconds):
        folder = records.run_dir(config, tmp_path)
        folder.mkdir(parents=True)
        (folder / "history.csv").write_text("epoch\n1\n")
        row = {"run_id": config.run_id, "finished_at": "2026", "wall_seconds": wall_seconds,
               **{field: getattr(config, field) for field in evidence.ALIKE}}
        (folder / "row.json").write_text(json.dumps(row))

    seeds = [DIGITS_TEACHER.replace(seed=s) for s in range(6)]
    finish(seeds[0], 60.0)
    finish(seeds[1], 180.0)
    finish(seeds[2], 600.0)
    finish(seeds[3].replace(epochs=50), 6000.0)  # another budget: not alike
    records.write_summary(tmp_path)
    minutes, unknown = evidence.minutes_left(seeds, tmp_path)
    assert (minutes, unknown) == (3 * 3.0, 0)  # seeds 3-5 at the median of 60, 180, 600 s
    assert evidence.minutes_left([DIGITS_TEACHER.replace(architecture="mlp:7,7")],
                                 tmp_path) == (0.0, 1)


def test_a_derived_result_is_made_once_the_runs_it_needs_are_finished(tmp_path, monkeypatch,
                                                                     capsys):
    from helpers import DIGITS_TEACHER

    from kd_lab import runner

    made = []

    def unit(name, fail=False):
        def make(results_dir, data_dir):
            if fail:
                raise RuntimeError("its model retrains differently")
            made.append(name)
        return evidence.Derived(name, (DIGITS_TEACHER,),
                                lambda r: (int(name in made), 1), make)

    monkeypatch.setattr(evidence, "derived_units",
                        lambda results_dir: [unit("broken", fail=True), unit("curves")])
    evidence.derive_ready(tmp_path)
    assert made == []  # the teacher has no record yet
    runner.run(DIGITS_TEACHER, results_dir=tmp_path, verbose=0)
    evidence.derive_ready(tmp_path)
    evidence.derive_ready(tmp_path)  # made once: it counts as done now
    assert made == ["curves"]
    assert "broken: FAILED: RuntimeError('its model retrains differently')" in (
        capsys.readouterr().out)


def test_a_unit_that_cannot_train_on_this_machine_does_not_stop_the_others(tmp_path, monkeypatch,
                                                                          capsys):
    from helpers import DIGITS_DISTILLED, DIGITS_TEACHER

    from kd_lab import runner, sweep

    trained = []

    def run_configs(configs, *args, **kwargs):
        if configs[0].role == "distilled":
            raise runner.ModelNotHere("its teacher's model is not here")
        trained.append(configs[0])

    monkeypatch.setattr(evidence, "units", lambda: [("students", [DIGITS_DISTILLED]),
                                                    ("teacher", [DIGITS_TEACHER])])
    monkeypatch.setattr(evidence, "derived_units", lambda results_dir: [])
    monkeypatch.setattr(sweep, "run_configs", run_configs)
    evidence.train_all(tmp_path)
    assert trained == [DIGITS_TEACHER]
    assert "students: cannot train on this machine: its teacher's model is not here" in (
        capsys.readouterr().out)
