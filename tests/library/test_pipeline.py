"""tf.data pipelines: batches, cached logits, label checks, and the per-epoch jitter."""

import numpy as np
import pytest
import tensorflow as tf

from kd_utils import pipeline


def test_jitter_shifts_each_image_by_at_most_two_pixels():
    rng = np.random.default_rng(0)
    images = np.zeros((64, 28, 28, 1), np.float32)
    images[:, 4:24, 4:24, :] = rng.random((64, 20, 20, 1))  # a 4-pixel empty border
    jittered = pipeline.jitter(tf.constant(images), 2, seed=tf.constant([1, 2])).numpy()
    shifts = set()
    for original, moved in zip(images, jittered, strict=True):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(np.roll(original, (dy, dx), axis=(0, 1)), moved)]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 5  # each image draws its own shift
    np.testing.assert_array_equal(pipeline.jitter(tf.constant(images), 0), images)


def batch_shifts(dataset):
    """The (row, column) shift of every image of one pass, found from its bright square."""
    return [tuple(np.argwhere(image[..., 0] > 0).min(axis=0) - 10)
            for batch in dataset for image in batch[0].numpy()]


def test_jitter_draws_new_shifts_every_epoch_reproducibly():
    images = np.zeros((64, 28, 28, 1), np.float32)
    images[:, 10:18, 10:18] = 1.0
    labels = np.zeros(64, np.int32)
    dataset = pipeline.make_dataset(images, labels, batch_size=16, jitter_pixels=2, seed=7)
    first, second = batch_shifts(dataset), batch_shifts(dataset)
    assert first != second  # each epoch jitters anew, as Hinton et al. did
    assert all(-2 <= dy <= 2 and -2 <= dx <= 2 for dy, dx in first + second)
    again = pipeline.make_dataset(images, labels, batch_size=16, jitter_pixels=2, seed=7)
    assert batch_shifts(again) == first and batch_shifts(again) == second  # same seed, same run


def test_make_dataset_batches_and_checks():
    x = np.zeros((10, 4), np.float32)
    y = np.arange(10) % 3
    batches = list(pipeline.make_dataset(x, y, teacher_logits=np.ones((10, 3)), batch_size=4))
    # (inputs, labels), the cached logits inside the inputs: Keras' third slot stays free
    assert [len(b) for b in batches] == [2, 2, 2]
    assert [len(b[0]["inputs"]) for b in batches] == [4, 4, 2]
    assert [b[0]["teacher_logits"].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        pipeline.make_dataset(x, y, num_classes=2)
    with pytest.raises(ValueError, match="cannot be cached when jitter_pixels > 0"):
        pipeline.make_dataset(np.zeros((10, 28, 28, 1)), y, teacher_logits=np.ones((10, 3)), jitter_pixels=2)
    with pytest.raises(ValueError, match="x has 10 examples but y has 9"):
        pipeline.make_dataset(x, y[:9])


def test_datasets_run_without_autotuning_and_give_the_autotuned_batches():
    """Autotuning made the teacher's epochs slower on 2 cores (`benchmarks/teacher_speed.py`);
    turning it off must not change a batch or its order."""
    rng = np.random.default_rng(0)
    images = rng.random((96, 28, 28, 1)).astype(np.float32)
    labels = rng.integers(0, 10, 96)
    def make():
        return pipeline.make_dataset(images, labels, batch_size=16, shuffle=True, seed=3,
                                     jitter_pixels=2)

    dataset = make()
    assert dataset.options().autotune.enabled is False
    options = tf.data.Options()
    options.autotune.enabled = True
    autotuned = make().with_options(options)  # its own shuffle and jitter streams, as a run's
    for _ in range(2):  # two epochs: the reshuffles and the jitter draws agree too
        for ours, theirs in zip(dataset, autotuned, strict=True):
            np.testing.assert_array_equal(ours[0], theirs[0])
            np.testing.assert_array_equal(ours[1], theirs[1])
