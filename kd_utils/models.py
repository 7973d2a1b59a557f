"""Model builders: teachers and students, every one outputting logits (no softmax).

Each builder's docstring gives its parameter count, and a test checks it;
`outputs_probabilities(model)` detects a model that ends in softmax.
"""

from __future__ import annotations

import keras
from keras import layers

MNIST_SHAPE = (28, 28, 1)
CIFAR_SHAPE = (32, 32, 3)


def mlp(hidden: tuple[int, ...] | list[int], input_shape=MNIST_SHAPE, num_classes: int = 10,
        dropout: float = 0.0, input_dropout: float = 0.0, max_norm: float | None = None,
        name: str | None = None) -> keras.Model:
    """A ReLU multilayer perceptron with logits out. Parameters: 784-800-800-10: 1,276,810
    (Hinton et al.'s student); 784-400-10: 318,010; 784-30-30-10: 24,790; 784-10-10: 7,960;
    784-512-26: 415,258 (EMNIST letters); 2-128-128-2: 17,154 (moons)."""
    constraint = keras.constraints.MaxNorm(max_norm) if max_norm else None
    model = keras.Sequential(name=name or "mlp_" + "_".join(str(w) for w in hidden))
    model.add(keras.Input(shape=input_shape))
    model.add(layers.Flatten())
    if input_dropout:
        model.add(layers.Dropout(input_dropout))
    for i, width in enumerate(hidden, 1):  # named, so a hint loss can name them
        model.add(layers.Dense(width, activation="relu", kernel_constraint=constraint,
                               name=f"hidden_{i}"))
        if dropout:
            model.add(layers.Dropout(dropout))
    # float32 logits under mixed precision too: softmax and its gradient need float32's range.
    model.add(layers.Dense(num_classes, kernel_constraint=constraint, name="logits",
                           dtype="float32"))
    return model


def hinton_teacher(input_shape=MNIST_SHAPE, num_classes: int = 10, hidden=(1200, 1200),
                   dropout: float = 0.5, input_dropout: float = 0.2,
                   max_norm: float = 3.5) -> keras.Model:
    """Hinton et al.'s MNIST teacher: 784-1200-1200-10. Parameters: 2,395,210.

    Dropout 0.5 on hidden and 0.2 on input units with a max-norm bound on each unit's incoming
    weights: Srivastava et al.'s (2014) recipe, which the paper's teacher used (bounds of 3-4
    worked best, hence 3.5).
    """
    return mlp(hidden, input_shape, num_classes, dropout=dropout, input_dropout=input_dropout,
               max_norm=max_norm, name="hinton_teacher")


def mnist_cnn(input_shape=MNIST_SHAPE, num_classes: int = 10) -> keras.Model:
    """Small MNIST CNN: conv32-pool-conv32-pool, four dense layers of 56, logits.
    Parameters: 64,570."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        *[layers.Dense(56, activation="relu") for _ in range(4)],
        layers.Dense(num_classes, name="logits"),
    ], name="mnist_cnn")


def outputs_probabilities(model: keras.Model) -> bool:
    """Whether the model's last layer applies softmax or sigmoid (probabilities, not logits)."""
    last = model.layers[-1] if getattr(model, "layers", None) else model
    if isinstance(last, layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") in ("softmax", "sigmoid")


def output_width(model: keras.Model) -> int | None:
    """The number of logits a built model outputs, or None if it is not built yet."""
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
