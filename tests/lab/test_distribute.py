"""tf.distribute: a run on several replicas learns what it learns on one; workers agree.

Each setup needs a fresh TensorFlow (logical devices and TF_CONFIG are fixed at start-up), so
the training happens in child processes (`tests/lab/distributed_worker.py`).
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO

pytestmark = pytest.mark.slow  # child processes or a Ray cluster: make test-all

WORKER = REPO / "tests" / "lab" / "distributed_worker.py"

TIMEOUT_S = 300


def last_json_line(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def max_difference(a, b) -> float:
    return max(float(np.abs(np.array(x) - np.array(y)).max()) for x, y in zip(a, b, strict=True))


def test_two_replicas_learn_what_one_device_learns(tmp_path):
    done = subprocess.run([sys.executable, str(WORKER), "mirrored", str(tmp_path)],
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=os.environ)
    assert done.returncode == 0, done.stderr[-3000:]
    result = last_json_line(done.stdout)
    assert result["replicas"] == [1, 2]
    # Same global batch of 64, same batches: the same validation accuracy every epoch, and
    # weights within 0.01 after 2 epochs (40 steps). The gap is float rounding plus the last,
    # partial batch, whose two halves are averaged per replica. A wrong loss reduction (sum
    # over replicas) or other batches move the weights by 0.1-0.3 here.
    assert result["val_accuracy"][0] == result["val_accuracy"][1]
    assert max_difference(result["one"]["weights"], result["two"]["weights"]) < 1e-2


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_two_workers_on_localhost_distil_to_the_end_and_agree(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    try:
        for index in range(2):
            tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker",
                                                                  "index": index}}
            env = {**os.environ, "TF_CONFIG": json.dumps(tf_config)}
            processes.append(subprocess.Popen(
                [sys.executable, str(WORKER), "worker", str(tmp_path / f"worker{index}")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        outputs = [p.communicate(timeout=TIMEOUT_S) for p in processes]
    finally:
        for p in processes:  # never leave a worker behind, even on a timeout
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, stderr) in zip(processes, outputs, strict=True):
        assert p.returncode == 0, stderr[-3000:]
    results = sorted((last_json_line(out) for out, _ in outputs), key=lambda r: r["task"])
    assert [r["replicas"] for r in results] == [2, 2]
    # Mirrored training keeps both workers' weights in step: the same model on both.
    assert max_difference(results[0]["weights"], results[1]["weights"]) < 1e-6
    assert results[0]["test_errors"] == results[1]["test_errors"]
    for index in range(2):
        assert list((tmp_path / f"worker{index}" / "runs").glob("*/row.json"))
