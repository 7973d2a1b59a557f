"""Child processes of test_distribute.py: tf.distribute needs a fresh TensorFlow per setup.

    python tests/lab/distributed_worker.py mirrored RESULTS_DIR   # 1 device, then 2 logical CPUs
    python tests/lab/distributed_worker.py worker RESULTS_DIR     # one MultiWorkerMirrored worker

Prints one JSON line: what the test compares.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kd_lab import runner  # noqa: E402
from kd_lab.config import RunConfig  # noqa: E402

EXECUTION = json.loads(os.environ.get("KD_EXECUTION", "{}"))
TEACHER = dict(dataset="digits", role="teacher", architecture="mlp:32", epochs=2,
               learning_rate=0.01, patience=0, val_size=200, profile="fast", seed=0)


def configs():

    teacher = RunConfig(**TEACHER)
    student = RunConfig(**{**TEACHER, "role": "distilled", "architecture": "mlp:16",
                           "teacher": teacher, "temperature": 4.0, "alpha": 0.3,
                           "batch_size": 64, **EXECUTION})
    return teacher, student


def weights_summary(model) -> dict:
    weights = model.get_weights()
    return {"weights": [w.tolist() for w in weights],
            "checksum": float(sum(np.abs(w).sum() for w in weights))}


def mirrored(results_dir: Path) -> dict:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    teacher, student = configs()
    runner.run(teacher, results_dir=results_dir / "teacher", verbose=0)
    one = runner.run(student, results_dir=results_dir / "teacher", verbose=0)
    # The same teacher record, read back, for the two-replica run.
    two_dir = results_dir / "two"
    (two_dir / "runs").mkdir(parents=True)
    (two_dir / "runs" / teacher.run_id).symlink_to(results_dir / "teacher" / "runs" /
                                                   teacher.run_id)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    two = runner.run(student, results_dir=two_dir, verbose=0, strategy=strategy)
    return {"one": weights_summary(one.model), "two": weights_summary(two.model),
            "replicas": [one.row["replicas"], two.row["replicas"]],
            "val_accuracy": [one.history["val_accuracy"].tolist(),
                             two.history["val_accuracy"].tolist()]}


def worker(results_dir: Path) -> dict:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG; before other ops

    _, student = configs()
    record = runner.run(student, results_dir=results_dir, verbose=0, strategy=strategy)
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    return {"task": task["index"], "replicas": record.row["replicas"],
            "test_errors": record.row["test_errors"], **weights_summary(record.model)}


if __name__ == "__main__":
    mode, results = sys.argv[1], Path(sys.argv[2])
    print(json.dumps({"mirrored": mirrored, "worker": worker}[mode](results)))
