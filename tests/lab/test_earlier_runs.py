"""What a run needs from earlier runs: a model retrained when its record has none (and refused
when it differs from that record), and the teacher logits kept with a record, which students of
a later session, on another machine, read instead of the model."""

import json
import shutil

import numpy as np
import pytest
from helpers import DIGITS_DISTILLED, DIGITS_TEACHER

from kd_lab import datasets, records, runner, teacher_logits

TEACHER = DIGITS_TEACHER


def test_a_teacher_record_without_its_model_is_retrained(tmp_path):
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    folder = tmp_path / "runs" / TEACHER.run_id
    (folder / "model.keras").unlink()  # models are not committed
    before = {name: (folder / name).read_bytes() for name in ("row.json", "history.csv")}
    model = runner.get_or_train_model(TEACHER, results_dir=tmp_path, verbose=0)
    assert model.count_params() > 0 and (folder / "model.keras").exists()
    # The record is the one committed, byte for byte (its times and commit included).
    assert {name: (folder / name).read_bytes() for name in before} == before


def test_a_model_that_retrains_differently_keeps_its_record_and_says_what_to_do(tmp_path):
    # Another machine trained this record: its numbers are not what this one retrains.
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    folder = tmp_path / "runs" / TEACHER.run_id
    (folder / "model.keras").unlink()
    row = json.loads((folder / "row.json").read_text())
    row["test_errors"] += 1
    row["test_accuracy"] = 1 - row["test_errors"] / row["test_count"]
    (folder / "row.json").write_text(json.dumps(row, indent=2) + "\n")
    history = (folder / "history.csv").read_text()
    records.write_summary(tmp_path)
    with pytest.raises(runner.Irreproducible, match="the record is kept.*replicate=1"):
        runner.get_or_train_model(TEACHER, results_dir=tmp_path, verbose=0)
    assert json.loads((folder / "row.json").read_text()) == row
    assert (folder / "history.csv").read_text() == history
    assert records.read_summary(tmp_path)["test_errors"].tolist() == [row["test_errors"]]
    assert not (folder / "model.keras").exists()


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
    monkeypatch.setattr("kd_lab.earlier_runs.get_or_train_model",
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
    from kd_lab import earlier_runs

    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    students = [DIGITS_DISTILLED, DIGITS_DISTILLED.replace(temperature=8.0),  # same inputs
                DIGITS_DISTILLED.replace(train_limit=300), TEACHER]
    assert earlier_runs.keep_teacher_logits(students, tmp_path) == 2
    assert len(list((tmp_path / "runs" / TEACHER.run_id).glob("logits-*.npz"))) == 2
    assert earlier_runs.keep_teacher_logits(students, tmp_path) == 0  # kept already
    (tmp_path / "runs" / TEACHER.run_id / "model.keras").unlink()
    restricted = [DIGITS_DISTILLED.replace(transfer_classes=(0, 1))]
    assert earlier_runs.keep_teacher_logits(restricted, tmp_path) == 0  # no model here: nothing
