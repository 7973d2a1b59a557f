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
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self._trackers = [self.loss_tracker, self.student_loss_tracker]
        if self.uses_soft_targets:
            self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
            self.kl_tracker = keras.metrics.Mean(name="kl_divergence")
            self.agreement_tracker = keras.metrics.Mean(name="teacher_agreement")
            self._trackers += [self.distillation_loss_tracker, self.kl_tracker]
        self._trackers.append(self.accuracy_tracker)
        if self.uses_soft_targets:
            self._trackers.append(self.agreement_tracker)

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
        batch = tf.cast(tf.shape(student_logits)[0], tf.float32)
        self.loss_tracker.update_state(loss, sample_weight=batch)
        self.student_loss_tracker.update_state(terms.hard, sample_weight=batch)
        self.accuracy_tracker.update_state(y, student_logits)
        if self.uses_soft_targets:
            self.distillation_loss_tracker.update_state(terms.soft, sample_weight=batch)
            self.kl_tracker.update_state(terms.kl, sample_weight=batch)
            same = tf.equal(tf.argmax(teacher_logits, -1), tf.argmax(student_logits, -1))
            self.agreement_tracker.update_state(tf.cast(same, tf.float32))
        return self.compute_metrics(x, y, student_logits, sample_weight=None)

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
        variables = self.student.trainable_variables
        gradients = tape.gradient(loss, variables)

        def apply_update():
            self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
            return tf.constant(True)

        # A non-finite loss skips the update, so NaN never reaches the weights; the epoch's
        # mean loss turns NaN and `_StopOnNonFiniteLoss` raises after this batch. (XLA drops
        # tf.debugging.check_numerics, so the guard has to be control flow.)
        tf.cond(tf.math.is_finite(loss), apply_update, lambda: tf.constant(False))
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
        if isinstance(x, tf.data.Dataset):
            batch = next(iter(x.take(1)), None)
            if batch is None:
                raise ValueError(f"{argument} is an empty dataset")
            if not isinstance(batch, tuple) or len(batch) not in (2, 3):
                raise ValueError(f"{argument} must yield (x, y) or (x, y, teacher_logits) batches")
            xb, yb = batch[0], np.asarray(batch[1])
            cached = np.asarray(batch[2]) if len(batch) == 3 else None
            labels = yb
        else:
            if y is None:
                raise ValueError(f"{argument}: labels y are required for distillation")
            if len(x) != len(y):
                raise ValueError(f"{argument} has {len(x)} examples but y has {len(y)}")
            xb, labels, cached = x[:256], np.asarray(y), None
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
