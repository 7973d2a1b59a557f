"""Distillation losses: Hinton, Vinyals & Dean (2015) as pure functions on logits, and one
object per method.

- Models output logits; the losses work from log-softmax, so logits of 1e4 give finite losses.
- soft loss = T^2 * KL(softmax(teacher / T) || softmax(student / T)), batch mean; the T^2 keeps
  the soft gradients' magnitude roughly constant as T changes (paper, section 2).
- hard loss = cross-entropy of the student's logits with the labels, at T = 1;
  total = alpha * hard + (1 - alpha) * soft: **alpha weights the hard-label loss**.
- `sample_weight` reduces a batch as Keras does by default (sum of weight * loss over the batch
  size), so weights mean for a Distiller what they mean for any model.

Objects (`DistillationLoss`), each naming its paper: `HintonKD` (the default), `DecoupledKD`,
`HintLoss` (FitNets), `LabelSmoothing` (a control, no teacher) and `KerasDistillationLoss` (a
`keras.distillation` loss, unchanged). One's own: subclass and define `compute` (notebook 17).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf


def check_number(value, name: str, expected: str, ok=math.isfinite) -> float:
    """`value` as a float, or ValueError("<name> must be <expected>") unless it is a number
    (not a bool or a string, which float() takes) and `ok(value)`."""
    try:
        number = None if isinstance(value, (bool, str, bytes)) else float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not ok(number):
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    return number


def check_temperature(temperature) -> float:
    """Return `temperature` as a float, or raise ValueError unless it is finite and > 0."""
    return check_number(temperature, "temperature", "a finite number > 0 (1 = no softening; "
                        "Hinton et al. used 20 on MNIST)", lambda t: math.isfinite(t) and t > 0)


def check_alpha(alpha) -> float:
    """Return `alpha` as a float, or raise ValueError unless it lies in [0, 1]."""
    return check_number(alpha, "alpha", "a number in [0, 1]: the weight of the hard-label loss "
                        "(1 = labels only, 0 = soft targets only)", lambda a: 0 <= a <= 1)


def _reduce(per_example, sample_weight=None) -> tf.Tensor:
    """Batch mean; with weights, Keras' sum(weight * loss) / batch size, not / sum(weights)."""
    if sample_weight is None:
        return tf.reduce_mean(per_example)
    weights = tf.reshape(tf.cast(sample_weight, per_example.dtype), [-1])
    size = tf.cast(tf.size(per_example), per_example.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(weights * per_example), size)


def kl_divergence(teacher_logits, student_logits, temperature, sample_weight=None) -> tf.Tensor:
    """Batch mean of KL(softmax(teacher / T) || softmax(student / T)), without the T^2 factor."""
    teacher_log_probs = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature)
    student_log_probs = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature)
    per_example = tf.reduce_sum(
        tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
    return _reduce(per_example, sample_weight)


def soft_target_loss(teacher_logits, student_logits, temperature, scale_by_t2: bool = True,
                     sample_weight=None):
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), batch mean.

    Args:
        teacher_logits, student_logits: `(batch, classes)` logits.
        temperature: T > 0; both distributions are softened by the same T.
        scale_by_t2: multiply by T^2 (the paper's convention). Off only to study its effect.
        sample_weight: per-example weights, reduced as Keras reduces a loss (see above).
    """
    temperature = check_temperature(temperature)
    loss = kl_divergence(teacher_logits, student_logits, temperature, sample_weight)
    return loss * temperature**2 if scale_by_t2 else loss


def hard_label_loss(labels, student_logits, sample_weight=None) -> tf.Tensor:
    """Sparse categorical cross-entropy of the student's logits at T = 1, batch mean."""
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    return _reduce(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=tf.cast(student_logits, tf.float32)), sample_weight)


class DistillationTerms(NamedTuple):
    """Each term of the distillation objective for one batch (all batch means)."""

    total: tf.Tensor
    hard: tf.Tensor  # cross-entropy with the labels
    soft: tf.Tensor | None  # the distillation losses, weighted and summed (Hinton's: T^2 * KL)
    details: dict  # each loss's own terms by history name, such as {"kl_divergence": KL}


# -- Distillation losses as objects ---------------------------------------------------------
class DistillationLoss:
    """One loss of the Distiller's `(1 - alpha) * sum_i(weight_i * loss_i)`: define `compute`.

    Class attributes say what it needs: `needs_teacher` (False: none, as label smoothing);
    `teacher_layer` and `student_layer`, names of hidden layers whose outputs `compute` receives
    instead of the logits (the teacher then runs every batch: cached logits cannot carry them);
    `details`, the names of the terms `describe` returns, in that order.
    """

    needs_teacher = True
    teacher_layer: str | None = None
    student_layer: str | None = None
    details: tuple[str, ...] = ()

    def compute(self, labels, teacher_outputs, student_outputs, sample_weight=None):
        """The batch's loss (a scalar) from the labels and the two models' outputs."""
        raise NotImplementedError(f"{type(self).__name__} must define compute(labels, "
                                  "teacher_outputs, student_outputs, sample_weight=None)")

    def build(self, teacher, student) -> None:
        """Check the models (and create any layer the loss trains) before training."""

    @property
    def layers(self) -> list:
        """Keras layers the loss trains with the student (a hint's projection)."""
        return []

    def describe(self, value) -> dict:
        """The terms named in `details`, in that order (the history reads only the values)."""
        return {}

    def uses_features(self) -> bool:
        return bool(self.teacher_layer or self.student_layer)


class HintonKD(DistillationLoss):
    """Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network":
    T^2 * KL(softmax(teacher / T) || softmax(student / T)). The Distiller's default."""

    details = ("kl_divergence",)

    def __init__(self, temperature: float = 20.0):
        self.temperature = check_temperature(temperature)

    def compute(self, labels, teacher_outputs, student_outputs, sample_weight=None):
        return soft_target_loss(teacher_outputs, student_outputs, self.temperature,
                                sample_weight=sample_weight)

    def describe(self, value) -> dict:
        return {"kl_divergence": value / self.temperature**2}

    def __repr__(self):
        return f"HintonKD(temperature={self.temperature:g})"


class DecoupledKD(DistillationLoss):
    """Zhao, Cui, Song, Qiu & Liang (2022), "Decoupled Knowledge Distillation" (CVPR):
    T^2 * (target_weight * TCKD + non_target_weight * NCKD).

    TCKD: KL between the binary (target class against the rest) distributions at T; NCKD: KL
    over the non-target classes alone. Hinton's loss is TCKD + (1 - p_target) * NCKD, which ties
    NCKD to the teacher's confidence; DKD weights the two freely (paper: 1 and 8, T = 4).
    """

    details = ("tckd", "nckd")

    def __init__(self, temperature: float = 4.0, target_weight: float = 1.0,
                 non_target_weight: float = 8.0):
        self.temperature = check_temperature(temperature)
        self.target_weight, self.non_target_weight = (
            check_number(value, f"DecoupledKD: {name}", "a finite number >= 0",
                         lambda v: math.isfinite(v) and v >= 0)
            for name, value in (("target_weight", target_weight),
                                ("non_target_weight", non_target_weight)))
        self._last = {}

    def parts(self, labels, teacher_logits, student_logits):
        """Per-example (TCKD, NCKD), without T^2."""
        t = tf.cast(teacher_logits, tf.float32) / self.temperature
        s = tf.cast(student_logits, tf.float32) / self.temperature
        one_hot = tf.one_hot(tf.reshape(tf.cast(labels, tf.int32), [-1]), tf.shape(t)[-1])
        log_t, log_s = tf.nn.log_softmax(t), tf.nn.log_softmax(s)
        # The target's logit pushed 1e9 below the rest: out of a softmax, yet finite, so no
        # NaN reaches the gradient as a -inf mask's would.
        masked = one_hot * 1e9
        t_in, s_in = tf.reduce_sum(one_hot * log_t, -1), tf.reduce_sum(one_hot * log_s, -1)
        t_out = tf.reduce_logsumexp(log_t - masked, -1)  # log p(not target)
        s_out = tf.reduce_logsumexp(log_s - masked, -1)
        tckd = tf.exp(t_in) * (t_in - s_in) + tf.exp(t_out) * (t_out - s_out)
        log_t_rest, log_s_rest = tf.nn.log_softmax(t - masked), tf.nn.log_softmax(s - masked)
        nckd = tf.reduce_sum((1.0 - one_hot) * tf.exp(log_t_rest) * (log_t_rest - log_s_rest),
                             -1)
        return tckd, nckd

    def compute(self, labels, teacher_outputs, student_outputs, sample_weight=None):
        tckd, nckd = self.parts(labels, teacher_outputs, student_outputs)
        scale = self.temperature**2
        tckd, nckd = _reduce(tckd, sample_weight) * scale, _reduce(nckd, sample_weight) * scale
        self._last = {"tckd": tckd, "nckd": nckd}
        return self.target_weight * tckd + self.non_target_weight * nckd

    def describe(self, value) -> dict:
        return dict(self._last)

    def __repr__(self):
        return (f"DecoupledKD(temperature={self.temperature:g}, target_weight="
                f"{self.target_weight:g}, non_target_weight={self.non_target_weight:g})")


class HintLoss(DistillationLoss):
    """Romero et al. (2015), "FitNets: Hints for Thin Deep Nets": the mean squared error
    between a teacher's hidden layer and a learned linear projection of a student's.

    The projection (Dense, to the teacher layer's width) trains with the student in one stage
    (FitNets trained the hint first). A layer is named, or given by position: k is the k-th
    hidden Dense layer, 1 the first, whatever Keras named it (the logits layer is not hidden).
    """

    details = ()

    def __init__(self, teacher_layer: str | int, student_layer: str | int):
        for name, value in (("teacher_layer", teacher_layer), ("student_layer", student_layer)):
            if not ((isinstance(value, str) and value) or (
                    isinstance(value, (int, float)) and not isinstance(value, bool)
                    and float(value).is_integer() and value >= 1)):
                raise ValueError(f"HintLoss: {name} must be a layer's name, or the position "
                                 f"(1, 2, ...) of a hidden Dense layer; got {value!r}")
        self.teacher_layer, self.student_layer = (
            v if isinstance(v, str) else int(v) for v in (teacher_layer, student_layer))
        self.projection = None

    def build(self, teacher, student) -> None:
        if teacher is None:
            raise ValueError("HintLoss needs the teacher model (its hidden layer runs every "
                             "batch): pass teacher=...")
        widths = {}
        self.teacher_layer = _hidden_layer_name(teacher, self.teacher_layer, "teacher")
        self.student_layer = _hidden_layer_name(student, self.student_layer, "student")
        for role, model, name in (("teacher", teacher, self.teacher_layer),
                                  ("student", student, self.student_layer)):
            if name not in (names := [layer.name for layer in model.layers]):
                raise ValueError(f"HintLoss: the {role} {model.name!r} has no layer "
                                 f"{name!r}; its layers are {', '.join(names)}")
            widths[role] = model.get_layer(name).output.shape[-1]
        if self.projection is None:  # built now, so the optimizer is built with its weights
            self.projection = keras.layers.Dense(widths["teacher"], name=f"hint_projection_"
                                                 f"{self.student_layer}")
            self.projection.build((None, widths["student"]))

    @property
    def layers(self) -> list:
        return [self.projection] if self.projection is not None else []

    def compute(self, labels, teacher_outputs, student_outputs, sample_weight=None):
        projected = tf.cast(self.projection(student_outputs), tf.float32)
        flat = tf.reshape(tf.cast(teacher_outputs, tf.float32) - projected,
                          [tf.shape(projected)[0], -1])
        return _reduce(tf.reduce_mean(tf.square(flat), -1), sample_weight)

    def __repr__(self):
        return (f"HintLoss(teacher_layer={self.teacher_layer!r}, "
                f"student_layer={self.student_layer!r})")


def _hidden_layer_name(model, layer, role: str) -> str:
    # A position k: the k-th Dense layer but the last (the logits).
    if isinstance(layer, str):
        return layer
    hidden = [x.name for x in model.layers if isinstance(x, keras.layers.Dense)][:-1]
    if layer > len(hidden):
        raise ValueError(f"HintLoss: the {role} {model.name!r} has {len(hidden)} hidden Dense "
                         f"layers, not {layer}")
    return hidden[layer - 1]


class LabelSmoothing(DistillationLoss):
    """Cross-entropy with smoothed labels: (1 - smoothing) on the true class, the rest spread
    evenly (Szegedy et al. 2016, "Rethinking the Inception Architecture"; as a control for
    distillation, Müller, Kornblith & Hinton 2019 and Yuan et al. 2020). Needs no teacher: use
    it with `alpha=0` so that it replaces the hard-label loss.
    """

    needs_teacher = False

    def __init__(self, smoothing: float = 0.1):
        self.smoothing = check_number(smoothing, "LabelSmoothing: smoothing",
                                      "a number in [0, 1)", lambda v: 0 <= v < 1)

    def compute(self, labels, teacher_outputs, student_outputs, sample_weight=None):
        log_probs = tf.nn.log_softmax(tf.cast(student_outputs, tf.float32))
        classes = tf.shape(log_probs)[-1]
        targets = tf.one_hot(tf.reshape(tf.cast(labels, tf.int32), [-1]), classes)
        targets = targets * (1.0 - self.smoothing) + self.smoothing / tf.cast(classes,
                                                                              tf.float32)
        return _reduce(-tf.reduce_sum(targets * log_probs, -1), sample_weight)

    def __repr__(self):
        return f"LabelSmoothing(smoothing={self.smoothing:g})"


class KerasDistillationLoss(DistillationLoss):
    """A `keras.distillation` loss object, run unchanged through its `compute_loss(teacher,
    student)`; it takes no sample weights, so every example weighs alike."""

    def __init__(self, loss):
        if not callable(getattr(loss, "compute_loss", None)):
            raise ValueError(f"{loss!r} is not a keras.distillation loss (no compute_loss)")
        self.loss = loss
        self.teacher_layer = getattr(loss, "teacher_layer_name", None)
        self.student_layer = getattr(loss, "student_layer_name", None)
        inner = getattr(loss, "loss", None)
        if type(loss).__name__ == "LogitsDistillation" and getattr(inner, "__name__", "") in (
                "kl_divergence", "kld"):
            warnings.warn(
                "keras.distillation.LogitsDistillation's default loss 'kl_divergence' is applied "
                "to the scaled logits without softmax or T^2 (keras 3.15): pass "
                "loss=keras.losses.KLDivergence(), or use losses.HintonKD(temperature)",
                stacklevel=3)

    def build(self, teacher, student) -> None:
        validate = getattr(self.loss, "validate_model_compatibility", None)
        if validate is not None and teacher is not None:
            validate(teacher, student)

    def compute(self, labels, teacher_outputs, student_outputs, sample_weight=None):
        return self.loss.compute_loss(teacher_outputs, student_outputs)

    def __repr__(self):
        return f"KerasDistillationLoss({type(self.loss).__name__})"


def as_loss(loss) -> DistillationLoss:
    """`loss` as one of ours: a `DistillationLoss` as it is, a keras.distillation loss wrapped."""
    if isinstance(loss, DistillationLoss):
        return loss
    if callable(getattr(loss, "compute_loss", None)):
        return KerasDistillationLoss(loss)
    raise ValueError(f"losses: expected a losses.DistillationLoss (HintonKD, DecoupledKD, "
                     f"HintLoss, LabelSmoothing, a subclass of one's own) or a "
                     f"keras.distillation loss; got {loss!r}")


def teacher_agreement(teacher_logits, student_logits, sample_weight=None) -> tf.Tensor:
    """Fraction of examples (weighted) where the student's argmax is the teacher's."""
    same = tf.cast(tf.equal(tf.argmax(teacher_logits, axis=-1),
                            tf.argmax(student_logits, axis=-1)), tf.float32)
    if sample_weight is None:
        return tf.reduce_mean(same)
    weights = tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
    return tf.math.divide_no_nan(tf.reduce_sum(weights * same), tf.reduce_sum(weights))


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) in NumPy (float64), row by row: the teacher's soft targets at T."""
    scaled = np.asarray(logits, dtype=np.float64) / check_temperature(temperature)
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)
