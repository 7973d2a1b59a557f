"""FusedMomentumSGD trains exactly as Keras' SGD does, on the paper's kind of teacher."""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from kd_lab.config import RunConfig, make_optimizer
from kd_lab.fused_sgd import FusedMomentumSGD
from kd_utils import models
from kd_utils.distiller import Distiller


@pytest.fixture
def fused_calls(monkeypatch):
    """How many updates traced the fused kernel (a test of equal weights proves nothing if
    the fused path never ran)."""
    calls = []
    kernel = tf.raw_ops.ResourceApplyKerasMomentum

    def spy(**kwargs):
        calls.append(kwargs["var"])
        return kernel(**kwargs)

    monkeypatch.setattr(tf.raw_ops, "ResourceApplyKerasMomentum", spy)
    return calls


def trained_weights(optimizer_class, momentum=0.9, nesterov=False, jit_compile=False,
                    strategy=None, weight_decay=None, precision="float32"):
    """Weights of a small dropout, max-norm MLP after 2 epochs of SGD on a cosine schedule."""
    rng = np.random.default_rng(0)
    x = rng.random((256, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 256)
    keras.utils.set_random_seed(0)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)  # as `registry.build` builds a model
    try:
        with strategy.scope() if strategy else contextlib.nullcontext():
            student = models.mlp((64, 64), dropout=0.5, input_dropout=0.2, max_norm=0.5)
    finally:
        keras.config.set_dtype_policy(previous)
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = Distiller(student=student, alpha=1.0)
        rate = keras.optimizers.schedules.CosineDecay(0.5, decay_steps=20)
        model.compile(optimizer=optimizer_class(rate, momentum=momentum, nesterov=nesterov,
                                                weight_decay=weight_decay),
                      jit_compile=jit_compile, steps_per_execution=4)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    return student.get_weights()


@pytest.mark.parametrize("case", [{}, dict(jit_compile=True), dict(weight_decay=1e-3),
                                  dict(precision="mixed_bfloat16")], ids=str)
def test_fused_momentum_gives_keras_sgds_weights_bit_for_bit(case, fused_calls):
    ours = trained_weights(FusedMomentumSGD, **case)
    assert fused_calls  # the fused kernel did the updates
    keras_own = trained_weights(keras.optimizers.SGD, **case)
    assert not np.array_equal(ours[0], trained_weights(FusedMomentumSGD, momentum=0.5)[0])
    for a, b in zip(ours, keras_own, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", [dict(momentum=0.0), dict(nesterov=True),
                                  dict(strategy="one device")])
def test_keras_own_update_where_the_fused_kernel_does_not_apply(case, fused_calls):
    if case.get("strategy"):
        case = dict(strategy=tf.distribute.OneDeviceStrategy("/cpu:0"))
    for a, b in zip(trained_weights(FusedMomentumSGD, **case),
                    trained_weights(keras.optimizers.SGD, **case), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not fused_calls


def test_the_lab_builds_the_fused_optimizer_for_sgd_only():
    sgd = RunConfig(role="teacher", optimizer="sgd", learning_rate=0.05, momentum=0.9)
    assert isinstance(make_optimizer(sgd), FusedMomentumSGD)
    adam = sgd.replace(optimizer="adam", momentum=0.0)
    assert not isinstance(make_optimizer(adam), keras.optimizers.SGD)
