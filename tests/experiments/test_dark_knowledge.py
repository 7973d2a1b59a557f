"""The strong-teacher stages: each decided from the records of the one before."""

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
    assert names == ["precision check", "pilot", "teachers"]
    assert [configs is None for _, configs in dk.stages(tmp_path)] == [False, True, True]
