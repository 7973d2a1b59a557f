"""StackedMLP: column k of the stack computes student k, which MLPs it takes, per-student masks."""

import keras
import numpy as np
import pytest

from kd_lab import registry
from kd_lab.stacked_mlp import StackedMLP, is_stackable, mlp_plan
from kd_utils import models

SHAPE = (4, 4, 1)  # images, so Flatten is exercised


def students(count=3, **kwargs):
    built = []
    for seed in range(count):
        keras.utils.set_random_seed(seed)
        built.append(models.mlp((6, 5), SHAPE, 3, **kwargs))
    return built


def test_each_column_is_its_students_forward_pass_on_shared_or_own_inputs():
    members = students()
    stack = StackedMLP(members)
    x = np.random.default_rng(0).normal(size=(7, 3, *SHAPE)).astype("float32")
    own = np.asarray(stack(x))
    shared = np.asarray(stack(x[:, 0]))
    assert own.shape == shared.shape == (7, 3, 3)
    for k, member in enumerate(members):
        np.testing.assert_allclose(own[:, k], member(x[:, k]), atol=1e-6)
        np.testing.assert_allclose(shared[:, k], member(x[:, 0]), atol=1e-6)


def test_member_weights_are_the_students_and_can_be_set():
    members = students()
    stack = StackedMLP(members)
    for k, member in enumerate(members):
        for mine, theirs in zip(stack.member_weights(k), member.get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    zeros = [np.zeros_like(w) for w in members[1].get_weights()]
    stack.set_member_weights(1, zeros)
    assert all(not w.any() for w in stack.member_weights(1))
    assert any(w.any() for w in stack.member_weights(0))  # the others are untouched


def test_dropout_masks_are_each_students_own():
    members = students(2, dropout=0.5)
    members[1].set_weights(members[0].get_weights())  # identical students
    stack = StackedMLP(members, seed=3)
    x = np.ones((16, *SHAPE), "float32")
    trained = np.asarray(stack(x, training=True))
    assert not np.allclose(trained[:, 0], trained[:, 1])  # masks differ
    inferred = np.asarray(stack(x, training=False))
    np.testing.assert_allclose(inferred[:, 0], inferred[:, 1])  # no dropout at inference


def test_max_norm_bounds_each_students_units():
    members = [models.hinton_teacher(SHAPE, 3, hidden=(6, 6)) for _ in range(2)]
    stack = StackedMLP(members)
    kernel = stack.kernels[0]
    big = np.full(kernel.shape, 10.0, "float32")
    kernel.assign(kernel.constraint(big))
    norms = np.linalg.norm(np.asarray(kernel), axis=1)  # per student, per unit
    np.testing.assert_allclose(norms, 3.5, rtol=1e-5)


def test_only_sequential_mlps_stack():
    assert is_stackable(students(1)[0])
    assert is_stackable(registry.build("hinton_teacher", SHAPE, 3))
    with pytest.raises(ValueError, match="has a layer Conv2D: only Sequential MLPs"):
        mlp_plan(models.mnist_cnn((28, 28, 1), 10))
    with pytest.raises(ValueError, match="share one architecture"):
        StackedMLP([students(1)[0], models.mlp((7, 5), SHAPE, 3)])


def test_pixel_codes_decode_inside_the_stack_to_the_very_floats():
    from kd_lab.stack_runs import pixel_codes

    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, size=(7, 3, *SHAPE)).astype("float32") / np.float32(255))
    codes, values = pixel_codes(x)
    assert codes.dtype == np.uint8 and np.array_equal(values[codes], x)
    members = students()
    plain, coded = StackedMLP(members), StackedMLP(members, input_values=values)
    np.testing.assert_array_equal(np.asarray(coded(codes)), np.asarray(plain(x)))
    assert pixel_codes(x + np.float32(1e-3)) == (None, None)  # not k / 255: no codes
    assert pixel_codes(x / 2)[0] is None  # k / 510
