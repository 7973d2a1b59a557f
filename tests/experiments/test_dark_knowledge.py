"""The strong-teacher stages: each decided from the records of the one before."""

import os

import numpy as np
import pandas as pd
import pytest

from kd_experiments import dark_knowledge as dk


def test_the_check_pairs_each_seed_across_precisions_and_nothing_else():
    configs = dk.check_configs()
    assert len(configs) == 2 * len(dk.CHECK_SEEDS)
    for seed in dk.CHECK_SEEDS:
        pair = [c for c in configs if c.seed == seed]
        assert {c.precision for c in pair} == set(dk.PRECISIONS)
        assert pair[0].replace(precision=pair[1].precision) == pair[1]
        assert pair[0].run_id != pair[1].run_id


def test_the_recipe_is_the_papers_ingredients_on_a_long_schedule():
    config = dk.teacher_config(3)
    assert (config.architecture, config.jitter_pixels, config.optimizer, config.momentum,
            config.lr_schedule, config.epochs, config.patience) == (
        "hinton_teacher", 2, "sgd", 0.9, "cosine", 300, 0)


def _rows(errors_by_precision):
    return [{"precision": p, "test_errors": e} for p, errors in errors_by_precision.items()
            for e in errors]


def test_bfloat16_is_used_only_when_the_paired_check_detects_no_difference(monkeypatch):
    monkeypatch.setattr(dk, "_rows", lambda *a: _rows(
        {"mixed_bfloat16": [100, 104, 98, 101, 99], "float32": [101, 102, 99, 100, 100]}))
    assert dk.precision_check()["precision"] == "mixed_bfloat16"
    monkeypatch.setattr(dk, "_rows", lambda *a: _rows(
        {"mixed_bfloat16": [110, 114, 108, 111, 112], "float32": [101, 102, 99, 100, 100]}))
    check = dk.precision_check()
    assert (check["verdict"], check["precision"]) == ("worse", "float32")


def test_the_pilot_chooses_on_validation_errors_never_test(monkeypatch):
    rows = [{"learning_rate": 0.05, "val_accuracy": 1 - 42 / 5000, "val_size": 5000,
             "test_errors": 60},
            {"learning_rate": 0.1, "val_accuracy": 1 - 40 / 5000, "val_size": 5000,
             "test_errors": 90}]
    monkeypatch.setattr(dk, "_rows", lambda *a: rows)
    assert dk.pilot_choice("float32") == {"learning_rate": 0.1,
                                          "val_errors": {0.05: 42, 0.1: 40}}


def test_later_stages_wait_for_the_decisions_before_them(tmp_path):
    names = [name for name, configs in dk.stages(tmp_path)]
    assert names == ["precision check", "pilot", "student recipe", "label smoothing strength",
                     "student temperature", "teachers", "controls", "methods", "more teachers",
                     "more controls", "lab tables"]
    assert [configs is None for _, configs in dk.stages(tmp_path)] == [False] + [True] * 10


def test_the_longer_schedule_is_taken_only_if_its_runs_end_with_a_tenth_fewer_errors(
        monkeypatch):
    configs = dk.schedule_configs("float32", 0.05)
    assert [(c.seed, c.epochs) for c in configs] == [
        (seed, epochs) for epochs in dk.PLANS for seed in dk.SCHEDULE_SEEDS]
    assert configs[0] == dk.teacher_config(0)  # the pilot's own run: nothing trained twice
    ids = {c.run_id.rsplit("-", 1)[1]: c for c in configs}
    ends = {(300, 0): 43, (300, 1): 45, (600, 0): 42, (600, 1): 37}  # the mean: 44 and 39.5
    # a lucky kept epoch (the best of a run's epochs): it must not decide
    monkeypatch.setattr(dk, "_rows", lambda *a: [
        {"val_size": 5000, "val_accuracy": 1 - (1 if c.epochs == 600 else 40) / 5000}
        for c in configs])

    def history(folder):
        config = ids[str(folder).rsplit("-", 1)[1]]
        errors = [60] * 20 + [ends[config.epochs, config.seed]] * dk.SCHEDULE_END_EPOCHS
        return pd.DataFrame({"val_accuracy": [1 - e / 5000 for e in errors]})

    monkeypatch.setattr(dk.records, "read_history", history)
    chosen = dk.schedule_choice("float32", 0.05)
    assert chosen["epochs"] == 600  # 39.5 <= 0.9 x 44 = 39.6
    assert chosen["val_errors"] == pytest.approx({300: 44.0, 600: 39.5})
    assert chosen["kept_val_errors"] == {300: 40, 600: 1}
    ends[600, 1] = 38  # 40.0: a tenth fewer no longer
    assert dk.schedule_choice("float32", 0.05)["epochs"] == 300


def test_the_longer_plan_shares_the_decisions_before_it_and_goes_on_only_if_taken(
        tmp_path, monkeypatch):
    names = [name for name, _ in dk.stages(tmp_path, dk.LONGER_EPOCHS)]
    assert names[:3] == ["precision check", "pilot", "schedule"]
    assert names[3:] == [name for name, _ in dk.stages(tmp_path)][2:]
    with pytest.raises(ValueError, match="teacher_epochs must be one of"):
        dk.stages(tmp_path, 450)
    monkeypatch.setattr(dk, "precision_check", lambda *a: {"precision": "float32"})
    monkeypatch.setattr(dk, "pilot_choice", lambda *a: {"learning_rate": 0.05})
    for epochs, goes_on in ((dk.LONGER_EPOCHS, True), (dk.EPOCHS, False)):
        monkeypatch.setattr(dk, "schedule_choice", lambda *a, e=epochs: {"epochs": e})
        dk._STAGES.clear()
        planned = dict(dk.stages(tmp_path, dk.LONGER_EPOCHS))
        assert planned["schedule"] == dk.schedule_configs("float32", 0.05)
        assert (planned["teachers"] is not None) == goes_on
        if goes_on:  # the longer plan's teachers, every one of them, over the longer schedule
            assert {c.epochs for c in dk.teachers(tmp_path, dk.LONGER_EPOCHS)} == {600}
            assert dk.teachers(tmp_path)[0] == dk.teacher_config(0)  # the tables' plan: as it was
    # the methods need only the students' recipe: planned before the controls, so that a hint
    # run can train while its teacher's model is on the machine that trained it
    recipes = {student: "adam-1e-3" for student in dk.STUDENTS}
    monkeypatch.setattr(dk, "schedule_choice", lambda *a: {"epochs": dk.LONGER_EPOCHS})
    monkeypatch.setattr(dk, "student_recipe", lambda *a: recipes)
    monkeypatch.setattr(dk, "smoothing_choice", lambda *a: None)
    dk._STAGES.clear()
    planned = dict(dk.stages(tmp_path, dk.LONGER_EPOCHS))
    assert planned["controls"] is None and planned["methods"] == dk.method_configs(
        dk.teacher_config(0, 0.05, dk.LONGER_EPOCHS), recipes, dk.FIRST_CONTROL_SEEDS)
    dk._STAGES.clear()


@pytest.mark.parametrize("teacher_epochs", [dk.EPOCHS, dk.LONGER_EPOCHS])
def test_the_committed_records_make_the_decisions_the_plan_took(teacher_epochs):
    from helpers import REPO

    made = dk.check_decisions(REPO / "results", teacher_epochs)
    assert {key: made[key] for key in dk.TAKEN[teacher_epochs]} == dk.TAKEN[teacher_epochs]


def test_a_decision_the_records_no_longer_make_stops_the_plan(monkeypatch, capsys):
    from helpers import REPO

    moved = dict(dk.TAKEN[dk.EPOCHS], temperatures={"mlp:800,800": 4.0, "mlp:30,30": 2.0})
    monkeypatch.setitem(dk.TAKEN, dk.EPOCHS, moved)
    with pytest.raises(dk.DecisionMoved, match="temperatures"):
        dk.check_decisions(REPO / "results")
    # the command line: one line, exit 2, before any stage is planned or printed
    monkeypatch.setattr(dk, "stages", lambda *a: pytest.fail("planned on a moved decision"))
    for argv in (["--plan"], []):
        with pytest.raises(SystemExit) as stopped:
            dk.main(["--results-dir", str(REPO / "results"), *argv])
        captured = capsys.readouterr()
        assert stopped.value.code == 2 and "now decide temperatures" in captured.err
        assert not captured.out


def test_each_students_temperature_is_chosen_on_validation_never_test(monkeypatch):
    recipes = dict.fromkeys(dk.STUDENTS, "adam-1e-3")
    configs = dk.temperature_configs(TEACHER, recipes)
    assert {(c.architecture, c.temperature, c.seed, c.alpha) for c in configs} == {
        (s, t, 0, dk.ALPHA) for s in dk.STUDENTS for t in dk.TEMPERATURES}
    # validation errors fall with T for the 800-800 student (a tie at the top: the higher T)
    # and are fewest at T = 4 for the 30-30; test errors say the opposite and play no part
    val = {"mlp:800,800": {2.0: 60, 4.0: 55, 8.0: 50, 20.0: 50},
           "mlp:30,30": {2.0: 170, 4.0: 160, 8.0: 175, 20.0: 190}}

    def rows(configs, results_dir):
        return [{"val_accuracy": 1 - val[c.architecture][c.temperature] / 5000,
                 "val_size": 5000, "test_errors": 1000 - val[c.architecture][c.temperature]}
                for c in configs]

    monkeypatch.setattr(dk, "_rows", rows)
    assert dk.temperature_choice(TEACHER, recipes) == {"mlp:800,800": 20.0, "mlp:30,30": 4.0}
    controls = dk.control_configs(TEACHER, recipes, dict.fromkeys(dk.STUDENTS, 0.1),
                                  {"mlp:800,800": 20.0, "mlp:30,30": 4.0}, [1])
    distilled = {(c.architecture, c.temperature) for c in controls if c.role == "distilled"}
    assert distilled == {("mlp:800,800", 20.0), ("mlp:30,30", 4.0)}


# -- the students and their controls ---------------------------------------------------------
TEACHER = dk.teacher_config(0, 0.05, precision="mixed_bfloat16")
RECIPE = dk.STUDENT_RECIPES["adam-1e-3"]
ARMS = ("scratch", "hinton", *dk.CONTROLS, *dk.METHODS)


def test_every_arm_is_its_own_run_and_its_record_says_which_arm_it_is():
    configs = {arm: dk.student_config("mlp:30,30", arm, 3, TEACHER, RECIPE) for arm in ARMS}
    assert len({c.run_id for c in configs.values()}) == len(ARMS)
    weak = dk.weak_teachers(TEACHER)
    for arm, config in configs.items():
        row = {**config.to_dict(), "teacher_run_id": config.teacher.run_id if config.teacher
               else ""}
        assert dk.arm_of(row, weak) == arm
        assert config.seed == 3 and (config.teacher is None or config.teacher.seed == 3)
    assert configs["weak_teacher"].teacher.epochs == dk.CHECK_EPOCHS
    assert configs["teacher_regularisers"].jitter_pixels == 2
    assert repr(configs["hint"].make_loss()) == "HintLoss(teacher_layer=2, student_layer=2)"


def _control_rows(gain=20.0, seeds=range(5)):
    rng = np.random.default_rng(0)
    weak = dk.weak_teachers(TEACHER)
    rows = []
    for seed in seeds:
        for student in dk.STUDENTS:
            for arm in ARMS:
                config = dk.student_config(student, arm, seed, TEACHER, RECIPE)
                errors = 150 - (gain if arm == "hinton" else 0) + rng.normal(0, 3)
                rows.append({**config.to_dict(), "test_errors": errors,
                             "teacher_run_id": config.teacher.run_id if config.teacher else ""})
    return pd.DataFrame(rows), weak


def test_the_controls_table_is_one_holm_family_paired_by_seed():
    rows, weak = _control_rows()
    table = dk.controls_table(rows, weak)
    assert len(table) == 2 * (2 * len(dk.CONTROLS) + 1)
    hinton = table[(table["arm"] == "hinton") & (table["baseline"] == "scratch")]
    assert (hinton["verdict"] == "better").all()
    assert (table["p_holm"] >= table["p_value"]).all()
    assert set(table.loc[table["baseline"] == "hinton", "arm"]) == set(dk.CONTROLS)
    methods = dk.controls_table(rows, weak, arms=dk.METHODS)
    assert set(methods["arm"]) == {*dk.METHODS, "hinton"} and len(methods) == 2 * 5


def test_more_seeds_are_asked_for_a_smaller_gain_up_to_the_teachers_there_are():
    needed = {}
    for gain in (60.0, 20.0, 2.0):
        rows, weak = _control_rows(gain=gain)
        needed[gain] = dk.control_seeds(dk.controls_table(rows, weak), rows, weak)
    assert len(dk.FIRST_CONTROL_SEEDS) == needed[60.0] <= needed[20.0] <= needed[2.0]
    assert needed[2.0] == len(dk.TEACHER_SEEDS) > needed[60.0]


def test_only_trains_the_named_stages_and_refuses_unknown_ones(tmp_path, monkeypatch, capsys):
    trained = []
    monkeypatch.setattr(dk.runner, "run",
                        lambda config, *a, **k: trained.append(config) or pytest.fail("trained"))
    with pytest.raises(SystemExit) as stopped:
        dk.main(["--results-dir", str(tmp_path), "--only", "pilots"])
    assert stopped.value.code == 2 and "--only" in capsys.readouterr().err and not trained
    # the pilot waits for the precision check, so a process told to train it alone has nothing
    # to do and stops, where one without --only would start the check
    monkeypatch.setattr(dk, "describe", lambda *a: None)
    dk.train_teachers(tmp_path, only=["pilot"])
    assert not trained


def test_a_process_left_some_stages_waits_for_their_teachers_and_never_trains_them(
        tmp_path, monkeypatch, capsys):
    student = next(c for c in dk.student_pilot_configs(dk.teacher_config(0))
                   if c.teacher is not None)
    teacher = student.teacher
    finished, trained = set(), []
    monkeypatch.setattr(dk, "stages", lambda *a: [("teachers", [teacher]),
                                                  ("controls", [student])])
    monkeypatch.setattr(dk.records, "is_finished", lambda c, *a: c.run_id in finished)
    monkeypatch.setattr(dk.runner, "run", lambda c, *a, **k: trained.append(c.run_id)
                        or finished.add(c.run_id))
    monkeypatch.setattr(dk, "keep_teacher_logits", lambda *a: [])
    monkeypatch.setattr(dk, "describe", lambda *a: None)
    dk.train_teachers(tmp_path, only=["controls"], wait_seconds=None)
    assert trained == []  # its teacher is the other process's: not trained here
    assert f"waiting for {teacher.run_id}" in capsys.readouterr().out
    finished.add(teacher.run_id)
    dk.train_teachers(tmp_path, only=["controls"], wait_seconds=None)
    assert trained == [student.run_id]
    trained.clear()
    finished.clear()
    dk.train_teachers(tmp_path, wait_seconds=None)  # one process for every stage: in order
    assert trained == [teacher.run_id, student.run_id]


def test_a_run_reading_its_teachers_model_trains_while_the_model_is_here(
        tmp_path, monkeypatch, capsys):
    teacher = dk.teacher_config(0)
    recipe = dk.STUDENT_RECIPES["adam-1e-3"]
    scratch = dk.student_config("mlp:30,30", "scratch", 0, teacher, recipe)
    hint = dk.student_config("mlp:30,30", "hint", 0, teacher, recipe)
    other_hint = dk.student_config("mlp:30,30", "hint", 1, teacher, recipe)
    assert dk._teacher_model_here(scratch, tmp_path) is None
    assert dk._teacher_model_here(dk.student_config("mlp:30,30", "hinton", 0, teacher, recipe),
                                  tmp_path) is None  # cached logits suffice
    finished, trained = {teacher.run_id, other_hint.teacher.run_id}, []
    model = dk.records.run_dir(teacher, tmp_path) / "model.keras"
    model.parent.mkdir(parents=True)
    model.touch()  # seed 0's teacher's model is here; seed 1's is not
    monkeypatch.setattr(dk, "stages", lambda *a: [("controls", [scratch]),
                                                  ("methods", [other_hint, hint])])
    monkeypatch.setattr(dk.records, "is_finished", lambda c, *a: c.run_id in finished)
    monkeypatch.setattr(dk.runner, "run", lambda c, *a, **k: trained.append(c.run_id)
                        or finished.add(c.run_id))
    monkeypatch.setattr(dk, "keep_teacher_logits", lambda *a: [])
    monkeypatch.setattr(dk, "describe", lambda *a: None)
    dk.train_teachers(tmp_path, wait_seconds=None)
    assert trained == [hint.run_id, scratch.run_id]  # first, while its teacher's model is here
    assert f"left: {other_hint.run_id}" in capsys.readouterr().out  # never ModelNotHere


def test_the_driver_trains_and_keeps_the_logits_of_the_plan_it_was_asked_for(tmp_path,
                                                                             monkeypatch):
    asked = []
    monkeypatch.setattr(dk, "stages", lambda *a: asked.append(("stages", a[1:])) or [])
    monkeypatch.setattr(dk, "check_decisions", lambda *a: asked.append(("check", a[1:])))
    monkeypatch.setattr(dk, "keep_teacher_logits", lambda *a: asked.append(("keep", a[2:])))
    monkeypatch.setattr(dk, "describe", lambda *a: asked.append(("describe", a[1:])))
    dk.train_teachers(tmp_path, teacher_epochs=dk.LONGER_EPOCHS, wait_seconds=None)
    assert asked and all(args == (dk.LONGER_EPOCHS,) for _, args in asked)
    assert {what for what, _ in asked} == {"stages", "check", "keep", "describe"}


def test_the_logits_of_the_longer_schedules_runs_are_kept_before_it_decides(tmp_path,
                                                                            monkeypatch, capsys):
    schedule = dk.schedule_configs("float32", 0.05)
    longer = [c for c in schedule if c.epochs == dk.LONGER_EPOCHS]
    monkeypatch.setattr(dk, "stages", lambda *a: [("schedule", schedule), ("teachers", None)])
    monkeypatch.setattr(dk, "teachers", lambda *a: None)  # the schedule has not decided
    monkeypatch.setattr(dk.records, "is_finished", lambda c, *a: c in longer)
    monkeypatch.setattr(dk.datasets, "splits_for", lambda *a: None)
    monkeypatch.setattr(dk.teacher_logits, "recorded_logits", lambda *a: None)
    kept_for = []
    monkeypatch.setattr(dk.teacher_logits, "teacher_logits_for",
                        lambda config, *a: kept_for.append(config.run_id))
    monkeypatch.setattr(dk.records, "load_record", lambda *a: type(
        "Record", (), {"load_model": lambda self: "model"})())
    model = dk.records.run_dir(longer[0], tmp_path) / "model.keras"
    model.parent.mkdir(parents=True)
    model.touch()  # seed 0's model is here, seed 1's is not
    assert dk.keep_teacher_logits(tmp_path, None, dk.LONGER_EPOCHS) == [longer[0].run_id]
    assert kept_for == [longer[0].run_id]  # the 300-epoch baselines are the other plan's
    assert f"{longer[1].run_id}: neither its logits nor its model" in capsys.readouterr().out


def test_the_controls_so_far_are_judged_against_the_whole_planned_family(tmp_path):
    from helpers import REPO

    assert all(frame.empty for frame in dk.controls_so_far(tmp_path))  # nothing decided yet
    table, rows = dk.controls_so_far(REPO / "results")
    stages = dict(dk.stages(REPO / "results"))
    if stages["controls"] is None:  # the students' temperatures are being chosen: no control
        assert table.empty and rows.empty
        return
    planned = stages["controls"] + (stages["more controls"] or [])
    assert len(rows) and set(rows["run_id"]) <= {c.run_id for c in planned}
    tested = table["p_value"].notna()
    # Holm over every planned line, those without a test yet counted as p = 1
    planned_lines = len(dk.STUDENTS) * (2 * len(dk.CONTROLS) + 1)
    padded = [*table["p_value"].fillna(1.0), *[1.0] * (planned_lines - len(table))]
    np.testing.assert_allclose(table.loc[tested, "p_holm"],
                               dk.stats.holm(padded)[:len(table)][tested.to_numpy()])
    assert (table.loc[~tested, "verdict"] == dk.stats.TOO_FEW).all()


def test_the_readme_status_counts_teachers_and_controls_from_the_records(tmp_path):
    from helpers import REPO

    from kd_experiments import readings_dark_knowledge

    assert readings_dark_knowledge.status_block(tmp_path) == (
        "Status, from the records: No teacher is trained yet. Controls: they wait for the "
        "stages before them. The plan again on 600-epoch teachers waits for the precision "
        "check and the pilot.")
    status = readings_dark_knowledge.status_block(REPO / "results")
    teachers = dk.teacher_rows(REPO / "results")
    assert status.startswith(f"Status, from the records: {len(teachers)} of "
                             f"{len(dk.TEACHER_SEEDS)} teachers trained: ")
    _, controls = dk.controls_so_far(REPO / "results")
    stages = dict(dk.stages(REPO / "results"))
    planned, more = stages["controls"], stages["more controls"]
    if more:
        assert (f"Controls: {len(planned) + len(more)} runs planned (the first stage's "
                f"{len(planned)}, and the {len(more)} more") in status
        assert f"), {len(controls)} recorded; " in status
    elif planned:
        assert f"Controls: {len(controls)} of the first stage's {len(planned)} runs" in status
    else:
        assert "they wait for the stages before them." in status
    tables = stages["lab tables"]
    recorded = sum(dk.records.is_finished(c, REPO / "results") for c in tables)
    assert f" Lab tables: {recorded} of their {len(tables)} runs are recorded" in status


def test_the_gain_shares_say_how_much_of_hinton_kds_gain_each_control_keeps():
    rows, weak = _control_rows(gain=40.0)
    rows = dk._with_arms(rows, weak)
    # class-mean targets keep a quarter of the gain: the per-example part is three quarters
    rows.loc[rows["arm"] == "class_mean", "test_errors"] -= 10.0
    shares = dk.gain_shares(rows).set_index(["student", "arm"])
    assert set(shares.index.get_level_values("arm")) == {*dk.CONTROLS, "per-example part"}
    for student in dk.STUDENTS:
        line = shares.loc[(student, "class_mean")]
        per_example = shares.loc[(student, "per-example part")]
        assert line["pairs"] == 5 and line["gain"] == pytest.approx(40.0, abs=5)
        assert line["ratio"] + per_example["ratio"] == pytest.approx(1.0)
        assert line["ratio_low"] < line["ratio"] < line["ratio_high"]
        assert line["ratio"] == pytest.approx(0.25, abs=0.15) and line["ratio_high"] < 0.75
        assert per_example["ratio_low"] == pytest.approx(1 - line["ratio_high"])
    # a gain not told from 0 shares nothing bounded; a gain of 0 or a loss shares nothing
    for differences, bounds in (([-10, -4, 6, -8, 12], np.inf), ([3, -3, 3, -3, 0], np.nan),
                                ([25, 22, 18, 24, 21], np.nan)):
        for student in dk.STUDENTS:
            scratch = rows[(rows["arm"] == "scratch") & (rows["student"] == student)]
            hinton = (rows["arm"] == "hinton") & (rows["student"] == student)
            rows.loc[hinton, "test_errors"] = (scratch.set_index("seed")["test_errors"]
                                               + differences).to_numpy()
        flat = dk.gain_shares(rows)[["ratio_low", "ratio_high"]].abs().to_numpy()
        assert (np.isinf(flat) if bounds == np.inf else np.isnan(flat)).all(), differences


def test_the_controls_tables_are_written_only_once_every_control_is_in(tmp_path, monkeypatch):
    rows, weak = _control_rows(gain=40.0)
    rows = dk._with_arms(rows, weak)
    table = dk.controls_table(rows, weak)
    rows["run_id"] = [f"run-{i}" for i in range(len(rows))]
    monkeypatch.setattr(dk, "controls_so_far", lambda results_dir: (table, rows))
    monkeypatch.setattr(dk, "controls_complete", lambda results_dir: False)
    shown, shares, csv = dk.write_controls_outputs(tmp_path)
    assert csv is None and not (tmp_path / "tables").exists()  # provisional: nothing written
    assert shown is table and set(shares["arm"]) == {*dk.CONTROLS, "per-example part"}
    monkeypatch.setattr(dk, "controls_complete", lambda results_dir: True)
    _, _, csv = dk.write_controls_outputs(tmp_path)
    written = pd.read_csv(csv)
    assert csv.name == f"{dk.CONTROLS_TABLE}.csv" and len(written) == len(table)
    assert list(written["verdict"]) == list(table["verdict"])
    assert len(pd.read_csv(tmp_path / "tables" / f"{dk.SHARES_TABLE}.csv")) == len(shares)
    assert (tmp_path / "figures" / f"{dk.CONTROLS_TABLE}.png").stat().st_size > 0
    listed = pd.read_csv(tmp_path / "tables" / f"{dk.CONTROLS_TABLE}.runs.csv")
    assert sorted(listed["run_id"]) == sorted(rows["run_id"])


def test_the_controls_are_incomplete_until_every_planned_run_is_recorded(tmp_path):
    assert not dk.controls_complete(tmp_path)  # nothing decided yet


# -- the lab's tables on these teachers --------------------------------------------------------
def test_the_paper_profile_with_the_teachers_knobs_is_the_plans_teacher():
    from kd_lab import main_configs

    teacher = dk.teacher_config(4)
    assert dk.teacher_knobs(teacher) == {}  # the paper profile's teacher is the plan's
    built = main_configs.hinton_configs(4, "paper")
    assert built[0].run_id == teacher.run_id
    rate = dk.teacher_config(4, learning_rate=0.1)  # another pilot's choice: a knob
    assert dk.teacher_knobs(rate) == {"learning_rate": 0.1}
    # and the paper profile's students are the plan's (its recipe, chosen on validation)
    recipe = dk.STUDENT_RECIPES["adam-1e-3"]
    assert built[1] == dk.student_config("mlp:800,800", "scratch", 4, teacher, recipe)
    assert built[2] == dk.student_config("mlp:800,800", "hinton", 4, teacher, recipe)
    with pytest.raises(ValueError, match="precision"):  # not a knob: no table is built on it
        dk.teacher_knobs(dk.teacher_config(4, precision="mixed_bfloat16"))


def test_the_lab_tables_distil_the_plans_teachers_each_run_once():
    configs = dk.lab_table_configs(dk.teacher_config(0))
    assert len({c.run_id for c in configs}) == len(configs)
    plan = {dk.teacher_config(seed).run_id for seed in dk.TEACHER_SEEDS}
    distilled = [c for c in configs if c.teacher is not None]
    assert {c.teacher.run_id for c in distilled} <= plan
    assert all(c.teacher.seed == c.seed for c in distilled if not c.teacher_seeds)
    assert all(c.profile == "paper" for c in configs)
    # the comparison comes first, and every grid's alpha = 1 cell is its scratch run
    first = configs[:2 * len(dk.COMPARE_SEEDS)]
    assert [(c.role, c.seed) for c in first[:2]] == [("scratch", 0), ("distilled", 0)]
    assert not [c for c in configs if c.alpha == 1.0 and c.role == "distilled"]
    # no student runs a teacher's model (only logits are committed); the ensemble's average five
    assert not [c for c in configs if c.jitter_pixels or c.make_loss().uses_features()]
    assert {c.teacher_seeds for c in configs if c.teacher_seeds} == {dk.TABLE_SEEDS}


def test_the_lab_tables_train_every_run_alone_as_the_controls_they_share_runs_with(
        tmp_path, monkeypatch):
    teacher = dk.teacher_config(0)
    configs = [c for c in dk.lab_table_configs(teacher)
               if c.architecture == "mlp:30,30" and c.seed in (0, 1)]
    # the 30-30 grid holds the controls' scratch and Hinton KD runs, which trained alone
    controls = {dk.student_config("mlp:30,30", arm, 0, teacher,
                                  dk.STUDENT_RECIPES["adam-1e-3"], temperature=2.0).run_id
                for arm in ("scratch", "hinton")}
    assert controls <= {c.run_id for c in configs}
    finished, trained = set(), []
    monkeypatch.setattr(dk, "stages", lambda *a: [("lab tables", configs)])
    monkeypatch.setattr(dk.records, "is_finished", lambda c, *a: c.run_id in finished)
    monkeypatch.setattr(dk, "_waits_for", lambda *a: [])
    monkeypatch.setattr(dk.sweep, "run_configs", lambda *a, **k: pytest.fail("stacked"))

    def run(config, *args, **kwargs):
        trained.append(config.run_id)
        finished.add(config.run_id)

    monkeypatch.setattr(dk.runner, "run", run)
    monkeypatch.setattr(dk, "keep_teacher_logits", lambda *a: [])
    monkeypatch.setattr(dk, "describe", lambda *a: None)
    dk.train_teachers(tmp_path, wait_seconds=None)
    assert trained == [c.run_id for c in configs]


def test_processes_sharing_a_stage_each_train_the_runs_they_claim_and_release_them(
        tmp_path, monkeypatch, capsys):
    teacher = dk.teacher_config(0)
    weak = teacher.replace(epochs=dk.CHECK_EPOCHS)
    recipe = dk.STUDENT_RECIPES["adam-1e-3"]
    mine, theirs, needs_their_teacher, needs_a_teacher = [
        dk.student_config("mlp:30,30", "scratch", seed, teacher, recipe) for seed in (0, 1)] + [
        dk.student_config(s, "weak_teacher", 0, teacher, recipe) for s in dk.STUDENTS]
    other = f"{dk.run_claims.socket.gethostname()} {os.getppid()}"  # a living process
    (tmp_path / ".claims").mkdir()
    for run in (theirs, needs_their_teacher.teacher.replace(seed=1)):
        (tmp_path / ".claims" / run.run_id).write_text(other)
    needs_their_teacher = needs_their_teacher.replace(teacher=weak.replace(seed=1))
    finished, trained = {teacher.run_id}, []
    stage = [mine, theirs, needs_their_teacher, needs_a_teacher]
    monkeypatch.setattr(dk, "stages", lambda *a: [("controls", stage)])
    monkeypatch.setattr(dk.records, "is_finished", lambda c, *a: c.run_id in finished)

    def run(config, *args, **kwargs):
        held = sorted(p.name for p in (tmp_path / ".claims").iterdir())
        trained.append((config.run_id, held))
        finished.update({config.run_id, config.teacher.run_id if config.teacher else ""})

    monkeypatch.setattr(dk.runner, "run", run)
    monkeypatch.setattr(dk, "keep_teacher_logits", lambda *a: [])
    monkeypatch.setattr(dk, "describe", lambda *a: None)
    dk.train_teachers(tmp_path, wait_seconds=None)
    assert [run_id for run_id, _ in trained] == [mine.run_id, needs_a_teacher.run_id]
    # while training, a run held its own claim and its unfinished teacher's
    assert mine.run_id in trained[0][1] and weak.run_id in trained[1][1]
    # released after: only the other process's claims are left
    assert sorted(p.name for p in (tmp_path / ".claims").iterdir()) == sorted(
        [theirs.run_id, weak.replace(seed=1).run_id])
    assert theirs.run_id in capsys.readouterr().out  # said what it waits for


def test_a_run_listed_by_two_stages_belongs_to_the_first_and_an_ensemble_waits_for_all(
        tmp_path, monkeypatch, capsys):
    configs = [c for c in dk.lab_table_configs(dk.teacher_config(0))]
    shared, own = configs[0], configs[1]  # the comparison's scratch run is a control's too
    ensemble = next(c for c in configs if c.teacher_seeds)
    finished, trained = {dk.teacher_config(0).run_id}, []
    teachers = [dk.teacher_config(seed) for seed in dk.TABLE_SEEDS]  # another process's
    monkeypatch.setattr(dk, "stages", lambda *a: [("teachers", teachers), ("controls", [shared]),
                                                  ("lab tables", [shared, own, ensemble])])
    monkeypatch.setattr(dk.records, "is_finished", lambda c, *a: c.run_id in finished)
    monkeypatch.setattr(dk.runner, "run", lambda config, *a, **k: trained.append(
        config.run_id) or finished.add(config.run_id))
    monkeypatch.setattr(dk, "keep_teacher_logits", lambda *a: [])
    monkeypatch.setattr(dk, "describe", lambda *a: None)
    dk.train_teachers(tmp_path, only=["lab tables"], wait_seconds=None)
    assert trained == [own.run_id]  # not the controls' run, nor the ensemble's students
    waited = capsys.readouterr().out
    assert all(dk.teacher_config(seed).run_id in waited for seed in (1, 2, 3, 4))


def test_the_methods_so_far_are_one_family_of_their_own_over_every_planned_line(monkeypatch):

    rows, weak = _control_rows(gain=30.0, seeds=range(3))
    configs = {dk.student_config(s, arm, seed, TEACHER, RECIPE).run_id:
               dk.student_config(s, arm, seed, TEACHER, RECIPE)
               for seed in range(3) for s in dk.STUDENTS for arm in ARMS}
    by_id = dict(zip(configs, rows.to_dict("records"), strict=True))
    listed = list(configs.values())
    monkeypatch.setattr(dk, "stages", lambda *a: [
        ("teachers", [TEACHER]),
        ("controls", [c for c in listed if c.loss not in dk.METHODS]),
        ("more controls", None),
        ("methods", [c for c in listed if c.loss in dk.METHODS])])
    monkeypatch.setattr(dk.records, "is_finished", lambda c, *a: True)
    monkeypatch.setattr(dk.records, "load_row",
                        lambda c, *a: {**by_id[c.run_id], "run_id": c.run_id})
    table, runs = dk.methods_so_far()
    assert set(runs["arm"]) == {"scratch", "hinton", *dk.METHODS}
    # Hinton KD against scratch, and label smoothing, are the controls table's comparisons
    assert set(table["arm"]) == set(dk.METHODS)
    def lines(frame):
        return set(frame[["student", "arm", "baseline"]].itertuples(index=False, name=None))

    assert lines(table) == {(s, arm, baseline) for s in dk.STUDENTS for arm in dk.METHODS
                            for baseline in ("hinton", "scratch")}  # the whole family
    np.testing.assert_allclose(table["p_holm"], dk.stats.holm(table["p_value"]))
    assert not lines(table) & lines(dk.controls_so_far()[0])

