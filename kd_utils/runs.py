"""Run configs and run records: one frozen config in, one self-describing record out.

A `RunConfig` fully describes a training run (teacher, student from scratch, or distilled
student). `run(config)` seeds everything just before building the model, trains with
best-epoch selection on the validation split, evaluates the selected weights once on the
test set, and writes:

    results/runs/<run_id>/config.json   the config (and how it was executed)
    results/runs/<run_id>/history.csv   one row per epoch, every loss and metric
    results/runs/<run_id>/row.json      the summary row; written last, so it marks completion
    results/runs/<run_id>/model.keras   the trained model (not committed: regenerable)
    results/summary.csv                 one tidy row per finished run, rebuilt from row.json

The run id derives from the config, so a finished run is found and read back instead of
retrained. Files are replaced atomically: a killed run leaves no half-written record.
Records follow the one-row-per-run layout of RepDistiller and torchdistill.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from . import data as data_module
from . import losses, models
from .distiller import Distiller, GroupDistiller, GroupEarlyStopping, compute_teacher_logits

REPO_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_DIR / "results"
ROLES = ("teacher", "scratch", "distilled")
OPTIMIZERS = ("adam", "sgd", "adadelta")
LR_SCHEDULES = ("constant", "cosine")
PROFILES = ("fast", "full", "paper")
# How a run is executed, not what it computes: kept in config.json but left out of the run id,
# so that tuning speed settings never orphans finished records.
EXECUTION_FIELDS = ("jit_compile", "steps_per_execution")
# Fields added after records were committed: left out of the run id while at their default, so
# every earlier run id (and record) stays valid.
LATER_FIELD_DEFAULTS = {"transfer_classes": None, "lr_schedule": "constant", "init_from": None,
                        "teacher_seeds": None}


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
    return (True, 32) if architecture.startswith("mlp:") else (False, 1)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run. Defaults follow Hinton et al.'s MNIST setup."""

    dataset: str = "mnist"
    role: str = "distilled"  # "teacher", "scratch" (hard labels only) or "distilled"
    architecture: str = "mlp:800,800"  # a models.BUILDERS key or "mlp:W1,W2,..."
    teacher: RunConfig | None = None  # the teacher run a distilled run learns from
    # A finished run whose trained weights this run starts from (None: a fresh initialisation).
    # Some published recipes continue a trained baseline; this reproduces them.
    init_from: RunConfig | None = None
    temperature: float = 20.0  # the paper's MNIST temperature; used by distilled runs only
    alpha: float = 0.1  # weight of the HARD-label loss; the paper keeps it low
    epochs: int = 60
    patience: int = 15  # epochs without a better validation accuracy before stopping
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine": decays to 0 over `epochs` (long trainings)
    momentum: float = 0.0  # SGD only
    weight_decay: float = 0.0  # decoupled weight decay of the optimizer
    jitter_pixels: int = 0  # the paper jittered the teacher's inputs by up to 2 pixels
    val_size: int = data_module.DEFAULT_VAL_SIZE
    train_limit: int | None = None  # first N training examples only (FAST profiles)
    # Classes kept in the training (transfer) set and validation split; None keeps all. The
    # test set always keeps every class: Hinton et al.'s omitted-3 experiment needs this.
    transfer_classes: tuple[int, ...] | None = None
    # An ensemble teacher: `teacher` trained at each of these seeds, their logits averaged
    # (Hinton et al. section 2). None: `teacher` alone.
    teacher_seeds: tuple[int, ...] | None = None
    seed: int = 0
    profile: str = "full"  # "fast", "full" or "paper" (long): keeps profiles apart in results
    # None: the measured default for the architecture (`execution_defaults`).
    jit_compile: bool | None = None
    steps_per_execution: int | None = None

    def __post_init__(self):
        def fail(name, expected):
            raise ValueError(f"RunConfig.{name} must be {expected}; got {getattr(self, name)!r}")

        measured_jit, measured_steps = execution_defaults(self.architecture)
        if self.jit_compile is None:
            object.__setattr__(self, "jit_compile", measured_jit)
        if self.steps_per_execution is None:
            object.__setattr__(self, "steps_per_execution", measured_steps)

        if self.dataset not in data_module.DATASETS:
            fail("dataset", f"one of {', '.join(data_module.DATASETS)}")
        if self.role not in ROLES:
            fail("role", f"one of {', '.join(ROLES)}")
        if self.optimizer not in OPTIMIZERS:
            fail("optimizer", f"one of {', '.join(OPTIMIZERS)}")
        for name in ("epochs", "batch_size", "steps_per_execution"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                fail(name, "a positive integer")
        if not isinstance(self.patience, int) or self.patience < 0:
            fail("patience", "an integer >= 0")
        if not self.learning_rate > 0:
            fail("learning_rate", "> 0")
        if self.profile not in PROFILES:
            fail("profile", f"one of {', '.join(PROFILES)}")
        if self.lr_schedule not in LR_SCHEDULES:
            fail("lr_schedule", f"one of {', '.join(LR_SCHEDULES)}")
        if self.init_from is not None and (
                not isinstance(self.init_from, RunConfig)
                or (self.init_from.architecture, self.init_from.dataset)
                != (self.architecture, self.dataset)):
            fail("init_from", f"None or the RunConfig of a {self.architecture!r} run on "
                 f"{self.dataset!r}")
        if self.transfer_classes is not None:
            classes = self.transfer_classes
            if (isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__")
                    or not classes or any(not isinstance(c, (int, np.integer)) or c < 0
                                          for c in classes)
                    or len(set(classes)) != len(classes)):
                fail("transfer_classes", "None or a non-empty sequence of distinct class ids >= 0")
            object.__setattr__(self, "transfer_classes", tuple(sorted(int(c) for c in classes)))
        if self.role == "distilled":
            losses.check_temperature(self.temperature)
            losses.check_alpha(self.alpha)
            if not isinstance(self.teacher, RunConfig) or self.teacher.role != "teacher":
                fail("teacher", "the RunConfig of a role='teacher' run when role='distilled'")
            if self.teacher.dataset != self.dataset:
                fail("teacher", f"a teacher trained on {self.dataset!r}")
            if self.teacher_seeds is not None:
                seeds = self.teacher_seeds
                if (isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__")
                        or len(seeds) < 2 or len(set(seeds)) != len(seeds)
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
            # Hard labels only: T and alpha play no part, so they must not split run ids.
            object.__setattr__(self, "temperature", 1.0)
            object.__setattr__(self, "alpha", 1.0)

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
        return dataclasses.replace(self, **changes)

    @property
    def run_id(self) -> str:
        """`<dataset>-<role>-<architecture>[-T..-a..]-s<seed>-<profile>-<hash of the config>`."""
        identity = _identity(self)
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
        arch = self.architecture.replace("mlp:", "mlp").replace(",", "x")
        knobs = f"-T{self.temperature:g}-a{self.alpha:g}" if self.role == "distilled" else ""
        knobs += f"-ens{len(self.teacher_seeds)}" if self.teacher_seeds else ""
        return f"{self.dataset}-{self.role}-{arch}{knobs}-s{self.seed}-{self.profile}-{digest}"


def _identity(config: RunConfig) -> dict:
    values = {k: v for k, v in config.to_dict().items() if k not in EXECUTION_FIELDS
              and not (k in LATER_FIELD_DEFAULTS and v == LATER_FIELD_DEFAULTS[k])}
    if config.teacher is not None:
        values["teacher"] = _identity(config.teacher)
    if config.init_from is not None:
        values["init_from"] = _identity(config.init_from)
    return values


@dataclass
class RunRecord:
    """What a finished run left behind. `trained` is False when it was read back from disk."""

    config: RunConfig
    run_dir: Path
    row: dict
    history: pd.DataFrame
    trained: bool
    model: object = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.config.run_id

    def load_model(self):
        """The trained model (a keras.Model), loaded from `model.keras` when not in memory."""
        if self.model is None:
            self.model = keras.models.load_model(self.run_dir / "model.keras")
        return self.model


# -- files ---------------------------------------------------------------------------------
def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_finished(config: RunConfig, results_dir=RESULTS_DIR) -> bool:
    return (Path(results_dir) / "runs" / config.run_id / "row.json").exists()


def load_record(config: RunConfig, results_dir=RESULTS_DIR) -> RunRecord:
    run_dir = Path(results_dir) / "runs" / config.run_id
    row = json.loads((run_dir / "row.json").read_text())
    history = pd.read_csv(run_dir / "history.csv")
    return RunRecord(config, run_dir, row, history, trained=False)


def write_summary(results_dir=RESULTS_DIR) -> pd.DataFrame:
    """Rebuild `summary.csv` from every finished run's `row.json` (one row each, no duplicates)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    # One rebuild at a time: without the lock, two processes sharing a results folder (a sweep
    # and a notebook, say) could each write a summary that misses the other's newest row.
    with open(results_dir / ".summary.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = [json.loads(p.read_text()) for p in sorted(results_dir.glob("runs/*/row.json"))]
        summary = pd.DataFrame(rows)
        if not summary.empty:
            summary = summary.sort_values(["finished_at", "run_id"], kind="stable")
        atomic_write_text(results_dir / "summary.csv", summary.to_csv(index=False))
    return summary


def read_summary(results_dir=RESULTS_DIR) -> pd.DataFrame:
    path = Path(results_dir) / "summary.csv"
    return pd.read_csv(path) if path.exists() else pd.DataFrame()


def write_table(table: pd.DataFrame, name: str, results_dir=RESULTS_DIR) -> Path:
    """Write a derived table as `results/tables/<name>.csv` (atomically); return its path."""
    path = Path(results_dir) / "tables" / f"{name}.csv"
    atomic_write_text(path, table.to_csv(index=False))
    return path


def load_histories(rows: pd.DataFrame, results_dir=RESULTS_DIR) -> list[pd.DataFrame]:
    """The `history.csv` of each run in `rows` (summary rows), in the same order."""
    return [pd.read_csv(Path(results_dir) / "runs" / run_id / "history.csv")
            for run_id in rows["run_id"]]


def git_commit() -> str:
    """The repository's commit, with '-dirty' when tracked files have uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_DIR,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO_DIR, capture_output=True, text=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# -- running -------------------------------------------------------------------------------
_SPLITS_CACHE: dict = {}
_TEACHER_LOGITS_CACHE: dict = {}


def load_splits(config: RunConfig, data_dir=None) -> data_module.Splits:
    """The dataset splits a config trains on (loaded once per process).

    A synthetic dataset (`moons`) is drawn anew for each seed, so a spread over seeds includes
    the sampling of the data; real datasets keep one validation split for every run.
    """
    data_seed = config.seed if config.dataset in data_module.SAMPLED_DATASETS else 0
    key = (config.dataset, config.val_size, str(data_dir), data_seed)
    if key not in _SPLITS_CACHE:
        _SPLITS_CACHE[key] = data_module.load(config.dataset, data_dir=data_dir,
                                              val_size=config.val_size, seed=data_seed)
    splits = _SPLITS_CACHE[key].limit_train(config.train_limit)
    return splits if config.transfer_classes is None else splits.keep_classes(
        config.transfer_classes)


def make_optimizer(config: RunConfig, steps_per_epoch: int = 1):
    """The config's optimizer; "cosine" decays the rate to 0 over all `epochs`."""
    decay = config.weight_decay or None
    rate = config.learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.epochs * steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum, weight_decay=decay)
    if config.optimizer == "adadelta":
        return keras.optimizers.Adadelta(rate, weight_decay=decay)
    return keras.optimizers.Adam(rate, weight_decay=decay)


def _digest(arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:12]


def teacher_logits_path(teacher_config: RunConfig, teacher_model, splits: data_module.Splits,
                        results_dir=RESULTS_DIR) -> Path:
    """Where the teacher's logits on these splits are cached on disk.

    The name holds a hash of the teacher's weights and one of the input images, so a retrained
    or edited teacher, or other data, can never be served stale logits.
    """
    weights = _digest(teacher_model.get_weights())
    inputs = _digest((splits.x_train, splits.x_val, splits.x_test))
    name = f"{teacher_config.run_id}-weights-{weights}-data-{inputs}.npz"
    return Path(results_dir) / "cache" / "teacher_logits" / name


def teacher_logits_for(teacher_config: RunConfig, teacher_model, splits: data_module.Splits,
                       results_dir=RESULTS_DIR):
    """The teacher's logits on (train, val, test): from memory, from disk, or computed once."""
    path = teacher_logits_path(teacher_config, teacher_model, splits, results_dir)
    if path not in _TEACHER_LOGITS_CACHE:
        if path.exists():
            with np.load(path) as stored:
                logits = (stored["train"], stored["val"], stored["test"])
        else:
            logits = tuple(compute_teacher_logits(teacher_model, x)
                           for x in (splits.x_train, splits.x_val, splits.x_test))
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, train=logits[0], val=logits[1], test=logits[2])
            os.replace(tmp, path)  # readers see the whole file or none
        _TEACHER_LOGITS_CACHE[path] = logits
    return _TEACHER_LOGITS_CACHE[path]


def save_teacher_logits(teacher_config: RunConfig, results_dir=RESULTS_DIR,
                        data_dir=None) -> Path:
    """Cache the teacher's logits on its splits under `results/cache/` (not committed).

    Returns the path: `<teacher run id>-weights-<hash>-data-<hash>.npz`, with arrays `train`,
    `val` and `test`.
    """
    model = get_teacher(teacher_config, results_dir, data_dir, verbose=0)
    splits = load_splits(teacher_config, data_dir)
    teacher_logits_for(teacher_config, model, splits, results_dir)
    return teacher_logits_path(teacher_config, model, splits, results_dir)


def ensemble_members(config: RunConfig) -> list[RunConfig]:
    """The teacher configs of an ensemble-distilled run (`teacher` at each `teacher_seeds`)."""
    return [config.teacher.replace(seed=seed) for seed in config.teacher_seeds]


def ensemble_logits(config: RunConfig, splits: data_module.Splits, results_dir=RESULTS_DIR,
                    data_dir=None, verbose=0):
    """(train, val, test) logits of the ensemble teacher: the members' logits averaged.

    Each member is an ordinary teacher run (trained if missing) with its own cached logits.
    """
    members = [teacher_logits_for(member, get_teacher(member, results_dir, data_dir, verbose),
                                  splits, results_dir) for member in ensemble_members(config)]
    return tuple(np.mean([logits[i] for logits in members], axis=0) for i in range(3))


def get_model(config: RunConfig, results_dir=RESULTS_DIR, data_dir=None, verbose=1):
    """The trained model of a config: loaded from its record, or trained now.

    Training is deterministic per config, so retraining a record whose `model.keras` is missing
    (models are not committed) gives back the same weights.
    """
    record = run(config, results_dir=results_dir, data_dir=data_dir, verbose=verbose)
    if record.model is None and not (record.run_dir / "model.keras").exists():
        record = run(config, results_dir=results_dir, data_dir=data_dir, verbose=verbose,
                     force=True)
    return record.load_model()


get_teacher = get_model  # the name notebooks use for the model distilled from


class EpochTimer(keras.callbacks.Callback):
    """Wall and CPU seconds of each epoch (CPU time is steadier on shared VMs)."""

    def __init__(self):
        super().__init__()
        self.wall, self.cpu = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        self.wall.append(time.perf_counter() - self._start[0])
        self.cpu.append(time.process_time() - self._start[1])


def _inputs_of(config: RunConfig, results_dir, data_dir, verbose):
    """What a run trains from: its splits, its teacher, the cached logits, starting weights."""
    splits = load_splits(config, data_dir)
    teacher_model = cached = None
    if config.role == "distilled" and config.teacher_seeds:
        cached = ensemble_logits(config, splits, results_dir, data_dir, verbose)
    elif config.role == "distilled":
        teacher_model = get_teacher(config.teacher, results_dir, data_dir, verbose)
        cached = teacher_logits_for(config.teacher, teacher_model, splits, results_dir)
    initial_weights = (get_model(config.init_from, results_dir, data_dir, verbose).get_weights()
                       if config.init_from is not None else None)
    # The teacher runs every batch only when inputs are jittered; otherwise logits are cached.
    live_teacher = teacher_model if (cached is not None and config.jitter_pixels) else None
    return splits, live_teacher, cached, initial_weights


def _build_student(config: RunConfig, splits, initial_weights):
    keras.utils.set_random_seed(config.seed)  # just before building: same seed, same model
    student = models.build(config.architecture, splits.input_shape, splits.num_classes)
    if initial_weights is not None:
        student.set_weights(initial_weights)
    return student


def _compile_and_datasets(model, config: RunConfig, splits, live_teacher, cached):
    train_logits, val_logits, _ = cached if cached is not None else (None, None, None)
    steps_per_epoch = -(-len(splits.x_train) // config.batch_size)
    model.compile(optimizer=make_optimizer(config, steps_per_epoch),
                  jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution)
    train_ds = data_module.make_dataset(
        splits.x_train, splits.y_train, None if live_teacher else train_logits,
        batch_size=config.batch_size, shuffle=True, seed=config.seed,
        jitter_pixels=config.jitter_pixels, num_classes=splits.num_classes)
    val_ds = data_module.make_dataset(splits.x_val, splits.y_val, val_logits, batch_size=1024,
                                      num_classes=splits.num_classes)
    return train_ds, val_ds


def _write_record(config: RunConfig, splits, student, history: pd.DataFrame, cached,
                  wall_seconds: float, results_dir: Path, replicas: int = 1) -> RunRecord:
    """Evaluate the kept weights once on the test set and write the run's files."""
    test_logits = cached[2] if cached is not None else None
    best = int(history["val_accuracy"].to_numpy().argmax())  # the epoch whose weights we keep
    test_pred = student.predict(splits.x_test, batch_size=1024, verbose=0)
    test_errors = int((test_pred.argmax(-1) != splits.y_test).sum())
    agreement = (float(losses.teacher_agreement(test_logits, test_pred))
                 if test_logits is not None else None)  # no teacher: null, not NaN
    row = {
        "run_id": config.run_id,
        **{k: v for k, v in config.to_dict().items() if k not in ("teacher", "init_from")},
        "teacher_run_id": config.teacher.run_id if config.teacher else "",
        "teacher_architecture": config.teacher.architecture if config.teacher else "",
        "init_from_run_id": config.init_from.run_id if config.init_from else "",
        "params": int(student.count_params()),
        "train_examples": len(splits.x_train),
        "best_epoch": best + 1,
        "epochs_trained": len(history),
        "train_accuracy": float(history["accuracy"].iloc[best]),
        "val_accuracy": float(history["val_accuracy"].iloc[best]),
        "test_accuracy": 1.0 - test_errors / len(splits.y_test),
        "test_errors": test_errors,
        "test_count": len(splits.y_test),
        "test_teacher_agreement": agreement,
        "wall_seconds": round(wall_seconds, 2),
        "replicas": replicas,  # devices the global batch was split over (tf.distribute)
        "epoch_cpu_seconds_median": round(float(np.median(history["epoch_cpu_seconds"])), 3),
        "tf_version": tf.__version__,
        "keras_version": keras.__version__,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "git_commit": git_commit(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    row = json.loads(json.dumps(row))  # the same values in memory as read back from row.json
    run_dir = results_dir / "runs" / config.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    atomic_write_text(run_dir / "history.csv", history.to_csv(index=False))
    student.save(run_dir / "model.keras")
    atomic_write_text(run_dir / "row.json", json.dumps(row, indent=2) + "\n")  # completion mark
    write_summary(results_dir)
    return RunRecord(config, run_dir, row, history, trained=True, model=student)


def _history_frame(history: dict, wall, cpu) -> pd.DataFrame:
    frame = pd.DataFrame(history)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    frame["epoch_wall_seconds"] = list(wall)[:len(frame)]
    frame["epoch_cpu_seconds"] = list(cpu)[:len(frame)]
    return frame


def run(config: RunConfig, results_dir=RESULTS_DIR, force: bool = False, data_dir=None,
        verbose: int | str = 1, callbacks=None, strategy=None) -> RunRecord:
    """Train the run a config describes and write its record, or read the record back.

    Args:
        config: the run.
        results_dir: where `runs/` and `summary.csv` live.
        force: retrain even when a finished record exists.
        data_dir: passed to `data.load` (else `$KD_DATA_DIR`, then `data/`).
        verbose: Keras' progress output (1 = progress bar, 2 = a line per epoch, 0 = none).
        callbacks: extra Keras callbacks.
        strategy: a `tf.distribute.Strategy` to train on several devices or hosts (None: the
            current one). `config.batch_size` is the global batch, split over the replicas,
            and the loss is the global batch's mean, so the number of replicas does not
            change the result (up to float rounding).
    """
    results_dir = Path(results_dir)
    if not force and is_finished(config, results_dir):
        return load_record(config, results_dir)
    strategy = strategy or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync > 1:
        config = distributed_execution(config)
    with strategy.scope():  # models, optimizer and metrics are built under the strategy
        splits, live_teacher, cached, initial_weights = _inputs_of(config, results_dir,
                                                                   data_dir, verbose)
        started = time.perf_counter()
        student = _build_student(config, splits, initial_weights)
        distiller = Distiller(student, live_teacher, temperature=config.temperature,
                              alpha=config.alpha, run_name=config.run_id)
        train_ds, val_ds = _compile_and_datasets(distiller, config, splits, live_teacher,
                                                 cached)
    if strategy.num_replicas_in_sync > 1 and isinstance(strategy, tf.distribute.MirroredStrategy):
        # Checked on the arrays, then distributed here: Keras's own distribution looks at one
        # batch first, which moves the shuffle on, so replicas would train on other batches
        # than one device does (a test compares the weights). MultiWorkerMirroredStrategy is
        # not a MirroredStrategy: there Keras distributes the data, and the test only checks
        # that the workers agree.
        train_logits = None if (cached is None or live_teacher) else cached[0][:256]
        distiller.check_batch(splits.x_train[:256], splits.y_train, train_logits, "x")
        train_ds = strategy.experimental_distribute_dataset(train_ds)
    timer = EpochTimer()
    stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                            patience=config.patience or config.epochs,
                                            restore_best_weights=True)
    fit = distiller.fit(train_ds, validation_data=val_ds, epochs=config.epochs, verbose=verbose,
                        shuffle=False,  # train_ds shuffles itself, seeded
                        callbacks=[stopper, timer, *(callbacks or [])])
    history = _history_frame(fit.history, timer.wall, timer.cpu)
    return _write_record(config, splits, student, history, cached,
                         time.perf_counter() - started, results_dir,
                         replicas=strategy.num_replicas_in_sync)


def distributed_execution(config: RunConfig) -> RunConfig:
    """The config, executed without XLA and one step per execution, for several replicas.

    With TF 2.21 / Keras 3.15 both fail under `MirroredStrategy`: XLA cannot compile a step
    that reads variables mirrored on other devices (tensorflow.org/xla/known_issues,
    "tf.Variable on a different device"), and `steps_per_execution` > 1 fails with an unfed
    placeholder in Keras' multi-step loop. Only how the run executes changes (the run id and
    what it computes do not), and config.json records what was used.
    """
    return config.replace(jit_compile=False, steps_per_execution=1)


def _group_key(config: RunConfig) -> dict:
    return {k: v for k, v in config.to_dict().items() if k not in ("temperature", "alpha")}


def can_group(a: RunConfig, b: RunConfig) -> bool:
    """Whether two runs differ in T and alpha only, so they can share every batch."""
    return _group_key(a) == _group_key(b)


def run_group(configs, results_dir=RESULTS_DIR, force: bool = False, data_dir=None,
              verbose: int | str = 1) -> list[RunRecord]:
    """Train runs that differ only in T and alpha together: one teacher forward per batch.

    Each student is built from its own seed, sees the batches (and jitter) its own run would
    see, and keeps its own best validation epoch and early stop (`GroupEarlyStopping`), so its
    record is the one `run(config)` would write, in the same files and form. Time is shared:
    a record's `wall_seconds` and epoch seconds are the group's divided by the group size, and
    `group.json` beside it names the group and its undivided times. Finished runs are read back.

    The seed is not a group dimension on purpose: it sets the batch order and the jitter, so
    students of different seeds cannot share batches without their records depending on their
    group.
    """
    results_dir = Path(results_dir)
    configs = list(configs)
    for config in configs[1:]:
        if not can_group(configs[0], config):
            differing = sorted(k for k, v in _group_key(config).items()
                               if _group_key(configs[0]).get(k) != v)
            raise ValueError(f"run_group: {config.run_id} differs from {configs[0].run_id} in "
                             f"{', '.join(differing)}; a group's runs may differ in temperature "
                             "and alpha only")
    todo = [c for c in configs if force or not is_finished(c, results_dir)]
    if len(todo) <= 1:
        return [run(c, results_dir, force, data_dir, verbose) for c in configs]
    first = todo[0]
    splits, live_teacher, cached, initial_weights = _inputs_of(first, results_dir, data_dir,
                                                               verbose)
    started = time.perf_counter()
    students = [_build_student(c, splits, initial_weights) for c in todo]
    group = GroupDistiller(students, live_teacher, [c.temperature for c in todo],
                           [c.alpha for c in todo], [c.run_id for c in todo])
    train_ds, val_ds = _compile_and_datasets(group, first, splits, live_teacher, cached)
    timer = EpochTimer()
    stopper = GroupEarlyStopping(patience=first.patience or first.epochs)
    fit = group.fit(train_ds, validation_data=val_ds, epochs=first.epochs, verbose=verbose,
                    shuffle=False, callbacks=[stopper, timer])
    wall = time.perf_counter() - started
    size = len(todo)
    finished = {}
    for config, student, history, stopped in zip(todo, students, group.split_history(fit.history),
                                                  stopper.stopped_after, strict=True):
        frame = _history_frame(history, np.divide(timer.wall, size), np.divide(timer.cpu, size))
        frame = frame.iloc[:stopped] if stopped else frame
        record = _write_record(config, splits, student, frame, cached, wall / size, results_dir)
        atomic_write_text(record.run_dir / "group.json", json.dumps({
            "group_size": size, "run_ids": [c.run_id for c in todo],
            "group_wall_seconds": round(wall, 2),
            "group_epoch_cpu_seconds": [round(t, 3) for t in timer.cpu]}, indent=2) + "\n")
        finished[config.run_id] = record
    return [finished.get(c.run_id) or load_record(c, results_dir) for c in configs]


def aggregate(summary: pd.DataFrame, by=("dataset", "role", "architecture", "temperature", "alpha"),
              metrics=("test_accuracy", "test_errors", "test_teacher_agreement")) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1) and count over seeds for each group of runs."""
    by = [c for c in by if c in summary.columns]
    table = summary.groupby(by, dropna=False)[list(metrics)].agg(["mean", "std", "count"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    return table.reset_index()
