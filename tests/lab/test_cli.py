"""The command line: `compare` writes and reuses its table; bad arguments exit 2 in one line."""

import os

import pandas as pd
import pytest
from helpers import REPO

from kd_lab.__main__ import main


@pytest.mark.slow  # FAST MNIST teachers, then six runs
def test_compare_command_writes_the_table_then_reuses_its_runs(results_with_fast_teachers,
                                                               capsys):
    tmp_path = results_with_fast_teachers  # the session's FAST teacher is read back, not retrained
    args = ["compare", "--profile", "fast", "--seeds", "0", "--results-dir", str(tmp_path),
            "--verbose", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for label in ("teacher", "student from scratch", "distilled student", "± "):
        assert label in out
    table = pd.read_csv(tmp_path / "tables" / "compare_mnist_fast.csv")
    assert table["role"].tolist() == ["teacher", "scratch", "distilled"]
    assert (table["test_accuracy_mean"] > 0.8).all()
    assert (tmp_path / "figures" / "compare_mnist_fast_learning_curves.png").stat().st_size > 10_000
    assert main(args) == 0
    assert capsys.readouterr().out.count("finished, reading its record") == 3


@pytest.mark.parametrize("argv,argument", [
    (["compare", "--alpha", "1.5"], "--alpha"),
    (["compare", "--temperature", "-2"], "--temperature"),
    (["sweep", "--temperatures", "0"], "--temperatures"),
    (["sweep", "--alphas", "0.5", "1.5"], "--alphas"),
    (["sweep", "--student", "mlp:abc"], "--student"),
    (["sweep", "--student", "resnet50"], "--student"),
    (["sweep", "--dataset", "imagenet"], "--dataset"),
    (["sweep", "--name", "../tables/x"], "--name"),
    (["sweep", "--gpus-per-trial", "-1"], "--gpus-per-trial"),
    (["sweep", "--cpus-per-trial", "nan"], "--cpus-per-trial"),
    (["sweep", "--loss-param", "non_target_weight"], "--loss-param"),
    (["sweep", "--address", "ray://head:10001"], "--address"),
])
def test_bad_arguments_print_one_line_naming_the_argument_and_exit_2(argv, argument, tmp_path,
                                                                     capsys):
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--results-dir", str(tmp_path)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and argument in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()


def test_the_cli_exits_2_without_a_traceback_in_a_real_process(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "kd_lab", "sweep", "--alphas", "1.5",
                           "--results-dir", str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "python -m kd_lab sweep: error: argument --alphas: expected an alpha in [0, 1] (the "
        "weight of the hard-label loss), got '1.5'"]


def test_a_teacher_that_cannot_be_retrained_here_is_one_line_naming_the_way_out(tmp_path,
                                                                             monkeypatch, capsys):
    from kd_lab import runner, sweep

    def refuse(template, *args, **kwargs):
        raise runner.ModelNotHere("mnist-teacher-... is finished, but its model is not in ... "
                                  "Retrain it here with kd_lab.runner.run(config, force=True)")

    monkeypatch.setattr(sweep, "sweep", refuse)
    assert main(["sweep", "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "its model is not in" in err[0] and "force=True" in err[0]
    assert err[0].startswith("python -m kd_lab sweep: ")


@pytest.mark.parametrize("argv,expected", [
    (["compare", "--seeds", "0", "0"], "argument --seeds repeats [0]"),
    (["sweep", "--seeds", "1", "2", "1"], "argument --seeds repeats [1]"),
    (["compare", "--seeds", "-1"], r"argument --seeds must be integers in [0, 2**32)"),
    (["compare", "--seeds", str(2**40)], "argument --seeds must be integers"),
    (["compare", "--data-dir", "/no/such/folder"], "argument --data-dir: '/no/such/folder' is not"),
    (["compare", "--data-dir", ""], "argument --data-dir: expected a folder, got an empty path"),
])
def test_bad_seeds_and_folders_exit_2_before_anything_trains(argv, expected, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "runs").exists()


def test_a_results_dir_that_is_a_file_or_read_only_exits_2(tmp_path, capsys):
    a_file = tmp_path / "results.txt"
    a_file.write_text("")
    for results in (a_file, a_file / "inside"):
        with pytest.raises(SystemExit) as stopped:
            main(["compare", "--results-dir", str(results)])
        assert stopped.value.code == 2 and "is a file, not a folder" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who may write anywhere (root)")
        with pytest.raises(SystemExit):
            main(["compare", "--results-dir", str(locked)])
        assert "is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_a_bad_profile_from_the_environment_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KD_PROFILE", "nope")
    import importlib

    import kd_lab.__main__ as cli

    importlib.reload(cli)  # the default is read when the parser is built
    with pytest.raises(SystemExit) as stopped:
        cli.main(["compare", "--results-dir", str(tmp_path)])
    assert stopped.value.code == 2
    assert "KD_PROFILE must be fast, full or paper; got 'nope'" in capsys.readouterr().err


def test_a_lab_error_during_a_command_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from kd_lab import runner
    from kd_utils.data import DataFileError

    def missing(*args, **kwargs):
        raise DataFileError("mnist: no data files found. Looked in /x; set KD_DATA_DIR")

    monkeypatch.setattr(runner, "run", missing)
    assert main(["compare", "--seeds", "0", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["python -m kd_lab compare: error: mnist: no data files found. Looked in /x; "
                   "set KD_DATA_DIR"]


def test_a_refused_training_in_read_only_mode_is_one_line_exit_2(tmp_path, monkeypatch, capsys,
                                                                  require_mnist):
    # Without data the run stops earlier, at the data (the test above); here it reaches training.
    monkeypatch.setenv("KD_READ_ONLY", "1")
    assert main(["compare", "--profile", "fast", "--seeds", "5", "--results-dir",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused: KD_READ_ONLY=1" in err[0], err


@pytest.mark.parametrize("argv,message", [
    (["--loss", "nope"], "RunConfig.loss must be one of hinton"),
    (["--loss", "decoupled", "--loss-param", "beta=2"], "unexpected keyword argument 'beta'"),
    (["--loss", "label_smoothing"], "needs none: make it a role='scratch' run"),
])
def test_a_bad_loss_for_a_sweep_is_one_line_exit_2_before_training(argv, message, tmp_path,
                                                                   capsys):
    assert main(["sweep", *argv, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "runs").exists()
