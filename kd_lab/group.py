"""`GroupDistiller`: several students distilled from one teacher in one `fit`, and
`GroupEarlyStopping`, which stops and restores each of them as a run of its own would.

Worth it when the teacher must run every batch (jittered inputs): one teacher forward per
batch serves every student. Each student is a `Distiller` member, so its loss, checks and
metrics are the Distiller's.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kd_utils.callbacks import set_monitor_modes
from kd_utils.distiller import (
    SAVE_MESSAGE,
    Distiller,
    RunningTerms,
    StopOnNonFiniteLoss,
    first_batch,
)
from kd_utils.distribute import apply_if_finite, for_keras_reduction, per_replica_share
from kd_utils.pipeline import split_inputs

from .config import MONITORS


def _one_per_student(values, count: int, name: str) -> list:
    values = list(values) if isinstance(values, (list, tuple)) else [values] * count
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} values for {count} students: give one value "
                         "or one per student")
    return values


def without_loss_or_metrics(kwargs: dict, owner: str) -> dict:
    """`compile`'s keyword arguments, refusing a loss or metrics: a model of several students
    tracks each student's loss terms, accuracy and teacher agreement itself."""
    if kwargs.get("loss") is not None or kwargs.get("metrics"):
        raise ValueError(f"{owner}.compile takes no loss or metrics: each student's loss terms, "
                         "accuracy and teacher agreement are tracked already")
    return {k: v for k, v in kwargs.items() if k not in ("loss", "metrics")}


class GroupDistiller(keras.Model):
    """Several students distilled from one teacher in one `fit`: one teacher forward per batch.

    Worth it when the teacher must run every batch (jittered or otherwise augmented inputs,
    where its logits cannot be cached): a sweep's students of one seed see the same batches,
    so one teacher pass serves them all. Each student keeps its own temperature and alpha
    (alpha weights the HARD-label loss, as in `Distiller`), and learns exactly as it would
    alone: the group minimises the sum of the students' losses, whose gradient with respect
    to one student's weights is that student's own gradient, and Adam's state is per weight.

    History keys are the `Distiller`'s, prefixed by the student's position: `s0_loss`,
    `val_s3_accuracy`, ...; `loss` is the sum over students. `split_history` undoes the prefix.
    """

    def __init__(self, students, teacher: keras.Model | None = None, temperatures=20.0,
                 alphas=0.1, run_names=None, **kwargs):
        super().__init__(**kwargs)
        students = list(students)
        if not students:
            raise ValueError("students must hold at least one keras.Model")
        if len({id(s) for s in students}) != len(students):
            raise ValueError("students must be distinct model objects: build one per student")
        count = len(students)
        temperatures = _one_per_student(temperatures, count, "temperatures")
        alphas = _one_per_student(alphas, count, "alphas")
        run_names = _one_per_student(run_names, count, "run_names")
        # A Distiller per student checks that student, its T and alpha, and the teacher.
        self.members = [Distiller(s, teacher, t, a, run_name=n)
                        for s, t, a, n in zip(students, temperatures, alphas, run_names,
                                              strict=True)]
        self.students = students
        self.teacher = teacher
        self.running = [RunningTerms(m.uses_soft_targets, prefix=f"s{i}_")
                        for i, m in enumerate(self.members)]
        self.total_tracker = keras.metrics.Mean(name="loss")
        self._trackers = [self.total_tracker] + [m for r in self.running for m in r.metrics]
        self.built = all(m.built for m in self.members)  # as `Distiller`: callbacks can save

    def compile(self, optimizer="adam", **kwargs):
        """Like `keras.Model.compile`, without `loss` or `metrics` (each student tracks its own)."""
        super().compile(optimizer=optimizer, **without_loss_or_metrics(kwargs, "GroupDistiller"))

    @property
    def metrics(self):
        return list(getattr(self, "_trackers", []))

    def call(self, inputs, training=None):
        x = split_inputs(inputs)[0]
        return [student(x, training=training) for student in self.students]

    def get_config(self):
        raise NotImplementedError(SAVE_MESSAGE)

    def save(self, *args, **kwargs):
        raise NotImplementedError(SAVE_MESSAGE)

    def train_step(self, data):
        x, y, cached_logits, sample_weight = self.members[0].unpack(data)
        # One teacher forward for the whole group, outside the tape.
        teacher_logits = self.members[0].teacher_outputs(x, cached_logits)
        with tf.GradientTape() as tape:
            outcomes = []
            for member in self.members:
                student_logits = member.student(x, training=True)
                terms = member.loss_terms(y, teacher_logits, student_logits, sample_weight)
                loss = terms.total
                if member.student.losses:
                    loss += tf.add_n(member.student.losses)
                outcomes.append((student_logits, terms, loss))
            total = tf.add_n([loss for _, _, loss in outcomes])
            replica_total = per_replica_share(total)
        variables = [v for s in self.students for v in s.trainable_variables]
        # As in Distiller: a non-finite loss (of any student) skips the update.
        apply_if_finite(self.optimizer, total, tape.gradient(replica_total, variables), variables)
        return self._update_metrics(y, total, teacher_logits, outcomes, sample_weight)

    def test_step(self, data):
        x, y, cached_logits, sample_weight = self.members[0].unpack(data)
        teacher_logits = self.members[0].teacher_outputs(x, cached_logits)
        outcomes = []
        for member in self.members:
            student_logits = member.student(x, training=False)
            terms = member.loss_terms(y, teacher_logits, student_logits, sample_weight)
            outcomes.append((student_logits, terms, terms.total))
        total = tf.add_n([loss for _, _, loss in outcomes])
        return self._update_metrics(y, total, teacher_logits, outcomes, sample_weight)

    def _update_metrics(self, y, total, teacher_logits, outcomes, sample_weight=None):
        batch = tf.cast(tf.shape(y)[0], tf.float32)
        self.total_tracker.update_state(total, sample_weight=batch)
        for running, (student_logits, terms, loss) in zip(self.running, outcomes, strict=True):
            running.update(y, loss, terms, teacher_logits, student_logits, sample_weight)
        return for_keras_reduction(self.get_metrics_result())

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        # One look at each dataset for the whole group: every look reshuffles it, and a
        # student's batches must not depend on the size of its group.
        batches = [(first_batch(x, y, "x"), "x")]
        if validation_data is not None:
            is_dataset = isinstance(validation_data, tf.data.Dataset)
            batches.append((first_batch(validation_data if is_dataset else validation_data[0],
                                        None if is_dataset else validation_data[1],
                                        "validation_data"), "validation_data"))
        for member in self.members:
            for batch, argument in batches:
                member.check_batch(*batch, argument)
        callbacks = set_monitor_modes(list(kwargs.pop("callbacks", None) or []))
        names = ", ".join(m.run_name for m in self.members)
        callbacks.insert(0, StopOnNonFiniteLoss(f"group of {len(self.members)} ({names})"))
        return super().fit(x, y, *args, validation_data=validation_data, callbacks=callbacks,
                           **kwargs)

    def split_history(self, history: dict) -> list[dict]:
        """Per-student histories with the `Distiller`'s keys (`loss`, `val_accuracy`, ...)."""
        return split_history(history, len(self.members))


def split_history(history: dict, count: int) -> list[dict]:
    """A group's (or a stack's) history split per student: keys `s{i}_loss`, `val_s{i}_...`
    become student i's `loss`, `val_...`."""
    split = []
    for i in range(count):
        own = {}
        for key, values in history.items():
            for stage in ("", "val_"):
                if key.startswith(f"{stage}s{i}_"):
                    own[stage + key[len(f"{stage}s{i}_"):]] = list(values)
        split.append(own)
    return split


class GroupEarlyStopping(keras.callbacks.Callback):
    """`EarlyStopping(monitor, restore_best_weights=True)` per student of a group (`monitor`
    "val_accuracy" or "val_loss", read from each student's `val_s{i}_` logs).

    Each student keeps the weights of its own best validation epoch and "stops" after `patience`
    epochs without improving, exactly when a run of its own would have; the group trains on
    until every student has stopped. `stopped_after[i]` is the number of epochs student i
    would have trained alone (its history is cut there).
    """

    _pending = None

    def __init__(self, patience: int, monitor: str = "val_accuracy"):
        super().__init__()
        self.patience = patience
        self.key = monitor[len("val_"):]
        self.sign = 1.0 if MONITORS[monitor] == "max" else -1.0  # maximise sign * value

    def on_train_begin(self, logs=None):
        count = len(self.model.students)
        self.best = [-np.inf] * count
        self.best_weights = [None] * count
        self.wait = [0] * count
        self.stopped_after = [None] * count
        if self._pending is not None:  # a run resumed from its checkpoint (`resume.py`)
            state, arrays = self._pending
            self.best, self.wait = list(state["best"]), list(state["wait"])
            self.stopped_after = list(state["stopped_after"])
            for i in range(count):
                kept = sorted((k for k in arrays if k.startswith(f"best_{i}_")),
                              key=lambda k: int(k.rsplit("_", 1)[1]))
                self.best_weights[i] = [arrays[k] for k in kept] or None
            self._pending = None

    # The checkpoint protocol of `resume.ResumableEarlyStopping`.
    def state(self) -> dict:
        return {"best": [float(b) for b in self.best], "wait": list(self.wait),
                "stopped_after": list(self.stopped_after)}

    def best_arrays(self) -> dict:
        return {f"best_{i}_{j}": w for i, weights in enumerate(self.best_weights)
                for j, w in enumerate(weights or [])}

    def resume_from(self, state: dict, arrays: dict) -> None:
        self._pending = (state, arrays)

    def on_epoch_end(self, epoch, logs=None):
        for i, student in enumerate(self.model.students):
            if self.stopped_after[i] is not None:
                continue
            current = (logs or {}).get(f"val_s{i}_{self.key}")
            if current is None:
                continue
            current = self.sign * float(current)
            if self.best_weights[i] is None:
                self.best_weights[i] = student.get_weights()
            self.wait[i] += 1
            if current > self.best[i]:
                self.best[i], self.wait[i] = current, 0
                self.best_weights[i] = student.get_weights()
            elif self.wait[i] >= self.patience and epoch > 0:
                self.stopped_after[i] = epoch + 1
        if all(s is not None for s in self.stopped_after):
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        for student, weights in zip(self.model.students, self.best_weights, strict=True):
            if weights is not None:
                student.set_weights(weights)
