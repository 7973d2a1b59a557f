"""Running many configs as one stack: `run_stack`, its batches, and which configs can stack.

Runs that differ only in seed, temperature and alpha, with an MLP student and no jitter (so the
teacher's logits are cached), train together as one `stacking.StackedDistiller`. Each student's
record is the one `runner.run(config)` writes: the same run id, files and form, the weights of
its own best validation epoch, the history its own run would have (cut where it would have
stopped), plus `stack.json` naming the stack; times are its share (the stack's over its size).

Why the records match: a student is built from its own seed (`runner.build_student`), sees
the batches its own run would see (`stacked_dataset` draws each seed's shuffles as that run's
dataset draws them), has its own T and alpha, and stops and keeps its best epoch on its own
(`group.GroupEarlyStopping`). Float summation order differs (einsum over a stack against one
matmul), so weights agree to rounding, not bit for bit; `tests/core/test_stack_runs.py`
measures how far.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import keras
import tensorflow as tf

from . import models, pipeline, records, resume, runner
from .callbacks import tensorboard_logging
from .config import RunConfig, differing_fields, make_optimizer
from .group import GroupEarlyStopping, split_history
from .guard import announce_training
from .records import RESULTS_DIR, RunRecord, is_finished, load_record
from .stacked_mlp import is_stackable
from .stacking import StackedDistiller

# Students per stack by default: one seed's 21-cell grid. Measured on the 30-30 grid
# (`benchmarks/stacking_speed.py`, results/benchmarks.csv): a stack of 21 trained a student-
# epoch in less CPU time than a stack of 63, and in less memory, so larger stacks buy nothing.
STACK_SIZE = 21
_VARYING = ("seed", "temperature", "alpha")


@functools.cache
def _mlp_family(architecture: str, builder) -> bool:
    # Whether a family is an MLP does not depend on the input shape: build it once, small
    # (per builder: registering a name again may change its family).
    return is_stackable(models.build(architecture, models.MNIST_SHAPE, 10))


def stackable(config: RunConfig) -> bool:
    """Whether a config can train in a stack: an MLP student whose teacher's logits are cached
    (no jitter); a run from scratch needs no teacher."""
    return not config.jitter_pixels and _mlp_family(config.architecture,
                                                    models.BUILDERS.get(config.architecture))


def _stack_key(config: RunConfig) -> str:
    return json.dumps({k: v for k, v in config.to_dict().items() if k not in _VARYING},
                      sort_keys=True, default=str)


def can_stack(a: RunConfig, b: RunConfig) -> bool:
    """Whether two runs differ only in seed, temperature and alpha (and can stack)."""
    return not differing_fields(a, b, _VARYING)


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
        if stack_size > 1 and stackable(config) and current and len(current) < stack_size:
            current.append(config)
            continue
        stacks.append([config])
        if stack_size > 1 and stackable(config):
            open_stacks[key] = stacks[-1]
    return stacks


def stacked_dataset(x, y, teacher_logits, batch_size: int, seeds):
    """Batches of a stack: column k of step i is the batch a separate run with `seeds[k]` sees
    at step i (inputs [B, K, ...], labels [B, K], cached logits [B, K, C] in the inputs).

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
        if logits is not None:
            inputs = pipeline.with_teacher_logits(inputs, tf.gather(logits, indices))
        return inputs, tf.gather(y, indices)

    # A stacked batch is K times a run's: a fixed, short prefetch bounds the memory it takes
    # (AUTOTUNE buffers grow with the batches' size).
    # flat_map hides the number of steps; Keras reads it, as from a run's own dataset.
    batches = tf.data.Dataset.zip(tuple(orders)).flat_map(steps).apply(
        tf.data.experimental.assert_cardinality(-(-count // batch_size)))
    return batches.map(gather, num_parallel_calls=2).prefetch(2)


def _check(configs) -> None:
    for config in configs:
        if not stackable(config):
            raise ValueError(f"run_stack: {config.run_id} cannot stack (jittered inputs, or not "
                             "an MLP student); train it with runner.run or runner.run_group")
        if not can_stack(configs[0], config):
            differing = differing_fields(configs[0], config, _VARYING)
            raise ValueError(f"run_stack: {config.run_id} differs from {configs[0].run_id} in "
                             f"{', '.join(differing)}; a stack's runs may differ in seed, "
                             "temperature and alpha only")


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
        return [load_record(c, results_dir) for c in configs]
    first, size = todo[0], len(todo)
    splits, _, cached, initial_weights = runner.inputs_of(first, results_dir, data_dir, verbose)
    announce_training(first, len(splits.x_train), f"training a stack of {size} like")
    started = time.perf_counter()
    students = [runner.build_student(c, splits, initial_weights) for c in todo]
    stack = StackedDistiller(students, [c.temperature for c in todo], [c.alpha for c in todo],
                             [c.run_id for c in todo], soft_targets=cached is not None,
                             seed=first.seed)
    steps_per_epoch = -(-len(splits.x_train) // first.batch_size)
    stack.compile(optimizer=make_optimizer(first, steps_per_epoch),
                  jit_compile=first.jit_compile, steps_per_execution=first.steps_per_execution)
    train_logits, val_logits, _ = cached if cached is not None else (None, None, None)
    train_ds = stacked_dataset(splits.x_train, splits.y_train, train_logits, first.batch_size,
                               [c.seed for c in todo])
    val_ds = pipeline.make_dataset(splits.x_val, splits.y_val, val_logits, batch_size=1024,
                                   num_classes=splits.num_classes)
    run_ids = [c.run_id for c in todo]
    folder = records.run_dir(first, results_dir) / "stack-checkpoint"
    stopper = GroupEarlyStopping(patience=first.patience or first.epochs)
    history, timer, resumed_at = resume.fit_resumably(
        stack, train_ds, val_ds, folder=folder, run_id="+".join(run_ids), epochs=first.epochs,
        patience=first.patience, verbose=verbose, stopper=stopper,
        callbacks=tensorboard_logging(tensorboard_dir, f"stack-{first.run_id}"))
    test_pred = stack.predict(splits.x_test, batch_size=1024, verbose=0)  # [N, K, classes]
    wall = time.perf_counter() - started + sum(timer.wall[:resumed_at])
    finished = {}
    for k, (config, student, own, stopped) in enumerate(zip(
            todo, students, split_history(history, size), stopper.stopped_after, strict=True)):
        student.set_weights(stack.member_weights(k))  # its best epoch's weights
        frame = runner.history_frame(own, timer, size)
        frame = frame.iloc[:stopped] if stopped else frame
        record = runner.evaluate_and_write(config, splits, student, frame, cached, wall / size,
                                           results_dir, test_pred=test_pred[:, k])
        records.atomic_write_text(record.run_dir / "stack.json", json.dumps({
            "stack_size": size, "position": k, "run_ids": run_ids,
            "stack_wall_seconds": round(wall, 2),
            "stack_epoch_cpu_seconds": [round(t, 3) for t in timer.cpu]}, indent=2) + "\n")
        finished[config.run_id] = record
    resume.remove(folder)
    return [finished.get(c.run_id) or load_record(c, results_dir) for c in configs]
