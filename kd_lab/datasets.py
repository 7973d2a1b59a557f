"""The data a run trains on: `splits_for(config)`, each dataset loaded once per process, and
`load_tfds`, through which the experiments register their tensorflow-datasets sets (EMNIST
letters, CIFAR-10) with the library's `data.register_dataset`.
"""

from __future__ import annotations

import numpy as np

from kd_utils import data

_SPLITS_CACHE: dict = {}


def splits_for(config, data_dir=None) -> data.Splits:
    """The splits a run config trains on: its dataset, validation size, data limit and classes.

    Each dataset is loaded once per process. A dataset drawn from a seed (`data.draws_per_seed`:
    two moons) is drawn anew for each run seed, so a spread over seeds includes the sampling of
    the data; every other dataset keeps one validation split for every run.
    """
    data_seed = config.seed if data.draws_per_seed(config.dataset) else 0
    key = (config.dataset, config.val_size, str(data_dir), data_seed,
           data.generation(config.dataset))  # a re-registered dataset is loaded anew
    if key not in _SPLITS_CACHE:
        _SPLITS_CACHE[key] = data.load(config.dataset, data_dir=data_dir,
                                       val_size=config.val_size, seed=data_seed)
    splits = _SPLITS_CACHE[key].limit_train(config.train_limit)
    return splits if config.transfer_classes is None else splits.keep_classes(
        config.transfer_classes)


def cached_splits() -> int:
    """How many datasets this process holds loaded (none after `clear_caches`)."""
    return len(_SPLITS_CACHE)


def clear_caches() -> None:
    """Forget the splits loaded so far (after serving mock data, say)."""
    _SPLITS_CACHE.clear()


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
