"""Model builders for the distillation lab. Every model outputs logits (no softmax).

Teachers and students from Hinton, Vinyals & Dean (2015) and from the public KD repositories
this lab reproduces. Each builder's docstring gives its parameter count, and a test checks it.
`build("mlp:800,800", input_shape, num_classes)` turns the architecture string of a run
config into a model; `register_model(name, builder)` adds a user's own;
`outputs_probabilities(model)` detects a model that ends in softmax.
"""

from __future__ import annotations

import re
import weakref

import keras
import numpy as np
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


# The library's own; each experiment registers the models of its paper or repository
# (`register_model`) when it is imported.
BUILDERS = {
    "hinton_teacher": hinton_teacher,
    "mnist_cnn": mnist_cnn,
}


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # a name is never a path


def check_name(name, argument: str) -> str:
    """Return `name`, or raise unless it is letters, digits, `_`, `-` and `.` (not first):
    run ids and file names are made of names, so none may hold a path separator."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"{argument} must be letters, digits, '_', '-' or '.' (not first), "
                         f"with no path separator; got {name!r}")
    return name


_BUILT = weakref.WeakSet()  # the models registered builders have returned, while they live


def register_model(name: str, builder) -> None:
    """Make `name` an architecture that configs, runs, sweeps and tables accept.

    `builder(input_shape=..., num_classes=...)` must return a new Keras model that outputs
    logits. Registering a name again replaces its builder (rerunning a notebook cell). Runs
    are named by the architecture string, not by the builder's code: give a changed model a
    new name, or its old records are read back as if they were its own.
    """
    check_name(name, "register_model: name")
    if not callable(builder):
        raise ValueError("register_model: builder must be a callable builder(input_shape=..., "
                         f"num_classes=...) -> keras.Model; got {builder!r}")
    BUILDERS[name] = builder


PRECISIONS = ("float32", "mixed_bfloat16")


def build(architecture: str, input_shape, num_classes: int,
          precision: str = "float32") -> keras.Model:
    """Build a model from an architecture string: a `BUILDERS` key or `mlp:W1,W2,...[+dropout]`.

    `precision` "mixed_bfloat16" computes in bfloat16 and keeps float32 weights (Keras' mixed
    precision policy, set while the model is built); a model's logits are float32 either way.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        model = _build(architecture, input_shape, num_classes)
    finally:
        keras.config.set_dtype_policy(previous)
    if model.outputs and model.outputs[0].dtype != "float32":
        raise ValueError(f"architecture {architecture!r} outputs {model.outputs[0].dtype} "
                         f"logits under precision={precision!r}: give its last layer "
                         "dtype='float32'")
    return model


# "mlp:800,800+dropout": the MLP with the Hinton teacher's regularisers (a control that asks
# how much of a teacher's help the regularisers alone give).
TEACHER_REGULARISERS = dict(dropout=0.5, input_dropout=0.2, max_norm=3.5)


def _build(architecture: str, input_shape, num_classes: int) -> keras.Model:
    if architecture.startswith("mlp:"):
        spec, _, extra = architecture[4:].partition("+")
        try:
            widths = [int(w) for w in spec.split(",") if w]
        except ValueError:
            widths = []
        if not widths or min(widths) <= 0 or extra not in ("", "dropout"):
            raise ValueError(f"architecture {architecture!r}: expected 'mlp:' followed by "
                             "positive hidden widths, such as 'mlp:800,800', and optionally "
                             "'+dropout' (the teacher's dropout and max-norm)")
        return mlp(widths, input_shape, num_classes,
                   **(TEACHER_REGULARISERS if extra else {}))
    if architecture not in BUILDERS:
        raise ValueError(f"architecture must be 'mlp:W1,W2,...' or one of {', '.join(BUILDERS)}; "
                         f"got {architecture!r}")
    try:
        model = BUILDERS[architecture](input_shape=input_shape, num_classes=num_classes)
    except TypeError as error:
        if "argument" not in str(error):  # the builder's own TypeError, not its signature
            raise
        raise ValueError(f"architecture {architecture!r}: its builder must take the keywords "
                         f"input_shape= and num_classes= ({error})") from None
    if not isinstance(model, keras.Model):
        raise ValueError(f"architecture {architecture!r}: its builder returned "
                         f"{type(model).__name__}, expected a keras.Model")
    if model in _BUILT:  # two runs would train (and record) one model's weights
        raise ValueError(f"architecture {architecture!r}: its builder returned a model it had "
                         "returned before; build a new model on every call")
    _BUILT.add(model)
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if shape is not None and shape != tuple(input_shape):
        raise ValueError(f"architecture {architecture!r}: its builder returned a model taking "
                         f"inputs of shape {shape} for data of shape {tuple(input_shape)}; build "
                         "the input with the input_shape it is given")
    width = output_width(model)
    if width is None:  # not built yet (a subclassed model): one call on zeros tells
        width = int(model(np.zeros((1, *input_shape), "float32")).shape[-1])
    if width != num_classes:
        raise ValueError(f"architecture {architecture!r}: its builder returned a model with "
                         f"{width} outputs for {num_classes} classes; build the "
                         "last layer with the num_classes it is given")
    return model


def outputs_probabilities(model: keras.Model) -> bool:
    """Whether the model's last layer applies softmax or sigmoid (it outputs probabilities, not
    logits)."""
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
