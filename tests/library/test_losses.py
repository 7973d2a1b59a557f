"""The KD losses against golden values and a NumPy reference: T^2, alpha, stability, parity."""

import keras
import numpy as np
import pytest
import tensorflow as tf

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
    terms = losses.distillation_terms(y, t, s, temperature=4.0, alpha=0.3)
    assert float(terms.total) == pytest.approx(0.3 * float(terms.hard) + 0.7 * float(terms.soft))
    assert float(terms.hard) == pytest.approx(float(losses.hard_label_loss(y, s)))
    only_labels = losses.distillation_terms(y, t, s, temperature=4.0, alpha=1.0)
    assert float(only_labels.total) == pytest.approx(float(terms.hard))


def test_teacher_agreement_counts_matching_argmax():
    t = np.array([[3, 1, 0], [0, 2, 1], [1, 0, 5], [0, 9, 1]], np.float32)
    s = np.array([[2, 0, 0], [5, 1, 1], [0, 0, 1], [0, 1, 0]], np.float32)
    assert float(losses.teacher_agreement(t, s)) == pytest.approx(0.75)
