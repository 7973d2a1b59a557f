"""Keras callbacks for distillation: the student's checkpoint, and every logged metric's
direction (Keras resolves `mode="auto"` only for metrics it compiled; the Distiller's are its
own), so that EarlyStopping and the rest work on a Distiller as on any model.
"""

from __future__ import annotations

import keras

_UP = ("accuracy", "acc", "teacher_agreement")
_DOWN = ("loss", "kl_divergence")


def metric_direction(name: str) -> str | None:
    """ "max" or "min" for a logged metric of the Distiller (with any `val_` or `s<i>_`
    prefix), None for a name this lab does not log."""
    if name.endswith(_UP):
        return "max"
    if name.endswith(_DOWN):
        return "min"
    return None


def set_monitor_modes(callbacks: list) -> list:
    """The callbacks, each monitoring one with `mode="auto"` given the direction of its metric."""
    for callback in callbacks:
        if getattr(callback, "mode", None) == "auto" and hasattr(callback, "monitor"):
            direction = metric_direction(callback.monitor)
            if direction is not None:
                callback.mode = direction
                if hasattr(callback, "monitor_op"):  # Keras sets it from `mode` when None
                    callback.monitor_op = None
    return callbacks


class StudentCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` that saves the Distiller's student, the model to keep.

    Takes ModelCheckpoint's arguments: `StudentCheckpoint("student.keras", monitor="val_loss",
    save_best_only=True)` writes a whole `.keras` model that `keras.models.load_model` reads
    back without this lab. On a plain model it saves that model.
    """

    def set_model(self, model):
        super().set_model(getattr(model, "student", model))
