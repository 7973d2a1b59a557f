"""The teacher-logit cache: on disk, read back without the teacher, missed by a changed one."""

import numpy as np
import pytest
from helpers import DIGITS_TEACHER

from kd_lab import datasets, runner, teacher_logits

TEACHER = DIGITS_TEACHER


def test_teacher_logits_are_cached_on_disk_and_a_changed_teacher_misses(tmp_path, monkeypatch):
    teacher = runner.get_or_train_model(TEACHER, results_dir=tmp_path, verbose=0)
    splits = datasets.splits_for(TEACHER)
    first = teacher_logits.teacher_logits_for(TEACHER, teacher, splits, tmp_path)
    path = teacher_logits.teacher_logits_path(TEACHER, teacher, splits, tmp_path)
    assert path.exists() and [a.shape[0] for a in first] == [
        len(splits.x_train), len(splits.x_val), len(splits.x_test)]

    # A new process (empty memory cache) reads the file instead of running the teacher.
    teacher_logits.clear_caches()
    monkeypatch.setattr(teacher_logits, "compute_teacher_logits",
                        lambda *a, **k: pytest.fail("the teacher ran although its logits were cached"))
    for cached, fresh in zip(teacher_logits.teacher_logits_for(TEACHER, teacher, splits, tmp_path), first,
                             strict=True):
        np.testing.assert_array_equal(cached, fresh)

    # Change the teacher's last biases alike: the same argmax, so the same test errors, but
    # other logits. Another file, and logits computed anew...
    monkeypatch.undo()
    weights = teacher.get_weights()
    weights[-1] = weights[-1] + 1.0
    teacher.set_weights(weights)
    changed_path = teacher_logits.teacher_logits_path(TEACHER, teacher, splits, tmp_path)
    assert changed_path != path
    elsewhere = tmp_path / "no_record_here"
    changed = teacher_logits.teacher_logits_for(TEACHER, teacher, splits, elsewhere)
    np.testing.assert_allclose(changed[2], first[2] + 1.0, rtol=1e-5, atol=1e-5)
    # ...and where the teacher's record keeps its logits, this model is refused as not the one
    # the record measured, though its test errors are the record's.
    from kd_lab.records import DamagedRecord

    with pytest.raises(DamagedRecord, match=r"model.keras: its test logits differ by up to 1 "
                                            r"from those kept with its record"):
        teacher_logits.teacher_logits_for(TEACHER, teacher, splits, tmp_path)


def test_logits_of_the_wrong_length_and_a_replaced_model_are_named(tmp_path):
    from kd_lab.records import DamagedRecord

    teacher = runner.get_or_train_model(TEACHER, results_dir=tmp_path, verbose=0)
    splits = datasets.splits_for(TEACHER)
    path = teacher_logits.teacher_logits_path(TEACHER, teacher, splits, tmp_path)
    teacher_logits.teacher_logits_for(TEACHER, teacher, splits, tmp_path)
    train, val, test = teacher_logits.read_logits(path)
    np.savez(path, train=train[:-3], val=val, test=test)
    teacher_logits.clear_caches()
    with pytest.raises(DamagedRecord, match=r"rows of teacher logits .* for \(\d+, \d+, \d+\)"):
        teacher_logits.teacher_logits_for(TEACHER, teacher, splits, tmp_path)

    # Another model in the teacher's place gives other test errors than its record measured.
    path.unlink()
    teacher_logits.clear_caches()
    weights = teacher.get_weights()
    teacher.set_weights([np.random.default_rng(0).normal(size=w.shape).astype(w.dtype)
                         for w in weights])
    with pytest.raises(DamagedRecord, match=r"model.keras: it gives \d+ test errors where its "
                                            r"record .* measured \d+"):
        teacher_logits.teacher_logits_for(TEACHER, teacher, splits, tmp_path)
    teacher.set_weights(weights)


# -- the controls' soft targets ---------------------------------------------------------------
def _logits_and_labels(rows=60, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, classes)).astype("float32") * 3, rng.integers(0, classes, rows)


def test_class_mean_targets_keep_each_classs_mean_distribution_and_nothing_per_example():
    from kd_utils import losses

    train, y_train = _logits_and_labels()
    val, y_val = _logits_and_labels(20, seed=1)
    test = np.zeros((5, 4), "float32")
    got_train, got_val, got_test = teacher_logits.control_targets(
        (train, val, test), y_train, y_val, "class_mean", 4.0, seed=0)
    for label in range(4):
        expected = losses.softmax(train[y_train == label], 4.0).mean(axis=0)
        rows = losses.softmax(got_train[y_train == label], 4.0)
        np.testing.assert_allclose(rows, np.broadcast_to(expected, rows.shape), atol=1e-6)
        np.testing.assert_allclose(losses.softmax(got_val[y_val == label], 4.0)[0], expected,
                                   atol=1e-6)
    assert got_test is test  # agreement is measured against the teacher itself


def test_shuffled_targets_are_the_teachers_rows_given_to_other_examples():
    train, y_train = _logits_and_labels()
    val, y_val = _logits_and_labels(20, seed=1)
    got_train, got_val, _ = teacher_logits.control_targets(
        (train, val, val), y_train, y_val, "shuffled", 4.0, seed=3)
    assert sorted(map(tuple, got_train)) == sorted(map(tuple, train))
    assert (got_train != train).any(axis=1).mean() > 0.9
    again = teacher_logits.control_targets((train, val, val), y_train, y_val, "shuffled", 4.0, 3)
    np.testing.assert_array_equal(again[0], got_train)  # one permutation per seed
