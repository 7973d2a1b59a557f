"""`StackedMLP`: K multilayer perceptrons of one architecture as one Keras layer.

Built from K built Keras students (Sequential MLPs: Flatten, Dropout and Dense layers, as
`models.mlp` makes them), whose weights it copies: kernels stacked to [K, in, out], biases to
[K, out]; batched matmuls through einsum. Its input is [B, K, ...] (student k's batch in column
k) or [B, ...] shared by every student; its output [B, K, classes]. Each student draws dropout
masks of its own. `stacking.StackedDistiller` trains it.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

NOT_STACKABLE = ("only Sequential MLPs (Flatten, Dropout and Dense layers) can be stacked; train "
                 "this architecture run by run (runner.run)")


def mlp_plan(model: keras.Model) -> list[tuple[str, object]]:
    """A Sequential MLP as steps ("flatten", None), ("dropout", rate), ("dense", layer).

    Raises ValueError for any other model (`NOT_STACKABLE`).
    """
    steps = []
    for layer in getattr(model, "layers", None) or [None]:
        if isinstance(layer, layers.Flatten):
            steps.append(("flatten", None))
        elif isinstance(layer, layers.Dropout) and layer.noise_shape is None:
            steps.append(("dropout", float(layer.rate)))
        elif isinstance(layer, layers.Dense):
            steps.append(("dense", layer))
        else:
            raise ValueError(f"model {getattr(model, 'name', model)!r} has a layer "
                             f"{type(layer).__name__}: {NOT_STACKABLE}")
    if not isinstance(model, keras.Sequential) or not any(k == "dense" for k, _ in steps):
        raise ValueError(f"model {getattr(model, 'name', model)!r}: {NOT_STACKABLE}")
    return steps


def is_stackable(model: keras.Model) -> bool:
    """Whether `mlp_plan` accepts the model."""
    try:
        mlp_plan(model)
    except ValueError:
        return False
    return True


def _stacked_constraint(constraint):
    # A Dense kernel's MaxNorm bounds each unit's incoming weights (axis 0 of [in, out]); in
    # the stack that axis is 1 of [K, in, out].
    if constraint is None:
        return None
    if isinstance(constraint, keras.constraints.MaxNorm) and constraint.axis == 0:
        return keras.constraints.MaxNorm(constraint.max_value, axis=1)
    raise ValueError(f"kernel constraint {type(constraint).__name__}: only MaxNorm can be "
                     "stacked")


class StackedMLP(keras.layers.Layer):
    """K MLPs of one architecture as one layer: [B, K, ...] or shared [B, ...] -> [B, K, C].

    Built from K built Keras students (`mlp_plan`), whose weights it copies: kernels stacked to
    [K, in, out], biases to [K, out]. `member_weights(k)` gives student k's weights in the
    order `student.get_weights()` lists them. With `input_values` (256 floats), uint8 inputs
    are codes into it, decoded inside the compiled step: a batch of K students' images moves
    through the input pipeline in a quarter of the bytes (`stack_runs.pixel_codes`).
    """

    def __init__(self, students, seed: int = 0, input_values=None, **kwargs):
        super().__init__(**kwargs)
        self.input_values = (None if input_values is None
                             else tf.constant(np.asarray(input_values, np.float32)))
        plans = [mlp_plan(s) for s in students]
        signature = [[(kind, value if kind != "dense" else (value.kernel.shape, value.use_bias))
                      for kind, value in plan] for plan in plans]
        if any(s != signature[0] for s in signature[1:]):
            raise ValueError("stacked students must share one architecture (layers and shapes)")
        self.count = len(students)
        self.input_rank = len(students[0].inputs[0].shape) - 1
        self.steps, self.kernels, self.biases = [], [], []
        for i, (kind, value) in enumerate(plans[0]):
            if kind != "dense":
                self.steps.append((kind, value))
                continue
            kernel = np.stack([np.asarray(p[i][1].kernel) for p in plans])
            self.kernels.append(self.add_weight(
                shape=kernel.shape, initializer=keras.initializers.Constant(kernel),
                constraint=_stacked_constraint(value.kernel_constraint), name=f"kernel_{i}"))
            if value.use_bias:
                bias = np.stack([np.asarray(p[i][1].bias) for p in plans])
                self.biases.append(self.add_weight(
                    shape=bias.shape, initializer=keras.initializers.Constant(bias),
                    name=f"bias_{i}"))
            else:
                self.biases.append(None)
            self.steps.append(("dense", (len(self.kernels) - 1, value.activation)))
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, x, training=None):
        shared = len(x.shape) == self.input_rank + 1  # one batch for every student
        if x.dtype == tf.uint8 and self.input_values is not None:
            h = tf.cast(tf.gather(self.input_values, tf.cast(x, tf.int32)), self.compute_dtype)
        else:
            h = tf.cast(x, self.compute_dtype)
        for kind, value in self.steps:
            if kind == "flatten":
                h = tf.reshape(h, [tf.shape(h)[0], -1] if shared
                               else [tf.shape(h)[0], self.count, -1])
            elif kind == "dropout" and training and value > 0:
                if shared:  # masks of its own for each student
                    h = tf.repeat(h[:, None], self.count, axis=1)
                    shared = False
                h = keras.random.dropout(h, value, seed=self.seed_generator)
            elif kind == "dense":
                index, activation = value
                h = tf.einsum("bi,kio->bko" if shared else "bki,kio->bko", h, self.kernels[index])
                shared = False
                if self.biases[index] is not None:
                    h = h + self.biases[index]
                h = activation(h)
        return h

    def member_weights(self, k: int) -> list[np.ndarray]:
        # Slices, not views of the whole stack: kept best weights must not hold K stacks.
        return [np.array(variable[k]) for pair in zip(self.kernels, self.biases, strict=True)
                for variable in pair if variable is not None]

    def set_member_weights(self, k: int, weights) -> None:
        variables = [v for pair in zip(self.kernels, self.biases, strict=True) for v in pair
                     if v is not None]
        for variable, value in zip(variables, weights, strict=True):
            full = np.array(variable)
            full[k] = value
            variable.assign(full)
