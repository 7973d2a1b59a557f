"""Several processes on one results folder: each run is claimed by one process at a time."""

import os
import socket
import subprocess
import sys

from kd_lab import run_claims


def _claim_file(tmp_path, run_id, holder):
    (tmp_path / ".claims").mkdir(exist_ok=True)
    (tmp_path / ".claims" / run_id).write_text(holder)


def test_a_claim_is_this_processs_until_released(tmp_path):
    assert run_claims.claim("run-a", tmp_path)
    assert (tmp_path / ".claims" / "run-a").read_text() == f"{socket.gethostname()} {os.getpid()}"
    assert run_claims.claim("run-a", tmp_path)  # already ours
    assert not run_claims.held_elsewhere("run-a", tmp_path)
    assert [p.name for p in (tmp_path / ".claims").iterdir()] == ["run-a"]  # no draft left
    run_claims.release("run-a", tmp_path)
    assert not (tmp_path / ".claims" / "run-a").exists()


def test_a_living_process_s_claim_is_passed_by_and_never_released_by_another(tmp_path):
    _claim_file(tmp_path, "run-a", f"{socket.gethostname()} {os.getppid()}")  # alive
    _claim_file(tmp_path, "run-b", "another-host 1")  # cannot be checked from here: kept
    for run_id in ("run-a", "run-b"):
        assert not run_claims.claim(run_id, tmp_path)
        assert run_claims.held_elsewhere(run_id, tmp_path)
        run_claims.release(run_id, tmp_path)
        assert (tmp_path / ".claims" / run_id).exists()


def test_the_claim_of_a_process_that_died_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    _claim_file(tmp_path, "run-a", f"{socket.gethostname()} {dead}")
    _claim_file(tmp_path, "run-b", "")  # a claim file cut short: no process named
    for run_id in ("run-a", "run-b"):
        assert not run_claims.held_elsewhere(run_id, tmp_path)
        assert run_claims.claim(run_id, tmp_path)
        assert (tmp_path / ".claims" / run_id).read_text().endswith(f" {os.getpid()}")
