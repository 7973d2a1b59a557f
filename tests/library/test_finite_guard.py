"""The finite-loss guard of one training step (`distribute.apply_if_finite`), on its own: a
finite loss applies the gradients; a NaN loss leaves the weights as they were (plain SGD), by
a skipped update or, under XLA, by zeroed gradients, dense or sparse (an embedding's)."""

import numpy as np
import pytest
import tensorflow as tf

import kd_utils  # noqa: F401  (TensorFlow without its start-up lines)
from kd_utils.distribute import apply_if_finite


@pytest.mark.parametrize("xla", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("loss,moves", [(1.0, True), (float("nan"), False),
                                        (float("inf"), False)])
def test_the_guard_applies_finite_steps_only(xla, sparse, loss, moves):
    import keras

    variable = tf.Variable(np.ones((4, 2), np.float32))
    optimizer = keras.optimizers.SGD(0.5)
    optimizer.build([variable])
    gradient = tf.fill((4, 2), np.float32("nan") if not moves else np.float32(1.0))
    if sparse:
        gradient = tf.IndexedSlices(gradient[:2], tf.constant([0, 3]), tf.constant([4, 2]))
    apply_if_finite(optimizer, tf.constant(loss), [gradient], [variable], xla=xla)
    after = variable.numpy()
    assert np.isfinite(after).all()
    if moves:
        changed = [0, 3] if sparse else [0, 1, 2, 3]
        assert np.allclose(after[changed], 0.5) and np.allclose(np.delete(after, changed, 0), 1)
    else:
        assert np.array_equal(after, np.ones((4, 2)))
