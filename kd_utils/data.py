"""Datasets: where their files are, loading them, validation splits.

`load(name)` returns `Splits`: train, validation (carved from the training set with a fixed
seed: model selection uses it) and test (reporting only). MNIST and Fashion-MNIST are read
from the official gzip IDX files, md5-checked, looked for in `data_dir`, then `$KD_DATA_DIR`,
then the repository's `data/`, else downloaded by keras; `digits` (scikit-learn's 8x8) needs
no files. `from_arrays(name, train, test)` makes checked splits of one's own data.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# -- The official IDX files: names and md5 checksums, as their providers publish them -----
IDX_FILES = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}


class DataFileError(FileNotFoundError):
    """A dataset file is missing, truncated or has the wrong checksum."""


def md5sum(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def read_idx(path: str | Path) -> np.ndarray:
    """A (gzip-compressed or raw) IDX file of unsigned bytes as a numpy array; raises
    `DataFileError` if it is not one, or is truncated or padded."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # gzip raises EOFError on a truncated stream
        raise DataFileError(f"cannot read IDX file {path}: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataFileError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataFileError(f"{path} is truncated or padded: its header promises shape {shape} "
                            f"({expected} bytes) but {len(raw) - header} bytes follow")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _idx_files_in(name: str, folders) -> dict[str, Path] | None:
    """The four verified IDX files of `name` in the first of `folders` holding any (its
    `<name>/` subfolder first), or None. A corrupt file raises, never skipped for a later one."""
    expected = IDX_FILES[name]
    for base in folders:
        for folder in (base / name, base):
            if not any((folder / fname).exists() for fname in expected):
                continue
            paths = {}
            for fname, md5 in expected.items():
                path = folder / fname
                if not path.exists():
                    raise DataFileError(f"{name}: {fname} is missing from {folder} (the other "
                                        f"{name} files are there); expected a file with md5 {md5}")
                if (actual := md5sum(path)) != md5:
                    raise DataFileError(f"{name}: {path} has md5 {actual}, expected {md5} (the "
                                        "official file); it is corrupt or truncated: download "
                                        "it again")
                paths[fname] = path
            return paths
    return None


# -- Loading ------------------------------------------------------------------------------
REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "digits": 10}
DATASETS = tuple(NUM_CLASSES)

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
        """The same splits with only the first `n` training examples (a quick run)."""
        if n is None or n >= len(self.x_train):
            return self
        return Splits(self.name, self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                      self.x_test, self.y_test, self.num_classes)


def candidate_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for dataset files, in order of precedence."""
    env = os.environ.get("KD_DATA_DIR")  # set but empty: unset
    return [Path(d) for d in ([] if data_dir is None else [data_dir]) + ([env] if env else [])] + [
        REPO_DATA_DIR]


def find_idx_files(name: str, data_dir: str | Path | None = None) -> dict[str, Path] | None:
    """The verified IDX files of `name` in the first of `candidate_dirs(data_dir)` holding them."""
    return _idx_files_in(name, candidate_dirs(data_dir))


def _load_idx_dataset(name: str, data_dir, download: bool):
    paths = find_idx_files(name, data_dir)
    if paths is not None:
        arrays = {fname: read_idx(path) for fname, path in paths.items()}
        return tuple((arrays[f"{part}-images-idx3-ubyte.gz"],
                      arrays[f"{part}-labels-idx1-ubyte.gz"]) for part in ("train", "t10k"))
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


def _load_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0 * 255.0).astype(np.uint8)  # to the 0..255 scale of the others
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, stratify=digits.target, random_state=0)
    return (x_train, y_train), (x_test, y_test)


def _as_images(x: np.ndarray) -> np.ndarray:
    """uint8 images of shape (N, H, W) or (N, H, W, C) to float32 in [0, 1], channels last."""
    x = x.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def split_validation(x, y, val_size: int | float, seed: int = 0):
    """Carve a stratified validation split from a training set (fixed seed, so it never moves)."""
    from sklearn.model_selection import train_test_split

    if val_size == 0:
        return x, y, x[:0], y[:0]
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float, np.integer,
                                                               np.floating)):
        raise ValueError(f"val_size must be a number of examples or a fraction; got {val_size!r}")
    count = val_size if isinstance(val_size, (int, np.integer)) else np.ceil(val_size * len(x))
    if count < len(np.unique(y)):
        raise ValueError(f"val_size={val_size!r} is too small to hold one example of each of "
                         f"the {len(np.unique(y))} classes (the split is stratified)")
    if not 0 < count < len(x) - len(np.unique(y)):
        raise ValueError(f"val_size={val_size!r} must leave examples of every class to train "
                         f"on: the training set has {len(x)}")
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise ValueError(f"val_size={val_size!r}: class {classes[counts.argmin()]} has one "
                         "training example, and a stratified split needs at least 2 of each "
                         "class (one to train on, one to validate): add examples or drop it")
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=val_size, stratify=y,
                                                      random_state=seed)
    return x_train, y_train, x_val, y_val


def _as_numpy_pair(name: str, part: str, pair):
    """`(x, y)` arrays from a pair of arrays or a `tf.data.Dataset` of `(x, y)`."""
    if hasattr(pair, "as_numpy_iterator"):
        batches = list(pair.as_numpy_iterator())
        if not batches:
            raise ValueError(f"dataset {name!r}: its {part} tf.data.Dataset is empty")
        stack = np.concatenate if np.ndim(batches[0][1]) == 1 else np.stack
        pair = (stack([b[0] for b in batches]), stack([b[1] for b in batches]))
    try:
        x, y = (np.asarray(a) for a in pair)
    except (TypeError, ValueError) as err:
        raise ValueError(f"dataset {name!r}: its {part} part must be (x, y) arrays or a "
                         f"tf.data.Dataset of (x, y); got {type(pair).__name__}") from err
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.isfinite(y).all()):
        raise ValueError(f"dataset {name!r}: {part} labels must be class ids 0..K-1 (integers); "
                         f"got labels of dtype {y.dtype} (map names to ids first)")
    if len(x) != len(y) or y.ndim != 1 or not np.array_equal(y, np.round(y)) or y.min() < 0:
        raise ValueError(f"dataset {name!r}: {part} labels must be one class id >= 0 per "
                         f"example; got labels of shape {y.shape} for {len(x)} inputs")
    return x, y.astype(np.int32)


def _check_labels_cover(name: str, y_train, y_test, num_classes) -> int:
    """The number of classes, or raise unless labels are 0..K-1, each present in training."""
    found = int(max(y_train.max(), y_test.max())) + 1
    if num_classes is not None and found > num_classes:
        raise ValueError(f"dataset {name!r}: labels reach {found - 1}, but num_classes is "
                         f"{num_classes}")
    missing = sorted(set(range(int(y_train.max()) + 1)) - set(np.unique(y_train).tolist()))
    if missing or y_test.max() > y_train.max():
        raise ValueError(f"dataset {name!r}: labels must be class ids 0..K-1, each present in the "
                         f"training part; the training part lacks {missing or 'none'} and the "
                         f"test part reaches {int(y_test.max())} (map your labels to 0..K-1)")
    return num_classes or found


def from_arrays(name: str, train, test, num_classes: int | None = None,
                val_size: int | float = DEFAULT_VAL_SIZE, seed: int = 0) -> Splits:
    """One's own data as checked train / validation / test splits (validation carved from
    `train`). `train` and `test`: `(x, y)` arrays or a `tf.data.Dataset` of `(x, y)`, batched
    or not; labels are class ids 0..K-1, each in `train`; uint8 images are scaled to [0, 1],
    other inputs cast to float32. `name` names the data in errors."""
    (x_train, y_train), (x_test, y_test) = (_as_numpy_pair(name, part, pair) for part, pair
                                            in (("train", train), ("test", test)))
    num_classes = _check_labels_cover(name, y_train, y_test, num_classes)
    if x_train.dtype == np.uint8:  # images on the 0..255 scale
        x_train, x_test = _as_images(x_train), _as_images(x_test)
    x_train, x_test = x_train.astype(np.float32, copy=False), x_test.astype(np.float32, copy=False)
    for part, x in (("training", x_train), ("test", x_test)):
        if not np.isfinite(x).all():
            raise ValueError(f"dataset {name!r}: its {part} inputs hold "
                             f"{int(x.size - np.isfinite(x).sum())} NaN or infinite values: "
                             "replace or drop them before training")
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"dataset {name!r}: its training labels hold "
                         f"{len(np.unique(y_train))} class; a classifier needs at least 2")
    x_train, y_train, x_val, y_val = split_validation(x_train, y_train, val_size, seed)
    return Splits(name, x_train, y_train, x_val, y_val, x_test, y_test, num_classes)


def load(name: str, data_dir: str | Path | None = None, val_size: int | float = DEFAULT_VAL_SIZE,
         seed: int = 0, download: bool = True) -> Splits:
    """A built-in dataset (`DATASETS`) as train / validation / test splits.

    `data_dir` overrides `$KD_DATA_DIR` and `data/`; `val_size` (examples, or a fraction) and
    `seed` carve the validation split (keep the seed across a comparison's runs); `download`
    falls back to keras' download when no local copy exists.
    """
    if name not in NUM_CLASSES:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r} (for "
                         "other data, data.from_arrays)")
    if data_dir is not None and (str(data_dir) == "" or not Path(data_dir).is_dir()):
        raise ValueError(f"data_dir must be an existing folder; got {str(data_dir)!r}")
    if name in IDX_FILES:
        train, test = _load_idx_dataset(name, data_dir, download)
    else:
        train, test = _load_digits()
    return from_arrays(name, train, test, NUM_CLASSES[name], val_size, seed)
