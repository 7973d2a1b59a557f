"""What a run starts from: the teacher logits kept with a teacher's record, which students of
a later session, on another machine, read instead of its model; and a finished run whose model
is not here, which raises ModelNotHere instead of being retrained behind its record's back."""

import shutil

import numpy as np
import pytest
from helpers import DIGITS_DISTILLED, DIGITS_TEACHER

from kd_lab import datasets, runner, teacher_logits

TEACHER = DIGITS_TEACHER


def test_a_record_without_its_model_raises_and_is_kept_as_it_was(tmp_path):
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    folder = tmp_path / "runs" / TEACHER.run_id
    (folder / "model.keras").unlink()  # models are not committed
    before = {name: (folder / name).read_bytes() for name in ("row.json", "history.csv")}
    with pytest.raises(runner.ModelNotHere,
                       match=rf"{TEACHER.run_id} is finished, but its model is not in .*"
                             r"run\(config, force=True\)"):
        runner.get_or_train_model(TEACHER, results_dir=tmp_path, verbose=0)
    # Nothing trained: the record is the one committed, byte for byte, and still has no model.
    assert {name: (folder / name).read_bytes() for name in before} == before
    assert not (folder / "model.keras").exists()
    # Retraining on purpose gives the model back (and this machine's record).
    runner.run(TEACHER, results_dir=tmp_path, force=True, verbose=0)
    assert runner.get_or_train_model(TEACHER, results_dir=tmp_path, verbose=0).count_params()


def test_a_teachers_logits_kept_with_its_record_serve_students_without_its_model(tmp_path,
                                                                                monkeypatch):
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    first = runner.run(DIGITS_DISTILLED, results_dir=tmp_path, verbose=0)
    folder = tmp_path / "runs" / TEACHER.run_id
    kept = sorted(folder.glob("logits-*.npz"))
    assert len(kept) == 1  # one file per set of inputs, written when a student used them
    with np.load(kept[0]) as stored:  # committed: half size where it trains, exact where tested
        assert [stored[k].dtype for k in ("train", "val", "test")] == ["float16", "float16",
                                                                       "float32"]

    # A later session on another machine: no model, no cache, and retraining is forbidden.
    (folder / "model.keras").unlink()
    shutil.rmtree(tmp_path / "cache")
    teacher_logits.clear_caches()
    monkeypatch.setattr(runner, "get_or_train_model",
                        lambda *a, **k: pytest.fail("the teacher was needed"))
    again = runner.run(DIGITS_DISTILLED, results_dir=tmp_path, force=True, verbose=0)
    assert again.row["test_errors"] == first.row["test_errors"]
    assert again.row["test_teacher_agreement"] == first.row["test_teacher_agreement"]

    # Logits that do not give the record's test errors are refused, with what to do.
    splits = datasets.splits_for(DIGITS_DISTILLED)
    with np.load(kept[0]) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["test"] = -arrays["test"]
    np.savez_compressed(kept[0], **arrays)
    with pytest.raises(ValueError, match=r"logits-.*npz: it gives \d+ test errors where its record .* measured \d+"):
        teacher_logits.recorded_logits(TEACHER, splits, tmp_path)

    # Other inputs (a restricted transfer set) have no kept logits yet.
    restricted = datasets.splits_for(DIGITS_DISTILLED.replace(transfer_classes=(0, 1)))
    assert teacher_logits.recorded_logits(TEACHER, restricted, tmp_path) is None


def test_teacher_logits_are_kept_for_every_input_set_of_the_students_to_come(tmp_path):
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    # the full splits' logits, which serve every student on part of them (the next test)
    students = [DIGITS_DISTILLED.replace(train_limit=300), DIGITS_DISTILLED,
                DIGITS_DISTILLED.replace(temperature=8.0), TEACHER]
    assert runner.keep_teacher_logits(students, tmp_path) == 1
    (kept,) = (tmp_path / "runs" / TEACHER.run_id).glob("logits-*.npz")
    assert kept == teacher_logits.recorded_logits_path(TEACHER, datasets.splits_for(
        DIGITS_DISTILLED), tmp_path)
    assert runner.keep_teacher_logits(students, tmp_path) == 0  # kept already
    (tmp_path / "runs" / TEACHER.run_id / "model.keras").unlink()
    restricted = [DIGITS_DISTILLED.replace(transfer_classes=(0, 1))]
    assert runner.keep_teacher_logits(restricted, tmp_path) == 0  # no model here: nothing


def test_a_student_on_part_of_the_data_reads_rows_of_the_full_splits_kept_logits(tmp_path,
                                                                                 monkeypatch):
    # The teacher's logits are kept for the full splits only; students on the first 300
    # training images, or on two classes, are cut their rows, with no model and no file of
    # their own, and the rows are the model's logits on their images (to the float16 kept).
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    runner.run(DIGITS_DISTILLED, results_dir=tmp_path, verbose=0)  # keeps the full splits'
    model = runner.get_or_train_model(TEACHER, results_dir=tmp_path, verbose=0)
    parts = [DIGITS_DISTILLED.replace(train_limit=300),
             DIGITS_DISTILLED.replace(transfer_classes=(0, 1)),
             DIGITS_DISTILLED.replace(train_limit=300, transfer_classes=(3,))]
    for part in parts:
        splits = datasets.splits_for(part)
        cut = runner.kept_logits(TEACHER, part, splits, tmp_path)
        assert [len(a) for a in cut] == [len(splits.x_train), len(splits.x_val),
                                        len(splits.x_test)]
        direct = model.predict(splits.x_train, verbose=0)
        np.testing.assert_allclose(cut[0], direct, atol=0.02 * np.abs(direct).max())
    folder = tmp_path / "runs" / TEACHER.run_id
    assert len(list(folder.glob("logits-*.npz"))) == 1
    assert runner.keep_teacher_logits(parts, tmp_path) == 0  # nothing new to keep
    (folder / "model.keras").unlink()
    shutil.rmtree(tmp_path / "cache")
    teacher_logits.clear_caches()
    monkeypatch.setattr(runner, "get_or_train_model",
                        lambda *a, **k: pytest.fail("the teacher was needed"))
    for part in parts:
        assert runner.run(part, results_dir=tmp_path, verbose=0).row["test_errors"] >= 0
    assert len(list(folder.glob("logits-*.npz"))) == 1
