"""`RunConfig`: the frozen description of one training run, its run id, and its optimizer.

A config fully describes a run (teacher, student from scratch, or distilled student); its run
id derives from it, so a finished run is found and read back rather than retrained. Profiles
("fast", "full", "paper") are defined here once: `check_profile` is the one check of a profile
name, and `profile_settings` the one way an experiment picks its per-profile settings.
Defaults follow Hinton, Vinyals & Dean (2015)'s MNIST setup; alpha weights the hard-label loss.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from kd_utils import data, losses
from kd_utils.losses import check_alpha, check_temperature

from . import registry

ROLES = ("teacher", "scratch", "distilled")
OPTIMIZERS = ("adam", "sgd", "adadelta")
LR_SCHEDULES = ("constant", "cosine")
# fast: about a minute on 2 cores (tests, smoke runs); full: the committed results;
# paper: Hinton et al.'s longer trainings (hours); workshop: notebook 16's two-minute runs.
PROFILES = ("fast", "full", "paper", "workshop")
# How a run is executed, not what it computes: kept in config.json but left out of the run id,
# so that tuning speed settings never orphans finished records.
EXECUTION_FIELDS = ("jit_compile", "steps_per_execution")
# Options whose default computes what a run computed before the option existed: at that default
# they stay out of the run id, so adding an option to the lab never renames its records.
OPTION_DEFAULTS = {"transfer_classes": None, "lr_schedule": "constant", "init_from": None,
                   "teacher_seeds": None, "monitor": "val_accuracy", "precision": "float32",
                   "loss": "hinton", "loss_params": (), "soft_targets": "teacher"}
# What selects the kept epoch and stops early, with the direction that is better.
MONITORS = {"val_accuracy": "max", "val_loss": "min"}
# A distilled run's soft targets: the teacher's, or a control that keeps part of them.
SOFT_TARGETS = ("teacher", "class_mean", "shuffled")


def check_seeds(seeds, argument: str = "seeds") -> list[int]:
    """`seeds` as a list, or raise: an empty list makes an empty table, and a repeated seed
    counts the same runs twice (a spread of 0 and a made-up verdict)."""
    seeds = list(seeds) if _is_sequence(seeds) else None
    if not seeds:
        raise ValueError(f"{argument} must be a non-empty list of seeds; got {seeds!r}")
    if any(not _integer(s) or not 0 <= s < 2**32 for s in seeds):
        raise ValueError(f"{argument} must be integers in [0, 2**32); got {seeds!r}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"{argument} repeats {repeated}: each seed is one set of runs, counted "
                         "once")
    return [int(s) for s in seeds]


def check_profile(profile: str, allowed=PROFILES) -> str:
    """Return `profile`, or raise ValueError naming the profiles `allowed`."""
    if profile not in allowed:
        raise ValueError(f"profile must be one of {', '.join(allowed)}; got {profile!r}")
    return profile


def profile_settings(settings: dict, profile: str) -> dict:
    """An experiment's settings for `profile` (its keys are the profiles it supports)."""
    return settings[check_profile(profile, tuple(settings))]


def architecture_slug(architecture: str) -> str:
    """The architecture as it appears in run ids and file names: 'mlp:800,800' -> 'mlp800x800'."""
    return architecture.replace("mlp:", "mlp").replace(",", "x").replace("+", "-")


def execution_defaults(architecture: str) -> tuple[bool, int]:
    """(jit_compile, steps_per_execution) measured fastest for a model family.

    `benchmarks/distillation_speed.py` (2 cores, MNIST, batch 128, 800-800 student; the
    numbers are in `results/benchmarks.csv` and the README): XLA with 32 steps per execution
    takes plain training from 7.6 to 5.6 CPU-seconds per epoch (wall 4.4 -> 2.9 s) and
    distillation on cached logits from 7.8 to 5.7, after a one-off compile of a few seconds.
    Arrays instead of tf.data were no faster (1.00x the CPU time); oneDNN (TensorFlow's
    default, `TF_ENABLE_ONEDNN_OPTS`) was within noise (0.91-0.98x of off). The 30-30
    student went from 1.9 to 0.8 (an earlier measurement, as is the teacher's below). XLA
    made the dropout teacher 2-3 times slower to train (42-55 CPU-s per epoch against 18), so
    other families keep TensorFlow's defaults until measured.
    """
    if architecture.startswith("mlp:"):  # XLA made dropout 2-3x slower (the teacher, below)
        return "+dropout" not in architecture, 32
    # Without XLA, 32 steps per execution halve the dropout teacher's epoch (2.60 -> 1.32 s on
    # 10,000 images, benchmarks/teacher_speed.py); other families are not measured yet.
    return False, (32 if architecture == "hinton_teacher" else 1)


def _finite(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool) and bool(np.isfinite(value))


def _integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_sequence(values) -> bool:
    return not isinstance(values, (str, bytes)) and hasattr(values, "__iter__")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run. Defaults follow Hinton et al.'s MNIST setup."""

    dataset: str = "mnist"
    role: str = "distilled"  # "teacher", "scratch" (hard labels only) or "distilled"
    architecture: str = "mlp:800,800"  # a registry.BUILDERS key or "mlp:W1,W2,..."
    teacher: RunConfig | None = None  # the teacher run a distilled run learns from
    # A finished run whose trained weights this run starts from (None: a fresh initialisation).
    # Some published recipes continue a trained baseline; this reproduces them.
    init_from: RunConfig | None = None
    temperature: float = 20.0  # the paper's MNIST temperature; used by distilled runs only
    # The distillation loss, a `registry.LOSSES` name, and its parameters but T (the temperature
    # field): ((name, value), ...), a dict accepted. "hinton" is Hinton et al.'s T^2 * KL. A
    # loss that needs no teacher (label smoothing) makes a run from scratch a control.
    loss: str = "hinton"
    loss_params: tuple = ()
    # "teacher": the teacher's logits; the controls (cached logits only): "class_mean" gives
    # each example its class's mean teacher distribution at T (class similarity kept, the
    # per-example part removed), "shuffled" another training example's (the rohin-dasari seed's
    # bug, as a control). `teacher_logits.control_targets` makes them.
    soft_targets: str = "teacher"
    alpha: float = 0.1  # weight of the HARD-label loss; the paper keeps it low
    epochs: int = 60
    patience: int = 15  # epochs without a better `monitor` before stopping
    # The kept epoch is the best by this; "val_loss" where a restricted validation split (one
    # or two classes) saturates accuracy in the first epoch.
    monitor: str = "val_accuracy"
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine": decays to 0 over `epochs` (long trainings)
    momentum: float = 0.0  # SGD only
    weight_decay: float = 0.0  # decoupled weight decay of the optimizer
    jitter_pixels: int = 0  # the paper jittered the teacher's inputs by up to 2 pixels
    val_size: int = data.DEFAULT_VAL_SIZE
    train_limit: int | None = None  # first N training examples only (FAST profiles)
    # Classes kept in the training (transfer) set and validation split; None keeps all. The
    # test set always keeps every class: Hinton et al.'s omitted-3 experiment needs this.
    transfer_classes: tuple[int, ...] | None = None
    # An ensemble teacher: `teacher` trained at each of these seeds, their logits averaged
    # (Hinton et al. section 2). None: `teacher` alone.
    teacher_seeds: tuple[int, ...] | None = None
    seed: int = 0
    # "mixed_bfloat16": compute in bfloat16 with float32 weights (teachers 1.3x as fast here,
    # on CPUs with bfloat16 units; benchmarks/teacher_speed.py). One precision per table.
    precision: str = "float32"
    profile: str = "full"  # one of PROFILES: keeps profiles apart in results
    # None: the measured default for the architecture (`execution_defaults`).
    jit_compile: bool | None = None
    steps_per_execution: int | None = None

    def __post_init__(self):
        def fail(name, expected):
            raise ValueError(f"RunConfig.{name} must be {expected}; got {getattr(self, name)!r}")

        for name in ("seed", "epochs", "patience", "batch_size", "jitter_pixels"):
            if isinstance(getattr(self, name), np.integer):  # NumPy ints: JSON has no such type
                object.__setattr__(self, name, int(getattr(self, name)))
        measured_jit, measured_steps = execution_defaults(self.architecture)
        if self.jit_compile is None:
            object.__setattr__(self, "jit_compile", measured_jit)
        if self.steps_per_execution is None:
            object.__setattr__(self, "steps_per_execution", measured_steps)

        if not isinstance(self.jit_compile, (bool, np.bool_)):
            fail("jit_compile", "True, False or None (the measured default)")
        object.__setattr__(self, "jit_compile", bool(self.jit_compile))
        if self.dataset not in registry.known_datasets():
            fail("dataset", f"one of {', '.join(registry.known_datasets())} (or one registered "
                 "with registry.register_dataset)")
        if self.role not in ROLES:
            fail("role", f"one of {', '.join(ROLES)}")
        if self.optimizer not in OPTIMIZERS:
            fail("optimizer", f"one of {', '.join(OPTIMIZERS)}")
        for name in ("epochs", "batch_size", "steps_per_execution"):
            if not _integer(getattr(self, name)) or getattr(self, name) < 1:
                fail(name, "a positive integer")
        if not _integer(self.patience) or self.patience < 0:
            fail("patience", "an integer >= 0")
        if not _finite(self.learning_rate) or not self.learning_rate > 0:
            fail("learning_rate", "a finite number > 0")
        if not _finite(self.weight_decay) or self.weight_decay < 0:
            fail("weight_decay", "a finite number >= 0 (0: none)")
        if not _finite(self.momentum) or not 0 <= self.momentum < 1:
            fail("momentum", "a number in [0, 1) (SGD only; 0.9 is usual)")
        if self.momentum and self.optimizer != "sgd":
            fail("momentum", f"0 with optimizer={self.optimizer!r} (only SGD uses it)")
        if self.architecture.startswith("mlp:"):
            try:
                registry.parse_mlp(self.architecture)
            except ValueError:
                fail("architecture", "'mlp:' followed by positive hidden widths, such as "
                     "'mlp:800,800', and optionally '+dropout' (the teacher's regularisers)")
        elif self.architecture not in registry.BUILDERS:
            fail("architecture", f"'mlp:W1,W2,...' or one of {', '.join(registry.BUILDERS)} (or "
                 "one registered with registry.register_model)")
        if not _integer(self.seed) or not 0 <= self.seed < 2**32:
            fail("seed", "an integer in [0, 2**32) (Keras seeds Python, NumPy and TensorFlow "
                 "with it)")
        if not _integer(self.jitter_pixels) or self.jitter_pixels < 0:
            fail("jitter_pixels", "an integer >= 0 (0: no jitter)")
        if self.train_limit is not None and (not _integer(self.train_limit)
                                             or self.train_limit < 1):
            fail("train_limit", "None (all the training data) or an integer >= 1")
        if not ((_integer(self.val_size) and self.val_size >= 1)
                or (isinstance(self.val_size, float) and 0 < self.val_size < 1)):
            fail("val_size", "an integer >= 1 (examples) or a fraction in (0, 1) of the "
                 "training data")
        if self.profile not in PROFILES:
            fail("profile", f"one of {', '.join(PROFILES)}")
        if self.lr_schedule not in LR_SCHEDULES:
            fail("lr_schedule", f"one of {', '.join(LR_SCHEDULES)}")
        params = self.loss_params
        if isinstance(params, dict):
            params = params.items()
        if not _is_sequence(params) or any(
                not _is_sequence(p) or len(p) != 2 or not isinstance(p[0], str)
                or not (_finite(p[1]) or isinstance(p[1], str)) for p in params):
            fail("loss_params", "a dict (or pairs) of parameter names and numbers or names")
        object.__setattr__(self, "loss_params", tuple(sorted(tuple(p) for p in params)))
        if "temperature" in dict(self.loss_params):
            fail("loss_params", "free of temperature (the temperature field sets it)")
        if self.loss not in registry.LOSSES:
            fail("loss", f"one of {', '.join(registry.LOSSES)} (or one registered with "
                 "registry.register_loss)")
        loss = self.make_loss()  # its own checks of its parameters, now
        if self.role == "teacher" and (self.loss, self.loss_params) != ("hinton", ()):
            fail("loss", "'hinton' without loss_params for a teacher (it learns from labels)")
        if self.role == "scratch" and self.loss != "hinton" and loss.needs_teacher:
            fail("loss", "a loss that needs no teacher (label_smoothing) when role='scratch'")
        if self.role == "distilled" and not loss.needs_teacher:
            fail("loss", f"a loss that learns from the teacher when role='distilled' ("
                 f"{self.loss!r} needs none: make it a role='scratch' run)")
        if self.soft_targets not in SOFT_TARGETS:
            fail("soft_targets", f"one of {', '.join(SOFT_TARGETS)}")
        if self.soft_targets != "teacher" and (self.role != "distilled" or self.jitter_pixels
                                               or loss.uses_features()):
            fail("soft_targets", "'teacher' unless a distilled run trains on cached logits (no "
                 "jitter, no hidden-layer loss)")
        if self.precision not in registry.PRECISIONS:
            fail("precision", f"one of {', '.join(registry.PRECISIONS)}")
        if self.monitor not in MONITORS:
            fail("monitor", f"one of {', '.join(MONITORS)}")
        if self.init_from is not None and (
                not isinstance(self.init_from, RunConfig)
                or (self.init_from.architecture, self.init_from.dataset)
                != (self.architecture, self.dataset)):
            fail("init_from", f"None or the RunConfig of a {self.architecture!r} run on "
                 f"{self.dataset!r}")
        if self.transfer_classes is not None:
            classes = self.transfer_classes
            if (not _is_sequence(classes) or not classes
                or any(not isinstance(c, (int, np.integer)) or c < 0 for c in classes)
                or len(set(classes)) != len(classes)):
                fail("transfer_classes", "None or a non-empty sequence of distinct class ids >= 0")
            object.__setattr__(self, "transfer_classes", tuple(sorted(int(c) for c in classes)))
        if self.role == "distilled":
            check_temperature(self.temperature)
            check_alpha(self.alpha)
            if not isinstance(self.teacher, RunConfig) or self.teacher.role != "teacher":
                fail("teacher", "the RunConfig of a role='teacher' run when role='distilled'")
            if self.teacher.dataset != self.dataset:
                fail("teacher", f"a teacher trained on {self.dataset!r}")
            if self.teacher_seeds is not None:
                seeds = self.teacher_seeds
                if (not _is_sequence(seeds) or len(seeds) < 2 or len(set(seeds)) != len(seeds)
                    or any(not isinstance(t, (int, np.integer)) for t in seeds)):
                    fail("teacher_seeds", "None or at least 2 distinct integer seeds")
                if self.jitter_pixels:  # an ensemble's logits are averaged once, then cached
                    fail("teacher_seeds", "None when jitter_pixels > 0")
                object.__setattr__(self, "teacher_seeds", tuple(int(t) for t in seeds))
        else:
            if self.teacher is not None:
                fail("teacher", f"None when role={self.role!r}")
            if self.teacher_seeds is not None:
                fail("teacher_seeds", f"None when role={self.role!r}")
            # Hard labels only: T and alpha play no part, so they must not split run ids. A
            # control's loss (label smoothing) replaces the hard-label loss: alpha 0.
            object.__setattr__(self, "temperature", 1.0)
            object.__setattr__(self, "alpha", 1.0 if self.loss == "hinton" else 0.0)

    def make_loss(self) -> losses.DistillationLoss:
        """The run's distillation loss object, at its temperature."""
        return registry.make_loss(self.loss, temperature=self.temperature,
                                **dict(self.loss_params))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        values = dict(values)
        for nested in ("teacher", "init_from"):
            if values.get(nested) is not None:
                values[nested] = cls.from_dict(values[nested])
        for listed in ("transfer_classes", "teacher_seeds"):  # JSON gives lists
            if values.get(listed) is not None:
                values[listed] = tuple(values[listed])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def replace(self, **changes) -> RunConfig:
        """A copy with `changes`. A new architecture brings its own measured execution
        defaults, unless this config chose other ones or `changes` name them: keeping the old
        family's XLA made the dropout controls 3.6 (800-800) to 17 (30-30) times slower."""
        if "architecture" in changes:
            old_defaults = execution_defaults(self.architecture)
            for name, old_default in zip(EXECUTION_FIELDS, old_defaults, strict=True):
                if name not in changes and getattr(self, name) == old_default:
                    changes[name] = None
        return dataclasses.replace(self, **changes)

    @functools.cached_property  # a frozen config's id never changes; tables ask for it often
    def run_id(self) -> str:
        """`<dataset>-<role>-<architecture>[-T..-a..]-s<seed>-<profile>-<hash>`."""
        identity = _identity(self)
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
        knobs = f"-T{self.temperature:g}-a{self.alpha:g}" if self.role == "distilled" else ""
        knobs += f"-ens{len(self.teacher_seeds)}" if self.teacher_seeds else ""
        knobs += f"-{self.loss}" if self.loss != "hinton" else ""
        knobs += f"-{self.soft_targets}" if self.soft_targets != "teacher" else ""
        return (f"{self.dataset}-{self.role}-{architecture_slug(self.architecture)}{knobs}"
                f"-s{self.seed}-{self.profile}"
                f"-{digest}")


# The training settings a notebook's parameters cell exposes (None there: the profile's value).
KNOBS = ("epochs", "learning_rate", "optimizer", "patience", "batch_size", "jitter_pixels",
         "lr_schedule", "momentum", "weight_decay")


def with_knobs(config: RunConfig, knobs: dict | None) -> RunConfig:
    """`config` with the given training knobs changed; a knob set to None keeps its value.

    A changed knob changes the run id, so a run with other knobs trains anew instead of reading
    back the committed record of the profile's settings.
    """
    knobs = {k: v for k, v in (knobs or {}).items() if v is not None}
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise ValueError(f"knobs: {', '.join(unknown)} cannot be set here; the knobs are "
                         f"{', '.join(KNOBS)}")
    return config.replace(**knobs) if knobs else config


def differing_fields(a: RunConfig, b: RunConfig, allowed=()) -> list[str]:
    """The fields, other than `allowed`, in which two configs differ (sorted)."""
    first, second = a.to_dict(), b.to_dict()
    return sorted(k for k in first if k not in allowed and first[k] != second[k])


def _identity(config: RunConfig) -> dict:
    values = {k: v for k, v in config.to_dict().items() if k not in EXECUTION_FIELDS
              and not (k in OPTION_DEFAULTS and v == OPTION_DEFAULTS[k])}
    if config.teacher is not None:
        values["teacher"] = _identity(config.teacher)
    if config.init_from is not None:
        values["init_from"] = _identity(config.init_from)
    return values


def ensemble_members(config: RunConfig) -> list[RunConfig]:
    """The teacher configs of an ensemble-distilled run (`teacher` at each `teacher_seeds`)."""
    return [config.teacher.replace(seed=seed) for seed in config.teacher_seeds]


def make_optimizer(config: RunConfig, steps_per_epoch: int = 1):
    """The config's optimizer; "cosine" decays the rate to 0 over all `epochs`."""
    import keras

    decay = config.weight_decay or None
    rate = config.learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.epochs * steps_per_epoch)
    if config.optimizer == "sgd":
        from .fused_sgd import FusedMomentumSGD  # imports TensorFlow: not at config's import

        return FusedMomentumSGD(rate, momentum=config.momentum, weight_decay=decay)
    if config.optimizer == "adadelta":
        return keras.optimizers.Adadelta(rate, weight_decay=decay)
    return keras.optimizers.Adam(rate, weight_decay=decay)
