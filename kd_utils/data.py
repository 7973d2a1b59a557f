"""Datasets for the distillation lab: where their files are, loading them, validation splits.

`load(name)` returns a `Splits` of numpy arrays: train, validation (carved from the
training set with a fixed seed) and test. The test set is only ever used for reporting;
model selection (epochs, T, alpha) uses the validation split.

Where files come from, in this order:
1. the `data_dir` argument,
2. the `$KD_DATA_DIR` environment variable,
3. the repository's `data/` folder,
4. the library's normal download path (keras / tensorflow-datasets), for users online.

MNIST and Fashion-MNIST are read from the official gzip IDX files with numpy and their md5
is checked against the published checksums. EMNIST Letters and CIFAR-10 go through
tensorflow-datasets. `digits` (scikit-learn's bundled 8x8 digits) and `moons`
(`make_moons`) need no files. `register_dataset(name, source)` adds a user's own (arrays, a
`tf.data.Dataset` pair, or a loader). `splits_for(config)` loads a run's splits once per process.
The tf.data pipelines (batches, jitter, label checks) are in `pipeline.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import user_data
from .idx import IDX_FILES, DataFileError, read_idx
from .idx import find_idx_files as _find_in
from .user_data import register_dataset  # noqa: F401  (data.register_dataset reads naturally)

REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

NUM_CLASSES = {
    "mnist": 10,
    "fashion_mnist": 10,
    "emnist_letters": 26,
    "cifar10": 10,
    "digits": 10,
    "moons": 2,
}
DATASETS = tuple(NUM_CLASSES)  # the built-in ones; `known_datasets()` adds the registered
SAMPLED_DATASETS = ("moons",)  # drawn from a seed: `splits_for` draws one per run seed

# 5,000 of MNIST's 60,000 training images: large enough that one error is 0.02% of
# validation accuracy, small enough to leave 55,000 for training.
DEFAULT_VAL_SIZE = 5000


@dataclass(frozen=True)
class Splits:
    """Train / validation / test arrays of one dataset. Images are float32 in [0, 1]."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def limit_train(self, n: int | None) -> Splits:
        """The same splits with only the first `n` training examples (for FAST profiles)."""
        if n is None or n >= len(self.x_train):
            return self
        return Splits(self.name, self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                      self.x_test, self.y_test, self.num_classes)

    def keep_classes(self, classes) -> Splits:
        """Training and validation examples of `classes` only; the test set keeps every class.

        This is the transfer set of Hinton et al.'s omitted-class experiments (section 3): the
        student never sees the other classes, and is tested on all of them.
        """
        classes = np.asarray(sorted(set(int(c) for c in classes)))
        if len(classes) == 0 or classes.min() < 0 or classes.max() >= self.num_classes:
            raise ValueError(f"transfer_classes must be class ids in [0, {self.num_classes}) of "
                             f"{self.name}; got {classes.tolist()}")
        train, val = np.isin(self.y_train, classes), np.isin(self.y_val, classes)
        return Splits(self.name, self.x_train[train], self.y_train[train], self.x_val[val],
                      self.y_val[val], self.x_test, self.y_test, self.num_classes)


def candidate_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for dataset files, in order of precedence."""
    dirs = []
    if data_dir is not None:
        dirs.append(Path(data_dir))
    if os.environ.get("KD_DATA_DIR"):
        dirs.append(Path(os.environ["KD_DATA_DIR"]))
    dirs.append(REPO_DATA_DIR)
    return dirs


def find_idx_files(name: str, data_dir: str | Path | None = None) -> dict[str, Path] | None:
    """The verified IDX files of `name` in the first of `candidate_dirs(data_dir)` holding them."""
    return _find_in(name, candidate_dirs(data_dir))



def _load_idx_dataset(name: str, data_dir, download: bool):
    paths = find_idx_files(name, data_dir)
    if paths is not None:
        arrays = {fname: read_idx(path) for fname, path in paths.items()}
        return (
            (arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]),
            (arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]),
        )
    looked = ", ".join(str(d) for d in candidate_dirs(data_dir))
    missing = ", ".join(f"{f} (md5 {m})" for f, m in IDX_FILES[name].items())
    message = (f"{name}: no data files found. Looked in {looked} (each directly and in a "
               f"'{name}/' subfolder) for {missing}. Set KD_DATA_DIR or pass data_dir=...")
    if not download:
        raise DataFileError(message)
    try:  # keras' own loader downloads and checks its own hash (needs internet)
        import keras

        return getattr(keras.datasets, name).load_data()
    except Exception as err:  # offline or blocked: say where we looked, and why it failed
        raise DataFileError(f"{message}; the keras download failed too: {err}") from err


def _load_tfds(tfds_name: str, data_dir, download: bool):
    import tensorflow_datasets as tfds

    tfds_dir = next((str(d) for d in candidate_dirs(data_dir) if d.exists()), None)
    splits = tfds.load(tfds_name, split=["train", "test"], as_supervised=True, data_dir=tfds_dir,
                       download=download)

    def to_numpy(ds):
        # Fixed-size batches, not batch_size=-1: that batches by the dataset's cardinality, and
        # TensorFlow aborts the process when the cardinality is unknown (as for generated data).
        batches = list(tfds.as_numpy(ds.batch(4096)))
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    return tuple(to_numpy(ds) for ds in splits)


def _load_emnist_letters(data_dir, download):
    (x_train, y_train), (x_test, y_test) = _load_tfds("emnist/letters", data_dir, download)
    for split, labels in (("train", y_train), ("test", y_test)):
        if labels.min() < 1 or labels.max() > 26:
            raise ValueError(f"emnist_letters {split} labels span {labels.min()}..{labels.max()}, "
                             "expected the letters 1..26")
    # EMNIST stores letters transposed relative to MNIST, and numbers them from 1.
    return ((x_train.transpose(0, 2, 1, 3), y_train - 1),
            (x_test.transpose(0, 2, 1, 3), y_test - 1))


def _load_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0 * 255.0).astype(np.uint8)  # to the 0..255 scale of the others
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, stratify=digits.target, random_state=0)
    return (x_train, y_train), (x_test, y_test)


def _load_moons(seed: int, n_samples: int = 3000, noise: float = 0.3):
    from sklearn.datasets import make_moons
    from sklearn.model_selection import train_test_split

    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed)
    return (x_train.astype(np.float32), y_train), (x_test.astype(np.float32), y_test)


def _as_images(x: np.ndarray) -> np.ndarray:
    """uint8 images of shape (N, H, W) or (N, H, W, C) to float32 in [0, 1], channels last."""
    x = x.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def known_datasets() -> tuple[str, ...]:
    """The built-in datasets and those registered in this process (`register_dataset`)."""
    return DATASETS + tuple(user_data.registered())


def split_validation(x, y, val_size: int | float, seed: int = 0):
    """Carve a stratified validation split from a training set (fixed seed, so it never moves)."""
    from sklearn.model_selection import train_test_split

    if val_size == 0:
        return x, y, x[:0], y[:0]
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=val_size, stratify=y,
                                                      random_state=seed)
    return x_train, y_train, x_val, y_val


def load(name: str, data_dir: str | Path | None = None, val_size: int | float = DEFAULT_VAL_SIZE,
         seed: int = 0, download: bool = True) -> Splits:
    """Load a dataset as train / validation / test splits.

    Args:
        name: one of `DATASETS`.
        data_dir: folder with the dataset files; overrides `$KD_DATA_DIR` and `data/`.
        val_size: examples (int) or fraction (float) carved from the training set.
        seed: seed of the validation split (and of `moons`' sampling). Keep it fixed across
            runs: all runs of a comparison must share one validation split.
        download: whether to fall back to the library's download when no local copy exists.
    """
    num_classes = NUM_CLASSES.get(name)
    if name in user_data.registered():
        (x_train, y_train), (x_test, y_test), num_classes = user_data.load_registered(name)
    elif name not in NUM_CLASSES:
        raise ValueError(f"dataset must be one of {', '.join(known_datasets())}; got {name!r}")
    elif name in IDX_FILES:
        (x_train, y_train), (x_test, y_test) = _load_idx_dataset(name, data_dir, download)
    elif name == "emnist_letters":
        (x_train, y_train), (x_test, y_test) = _load_emnist_letters(data_dir, download)
    elif name == "cifar10":
        (x_train, y_train), (x_test, y_test) = _load_tfds("cifar10", data_dir, download)
    elif name == "digits":
        (x_train, y_train), (x_test, y_test) = _load_digits()
    else:
        (x_train, y_train), (x_test, y_test) = _load_moons(seed)
    if x_train.dtype == np.uint8:  # images on the 0..255 scale: every built-in set but moons
        x_train, x_test = _as_images(x_train), _as_images(x_test)
    x_train, x_test = x_train.astype(np.float32, copy=False), x_test.astype(np.float32, copy=False)
    y_train, y_test = y_train.astype(np.int32), y_test.astype(np.int32)
    x_train, y_train, x_val, y_val = split_validation(x_train, y_train, val_size, seed)
    return Splits(name, x_train, y_train, x_val, y_val, x_test, y_test, num_classes)

_SPLITS_CACHE: dict = {}


def splits_for(config, data_dir=None) -> Splits:
    """The splits a run config trains on: its dataset, validation size, data limit and classes.

    Each dataset is loaded once per process. A synthetic dataset (`moons`) is drawn anew for
    each seed, so a spread over seeds includes the sampling of the data; real datasets keep one
    validation split for every run.
    """
    data_seed = config.seed if config.dataset in SAMPLED_DATASETS else 0
    key = (config.dataset, config.val_size, str(data_dir), data_seed,
           user_data.generation(config.dataset))  # a re-registered dataset is loaded anew
    if key not in _SPLITS_CACHE:
        _SPLITS_CACHE[key] = load(config.dataset, data_dir=data_dir, val_size=config.val_size,
                                  seed=data_seed)
    splits = _SPLITS_CACHE[key].limit_train(config.train_limit)
    return splits if config.transfer_classes is None else splits.keep_classes(
        config.transfer_classes)


def clear_caches() -> None:
    """Forget the splits loaded so far (after serving mock data, say)."""
    _SPLITS_CACHE.clear()
