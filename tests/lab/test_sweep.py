"""The T x alpha sweep: its grid, its table, and resuming after a kill without loss or duplicates."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from helpers import DIGITS_DISTILLED, REPO

from kd_experiments import hinton2015
from kd_lab import records, stats, sweep
from kd_lab.__main__ import main
from kd_lab.stacking import StackedDistiller
from kd_utils import Distiller, plots

FAST_TEMPLATE = hinton2015.hinton_configs(0, "fast")[2]

# Stacks of 2, so the kill below can fall between stacks.
SWEEP_ARGS = ["sweep", "--profile", "fast", "--student", "16", "--temperatures", "2", "8",
              "--alphas", "0.5", "1", "--seeds", "0", "1", "--stack-size", "2"]


def test_grid_runs_alpha_one_once_per_seed():
    configs = sweep.sweep_configs(FAST_TEMPLATE, temperatures=(1, 4, 20), alphas=(0.0, 0.5, 1.0),
                                  seeds=(0, 1))
    assert len(configs) == 2 * (2 * 3 + 1)
    assert len({c.run_id for c in configs}) == len(configs)
    assert {c.temperature for c in configs if c.alpha == 1.0} == {1.0}
    teachers = {c.teacher for c in configs}
    assert teachers == {FAST_TEMPLATE.teacher}  # the template's teacher: one, logits once
    with pytest.raises(ValueError, match="template must be a distilled run config"):
        sweep.sweep_configs(FAST_TEMPLATE.teacher)


def test_a_grid_gives_each_seed_its_own_teacher_and_shares_the_comparisons_scratch_runs():
    configs = sweep.sweep_configs(FAST_TEMPLATE, (1, 4), (0.5, 1.0), (0, 1),
                                  fixed_teacher=False, scratch_baseline=True)
    distilled = [c for c in configs if c.role == "distilled"]
    assert len(distilled) == 4 and all(c.teacher.seed == c.seed for c in distilled)
    assert [c.role for c in configs if c.alpha == 1.0] == ["scratch", "scratch"]
    for seed in (0, 1):  # the comparison's scratch run is the grid's alpha = 1 cell
        assert hinton2015.hinton_configs(seed, "fast")[1] in configs


def test_sweep_table_tests_each_cell_against_labels_alone_with_holm():
    rng = np.random.default_rng(0)
    cells = {(1.0, 1.0): 200, (0.5, 2.0): 150, (0.5, 8.0): 201, (0.0, 2.0): 260}  # true means
    rows = [dict(role="scratch" if alpha == 1.0 else "distilled", architecture="mlp:8",
                 alpha=alpha, temperature=temperature, seed=seed, test_accuracy=0.98,
                 test_errors=mean + rng.normal(0, 8), test_teacher_agreement=0.95)
            for (alpha, temperature), mean in cells.items() for seed in range(10)]
    table = sweep.sweep_table(pd.DataFrame(rows), temperatures=(2.0, 8.0)).set_index(
        ["alpha", "temperature"])
    assert table.loc[(0.5, 2.0), "verdict"] == "better"  # fewer errors
    assert table.loc[(0.0, 2.0), "verdict"] == "worse"
    assert table.loc[(0.5, 8.0), "verdict"] == "no detectable difference"
    assert table.loc[(1.0, 8.0), "verdict"] == "baseline"
    assert table.loc[(0.5, 2.0), "diff_high"] < 0 < table.loc[(0.5, 8.0), "diff_high"]
    raw = table.loc[[(0.5, 2.0), (0.5, 8.0), (0.0, 2.0)], "p_value"]
    np.testing.assert_allclose(table.loc[raw.index, "p_holm"], stats.holm(raw))  # 3 cells
    assert table["test_errors_ci_low"].notna().all()
    sweep.plot_sweep_heatmap(table.reset_index(), "mlp:8")  # frames the decided cells
    plots.plt.close("all")


def test_sweep_table_corrects_every_student_s_cells_as_one_family():
    # Two students in one table (notebook 04's page): Holm over all their cells, not per student.
    rng = np.random.default_rng(1)
    means = {(1.0, 1.0): 200, (0.5, 2.0): 190, (0.5, 8.0): 205}
    rows = [dict(role="scratch" if alpha == 1.0 else "distilled", architecture=student,
                 alpha=alpha, temperature=temperature, seed=seed, test_accuracy=0.98,
                 test_errors=mean + rng.normal(0, 8), test_teacher_agreement=0.95)
            for student in ("mlp:8", "mlp:16") for (alpha, temperature), mean in means.items()
            for seed in range(6)]
    table = sweep.sweep_table(pd.DataFrame(rows), temperatures=(2.0, 8.0))
    tested = table[table["p_value"].notna()]
    assert len(tested) == 4
    np.testing.assert_allclose(tested["p_holm"], stats.holm(tested["p_value"]))
    assert (tested["pairs"] == 6).all()


def test_a_cell_another_table_tests_with_the_same_runs_is_cited_not_tested_again():
    rng = np.random.default_rng(2)
    means = {(1.0, 1.0): 200, (0.5, 2.0): 150, (0.5, 8.0): 160, (0.0, 2.0): 170}
    rows = pd.DataFrame([dict(role="scratch" if alpha == 1.0 else "distilled",
                              architecture="mlp:8", alpha=alpha, temperature=temperature,
                              seed=seed, run_id=f"{alpha}-{temperature}-{seed}",
                              test_accuracy=0.98, test_errors=mean + rng.normal(0, 8),
                              test_teacher_agreement=0.95)
                         for (alpha, temperature), mean in means.items() for seed in range(6)])
    ids = {cell: set(own["run_id"]) for cell, own in rows.groupby(["alpha", "temperature"])}
    scratch = ids[(1.0, 1.0)]
    cited = {"tested in notebook 19": [(ids[(0.5, 2.0)], scratch)],  # the same runs: cited
             # on more seeds there: the same comparison, cited
             "tested in notebook 03": [(ids[(0.0, 2.0)] | {"other-seed"}, scratch | {"x"})],
             # a pair without one of the cell's runs: another test, made here
             "tested in notebook 07": [(set(sorted(ids[(0.5, 8.0)])[:5]), scratch)]}
    table = sweep.sweep_table(rows, temperatures=(2.0, 8.0), cited=cited).set_index(
        ["alpha", "temperature"])
    assert table.loc[(0.5, 2.0), "verdict"] == "tested in notebook 19"
    assert table.loc[(0.0, 2.0), "verdict"] == "tested in notebook 03"
    assert np.isnan(table.loc[(0.5, 2.0), "p_value"])
    assert table.loc[(0.5, 2.0), "test_errors_count"] == 6  # still shown, with its numbers
    tested = table[table["p_value"].notna()]
    assert list(tested.index) == [(0.5, 8.0)]  # a family of one
    assert tested["p_holm"].tolist() == tested["p_value"].tolist()
    untouched = sweep.sweep_table(rows, temperatures=(2.0, 8.0)).set_index(["alpha", "temperature"])
    assert untouched["p_value"].notna().sum() == 3


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
    sweep.plot_sweep_heatmap(table.reset_index(), "mlp:8")
    sweep.plot_metric_vs_temperature(table.reset_index(), "mlp:8", "test_teacher_agreement")
    plots.plt.close("all")


@pytest.mark.slow  # a child process loads TensorFlow and MNIST
def test_a_killed_sweep_resumes_without_duplicates_or_loss(results_with_fast_teachers):
    results = results_with_fast_teachers  # the teacher is read back: only students train here
    teachers = {p.name for p in results.glob("runs/*")}
    command = [sys.executable, "-m", "kd_lab", *SWEEP_ARGS, "--results-dir", str(results)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    try:  # kill it, hard, once one student has finished
        while not list(results.glob("runs/*-distilled-*/row.json")):
            assert process.poll() is None, "the sweep ended before it could be interrupted"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finished_before = {p: p.stat().st_mtime_ns for p in results.glob("runs/*-distilled-*/row.json")}
    finished_before |= {p: p.stat().st_mtime_ns for p in results.glob("runs/*-scratch-*/row.json")}
    # The command's default: each seed its own teacher, alpha = 1 the student from scratch.
    configs = sweep.sweep_configs(FAST_TEMPLATE.replace(architecture="mlp:16"), (2.0, 8.0),
                                  (0.5, 1.0), (0, 1), fixed_teacher=False, scratch_baseline=True)
    assert {c.teacher.seed for c in configs if c.teacher} == {0, 1}
    assert 1 <= len(finished_before) < len(configs)

    assert main([*SWEEP_ARGS, "--results-dir", str(results)]) == 0
    summary = records.read_summary(results)
    assert summary["run_id"].is_unique
    assert set(summary["run_id"]) == {c.run_id for c in configs} | teachers
    # Runs finished before the kill were read back, not retrained: their records are untouched.
    assert {p: p.stat().st_mtime_ns for p in finished_before} == finished_before
    # Its own table, apart from notebook 04's `sweep_mnist_fast`, which it must not replace.
    table = pd.read_csv(results / "tables" / "sweep_mnist_fast_cli.csv")
    assert len(table) == 4 and (table["test_accuracy_count"] == 2).all()
    assert not (results / "tables" / "sweep_mnist_fast.csv").exists()


def test_a_second_sweep_trains_nothing(tmp_path, monkeypatch):
    def grid():
        return sweep.sweep(DIGITS_DISTILLED, ["mlp:8"], temperatures=(4.0,), alphas=(0.5, 1.0),
                           seeds=(0,), results_dir=tmp_path, progress=False)

    first = grid()
    written = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/row.json")}
    assert len(written) == 3  # the teacher and two students
    monkeypatch.setattr(Distiller, "fit", lambda *a, **k: pytest.fail("trained again"))
    monkeypatch.setattr(StackedDistiller, "fit", lambda *a, **k: pytest.fail("trained again"))
    again = grid()
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/row.json")} == written
    pd.testing.assert_frame_equal(again, first)


def test_a_sweep_stacks_its_runs_by_default_and_runs_them_one_by_one_on_request(tmp_path):
    def grid(results, **kwargs):
        rows = sweep.sweep(DIGITS_DISTILLED, ["mlp:8"], temperatures=(4.0,), alphas=(0.5, 1.0),
                           seeds=(0,), results_dir=results, progress=False, **kwargs)
        return rows.set_index("run_id")["test_errors"].sort_index()

    stacked = grid(tmp_path / "stacked")
    # The second grid reuses the first's teacher (record and cached logits) rather than retrain it.
    for teacher in (tmp_path / "stacked").glob("runs/*-teacher-*"):
        shutil.copytree(teacher, tmp_path / "alone" / "runs" / teacher.name)
    shutil.copytree(tmp_path / "stacked" / "cache", tmp_path / "alone" / "cache")
    alone = grid(tmp_path / "alone", stack_size=1)
    pd.testing.assert_series_equal(stacked, alone)  # the same records, to the error
    notes = [p.parent.name for p in (tmp_path / "stacked").glob("runs/*/stack.json")]
    assert sorted(notes) == sorted(stacked.index)  # both in one stack
    assert not list((tmp_path / "alone").glob("runs/*/stack.json"))
    with pytest.raises(ValueError, match="stack_size applies to the local backend"):
        sweep.sweep(DIGITS_DISTILLED, backend="ray", stack_size=4, results_dir=tmp_path)


def test_sweep_rejects_bad_grid_values_before_training(tmp_path, capsys):
    for argv, argument in ((["--temperatures", "4", "0"], "--temperatures"),
                           (["--alphas", "0.5", "2"], "--alphas"),
                           (["--stack-size", "0"], "--stack-size"),
                           (["--jitter-pixels", "-1"], "--jitter-pixels")):
        with pytest.raises(SystemExit) as stopped:
            main(["sweep", *argv, "--results-dir", str(tmp_path)])
        assert stopped.value.code == 2 and argument in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()




@pytest.mark.parametrize("kwargs, match", [
    (dict(temperatures=[]), "temperatures must hold at least one value"),
    (dict(alphas=[]), "alphas must hold at least one value"),
    (dict(seeds=[]), "seeds must be a non-empty list"),
    (dict(seeds=[0, 0]), r"seeds repeats \[0\]"),
    (dict(students="mlp:8,8"), "students must be a list of architectures"),
])
def test_an_empty_or_repeated_grid_is_refused_before_training(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        sweep.sweep(DIGITS_DISTILLED, results_dir=tmp_path, progress=False, **kwargs)
    assert not (tmp_path / "runs").exists()


def test_a_grid_over_a_losss_parameter_runs_with_paired_verdicts_against_scratch(tmp_path):
    template = DIGITS_DISTILLED.replace(loss="decoupled", epochs=2)
    configs = sweep.grid_configs(template, {"non_target_weight": [1.0, 8.0]}, seeds=[0, 1])
    assert len(configs) == 6 and [c.role for c in configs[-2:]] == ["scratch", "scratch"]
    assert {dict(c.loss_params).get("non_target_weight") for c in configs[:4]} == {1.0, 8.0}
    rows = sweep.run_configs(configs, results_dir=tmp_path, progress=False)
    table = sweep.grid_table(rows, ["non_target_weight"])
    assert sorted(table["cell"]) == ["non_target_weight=1", "non_target_weight=8", "scratch"]
    assert (table["test_errors_count"] == 2).all()
    cells = table[table["cell"] != "scratch"]
    assert cells["p_holm"].notna().all() and (table.loc[table["cell"] == "scratch",
                                                        "verdict"] == "baseline").all()
    with pytest.raises(ValueError, match="unexpected keyword argument 'nope'"):
        sweep.grid_configs(template, {"nope": [1]})


def test_a_table_of_no_runs_is_refused_naming_what_to_pass():
    with pytest.raises(ValueError, match="rows holds no runs"):
        sweep.sweep_table(pd.DataFrame())
