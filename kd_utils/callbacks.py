"""Keras callbacks of the lab's runs: per-epoch timing.

(The Distiller's own guard against a non-finite loss is in `distiller.py`, and the per-student
early stopping of a group in `group.py`.)
"""

from __future__ import annotations

import time

import keras


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
