"""The data a run trains on: one load per process, a fresh draw per seed for a sampled dataset,
and tensorflow-datasets loading (on tfds' mock data: nothing is downloaded)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kd_lab import datasets, registry
from kd_lab.config import RunConfig
from kd_utils import data


def test_each_seed_draws_its_own_sample_but_real_datasets_keep_one_split():
    def blobs(seed):
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=(300, 2)).astype("float32"), np.arange(300) % 2
        return (x[:200], y[:200]), (x[200:], y[200:])

    registry.register_dataset("seeded_blobs", blobs)
    try:
        config = RunConfig(dataset="seeded_blobs", role="teacher", architecture="mlp:8",
                           val_size=40)
        first, second = (datasets.splits_for(config.replace(seed=seed)) for seed in (0, 1))
        assert not np.array_equal(first.x_test, second.x_test)
        np.testing.assert_array_equal(first.x_test, datasets.splits_for(config).x_test)
        assert len(first.x_train) == 160 and len(first.x_val) == 40
    finally:
        registry.unregister_dataset("seeded_blobs")
    digits = RunConfig(dataset="digits", role="teacher", architecture="mlp:8", val_size=200)
    np.testing.assert_array_equal(datasets.splits_for(digits).x_val,
                                  datasets.splits_for(digits.replace(seed=5)).x_val)
    assert datasets.cached_splits() > 0
    datasets.clear_caches()
    assert datasets.cached_splits() == 0


def test_train_limit_and_transfer_classes_cut_the_training_part_only():
    config = RunConfig(dataset="digits", role="teacher", architecture="mlp:8", val_size=200)
    whole = datasets.splits_for(config)
    limited = datasets.splits_for(config.replace(train_limit=100))
    assert len(limited.x_train) == 100 and len(limited.x_test) == len(whole.x_test)
    kept = datasets.splits_for(config.replace(transfer_classes=(0, 1)))
    assert set(np.unique(kept.y_train)) == {0, 1} and set(np.unique(kept.y_val)) == {0, 1}
    assert len(np.unique(kept.y_test)) == 10


def test_load_tfds_gives_numpy_train_and_test_parts():
    with tfds.testing.mock_data(num_examples=40):
        (x_train, y_train), (x_test, y_test) = datasets.load_tfds("cifar10")
    assert x_train.shape[1:] == (32, 32, 3) and x_train.dtype == np.uint8
    assert len(x_train) == len(y_train) == 40 and len(x_test) == len(y_test)


def test_keep_classes_drops_train_and_val_examples_but_keeps_the_test_set():
    splits = data.load("digits", val_size=200)
    kept = datasets.keep_classes(splits, [0, 1, 2, 4, 5, 6, 7, 8, 9])
    assert 3 not in kept.y_train and 3 not in kept.y_val
    assert len(kept.y_train) == (splits.y_train != 3).sum()
    assert np.array_equal(kept.y_test, splits.y_test) and 3 in kept.y_test
    with pytest.raises(ValueError, match=r"transfer_classes must be class ids in \[0, 10\)"):
        datasets.keep_classes(splits, [3, 10])
