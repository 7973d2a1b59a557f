"""The teacher-logit cache: on disk, read back without the teacher, missed by a changed one;
and the logits kept with a teacher's record, which students of a later session read."""

import shutil

import numpy as np
import pytest
from helpers import DIGITS_DISTILLED, DIGITS_TEACHER

from kd_utils import data, runner, teacher_logits

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


def test_a_teachers_logits_kept_with_its_record_serve_students_without_its_model(tmp_path,
                                                                                monkeypatch):
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    first = runner.run(DIGITS_DISTILLED, results_dir=tmp_path, verbose=0)
    folder = tmp_path / "runs" / TEACHER.run_id
    kept = sorted(folder.glob("logits-*.npz"))
    assert len(kept) == 1  # one file per set of inputs, written when a student used them

    # A later session on another machine: no model, no cache, and retraining is forbidden.
    (folder / "model.keras").unlink()
    shutil.rmtree(tmp_path / "cache")
    teacher_logits.clear_caches()
    monkeypatch.setattr(runner, "get_or_train_model",
                        lambda *a, **k: pytest.fail("the teacher was needed"))
    monkeypatch.setattr("kd_utils.earlier_runs.get_or_train_model",
                        lambda *a, **k: pytest.fail("the teacher was needed"))
    again = runner.run(DIGITS_DISTILLED, results_dir=tmp_path, force=True, verbose=0)
    assert again.row["test_errors"] == first.row["test_errors"]
    assert again.row["test_teacher_agreement"] == first.row["test_teacher_agreement"]

    # Logits that do not give the record's test errors are refused, with what to do.
    splits = data.splits_for(DIGITS_DISTILLED)
    with np.load(kept[0]) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["test"] = -arrays["test"]
    np.savez_compressed(kept[0], **arrays)
    with pytest.raises(ValueError, match="does not give its record's .* test errors: delete"):
        teacher_logits.recorded_logits(TEACHER, splits, tmp_path)

    # Other inputs (a restricted transfer set) have no kept logits yet.
    restricted = data.splits_for(DIGITS_DISTILLED.replace(transfer_classes=(0, 1)))
    assert teacher_logits.recorded_logits(TEACHER, restricted, tmp_path) is None
