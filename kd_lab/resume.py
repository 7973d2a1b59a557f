"""Resuming a killed run where it stopped: a per-epoch checkpoint of everything the next epoch
depends on, and the early stopping that can be restored from it.

At the end of every epoch `RunCheckpoint` writes, atomically, `checkpoint.npz` (every variable
of the model, random-seed states included, the optimizer's variables, and the early stopping's
best weights) and then `checkpoint.json` (epochs done, the history so far, epoch times, the
early stopping's counters), which marks the checkpoint complete. `restore` puts a run back in
that state and replays the shuffles (and jitter draws) of the epochs already trained without
training on them, so the next epoch sees exactly the batches it would have seen: a resumed run
ends with the weights an uninterrupted one ends with. A killed run loses at most the epoch it
was in. The runner removes the checkpoint once the run's record is written.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from pathlib import Path

import keras
import numpy as np

from .config import MONITORS
from .records import DamagedRecord, atomic_write, atomic_write_text

STATE, ARRAYS = "checkpoint.json", "checkpoint.npz"
DRAWS_PER_EPOCH = 2  # dataset passes Keras draws per epoch (see `restore`)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' `EarlyStopping`, whose counters and best weights survive a restart.

    The stopping callbacks a checkpoint can hold (this one, `stacking.StackEarlyStopping`) share
    three methods: `state()` (JSON), `best_arrays()` (name -> array) and `resume_from(state,
    arrays)`, taken up when training begins again.
    """

    _pending = None

    def state(self) -> dict:
        best = None if self.best is None else float(self.best)
        return {"wait": int(self.wait), "best": best, "best_epoch": int(self.best_epoch),
                "stopped_epoch": int(self.stopped_epoch)}

    def best_arrays(self) -> dict:
        return {f"best_{i}": w for i, w in enumerate(self.best_weights or [])}

    def resume_from(self, state: dict, arrays: dict) -> None:
        self._pending = (state, arrays)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._pending is not None:
            state, arrays = self._pending
            count = sum(1 for name in arrays if name.startswith("best_"))
            self.best_weights = [arrays[f"best_{i}"] for i in range(count)] or None
            self.wait, self.best = state["wait"], state["best"]
            self.best_epoch, self.stopped_epoch = state["best_epoch"], state["stopped_epoch"]
            self._pending = None


class RunCheckpoint(keras.callbacks.Callback):
    """Write the run's state to `folder` at the end of every epoch (see the module docstring).

    Args:
        folder: where the checkpoint goes (the run's own folder, `checkpoint/`).
        run_id: written into the checkpoint; a checkpoint of another run is never loaded.
        stopper: the run's stopping callback (see `ResumableEarlyStopping`).
        timer: the run's `EpochTimer` (its epoch times are part of the record).
        history: the history of the epochs trained before a restart, column -> values.
    """

    def __init__(self, folder, run_id: str, stopper, timer,
                 history: dict | None = None):
        super().__init__()
        self.folder, self.run_id = Path(folder), run_id
        self.stopper, self.timer = stopper, timer
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        model = self.model
        arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model.variables)}
        arrays |= {f"optimizer_{i}": np.asarray(v)
                   for i, v in enumerate(model.optimizer.variables)}
        arrays |= self.stopper.best_arrays()
        atomic_write(self.folder / ARRAYS, lambda f: np.savez(f, **arrays), binary=True)
        atomic_write_text(self.folder / STATE, json.dumps({
            "run_id": self.run_id, "epochs_done": epoch + 1,
            "stop_training": bool(model.stop_training), "history": self.history,
            "epoch_wall_seconds": self.timer.wall, "epoch_cpu_seconds": self.timer.cpu,
            "early_stopping": self.stopper.state()}) + "\n")


def load_state(folder, run_id: str) -> dict | None:
    """The checkpoint in `folder` if it is complete and of this run, else None."""
    path = Path(folder) / STATE
    if not path.exists() or not (Path(folder) / ARRAYS).exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DamagedRecord(f"{path}: a checkpoint that does not parse ({error}). Delete "
                            f"{Path(folder)} to start the run afresh") from None
    return state if state.get("run_id") == run_id else None


def restore(folder, state: dict, model, stopper, timer, train_dataset) -> None:
    """Put `model` (compiled), `stopper` and `timer` back in the checkpoint's state, and replay
    the finished epochs' passes over `train_dataset` so that its shuffles move on as they did.
    """
    try:
        with np.load(Path(folder) / ARRAYS) as stored:
            arrays = dict(stored)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as error:
        raise DamagedRecord(f"{Path(folder) / ARRAYS}: a checkpoint that does not load "
                            f"({type(error).__name__}). Delete {Path(folder)} to start the run "
                            "afresh") from None
    for i, variable in enumerate(model.variables):
        variable.assign(arrays[f"model_{i}"])
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    for i, variable in enumerate(model.optimizer.variables):
        variable.assign(arrays[f"optimizer_{i}"])
    stopper.resume_from(state["early_stopping"],
                        {k: v for k, v in arrays.items() if k.startswith("best_")})
    timer.wall, timer.cpu = list(state["epoch_wall_seconds"]), list(state["epoch_cpu_seconds"])
    # Each pass over the dataset draws its next shuffle (and jitter seeds) when its iterator is
    # made (tf.data's seed generators): Keras 3.15's epoch iterator makes two iterators per
    # epoch (one at the start of the epoch, which it trains on, and one at its end, which it
    # drops), so `epochs_done` epochs are replayed as twice as many iterators, made and dropped
    # without reading a batch (reading them cost minutes per resume at 100 epochs).
    # `tests/lab/test_resume.py` checks that a resumed run ends bit for bit as one not killed.
    for _ in range(DRAWS_PER_EPOCH * state["epochs_done"]):
        iter(train_dataset)


def remove(folder) -> None:
    """Delete a finished run's checkpoint."""
    shutil.rmtree(folder, ignore_errors=True)


def best_epoch_index(history, monitor: str = "val_accuracy") -> int:
    """The index of the epoch whose weights a run keeps: the first best by `monitor`."""
    values = np.asarray(history[monitor], dtype="float64")
    return int(values.argmax() if MONITORS[monitor] == "max" else values.argmin())


def fit_resumably(model, train_dataset, validation_data, *, folder, run_id: str, epochs: int,
                  patience: int, verbose=1, callbacks=(), stopper=None,
                  monitor: str = "val_accuracy"):
    """`model.fit` with best-epoch selection on `monitor` (`config.MONITORS`), checkpointed
    every epoch in `folder` and resumed from there when a checkpoint of `run_id` is found.

    `stopper` is the stopping callback (default: `ResumableEarlyStopping` on `monitor`,
    restoring the best weights). Returns (history, timer, resumed_at): the history
    of every epoch (column -> values), the `EpochTimer` with every epoch's times, and the number
    of epochs a checkpoint supplied (0 for a fresh start). The checkpoint stays until
    `remove(folder)`.
    """

    timer = EpochTimer()
    stopper = stopper or ResumableEarlyStopping(monitor=monitor, mode=MONITORS[monitor],
                                                patience=patience or epochs,
                                                restore_best_weights=True)
    state = load_state(folder, run_id)
    checkpoint = RunCheckpoint(folder, run_id, stopper, timer,
                               history=state["history"] if state else None)
    resumed_at = state["epochs_done"] if state else 0
    if state:
        restore(folder, state, model, stopper, timer, train_dataset)
        print(f"resuming {run_id} after epoch {resumed_at} of {epochs}, from its checkpoint",
              flush=True)
    if state and (state["stop_training"] or resumed_at >= epochs):
        # It had finished training when it was killed: what is left is the end of training.
        stopper.set_model(model)
        stopper.on_train_begin()
        stopper.on_train_end()
        return checkpoint.history, timer, resumed_at
    model.fit(train_dataset, validation_data=validation_data, epochs=epochs,
              initial_epoch=resumed_at, verbose=verbose,
              shuffle=False,  # the dataset shuffles itself, seeded
              callbacks=[stopper, timer, checkpoint, *callbacks])
    return checkpoint.history, timer, resumed_at


class EpochTimer(keras.callbacks.Callback):
    """Wall and CPU seconds of each epoch (CPU time is steadier on shared VMs)."""

    def __init__(self):
        super().__init__()
        self.wall, self.cpu = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        self.wall.append(time.perf_counter() - self._start[0])
        self.cpu.append(time.process_time() - self._start[1])
