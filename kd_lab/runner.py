"""Running configs: train what a `RunConfig` describes and write its record, or read it back.

`run(config)` seeds everything just before building the model, trains with best-epoch
selection on the validation split, evaluates the kept weights once on the test set, and writes
the run's record (`records.py`): it is the lab's one run driver, which the sweep's ways of
training many runs (`stack_runs`, `ray_sweep`) share. `get_or_train_model(config)` returns a
trained model, training it when its record has no model. Every function here that trains
prints what it trains and roughly how long it will take before it starts.
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
from .config import RunConfig, make_optimizer
from .earlier_runs import (  # noqa: F401  (read as runner.get_or_train_model and the like too)
    Irreproducible,
    get_or_train_model,
    initial_weights_of,
    save_teacher_logits,
    teacher_of,
)
from .guard import announce_training
from .records import RESULTS_DIR, RunRecord, is_finished

# The version of what training computes, in every record. Raise it when a change alters the
# numbers a run produces (the loss, the data order, the selection rule), not for refactors:
# a table's runs must share it. Records written before it existed have none.
TRAINING_VERSION = 1


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
        # one teacher pass, or in a stack (equal to float rounding, not bit for bit), and the
        # version of what training computes. A table's runs share them (tests/test_tables.py).
        "trained_as": trained_as,
        "training_version": TRAINING_VERSION,
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
