"""GroupDistiller: each student learns as it would alone, one teacher pass, per-student stops."""

import keras
import numpy as np
import pytest
from helpers import same_weights, tiny_mlp, weights_of

from kd_lab.group import GroupDistiller, GroupEarlyStopping
from kd_utils import Distiller


# -- several students on one teacher pass ------------------------------------------------------
class CountingTeacher(keras.Model):
    """A tiny teacher that counts the training batches it sees (run eagerly to count)."""

    def __init__(self, batch_size):
        super().__init__()
        self.inner = tiny_mlp(32, seed=9)
        self.batch_size, self.calls = batch_size, 0

    def call(self, x, training=None):
        if x.shape[0] == self.batch_size:
            self.calls += 1
        return self.inner(x, training=training)


# Under XLA in the full suite only: the stacked students' XLA test covers the everyday run.
@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_group_trains_each_student_as_it_would_alone(toy_data, jit_compile):
    x, y = toy_data
    teacher = tiny_mlp(32, seed=9)
    temperatures, alphas = [1.0, 4.0, 20.0], [0.0, 0.5, 1.0]
    settings = dict(jit_compile=jit_compile, steps_per_execution=4)
    fit = dict(batch_size=16, epochs=3, verbose=0, shuffle=False, validation_data=(x[:32], y[:32]))
    alone = []
    for temperature, alpha in zip(temperatures, alphas, strict=True):
        student = tiny_mlp(seed=1)
        distiller = Distiller(student, teacher, temperature, alpha)
        distiller.compile(keras.optimizers.Adam(0.01), **settings)
        alone.append((student, distiller.fit(x, y, **fit).history))
    students = [tiny_mlp(seed=1) for _ in temperatures]
    group = GroupDistiller(students, teacher, temperatures, alphas)
    group.compile(keras.optimizers.Adam(0.01), **settings)
    history = group.fit(x, y, **fit).history
    assert len(history["loss"]) == 3
    for (student, own_history), grouped, split in zip(alone, students,
                                                      group.split_history(history), strict=True):
        assert sorted(split) == sorted(own_history)
        for key, values in own_history.items():
            np.testing.assert_allclose(split[key], values, rtol=1e-5, atol=1e-6, err_msg=key)
        assert same_weights(weights_of(grouped), weights_of(student), atol=1e-5)
    assert not same_weights(weights_of(students[0]), weights_of(students[1]))


def test_a_group_runs_the_teacher_once_per_batch(toy_data):
    x, y = toy_data
    teacher = CountingTeacher(batch_size=16)
    teacher(x[:16])  # build
    group = GroupDistiller([tiny_mlp(seed=s) for s in range(4)], teacher, [2.0, 4.0, 8.0, 16.0],
                           alphas=0.1)
    group.compile("adam", run_eagerly=True)
    teacher.calls = 0
    group.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert teacher.calls == len(x) // 16  # 6 batches: once each, not once per student


def test_group_early_stopping_keeps_each_students_best_epoch():
    class FakeGroup:
        students = [tiny_mlp(seed=0), tiny_mlp(seed=1)]
        stop_training = False

    group = FakeGroup()
    stopper = GroupEarlyStopping(patience=2)
    stopper.set_model(group)
    stopper.on_train_begin()
    seen = []  # each student's weights at each epoch end
    # Student 0 improves every epoch; student 1 peaks in epoch 2 and then gets worse.
    for epoch, second in enumerate([0.5, 0.7, 0.6, 0.6, 0.6]):
        seen.append([weights_of(student) for student in group.students])
        stopper.on_epoch_end(epoch, {"val_s0_accuracy": 0.1 * (epoch + 1),
                                     "val_s1_accuracy": second})
        for student in group.students:  # the weights move on every epoch
            student.set_weights([w + 1.0 for w in student.get_weights()])
    assert stopper.stopped_after == [None, 4]  # 2 epochs without improving after epoch 2
    assert not group.stop_training  # student 0 still improves
    stopper.on_train_end()
    assert same_weights(weights_of(group.students[1]), seen[1][1])
    assert same_weights(weights_of(group.students[0]), seen[4][0])


def test_group_rejects_bad_arguments_by_name(teacher, student):
    with pytest.raises(ValueError, match="temperatures has 2 values for 3 students"):
        GroupDistiller([tiny_mlp(seed=s) for s in range(3)], teacher, [1.0, 2.0])
    with pytest.raises(ValueError, match="distinct model objects"):
        GroupDistiller([student, student], teacher)
    with pytest.raises(ValueError, match="alpha"):
        GroupDistiller([student], teacher, alphas=[1.5])
    with pytest.raises(ValueError, match="outputs probabilities"):
        GroupDistiller([student], tiny_mlp(softmax=True))
    group = GroupDistiller([student], teacher)
    with pytest.raises(ValueError, match="no loss or metrics"):
        group.compile("adam", loss="mse")
