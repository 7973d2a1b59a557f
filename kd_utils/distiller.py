"""`Distiller(keras.Model)`: train a student on alpha * hard-label loss + (1 - alpha) * soft loss.

Follows Hinton, Vinyals & Dean (2015) and the Keras knowledge-distillation example; the loss
math lives in `losses.py` and this class only combines it. The teacher runs with
`training=False`, outside the gradient tape and frozen, or not at all when a batch carries
cached teacher logits as `(x, y, teacher_logits)`. With `teacher=None` and `alpha=1` the same
class trains a student from scratch on hard labels, so every run shares one training step.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from . import losses
from .data import check_labels
from .models import output_width, outputs_probabilities

SAVE_MESSAGE = ("A Distiller is a training wrapper and is not saved as a whole: save the student "
                "with `distiller.student.save('student.keras')` (and the teacher likewise).")
_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; training stopped before the update."""


def looks_like_probabilities(outputs) -> bool:
    """Whether every row is non-negative and sums to 1, as a softmax output would."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        return False
    return bool(outputs.min() >= 0.0 and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4))


def _check_model(model, role: str) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"{role} must be a keras.Model, got {type(model).__name__}")
    if outputs_probabilities(model):
        raise ValueError(f"{role} {model.name!r} ends in softmax: it outputs probabilities, but "
                         "the Distiller needs logits. Remove the final softmax activation.")


def compute_teacher_logits(teacher: keras.Model, x, batch_size: int = 1024) -> np.ndarray:
    """The teacher's logits for every row of `x` (inference mode), to cache for distillation."""
    _check_model(teacher, "teacher")
    logits = teacher.predict(x, batch_size=batch_size, verbose=0)
    if looks_like_probabilities(logits):
        raise ValueError(f"teacher {teacher.name!r} outputs probabilities (rows sum to 1), not "
                         "logits: remove its final softmax")
    return logits.astype(np.float32)


def _spans_workers(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def for_keras_reduction(results: dict) -> dict:
    """A train/test step's metric results, shaped for Keras to average them across workers.

    Keras 3.15 averages each result over workers along axis 0, which fails on scalars
    (keras-team/keras#20585); a shape-(1,) result averages to the scalar Keras logs.
    """
    if not _spans_workers(tf.distribute.get_strategy()):
        return results
    return {name: tf.reshape(value, [1]) for name, value in results.items()}


def replicas_in_sync() -> int:
    """How many replicas the current `tf.distribute` strategy trains on (1 without one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def per_replica_share(loss):
    """The loss to differentiate on one replica, so the summed gradients are the global mean.

    Each replica's loss is a mean over its share of the global batch, and the optimizer sums
    the replicas' gradients: dividing by the number of replicas makes the step that of the
    global batch, whatever the number of devices.
    """
    replicas = replicas_in_sync()
    return loss / replicas if replicas > 1 else loss


def apply_if_finite(optimizer, loss, gradients, variables) -> None:
    """Apply the gradients unless the loss is NaN or infinite, so NaN never reaches the weights.

    The epoch's mean loss then turns non-finite and `_StopOnNonFiniteLoss` raises after the
    batch. (XLA drops tf.debugging.check_numerics, so the guard is control flow.) Across
    replicas a `tf.cond` cannot hold the optimizer's gradient all-reduce, so there the
    gradients of a non-finite step are zeroed instead: the weights stay finite, though Adam's
    momentum still moves them once.
    """
    finite = tf.math.is_finite(loss)
    if replicas_in_sync() > 1:
        gradients = [tf.where(finite, g, tf.zeros_like(g)) for g in gradients]
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return

    def apply_update():
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return tf.constant(True)

    tf.cond(finite, apply_update, lambda: tf.constant(False))


class RunningTerms:
    """Epoch means of one student's loss terms, accuracy and agreement with the teacher.

    `prefix` names them apart when several students train in one model (`GroupDistiller`).
    """

    def __init__(self, soft: bool, prefix: str = ""):
        mean = keras.metrics.Mean
        self.soft = soft
        self.loss = mean(name=f"{prefix}loss")
        self.hard = mean(name=f"{prefix}student_loss")
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name=f"{prefix}accuracy")
        self.metrics = [self.loss, self.hard]
        if soft:
            self.soft_loss = mean(name=f"{prefix}distillation_loss")
            self.kl = mean(name=f"{prefix}kl_divergence")
            self.agreement = mean(name=f"{prefix}teacher_agreement")
            self.metrics += [self.soft_loss, self.kl]
        self.metrics.append(self.accuracy)
        if soft:
            self.metrics.append(self.agreement)

    def update(self, y, loss, terms: losses.DistillationTerms, teacher_logits, student_logits):
        batch = tf.cast(tf.shape(student_logits)[0], tf.float32)
        self.loss.update_state(loss, sample_weight=batch)
        self.hard.update_state(terms.hard, sample_weight=batch)
        self.accuracy.update_state(y, student_logits)
        if self.soft:
            self.soft_loss.update_state(terms.soft, sample_weight=batch)
            self.kl.update_state(terms.kl, sample_weight=batch)
            same = tf.equal(tf.argmax(teacher_logits, -1), tf.argmax(student_logits, -1))
            self.agreement.update_state(tf.cast(same, tf.float32))


def first_batch(x, y=None, argument: str = "x"):
    """(inputs, labels, cached logits or None) to check: a dataset's first batch, or the arrays.

    Iterating a dataset once moves its reshuffling on, so a model checks it here only once.
    """
    if isinstance(x, tf.data.Dataset):
        batch = next(iter(x.take(1)), None)
        if batch is None:
            raise ValueError(f"{argument} is an empty dataset")
        if not isinstance(batch, tuple) or len(batch) not in (2, 3):
            raise ValueError(f"{argument} must yield (x, y) or (x, y, teacher_logits) batches")
        cached = np.asarray(batch[2]) if len(batch) == 3 else None
        return batch[0], np.asarray(batch[1]), cached
    if y is None:
        raise ValueError(f"{argument}: labels y are required for distillation")
    if len(x) != len(y):
        raise ValueError(f"{argument} has {len(x)} examples but y has {len(y)}")
    return x[:256], np.asarray(y), None


class Distiller(keras.Model):
    """A student trained on `alpha * hard + (1 - alpha) * T^2 * KL(teacher_T || student_T)`.

    **alpha weights the hard-label loss** (cross-entropy with the labels, at T = 1); 1 - alpha
    weights the soft loss (the teacher's softened outputs at temperature T). This is the
    convention of the Keras example and of `keras.distillation.Distiller`'s
    `student_loss_weight`. Hinton et al. put a "considerably lower weight" on the hard loss,
    so alpha = 0.1 at T = 20 is a good MNIST start.

    Args:
        student: the model that learns; outputs logits.
        teacher: a trained model that outputs logits. It is frozen and run with
            `training=False`. None when every batch carries cached teacher logits, or, with
            `alpha=1`, to train the student from scratch.
        temperature: T > 0 applied to both teacher and student logits in the soft loss.
        alpha: weight of the hard-label loss, in [0, 1].
        run_name: named in errors (a NaN loss, say); defaults to the model's name.

    Training history, for training and with a `val_` prefix for validation: `loss` (the total),
    `student_loss` (hard), `distillation_loss` (T^2 * KL), `kl_divergence` (without T^2),
    `accuracy` (the student's) and `teacher_agreement` (student argmax == teacher argmax).
    The soft terms are absent when there is no teacher and alpha = 1.
    """

    def __init__(self, student: keras.Model, teacher: keras.Model | None = None,
                 temperature: float = 20.0, alpha: float = 0.1, run_name: str | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.temperature = losses.check_temperature(temperature)
        self.alpha = losses.check_alpha(alpha)
        _check_model(student, "student")
        if teacher is not None:
            _check_model(teacher, "teacher")
            if teacher is student:
                raise ValueError("teacher and student are the same model object: distil into a "
                                 "fresh copy (keras.models.clone_model) instead")
            widths = output_width(teacher), output_width(student)
            if None not in widths and widths[0] != widths[1]:
                raise ValueError(f"teacher outputs {widths[0]} logits but student outputs "
                                 f"{widths[1]}: both must output one logit per class")
            teacher.trainable = False
        self.student = student
        self.teacher = teacher
        self.run_name = run_name or self.name
        # Without a teacher and with alpha = 1 there is nothing soft to report.
        self.uses_soft_targets = teacher is not None or self.alpha < 1.0
        self.running = RunningTerms(soft=self.uses_soft_targets)
        self._trackers = self.running.metrics

    # -- Keras plumbing -------------------------------------------------------------------
    def compile(self, optimizer="adam", metrics=None, **kwargs):
        """Like `keras.Model.compile`, without `loss` (the Distiller defines its own).

        The student's accuracy is always tracked; other `metrics` are computed on the
        student's logits against the labels.
        """
        if kwargs.get("loss") is not None:
            raise ValueError("Distiller.compile takes no loss: it always minimises alpha * hard "
                             "+ (1 - alpha) * soft (set temperature and alpha in the constructor)")
        kwargs.pop("loss", None)
        extra = [m for m in (metrics or []) if m not in _ACCURACY_NAMES]
        super().compile(optimizer=optimizer, metrics=extra or None, **kwargs)

    @property
    def metrics(self):
        own = list(getattr(self, "_trackers", []))
        # Keras adds its own "loss" tracker at compile time; ours replaces it.
        keras_loss = getattr(self, "_loss_tracker", None)
        rest = [m for m in super().metrics
                if m is not keras_loss and not any(m is o for o in own)]
        return own + rest

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def get_config(self):
        raise NotImplementedError(SAVE_MESSAGE)

    def save(self, *args, **kwargs):
        raise NotImplementedError(SAVE_MESSAGE)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 builds a distributed model from a data batch all-reduced with MEAN, which
        # fails across workers (MultiWorkerMirroredStrategy, keras-team/keras#20585): there,
        # build from this worker's own first batch instead.
        strategy = getattr(self, "_distribute_strategy", None)
        if iterator is not None and _spans_workers(strategy):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: strategy.experimental_local_results(value)[0], next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # -- the training step ----------------------------------------------------------------
    def _unpack(self, data):
        x, y, cached_logits = keras.utils.unpack_x_y_sample_weight(data)
        return x, y, cached_logits

    def _teacher_logits(self, x, cached_logits):
        if cached_logits is not None:
            return tf.stop_gradient(cached_logits)
        if self.teacher is None:
            return None
        return tf.stop_gradient(self.teacher(x, training=False))

    def _terms(self, y, teacher_logits, student_logits) -> losses.DistillationTerms:
        if teacher_logits is None:
            hard = losses.hard_label_loss(y, student_logits)
            return losses.DistillationTerms(hard, hard, None, None)
        return losses.distillation_terms(y, teacher_logits, student_logits, self.temperature,
                                         self.alpha)

    def _update_metrics(self, x, y, loss, terms, teacher_logits, student_logits):
        self.running.update(y, loss, terms, teacher_logits, student_logits)
        return for_keras_reduction(self.compute_metrics(x, y, student_logits, sample_weight=None))

    def train_step(self, data):
        x, y, cached_logits = self._unpack(data)
        # Outside the tape: the teacher is a fixed target, never differentiated.
        teacher_logits = self._teacher_logits(x, cached_logits)
        with tf.GradientTape() as tape:
            student_logits = self.student(x, training=True)
            terms = self._terms(y, teacher_logits, student_logits)
            loss = terms.total
            if self.student.losses:  # weight regularisers of the student
                loss += tf.add_n(self.student.losses)
            replica_loss = per_replica_share(loss)
        variables = self.student.trainable_variables
        apply_if_finite(self.optimizer, loss, tape.gradient(replica_loss, variables), variables)
        return self._update_metrics(x, y, loss, terms, teacher_logits, student_logits)

    def test_step(self, data):
        x, y, cached_logits = self._unpack(data)
        teacher_logits = self._teacher_logits(x, cached_logits)
        student_logits = self.student(x, training=False)
        terms = self._terms(y, teacher_logits, student_logits)
        return self._update_metrics(x, y, terms.total, terms, teacher_logits, student_logits)

    # -- checks before training ------------------------------------------------------------
    def check_inputs(self, x, y=None, argument: str = "x") -> None:
        """Raise a clear error for bad batches before any training step runs.

        Arrays are checked in full (labels); a tf.data.Dataset is checked on its first batch
        (`data.make_dataset` checks the whole arrays it is built from).
        """
        self.check_batch(*first_batch(x, y, argument), argument)

    def check_batch(self, xb, labels, cached, argument: str = "x") -> None:
        """`check_inputs` on an example batch: inputs, labels and cached logits (or None)."""
        student_out = np.asarray(self.student(xb[:256], training=False))
        width = student_out.shape[-1]
        if looks_like_probabilities(student_out):
            raise ValueError(f"student {self.student.name!r} outputs probabilities (rows sum to "
                             "1), not logits: remove its final softmax")
        check_labels(labels, width, argument=f"labels in {argument}")
        if cached is not None:
            if cached.shape[-1] != width:
                raise ValueError(f"cached teacher_logits in {argument} have {cached.shape[-1]} "
                                 f"columns but the student outputs {width} logits")
            if looks_like_probabilities(cached):
                raise ValueError(f"cached teacher_logits in {argument} are probabilities (rows "
                                 "sum to 1): cache the teacher's logits, not its softmax")
        elif self.teacher is not None:
            teacher_out = np.asarray(self.teacher(xb[:256], training=False))
            if teacher_out.shape[-1] != width:
                raise ValueError(f"teacher outputs {teacher_out.shape[-1]} logits but student "
                                 f"outputs {width}: both must output one logit per class")
            if looks_like_probabilities(teacher_out):
                raise ValueError(f"teacher {self.teacher.name!r} outputs probabilities (rows sum "
                                 "to 1), not logits: remove its final softmax")
        elif self.alpha < 1.0:
            raise ValueError(f"{argument}: alpha={self.alpha} needs soft targets, but there is no "
                             "teacher and the batches carry no cached teacher_logits")

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        # A tf.distribute dataset is checked by whoever distributed it (`runs.run`): looking
        # at a batch here would move its reshuffling on, and replicas would see other batches.
        if not isinstance(x, tf.distribute.DistributedDataset):
            self.check_inputs(x, y, "x")
        if validation_data is not None:
            if isinstance(validation_data, tf.data.Dataset):
                self.check_inputs(validation_data, None, "validation_data")
            else:
                self.check_inputs(validation_data[0], validation_data[1], "validation_data")
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks.insert(0, _StopOnNonFiniteLoss(self.run_name))
        return super().fit(x, y, *args, validation_data=validation_data, callbacks=callbacks,
                           **kwargs)


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise `NonFiniteLossError` naming the run as soon as the running loss is not finite."""

    def __init__(self, run_name: str):
        super().__init__()
        self.run_name = run_name
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.model.stop_training = True
            raise NonFiniteLossError(
                f"run {self.run_name!r}: the training loss became {float(loss)} in epoch "
                f"{self.epoch + 1}, by batch {batch + 1}; that update was skipped, so the weights "
                "are still finite. Lower the learning rate, or look for NaN in the inputs.")


def _one_per_student(values, count: int, name: str) -> list:
    values = list(values) if isinstance(values, (list, tuple)) else [values] * count
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} values for {count} students: give one value "
                         "or one per student")
    return values


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

    def compile(self, optimizer="adam", **kwargs):
        """Like `keras.Model.compile`, without `loss` or `metrics` (each student tracks its own)."""
        if kwargs.get("loss") is not None or kwargs.get("metrics"):
            raise ValueError("GroupDistiller.compile takes no loss or metrics: each student's "
                             "loss terms, accuracy and teacher agreement are tracked already")
        kwargs.pop("loss", None)
        kwargs.pop("metrics", None)
        super().compile(optimizer=optimizer, **kwargs)

    @property
    def metrics(self):
        return list(getattr(self, "_trackers", []))

    def call(self, inputs, training=None):
        return [student(inputs, training=training) for student in self.students]

    def get_config(self):
        raise NotImplementedError(SAVE_MESSAGE)

    def save(self, *args, **kwargs):
        raise NotImplementedError(SAVE_MESSAGE)

    def train_step(self, data):
        x, y, cached_logits = keras.utils.unpack_x_y_sample_weight(data)
        # One teacher forward for the whole group, outside the tape.
        teacher_logits = self.members[0]._teacher_logits(x, cached_logits)
        with tf.GradientTape() as tape:
            outcomes = []
            for member in self.members:
                student_logits = member.student(x, training=True)
                terms = member._terms(y, teacher_logits, student_logits)
                loss = terms.total
                if member.student.losses:
                    loss += tf.add_n(member.student.losses)
                outcomes.append((student_logits, terms, loss))
            total = tf.add_n([loss for _, _, loss in outcomes])
            replica_total = per_replica_share(total)
        variables = [v for s in self.students for v in s.trainable_variables]
        # As in Distiller: a non-finite loss (of any student) skips the update.
        apply_if_finite(self.optimizer, total, tape.gradient(replica_total, variables), variables)
        return self._update_metrics(y, total, teacher_logits, outcomes)

    def test_step(self, data):
        x, y, cached_logits = keras.utils.unpack_x_y_sample_weight(data)
        teacher_logits = self.members[0]._teacher_logits(x, cached_logits)
        outcomes = []
        for member in self.members:
            student_logits = member.student(x, training=False)
            terms = member._terms(y, teacher_logits, student_logits)
            outcomes.append((student_logits, terms, terms.total))
        total = tf.add_n([loss for _, _, loss in outcomes])
        return self._update_metrics(y, total, teacher_logits, outcomes)

    def _update_metrics(self, y, total, teacher_logits, outcomes):
        batch = tf.cast(tf.shape(y)[0], tf.float32)
        self.total_tracker.update_state(total, sample_weight=batch)
        for running, (student_logits, terms, loss) in zip(self.running, outcomes, strict=True):
            running.update(y, loss, terms, teacher_logits, student_logits)
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
        callbacks = list(kwargs.pop("callbacks", None) or [])
        names = ", ".join(m.run_name for m in self.members)
        callbacks.insert(0, _StopOnNonFiniteLoss(f"group of {len(self.members)} ({names})"))
        return super().fit(x, y, *args, validation_data=validation_data, callbacks=callbacks,
                           **kwargs)

    def split_history(self, history: dict) -> list[dict]:
        """Per-student histories with the `Distiller`'s keys (`loss`, `val_accuracy`, ...)."""
        split = []
        for i in range(len(self.members)):
            own = {}
            for key, values in history.items():
                for stage in ("", "val_"):
                    if key.startswith(f"{stage}s{i}_"):
                        own[stage + key[len(f"{stage}s{i}_"):]] = list(values)
            split.append(own)
        return split


class GroupEarlyStopping(keras.callbacks.Callback):
    """`EarlyStopping(monitor="val_accuracy", restore_best_weights=True)` per student of a group.

    Each student keeps the weights of its own best validation epoch and "stops" after `patience`
    epochs without improving, exactly when a run of its own would have; the group trains on
    until every student has stopped. `stopped_after[i]` is the number of epochs student i
    would have trained alone (its history is cut there).
    """

    def __init__(self, patience: int):
        super().__init__()
        self.patience = patience

    def on_train_begin(self, logs=None):
        count = len(self.model.students)
        self.best = [-np.inf] * count
        self.best_weights = [None] * count
        self.wait = [0] * count
        self.stopped_after = [None] * count

    def on_epoch_end(self, epoch, logs=None):
        for i, student in enumerate(self.model.students):
            if self.stopped_after[i] is not None:
                continue
            current = (logs or {}).get(f"val_s{i}_accuracy")
            if current is None:
                continue
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
