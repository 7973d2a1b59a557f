"""What a config's names stand for: a user's own data (arrays, tf.data.Datasets or a loader),
models and losses, registered under names of theirs."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import DIGITS_TEACHER

from kd_lab import datasets, records, registry, runner, sweep
from kd_lab.config import RunConfig
from kd_utils import models


def _arrays(n_train=240, n_test=60, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 6)) * 3
    y_train, y_test = rng.integers(0, 3, n_train), rng.integers(0, 3, n_test)
    x_train = (centres[y_train] + rng.normal(size=(n_train, 6))).astype("float32")
    x_test = (centres[y_test] + rng.normal(size=(n_test, 6))).astype("float32")
    return (x_train, y_train), (x_test, y_test)


@pytest.fixture
def blobs():
    yield _arrays()
    registry.unregister_dataset("blobs")


def test_arrays_datasets_and_loaders_give_the_same_splits(blobs):
    (x_train, y_train), (x_test, y_test) = blobs
    registry.register_dataset("blobs", blobs)
    from_arrays = registry.load("blobs", val_size=40)
    batched = (tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(64),
               tf.data.Dataset.from_tensor_slices((x_test, y_test)))
    registry.register_dataset("blobs", lambda: batched)
    from_datasets = registry.load("blobs", val_size=40)
    for split in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(from_arrays, split), getattr(from_datasets, split))
    assert from_arrays.num_classes == 3 and from_arrays.input_shape == (6,)
    assert len(from_arrays.x_val) == 40 and len(from_arrays.x_test) == 60
    assert "blobs" in registry.known_datasets()


def test_uint8_images_are_scaled_like_the_built_in_ones():
    images = np.full((20, 4, 4), 255, np.uint8)
    labels = np.arange(20) % 2
    registry.register_dataset("white", ((images, labels), (images[:4], labels[:4])))
    try:
        splits = registry.load("white", val_size=4)
        assert splits.x_train.shape[1:] == (4, 4, 1) and splits.x_train.max() == 1.0
    finally:
        registry.unregister_dataset("white")


@pytest.mark.parametrize(("name", "source", "kwargs", "match"), [
    ("mnist", None, {}, "must be a new name"),
    ("", None, {}, "must be letters, digits"),
    ("ok", None, {"num_classes": 1}, "num_classes must be None or an integer >= 2"),
])
def test_bad_registrations_are_refused(name, source, kwargs, match):
    with pytest.raises(ValueError, match=match):
        registry.register_dataset(name, source, **kwargs)


@pytest.mark.parametrize(("source", "match"), [
    (((np.zeros((5, 2)), np.zeros(4)), (np.zeros((2, 2)), np.zeros(2))), "one class id >= 0"),
    (((np.zeros((5, 2)), np.full(5, 0.5)), (np.zeros((2, 2)), np.zeros(2))), "one class id"),
    ((np.zeros(3),), r"expected \(\(x_train, y_train\), \(x_test, y_test\)\)"),
])
def test_bad_data_is_named_when_first_loaded(source, match):
    registry.register_dataset("broken", source)
    try:
        with pytest.raises(ValueError, match=f"dataset 'broken'.*{match}|{match}"):
            registry.load("broken", val_size=0)
    finally:
        registry.unregister_dataset("broken")


def test_a_config_needs_the_dataset_registered():
    with pytest.raises(ValueError, match="RunConfig.dataset must be one of .*register_dataset"):
        RunConfig(dataset="not_registered", role="teacher")


def test_registering_again_replaces_the_data_a_run_sees(blobs):
    registry.register_dataset("blobs", blobs)
    config = RunConfig(dataset="blobs", role="teacher", architecture="mlp:4", val_size=40)
    first = datasets.splits_for(config).x_train.copy()
    (x_train, y_train), test = blobs
    registry.register_dataset("blobs", ((x_train + 100, y_train), test))
    assert np.allclose(datasets.splits_for(config).x_train, first + 100)


def test_own_data_and_own_models_run_records_and_a_sweep_end_to_end(blobs, tmp_path):
    import keras

    def wide(input_shape, num_classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(32, "relu"),
                                 keras.layers.Dense(num_classes)])

    registry.register_dataset("blobs", blobs)
    registry.register_model("blob_teacher", wide)
    try:
        common = dict(dataset="blobs", epochs=3, val_size=40, batch_size=32, profile="fast",
                      learning_rate=0.01, jit_compile=False)
        teacher = RunConfig(role="teacher", architecture="blob_teacher", **common)
        template = RunConfig(role="distilled", architecture="mlp:4", teacher=teacher,
                             temperature=2.0, alpha=0.5, **common)
        rows = sweep.sweep(template, None, (1.0, 4.0), (0.5, 1.0), (0,), results_dir=tmp_path,
                           progress=False)
        assert len(rows) == 3 and (rows["dataset"] == "blobs").all()
        assert rows["test_count"].eq(60).all()
        summary = records.read_summary(tmp_path)
        assert set(summary["architecture"]) == {"blob_teacher", "mlp:4"}
        table = sweep.sweep_table(rows, (1.0, 4.0))
        assert len(table) == 4  # alpha = 1 trained once, shown in both T columns
        labels_alone = table[table["alpha"] == 1.0]["test_accuracy_mean"]
        assert labels_alone.nunique() == 1
        assert runner.run(teacher, results_dir=tmp_path, verbose=0).trained is False
        # Other data under the same name: its records are refused, not read back as its own.
        (x_train, y_train), test = blobs
        registry.register_dataset("blobs", ((x_train[::-1].copy(), y_train[::-1].copy()), test))
        with pytest.raises(ValueError, match="its record was made with other data than the "
                                             "dataset 'blobs' registered now"):
            runner.run(teacher, results_dir=tmp_path, verbose=0)
        with pytest.raises(ValueError, match="made with other data"):
            sweep.sweep(template, None, (1.0, 4.0), (0.5, 1.0), (0,), results_dir=tmp_path,
                        progress=False)
        registry.register_dataset("blobs", blobs)  # the same data again: read back
        assert runner.run(teacher, results_dir=tmp_path, verbose=0).trained is False
    finally:
        registry.BUILDERS.pop("blob_teacher", None)


@pytest.mark.parametrize("name", ["../../../x", "/tmp/abs", "a/b", "x/../../../../m", "", ".hidden",
                                  "mnist\\evil", "sp ace", None])
def test_names_are_names_never_paths(name):

    with pytest.raises(ValueError, match="register_dataset: name must be letters, digits"):
        registry.register_dataset(name, lambda: None)
    with pytest.raises(ValueError, match="register_model: name must be letters, digits"):
        registry.register_model(name, lambda **_: None)
    assert name not in registry.known_datasets() and name not in registry.BUILDERS


def test_a_loader_gets_the_arguments_it_names_and_one_naming_seed_draws_per_seed(tmp_path):
    calls = []

    def loader(data_dir, seed):
        calls.append((data_dir, seed))
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=(120, 3)).astype("float32"), np.arange(120) % 3
        return (x[:90], y[:90]), (x[90:], y[90:])

    registry.register_dataset("named_arguments", loader)
    registry.register_dataset("fixed", lambda: loader(None, 0))
    try:
        assert registry.draws_per_seed("named_arguments") and not registry.draws_per_seed("fixed")
        first = registry.load("named_arguments", data_dir=tmp_path, val_size=15, seed=4)
        assert calls == [(tmp_path, 4)]
        again = registry.load("named_arguments", data_dir=tmp_path, val_size=15, seed=4)
        other = registry.load("named_arguments", data_dir=tmp_path, val_size=15, seed=5)
        np.testing.assert_array_equal(first.x_test, again.x_test)
        assert not np.array_equal(first.x_test, other.x_test)
    finally:
        registry.unregister_dataset("named_arguments")
        registry.unregister_dataset("fixed")
    assert not registry.draws_per_seed("digits")


def test_text_labels_builders_of_the_wrong_signature_or_input_shape_are_named():
    x = np.zeros((20, 4), "float32")
    registry.register_dataset("text_labels", ((x, np.array(["a", "b"] * 10)), (x, np.zeros(20))))
    try:
        with pytest.raises(ValueError, match="train labels must be class ids 0..K-1 .*dtype <U1"):
            registry.load("text_labels", val_size=4)
    finally:
        registry.unregister_dataset("text_labels")

    registry.register_model("positional_only", lambda shape, classes: None)
    registry.register_model("fixed_input", lambda input_shape, num_classes: keras.Sequential(
        [keras.Input((7,)), keras.layers.Dense(num_classes)]))
    try:
        with pytest.raises(ValueError, match="builder must take the keywords input_shape= and "
                                             "num_classes="):
            registry.build("positional_only", (4,), 2)
        with pytest.raises(ValueError, match=r"inputs of shape \(7,\) for data of shape \(4,\)"):
            registry.build("fixed_input", (4,), 2)
    finally:
        registry.BUILDERS.pop("positional_only")
        registry.BUILDERS.pop("fixed_input")


# -- architectures ----------------------------------------------------------------------------
def test_every_builder_outputs_one_logit_per_class():
    for name in registry.BUILDERS:
        model = registry.build(name, input_shape=(32, 32, 3) if "cifar" in name or "alexnet" in name
                             else (2,) if name == "moons_mlp" else (28, 28, 1), num_classes=7)
        assert models.output_width(model) == 7, name
        assert not models.outputs_probabilities(model), name


def test_build_reads_mlp_specs_and_rejects_bad_ones():
    assert registry.build("mlp:800,800", (28, 28, 1), 10).count_params() == 1_276_810
    for bad in ("mlp:", "mlp:8,x", "mlp:0", "mlp:8,,8", "mlp:8+x", "resnet50"):
        with pytest.raises(ValueError, match="architecture"):
            registry.build(bad, (28, 28, 1), 10)


def test_a_registered_builder_is_an_architecture_like_the_built_in_ones():
    def two_layer(input_shape, num_classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                                 keras.layers.Dense(num_classes)])

    registry.register_model("two_layer_test", two_layer)
    try:
        model = registry.build("two_layer_test", (8, 8, 1), 10)
        assert model.count_params() == 64 * 10 + 10
        registry.register_model("not_a_model", lambda input_shape, num_classes: "model")
        with pytest.raises(ValueError, match="its builder returned str, expected a keras.Model"):
            registry.build("not_a_model", (2,), 2)
    finally:
        registry.BUILDERS.pop("two_layer_test", None)
        registry.BUILDERS.pop("not_a_model", None)


@pytest.mark.parametrize(("name", "builder", "match"), [
    ("mlp:3", lambda **k: None, "must be letters, digits"),
    ("", lambda **k: None, "must be letters, digits"),
    ("fine", "not callable", "builder must be a callable"),
])
def test_bad_model_registrations_are_refused(name, builder, match):
    with pytest.raises(ValueError, match=match):
        registry.register_model(name, builder)


def test_a_registered_builder_that_ignores_num_classes_is_refused_before_training():
    def ten_way(input_shape, num_classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                                 keras.layers.Dense(10)])

    registry.register_model("ten_way", ten_way)
    try:
        with pytest.raises(ValueError, match="'ten_way': its builder returned a model with 10 "
                                             "outputs for 3 classes"):
            registry.build("ten_way", (4,), num_classes=3)
        assert models.output_width(registry.build("ten_way", (4,), num_classes=10)) == 10
    finally:
        registry.BUILDERS.pop("ten_way")


def test_mixed_precision_computes_in_bfloat16_with_float32_logits_and_leaves_the_policy():
    model = registry.build("hinton_teacher", (28, 28, 1), 10, precision="mixed_bfloat16")
    hidden = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert hidden[0].compute_dtype == "bfloat16" and hidden[0].kernel.dtype == "float32"
    assert model(np.zeros((2, 28, 28, 1), "float32")).dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        registry.build("mlp:10", (28, 28, 1), 10, precision="float16")


def test_an_mlp_names_its_hidden_layers_and_can_carry_the_teachers_regularisers():
    plain = registry.build("mlp:30,30", (28, 28, 1), 10)
    assert [layer.name for layer in plain.layers if "hidden" in layer.name] == ["hidden_1",
                                                                                "hidden_2"]
    regularised = registry.build("mlp:30,30+dropout", (28, 28, 1), 10)
    dropouts = [layer.rate for layer in regularised.layers
                if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [0.2, 0.5, 0.5] and plain.count_params() == regularised.count_params()


def test_a_registered_builder_must_build_a_new_model_of_the_right_width_each_call():
    shared = models.mlp([4], input_shape=(6,), num_classes=3)
    registry.register_model("shared_builder", lambda input_shape, num_classes: shared)

    class Subclassed(keras.Model):
        def __init__(self, width):
            super().__init__()
            self.dense = keras.layers.Dense(width)

        def call(self, x):
            return self.dense(x)

    registry.register_model("unbuilt_builder", lambda input_shape, num_classes: Subclassed(5))
    try:
        registry.build("shared_builder", (6,), 3)
        with pytest.raises(ValueError, match="returned before; build a new model"):
            registry.build("shared_builder", (6,), 3)
        with pytest.raises(ValueError, match="5 outputs for 3 classes"):
            registry.build("unbuilt_builder", (6,), 3)
    finally:
        registry.BUILDERS.pop("shared_builder")
        registry.BUILDERS.pop("unbuilt_builder")


def test_a_registered_loss_is_a_config_loss_and_bad_ones_are_refused():
    from kd_utils.losses import HintonKD

    class Sharper(HintonKD):
        """Hinton's loss under another name."""

    registry.register_loss("sharper", Sharper)
    try:
        assert isinstance(registry.make_loss("sharper", temperature=3.0), Sharper)
        assert RunConfig(dataset="digits", role="distilled", architecture="mlp:16",
                         teacher=DIGITS_TEACHER, loss="sharper", temperature=3.0).run_id
        with pytest.raises(ValueError, match="loss 'sharper': .*unexpected keyword"):
            registry.make_loss("sharper", temperature=3.0, strength=2)
    finally:
        registry.LOSSES.pop("sharper")
    with pytest.raises(ValueError, match="register_loss: name must be letters"):
        registry.register_loss("a/b", Sharper)
    with pytest.raises(ValueError, match="is not a losses.DistillationLoss subclass"):
        registry.register_loss("plain", dict)
    with pytest.raises(ValueError, match="loss must be one of hinton"):
        registry.make_loss("nope")
