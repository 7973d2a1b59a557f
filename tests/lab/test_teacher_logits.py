"""The teacher-logit cache: on disk, read back without the teacher, missed by a changed one."""

import numpy as np
import pytest
from helpers import DIGITS_TEACHER

from kd_lab import runner, teacher_logits
from kd_utils import data

TEACHER = DIGITS_TEACHER


def test_teacher_logits_are_cached_on_disk_and_a_changed_teacher_misses(tmp_path, monkeypatch):
    teacher = runner.get_or_train_model(TEACHER, results_dir=tmp_path, verbose=0)
    splits = data.splits_for(TEACHER)
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

    # Change one weight of the teacher: another file, and logits computed anew.
    monkeypatch.undo()
    weights = teacher.get_weights()
    weights[-1] = weights[-1] + 1.0
    teacher.set_weights(weights)
    changed_path = teacher_logits.teacher_logits_path(TEACHER, teacher, splits, tmp_path)
    assert changed_path != path
    changed = teacher_logits.teacher_logits_for(TEACHER, teacher, splits, tmp_path)
    assert changed_path.exists()
    np.testing.assert_allclose(changed[2], first[2] + 1.0, rtol=1e-5, atol=1e-5)
