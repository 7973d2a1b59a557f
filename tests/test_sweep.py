"""The T x alpha sweep: its grid, its table, and resuming after a kill without loss or duplicates."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kd_utils import plots, runs, sweep
from kd_utils.__main__ import main

REPO = Path(__file__).resolve().parent.parent


def test_grid_runs_alpha_one_once_per_seed():
    configs = sweep.sweep_configs(temperatures=(1, 4, 20), alphas=(0.0, 0.5, 1.0), seeds=(0, 1),
                                  profile="fast")
    assert len(configs) == 2 * (2 * 3 + 1)
    assert len({c.run_id for c in configs}) == len(configs)
    assert {c.temperature for c in configs if c.alpha == 1.0} == {1.0}
    teachers = {c.teacher for c in configs}
    assert len(teachers) == 1 and next(iter(teachers)).seed == 0  # one teacher, logits once


def test_sweep_table_fills_every_cell_with_mean_std_and_count():
    rows = []
    for seed, (alpha, temperature) in enumerate([(0.5, 2.0), (0.5, 2.0), (0.5, 8.0), (1.0, 1.0)]):
        rows.append(dict(role="distilled", architecture="mlp:8", alpha=alpha,
                         temperature=temperature, seed=seed, test_accuracy=0.9 + seed / 100,
                         test_errors=100 - seed, test_teacher_agreement=0.95))
    table = sweep.sweep_table(pd.DataFrame(rows), temperatures=(2.0, 8.0)).set_index(
        ["alpha", "temperature"])
    assert table.loc[(0.5, 2.0), "test_accuracy_mean"] == pytest.approx(0.905)
    assert table.loc[(0.5, 2.0), "test_accuracy_count"] == 2
    assert np.isnan(table.loc[(0.5, 8.0), "test_accuracy_std"])  # one seed: no spread claimed
    # The labels-only run stands in the alpha = 1 cell of every temperature.
    assert table.loc[(1.0, 2.0), "test_accuracy_mean"] == table.loc[(1.0, 8.0), "test_accuracy_mean"]
    plots.plot_sweep_heatmap(table.reset_index(), "mlp:8")
    plots.plot_metric_vs_temperature(table.reset_index(), "mlp:8", "test_teacher_agreement")
    plots.plt.close("all")


SWEEP_ARGS = ["sweep", "--profile", "fast", "--student", "16", "--temperatures", "2", "8",
              "--alphas", "0.5", "1", "--seeds", "0", "1"]


def test_a_killed_sweep_resumes_without_duplicates_or_loss(tmp_path, require_mnist):
    command = [sys.executable, "-m", "kd_utils", *SWEEP_ARGS, "--results-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    try:  # kill it, hard, once the teacher and one student have finished
        while len(list(tmp_path.glob("runs/*/row.json"))) < 2:
            assert process.poll() is None, "the sweep ended before it could be interrupted"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finished_before = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/row.json")}
    configs = sweep.sweep_configs("mnist", "mlp:16", (2.0, 8.0), (0.5, 1.0), (0, 1), "fast")
    assert 2 <= len(finished_before) < len(configs) + 1  # the grid plus its teacher

    assert main([*SWEEP_ARGS, "--results-dir", str(tmp_path)]) == 0
    summary = runs.read_summary(tmp_path)
    assert summary["run_id"].is_unique
    assert set(summary["run_id"]) == {c.run_id for c in configs} | {configs[0].teacher.run_id}
    # Runs finished before the kill were read back, not retrained: their records are untouched.
    assert {p: p.stat().st_mtime_ns for p in finished_before} == finished_before
    table = pd.read_csv(tmp_path / "tables" / "sweep_mnist_fast.csv")
    assert len(table) == 4 and (table["test_accuracy_count"] == 2).all()
    assert (tmp_path / "figures" / "sweep_mnist_fast_mlp16_heatmap.png").exists()


def test_a_second_sweep_trains_nothing(tmp_path, monkeypatch, require_mnist):
    args = ["sweep", "--profile", "fast", "--student", "8", "--temperatures", "4", "--alphas",
            "0.5", "--seeds", "0", "--results-dir", str(tmp_path)]
    assert main(args) == 0
    written = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/row.json")}
    monkeypatch.setattr(runs.Distiller, "fit", lambda *a, **k: pytest.fail("trained again"))
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/row.json")} == written


def test_sweep_rejects_bad_grid_values_before_training(tmp_path):
    with pytest.raises(ValueError, match="temperature"):
        main(["sweep", "--temperatures", "4", "0", "--results-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="alpha"):
        main(["sweep", "--alphas", "0.5", "2", "--results-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--group-size must be a positive integer"):
        main(["sweep", "--group-size", "0", "--results-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--jitter-pixels must be >= 0"):
        main(["sweep", "--jitter-pixels", "-1", "--results-dir", str(tmp_path)])
    assert not (tmp_path / "runs").exists()


def test_training_groups_share_a_seed_and_hold_at_most_group_size_runs():
    configs = sweep.sweep_configs(temperatures=(1, 4, 20), alphas=(0.0, 0.5, 1.0), seeds=(0, 1),
                                  profile="fast", jitter_pixels=2)
    assert all(c.jitter_pixels == 2 for c in configs)
    groups = sweep.training_groups(configs, group_size=4)
    assert [len(g) for g in groups] == [4, 3, 4, 3]  # 7 runs per seed
    assert [c for g in groups for c in g] == configs
    assert all(len({c.seed for c in g}) == 1 for g in groups)
    assert [len(g) for g in sweep.training_groups(configs, 1)] == [1] * len(configs)
    assert sweep.default_group_size(jitter_pixels=2) == 8
    assert sweep.default_group_size(jitter_pixels=0) == 1
    with pytest.raises(ValueError, match="group_size must be a positive integer"):
        sweep.training_groups(configs, 0)
