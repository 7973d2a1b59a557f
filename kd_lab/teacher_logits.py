"""Teacher logits: computed once per teacher and data, cached on disk, averaged for ensembles.

With un-jittered inputs the teacher's outputs never change during distillation, so they are
computed once and every student reads them (the Distiller then skips the teacher forward).
The cache file's name holds a hash of the teacher's weights and one of the input images, so a
retrained or edited teacher, or other data, is never served stale logits.

A teacher's logits are also kept with its record and committed (`runs/<teacher run
id>/logits-<hash of the inputs>.npz`: training and validation rows in float16, test rows in
float32, compressed), and checked against the record when read (`recorded_logits`). Students
on every machine read those, in that precision, so a student needs no teacher model (models are
not committed) and trains on the same soft targets wherever it runs.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from kd_utils import losses
from kd_utils.data import Splits
from kd_utils.distiller import check_model, looks_like_probabilities, refuse_probabilities

from .config import RunConfig
from .datasets import digest
from .records import LOGITS_FILES, RESULTS_DIR, atomic_write, damaged, read_row, run_dir

_CACHE: dict = {}


def compute_teacher_logits(teacher, x, batch_size: int = 1024) -> np.ndarray:
    """The teacher's logits for every row of `x` (inference mode), to cache for distillation."""
    check_model(teacher, "teacher")
    logits = teacher.predict(x, batch_size=batch_size, verbose=0)
    refuse_probabilities(logits, f"teacher {teacher.name!r}")
    return logits.astype(np.float32)


def teacher_logits_path(teacher_config: RunConfig, teacher_model, splits: Splits,
                        results_dir=RESULTS_DIR) -> Path:
    """Where the teacher's logits on these splits are cached on disk:
    `cache/teacher_logits/<teacher run id>-weights-<hash>-data-<hash>.npz`."""
    weights = digest(teacher_model.get_weights())
    inputs = digest((splits.x_train, splits.x_val, splits.x_test))
    name = f"{teacher_config.run_id}-weights-{weights}-data-{inputs}.npz"
    return Path(results_dir) / "cache" / "teacher_logits" / name


def teacher_logits_for(teacher_config: RunConfig, teacher_model, splits: Splits,
                       results_dir=RESULTS_DIR):
    """The teacher's logits on (train, val, test): from memory, from disk, or computed once."""
    path = teacher_logits_path(teacher_config, teacher_model, splits, results_dir)
    kept = recorded_logits_path(teacher_config, splits, results_dir)
    if path not in _CACHE:
        if path.exists():
            logits = read_logits(path, splits)
        else:
            logits = tuple(compute_teacher_logits(teacher_model, x)
                           for x in (splits.x_train, splits.x_val, splits.x_test))
            if kept.parent.joinpath("row.json").exists():
                check_test_errors(logits, splits, kept.parent / "row.json",
                                  kept.parent / "model.keras")
            if kept.exists():  # the same test errors could come from another model
                check_same_logits(logits[2], read_logits(kept, splits)[2],
                                  kept.parent / "model.keras", kept)
            atomic_write(path, lambda f: np.savez(f, train=logits[0], val=logits[1],
                                                  test=logits[2]), binary=True)
        _CACHE[path] = logits
    if kept.parent.joinpath("row.json").exists() and not kept.exists():
        train, val, test = _CACHE[path]
        # float16 halves the file and moves a soft target at T >= 1 by far less than a seed
        # does; the test rows stay float32, so their argmax gives the record's errors exactly.
        atomic_write(kept, lambda f: np.savez_compressed(
            f, train=train.astype(np.float16), val=val.astype(np.float16), test=test),
            binary=True)
    return _CACHE[path]


def recorded_logits_path(teacher_config: RunConfig, splits: Splits,
                         results_dir=RESULTS_DIR) -> Path:
    """`runs/<teacher run id>/logits-<hash of the inputs>.npz`: the teacher's logits on these
    splits, kept with its record."""
    inputs = digest((splits.x_train, splits.x_val, splits.x_test))
    return run_dir(teacher_config, results_dir) / LOGITS_FILES.replace("*", inputs)


def recorded_logits(teacher_config: RunConfig, splits: Splits, results_dir=RESULTS_DIR):
    """The (train, val, test) logits kept with the teacher's record for these splits, or None.
    Checked against the record: their test errors must be its test errors."""
    path = recorded_logits_path(teacher_config, splits, results_dir)
    if not path.exists():
        return None
    logits = read_logits(path, splits)
    check_test_errors(logits, splits, path.parent / "row.json", path)
    return logits


def check_test_errors(logits, splits: Splits, row_path: Path, source: Path) -> None:
    """Raise `records.DamagedRecord` naming `source` (a logits file, or the teacher's model)
    unless its test logits make the test errors its record measured."""
    recorded = read_row(row_path)["test_errors"]
    found = int((logits[2].argmax(-1) != splits.y_test).sum())
    if found != recorded:
        raise damaged(source, f"it gives {found} test errors where its record "
                      f"{row_path} measured {recorded}: it is not what that record measured")


def check_same_logits(computed, kept, model_path: Path, kept_path: Path) -> None:
    """Raise `records.DamagedRecord` naming the model unless its test logits are those kept with
    its record (to float rounding across machines: 1% of the logits' range)."""
    tolerance = 0.01 * max(1.0, float(np.abs(kept).max()))
    worst = float(np.abs(np.asarray(computed, np.float32) - kept).max())
    if worst > tolerance:
        raise damaged(model_path, f"its test logits differ by up to {worst:.3g} from those kept "
                      f"with its record in {kept_path.name}: it is not the model that record "
                      "measured")


def read_logits(path: Path, splits: Splits | None = None) -> tuple:
    """(train, val, test) logits from an `.npz` file, or `records.DamagedRecord` naming it;
    with `splits`, one row per train, validation and test example."""
    try:
        with np.load(path) as stored:
            parts = stored["train"], stored["val"], stored["test"]
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, OSError) as error:
        raise damaged(path, f"unreadable teacher logits ({type(error).__name__}: {error})") \
            from None
    parts = tuple(part.astype(np.float32) for part in parts)
    for name, part in zip(("train", "val", "test"), parts, strict=True):
        if not np.isfinite(part).all():
            raise damaged(path, f"its {name} teacher logits hold NaN or infinite values")
        if looks_like_probabilities(part):
            raise damaged(path, f"its {name} teacher logits are probabilities (rows sum to 1), "
                          "not logits")
    if splits is not None:
        expected = (len(splits.x_train), len(splits.x_val), len(splits.x_test))
        if tuple(len(part) for part in parts) != expected:
            raise damaged(path, f"it holds {tuple(len(part) for part in parts)} rows of teacher "
                          f"logits (train, validation, test) for {expected} examples")
    return parts


def average_logits(members) -> tuple:
    """An ensemble teacher's (train, val, test) logits: its members' logits averaged (whose
    softmax is the normalised geometric mean of the members' probabilities)."""
    return tuple(np.mean([logits[i] for logits in members], axis=0) for i in range(3))


def control_targets(cached, y_train, y_val, kind: str, temperature: float, seed: int):
    """(train, val, test) teacher logits with the train and validation rows replaced by a
    control's soft targets (`RunConfig.soft_targets`); the test rows stay the teacher's (a
    student's agreement is with its teacher).

    "class_mean": every example gets logits whose softmax at T is its class's mean teacher
    distribution at T over the training set; "shuffled": every example gets another's logits
    (a fixed permutation per seed, training and validation apart).
    """
    train, val, test = cached
    if kind == "teacher":
        return cached
    if kind == "shuffled":
        rng = np.random.default_rng(seed)
        return train[rng.permutation(len(train))], val[rng.permutation(len(val))], test
    if kind != "class_mean":
        raise ValueError(f"kind must be 'teacher', 'class_mean' or 'shuffled'; got {kind!r}")
    probabilities = losses.softmax(train, temperature)
    means = np.full((train.shape[1], train.shape[1]), 1.0 / train.shape[1])
    for label in np.unique(y_train):
        means[label] = probabilities[y_train == label].mean(axis=0)
    logits = (temperature * np.log(np.maximum(means, 1e-30))).astype(np.float32)
    return logits[y_train], logits[y_val], test


def clear_caches() -> None:
    """Forget the logits held in memory (the files on disk stay)."""
    _CACHE.clear()
