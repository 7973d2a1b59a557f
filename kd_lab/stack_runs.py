"""Running many configs as one stack: `run_stack`, its batches, and which configs can stack.

Runs that differ only in seed, temperature and alpha (and so in their teachers' seeds; a run
from scratch stacks with distilled ones as their alpha = 1), with an MLP student and no jitter
(so the teachers' logits are cached), train together as one `stacking.StackedDistiller`.
Each student's record is the one `runner.run(config)` writes: the same run id, files and form,
the weights of its own best validation epoch, the history its own run would have (cut where
it would have stopped), plus `stack.json` naming the stack; times are its share (the stack's
over its size).

Why the records match: a student is built from its own seed (`runner.build_student`), sees
the batches its own run would see (`stacked_dataset` draws each seed's shuffles as that run's
dataset draws them), has its own T and alpha, and stops and keeps its best epoch on its own
(`stacking.StackEarlyStopping`). Float summation order differs (einsum over a stack against one
matmul), so weights agree to rounding, not bit for bit; `tests/lab/test_stack_runs.py`
measures how far.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kd_utils import models, pipeline

from . import datasets, records, registry, resume, runner
from .config import RunConfig, differing_fields, make_optimizer
from .guard import announce_training
from .records import RESULTS_DIR, RunRecord, is_finished
from .stacked_mlp import is_stackable
from .stacking import StackEarlyStopping, StackedDistiller, split_history

# Students per stack by default: one seed's 21-cell grid. Measured on the 30-30 grid
# (`benchmarks/stacking_speed.py`, results/benchmarks.csv): a stack of 21 trained a student-
# epoch in less CPU time than a stack of 63, and in less memory, so larger stacks buy nothing.
STACK_SIZE = 21
# Stacking pays where a run's fixed costs and per-step overheads dominate: a stack trained the
# 30-30 student (25k parameters) at 1.7x the throughput of separate runs, the compute-bound
# 800-800 (1.3M) at 1.00x, and a stack computes its early-stopped members until the last one
# stops, so large students train alone. Unmeasured in between: 100-100 (90k) stacks, 300-300
# (330k) does not.
STACK_MAX_PARAMS = 100_000
_VARYING = ("seed", "temperature", "alpha", "role", "teacher")


@functools.cache
def _small_mlp(architecture: str, builder) -> bool:
    # Built once, on MNIST's shape: its size there stands for its size on any data (cached per
    # builder: registering a name again may change its family).
    model = registry.build(architecture, models.MNIST_SHAPE, 10)
    return is_stackable(model) and model.count_params() <= STACK_MAX_PARAMS


def stackable(config: RunConfig) -> bool:
    """Whether a config trains in a stack: an MLP student of at most `STACK_MAX_PARAMS`
    parameters (on MNIST's shape) whose teacher's logits are cached (no jitter; a run from
    scratch needs no teacher), trained on Hinton's loss."""
    # The stack computes Hinton's loss only.
    return not config.jitter_pixels and (config.loss, config.soft_targets) == (
        "hinton", "teacher") and _small_mlp(
        config.architecture, registry.BUILDERS.get(config.architecture))


def _stack_key(config: RunConfig) -> str:
    return json.dumps({k: v for k, v in config.to_dict().items() if k not in _VARYING},
                      sort_keys=True, default=str)


def _why_not(a: RunConfig, b: RunConfig) -> list[str]:
    """What keeps two runs out of one stack (empty: they can stack)."""
    differing = differing_fields(a, b, _VARYING)
    if a.teacher is not None and b.teacher is not None:
        differing += [f"teacher.{name}" for name in differing_fields(a.teacher, b.teacher,
                                                                     ("seed",))]
    return differing


def can_stack(a: RunConfig, b: RunConfig) -> bool:
    """Whether two runs differ only in seed, temperature and alpha, their teachers only in
    seed (a run from scratch has none), and so can stack."""
    return not _why_not(a, b)


def training_stacks(configs, stack_size: int) -> list[list[RunConfig]]:
    """The configs in stacks of at most `stack_size` that can train together (`can_stack` and
    `stackable`; others alone), in the order their first members come."""
    if not isinstance(stack_size, int) or stack_size < 1:
        raise ValueError(f"stack_size must be a positive integer; got {stack_size!r}")
    stacks: list[list[RunConfig]] = []
    open_stacks: dict[str, list[RunConfig]] = {}
    for config in configs:
        key = _stack_key(config)
        current = open_stacks.get(key)
        if (stack_size > 1 and stackable(config) and current and len(current) < stack_size
                and all(can_stack(member, config) for member in current)):
            current.append(config)
            continue
        stacks.append([config])
        if stack_size > 1 and stackable(config):
            open_stacks[key] = stacks[-1]
    return stacks


def pixel_codes(x) -> tuple:
    """(uint8 codes, the 256 float32 values they stand for) when every value of `x` is exactly
    k / 255 (images scaled to [0, 1], as `data.load` scales them), else (None, None). A stack
    gathers K students' batches every step: as codes they move 4 times fewer bytes, and the
    compiled step decodes them to the very floats a separate run reads."""
    values = np.arange(256, dtype=np.float32) / np.float32(255)
    x = np.asarray(x)
    if x.dtype != np.float32 or not x.size or x.min() < 0 or x.max() > 1:
        return None, None
    codes = np.rint(x * 255).astype(np.uint8)
    return (codes, values) if np.array_equal(values[codes], x) else (None, None)


def stacked_dataset(x, y, teacher_logits, batch_size: int, seeds):
    """Batches of a stack: column k of step i is the batch a separate run with `seeds[k]` sees
    at step i (inputs [B, K, ...], labels [B, K], cached logits [B, K, C] in the inputs).
    `teacher_logits` is [N, C] (one teacher), [K, N, C] (column k's own teacher) or None.

    Each column's order is drawn from a dataset of indices made as `pipeline.make_dataset`
    makes a run's dataset (under the run's global seed, shuffled with its seed, reshuffled on
    every pass), so every pass over this dataset (Keras' epochs, a resumed run's replays)
    draws each column's next shuffle exactly when the separate run draws its own.
    """
    count = len(x)
    orders = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)  # the global seed a run's dataset is made under
        # Each column's whole epoch as one element: the columns fill their shuffle buffers one
        # after the other (zip pulls them in turn), so one buffer of `count` elements is alive
        # at a time, not K (at K = 63 on MNIST, 0.7 GB per pass).
        orders.append(tf.data.Dataset.range(count).shuffle(
            count, seed=seed, reshuffle_each_iteration=True).batch(count))
    x, y = tf.constant(x), tf.constant(y)
    logits = None if teacher_logits is None else tf.constant(teacher_logits, tf.float32)

    def steps(*columns):  # K epoch orders -> batches of [B, K] indices
        return tf.data.Dataset.from_tensor_slices(tf.stack(columns, axis=1)).batch(batch_size)

    def gather(indices):
        inputs = tf.gather(x, indices)
        if logits is not None and len(logits.shape) == 3:  # [K, N, C]: rows of column k's own
            inputs = pipeline.with_teacher_logits(inputs, tf.transpose(
                tf.gather(logits, tf.transpose(indices), batch_dims=1), [1, 0, 2]))
        elif logits is not None:
            inputs = pipeline.with_teacher_logits(inputs, tf.gather(logits, indices))
        return inputs, tf.gather(y, indices)

    # A stacked batch is K times a run's: a fixed, short prefetch bounds the memory it takes
    # (AUTOTUNE buffers grow with the batches' size). Not autotuned, as a run's dataset is not.
    # flat_map hides the number of steps; Keras reads it, as from a run's own dataset.
    batches = tf.data.Dataset.zip(tuple(orders)).flat_map(steps).apply(
        tf.data.experimental.assert_cardinality(-(-count // batch_size)))
    return pipeline.without_autotuning(batches.map(gather, num_parallel_calls=2).prefetch(2))


def _check(configs) -> None:
    for config in configs:
        if not stackable(config):
            raise ValueError(f"run_stack: {config.run_id} cannot stack (jittered inputs, or not "
                             "an MLP student); train it with runner.run")
        for other in configs:
            if not can_stack(other, config):
                raise ValueError(
                    f"run_stack: {config.run_id} differs from {other.run_id} in "
                    f"{', '.join(_why_not(other, config))}; a stack's runs may differ in seed, "
                    "temperature and alpha only (their teachers in seed only)")


def _teacher_key(config: RunConfig) -> str:
    return json.dumps([config.to_dict()["teacher"], config.teacher_seeds], sort_keys=True)


def _teachers_logits(configs, splits, results_dir, data_dir, verbose) -> list:
    """Each run's cached (train, val, test) teacher logits (None from scratch), computed once
    per teacher."""
    by_teacher = {}
    for config in configs:
        if config.role == "distilled" and _teacher_key(config) not in by_teacher:
            by_teacher[_teacher_key(config)] = runner.teacher_of(config, splits, results_dir,
                                                                 data_dir, verbose)[1]
    return [by_teacher[_teacher_key(c)] if c.role == "distilled" else None for c in configs]


def _columns(cached: list, part: int) -> np.ndarray:
    """One part (0 train, 1 validation) of the stack's teacher logits: [N, C] when the runs
    have one teacher, else [K, N, C]. A run from scratch (alpha = 1) multiplies them by 0."""
    present = [c for c in cached if c is not None]
    if all(c is present[0] for c in present):
        return np.asarray(present[0][part], np.float32)
    zeros = np.zeros_like(present[0][part], dtype=np.float32)
    return np.stack([zeros if c is None else np.asarray(c[part], np.float32) for c in cached])


def run_stack(configs, results_dir=RESULTS_DIR, force: bool = False, data_dir=None,
              verbose: int | str = 0, tensorboard_dir=None) -> list[RunRecord]:
    """Train runs that differ only in seed, T and alpha as one stack, and write their records.

    Finished runs are read back; a killed stack resumes from its checkpoint (losing at most
    an epoch) when it is started again with the same unfinished runs, and otherwise retrains
    only the unfinished ones. Returns the records in the order of `configs`.
    """
    results_dir = Path(results_dir)
    configs = list(configs)
    _check(configs)
    todo = [c for c in configs if force or not is_finished(c, results_dir)]
    if not todo:
        return [datasets.read_back(c, results_dir, data_dir) for c in configs]
    first, size = todo[0], len(todo)
    splits = datasets.splits_for(first, data_dir)
    initial_weights = runner.initial_weights_of(first, results_dir, data_dir, verbose)
    cached = _teachers_logits(todo, splits, results_dir, data_dir, verbose)
    announce_training(first, len(splits.x_train), f"training a stack of {size} like",
                      runs=size)
    started = time.perf_counter()
    students = [runner.build_student(c, splits, initial_weights) for c in todo]
    soft = any(c is not None for c in cached)
    codes, values = pixel_codes(splits.x_train)
    stack = StackedDistiller(students, [c.temperature for c in todo], [c.alpha for c in todo],
                             [c.run_id for c in todo], soft_targets=soft, seed=first.seed,
                             input_values=values)
    steps_per_epoch = -(-len(splits.x_train) // first.batch_size)
    stack.compile(optimizer=make_optimizer(first, steps_per_epoch),
                  jit_compile=first.jit_compile, steps_per_execution=first.steps_per_execution)
    train_logits, val_logits = (_columns(cached, part) if soft else None for part in (0, 1))
    train_ds = stacked_dataset(splits.x_train if codes is None else codes, splits.y_train,
                               train_logits, first.batch_size, [c.seed for c in todo])
    val_ds = pipeline.make_dataset(
        splits.x_val, splits.y_val,
        None if val_logits is None else val_logits.swapaxes(0, 1) if val_logits.ndim == 3
        else val_logits, batch_size=1024, num_classes=splits.num_classes)
    run_ids = [c.run_id for c in todo]
    folder = records.run_dir(first, results_dir) / "stack-checkpoint"
    stopper = StackEarlyStopping(first.patience or first.epochs, first.monitor)
    history, timer, resumed_at = resume.fit_resumably(
        stack, train_ds, val_ds, folder=folder, run_id="+".join(run_ids), epochs=first.epochs,
        patience=first.patience, verbose=verbose, stopper=stopper,
        callbacks=runner.tensorboard_logging(tensorboard_dir, f"stack-{first.run_id}"))
    test_pred = stack.predict(splits.x_test, batch_size=1024, verbose=0)  # [N, K, classes]
    wall = time.perf_counter() - started + sum(timer.wall[:resumed_at])
    finished = {}
    for k, (config, student, own, stopped) in enumerate(zip(
            todo, students, split_history(history, size), stopper.stopped_after, strict=True)):
        student.set_weights(stack.member_weights(k))  # its best epoch's weights
        frame = runner.history_frame(own, timer, size)
        frame = frame.iloc[:stopped] if stopped else frame
        record = runner.evaluate_and_write(config, splits, student, frame, cached[k],
                                           wall / size, results_dir, test_pred=test_pred[:, k],
                                           trained_as="stack")
        records.atomic_write_text(record.run_dir / "stack.json", json.dumps({
            "stack_size": size, "position": k, "run_ids": run_ids,
            "stack_wall_seconds": round(wall, 2),
            "stack_epoch_cpu_seconds": [round(t, 3) for t in timer.cpu]}, indent=2) + "\n")
        finished[config.run_id] = record
    resume.remove(folder)
    return [finished.get(c.run_id) or datasets.read_back(c, results_dir, data_dir)
            for c in configs]
