"""Many students of one MLP architecture trained as one model: `StackedDistiller`.

A small student spends most of a separate run on fixed costs (building, compiling, evaluating,
writing), not on arithmetic. K students of one architecture stacked into one program (weights
of shape [K, in, out], batched matmuls through einsum) pay those costs once. Each student keeps
its own initial weights (copied from the Keras model its seed builds), its own batches (column
k of every batch, `stack_runs.stacked_dataset`), its own T and alpha, dropout masks of its own
and its own early stopping (`StackEarlyStopping`). Its gradient is its own loss's: the
stack minimises the sum of the students' losses, and student k's weights enter only its own
term; Adam's update is elementwise, so each student's slice moves as its separate run's would.

Batches carry inputs [B, K, ...] (student k's batch in column k) or [B, ...] shared by every
student (validation, test); labels and cached teacher logits likewise. Axis 0 stays the batch,
so the stack splits over replicas like any Keras model.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kd_utils import losses
from kd_utils.callbacks import set_monitor_modes
from kd_utils.distiller import (
    SAVE_MESSAGE,
    StopOnNonFiniteLoss,
    check_model,
    check_same_width,
    first_batch,
    refuse_probabilities,
)
from kd_utils.distribute import apply_if_finite, for_keras_reduction, per_replica_share
from kd_utils.losses import check_alpha, check_temperature
from kd_utils.pipeline import check_labels, split_inputs

from .config import MONITORS
from .stacked_mlp import StackedMLP


class _Sums(keras.metrics.Metric):
    """Per-student running means: totals [K] over a shared count, both added as given."""

    def __init__(self, name: str, count: int):
        super().__init__(name=name)
        self.total = self.add_variable(shape=(count,), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, total, count):
        self.total.assign_add(tf.cast(total, tf.float32))
        self.count.assign_add(tf.cast(count, tf.float32))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)


class _Member:
    """Student k of a stack, as `StackEarlyStopping` sees a student: weights to get and set."""

    def __init__(self, stack: StackedMLP, k: int):
        self.stack, self.k = stack, k

    def get_weights(self):
        return self.stack.member_weights(self.k)

    def set_weights(self, weights):
        self.stack.set_member_weights(self.k, weights)


class StackedDistiller(keras.Model):
    """K students of one MLP architecture distilled (or trained from scratch) as one model.

    Args:
        students: K built Keras MLPs of one architecture (`mlp_plan`), each its own
            initialisation; their weights are copied, the models themselves are not trained.
        temperatures, alphas: one per student (alpha weights the HARD-label loss, as in
            `Distiller`); a student with alpha = 1 tracks no soft terms, as a `Distiller` with
            cached logits and alpha = 1 does.
        run_names: named in errors.
        soft_targets: whether batches carry cached teacher logits (False: every student trains
            on hard labels alone, as runs from scratch).
        input_values: 256 floats that uint8 inputs are codes into (`stack_runs.pixel_codes`);
            None: inputs are the values themselves.

    History keys are the `Distiller`'s, prefixed `s{k}_` for student k.
    """

    def __init__(self, students, temperatures, alphas, run_names=None,
                 soft_targets: bool = True, seed: int = 0, input_values=None, **kwargs):
        super().__init__(**kwargs)
        students = list(students)
        if not students:
            raise ValueError("students must hold at least one keras.Model")
        for student in students:
            check_model(student, "student")
        count = len(students)
        self.run_names = list(run_names or [s.name for s in students])
        if not len(temperatures) == len(alphas) == len(self.run_names) == count:
            raise ValueError(f"give one temperature, alpha and run name per student ({count})")
        self.stack = StackedMLP(students, seed=seed, input_values=input_values)
        self.temperatures = tf.constant([check_temperature(t) for t in temperatures], tf.float32)
        self.alphas = tf.constant([check_alpha(a) for a in alphas], tf.float32)
        self.soft_targets = bool(soft_targets)
        # As Distiller with cached logits: soft terms are tracked for alpha < 1 only.
        self.tracks_soft = [self.soft_targets and float(a) < 1.0 for a in alphas]
        names = ["loss", "student_loss", "accuracy"]
        names += ["distillation_loss", "kl_divergence", "teacher_agreement"] * any(self.tracks_soft)
        names.append("total_loss")  # the Distiller's (keras.distillation's name for the total)
        self.sums = {name: _Sums(name, count) for name in names}
        self.total_tracker = keras.metrics.Mean(name="loss")
        self.students = [_Member(self.stack, k) for k in range(count)]
        self.built = True

    def compile(self, optimizer="adam", **kwargs):
        """Like `keras.Model.compile`, without `loss` or `metrics` (each student tracks its own)."""
        super().compile(optimizer=optimizer,
                        **without_loss_or_metrics(kwargs, "StackedDistiller"))

    @property
    def metrics(self):
        return [self.total_tracker, *getattr(self, "sums", {}).values()]

    def call(self, inputs, training=None):
        return self.stack(split_inputs(inputs)[0], training=training)

    def get_config(self):
        raise NotImplementedError(SAVE_MESSAGE)

    def save(self, *args, **kwargs):
        raise NotImplementedError(SAVE_MESSAGE)

    def member_weights(self, k: int) -> list[np.ndarray]:
        """Student k's weights, for `student.set_weights` on its Keras model."""
        return self.stack.member_weights(k)

    def _unpack(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError("StackedDistiller trains without sample or class weights: train "
                             "weighted runs with Distiller (runner.run)")
        x, cached = split_inputs(x)
        count = self.stack.count
        y = tf.cast(y, tf.int32)
        if len(y.shape) == 1:  # shared labels
            y = tf.repeat(y[:, None], count, axis=1)
        if cached is not None and len(cached.shape) == 2:
            cached = tf.repeat(cached[:, None], count, axis=1)
        if not self.soft_targets:
            cached = None
        return x, y, tf.stop_gradient(cached) if cached is not None else None

    def train_step(self, data):
        x, y, teacher_logits = self._unpack(data)
        with tf.GradientTape() as tape:
            student_logits = self.stack(x, training=True)
            terms = stacked_terms(y, teacher_logits, student_logits, self.temperatures,
                                         self.alphas)
            total = tf.reduce_sum(terms.total)
            replica_total = per_replica_share(total)
        variables = self.stack.trainable_variables
        apply_if_finite(self.optimizer, total, tape.gradient(replica_total, variables), variables,
                        xla=self.jit_compile)
        return self._update_metrics(y, total, terms, teacher_logits, student_logits)

    def test_step(self, data):
        x, y, teacher_logits = self._unpack(data)
        student_logits = self.stack(x, training=False)
        terms = stacked_terms(y, teacher_logits, student_logits, self.temperatures,
                                     self.alphas)
        return self._update_metrics(y, tf.reduce_sum(terms.total), terms, teacher_logits,
                                    student_logits)

    def _update_metrics(self, y, total, terms, teacher_logits, student_logits):
        batch = tf.cast(tf.shape(y)[0], tf.float32)
        self.total_tracker.update_state(total, sample_weight=batch)
        predicted = tf.argmax(student_logits, axis=-1, output_type=tf.int32)
        matches = tf.cast(tf.equal(predicted, y), tf.float32)
        # Losses as Keras tracks a loss (batch means weighted by batch size); accuracy and
        # agreement as counts over examples, as Keras' accuracy metric counts them.
        self.sums["loss"].update_state(terms.total * batch, batch)
        self.sums["total_loss"].update_state(terms.total * batch, batch)
        self.sums["student_loss"].update_state(terms.hard * batch, batch)
        self.sums["accuracy"].update_state(tf.reduce_sum(matches, axis=0), batch)
        if "teacher_agreement" in self.sums:
            self.sums["distillation_loss"].update_state(terms.soft * batch, batch)
            self.sums["kl_divergence"].update_state(terms.details["kl_divergence"] * batch,
                                                    batch)
            same = tf.equal(tf.argmax(teacher_logits, axis=-1, output_type=tf.int32), predicted)
            self.sums["teacher_agreement"].update_state(
                tf.reduce_sum(tf.cast(same, tf.float32), axis=0), batch)
        logs = {"loss": self.total_tracker.result()}
        for name, metric in self.sums.items():
            values = metric.result()
            soft_term = name in ("distillation_loss", "kl_divergence", "teacher_agreement")
            for k in range(self.stack.count):
                if self.tracks_soft[k] or not soft_term:
                    logs[f"s{k}_{name}"] = values[k]
        return for_keras_reduction(logs)

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        # One look at each dataset, as a separate run's Distiller takes: every look draws the
        # dataset's next shuffle, and each student's batches must be its separate run's.
        width = int(self.stack.kernels[-1].shape[-1])
        looks = [(x, y, "x")]
        if isinstance(validation_data, (tuple, list)):
            looks.append((validation_data[0], validation_data[1], "validation_data"))
        elif validation_data is not None:
            looks.append((validation_data, None, "validation_data"))
        for data, labels, argument in looks:
            inputs, labels, cached = first_batch(data, labels, argument)
            check_labels(labels.reshape(-1), width, argument=f"labels in {argument}")
            outputs = np.asarray(self.stack(inputs[:256], training=False))
            refuse_probabilities(outputs.reshape(-1, width), "stacked students")
            if self.soft_targets and cached is None:
                raise ValueError(f"{argument}: the stack distils, but the batches carry no "
                                 "cached teacher_logits (pipeline.with_teacher_logits)")
            if cached is not None:
                check_same_width(cached.shape[-1], width, f"cached teacher_logits in {argument}")
                refuse_probabilities(cached.reshape(-1, width), argument,
                                     "cache the teacher's logits, not its softmax")
        callbacks = set_monitor_modes(list(kwargs.pop("callbacks", None) or []))
        names = ", ".join(self.run_names[:3]) + (", ..." if len(self.run_names) > 3 else "")
        callbacks.insert(0, StopOnNonFiniteLoss(f"stack of {self.stack.count} ({names})"))
        return super().fit(x, y, *args, validation_data=validation_data, callbacks=callbacks,
                           **kwargs)


def stacked_terms(labels, teacher_logits, student_logits, temperatures,
                  alphas) -> losses.DistillationTerms:
    """`Distiller.loss_terms` with Hinton's loss, for K students at once (`StackedDistiller`).

    `student_logits` [B, K, C] and `labels` [B, K]: student k's batch is column k. Teacher
    logits [B, K, C], or None for students trained on hard labels alone (soft and kl None);
    `temperatures` and `alphas` [K]. Each term is a [K] vector of batch means, computed with
    the ops of `losses.hard_label_loss` and `losses.HintonKD`, so column k is student k's own
    loss.
    """
    logits = tf.cast(student_logits, tf.float32)
    # Flattened to the rank-1 labels of `hard_label_loss` (rank 2 makes XLA warn of an assert).
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.reshape(tf.cast(labels, tf.int32), [-1]),
        logits=tf.reshape(logits, [-1, tf.shape(logits)[-1]]))
    hard = tf.reduce_mean(tf.reshape(per_example, tf.shape(labels)), axis=0)
    if teacher_logits is None:
        return losses.DistillationTerms(hard, hard, None, {})
    scale = temperatures[None, :, None]
    teacher_log_probs = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / scale)
    student_log_probs = tf.nn.log_softmax(logits / scale)
    kl = tf.reduce_mean(tf.reduce_sum(
        tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1), axis=0)
    soft = kl * temperatures**2
    return losses.DistillationTerms(alphas * hard + (1.0 - alphas) * soft, hard, soft,
                                    {"kl_divergence": kl})


def without_loss_or_metrics(kwargs: dict, owner: str) -> dict:
    """`compile`'s keyword arguments, refusing a loss or metrics: a model of several students
    tracks each student's loss terms, accuracy and teacher agreement itself."""
    if kwargs.get("loss") is not None or kwargs.get("metrics"):
        raise ValueError(f"{owner}.compile takes no loss or metrics: each student's loss terms, "
                         "accuracy and teacher agreement are tracked already")
    return {k: v for k, v in kwargs.items() if k not in ("loss", "metrics")}


def split_history(history: dict, count: int) -> list[dict]:
    """A stack's history split per student: keys `s{i}_loss`, `val_s{i}_...`
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


class StackEarlyStopping(keras.callbacks.Callback):
    """`EarlyStopping(monitor, restore_best_weights=True)` per student of a stack (`monitor`
    "val_accuracy" or "val_loss", read from each student's `val_s{i}_` logs).

    Each student keeps the weights of its own best validation epoch and "stops" after `patience`
    epochs without improving, exactly when a run of its own would have; the stack trains on
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
