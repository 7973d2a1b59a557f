"""tf.distribute plumbing of the `Distiller` (and the lab's multi-student models): the summed
update of the replicas is the global batch's, NaN stays out of the weights without a `tf.cond`
around an all-reduce, and metric results are shaped as Keras 3.15 reduces them across workers.
"""

from __future__ import annotations

import tensorflow as tf


def spans_workers(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def for_keras_reduction(results: dict) -> dict:
    """A train/test step's metric results, shaped for Keras to average them across workers.

    Keras 3.15 averages each result over workers along axis 0, which fails on scalars
    (keras-team/keras#20585); a shape-(1,) result averages to the scalar Keras logs.
    """
    if not spans_workers(tf.distribute.get_strategy()):
        return results
    return {name: tf.reshape(value, [1]) for name, value in results.items()}


def replicas_in_sync() -> int:
    """How many replicas the current `tf.distribute` strategy trains on (1 without one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def per_replica_share(loss):
    """One replica's loss (a mean over its share) divided by the replica count, so the
    optimizer's sum of their gradients is the global batch's mean, whatever the devices."""
    replicas = replicas_in_sync()
    return loss / replicas if replicas > 1 else loss


def apply_if_finite(optimizer, loss, gradients, variables, xla: bool = False) -> None:
    """Apply the gradients unless the loss is NaN or infinite (the non-finite-loss callback then
    raises; XLA drops check_numerics, so the guard is control flow or data). A `tf.cond` skips
    the update (zeroing costs 6% of an 800-800 epoch); under XLA (`xla`: a cond stops the update
    fusing, 5%) and across replicas (a cond cannot hold the all-reduce) the gradients are zeroed
    instead: the weights stay finite, the optimizer's momentum moves them once.
    """
    finite = tf.math.is_finite(loss)
    if xla or replicas_in_sync() > 1:
        gradients = [_zeroed_unless(finite, g) for g in gradients]
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return

    def apply_update():
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return tf.constant(True)

    tf.cond(finite, apply_update, lambda: tf.constant(False))


def _zeroed_unless(finite, gradient):
    if isinstance(gradient, tf.IndexedSlices):  # an embedding's sparse gradient
        return tf.IndexedSlices(_zeroed_unless(finite, gradient.values), gradient.indices,
                                gradient.dense_shape)
    return None if gradient is None else tf.where(finite, gradient, tf.zeros_like(gradient))
