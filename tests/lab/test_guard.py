"""Announcing training, and read-only mode: a run without a record refuses to train."""

import os

import pytest
from helpers import DIGITS_DISTILLED, DIGITS_TEACHER

from kd_lab import guard, runner


def test_training_is_announced_before_it_starts(tmp_path, capsys):
    runner.run(DIGITS_TEACHER, results_dir=tmp_path, verbose=0)
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"training {DIGITS_TEACHER.run_id}: 3 epochs on ")


def test_read_only_mode_refuses_to_train_but_reads_finished_records(tmp_path, monkeypatch):
    runner.run(DIGITS_TEACHER, results_dir=tmp_path, verbose=0)
    monkeypatch.setenv(guard.READ_ONLY_ENV, "1")
    assert not runner.run(DIGITS_TEACHER, results_dir=tmp_path, verbose=0).trained
    with pytest.raises(guard.TrainingRefused, match=f"{DIGITS_DISTILLED.run_id} refused: "
                       "KD_READ_ONLY=1"):
        runner.run(DIGITS_DISTILLED, results_dir=tmp_path, verbose=0)
    assert not (tmp_path / "runs" / DIGITS_DISTILLED.run_id / "row.json").exists()
    # a record without its model is never retrained behind its back, read-only or not
    (tmp_path / "runs" / DIGITS_TEACHER.run_id / "model.keras").unlink()
    with pytest.raises(runner.ModelNotHere):
        runner.get_or_train_model(DIGITS_TEACHER, results_dir=tmp_path, verbose=0)


def test_the_read_only_block_restores_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(guard.READ_ONLY_ENV, raising=False)
    with guard.read_only():
        assert not guard.training_allowed()
        with pytest.raises(guard.TrainingRefused):
            runner.run(DIGITS_TEACHER, results_dir=tmp_path, verbose=0)
    assert guard.training_allowed() and guard.READ_ONLY_ENV not in os.environ
    monkeypatch.setenv(guard.READ_ONLY_ENV, "0")
    with guard.read_only():
        pass
    assert os.environ[guard.READ_ONLY_ENV] == "0"


def test_a_stack_or_group_is_announced_with_the_time_of_all_its_runs(monkeypatch, capsys):
    # A member's recorded wall time is its share of its stack's: the stack takes `runs` shares.
    monkeypatch.setattr(guard.records, "estimated_minutes", lambda config, examples: (2.0, 9))
    guard.announce_training(DIGITS_DISTILLED, 1000, "training a stack of 21 like", runs=21)
    guard.announce_training(DIGITS_DISTILLED, 1000)
    stack, alone = capsys.readouterr().out.splitlines()
    assert "about 42.0 min if all epochs run (scaled from 9 earlier runs here)" in stack
    assert "about 2.0 min if all epochs run" in alone
