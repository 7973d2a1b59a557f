"""Checks made before any training step: logits not probabilities, and what a batch holds.

Shared by `Distiller`, `GroupDistiller` and the teacher-logit cache, so every entry point
fails the same way, naming the argument, before training starts.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .models import outputs_probabilities


def looks_like_probabilities(outputs) -> bool:
    """Whether every row is non-negative and sums to 1, as a softmax output would."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        return False
    return bool(outputs.min() >= 0.0 and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4))


def refuse_probabilities(outputs, who: str, fix: str = "remove its final softmax") -> None:
    """Raise if `outputs` (a model's, or cached logits) look like softmax probabilities."""
    if looks_like_probabilities(outputs):
        raise ValueError(f"{who} gives probabilities (rows sum to 1), not logits: {fix}")


def check_same_width(teacher_width: int, student_width: int, who: str = "teacher") -> None:
    """Raise unless the teacher (or its cached logits) and the student give as many logits."""
    if teacher_width != student_width:
        raise ValueError(f"{who} outputs {teacher_width} logits but student outputs "
                         f"{student_width}: both must output one logit per class")


def check_model(model, role: str) -> None:
    """Raise unless `model` is a keras.Model that outputs logits (no final softmax)."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"{role} must be a keras.Model, got {type(model).__name__}")
    if outputs_probabilities(model):
        raise ValueError(f"{role} {model.name!r} ends in softmax: it outputs probabilities, but "
                         "the Distiller needs logits. Remove the final softmax activation.")


def first_batch(x, y=None, argument: str = "x"):
    """(inputs, labels, cached logits or None) to check: a dataset's first batch, or the arrays.

    Iterating a dataset once moves its reshuffling on, so a model checks it here only once.
    """
    from .pipeline import split_inputs

    if isinstance(x, tf.data.Dataset):
        batch = next(iter(x.take(1)), None)
        if batch is None:
            raise ValueError(f"{argument} is an empty dataset")
        if not isinstance(batch, tuple) or len(batch) not in (2, 3):
            raise ValueError(f"{argument} must yield (inputs, labels) or (inputs, labels, "
                             "sample_weight) batches")
        if len(batch) == 3:
            check_sample_weight(batch[2], argument)
        inputs, cached = split_inputs(batch[0])
        return inputs, np.asarray(batch[1]), None if cached is None else np.asarray(cached)
    if y is None:
        raise ValueError(f"{argument}: labels y are required for distillation")
    inputs, cached = split_inputs(x)
    if len(inputs) != len(y):
        raise ValueError(f"{argument} has {len(inputs)} examples but y has {len(y)}")
    if cached is not None and len(cached) != len(inputs):
        raise ValueError(f"teacher_logits in {argument} has {len(cached)} rows but the inputs "
                         f"have {len(inputs)}")
    return inputs[:256], np.asarray(y), None if cached is None else np.asarray(cached[:256])


def check_sample_weight(sample_weight, argument: str = "x") -> None:
    """Raise if a batch's third element is not one weight per example (cached teacher logits,
    say, which travel in the inputs since Keras reads a third element as sample weights)."""
    shape = tuple(sample_weight.shape)
    if len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, None)):
        raise ValueError(
            f"{argument}: the third element of a batch is read as sample weights, one per "
            f"example, but it has shape {shape}. Cached teacher logits go in the inputs: "
            "(pipeline.with_teacher_logits(x, logits), y), as pipeline.make_dataset makes them.")
