"""The KD losses against golden values and a NumPy reference: T^2, alpha, stability, parity."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import hinton_terms

from kd_utils import losses

# Computed once from the reference above (and the first by hand: KL = 0.3202, times 4).
GOLDEN = [
    ([[1.0, 2.0, 3.0]], [[3.0, 2.0, 1.0]], 2.0, 1.2806266713192258),
    ([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]], [[3.0, 2.0, 1.0], [1.0, -1.0, 0.5]], 1.0, 1.066078296409815),
    ([[10.0, 0.0, -10.0]], [[0.0, 0.0, 0.0]], 20.0, 31.368380776511355),
]


def test_softmax_at_a_temperature_matches_hand_values():
    probabilities = losses.softmax([[0.0, np.log(3.0)], [1000.0, 0.0]], temperature=1.0)
    np.testing.assert_allclose(probabilities, [[0.25, 0.75], [1.0, 0.0]], atol=1e-12)
    softened = losses.softmax([[0.0, 2 * np.log(3.0)]], temperature=2.0)
    np.testing.assert_allclose(softened, [[0.25, 0.75]])


def reference_soft_loss(teacher_logits, student_logits, temperature):
    """T^2 * KL(softmax(t/T) || softmax(s/T)), batch mean, in float64 NumPy."""
    def log_softmax(z):
        z = np.asarray(z, np.float64) / temperature
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    log_p, log_q = log_softmax(teacher_logits), log_softmax(student_logits)
    return temperature**2 * np.mean((np.exp(log_p) * (log_p - log_q)).sum(axis=-1))


@pytest.mark.parametrize("teacher_logits,student_logits,temperature,expected", GOLDEN)
def test_soft_loss_matches_golden_values(teacher_logits, student_logits, temperature, expected):
    got = float(losses.soft_target_loss(teacher_logits, student_logits, temperature))
    assert got == pytest.approx(expected, rel=1e-5)
    assert reference_soft_loss(teacher_logits, student_logits, temperature) == pytest.approx(expected)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5, 4.0, 20.0])
def test_soft_loss_matches_numpy_reference(temperature):
    rng = np.random.default_rng(int(temperature * 10))
    t, s = rng.normal(scale=5, size=(2, 32, 10)).astype("float32")
    got = float(losses.soft_target_loss(t, s, temperature))
    assert got == pytest.approx(reference_soft_loss(t, s, temperature), rel=1e-4)


def test_t_squared_factor_is_applied():
    rng = np.random.default_rng(1)
    t, s = rng.normal(size=(2, 16, 10)).astype("float32")
    scaled = float(losses.soft_target_loss(t, s, 8.0))
    unscaled = float(losses.soft_target_loss(t, s, 8.0, scale_by_t2=False))
    assert scaled == pytest.approx(64.0 * unscaled, rel=1e-6)
    assert unscaled == pytest.approx(float(losses.kl_divergence(t, s, 8.0)), rel=1e-6)


def test_soft_loss_is_finite_for_logits_of_magnitude_1e4():
    t = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], np.float32)
    s = np.array([[-1e4, 1e4, 0.0], [1e4, -1e4, -5e3]], np.float32)
    for temperature in (1.0, 4.0):
        got = float(losses.soft_target_loss(t, s, temperature))
        assert np.isfinite(got)
        assert got == pytest.approx(reference_soft_loss(t, s, temperature), rel=1e-4)
    assert np.isfinite(float(losses.hard_label_loss([1, 0], s)))


@pytest.mark.parametrize("temperature", [1.0, 3.0, 20.0])
def test_loss_is_zero_when_student_equals_teacher(temperature):
    # Would fail if T softened only one of the two distributions.
    logits = np.random.default_rng(2).normal(scale=3, size=(16, 10)).astype("float32")
    assert float(losses.soft_target_loss(logits, logits, temperature)) == pytest.approx(0, abs=1e-6)


def test_t_squared_keeps_gradient_magnitude_comparable_across_temperatures():
    rng = np.random.default_rng(3)
    t, s = rng.normal(scale=2, size=(2, 64, 10)).astype("float32")

    def gradient_norm(temperature, scale_by_t2):
        student = tf.Variable(s)
        with tf.GradientTape() as tape:
            loss = losses.soft_target_loss(t, student, temperature, scale_by_t2=scale_by_t2)
        return float(tf.norm(tape.gradient(loss, student)))

    with_t2 = [gradient_norm(T, True) for T in (5.0, 10.0, 20.0)]
    assert max(with_t2) / min(with_t2) < 1.5
    without_t2 = [gradient_norm(T, False) for T in (5.0, 20.0)]
    assert without_t2[1] / without_t2[0] < 0.1  # ~1/16: why the paper multiplies by T^2


def test_hard_loss_is_keras_sparse_cross_entropy_from_logits():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(20, 5)).astype("float32")
    labels = rng.integers(0, 5, 20)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert float(losses.hard_label_loss(labels, logits)) == pytest.approx(float(expected), rel=1e-6)


def test_parity_with_keras_distillation_logits_loss():
    # An explicit KLDivergence() instance: in Keras 3.15 the default loss="kl_divergence" string
    # resolves to the plain function, which skips LogitsDistillation's softmax and T^2 branch.
    rng = np.random.default_rng(5)
    t, s = rng.normal(scale=2, size=(2, 32, 10)).astype("float32")
    for temperature in (1.0, 3.0, 10.0):
        keras_loss = keras.distillation.LogitsDistillation(
            temperature=temperature, loss=keras.losses.KLDivergence())
        expected = float(keras_loss.compute_loss(t, s))
        assert float(losses.soft_target_loss(t, s, temperature)) == pytest.approx(expected, rel=1e-4)


def test_alpha_weights_the_hard_label_loss():
    rng = np.random.default_rng(6)
    t, s = rng.normal(size=(2, 8, 4)).astype("float32")
    y = rng.integers(0, 4, 8)
    terms = hinton_terms(y, t, s, temperature=4.0, alpha=0.3)
    assert float(terms.total) == pytest.approx(0.3 * float(terms.hard) + 0.7 * float(terms.soft))
    assert float(terms.hard) == pytest.approx(float(losses.hard_label_loss(y, s)))
    assert float(terms.soft) == pytest.approx(float(losses.soft_target_loss(t, s, 4.0)))
    only_labels = hinton_terms(y, t, s, temperature=4.0, alpha=1.0)
    assert float(only_labels.total) == pytest.approx(float(terms.hard))


def test_teacher_agreement_counts_matching_argmax():
    t = np.array([[3, 1, 0], [0, 2, 1], [1, 0, 5], [0, 9, 1]], np.float32)
    s = np.array([[2, 0, 0], [5, 1, 1], [0, 0, 1], [0, 1, 0]], np.float32)
    assert float(losses.teacher_agreement(t, s)) == pytest.approx(0.75)


# -- Distillation losses as objects: each against golden values or an independent anchor -----
DKD_TEACHER = [[1.0, 2.0, 3.0, 0.5], [0.0, 4.0, -1.0, 2.0]]
DKD_STUDENT = [[3.0, 2.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.5]]
DKD_LABELS = [2, 1]
# From the paper's definitions in float64 NumPy (binary target KL, renormalised non-target
# KL, times T^2), computed once: (T, target weight, non-target weight, loss).
DKD_GOLDEN = [(4.0, 1.0, 8.0, 5.575043951432969), (2.0, 0.5, 2.0, 1.6168709745405163)]


@pytest.mark.parametrize("temperature,target,non_target,expected", DKD_GOLDEN)
def test_decoupled_kd_matches_golden_values(temperature, target, non_target, expected):
    loss = losses.DecoupledKD(temperature, target_weight=target, non_target_weight=non_target)
    got = float(loss.compute(DKD_LABELS, DKD_TEACHER, DKD_STUDENT))
    assert got == pytest.approx(expected, rel=1e-5)


def test_hinton_kd_is_tckd_plus_nckd_weighted_by_the_teachers_non_target_mass():
    # Zhao et al.'s (2022) decomposition, eq. 7: KD = TCKD + (1 - p_target) * NCKD.
    temperature = 3.0
    tckd, nckd = losses.DecoupledKD(temperature).parts(DKD_LABELS, DKD_TEACHER, DKD_STUDENT)
    p_target = losses.softmax(DKD_TEACHER, temperature)[[0, 1], DKD_LABELS]
    per_example = tckd.numpy() + (1 - p_target) * nckd.numpy()
    hinton = losses.HintonKD(temperature).compute(None, DKD_TEACHER, DKD_STUDENT)
    assert float(hinton) == pytest.approx(temperature**2 * per_example.mean(), rel=1e-5)


def test_decoupled_kd_stays_finite_with_its_gradient_for_confident_logits():
    teacher = tf.constant([[1e4, 0.0, -1e4]])
    student = tf.Variable([[0.0, 1e4, 0.0]])
    with tf.GradientTape() as tape:
        value = losses.DecoupledKD(4.0).compute([0], teacher, student)
    assert np.isfinite(float(value))
    assert np.isfinite(tape.gradient(value, student).numpy()).all()


def test_label_smoothing_is_keras_cross_entropy_with_label_smoothing():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0]], np.float32)
    labels = [0, 2]
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)
    expected = float(keras_loss(tf.one_hot(labels, 3), logits))
    got = float(losses.LabelSmoothing(0.2).compute(labels, None, logits))
    assert got == pytest.approx(expected, rel=1e-6)
    assert not losses.LabelSmoothing.needs_teacher


def test_hint_loss_is_the_mean_squared_error_to_a_learned_projection():
    inputs = keras.Input((3,))
    teacher = keras.Model(inputs, keras.layers.Dense(2, name="logits")(
        keras.layers.Dense(4, name="hidden")(inputs)))
    student = keras.Model(inputs, keras.layers.Dense(2, name="logits")(
        keras.layers.Dense(3, name="narrow")(inputs)))
    hint = losses.HintLoss(teacher_layer="hidden", student_layer="narrow")
    hint.build(teacher, student)
    hint.projection.set_weights([np.ones((3, 4), np.float32), np.zeros(4, np.float32)])
    # projection of [1, 2, 3] is [6, 6, 6, 6]; against [6, 7, 8, 5]: (0 + 1 + 4 + 1) / 4
    got = hint.compute(None, np.array([[6.0, 7.0, 8.0, 5.0]], np.float32),
                       np.array([[1.0, 2.0, 3.0]], np.float32))
    assert float(got) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="has no layer 'missing'; its layers are"):
        losses.HintLoss("missing", "narrow").build(teacher, student)


def test_keras_logits_distillation_with_kl_divergence_equals_hinton_kd():
    teacher, student = tf.constant(DKD_TEACHER), tf.constant(DKD_STUDENT)
    theirs = losses.KerasDistillationLoss(keras.distillation.LogitsDistillation(
        temperature=3.0, loss=keras.losses.KLDivergence()))
    ours = losses.HintonKD(3.0)
    assert float(theirs.compute(None, teacher, student)) == pytest.approx(
        float(ours.compute(None, teacher, student)), rel=1e-5)


def test_keras_default_logits_loss_is_named_as_the_defect_it_is():
    with pytest.warns(UserWarning, match="without softmax or T"):
        losses.as_loss(keras.distillation.LogitsDistillation(temperature=3.0))


@pytest.mark.parametrize("make,match", [
    (lambda: losses.DecoupledKD(non_target_weight=-1), "non_target_weight must be"),
    (lambda: losses.LabelSmoothing(1.0), r"smoothing must be a number in \[0, 1\)"),
    (lambda: losses.HintLoss("", "x"), "teacher_layer must be a layer's name"),
    (lambda: losses.HintonKD(0), "temperature must be"),
    (lambda: losses.as_loss("mse"), "expected a losses.DistillationLoss"),
])
def test_bad_loss_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_hint_can_name_hidden_layers_by_position_whatever_keras_named_them():
    teacher = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5), keras.layers.Dense(4),
                                keras.layers.Dense(2)])
    student = keras.Sequential([keras.Input((3,)), keras.layers.Dense(6), keras.layers.Dense(2)])
    hint = losses.HintLoss(teacher_layer=2, student_layer=1.0)
    hint.build(teacher, student)
    assert (hint.teacher_layer, hint.student_layer) == (teacher.layers[1].name,
                                                        student.layers[0].name)
    assert hint.projection.kernel.shape == (6, 4)
    with pytest.raises(ValueError, match="has 2 hidden Dense layers, not 3"):
        losses.HintLoss(teacher_layer=3, student_layer=1).build(teacher, student)
    with pytest.raises(ValueError, match="or the position"):
        losses.HintLoss(teacher_layer=0, student_layer=1)
