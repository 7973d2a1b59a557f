"""A run killed mid-training (SIGKILL, in a child process) continues from its last finished epoch
and ends exactly where an uninterrupted run ends."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import DIGITS_DISTILLED, DIGITS_TEACHER, REPO

from kd_lab import records, resume, runner

# Long enough for the kill to land mid-run, with an early stop and a best epoch before the end.
STUDENT = DIGITS_DISTILLED.replace(epochs=12, patience=4, jitter_pixels=0)
KILL_AFTER = 3  # epochs finished when the child kills itself

CHILD = """
import json, os, signal, sys
from kd_lab import resume, runner
from kd_lab.config import RunConfig

save = resume.RunCheckpoint.on_epoch_end

def save_then_die(self, epoch, logs=None):  # killed right after the checkpoint of an epoch
    save(self, epoch, logs)
    if epoch + 1 == {kill_after}:
        os.kill(os.getpid(), signal.SIGKILL)

resume.RunCheckpoint.on_epoch_end = save_then_die
configs = [RunConfig.from_dict(c) for c in json.loads(sys.argv[1])]
runner.run(configs[0], results_dir=sys.argv[2], verbose=0)
"""


def kill_after(configs, epochs_done, results_dir):
    child = CHILD.format(kill_after=epochs_done)
    done = subprocess.run([sys.executable, "-c", child, json.dumps([c.to_dict() for c in configs]),
                           str(results_dir)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == -9, done.stderr[-2000:]  # killed, not finished
    assert not any(records.is_finished(c, results_dir) for c in configs)


def assert_same_runs(resumed, whole):
    """The same data order and state: the same epochs, history and weights, bit for bit."""
    assert len(resumed.history) == len(whole.history)
    assert resumed.row["best_epoch"] == whole.row["best_epoch"]
    columns = [c for c in whole.history.columns if "seconds" not in c]
    pd.testing.assert_frame_equal(resumed.history[columns], whole.history[columns])
    for a, b in zip(resumed.load_model().get_weights(), whole.load_model().get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.row["test_errors"] == whole.row["test_errors"]


@pytest.mark.parametrize("config", [
    STUDENT, pytest.param(DIGITS_TEACHER.replace(epochs=8, patience=0, jitter_pixels=1),
                          marks=pytest.mark.slow)], ids=["distilled", "teacher-with-jitter"])
def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_run(config, tmp_path, capsys):
    if config.role == "distilled":  # the teacher's record first, in both folders
        runner.run(config.teacher, results_dir=tmp_path / "killed", verbose=0)
        runner.run(config.teacher, results_dir=tmp_path / "whole", verbose=0)
    kill_after([config], KILL_AFTER, tmp_path / "killed")
    folder = records.run_dir(config, tmp_path / "killed") / "checkpoint"
    state = resume.load_state(folder, config.run_id)
    assert state["epochs_done"] == KILL_AFTER and len(state["history"]["val_accuracy"]) == 3

    capsys.readouterr()
    resumed = runner.run(config, results_dir=tmp_path / "killed", verbose=0)
    assert f"resuming {config.run_id} after epoch {KILL_AFTER}" in capsys.readouterr().out
    assert not folder.exists()  # removed once the record is written
    assert_same_runs(resumed, runner.run(config, results_dir=tmp_path / "whole", verbose=0))


def test_a_checkpoint_of_another_run_or_a_half_written_one_is_ignored(tmp_path):
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / resume.STATE).write_text(json.dumps({"run_id": "another-run", "epochs_done": 2}))
    assert resume.load_state(folder, STUDENT.run_id) is None  # no arrays: incomplete
    (folder / resume.ARRAYS).write_bytes(b"")
    assert resume.load_state(folder, STUDENT.run_id) is None  # another run's
