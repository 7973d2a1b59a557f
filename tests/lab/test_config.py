"""RunConfig: run ids follow what a run computes, execution defaults, profiles, bad fields."""

import json

import numpy as np
import pytest
from helpers import DIGITS_DISTILLED, DIGITS_TEACHER

from kd_experiments import hinton2015
from kd_lab.config import RunConfig, make_optimizer
from kd_utils.losses import check_alpha, check_temperature

TEACHER = DIGITS_TEACHER

DISTILLED = DIGITS_DISTILLED


NO_THREES = RunConfig(dataset="digits", role="distilled", architecture="mlp:16", epochs=3,
                      learning_rate=0.01, patience=0, val_size=200, profile="fast",
                      teacher=TEACHER, temperature=4.0, alpha=0.1, seed=0,
                      transfer_classes=(0, 1, 2, 4, 5, 6, 7, 8, 9))

# -- bias shift: golden values -------------------------------------------------------------
def test_run_ids_follow_what_the_run_computes():
    assert TEACHER.run_id == RunConfig.from_dict(TEACHER.to_dict()).run_id
    assert TEACHER.run_id != TEACHER.replace(seed=1).run_id
    assert DISTILLED.run_id != DISTILLED.replace(temperature=8.0).run_id
    assert DISTILLED.run_id != DISTILLED.replace(teacher=TEACHER.replace(epochs=4)).run_id
    # How a run is executed is recorded but does not change what it is.
    assert TEACHER.run_id == TEACHER.replace(jit_compile=True, steps_per_execution=8).run_id
    # T and alpha play no part without soft targets.
    scratch = TEACHER.replace(role="scratch")
    assert scratch.replace(temperature=9.0, alpha=0.2).run_id == scratch.run_id
    assert DISTILLED.run_id.startswith("digits-distilled-mlp8-T4-a0.3-s0-fast-")


def test_options_at_their_default_leave_run_ids_unchanged():
    # A committed record's run id: an option at the default that computes what the run did
    # before the option existed must not rename it.
    scratch = RunConfig(role="scratch", architecture="mlp:30,30", epochs=20, patience=8,
                        val_size=5000)
    assert scratch.run_id == "mnist-scratch-mlp30x30-s0-full-45a46d2837"
    assert scratch.replace(monitor="val_loss").run_id != scratch.run_id
    assert scratch.replace(precision="float32").run_id == scratch.run_id


def test_execution_settings_default_to_the_measured_ones_per_model_family():
    measured = TEACHER.replace(jit_compile=None, steps_per_execution=None)
    assert (measured.jit_compile, measured.steps_per_execution) == (True, 32)  # an MLP
    hinton = TEACHER.replace(architecture="hinton_teacher", jit_compile=None,
                             steps_per_execution=None)
    assert (hinton.jit_compile, hinton.steps_per_execution) == (False, 32)  # dropout: no XLA
    cnn = TEACHER.replace(architecture="mnist_cnn", jit_compile=None, steps_per_execution=None)
    assert (cnn.jit_compile, cnn.steps_per_execution) == (False, 1)  # not measured
    explicit = TEACHER.replace(jit_compile=False, steps_per_execution=4)
    assert (explicit.jit_compile, explicit.steps_per_execution) == (False, 4)
    assert explicit.run_id == TEACHER.run_id
    # config.json holds the settings a run used, so a record says how it was executed.
    assert RunConfig.from_dict(explicit.to_dict()) == explicit


def test_a_new_architecture_brings_its_own_execution_defaults_unless_others_were_chosen():
    # The dropout controls are made from the scratch MLP's config: they must not inherit its
    # XLA, which made them 16 times slower.
    mlp = TEACHER.replace(architecture="mlp:30,30", jit_compile=None)
    assert (mlp.jit_compile, mlp.steps_per_execution) == (True, 32)
    dropout = mlp.replace(architecture="mlp:30,30+dropout", jitter_pixels=2)
    assert (dropout.jitter_pixels, dropout.jit_compile, dropout.steps_per_execution) == (
        2, False, 32)
    assert mlp.replace(architecture="mnist_cnn").steps_per_execution == 1
    chosen = mlp.replace(jit_compile=False, steps_per_execution=4)
    kept = chosen.replace(architecture="mlp:30,30+dropout")
    assert (kept.jit_compile, kept.steps_per_execution) == (False, 4)
    named = mlp.replace(architecture="mlp:30,30+dropout", jit_compile=True)
    assert (named.jit_compile, named.steps_per_execution) == (True, 32)


def test_profiles_are_consistent():
    teacher, scratch, distilled = hinton2015.hinton_configs(seed=2, profile="fast")
    assert distilled.teacher == teacher and teacher.jitter_pixels == 2
    assert scratch.architecture == distilled.architecture == "mlp:800,800"
    assert {c.profile for c in (teacher, scratch, distilled)} == {"fast"}
    with pytest.raises(ValueError, match="profile"):
        hinton2015.hinton_configs(profile="medium")


def test_transfer_classes_are_validated_and_normalised():
    config = NO_THREES.replace(transfer_classes=[9, 0, 1, 2, 4, 5, 6, 7, 8])
    assert config.transfer_classes == (0, 1, 2, 4, 5, 6, 7, 8, 9) and config == NO_THREES
    for bad in ([], [1, 1], [-1], "01", [1.5]):
        with pytest.raises(ValueError, match="RunConfig.transfer_classes"):
            NO_THREES.replace(transfer_classes=bad)
    with pytest.raises(ValueError, match="RunConfig.lr_schedule"):
        NO_THREES.replace(lr_schedule="step")


def test_the_cosine_schedule_decays_to_zero_over_all_epochs():
    optimizer = make_optimizer(TEACHER.replace(lr_schedule="cosine", epochs=4), 10)
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    optimizer.iterations.assign(20)
    assert float(optimizer.learning_rate) == pytest.approx(0.005, rel=1e-5)
    optimizer.iterations.assign(40)
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert float(make_optimizer(TEACHER, 10).learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "hot", None, True])
def test_bad_temperature_is_rejected_by_name(bad):
    with pytest.raises(ValueError, match="temperature"):
        check_temperature(bad)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "half", True])
def test_bad_alpha_is_rejected_by_name(bad):
    with pytest.raises(ValueError, match="alpha"):
        check_alpha(bad)


def test_knobs_change_the_run_and_none_keeps_the_profiles_value():
    from kd_lab.config import with_knobs

    base = RunConfig(role="scratch", epochs=20)
    assert with_knobs(base, {"epochs": None, "learning_rate": None}) is base
    changed = with_knobs(base, {"epochs": 5, "optimizer": "sgd", "jitter_pixels": None})
    assert (changed.epochs, changed.optimizer, changed.jitter_pixels) == (5, "sgd", 0)
    assert changed.run_id != base.run_id
    with pytest.raises(ValueError, match="knobs: seed, temperature cannot be set here"):
        with_knobs(base, {"temperature": 2.0, "seed": 1})
    with pytest.raises(ValueError, match="RunConfig.epochs must be a positive integer"):
        with_knobs(base, {"epochs": 0})


@pytest.mark.parametrize("field, bad, expected", [
    ("val_size", 0, "val_size must be an integer >= 1"), ("val_size", -1, "val_size"),
    ("val_size", 1.0, "val_size"), ("val_size", 1.5, "val_size"), ("val_size", "10%", "val_size"),
    ("train_limit", 0, "train_limit must be None"), ("train_limit", -5, "train_limit"),
    ("train_limit", 2.5, "train_limit"),
    ("seed", -1, r"seed must be an integer in \[0, 2\*\*32\)"), ("seed", 2**40, "seed"),
    ("seed", 1.5, "seed"), ("seed", True, "seed"),
    ("weight_decay", -1, "weight_decay must be a finite number >= 0"),
    ("weight_decay", float("nan"), "weight_decay"),
    ("momentum", -0.1, r"momentum must be a number in \[0, 1\)"), ("momentum", 1.0, "momentum"),
    ("jitter_pixels", -2, "jitter_pixels must be an integer >= 0"), ("jitter_pixels", 1.5, "jitter"),
    ("learning_rate", float("inf"), "learning_rate must be a finite number > 0"),
    ("epochs", True, "epochs must be a positive integer"),
])
def test_every_field_s_range_and_type_is_checked_by_name(field, bad, expected):
    with pytest.raises(ValueError, match=f"RunConfig.{expected}"):
        RunConfig(role="scratch", **{field: bad})


def test_valid_edge_values_are_accepted():
    RunConfig(role="scratch", val_size=0.1, train_limit=1, seed=2**32 - 1, momentum=0.0,
              weight_decay=0.0, jitter_pixels=0)


def test_combinations_and_names_are_checked_and_numpy_integers_kept_as_json_can():
    with pytest.raises(ValueError, match="RunConfig.momentum must be 0 with optimizer='adam'"):
        RunConfig(role="scratch", momentum=0.9)
    RunConfig(role="scratch", optimizer="sgd", momentum=0.9)
    for bad in ("nope", "mlp:8,x", "mlp:0"):
        with pytest.raises(ValueError, match="RunConfig.architecture must be"):
            RunConfig(role="scratch", architecture=bad)
    config = RunConfig(role="scratch", seed=np.int64(3), epochs=np.int32(4))
    assert type(config.seed) is int and type(config.epochs) is int
    assert config.run_id == RunConfig(role="scratch", seed=3, epochs=4).run_id


# -- the distillation loss a run names ------------------------------------------------------
def test_hinton_with_no_parameters_leaves_every_earlier_run_id_alone():
    distilled = DIGITS_DISTILLED.replace(loss="hinton", loss_params={})
    assert distilled.run_id == DIGITS_DISTILLED.run_id
    assert repr(distilled.make_loss()) == "HintonKD(temperature=4)"


def test_a_loss_and_its_parameters_split_run_ids_and_survive_json():
    decoupled = DIGITS_DISTILLED.replace(loss="decoupled",
                                         loss_params={"non_target_weight": 2.0})
    assert "-decoupled-" in decoupled.run_id and decoupled.run_id != DIGITS_DISTILLED.run_id
    assert decoupled.replace(loss_params={"non_target_weight": 8.0}).run_id != decoupled.run_id
    assert RunConfig.from_dict(json.loads(json.dumps(decoupled.to_dict()))) == decoupled
    assert decoupled.make_loss().temperature == decoupled.temperature


def test_label_smoothing_makes_a_scratch_run_a_control_on_its_own_loss():
    control = DIGITS_DISTILLED.replace(role="scratch", teacher=None, loss="label_smoothing",
                                       loss_params={"smoothing": 0.1})
    assert (control.alpha, control.temperature) == (0.0, 1.0)
    assert "-label_smoothing-" in control.run_id


@pytest.mark.parametrize("changes, match", [
    (dict(loss="nope"), "RunConfig.loss must be one of hinton"),
    (dict(loss="decoupled", loss_params={"beta": 1.0}), "unexpected keyword argument 'beta'"),
    (dict(loss="decoupled", loss_params={"temperature": 2.0}), "free of temperature"),
    (dict(loss="decoupled", loss_params={"non_target_weight": -1.0}), "non_target_weight must"),
    (dict(loss="label_smoothing"), "needs none: make it a role='scratch' run"),
    (dict(loss_params=[("smoothing",)]), "RunConfig.loss_params must be"),
])
def test_a_bad_loss_is_refused_when_the_config_is_made(changes, match):
    with pytest.raises(ValueError, match=match):
        DIGITS_DISTILLED.replace(**changes)
    with pytest.raises(ValueError, match="'hinton' without loss_params for a teacher"):
        DIGITS_TEACHER.replace(loss="decoupled")


def test_controls_are_named_in_run_ids_and_refused_where_they_cannot_apply():
    assert "-shuffled-" in DIGITS_DISTILLED.replace(soft_targets="shuffled").run_id
    regularised = DIGITS_DISTILLED.replace(architecture="mlp:8+dropout")
    assert "mlp8-dropout" in regularised.run_id and regularised.jit_compile is False
    with pytest.raises(ValueError, match="soft_targets must be 'teacher' unless"):
        DIGITS_TEACHER.replace(soft_targets="class_mean")
    with pytest.raises(ValueError, match="soft_targets must be 'teacher' unless"):
        DIGITS_DISTILLED.replace(soft_targets="shuffled", jitter_pixels=1)
    with pytest.raises(ValueError, match="soft_targets must be one of"):
        DIGITS_DISTILLED.replace(soft_targets="uniform")
    with pytest.raises(ValueError, match=r"optionally '\+dropout'"):
        DIGITS_DISTILLED.replace(architecture="mlp:8+batchnorm")


def test_jit_compile_is_a_switch_not_any_truthy_value():
    with pytest.raises(ValueError, match="RunConfig.jit_compile must be True, False or None"):
        DIGITS_DISTILLED.replace(jit_compile="yes")
    assert DIGITS_DISTILLED.replace(jit_compile=np.bool_(True)).jit_compile is True
