"""The data a run trains on: `splits_for(config)`, each dataset loaded once per process; the
fingerprint of a registered dataset's data, so that a record is never read back for other data
registered under its name (`read_back`); and `load_tfds`, through which the experiments register
their tensorflow-datasets sets (EMNIST letters, CIFAR-10) with `registry.register_dataset`.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from kd_utils import data

from . import records, registry

_SPLITS_CACHE: dict = {}
_FINGERPRINTS: dict = {}


def splits_for(config, data_dir=None) -> data.Splits:
    """The splits a run config trains on: its dataset, validation size, data limit and classes.

    Each dataset is loaded once per process. A dataset drawn from a seed (`registry.draws_per_seed`:
    two moons) is drawn anew for each run seed, so a spread over seeds includes the sampling of
    the data; every other dataset keeps one validation split for every run.
    """
    data_seed = config.seed if registry.draws_per_seed(config.dataset) else 0
    key = (config.dataset, config.val_size, str(data_dir), data_seed,
           registry.generation(config.dataset))  # a re-registered dataset is loaded anew
    if key not in _SPLITS_CACHE:
        _SPLITS_CACHE[key] = registry.load(config.dataset, data_dir=data_dir,
                                           val_size=config.val_size, seed=data_seed)
    return _select(_SPLITS_CACHE[key], config)


def _select(splits: data.Splits, config) -> data.Splits:
    """The part of the full `splits` a config trains on: its first `train_limit` training
    examples, then its `transfer_classes`."""
    splits = splits.limit_train(config.train_limit)
    return splits if config.transfer_classes is None else keep_classes(
        splits, config.transfer_classes)


def selected_rows(config, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows): where `splits_for(config)`'s examples sit in the
    splits of the same config without `train_limit` and `transfer_classes` (the same
    selection, applied to row numbers)."""
    full = splits_for(config.replace(train_limit=None, transfer_classes=None), data_dir)
    rows = _select(dataclasses.replace(full, x_train=np.arange(len(full.x_train)),
                                       x_val=np.arange(len(full.x_val))), config)
    return rows.x_train, rows.x_val


def keep_classes(splits: data.Splits, classes) -> data.Splits:
    """`splits` with training and validation examples of `classes` only; the test set keeps
    every class: the transfer set of Hinton et al.'s omitted-class experiments (section 3), where
    the student never sees the other classes and is tested on all of them."""
    classes = np.asarray(sorted(set(int(c) for c in classes)))
    if len(classes) == 0 or classes.min() < 0 or classes.max() >= splits.num_classes:
        raise ValueError(f"transfer_classes must be class ids in [0, {splits.num_classes}) of "
                         f"{splits.name}; got {classes.tolist()}")
    train, val = np.isin(splits.y_train, classes), np.isin(splits.y_val, classes)
    return dataclasses.replace(splits, x_train=splits.x_train[train], y_train=splits.y_train[train],
                               x_val=splits.x_val[val], y_val=splits.y_val[val])


def digest(arrays, chars: int = 12) -> str:
    """The first `chars` hex digits of the sha256 of `arrays`' bytes, in order."""
    hashed = hashlib.sha256()
    for array in arrays:
        hashed.update(np.ascontiguousarray(array).tobytes())
    return hashed.hexdigest()[:chars]


def fingerprint(config, splits: data.Splits) -> str:
    """A hash of the arrays a run of a registered dataset trains, validates and tests on; ''
    for a built-in dataset, whose files are checked by their md5 instead."""
    if registry.generation(config.dataset) == 0:
        return ""
    key = (id(splits), registry.generation(config.dataset))
    if key not in _FINGERPRINTS:  # the splits are kept with it, so their id stays theirs
        _FINGERPRINTS[key] = (splits, digest((splits.x_train, splits.y_train, splits.x_val,
                                              splits.y_val, splits.x_test, splits.y_test), 16))
    return _FINGERPRINTS[key][1]


def read_back(config, results_dir, data_dir=None) -> records.RunRecord:
    """The finished record of `config`, refused when its registered dataset now holds other data
    than the record was made with (a name registered again with changed data)."""
    record = records.load_record(config, results_dir)
    recorded = record.row.get("data_fingerprint") or ""
    if recorded and registry.generation(config.dataset):
        if fingerprint(config, splits_for(config, data_dir)) != recorded:
            raise ValueError(
                f"run {config.run_id}: its record was made with other data than the dataset "
                f"{config.dataset!r} registered now. Register changed data under a new name, or "
                f"delete {record.run_dir} to train it again on this data.")
    return record


def cached_splits() -> int:
    """How many datasets this process holds loaded (none after `clear_caches`)."""
    return len(_SPLITS_CACHE)


def clear_caches() -> None:
    """Forget the splits loaded so far (after serving mock data, say)."""
    _SPLITS_CACHE.clear()
    _FINGERPRINTS.clear()


def load_tfds(tfds_name: str, data_dir=None, download: bool = True):
    """`((x_train, y_train), (x_test, y_test))` numpy arrays of a tensorflow-datasets set, read
    from the first of the library's data folders that exists (`data.candidate_dirs`)."""
    import tensorflow_datasets as tfds

    tfds_dir = next((str(d) for d in data.candidate_dirs(data_dir) if d.exists()), None)
    splits = tfds.load(tfds_name, split=["train", "test"], as_supervised=True, data_dir=tfds_dir,
                       download=download)

    def to_numpy(ds):
        # Fixed-size batches, not batch_size=-1: that batches by the dataset's cardinality, and
        # TensorFlow aborts the process when the cardinality is unknown (as for generated data).
        batches = list(tfds.as_numpy(ds.batch(4096)))
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    return tuple(to_numpy(ds) for ds in splits)
