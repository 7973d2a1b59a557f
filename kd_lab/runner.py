"""Running configs: train what a `RunConfig` describes and write its record, or read it back.

`run(config)` seeds everything just before building the model, trains with best-epoch
selection on the validation split, evaluates the kept weights once on the test set, and writes
the run's record (`records.py`): it is the lab's one run driver, which the sweep's ways of
training many runs (`stack_runs`, `ray_sweep`) share. What a run starts from comes first: its
teacher (the logits kept with the teacher's record, else its model), the weights it starts
from, a trained model (`get_or_train_model`). Every function here that trains prints what it
trains and roughly how long it will take before it starts.

A record is a measurement on the machine that made it, and models are not committed: a
finished run whose model is not on this machine raises `ModelNotHere` where its model is
needed, and regenerating it means retraining it (`run(config, force=True)`), which replaces
its record with this machine's.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from kd_utils import losses, pipeline
from kd_utils.distiller import Distiller

from . import datasets, records, registry, resume, teacher_logits
from .config import RunConfig, ensemble_members, make_optimizer
from .guard import announce_training
from .records import RESULTS_DIR, RunRecord, is_finished
from .teacher_logits import average_logits, recorded_logits, teacher_logits_for, teacher_logits_path


class ModelNotHere(RuntimeError):
    """A finished run's model is needed, and its record is here without it (models are not
    committed)."""


def get_or_train_model(config: RunConfig, results_dir=RESULTS_DIR, data_dir=None, verbose=1):
    """The trained model of a config: loaded from its record, or trained now (announced) when
    the run has no record. A record without its model raises `ModelNotHere`: nothing is
    retrained behind a record's back."""
    record = run(config, results_dir=results_dir, data_dir=data_dir, verbose=verbose)
    if record.model is None and not (record.run_dir / "model.keras").exists():
        raise ModelNotHere(
            f"{config.run_id} is finished, but its model is not in {record.run_dir} (models are "
            "not committed: a record is a measurement on the machine that made it). Retrain "
            "it here with kd_lab.runner.run(config, force=True), which replaces its record "
            "with this machine's")
    return record.load_model()


def teacher_of(config: RunConfig, splits, results_dir, data_dir=None, verbose=0):
    """(teacher model or None, its cached (train, val, test) logits or None) for a run: None
    for a run from scratch; an ensemble's averaged logits and no model (trains what is
    missing)."""
    if config.role != "distilled":
        return None, None
    if config.teacher_seeds:  # an ensemble: its members' own cached logits, averaged
        return None, average_logits([_logits_of(member, config, splits, results_dir, data_dir,
                                                verbose) for member in ensemble_members(config)])
    if not reads_teacher_model(config):
        # cached logits suffice: the ones kept with its record
        return None, _logits_of(config.teacher, config, splits, results_dir, data_dir, verbose)
    teacher_model = get_or_train_model(config.teacher, results_dir, data_dir, verbose)
    return teacher_model, teacher_logits_for(config.teacher, teacher_model, splits, results_dir)


def reads_teacher_model(config: RunConfig) -> bool:
    """Whether a run reads its teacher's model, not only the logits kept with the teacher's
    record: a distilled run (of one teacher) whose loss reads hidden layers, or whose inputs
    are jittered, so that the teacher must see each batch."""
    return (config.role == "distilled" and not config.teacher_seeds
            and bool(config.jitter_pixels or config.make_loss().uses_features()))


def _logits_of(teacher: RunConfig, student: RunConfig, splits, results_dir, data_dir, verbose):
    """A teacher's (train, val, test) logits on a student's splits: kept with its record (for
    these splits, or cut from those of the full splits), else from its model."""
    kept = kept_logits(teacher, student, splits, results_dir, data_dir)
    if kept is not None:
        return kept
    model = get_or_train_model(teacher, results_dir, data_dir, verbose)
    computed = teacher_logits_for(teacher, model, splits, results_dir)
    # the copy just kept with the record, in the precision every other machine reads
    return recorded_logits(teacher, splits, results_dir) or computed


def kept_logits(teacher: RunConfig, student: RunConfig, splits, results_dir, data_dir=None):
    """The teacher's logits kept with its record for the student's `splits`, or else cut from
    those kept for the full splits the student's are selected from (its first `train_limit`
    training images, its `transfer_classes`): a row of logits depends on its image alone, so
    a student on part of the data needs no logits of its own. None when neither is kept."""
    kept = recorded_logits(teacher, splits, results_dir)
    full = student.replace(train_limit=None, transfer_classes=None)
    if kept is not None or full == student:
        return kept
    whole = recorded_logits(teacher, datasets.splits_for(full, data_dir), results_dir)
    if whole is None:
        return None
    train, val = datasets.selected_rows(student, data_dir)
    return whole[0][train], whole[1][val], whole[2]


def initial_weights_of(config: RunConfig, results_dir, data_dir=None, verbose=0):
    """The weights a run starts from: its `init_from` run's (trained if missing), else None."""
    if config.init_from is None:
        return None
    return get_or_train_model(config.init_from, results_dir, data_dir, verbose).get_weights()


def save_teacher_logits(teacher_config: RunConfig, results_dir=RESULTS_DIR,
                        data_dir=None) -> Path:
    """Cache the teacher's logits on its splits under `results/cache/` (training it if needed).

    Returns the path: `<teacher run id>-weights-<hash>-data-<hash>.npz`, with arrays `train`,
    `val` and `test`.
    """
    model = get_or_train_model(teacher_config, results_dir, data_dir, verbose=0)
    splits = datasets.splits_for(teacher_config, data_dir)
    teacher_logits_for(teacher_config, model, splits, results_dir)
    return teacher_logits_path(teacher_config, model, splits, results_dir)


def keep_teacher_logits(configs, results_dir=RESULTS_DIR, data_dir=None) -> int:
    """Keep with their records the logits of the teachers of `configs` whose models are on this
    machine, on the full splits each student's are selected from (which serve every selection:
    `kept_logits`), where none are kept yet; return how many were written. Run it while the
    models exist: students on another machine read these logits, since the teacher's model is
    not committed."""
    written, seen = 0, set()
    for config in configs:
        full = config.replace(train_limit=None, transfer_classes=None)
        inputs = (config.teacher, full.dataset, full.val_size)  # what sets the full splits
        if (config.role != "distilled" or config.jitter_pixels or config.teacher_seeds
                or inputs in seen):
            continue
        seen.add(inputs)
        model = records.run_dir(config.teacher, results_dir) / "model.keras"
        splits = datasets.splits_for(full, data_dir) if model.exists() else None
        if splits is not None and recorded_logits(config.teacher, splits, results_dir) is None:
            teacher_of(full, splits, results_dir, data_dir)
            written += 1
    return written


def inputs_of(config: RunConfig, results_dir, data_dir, verbose):
    """What a run trains from: its splits, its teacher, the cached logits, starting weights."""
    splits = datasets.splits_for(config, data_dir)
    teacher_model, cached = teacher_of(config, splits, results_dir, data_dir, verbose)
    if cached is not None and config.soft_targets != "teacher":
        cached = teacher_logits.control_targets(cached, splits.y_train, splits.y_val,
                                                config.soft_targets, config.temperature,
                                                config.seed)
    initial_weights = initial_weights_of(config, results_dir, data_dir, verbose)
    # The teacher runs every batch only when inputs are jittered or the loss reads its hidden
    # layers; otherwise logits are cached.
    live = config.jitter_pixels or config.make_loss().uses_features()
    live_teacher = teacher_model if (cached is not None and live) else None
    return splits, live_teacher, cached, initial_weights


def build_student(config: RunConfig, splits, initial_weights):
    keras.utils.set_random_seed(config.seed)  # just before building: same seed, same model
    student = registry.build(config.architecture, splits.input_shape, splits.num_classes,
                           config.precision)
    if initial_weights is not None:
        student.set_weights(initial_weights)
    return student


def _compile_and_datasets(model, config: RunConfig, splits, live_teacher, cached):
    train_logits, val_logits, _ = cached if cached is not None else (None, None, None)
    steps_per_epoch = -(-len(splits.x_train) // config.batch_size)
    model.compile(optimizer=make_optimizer(config, steps_per_epoch),
                  jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution)
    train_ds = pipeline.make_dataset(
        splits.x_train, splits.y_train, None if live_teacher else train_logits,
        batch_size=config.batch_size, shuffle=True, seed=config.seed,
        jitter_pixels=config.jitter_pixels, num_classes=splits.num_classes)
    # Hidden layers cannot be cached: a loss reading them validates with the teacher too.
    features = live_teacher is not None and config.make_loss().uses_features()
    val_ds = pipeline.make_dataset(splits.x_val, splits.y_val, None if features else val_logits,
                                   batch_size=1024, num_classes=splits.num_classes)
    return train_ds, val_ds


def evaluate_and_write(config: RunConfig, splits, student, history: pd.DataFrame, cached,
                       wall_seconds: float, results_dir: Path, replicas: int = 1,
                       test_pred=None, trained_as: str = "alone") -> RunRecord:
    """Evaluate the kept weights once on the test set and write the run's record.

    `test_pred`: the student's test logits when already computed (a stack predicts for all its
    students at once); None predicts them here. `trained_as`: "alone" or "stack".
    """
    test_logits = cached[2] if cached is not None else None
    best = resume.best_epoch_index(history, config.monitor)  # the epoch whose weights we keep
    if test_pred is None:
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
        "data_fingerprint": datasets.fingerprint(config, splits),  # '' for built-in data
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
        # How it was executed beyond jit_compile and steps_per_execution: alone, in a group on
        # one teacher pass, or in a stack (equal to float rounding, not bit for bit). A table's
        # runs share it (tests/test_tables.py).
        "trained_as": trained_as,
        "epoch_cpu_seconds_median": round(float(np.median(history["epoch_cpu_seconds"])), 3),
        **records.provenance(),
    }
    return records.write_record(config, row, history, student, results_dir)


def history_frame(history: dict, timer, share: int = 1) -> pd.DataFrame:
    """The history.csv frame: one row per epoch, with its wall and CPU seconds (divided by
    `share`, the group size, for a member of a group)."""
    frame = pd.DataFrame(history)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    frame["epoch_wall_seconds"] = list(np.divide(timer.wall, share))[:len(frame)]
    frame["epoch_cpu_seconds"] = list(np.divide(timer.cpu, share))[:len(frame)]
    return frame


def run(config: RunConfig, results_dir=RESULTS_DIR, force: bool = False, data_dir=None,
        verbose: int | str = 1, callbacks=None, strategy=None, why: str = "training",
        tensorboard_dir=None) -> RunRecord:
    """Train the run a config describes and write its record, or read the record back.

    Args:
        config: the run.
        results_dir: where `runs/` and `summary.csv` live.
        force: retrain even when a finished record exists.
        data_dir: passed to `registry.load` (else `$KD_DATA_DIR`, then `data/`).
        verbose: Keras' progress output (1 = progress bar, 2 = a line per epoch, 0 = none);
            the one-line announcement of what trains is printed whatever its value.
        callbacks: extra Keras callbacks.
        tensorboard_dir: when given, the run's losses, accuracy and teacher agreement are
            written for TensorBoard to `<tensorboard_dir>/<run id>/`.
        strategy: a `tf.distribute.Strategy` to train on several devices or hosts (None: the
            current one). `config.batch_size` is the global batch, split over the replicas,
            and the loss is the global batch's mean, so the number of replicas does not
            change the result (up to float rounding).
        why: the announcement's first word(s).
    """
    results_dir = records.check_results_dir(results_dir)
    if not force and is_finished(config, results_dir):
        return datasets.read_back(config, results_dir, data_dir)
    # A results folder that cannot hold records fails now, not at the first epoch's checkpoint.
    (results_dir / "runs").mkdir(parents=True, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync > 1:
        config = distributed_execution(config)
    with strategy.scope():  # models, optimizer and metrics are built under the strategy
        splits, live_teacher, cached, initial_weights = inputs_of(config, results_dir,
                                                                   data_dir, verbose)
        announce_training(config, len(splits.x_train), why)
        started = time.perf_counter()
        student = build_student(config, splits, initial_weights)
        distiller = Distiller(student=student, teacher=live_teacher, losses=[config.make_loss()],
                              alpha=config.alpha, run_name=config.run_id)
        train_ds, val_ds = _compile_and_datasets(distiller, config, splits, live_teacher,
                                                 cached)
    if needs_our_distribution(strategy):
        # Checked on the arrays, then distributed here (see `needs_our_distribution`).
        train_logits = None if (cached is None or live_teacher) else cached[0][:256]
        distiller.check_batch(splits.x_train[:256], splits.y_train, train_logits, "x")
        train_ds = strategy.experimental_distribute_dataset(train_ds)
    folder = records.run_dir(config, results_dir) / "checkpoint"
    history, timer, resumed_at = resume.fit_resumably(
        distiller, train_ds, val_ds, folder=folder, run_id=config.run_id, epochs=config.epochs,
        patience=config.patience, verbose=verbose, monitor=config.monitor,
        callbacks=[*tensorboard_logging(tensorboard_dir, config.run_id), *(callbacks or [])])
    wall = time.perf_counter() - started + sum(timer.wall[:resumed_at])
    record = evaluate_and_write(config, splits, student, history_frame(history, timer),
                                 cached, wall, results_dir,
                                 replicas=strategy.num_replicas_in_sync)
    resume.remove(folder)
    return record


def clear_caches() -> None:
    """Empty every in-memory cache of the lab: loaded splits and teacher logits."""
    datasets.clear_caches()
    teacher_logits.clear_caches()


def distributed_execution(config):
    """The run config, executed without XLA and one step per execution, for several replicas.

    With TF 2.21 / Keras 3.15 both fail under `MirroredStrategy`: XLA cannot compile a step
    that reads variables mirrored on other devices (tensorflow.org/xla/known_issues,
    "tf.Variable on a different device"), and `steps_per_execution` > 1 fails with an unfed
    placeholder in Keras' multi-step loop. Only how the run executes changes (the run id and
    what it computes do not), and config.json records what was used.
    """
    return config.replace(jit_compile=False, steps_per_execution=1)


def needs_our_distribution(strategy) -> bool:
    """Whether `runner.run` distributes the training dataset itself (MirroredStrategy).

    Keras's own distribution looks at one batch first, which moves the shuffle on, so replicas
    would train on other batches than one device does (a test compares the weights).
    MultiWorkerMirroredStrategy is not a MirroredStrategy: there Keras distributes the data,
    and the test only checks that the workers agree.
    """
    return strategy.num_replicas_in_sync > 1 and isinstance(strategy,
                                                            tf.distribute.MirroredStrategy)


def tensorboard_logging(tensorboard_dir, name: str) -> list:
    """[a TensorBoard callback logging to `<tensorboard_dir>/<name>/`], or [] without a folder."""
    if tensorboard_dir is None:
        return []
    return [keras.callbacks.TensorBoard(log_dir=str(Path(tensorboard_dir) / name),
                                        write_graph=False)]
