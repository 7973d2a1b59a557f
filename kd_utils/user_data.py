"""Datasets a user registers: arrays, `tf.data.Dataset`s or a loader, under a name of their own.

After `register_dataset("my_data", ((x_train, y_train), (x_test, y_test)))`, a `RunConfig`
with `dataset="my_data"` trains, writes records, sweeps and tables like a built-in dataset
(`data.load` carves its validation split). Registrations live in the process: a notebook
registers its data in a cell before it runs configs that use it.
"""

from __future__ import annotations

import numpy as np

_REGISTERED: dict = {}  # name -> (source, num_classes or None, generation)
_GENERATION = 0


def register_dataset(name: str, source, num_classes: int | None = None) -> None:
    """Make `name` a dataset that configs, runs, sweeps and tables accept.

    `source` is one of: `((x_train, y_train), (x_test, y_test))` numpy arrays (the form of
    `keras.datasets`); a pair `(train, test)` of `tf.data.Dataset`s of `(x, y)` (batched or
    not); or a callable returning either, called on first use. Labels are class ids 0..K-1;
    uint8 images are scaled to [0, 1] like the built-in ones, other inputs are used as given.
    The validation split is carved from the training part, as for every dataset. Registering
    a name again replaces it; a built-in name cannot be registered.
    """
    from .data import DATASETS  # the built-in names (data imports this module at load time)

    if not isinstance(name, str) or not name or name in DATASETS:
        raise ValueError(f"register_dataset: name must be a new non-empty string (built in: "
                         f"{', '.join(DATASETS)}); got {name!r}")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise ValueError(f"register_dataset: num_classes must be None or an integer >= 2; "
                         f"got {num_classes!r}")
    global _GENERATION
    _GENERATION += 1
    _REGISTERED[name] = (source, num_classes, _GENERATION)


def registered() -> tuple[str, ...]:
    """The names registered in this process."""
    return tuple(_REGISTERED)


def generation(name: str) -> int:
    """Changes each time `name` is registered (0 for a name never registered)."""
    return _REGISTERED[name][2] if name in _REGISTERED else 0


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
    if len(x) != len(y) or y.ndim != 1 or not np.array_equal(y, np.round(y)) or y.min() < 0:
        raise ValueError(f"dataset {name!r}: {part} labels must be one class id >= 0 per "
                         f"example; got labels of shape {y.shape} for {len(x)} inputs")
    return x, y.astype(np.int32)


def load_registered(name: str):
    """`((x_train, y_train), (x_test, y_test), num_classes)` of a registered dataset."""
    source, num_classes, _ = _REGISTERED[name]
    source = source() if callable(source) else source
    try:
        train, test = source
    except (TypeError, ValueError) as err:
        raise ValueError(f"dataset {name!r}: expected ((x_train, y_train), (x_test, y_test)) or "
                         "(train, test) tf.data.Datasets") from err
    (x_train, y_train), (x_test, y_test) = (_as_numpy_pair(name, part, pair) for part, pair
                                            in (("train", train), ("test", test)))
    found = int(max(y_train.max(), y_test.max())) + 1
    if num_classes is not None and found > num_classes:
        raise ValueError(f"dataset {name!r}: labels reach {found - 1}, but num_classes is "
                         f"{num_classes}")
    return (x_train, y_train), (x_test, y_test), num_classes or found
