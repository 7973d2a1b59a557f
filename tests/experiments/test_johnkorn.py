"""johnkorn/distillation (EMNIST letters): the recipe, end to end on mock data, no mock left behind."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kd_experiments import johnkorn
from kd_lab import datasets, records, registry


def test_alpha_without_t2_keeps_the_published_ratio_of_hard_to_soft():
    alpha = johnkorn.alpha_without_t2(0.5, 10.0)
    assert alpha == pytest.approx(50 / 51)
    assert alpha / ((1 - alpha) * 10.0 ** 2) == pytest.approx(0.5)


def test_emnist_runs_end_to_end_on_mock_data_and_leaves_no_mock_behind(tmp_path):
    with johnkorn.mock_emnist_letters(examples_per_letter=8):
        rows = johnkorn.emnist_rows(seeds=[0], profile="fast", results_dir=tmp_path)
    assert rows["model"].tolist() == ["teacher", "scratch", "distilled"]
    assert not datasets.cached_splits()  # a later real load cannot be served mock images
    summary = records.read_summary(tmp_path)
    assert rows["test_accuracy"].tolist() == summary.set_index("run_id").loc[
        rows["run_id"], "test_accuracy"].tolist()  # each row is its run's record
    distilled = summary.set_index("role").loc["distilled"]
    assert distilled.architecture == "emnist_student" and distilled.test_count == 8 * 26
    claims = johnkorn.emnist_claims(None)
    assert claims["reported"].tolist() == ["94.4%", "91.6%", "92.2%"]
    assert claims["corrected_here"].str.startswith("not measured").all()
    assert (claims["seeds"] == 0).all()


def test_emnist_is_not_available_offline_without_a_local_copy(tmp_path):
    assert not johnkorn.emnist_available(data_dir=tmp_path)


@pytest.mark.slow  # trains on mock data; the end-to-end mock test above covers the everyday run
def test_the_emnist_experiment_falls_back_to_mock_data_and_writes_nothing(tmp_path):
    rows, claims = johnkorn.emnist_experiment(seeds=[0, 1], profile="full",
                                              results_dir=tmp_path, mock=True)
    assert (rows["data"] == "mock").all() and set(rows["seed"]) == {0}
    assert claims["corrected_here"].str.startswith("not measured").all()
    assert not list(tmp_path.iterdir())


def mock_examples(image_shape, labels):
    """A tfds `as_dataset_fn` yielding images whose pixel (0, 1) is bright and labels given."""
    def as_dataset(self, split, **kwargs):
        n = len(labels)
        images = np.zeros((n, *image_shape), np.uint8)
        images[:, 0, 1, :] = 255
        return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels.astype(np.int64)})
    return as_dataset


def test_emnist_letters_through_tfds_are_zero_based_and_upright():
    letters = np.arange(1, 27).repeat(4)  # EMNIST numbers letters 1..26
    with tfds.testing.mock_data(as_dataset_fn=mock_examples((28, 28, 1), letters)):
        splits = registry.load("emnist_letters", val_size=26)
    assert splits.num_classes == 26 and splits.input_shape == (28, 28, 1)
    assert splits.y_test.min() == 0 and splits.y_test.max() == 25
    # Transposed, in every split: the bright pixel moves from (0, 1) to (1, 0).
    for images in (splits.x_train, splits.x_val, splits.x_test):
        assert (images[:, 1, 0, 0] == 1.0).all() and (images[:, 0, 1, 0] == 0.0).all()


def test_emnist_letters_with_unexpected_labels_raise():
    with tfds.testing.mock_data(as_dataset_fn=mock_examples((28, 28, 1), np.arange(0, 26).repeat(2))):
        with pytest.raises(ValueError, match="expected the letters 1..26"):
            registry.load("emnist_letters", val_size=26)
