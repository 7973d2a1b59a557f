"""What the names in a run config stand for: architectures, distillation losses and datasets.

A run config names its models ("mlp:800,800", "hinton_teacher"), its loss ("hinton") and its
data ("mnist") so that its run id can be made of names. This module holds what each name
means: the library's own models, losses and datasets, and those registered here by the
experiments (each for its paper or repository, when imported) or by a user (notebook 17):

- `register_model(name, builder)`, `build(architecture, input_shape, num_classes)`;
- `register_loss(name, loss_class)`, `make_loss(name, **parameters)`;
- `register_dataset(name, source)`, `load(name, ...)`.

Names are names, never paths (`check_name`): run ids and file names are made of them.
"""

from __future__ import annotations

import inspect
import re
import weakref

import keras
import numpy as np

from kd_utils import data, models
from kd_utils.losses import DecoupledKD, DistillationLoss, HintLoss, HintonKD, LabelSmoothing

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # a name is never a path


def check_name(name, argument: str) -> str:
    """Return `name`, or raise unless it is letters, digits, `_`, `-` and `.` (not first):
    run ids and file names are made of names, so none may hold a path separator."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"{argument} must be letters, digits, '_', '-' or '.' (not first), "
                         f"with no path separator; got {name!r}")
    return name


# -- Architectures ----------------------------------------------------------------------------
# The library's own; each experiment registers the models of its paper or repository.
BUILDERS = {
    "hinton_teacher": models.hinton_teacher,
    "mnist_cnn": models.mnist_cnn,
}
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


def parse_mlp(architecture: str) -> tuple[list[int], bool]:
    """'mlp:800,800+dropout' -> ([800, 800], True): the hidden widths, and whether the MLP has
    the teacher's regularisers. ValueError for a malformed one ('mlp:8,,8' included)."""
    spec, _, extra = architecture.removeprefix("mlp:").partition("+")
    widths = spec.split(",")
    if not all(w.isdigit() and int(w) > 0 for w in widths) or extra not in ("", "dropout"):
        raise ValueError(f"architecture {architecture!r}: expected 'mlp:' followed by "
                         "positive hidden widths, such as 'mlp:800,800', and optionally "
                         "'+dropout' (the teacher's dropout and max-norm)")
    return [int(w) for w in widths], extra == "dropout"


def _build(architecture: str, input_shape, num_classes: int) -> keras.Model:
    if architecture.startswith("mlp:"):
        widths, regularised = parse_mlp(architecture)
        return models.mlp(widths, input_shape, num_classes,
                          **(TEACHER_REGULARISERS if regularised else {}))
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
    width = models.output_width(model)
    if width is None:  # not built yet (a subclassed model): one call on zeros tells
        width = int(model(np.zeros((1, *input_shape), "float32")).shape[-1])
    if width != num_classes:
        raise ValueError(f"architecture {architecture!r}: its builder returned a model with "
                         f"{width} outputs for {num_classes} classes; build the "
                         "last layer with the num_classes it is given")
    return model


# -- Distillation losses ----------------------------------------------------------------------
# The losses a run config names (`RunConfig.loss`); `register_loss` adds one's own.
LOSSES = {"hinton": HintonKD, "decoupled": DecoupledKD, "hint": HintLoss,
          "label_smoothing": LabelSmoothing}


def register_loss(name: str, loss_class) -> None:
    """Make `name` a loss that run configs and sweeps accept: `loss_class` is a
    `losses.DistillationLoss` subclass whose constructor takes the parameters by keyword."""
    check_name(name, "register_loss: name")
    if not (isinstance(loss_class, type) and issubclass(loss_class, DistillationLoss)):
        raise ValueError(f"register_loss: {loss_class!r} is not a losses.DistillationLoss "
                         "subclass")
    LOSSES[name] = loss_class


def make_loss(name: str, **parameters) -> DistillationLoss:
    """The registered loss `name` built with `parameters`; a ValueError names what is wrong.
    `temperature` is dropped for a loss that takes none (label smoothing)."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)} (or one registered with "
                         f"registry.register_loss); got {name!r}")
    if "temperature" not in inspect.signature(LOSSES[name]).parameters:
        parameters.pop("temperature", None)
    try:
        return LOSSES[name](**parameters)
    except TypeError as error:
        raise ValueError(f"loss {name!r}: {error}") from None


# -- Datasets ---------------------------------------------------------------------------------
_REGISTERED: dict = {}  # name -> (source, num_classes or None, generation)
_GENERATION = 0


def register_dataset(name: str, source, num_classes: int | None = None) -> None:
    """Make `name` a dataset that configs, runs, sweeps and tables accept.

    `source` is one of: `((x_train, y_train), (x_test, y_test))` numpy arrays (the form of
    `keras.datasets`); a pair `(train, test)` of `tf.data.Dataset`s of `(x, y)` (batched or
    not); or a callable returning either, called on first use with those of `data_dir`,
    `download` and `seed` it names (one naming `seed` draws its data per run seed). The data
    is checked as `data.from_arrays` checks it. Registering a name again replaces it; a
    built-in name cannot be registered.
    """
    check_name(name, "register_dataset: name")
    if name in data.DATASETS:
        raise ValueError(f"register_dataset: name must be a new name (built in: "
                         f"{', '.join(data.DATASETS)}); got {name!r}")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise ValueError(f"register_dataset: num_classes must be None or an integer >= 2; "
                         f"got {num_classes!r}")
    global _GENERATION
    _GENERATION += 1
    _REGISTERED[name] = (source, num_classes, _GENERATION)


def unregister_dataset(name: str) -> None:
    """Forget a registered dataset (a notebook's or a test's), if it is registered."""
    _REGISTERED.pop(name, None)


def known_datasets() -> tuple[str, ...]:
    """The built-in datasets and those registered in this process."""
    return data.DATASETS + tuple(_REGISTERED)


def draws_per_seed(name: str) -> bool:
    """Whether `name` is a registered loader that draws its data from a seed."""
    source = _REGISTERED[name][0] if name in _REGISTERED else None
    return callable(source) and "seed" in inspect.signature(source).parameters


def generation(name: str) -> int:
    """Changes each time `name` is registered (0 for a name never registered)."""
    return _REGISTERED[name][2] if name in _REGISTERED else 0


def load(name: str, data_dir=None, val_size: int | float = data.DEFAULT_VAL_SIZE,
         seed: int = 0, download: bool = True) -> data.Splits:
    """The splits of a built-in (`data.load`) or registered dataset; `seed` seeds the
    validation split, and the data of a loader that `draws_per_seed`."""
    if name not in _REGISTERED:
        if name not in data.DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(known_datasets())}; got "
                             f"{name!r} (or register it: registry.register_dataset)")
        return data.load(name, data_dir=data_dir, val_size=val_size, seed=seed,
                         download=download)
    source, num_classes, _ = _REGISTERED[name]
    if callable(source):
        arguments = dict(data_dir=data_dir, download=download, seed=seed)
        names = inspect.signature(source).parameters
        source = source(**{k: v for k, v in arguments.items() if k in names})
    try:
        train, test = source
    except (TypeError, ValueError) as err:
        raise ValueError(f"dataset {name!r}: expected ((x_train, y_train), (x_test, y_test)) or "
                         "(train, test) tf.data.Datasets") from err
    return data.from_arrays(name, train, test, num_classes, val_size, seed)
