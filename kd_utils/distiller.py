"""`Distiller(keras.Model)`: a student trained on alpha * hard-label loss + (1 - alpha) * its
distillation losses (Hinton, Vinyals & Dean 2015; the Keras example; `keras.distillation`).

The losses are objects of `losses.py` (Hinton's by default); this class combines them. The
teacher runs with `training=False`, outside the gradient tape and frozen, or not at all when
a batch carries cached teacher logits (`pipeline.with_teacher_logits`). With `teacher=None`
and `alpha=1` it trains a student from scratch: every run shares one training step.
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import tensorflow as tf

from . import losses
from .callbacks import set_monitor_modes
from .distribute import apply_if_finite, for_keras_reduction, per_replica_share, spans_workers
from .losses import HintonKD, as_loss, check_alpha
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


def check_same_inputs(teacher, student) -> None:
    """Raise unless built teacher and student take inputs of one shape (unbuilt: not known)."""
    shapes = [tuple(m.inputs[0].shape[1:]) if getattr(m, "inputs", None) else None
              for m in (teacher, student)]
    if None not in shapes and shapes[0] != shapes[1]:
        raise ValueError(f"teacher {teacher.name!r} takes inputs of shape {shapes[0]} but "
                         f"student {student.name!r} takes {shapes[1]}: both read the same "
                         "batches")


def check_same_width(teacher_width: int, student_width: int, who: str = "teacher") -> None:
    """Raise unless the teacher (or its cached logits) and the student give as many logits."""
    if teacher_width != student_width:
        raise ValueError(f"{who} outputs {teacher_width} logits but student outputs "
                         f"{student_width}: both must output one logit per class")


def check_model(model, role: str) -> None:
    """Raise unless `model` is a keras.Model with one output of logits (no final softmax)."""
    if not isinstance(model, keras.Model):  # ValueError, as keras.distillation raises
        raise ValueError(f"{role} must be a keras.Model, got {type(model).__name__}")
    if len(getattr(model, "outputs", None) or ()) > 1:
        raise ValueError(f"{role} {model.name!r} has {len(model.outputs)} outputs; the "
                         "Distiller needs one output of logits: pass keras.Model(model.inputs, "
                         "model.outputs[i]) for the output to distil")
    if outputs_probabilities(model):
        raise ValueError(f"{role} {model.name!r} ends in softmax (or sigmoid): it outputs "
                         "probabilities, but the Distiller needs logits. Remove the final "
                         "activation.")


def first_batch(x, y=None, argument: str = "x"):
    """(inputs, labels, cached logits or None) to check: a dataset's first batch (taken once:
    each iteration moves its reshuffling on), or the arrays."""
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
    """Raise if a sample or class weight is negative (a loss turned gain) or not finite."""
    weights = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(weights).all():
        raise ValueError(f"{argument} holds NaN or infinite values")
    if np.any(weights < 0):
        raise ValueError(f"{argument} must be >= 0 (a negative weight turns a loss into a gain "
                         "to maximise)")


def check_sample_weight(sample_weight, argument: str = "x") -> None:
    """Raise unless a batch's third element (Keras' sample weights) is one weight per example."""
    shape = tuple(sample_weight.shape)
    if len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, None)):
        raise ValueError(
            f"{argument}: the third element of a batch is read as sample weights, one per "
            f"example, but it has shape {shape}. Cached teacher logits go in the inputs: "
            "(pipeline.with_teacher_logits(x, logits), y), as pipeline.make_dataset makes them.")


def warn_if_untrained(teacher_logits, labels, name: str) -> None:
    """Warn when a teacher labels a batch not detectably (2 standard errors) above chance."""
    labels = np.asarray(labels).reshape(-1)
    if len(labels) < 20 or len(labels) != len(teacher_logits):
        return
    chance = 1.0 / teacher_logits.shape[-1]
    accuracy = float(np.mean(np.argmax(teacher_logits, axis=-1) == labels))
    if accuracy <= chance + 2 * math.sqrt(chance * (1 - chance) / len(labels)):
        warnings.warn(f"teacher {name!r} labels {accuracy:.0%} of {len(labels)} example inputs "
                      f"correctly, not detectably above chance ({chance:.0%}): is it trained? "
                      "Distilling an untrained teacher teaches the student noise.", stacklevel=4)


# -- The Distiller -----------------------------------------------------------------------
SAVE_MESSAGE = ("A Distiller is a training wrapper and is not saved as a whole: save the student "
                "with `distiller.student.save('student.keras')` (and the teacher likewise), or "
                "checkpoint it during fit with `callbacks.StudentCheckpoint('student.keras')`.")
_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy")
NON_FINITE_INPUTS = "evaluation inputs hold NaN or infinite values"
NEGATIVE_WEIGHTS = "sample weights must be >= 0"


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; training stopped before the update."""


class RunningTerms:
    """Epoch means of one student's loss terms, accuracy and agreement with the teacher, by
    their names in the history; `details` names each distillation loss's own terms."""

    def __init__(self, soft: bool, details=("kl_divergence",), agreement: bool | None = None):
        self.soft, self.agree = soft, soft if agreement is None else agreement
        losses_ = ["loss", "student_loss", *(["distillation_loss", *details] if soft else [])]
        self.means = {name: keras.metrics.Mean(name=name) for name in
                      [*losses_, *(["teacher_agreement"] if self.agree else []), "total_loss"]}
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        # The history's order: the losses, accuracy, agreement, and keras.distillation's total
        self.metrics = [*(self.means[n] for n in losses_), self.accuracy,
                        *(m for n, m in self.means.items() if n not in losses_)]

    def update(self, y, loss, terms: losses.DistillationTerms, teacher_logits, student_logits,
               sample_weight=None):
        # Losses as Keras tracks its loss (each batch's value, weighted by the batch's size);
        # accuracy and agreement as Keras' compiled metrics, weighted per example.
        batch = tf.cast(tf.shape(student_logits)[0], tf.float32)
        values = {"loss": loss, "total_loss": loss, "student_loss": terms.hard}
        if self.soft:
            values.update(distillation_loss=terms.soft, **terms.details)
        for name, value in values.items():
            self.means[name].update_state(value, sample_weight=batch)
        self.accuracy.update_state(y, student_logits, sample_weight=sample_weight)
        if self.agree and teacher_logits is not None:
            weight = batch if sample_weight is None else tf.reduce_sum(
                tf.cast(sample_weight, tf.float32))
            self.means["teacher_agreement"].update_state(
                losses.teacher_agreement(teacher_logits, student_logits, sample_weight),
                sample_weight=weight)


POSITIONAL_MESSAGE = (
    "Distiller takes student= and teacher= by keyword: keras.distillation.Distiller takes "
    "(teacher, student) in that order and this lab's took (student, teacher), so a positional "
    "call would silently swap the roles. Write Distiller(student=..., teacher=..., ...).")
COMPILE_KEYWORDS = {
    "student_loss_fn": "the hard-label loss is always cross-entropy on logits; drop it",
    "distillation_loss_fn": "pass losses=[losses.HintonKD(temperature)] (or another loss "
                            "object) to the Distiller's constructor",
    "alpha": "pass alpha=... (the weight of the hard-label loss) to the constructor",
    "temperature": "pass temperature=... to the constructor (or to the loss object)",
}


def _one_of(ours, theirs, our_name: str, their_name: str):
    # keras.distillation's keyword is understood as ours; giving both is ambiguous.
    if ours is not None and theirs is not None:
        raise ValueError(f"give {our_name} or keras.distillation's {their_name}, not both")
    return theirs if ours is None else ours


def _weights(weights, count: int) -> list[float]:
    if weights is None:
        return [1.0] * count
    weights = [weights] if isinstance(weights, (int, float)) else list(weights)
    if len(weights) != count:
        raise ValueError(f"loss_weights has {len(weights)} weights for {count} losses: give "
                         "one weight per loss")
    return [losses.check_number(w, f"loss_weights[{i}]", "a finite number >= 0",
                                lambda v: math.isfinite(v) and v >= 0)
            for i, w in enumerate(weights)]


class Distiller(keras.Model):
    """A student trained on `alpha * hard + (1 - alpha) * sum_i(weight_i * loss_i)`.

    **alpha weights the hard-label loss** (cross-entropy with the labels, at T = 1); the
    distillation losses share 1 - alpha. By default there is one, Hinton et al.'s
    `losses.HintonKD(temperature)`: T^2 * KL(teacher_T || student_T), so
    `Distiller(student=..., teacher=..., temperature=20, alpha=0.1)` is Hinton KD; alpha means
    what it means in the Keras example and `keras.distillation.Distiller`, whose loss objects
    work here too. Hinton et al. put a "considerably lower weight" on the hard loss. It behaves
    like any Keras model: callbacks, `sample_weight` and `class_weight` (weighting the hard and
    soft losses as Keras weights a loss), fit, evaluate and predict.

    Args:
        student: the model that learns; outputs logits. Keyword only.
        teacher: a trained model that outputs logits. It is frozen and run with
            `training=False`. None when every batch carries cached teacher logits, or to train
            the student from scratch (`alpha=1`) or with losses that need no teacher.
        temperature: T > 0 of the default Hinton loss (20 when not given); with `losses`,
            each loss object carries its own.
        alpha: weight of the hard-label loss, in [0, 1] (0.1 when not given; keras.distillation's
            0.5 when its keywords are used).
        losses: distillation loss objects (`losses.HintonKD`, `DecoupledKD`, `HintLoss`,
            `LabelSmoothing`, one's own `losses.DistillationLoss`, or keras.distillation's).
        loss_weights: one weight >= 0 per loss (default 1 each).
        run_name: named in errors (a NaN loss, say); defaults to the model's name.
        distillation_losses, distillation_loss_weights, student_loss_weight: keras.distillation's
            names for losses, loss_weights and alpha.

    History (and `val_`): `loss` and `total_loss` (the total), `student_loss` (hard),
    `distillation_loss` (the weighted distillation losses), each loss's own terms (Hinton's
    `kl_divergence`, without T^2), the student's `accuracy` and `teacher_agreement` (same
    argmax); no distillation terms with `teacher=None` at alpha = 1.
    """

    def __init__(self, *args, student=None, teacher=None, temperature=None, alpha=None,
                 losses=None, loss_weights=None, run_name: str | None = None,
                 distillation_losses=None, distillation_loss_weights=None,
                 student_loss_weight=None, **kwargs):
        if args:
            raise TypeError(POSITIONAL_MESSAGE)
        if keras.backend.backend() != "tensorflow":
            raise ValueError(f"Distiller runs on the TensorFlow backend only (Keras backend is "
                             f"{keras.backend.backend()!r}): set KERAS_BACKEND=tensorflow")
        keras_keywords = distillation_losses is not None or student_loss_weight is not None
        losses_given = _one_of(losses, distillation_losses, "losses", "distillation_losses")
        loss_weights = _one_of(loss_weights, distillation_loss_weights, "loss_weights",
                               "distillation_loss_weights")
        alpha = _one_of(alpha, student_loss_weight, "alpha", "student_loss_weight")
        super().__init__(**kwargs)
        if losses_given is None:
            objects = [HintonKD(20.0 if temperature is None else temperature)]
        elif temperature is not None:
            raise ValueError("temperature is the default Hinton loss's: with losses=..., give "
                             "each loss object its own (losses.HintonKD(temperature=...))")
        else:
            given = losses_given if isinstance(losses_given, (list, tuple)) else [losses_given]
            if not given:
                raise ValueError("losses must hold at least one loss object")
            objects = [as_loss(loss) for loss in given]
        self.alpha = check_alpha((0.5 if keras_keywords else 0.1) if alpha is None else alpha)
        self.distillation_losses = objects
        self.loss_weights = _weights(loss_weights, len(objects))
        check_model(student, "student")
        if teacher is not None:
            check_model(teacher, "teacher")
            if teacher is student:
                raise ValueError("teacher and student are the same model object: distil into a "
                                 "fresh copy (keras.models.clone_model) instead")
            check_same_inputs(teacher, student)
            widths = output_width(teacher), output_width(student)
            if None not in widths:
                check_same_width(*widths)
            teacher.trainable = False
        for loss in objects:
            loss.build(teacher, student)
        self.student = student
        self.teacher = teacher
        # Layers the losses train with the student (a hint's projection), tracked by Keras.
        self.loss_layers = [layer for loss in objects for layer in loss.layers]
        self.features = _feature_models(objects, teacher, student)
        self.run_name = run_name or self.name
        self.needs_teacher = any(loss.needs_teacher for loss in objects) and self.alpha < 1.0
        # Without a teacher and with alpha = 1 there is nothing soft to report.
        self.uses_soft_targets = teacher is not None or self.alpha < 1.0
        details = [name for loss in objects for name in loss.details]
        if len(set(details)) < len(details):  # two losses of a kind: name terms by position
            details = [f"{name}_{i + 1}" for i, loss in enumerate(objects)
                       for name in loss.details]
        self.detail_names = details
        self.running = RunningTerms(soft=self.uses_soft_targets, details=details,
                                    agreement=self.uses_soft_targets and (
                                        teacher is not None or self.needs_teacher))
        self._trackers = self.running.metrics
        # Built when its models are, as a plain model is after its first call, so that
        # ModelCheckpoint and BackupAndRestore can save and load its weights before fit.
        self.built = bool(student.built and (teacher is None or teacher.built))

    @property
    def student_loss_weight(self) -> float:
        """keras.distillation's name for alpha."""
        return self.alpha

    @property
    def temperature(self) -> float | None:
        """T of the one Hinton loss (the shorthand's), else None."""
        first = self.distillation_losses[0]
        return first.temperature if (len(self.distillation_losses) == 1
                                     and isinstance(first, HintonKD)) else None

    # -- Keras plumbing -------------------------------------------------------------------
    def compile(self, optimizer="adam", metrics=None, **kwargs):
        """Like `keras.Model.compile` without `loss` (keras.distillation's sparse cross-entropy
        is accepted: it is the hard loss). Accuracy is always tracked; `metrics` are computed
        on the student's logits; the keras-io example's keywords raise, saying where they go."""
        for keyword, where in COMPILE_KEYWORDS.items():
            if keyword in kwargs:
                raise ValueError(f"Distiller.compile: {keyword} is not a compile argument here: "
                                 f"{where}")
        loss = kwargs.pop("loss", None)
        if loss is not None and not _is_sparse_cross_entropy(loss):
            raise ValueError("Distiller.compile takes no loss: it always minimises alpha * hard "
                             "+ (1 - alpha) * its distillation losses (set them and alpha in the "
                             "constructor)")
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
            # fit checks arrays whole and a dataset's first batch; this catches a later batch
            tf.debugging.assert_non_negative(sample_weight, message=NEGATIVE_WEIGHTS)
        x, cached_logits = split_inputs(x)
        return x, y, cached_logits, sample_weight

    def teacher_outputs(self, x, cached_logits):
        """The teacher's logits (and hidden layers the losses read), frozen; None without one."""
        if cached_logits is not None:
            return {"logits": tf.stop_gradient(cached_logits)}
        if self.teacher is None:
            return None
        model = self.features[0] or self.teacher
        outputs = model(x, training=False)
        return tf.nest.map_structure(tf.stop_gradient, outputs if isinstance(outputs, dict)
                                     else {"logits": outputs})

    def student_outputs(self, x, training):
        """The student's logits, and the hidden layers the losses read."""
        outputs = (self.features[1] or self.student)(x, training=training)
        return outputs if isinstance(outputs, dict) else {"logits": outputs}

    def loss_terms(self, y, teacher_outputs, student_outputs,
                   sample_weight=None) -> losses.DistillationTerms:
        """alpha * hard + (1 - alpha) * the weighted distillation losses, with every term."""
        student_logits = student_outputs["logits"]
        hard = losses.hard_label_loss(y, student_logits, sample_weight)
        if not self.uses_soft_targets:
            return losses.DistillationTerms(hard, hard, None, {})
        soft, details = 0.0, []
        for loss, weight in zip(self.distillation_losses, self.loss_weights, strict=True):
            value = loss.compute(y, None if teacher_outputs is None
                                 else teacher_outputs[loss.teacher_layer or "logits"],
                                 student_outputs[loss.student_layer or "logits"], sample_weight)
            soft += weight * value
            details += loss.describe(value).values()
        return losses.DistillationTerms(self.alpha * hard + (1.0 - self.alpha) * soft, hard,
                                        soft, dict(zip(self.detail_names, details, strict=True)))

    def _update_metrics(self, x, y, loss, terms, teacher_outputs, student_logits,
                        sample_weight):
        teacher_logits = None if teacher_outputs is None else teacher_outputs["logits"]
        self.running.update(y, loss, terms, teacher_logits, student_logits, sample_weight)
        return for_keras_reduction(self.compute_metrics(x, y, student_logits,
                                                        sample_weight=sample_weight))

    def train_step(self, data):
        x, y, cached_logits, sample_weight = self.unpack(data)
        # Outside the tape: the teacher is a fixed target, never differentiated.
        teacher_outputs = self.teacher_outputs(x, cached_logits)
        variables = self.student.trainable_variables + [
            v for layer in self.loss_layers for v in layer.trainable_variables]
        with tf.GradientTape() as tape:
            student_outputs = self.student_outputs(x, training=True)
            terms = self.loss_terms(y, teacher_outputs, student_outputs, sample_weight)
            loss = terms.total
            if self.student.losses:  # weight regularisers of the student
                loss += tf.add_n(self.student.losses)
            replica_loss = per_replica_share(loss)
        apply_if_finite(self.optimizer, loss, tape.gradient(replica_loss, variables), variables,
                        xla=self.jit_compile)
        return self._update_metrics(x, y, loss, terms, teacher_outputs,
                                    student_outputs["logits"], sample_weight)

    def test_step(self, data):
        x, y, cached_logits, sample_weight = self.unpack(data)
        # A NaN pixel passes a fused MatMul+ReLU as 0: the loss stays finite and the evaluation
        # silently wrong, so evaluation batches are checked (training ones show in the weights).
        x = tf.nest.map_structure(lambda t: tf.debugging.assert_all_finite(
            t, NON_FINITE_INPUTS) if t.dtype.is_floating else t, x)
        teacher_outputs = self.teacher_outputs(x, cached_logits)
        student_outputs = self.student_outputs(x, training=False)
        terms = self.loss_terms(y, teacher_outputs, student_outputs, sample_weight)
        return self._update_metrics(x, y, terms.total, terms, teacher_outputs,
                                    student_outputs["logits"], sample_weight)

    # -- checks before training ------------------------------------------------------------
    def check_inputs(self, x, y=None, argument: str = "x") -> None:
        """Raise a clear error for bad batches before training: arrays in full, a dataset on
        its first batch (`pipeline.make_dataset` checks the arrays it is built from)."""
        self.check_batch(*first_batch(x, y, argument), argument)

    def check_batch(self, xb, labels, cached, argument: str = "x") -> None:
        """`check_inputs` on an example batch: inputs, labels and cached logits (or None)."""
        student_out = np.asarray(self.student(xb[:256], training=False))
        width = student_out.shape[-1]
        refuse_probabilities(student_out, f"student {self.student.name!r}")
        check_labels(labels, width, argument=f"labels in {argument}")
        feature_losses = [loss for loss in self.distillation_losses if loss.uses_features()]
        if cached is not None and feature_losses:
            raise ValueError(f"{feature_losses[0]!r} reads the teacher's hidden layers, which "
                             f"cached teacher_logits in {argument} cannot carry: pass teacher=... "
                             "and batches without cached logits (the teacher runs every batch)")
        if cached is not None:
            who = f"cached teacher_logits in {argument}"
            check_same_width(cached.shape[-1], width, who)
            refuse_probabilities(cached, who, "cache the teacher's logits, not its softmax")
        elif self.teacher is not None:
            teacher_out = np.asarray(self.teacher(xb[:256], training=False))
            check_same_width(teacher_out.shape[-1], width)
            refuse_probabilities(teacher_out, f"teacher {self.teacher.name!r}")
            warn_if_untrained(teacher_out, labels[:len(teacher_out)], self.teacher.name)
        elif self.needs_teacher:
            raise ValueError(f"{argument}: alpha={self.alpha} with {self.distillation_losses} "
                             "needs soft targets, but there is no teacher and the batches carry "
                             "no cached teacher_logits")

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        # A tf.distribute dataset is checked by whoever distributed it (`runs.run`): looking
        # at a batch here would move its reshuffling on, and replicas would see other batches.
        if not isinstance(x, tf.distribute.DistributedDataset):
            self.check_inputs(x, y, "x")
        if validation_data is not None:
            self.check_inputs(*((validation_data, None) if isinstance(
                validation_data, tf.data.Dataset) else validation_data[:2]), "validation_data")
        for name, default in (("epochs", 1), ("batch_size", None)):  # Keras would take 0
            value = kwargs.get(name, default)
            if value is not default and (isinstance(value, bool) or not isinstance(
                    value, (int, np.integer)) or value < 1):
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        check_fit_weights(kwargs.get("sample_weight"), kwargs.get("class_weight"), x,
                          output_width(self.student))
        if isinstance(x, tf.data.Dataset):  # it shuffles itself; Keras warns of shuffle=True
            kwargs.setdefault("shuffle", False)
            if len(x.element_spec) == 3:  # checked in tf.data too: XLA drops train_step's check
                x = x.map(_refuse_negative_weights)
        callbacks = set_monitor_modes(list(kwargs.pop("callbacks", None) or []))
        callbacks.insert(0, StopOnNonFiniteLoss(self.run_name))
        try:
            return super().fit(x, y, *args, validation_data=validation_data,
                               callbacks=callbacks, **kwargs)
        except tf.errors.InvalidArgumentError as error:
            # A dataset is checked on its first batch only; a later one can still hold NaN,
            # negative weights or labels the student has no logit for, which TensorFlow
            # reports deep in the step.
            for marker, (kind, problem) in LATER_BATCH_ERRORS.items():
                if marker in str(error):
                    found = next(line.strip().split(".")[0] for line in str(error).splitlines()
                                 if marker in line)
                    raise kind(f"run {self.run_name!r}: {problem.format(found)}") from None
            raise


LATER_BATCH_ERRORS = {
    NON_FINITE_INPUTS: (NonFiniteLossError, "a validation batch after the first holds NaN or "
                        "infinite inputs: replace or drop them"),
    NEGATIVE_WEIGHTS: (ValueError, "a batch after the first holds negative sample weights, "
                       "which turn a loss into a gain to maximise: weights must be >= 0"),
    "label value": (ValueError, "a batch after the first holds a label outside the student's "
                    "classes ({}): labels must be class ids 0..K-1 for a student with K logits"),
}


def check_fit_weights(sample_weight, class_weight, x, width: int | None) -> None:
    """Raise unless fit's weights are one per example (arrays) and class ids 0..K-1 (classes),
    finite, >= 0 and not all zero. A dataset's batch may hold zeros alone; the whole may not."""
    if sample_weight is not None and not isinstance(x, tf.data.Dataset) and len(
            sample_weight) != len(split_inputs(x)[0]):
        raise ValueError(f"sample_weight has {len(sample_weight)} weights for "
                         f"{len(split_inputs(x)[0])} examples: give one weight per example")
    if class_weight:
        if strays := [c for c in class_weight if isinstance(c, bool) or not isinstance(
                c, (int, np.integer)) or not 0 <= c < (width or math.inf)]:
            raise ValueError(f"class_weight keys must be class ids 0..K-1 for a student with "
                             f"K = {width or math.inf} logits; got {strays}")
        class_weight = list(class_weight.values())
    for name, weights in (("class_weight", class_weight), ("sample_weight", sample_weight)):
        if weights is not None and len(weights):
            check_weights_not_negative(weights, name)
            if not np.asarray(weights, dtype=np.float64).any():
                raise ValueError(f"{name} is all zero: no example would count")


def _refuse_negative_weights(x, y, sample_weight):
    with tf.control_dependencies([tf.debugging.assert_non_negative(
            sample_weight, message=NEGATIVE_WEIGHTS)]):
        return x, y, tf.identity(sample_weight)


def _is_sparse_cross_entropy(loss) -> bool:
    return loss in ("sparse_categorical_crossentropy", keras.losses.sparse_categorical_crossentropy
                    ) or isinstance(loss, keras.losses.SparseCategoricalCrossentropy)


def _feature_models(objects, teacher, student):
    """(teacher, student) models that output {"logits", and each hidden layer a loss reads},
    or None for a model whose logits are all the losses need."""
    built = []
    for role, model in (("teacher", teacher), ("student", student)):
        names = sorted({getattr(loss, f"{role}_layer") for loss in objects} - {None})
        if not names or model is None:
            built.append(None)
            continue
        if not getattr(model, "inputs", None):
            raise ValueError(f"{role} {model.name!r} has no symbolic inputs: losses that read "
                             "hidden layers need a Functional or Sequential model, built")
        outputs = {"logits": model.outputs[0],
                   **{name: model.get_layer(name).output for name in names}}
        built.append(keras.Model(model.inputs, outputs, name=f"{model.name}_features"))
    return tuple(built)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise `NonFiniteLossError` naming the run as soon as the running loss is not finite."""

    def __init__(self, run_name: str):
        super().__init__()
        self.run_name = run_name
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def stop(self, problem: str):
        self.model.stop_training = True
        raise NonFiniteLossError(f"run {self.run_name!r}: {problem}")

    def on_epoch_end(self, epoch, logs=None):
        val_loss = float((logs or {}).get("val_loss", 0.0))
        if not np.isfinite(val_loss):  # under XLA, which drops test_step's input check
            self.stop(f"the validation loss is {val_loss} after epoch {epoch + 1}: look for NaN "
                      "or infinite values in the validation data.")
        # NaN inputs can leave the loss finite (a fused MatMul+ReLU maps NaN to 0 going
        # forward) while the backward pass writes NaN into the weights: look at them too.
        student = getattr(self.model, "student", self.model)
        if not all(np.isfinite(w).all() for w in student.get_weights()):
            self.stop(f"the student's weights hold NaN or infinite values after epoch "
                      f"{epoch + 1}, though the loss stayed finite: look for NaN or infinite "
                      "values in the inputs, or lower the learning rate.")

    def on_train_batch_end(self, batch, logs=None):
        if (loss := (logs or {}).get("loss")) is not None and not np.isfinite(float(loss)):
            self.stop(f"the training loss became {float(loss)} in epoch {self.epoch + 1}, by "
                      f"batch {batch + 1}; that step's gradients were dropped, and the weights "
                      "are still finite. Lower the learning rate, or look for NaN in the inputs.")
