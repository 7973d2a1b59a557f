"""A user's own data: arrays, tf.data.Datasets or a loader, registered under a name of theirs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kd_lab import datasets, records, runner, sweep
from kd_lab.config import RunConfig
from kd_utils import data, models


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
    data.unregister_dataset("blobs")


def test_arrays_datasets_and_loaders_give_the_same_splits(blobs):
    (x_train, y_train), (x_test, y_test) = blobs
    data.register_dataset("blobs", blobs)
    from_arrays = data.load("blobs", val_size=40)
    batched = (tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(64),
               tf.data.Dataset.from_tensor_slices((x_test, y_test)))
    data.register_dataset("blobs", lambda: batched)
    from_datasets = data.load("blobs", val_size=40)
    for split in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(from_arrays, split), getattr(from_datasets, split))
    assert from_arrays.num_classes == 3 and from_arrays.input_shape == (6,)
    assert len(from_arrays.x_val) == 40 and len(from_arrays.x_test) == 60
    assert "blobs" in data.known_datasets()


def test_uint8_images_are_scaled_like_the_built_in_ones():
    images = np.full((20, 4, 4), 255, np.uint8)
    labels = np.arange(20) % 2
    data.register_dataset("white", ((images, labels), (images[:4], labels[:4])))
    try:
        splits = data.load("white", val_size=4)
        assert splits.x_train.shape[1:] == (4, 4, 1) and splits.x_train.max() == 1.0
    finally:
        data.unregister_dataset("white")


@pytest.mark.parametrize(("name", "source", "kwargs", "match"), [
    ("mnist", None, {}, "must be a new name"),
    ("", None, {}, "must be letters, digits"),
    ("ok", None, {"num_classes": 1}, "num_classes must be None or an integer >= 2"),
])
def test_bad_registrations_are_refused(name, source, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.register_dataset(name, source, **kwargs)


@pytest.mark.parametrize(("source", "match"), [
    (((np.zeros((5, 2)), np.zeros(4)), (np.zeros((2, 2)), np.zeros(2))), "one class id >= 0"),
    (((np.zeros((5, 2)), np.full(5, 0.5)), (np.zeros((2, 2)), np.zeros(2))), "one class id"),
    ((np.zeros(3),), r"expected \(\(x_train, y_train\), \(x_test, y_test\)\)"),
])
def test_bad_data_is_named_when_first_loaded(source, match):
    data.register_dataset("broken", source)
    try:
        with pytest.raises(ValueError, match=f"dataset 'broken'.*{match}|{match}"):
            data.load("broken", val_size=0)
    finally:
        data.unregister_dataset("broken")


def test_a_config_needs_the_dataset_registered():
    with pytest.raises(ValueError, match="RunConfig.dataset must be one of .*register_dataset"):
        RunConfig(dataset="not_registered", role="teacher")


def test_registering_again_replaces_the_data_a_run_sees(blobs):
    data.register_dataset("blobs", blobs)
    config = RunConfig(dataset="blobs", role="teacher", architecture="mlp:4", val_size=40)
    first = datasets.splits_for(config).x_train.copy()
    (x_train, y_train), test = blobs
    data.register_dataset("blobs", ((x_train + 100, y_train), test))
    assert np.allclose(datasets.splits_for(config).x_train, first + 100)


def test_own_data_and_own_models_run_records_and_a_sweep_end_to_end(blobs, tmp_path):
    import keras

    def wide(input_shape, num_classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(32, "relu"),
                                 keras.layers.Dense(num_classes)])

    data.register_dataset("blobs", blobs)
    models.register_model("blob_teacher", wide)
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
    finally:
        models.BUILDERS.pop("blob_teacher", None)


@pytest.mark.parametrize("name", ["../../../x", "/tmp/abs", "a/b", "x/../../../../m", "", ".hidden",
                                  "mnist\\evil", "sp ace", None])
def test_names_are_names_never_paths(name):
    from kd_utils import models

    with pytest.raises(ValueError, match="register_dataset: name must be letters, digits"):
        data.register_dataset(name, lambda: None)
    with pytest.raises(ValueError, match="register_model: name must be letters, digits"):
        models.register_model(name, lambda **_: None)
    assert name not in data.known_datasets() and name not in models.BUILDERS


def test_a_loader_gets_the_arguments_it_names_and_one_naming_seed_draws_per_seed(tmp_path):
    calls = []

    def loader(data_dir, seed):
        calls.append((data_dir, seed))
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=(120, 3)).astype("float32"), np.arange(120) % 3
        return (x[:90], y[:90]), (x[90:], y[90:])

    data.register_dataset("named_arguments", loader)
    data.register_dataset("fixed", lambda: loader(None, 0))
    try:
        assert data.draws_per_seed("named_arguments") and not data.draws_per_seed("fixed")
        first = data.load("named_arguments", data_dir=tmp_path, val_size=15, seed=4)
        assert calls == [(tmp_path, 4)]
        again = data.load("named_arguments", data_dir=tmp_path, val_size=15, seed=4)
        other = data.load("named_arguments", data_dir=tmp_path, val_size=15, seed=5)
        np.testing.assert_array_equal(first.x_test, again.x_test)
        assert not np.array_equal(first.x_test, other.x_test)
    finally:
        data.unregister_dataset("named_arguments")
        data.unregister_dataset("fixed")
    assert not data.draws_per_seed("digits")


def test_text_labels_builders_of_the_wrong_signature_or_input_shape_are_named():
    x = np.zeros((20, 4), "float32")
    data.register_dataset("text_labels", ((x, np.array(["a", "b"] * 10)), (x, np.zeros(20))))
    try:
        with pytest.raises(ValueError, match="train labels must be class ids 0..K-1 .*dtype <U1"):
            data.load("text_labels", val_size=4)
    finally:
        data.unregister_dataset("text_labels")

    models.register_model("positional_only", lambda shape, classes: None)
    models.register_model("fixed_input", lambda input_shape, num_classes: keras.Sequential(
        [keras.Input((7,)), keras.layers.Dense(num_classes)]))
    try:
        with pytest.raises(ValueError, match="builder must take the keywords input_shape= and "
                                             "num_classes="):
            models.build("positional_only", (4,), 2)
        with pytest.raises(ValueError, match=r"inputs of shape \(7,\) for data of shape \(4,\)"):
            models.build("fixed_input", (4,), 2)
    finally:
        models.BUILDERS.pop("positional_only")
        models.BUILDERS.pop("fixed_input")
