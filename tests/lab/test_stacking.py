"""StackedDistiller: each stacked student learns as its own Distiller would, with its own T,
alpha and history; what it cannot do is refused with what to do instead.

Tolerances: a stack sums in another order than one student's matmul (einsum over [K, in, out]
against a [in, out] kernel), so float32 results differ in the last bits (about 1e-7 per step
here) and drift with training; over these few epochs weights stay within 1e-5.
"""

import keras
import numpy as np
import pytest
from helpers import NUM_CLASSES, tiny_mlp, weights_of

from kd_lab.stacking import StackedDistiller
from kd_utils import Distiller, pipeline

CELLS = [(4.0, 0.5), (20.0, 1.0)]  # (T, alpha); alpha = 1 is labels only


def cached(x):
    return np.random.default_rng(1).normal(size=(len(x), NUM_CLASSES)).astype("float32") * 3


def test_each_stacked_student_learns_as_its_own_distiller(toy_data):
    # With XLA, as runs train (the run-level test in test_stack_runs trains without).
    x, y = toy_data
    inputs = pipeline.with_teacher_logits(x, cached(x))
    settings = dict(jit_compile=True, steps_per_execution=4)
    fit = dict(batch_size=16, epochs=3, verbose=0, shuffle=False,
               validation_data=(pipeline.with_teacher_logits(x[:32], cached(x)[:32]), y[:32]))
    alone = []
    for seed, (temperature, alpha) in enumerate(CELLS):
        student = tiny_mlp(seed=seed)
        distiller = Distiller(student=student, temperature=temperature, alpha=alpha)
        distiller.compile(keras.optimizers.Adam(0.01), **settings)
        alone.append((student, distiller.fit(inputs, y, **fit).history))
    stack = StackedDistiller([tiny_mlp(seed=seed) for seed in range(len(CELLS))],
                             [t for t, _ in CELLS], [a for _, a in CELLS])
    stack.compile(keras.optimizers.Adam(0.01), **settings)
    history = stack.fit(inputs, y, **fit).history
    for k, (student, own_history) in enumerate(alone):
        split = {key[len(f"s{k}_"):] if key.startswith(f"s{k}_") else "val_" + key[len(
            f"val_s{k}_"):]: values for key, values in history.items()
            if key.startswith((f"s{k}_", f"val_s{k}_"))}
        assert sorted(split) == sorted(own_history)  # alpha = 1: no soft terms, as alone
        for key, values in own_history.items():
            np.testing.assert_allclose(split[key], values, rtol=1e-5, atol=1e-6, err_msg=key)
        for mine, theirs in zip(stack.member_weights(k), weights_of(student), strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-5)
    moved = np.abs(stack.member_weights(0)[0] - tiny_mlp(seed=0).get_weights()[0]).max()
    assert moved > 1e-2  # they learned, so equal weights mean equal updates


def test_a_stack_of_one_is_a_distiller(toy_data):
    x, y = toy_data
    inputs = pipeline.with_teacher_logits(x, cached(x))
    student = tiny_mlp(seed=4)
    distiller = Distiller(student=student, temperature=4.0, alpha=0.3)
    distiller.compile(keras.optimizers.Adam(0.01))
    distiller.fit(inputs, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    stack = StackedDistiller([tiny_mlp(seed=4)], [4.0], [0.3])
    stack.compile(keras.optimizers.Adam(0.01))
    stack.fit(inputs, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    for mine, theirs in zip(stack.member_weights(0), weights_of(student), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)
    assert np.asarray(stack.predict(x, verbose=0)).shape == (len(x), 1, NUM_CLASSES)


def test_students_from_scratch_need_no_teacher(toy_data):
    x, y = toy_data
    stack = StackedDistiller([tiny_mlp(seed=s) for s in (0, 1)], [1.0, 1.0], [1.0, 1.0],
                             soft_targets=False)
    stack.compile(keras.optimizers.Adam(0.01))
    history = stack.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert "s1_accuracy" in history and not any("teacher" in key for key in history)


def test_what_a_stack_cannot_do_is_refused_with_what_to_do(toy_data, tmp_path):
    x, y = toy_data
    stack = StackedDistiller([tiny_mlp(seed=0)], [2.0], [0.5])
    with pytest.raises(ValueError, match="takes no loss"):
        stack.compile("adam", loss="mse")
    stack.compile("adam")
    with pytest.raises(ValueError, match="no cached teacher_logits"):
        stack.fit(x, y, epochs=1, verbose=0)
    inputs = pipeline.with_teacher_logits(x, cached(x))
    with pytest.raises(ValueError, match="without sample or class weights: train weighted runs"):
        stack.fit(inputs, y, sample_weight=np.ones(len(y)), epochs=1, verbose=0)
    with pytest.raises(NotImplementedError, match="save the student"):
        stack.save(tmp_path / "stack.keras")
    with pytest.raises(ValueError, match="one temperature, alpha and run name per student"):
        StackedDistiller([tiny_mlp(seed=0)], [2.0, 4.0], [0.5])
    with pytest.raises(ValueError,
                       match=r"alpha must be a number in \[0, 1\]: the weight of the hard-label"):
        StackedDistiller([tiny_mlp(seed=0)], [2.0], [1.5])
