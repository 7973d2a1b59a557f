"""The sweep's Ray Tune backend: the same records as the local backend, and resumable."""

import json
import os

import pandas as pd
import pytest
from helpers import DIGITS_DISTILLED as DISTILLED

from kd_lab import ray_sweep, records, runner, sweep

pytestmark = pytest.mark.slow  # child processes or a Ray cluster: make test-all

CONFIGS = [DISTILLED.replace(temperature=t, alpha=a, epochs=2)
           for t, a in [(1.0, 0.0), (4.0, 0.3), (8.0, 0.5), (1.0, 1.0)]]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray on 2 CPUs, loopback only, no dashboard; shut down after the module."""
    if os.environ.get("CI"):
        import ray  # in CI the Ray backend is installed (requirements-ray.txt): must not skip
    else:
        ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1", object_store_memory=200 * 2 ** 20,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}})
    yield ray
    ray.shutdown()


def test_a_ray_sweep_writes_the_records_of_a_local_sweep_and_resumes(tmp_path, local_ray):

    rows = ray_sweep.run_configs(CONFIGS, results_dir=tmp_path / "ray", verbose=0)
    local = [runner.run(c, results_dir=tmp_path / "local", verbose=0) for c in CONFIGS]
    assert rows["run_id"].tolist() == [c.run_id for c in CONFIGS]
    for config, record in zip(CONFIGS, local, strict=True):
        run_dir = tmp_path / "ray" / "runs" / config.run_id
        row = json.loads((run_dir / "row.json").read_text())
        assert list(row) == list(record.row)  # the same record, in form...
        assert list(pd.read_csv(run_dir / "history.csv").columns) == list(record.history.columns)
        # ...and in what was learned: the same config trains the same way in a Ray worker.
        assert row["test_errors"] == record.row["test_errors"]
    summary = records.read_summary(tmp_path / "ray")
    assert sorted(summary.loc[summary["role"] == "distilled", "run_id"]) == sorted(
        c.run_id for c in CONFIGS)

    # Resuming: a finished experiment submits no trial; a lost record is redone alone.
    lost = tmp_path / "ray" / "runs" / CONFIGS[1].run_id / "row.json"
    kept = {c.run_id: (tmp_path / "ray" / "runs" / c.run_id / "row.json").stat().st_mtime_ns
            for c in CONFIGS}
    lost.unlink()
    ray_sweep.run_configs(CONFIGS, results_dir=tmp_path / "ray", verbose=0)
    again = {c.run_id: (tmp_path / "ray" / "runs" / c.run_id / "row.json").stat().st_mtime_ns
             for c in CONFIGS}
    changed = [run_id for run_id in kept if again[run_id] != kept[run_id]]
    assert changed == [CONFIGS[1].run_id]
    assert len(records.read_summary(tmp_path / "ray")) == len(CONFIGS) + 1  # + the teacher


def test_the_sweep_rejects_an_unknown_backend_before_training(tmp_path):

    with pytest.raises(ValueError, match="backend must be one of local, ray"):
        sweep.sweep(DISTILLED, backend="slurm", results_dir=tmp_path)
    with pytest.raises(ValueError, match="stack_size applies to the local backend"):
        sweep.sweep(DISTILLED, backend="ray", stack_size=8, results_dir=tmp_path)
    assert not (tmp_path / "runs").exists()
