"""Model builders for the distillation lab. Every model outputs logits (no softmax).

Teachers and students from Hinton, Vinyals & Dean (2015) and from the public KD repositories
this lab reproduces. Each builder's docstring gives its parameter count, and a test checks it.
`build("mlp:800,800", input_shape, num_classes)` turns the architecture string of a run
config into a model; `register_model(name, builder)` adds a user's own;
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
    """A ReLU multilayer perceptron with logits out.

    Parameters, with MNIST inputs (784) unless said otherwise:
    - 784-800-800-10: 1,276,810 (Hinton et al.'s student)
    - 784-400-10: 318,010
    - 784-30-30-10: 24,790
    - 784-10-10: 7,960 (one hidden layer of 10 units)
    - 784-512-26: 415,258 (EMNIST letters student)
    - 2-128-128-2: 17,154 (moons)
    """
    constraint = keras.constraints.MaxNorm(max_norm) if max_norm else None
    model = keras.Sequential(name=name or "mlp_" + "_".join(str(w) for w in hidden))
    model.add(keras.Input(shape=input_shape))
    model.add(layers.Flatten())
    if input_dropout:
        model.add(layers.Dropout(input_dropout))
    for width in hidden:
        model.add(layers.Dense(width, activation="relu", kernel_constraint=constraint))
        if dropout:
            model.add(layers.Dropout(dropout))
    model.add(layers.Dense(num_classes, kernel_constraint=constraint, name="logits"))
    return model


def hinton_teacher(input_shape=MNIST_SHAPE, num_classes: int = 10, hidden=(1200, 1200),
                   dropout: float = 0.5, input_dropout: float = 0.2,
                   max_norm: float = 3.5) -> keras.Model:
    """Hinton et al.'s MNIST teacher: 784-1200-1200-10, dropout and max-norm weight constraints.

    Parameters: 2,395,210 (784-1200-1200-10).

    Dropout 0.5 on hidden and 0.2 on input units, with a max-norm bound on each unit's
    incoming weights, is the recipe of Srivastava et al. (2014) that the paper's teacher used;
    they report bounds of 3 to 4 working best, hence 3.5.
    """
    return mlp(hidden, input_shape, num_classes, dropout=dropout, input_dropout=input_dropout,
               max_norm=max_norm, name="hinton_teacher")


def mnist_cnn(input_shape=MNIST_SHAPE, num_classes: int = 10) -> keras.Model:
    """Small MNIST CNN: conv32-pool-conv32-pool, four dense layers of 56, then logits.

    Parameters: 64,570 (MNIST).
    """
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


def conv_dense_teacher(input_shape=MNIST_SHAPE, num_classes: int = 10,
                       dropout: float = 0.5) -> keras.Model:
    """One 3x3 convolution of 32 filters (no pooling), then dense 1200-1200 with dropout.

    Parameters: 27,413,130 (MNIST). The teacher of tsitsimis/neural-network-distillation.
    """
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(1200, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(1200, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(num_classes, name="logits"),
    ], name="conv_dense_teacher")


def emnist_cnn(input_shape=MNIST_SHAPE, num_classes: int = 26, dropout: float = 0.25,
               dense_dropout: float = 0.5) -> keras.Model:
    """EMNIST letters teacher: conv64-pool-drop-conv128-pool-drop-dense1024-drop-logits.

    Parameters: 3,378,970 (26 classes).
    """
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Dropout(dropout),
        layers.Conv2D(128, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Dropout(dropout),
        layers.Flatten(),
        layers.Dense(1024, activation="relu"),
        layers.Dropout(dense_dropout),
        layers.Dense(num_classes, name="logits"),
    ], name="emnist_cnn")


def emnist_student(input_shape=MNIST_SHAPE, num_classes: int = 26,
                   dropout: float = 0.2) -> keras.Model:
    """EMNIST letters student: 784-512-26 with dropout 0.2 after the hidden layer.

    Parameters: 415,258 (26 classes).
    """
    return mlp((512,), input_shape, num_classes, dropout=dropout, name="emnist_student")


def cifar_student(input_shape=CIFAR_SHAPE, num_classes: int = 10,
                  dropout: float = 0.5) -> keras.Model:
    """Two conv blocks (16 and 32 filters, batch norm, max-pool), then dense 512-256-logits.

    Parameters: 1,188,266 (CIFAR-10, 32x32x3); 942,218 (Fashion-MNIST, 28x28x1).

    The student of Pratt2762/Knowledge-Distillation-from-AlexNet, with dropout 0.5 before each
    dense layer as there; 3x3 'same' convolutions stand in for its 11x11/4 and 5x5/2 on inputs
    resized to 227x227, so small images are used as they are.
    """
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(16, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dropout(dropout),
        layers.Dense(512, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(256, activation="relu"),
        layers.Dense(num_classes, name="logits"),
    ], name="cifar_student")


def _conv_block(filters: int, kernel: int, pool: bool) -> list:
    block = [layers.Conv2D(filters, kernel, padding="same"), layers.BatchNormalization(),
             layers.ReLU()]
    return block + [layers.MaxPooling2D()] if pool else block


def alexnet_teacher(input_shape=CIFAR_SHAPE, num_classes: int = 10, dropout: float = 0.5,
                    width: float = 1.0, dense: int = 1024, name: str = "alexnet_teacher"
                    ) -> keras.Model:
    """AlexNet-style teacher for small images: five conv blocks, three pools, two dense layers.

    Parameters: 7,711,050 (CIFAR-10, 32x32x3).

    The 5-conv / 3-pool / dropout-dense shape of Krizhevsky et al. (2012) with batch norm after
    every convolution, as in Pratt2762's AlexNet; 5x5 and 3x3 kernels with 'same' padding so
    that 32x32 inputs survive three poolings. `width` scales the filters (64, 192, 384, 256,
    256).
    """
    filters = [max(1, round(width * f)) for f in (64, 192, 384, 256, 256)]
    return keras.Sequential([
        keras.Input(shape=input_shape),
        *_conv_block(filters[0], 5, pool=True),
        *_conv_block(filters[1], 5, pool=True),
        *_conv_block(filters[2], 3, pool=False),
        *_conv_block(filters[3], 3, pool=False),
        *_conv_block(filters[4], 3, pool=True),
        layers.Flatten(),
        layers.Dropout(dropout),
        layers.Dense(dense, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(dense, activation="relu"),
        layers.Dense(num_classes, name="logits"),
    ], name=name)


def alexnet_teacher_small(input_shape=MNIST_SHAPE, num_classes: int = 10) -> keras.Model:
    """`alexnet_teacher` at a quarter of its filters and dense 512, for 2 CPU cores.

    Parameters: 717,882 (Fashion-MNIST, 28x28x1).

    The full-width teacher costs about 1 GFLOP per 28x28 training example (about 7 minutes an
    epoch of Fashion-MNIST here); this one about a tenth of that.
    """
    return alexnet_teacher(input_shape, num_classes, width=0.25, dense=512,
                           name="alexnet_teacher_small")


def moons_mlp(input_shape=(2,), num_classes: int = 2) -> keras.Model:
    """The 2-128-128-2 network of the decision-tree experiment.

    Parameters: 17,154.
    """
    return mlp((128, 128), input_shape, num_classes, name="moons_mlp")


BUILDERS = {
    "hinton_teacher": hinton_teacher,
    "mnist_cnn": mnist_cnn,
    "conv_dense_teacher": conv_dense_teacher,
    "emnist_cnn": emnist_cnn,
    "emnist_student": emnist_student,
    "cifar_student": cifar_student,
    "alexnet_teacher": alexnet_teacher,
    "alexnet_teacher_small": alexnet_teacher_small,
    "moons_mlp": moons_mlp,
}


def register_model(name: str, builder) -> None:
    """Make `name` an architecture that configs, runs, sweeps and tables accept.

    `builder(input_shape=..., num_classes=...)` must return a new Keras model that outputs
    logits. Registering a name again replaces its builder (rerunning a notebook cell). Runs
    are named by the architecture string, not by the builder's code: give a changed model a
    new name, or its old records are read back as if they were its own.
    """
    if not isinstance(name, str) or not name or name.startswith("mlp:") or ":" in name:
        raise ValueError(f"register_model: name must be a non-empty string without ':' "
                         f"('mlp:...' is built in); got {name!r}")
    if not callable(builder):
        raise ValueError("register_model: builder must be a callable builder(input_shape=..., "
                         f"num_classes=...) -> keras.Model; got {builder!r}")
    BUILDERS[name] = builder


def build(architecture: str, input_shape, num_classes: int) -> keras.Model:
    """Build a model from an architecture string: a `BUILDERS` key or `mlp:W1,W2,...`."""
    if architecture.startswith("mlp:"):
        try:
            widths = [int(w) for w in architecture[4:].split(",") if w]
        except ValueError:
            widths = []
        if not widths or min(widths) <= 0:
            raise ValueError(f"architecture {architecture!r}: expected 'mlp:' followed by "
                             "positive hidden widths, such as 'mlp:800,800'")
        return mlp(widths, input_shape, num_classes)
    if architecture not in BUILDERS:
        raise ValueError(f"architecture must be 'mlp:W1,W2,...' or one of {', '.join(BUILDERS)}; "
                         f"got {architecture!r}")
    model = BUILDERS[architecture](input_shape=input_shape, num_classes=num_classes)
    if not isinstance(model, keras.Model):
        raise ValueError(f"architecture {architecture!r}: its builder returned "
                         f"{type(model).__name__}, expected a keras.Model")
    return model


def outputs_probabilities(model: keras.Model) -> bool:
    """Whether the model's last layer applies softmax (it outputs probabilities, not logits)."""
    last = model.layers[-1] if getattr(model, "layers", None) else model
    if isinstance(last, layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def output_width(model: keras.Model) -> int | None:
    """The number of logits a built model outputs, or None if it is not built yet."""
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
