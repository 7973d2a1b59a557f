"""The knowledge-distillation losses of Hinton, Vinyals & Dean (2015), as pure functions on logits.

Conventions (the same everywhere in this lab):
- Models output logits. Every function here takes logits and applies softmax itself.
- soft loss = T^2 * KL(softmax(teacher / T) || softmax(student / T)), batch mean. The T^2 keeps
  the soft gradients' magnitude roughly constant as T changes (paper, section 2).
- With `sample_weight`, each per-example loss is weighted and the batch is reduced as Keras
  reduces a loss by default ("sum_over_batch_size": sum of weight * loss over the batch size),
  so `sample_weight` and `class_weight` mean for a Distiller what they mean for any model.
- hard loss = cross-entropy of the student's logits against the true labels, at T = 1.
- total = alpha * hard + (1 - alpha) * soft: **alpha weights the hard-label loss**, as in the
  Keras knowledge-distillation example (and `student_loss_weight` in `keras.distillation`).

Everything is computed from log-softmax, so logits of magnitude 1e4 give finite losses.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf


def check_temperature(temperature) -> float:
    """Return `temperature` as a float, or raise ValueError unless it is finite and > 0."""
    if isinstance(temperature, bool):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"temperature must be a finite number > 0 (1 = no softening; Hinton et "
                         f"al. used 20 on MNIST), got {temperature!r}")
    return value


def check_alpha(alpha) -> float:
    """Return `alpha` as a float, or raise ValueError unless it lies in [0, 1]."""
    if isinstance(alpha, bool):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"alpha is the weight of the hard-label loss and must lie in [0, 1] "
                         f"(1 = labels only, 0 = soft targets only), got {alpha!r}")
    return value


def _reduce(per_example, sample_weight=None) -> tf.Tensor:
    """The batch's loss: the mean, or with weights Keras' default reduction, the sum of
    weight * loss over the batch size (not over the sum of the weights)."""
    if sample_weight is None:
        return tf.reduce_mean(per_example)
    weights = tf.reshape(tf.cast(sample_weight, per_example.dtype), [-1])
    size = tf.cast(tf.size(per_example), per_example.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(weights * per_example), size)


def kl_divergence(teacher_logits, student_logits, temperature, sample_weight=None) -> tf.Tensor:
    """Batch mean of KL(softmax(teacher / T) || softmax(student / T)), without the T^2 factor."""
    teacher_log_probs = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature)
    student_log_probs = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature)
    per_example = tf.reduce_sum(
        tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
    return _reduce(per_example, sample_weight)


def soft_target_loss(teacher_logits, student_logits, temperature, scale_by_t2: bool = True,
                     sample_weight=None):
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), batch mean.

    Args:
        teacher_logits, student_logits: `(batch, classes)` logits.
        temperature: T > 0; both distributions are softened by the same T.
        scale_by_t2: multiply by T^2 (the paper's convention). Off only to study its effect.
        sample_weight: per-example weights, reduced as Keras reduces a loss (see above).
    """
    temperature = check_temperature(temperature)
    loss = kl_divergence(teacher_logits, student_logits, temperature, sample_weight)
    return loss * temperature**2 if scale_by_t2 else loss


def hard_label_loss(labels, student_logits, sample_weight=None) -> tf.Tensor:
    """Sparse categorical cross-entropy of the student's logits at T = 1, batch mean."""
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    return _reduce(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=tf.cast(student_logits, tf.float32)), sample_weight)


class DistillationTerms(NamedTuple):
    """Each term of the distillation objective for one batch (all batch means)."""

    total: tf.Tensor
    hard: tf.Tensor  # cross-entropy with the labels
    soft: tf.Tensor  # T^2 * KL
    kl: tf.Tensor  # KL without T^2


def distillation_terms(labels, teacher_logits, student_logits, temperature: float,
                       alpha: float, sample_weight=None) -> DistillationTerms:
    """alpha * hard-label loss + (1 - alpha) * soft-target loss, with each term kept."""
    hard = hard_label_loss(labels, student_logits, sample_weight)
    kl = kl_divergence(teacher_logits, student_logits, temperature, sample_weight)
    soft = kl * temperature**2
    return DistillationTerms(alpha * hard + (1.0 - alpha) * soft, hard, soft, kl)


def teacher_agreement(teacher_logits, student_logits, sample_weight=None) -> tf.Tensor:
    """Fraction of examples where the student's argmax equals the teacher's (weighted by
    `sample_weight` when given)."""
    same = tf.cast(tf.equal(tf.argmax(teacher_logits, axis=-1),
                            tf.argmax(student_logits, axis=-1)), tf.float32)
    if sample_weight is None:
        return tf.reduce_mean(same)
    weights = tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
    return tf.math.divide_no_nan(tf.reduce_sum(weights * same), tf.reduce_sum(weights))


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) in NumPy (float64), row by row: the teacher's soft targets at T."""
    scaled = np.asarray(logits, dtype=np.float64) / check_temperature(temperature)
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)
