"""`FusedMomentumSGD`: Keras' SGD with momentum, its update done by one fused TensorFlow kernel.

Keras' SGD updates a weight with momentum in five element-wise passes (two products, a
difference, an assignment, an addition), each reading and writing the whole tensor. TensorFlow's
`ResourceApplyKerasMomentum` does the same arithmetic (`m = m * momentum - lr * g; w += m`) in
one pass, and gave the same weights bit for bit on this TensorFlow build, with and without XLA
(tests/lab/test_fused_sgd.py); `benchmarks/teacher_speed.py` measures what it saves on the
paper's teacher (trained without XLA). Under a tf.distribute strategy, with Nesterov momentum,
without momentum or for sparse gradients, the update is Keras' own.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kd_lab")
class FusedMomentumSGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` (same arguments, results, and variables in the same order),
    faster with momentum."""

    def update_step(self, gradient, variable, learning_rate):
        if (self.momentum == 0 or self.nesterov or isinstance(gradient, tf.IndexedSlices)
                or tf.distribute.has_strategy()):
            return super().update_step(gradient, variable, learning_rate)
        momentum = self.momentums[self._get_variable_index(variable)]
        weights = variable.value if isinstance(variable, keras.Variable) else variable
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=weights.handle, accum=momentum.value.handle,
            lr=tf.cast(learning_rate, weights.dtype), grad=tf.cast(gradient, weights.dtype),
            momentum=tf.cast(self.momentum, weights.dtype), use_locking=False,
            use_nesterov=False)
