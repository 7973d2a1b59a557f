"""Data: the IDX reader, checksums and errors, where files are found, splits, tfds paths."""

import gzip
import shutil

import numpy as np
import pytest
from helpers import DIGITS_TEACHER

from kd_utils import data
from kd_utils import data as idx

TEACHER = DIGITS_TEACHER


# -- bias shift: golden values -------------------------------------------------------------
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def write_idx(path, array, compress=True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(payload)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trips_a_small_file(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"images{suffix}", images, compress)
    write_idx(tmp_path / f"labels{suffix}", labels, compress)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / f"images{suffix}"), images)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / f"labels{suffix}"), labels)


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    write_idx(tmp_path / "full.gz", np.zeros((4, 5, 5), np.uint8))
    raw = gzip.decompress((tmp_path / "full.gz").read_bytes())
    (tmp_path / "short").write_bytes(raw[:-7])
    with pytest.raises(data.DataFileError, match=r"short is truncated .* shape \(4, 5, 5\)"):
        idx.read_idx(tmp_path / "short")
    (tmp_path / "cut.gz").write_bytes((tmp_path / "full.gz").read_bytes()[:30])
    with pytest.raises(data.DataFileError, match="cut.gz"):
        idx.read_idx(tmp_path / "cut.gz")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(data.DataFileError, match="bad magic number"):
        idx.read_idx(tmp_path / "text")


@pytest.fixture
def mnist_copy(tmp_path, require_mnist):
    source = data.find_idx_files("mnist")
    folder = tmp_path / "copy" / "mnist"
    folder.mkdir(parents=True)
    for name, path in source.items():
        shutil.copy(path, folder / name)
    return folder


def test_corrupted_file_raises_naming_file_and_expected_checksum(mnist_copy):
    labels = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    blob = bytearray(labels.read_bytes())
    blob[100] ^= 0xFF
    labels.write_bytes(bytes(blob))
    with pytest.raises(data.DataFileError) as err:
        data.load("mnist", data_dir=mnist_copy.parent)
    message = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in message and str(mnist_copy) in message
    assert "ec29112dd5afa0611ce80d1b7f02629c" in message  # the published md5


def test_missing_file_is_named_with_its_checksum(mnist_copy):
    (mnist_copy / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(data.DataFileError, match="train-images-idx3-ubyte.gz is missing from .*"
                       "f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        data.load("mnist", data_dir=mnist_copy)


def test_no_data_anywhere_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path / "repo")
    (tmp_path / "arg").mkdir()
    with pytest.raises(data.DataFileError) as err:
        data.load("fashion_mnist", data_dir=tmp_path / "arg", download=False)
    message = str(err.value)
    for place in ("arg", "env", "repo"):
        assert str(tmp_path / place) in message
    assert "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in message and "KD_DATA_DIR" in message


@pytest.mark.parametrize("where", ["missing", "", "a-file"])
def test_a_data_dir_that_is_not_a_folder_is_refused_not_passed_over(where, tmp_path):
    if where == "a-file":
        (tmp_path / where).write_text("")
    with pytest.raises(ValueError, match="data_dir must be an existing folder"):
        data.load("digits", data_dir=tmp_path / where if where else "")


def test_data_dir_argument_takes_precedence_over_the_environment(mnist_copy, tmp_path, monkeypatch):
    broken = tmp_path / "broken" / "mnist"
    broken.mkdir(parents=True)
    (broken / "train-images-idx3-ubyte.gz").write_bytes(b"not mnist")
    monkeypatch.setenv("KD_DATA_DIR", str(broken.parent))
    assert data.find_idx_files("mnist", data_dir=mnist_copy)["train-images-idx3-ubyte.gz"].parent == mnist_copy
    with pytest.raises(data.DataFileError, match="has md5"):
        data.find_idx_files("mnist")


def test_mnist_splits_match_the_published_counts(require_mnist):
    splits = data.load("mnist")
    assert splits.x_train.shape == (55000, 28, 28, 1) and splits.x_val.shape == (5000, 28, 28, 1)
    assert splits.x_test.shape == (10000, 28, 28, 1) and splits.input_shape == (28, 28, 1)
    assert splits.x_train.dtype == np.float32 and 0.0 <= splits.x_train.min() < splits.x_train.max() <= 1.0
    train_and_val = np.bincount(splits.y_train, minlength=10) + np.bincount(splits.y_val, minlength=10)
    assert train_and_val.tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(splits.y_test).tolist() == MNIST_TEST_COUNTS
    # Stratified: every class holds its share of the validation split, to within one image.
    expected_val = np.array(MNIST_TRAIN_COUNTS) * 5000 / 60000
    assert np.abs(np.bincount(splits.y_val) - expected_val).max() <= 1


def test_validation_split_is_fixed_and_disjoint_from_training(require_mnist):
    first, second = data.load("mnist"), data.load("mnist")
    np.testing.assert_array_equal(first.x_val, second.x_val)
    train_keys = {hash(image.tobytes()) for image in first.x_train}
    overlap = sum(hash(image.tobytes()) in train_keys for image in first.x_val)
    assert overlap <= 2  # allows a rare duplicate image; a leaked split would give thousands
    other_seed = data.load("mnist", seed=1)
    assert not np.array_equal(first.y_val, other_seed.y_val)


def test_fashion_mnist_has_six_thousand_images_per_class(require_mnist):
    splits = data.load("fashion_mnist", val_size=0.1)
    counts = np.bincount(splits.y_train) + np.bincount(splits.y_val)
    assert counts.tolist() == [6000] * 10 and np.bincount(splits.y_test).tolist() == [1000] * 10


def test_digits_need_no_files():
    digits = data.load("digits", val_size=200)
    assert digits.input_shape == (8, 8, 1) and digits.num_classes == 10
    assert len(digits.x_train) + len(digits.x_val) + len(digits.x_test) == 1797


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load("imagenet")


# -- bad data: named when it is loaded, before any training ------------------------------------
def _arrays(x_train, y_train):
    """(train, test) for `data.from_arrays`: the given training part, a test part of its classes."""
    rng = np.random.default_rng(0)
    x_test, y_test = rng.normal(size=(20, 4)).astype("float32"), np.resize(np.unique(y_train), 20)
    return (x_train, y_train), (x_test, y_test)


@pytest.mark.parametrize("change, match", [
    (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), y),
     "training inputs hold 1 NaN or infinite values"),
    (lambda x, y: (x, np.zeros_like(y)), "training labels hold 1 class; a classifier needs at least 2"),
])
def test_non_finite_inputs_and_a_single_class_are_named_when_loaded(change, match):
    rng = np.random.default_rng(1)
    x, y = change(rng.normal(size=(60, 4)).astype("float32"), np.arange(60) % 3)
    with pytest.raises(ValueError, match=match):
        data.from_arrays("bad_data", *_arrays(x, y), val_size=6)


@pytest.mark.parametrize("val_size", [60, 58, 100, 0.99])
def test_a_validation_split_that_leaves_nothing_to_train_on_is_refused(val_size):
    rng = np.random.default_rng(2)
    small = _arrays(rng.normal(size=(60, 4)).astype("float32"), np.arange(60) % 3)
    with pytest.raises(ValueError, match=f"val_size={val_size!r} must leave examples"):
        data.from_arrays("small", *small, val_size=val_size)
    assert len(data.from_arrays("small", *small, val_size=6).x_val) == 6


def test_a_validation_split_smaller_than_the_classes_or_of_the_wrong_type_is_named():
    rng = np.random.default_rng(3)
    tiny = _arrays(rng.normal(size=(60, 4)).astype("float32"), np.arange(60) % 3)
    with pytest.raises(ValueError, match="val_size=1 is too small to hold one example of each"):
        data.from_arrays("tiny_val", *tiny, val_size=1)
    with pytest.raises(ValueError, match="val_size must be a number of examples"):
        data.from_arrays("tiny_val", *tiny, val_size="10")


@pytest.mark.parametrize("y_train, match", [
    (np.arange(60) % 3 + 1, r"the training part lacks \[0\]"),
    (np.where(np.arange(60) % 3 == 1, 5, np.arange(60) % 3), r"lacks \[1, 3, 4\]"),
])
def test_labels_that_are_not_0_to_k_minus_1_are_named(y_train, match):
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match=match):
        data.from_arrays("odd_labels", *_arrays(rng.normal(size=(60, 4)).astype("float32"),
                                                y_train), val_size=6)


def test_a_class_with_one_training_example_is_named_before_the_split():
    x, y = np.zeros((21, 3), "float32"), np.array([0] * 10 + [1] * 10 + [2])
    with pytest.raises(ValueError, match="class 2 has one training example"):
        data.split_validation(x, y, 6)
