"""Model builders (the library's and those the experiments register): parameter counts as their
docstrings state them, logits out, spec strings."""

import re

import keras
import numpy as np
import pytest

from kd_experiments import johnkorn, pratt2762, tsitsimis
from kd_utils import models

# (builder, kwargs, the text in its docstring that precedes the count)
CASES = [
    (models.hinton_teacher, {}, "Parameters: "),
    (models.mlp, dict(hidden=[800, 800]), "784-800-800-10: "),
    (models.mlp, dict(hidden=[400]), "784-400-10: "),
    (models.mlp, dict(hidden=[30, 30]), "784-30-30-10: "),
    (models.mlp, dict(hidden=[10]), "784-10-10: "),
    (models.mlp, dict(hidden=[512], num_classes=26), "784-512-26: "),
    (models.mlp, dict(hidden=[128, 128], input_shape=(2,), num_classes=2), "2-128-128-2: "),
    (models.mnist_cnn, {}, "Parameters: "),
    # The experiments' own models, registered by their modules
    (tsitsimis.conv_dense_teacher, {}, "Parameters: "),
    (johnkorn.emnist_cnn, {}, "Parameters: "),
    (johnkorn.emnist_student, {}, "Parameters: "),
    (pratt2762.cifar_student, {}, "Parameters: "),
    (pratt2762.cifar_student, dict(input_shape=(28, 28, 1)), "; "),
    (pratt2762.alexnet_teacher, {}, "Parameters: "),
    (pratt2762.alexnet_teacher_small, {}, "Parameters: "),
    (tsitsimis.moons_mlp, {}, "Parameters: "),
]


def documented_count(builder, prefix):
    match = re.search(re.escape(prefix) + r"([\d,]+)", builder.__doc__)
    assert match, f"{builder.__name__}'s docstring has no count after {prefix!r}"
    return int(match.group(1).replace(",", ""))


@pytest.mark.parametrize("builder,kwargs,prefix", CASES,
                         ids=[f"{b.__name__}-{i}" for i, (b, _, _) in enumerate(CASES)])
def test_parameter_count_matches_docstring(builder, kwargs, prefix):
    model = builder(**kwargs)
    assert model.count_params() == documented_count(builder, prefix)
    assert not models.outputs_probabilities(model)


def test_the_paper_and_issue_counts():
    assert models.mlp([10]).count_params() == 7_960
    assert models.mnist_cnn().count_params() == 64_570
    assert johnkorn.emnist_cnn().count_params() == 3_378_970


def test_every_builder_outputs_one_logit_per_class():
    for name in models.BUILDERS:
        model = models.build(name, input_shape=(32, 32, 3) if "cifar" in name or "alexnet" in name
                             else (2,) if name == "moons_mlp" else (28, 28, 1), num_classes=7)
        assert models.output_width(model) == 7, name
        assert not models.outputs_probabilities(model), name


def test_build_reads_mlp_specs_and_rejects_bad_ones():
    assert models.build("mlp:800,800", (28, 28, 1), 10).count_params() == 1_276_810
    for bad in ("mlp:", "mlp:8,x", "mlp:0", "resnet50"):
        with pytest.raises(ValueError, match="architecture"):
            models.build(bad, (28, 28, 1), 10)


def test_a_registered_builder_is_an_architecture_like_the_built_in_ones():
    import keras

    def two_layer(input_shape, num_classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                                 keras.layers.Dense(num_classes)])

    models.register_model("two_layer_test", two_layer)
    try:
        model = models.build("two_layer_test", (8, 8, 1), 10)
        assert model.count_params() == 64 * 10 + 10
        models.register_model("not_a_model", lambda input_shape, num_classes: "model")
        with pytest.raises(ValueError, match="its builder returned str, expected a keras.Model"):
            models.build("not_a_model", (2,), 2)
    finally:
        models.BUILDERS.pop("two_layer_test", None)
        models.BUILDERS.pop("not_a_model", None)


@pytest.mark.parametrize(("name", "builder", "match"), [
    ("mlp:3", lambda **k: None, "must be letters, digits"),
    ("", lambda **k: None, "must be letters, digits"),
    ("fine", "not callable", "builder must be a callable"),
])
def test_bad_model_registrations_are_refused(name, builder, match):
    with pytest.raises(ValueError, match=match):
        models.register_model(name, builder)


def test_a_registered_builder_that_ignores_num_classes_is_refused_before_training():
    import keras

    def ten_way(input_shape, num_classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                                 keras.layers.Dense(10)])

    models.register_model("ten_way", ten_way)
    try:
        with pytest.raises(ValueError, match="'ten_way': its builder returned a model with 10 "
                                             "outputs for 3 classes"):
            models.build("ten_way", (4,), num_classes=3)
        assert models.output_width(models.build("ten_way", (4,), num_classes=10)) == 10
    finally:
        models.BUILDERS.pop("ten_way")


def test_mixed_precision_computes_in_bfloat16_with_float32_logits_and_leaves_the_policy():
    model = models.build("hinton_teacher", (28, 28, 1), 10, precision="mixed_bfloat16")
    hidden = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert hidden[0].compute_dtype == "bfloat16" and hidden[0].kernel.dtype == "float32"
    assert model(np.zeros((2, 28, 28, 1), "float32")).dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        models.build("mlp:10", (28, 28, 1), 10, precision="float16")


def test_an_mlp_names_its_hidden_layers_and_can_carry_the_teachers_regularisers():
    plain = models.build("mlp:30,30", (28, 28, 1), 10)
    assert [layer.name for layer in plain.layers if "hidden" in layer.name] == ["hidden_1",
                                                                                "hidden_2"]
    regularised = models.build("mlp:30,30+dropout", (28, 28, 1), 10)
    dropouts = [layer.rate for layer in regularised.layers
                if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [0.2, 0.5, 0.5] and plain.count_params() == regularised.count_params()


def test_a_registered_builder_must_build_a_new_model_of_the_right_width_each_call():
    shared = models.mlp([4], input_shape=(6,), num_classes=3)
    models.register_model("shared_builder", lambda input_shape, num_classes: shared)

    class Subclassed(keras.Model):
        def __init__(self, width):
            super().__init__()
            self.dense = keras.layers.Dense(width)

        def call(self, x):
            return self.dense(x)

    models.register_model("unbuilt_builder", lambda input_shape, num_classes: Subclassed(5))
    try:
        models.build("shared_builder", (6,), 3)
        with pytest.raises(ValueError, match="returned before; build a new model"):
            models.build("shared_builder", (6,), 3)
        with pytest.raises(ValueError, match="5 outputs for 3 classes"):
            models.build("unbuilt_builder", (6,), 3)
    finally:
        models.BUILDERS.pop("shared_builder")
        models.BUILDERS.pop("unbuilt_builder")
