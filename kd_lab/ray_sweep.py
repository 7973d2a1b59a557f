"""Run a sweep's trials on a Ray cluster with Ray Tune: one trial per (T, alpha, seed) run.

An optional backend of `sweep.sweep(..., backend="ray")`; it needs `pip install -r
requirements-ray.txt`. Each trial calls the same `runner.run` as the local backend, so it writes
the same run record and `summary.csv` row. Resuming is by records, as locally: only runs
without a `row.json` become trials, so an interrupted experiment started again redoes no
finished trial. Teachers are trained (or read back) here first, so trials never race to train
one. On a cluster, `results_dir` (and the data) must be on a disk every node sees, and the
nodes need this package (Ray's `runtime_env`, or the same install everywhere).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from . import records, runner
from .config import RunConfig


def _trial(params: dict) -> None:
    from ray import tune

    config = RunConfig.from_dict(params["config"])
    record = runner.run(config, results_dir=params["results_dir"], data_dir=params["data_dir"],
                        verbose=0)
    tune.report({"val_accuracy": record.row["val_accuracy"],
                 "test_accuracy": record.row["test_accuracy"],
                 "test_errors": record.row["test_errors"], "run_id": config.run_id})


def run_configs(configs, results_dir=records.RESULTS_DIR, data_dir=None, address: str | None = None,
                cpus_per_trial: float = 1, gpus_per_trial: float = 0,
                experiment_name: str = "kd_sweep", verbose: int = 1) -> pd.DataFrame:
    """Train every unfinished config as a Ray Tune trial; return all configs' summary rows.

    Args:
        address: a running Ray cluster ("ray://host:10001", "auto"); None starts a local Ray
            on this machine (or joins one `ray.init` already started in this process).
        cpus_per_trial, gpus_per_trial: Ray's resources for each trial; Ray runs as many
            trials at once as the cluster's resources allow.
        verbose: Ray Tune's progress output (0 silent, 1 a table now and then).
    """
    import ray
    from ray import tune

    results_dir = Path(results_dir).resolve()
    data_dir = str(Path(data_dir).resolve()) if data_dir else os.environ.get("KD_DATA_DIR")
    configs = list(configs)
    for teacher in dict.fromkeys(c.teacher for c in configs if c.teacher is not None):
        runner.get_or_train_model(teacher, results_dir, data_dir, verbose=0)
    todo = [c for c in configs if not records.is_finished(c, results_dir)]
    if todo:
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"KD_DATA_DIR": data_dir or "",
                                               "TF_CPP_MIN_LOG_LEVEL": "2"}})
        trainable = tune.with_resources(_trial, {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
        tuner = tune.Tuner(
            trainable,
            param_space={"config": tune.grid_search([c.to_dict() for c in todo]),
                         "results_dir": str(results_dir), "data_dir": data_dir},
            run_config=tune.RunConfig(name=experiment_name,
                                      storage_path=str(results_dir / "ray"), verbose=verbose),
        )
        results = tuner.fit()
        failed = [r for r in results if r.error is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(todo)} Ray trials failed; the first: "
                               f"{failed[0].error}")
    records.write_summary(results_dir)
    return pd.DataFrame([records.load_row(c, results_dir) for c in configs])
