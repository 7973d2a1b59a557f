"""`Distiller(keras.Model)`: train a student on alpha * hard-label loss + (1 - alpha) * soft loss.

Follows Hinton, Vinyals & Dean (2015) and the Keras knowledge-distillation example; the loss
math lives in `losses.py` and this class only combines it. The teacher runs with
`training=False`, outside the gradient tape and frozen, or not at all when a batch carries
cached teacher logits in its inputs (`pipeline.with_teacher_logits`). With `teacher=None` and
`alpha=1` the same class trains a student from scratch on hard labels, so every run shares one
training step. It behaves like any Keras model: standard callbacks, `sample_weight` and
`class_weight` (weighting the hard and soft losses as Keras weights a loss), fit, evaluate and
predict.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from . import losses
from .callbacks import set_monitor_modes
from .distribute import apply_if_finite, for_keras_reduction, per_replica_share, spans_workers
from .losses import check_alpha, check_temperature
from .models import output_width, outputs_probabilities
from .pipeline import check_finite, check_labels, split_inputs


# -- Checks made before any training step ------------------------------------------------
def looks_like_probabilities(outputs) -> bool:
    """Whether every row is non-negative and sums to 1, as a softmax output would."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        return False
    return bool(outputs.min() >= 0.0 and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4))


def refuse_probabilities(outputs, who: str, fix: str = "remove its final softmax") -> None:
    """Raise if `outputs` (a model's, or cached logits) look like softmax probabilities."""
    if looks_like_probabilities(outputs):
        raise ValueError(f"{who} gives probabilities (rows sum to 1), not logits: {fix}")


def check_same_width(teacher_width: int, student_width: int, who: str = "teacher") -> None:
    """Raise unless the teacher (or its cached logits) and the student give as many logits."""
    if teacher_width != student_width:
        raise ValueError(f"{who} outputs {teacher_width} logits but student outputs "
                         f"{student_width}: both must output one logit per class")


def check_model(model, role: str) -> None:
    """Raise unless `model` is a keras.Model that outputs logits (no final softmax)."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"{role} must be a keras.Model, got {type(model).__name__}")
    if outputs_probabilities(model):
        raise ValueError(f"{role} {model.name!r} ends in softmax: it outputs probabilities, but "
                         "the Distiller needs logits. Remove the final softmax activation.")


def first_batch(x, y=None, argument: str = "x"):
    """(inputs, labels, cached logits or None) to check: a dataset's first batch, or the arrays.

    Iterating a dataset once moves its reshuffling on, so a model checks it here only once.
    """
    if isinstance(x, tf.data.Dataset):
        batch = next(iter(x.take(1)), None)
        if batch is None:
            raise ValueError(f"{argument} is an empty dataset")
        if not isinstance(batch, tuple) or len(batch) not in (2, 3):
            raise ValueError(f"{argument} must yield (inputs, labels) or (inputs, labels, "
                             "sample_weight) batches")
        if len(batch) == 3:
            check_sample_weight(batch[2], argument)
            check_weights_not_negative(batch[2], f"the sample weights of {argument}")
        inputs, cached = split_inputs(batch[0])
        check_finite(inputs, f"the first batch of {argument}")
        if cached is not None:
            check_finite(cached, f"teacher_logits in the first batch of {argument}")
        return inputs, np.asarray(batch[1]), None if cached is None else np.asarray(cached)
    if y is None:
        raise ValueError(f"{argument}: labels y are required for distillation")
    inputs, cached = split_inputs(x)
    if len(inputs) != len(y):
        raise ValueError(f"{argument} has {len(inputs)} examples but y has {len(y)}")
    if len(inputs) == 0:
        raise ValueError(f"{argument} holds no examples")
    check_finite(inputs, argument)  # arrays in full
    if cached is not None:
        if len(cached) != len(inputs):
            raise ValueError(f"teacher_logits in {argument} has {len(cached)} rows but the "
                             f"inputs have {len(inputs)}")
        check_finite(cached, f"teacher_logits in {argument}")
    return inputs[:256], np.asarray(y), None if cached is None else np.asarray(cached[:256])


def check_weights_not_negative(weights, argument: str) -> None:
    """Raise if any sample or class weight is negative (it would turn a loss into a gain) or
    not finite."""
    weights = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(weights).all():
        raise ValueError(f"{argument} holds NaN or infinite values")
    if np.any(weights < 0):
        raise ValueError(f"{argument} must be >= 0 (a negative weight turns a loss into a gain "
                         "to maximise)")


def check_sample_weight(sample_weight, argument: str = "x") -> None:
    """Raise if a batch's third element is not one weight per example (cached teacher logits,
    say, which travel in the inputs since Keras reads a third element as sample weights)."""
    shape = tuple(sample_weight.shape)
    if len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, None)):
        raise ValueError(
            f"{argument}: the third element of a batch is read as sample weights, one per "
            f"example, but it has shape {shape}. Cached teacher logits go in the inputs: "
            "(pipeline.with_teacher_logits(x, logits), y), as pipeline.make_dataset makes them.")


# -- The Distiller -----------------------------------------------------------------------
SAVE_MESSAGE = ("A Distiller is a training wrapper and is not saved as a whole: save the student "
                "with `distiller.student.save('student.keras')` (and the teacher likewise), or "
                "checkpoint it during fit with `callbacks.StudentCheckpoint('student.keras')`.")
_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; training stopped before the update."""


class RunningTerms:
    """Epoch means of one student's loss terms, accuracy and agreement with the teacher.

    `prefix` names them apart when several students train in one model (the lab's stacks).
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

    def update(self, y, loss, terms: losses.DistillationTerms, teacher_logits, student_logits,
               sample_weight=None):
        # Losses as Keras tracks its loss (each batch's value, weighted by the batch's size);
        # accuracy and agreement as Keras' compiled metrics, weighted per example.
        batch = tf.cast(tf.shape(student_logits)[0], tf.float32)
        self.loss.update_state(loss, sample_weight=batch)
        self.hard.update_state(terms.hard, sample_weight=batch)
        self.accuracy.update_state(y, student_logits, sample_weight=sample_weight)
        if self.soft:
            self.soft_loss.update_state(terms.soft, sample_weight=batch)
            self.kl.update_state(terms.kl, sample_weight=batch)
            weight = batch if sample_weight is None else tf.reduce_sum(
                tf.cast(sample_weight, tf.float32))
            self.agreement.update_state(
                losses.teacher_agreement(teacher_logits, student_logits, sample_weight),
                sample_weight=weight)


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
        self.temperature = check_temperature(temperature)
        self.alpha = check_alpha(alpha)
        check_model(student, "student")
        if teacher is not None:
            check_model(teacher, "teacher")
            if teacher is student:
                raise ValueError("teacher and student are the same model object: distil into a "
                                 "fresh copy (keras.models.clone_model) instead")
            widths = output_width(teacher), output_width(student)
            if None not in widths:
                check_same_width(*widths)
            teacher.trainable = False
        self.student = student
        self.teacher = teacher
        self.run_name = run_name or self.name
        # Without a teacher and with alpha = 1 there is nothing soft to report.
        self.uses_soft_targets = teacher is not None or self.alpha < 1.0
        self.running = RunningTerms(soft=self.uses_soft_targets)
        self._trackers = self.running.metrics
        # Built when its models are, as a plain model is after its first call, so that
        # ModelCheckpoint and BackupAndRestore can save and load its weights before fit.
        self.built = bool(student.built and (teacher is None or teacher.built))

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
        return self.student(split_inputs(inputs)[0], training=training)

    def get_config(self):
        raise NotImplementedError(SAVE_MESSAGE)

    def save(self, *args, **kwargs):
        raise NotImplementedError(SAVE_MESSAGE)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 builds a distributed model from a data batch all-reduced with MEAN, which
        # fails across workers (MultiWorkerMirroredStrategy, keras-team/keras#20585): there,
        # build from this worker's own first batch instead.
        strategy = getattr(self, "_distribute_strategy", None)
        if iterator is not None and spans_workers(strategy):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: strategy.experimental_local_results(value)[0], next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # -- the training step ----------------------------------------------------------------
    def unpack(self, data):
        """(x, y, cached teacher logits or None, sample weights or None) of a batch."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            check_sample_weight(sample_weight)
        x, cached_logits = split_inputs(x)
        return x, y, cached_logits, sample_weight

    def teacher_outputs(self, x, cached_logits):
        if cached_logits is not None:
            return tf.stop_gradient(cached_logits)
        if self.teacher is None:
            return None
        return tf.stop_gradient(self.teacher(x, training=False))

    def loss_terms(self, y, teacher_logits, student_logits,
                   sample_weight=None) -> losses.DistillationTerms:
        if teacher_logits is None:
            hard = losses.hard_label_loss(y, student_logits, sample_weight)
            return losses.DistillationTerms(hard, hard, None, None)
        return losses.distillation_terms(y, teacher_logits, student_logits, self.temperature,
                                         self.alpha, sample_weight)

    def _update_metrics(self, x, y, loss, terms, teacher_logits, student_logits, sample_weight):
        self.running.update(y, loss, terms, teacher_logits, student_logits, sample_weight)
        return for_keras_reduction(self.compute_metrics(x, y, student_logits,
                                                        sample_weight=sample_weight))

    def train_step(self, data):
        x, y, cached_logits, sample_weight = self.unpack(data)
        # Outside the tape: the teacher is a fixed target, never differentiated.
        teacher_logits = self.teacher_outputs(x, cached_logits)
        with tf.GradientTape() as tape:
            student_logits = self.student(x, training=True)
            terms = self.loss_terms(y, teacher_logits, student_logits, sample_weight)
            loss = terms.total
            if self.student.losses:  # weight regularisers of the student
                loss += tf.add_n(self.student.losses)
            replica_loss = per_replica_share(loss)
        variables = self.student.trainable_variables
        apply_if_finite(self.optimizer, loss, tape.gradient(replica_loss, variables), variables)
        return self._update_metrics(x, y, loss, terms, teacher_logits, student_logits,
                                    sample_weight)

    def test_step(self, data):
        x, y, cached_logits, sample_weight = self.unpack(data)
        teacher_logits = self.teacher_outputs(x, cached_logits)
        student_logits = self.student(x, training=False)
        terms = self.loss_terms(y, teacher_logits, student_logits, sample_weight)
        return self._update_metrics(x, y, terms.total, terms, teacher_logits, student_logits,
                                    sample_weight)

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
        refuse_probabilities(student_out, f"student {self.student.name!r}")
        check_labels(labels, width, argument=f"labels in {argument}")
        if cached is not None:
            who = f"cached teacher_logits in {argument}"
            check_same_width(cached.shape[-1], width, who)
            refuse_probabilities(cached, who, "cache the teacher's logits, not its softmax")
        elif self.teacher is not None:
            teacher_out = np.asarray(self.teacher(xb[:256], training=False))
            check_same_width(teacher_out.shape[-1], width)
            refuse_probabilities(teacher_out, f"teacher {self.teacher.name!r}")
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
        epochs = kwargs.get("epochs", 1)
        if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer; got {epochs!r}")
        batch_size = kwargs.get("batch_size")
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        if kwargs.get("class_weight"):
            check_weights_not_negative(list(kwargs["class_weight"].values()), "class_weight")
        if kwargs.get("sample_weight") is not None:
            check_weights_not_negative(kwargs["sample_weight"], "sample_weight")
        if isinstance(x, tf.data.Dataset):  # it shuffles itself; Keras warns of shuffle=True
            kwargs.setdefault("shuffle", False)
        callbacks = set_monitor_modes(list(kwargs.pop("callbacks", None) or []))
        callbacks.insert(0, StopOnNonFiniteLoss(self.run_name))
        return super().fit(x, y, *args, validation_data=validation_data, callbacks=callbacks,
                           **kwargs)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise `NonFiniteLossError` naming the run as soon as the running loss is not finite."""

    def __init__(self, run_name: str):
        super().__init__()
        self.run_name = run_name
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        # NaN inputs can leave the loss finite (a fused MatMul+ReLU maps NaN to 0 going
        # forward) while the backward pass writes NaN into the weights: look at them too.
        student = getattr(self.model, "student", self.model)
        if not all(np.isfinite(w).all() for w in student.get_weights()):
            self.model.stop_training = True
            raise NonFiniteLossError(
                f"run {self.run_name!r}: the student's weights hold NaN or infinite values after "
                f"epoch {epoch + 1}, though the loss stayed finite: look for NaN or infinite "
                "values in the inputs, or lower the learning rate.")

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.model.stop_training = True
            raise NonFiniteLossError(
                f"run {self.run_name!r}: the training loss became {float(loss)} in epoch "
                f"{self.epoch + 1}, by batch {batch + 1}; that update was skipped, so the weights "
                "are still finite. Lower the learning rate, or look for NaN in the inputs.")
