"""The command line: `compare` writes and reuses its table; bad arguments exit 2 in one line."""

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
    (["compare", "--teacher-replicate", "-1"], "--teacher-replicate"),
    (["sweep", "--name", "../tables/x"], "--name"),
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

    seen = []

    def refuse(template, *args, **kwargs):
        seen.append(template.teacher.replicate)
        raise runner.Irreproducible("mnist-teacher-...: retraining it here gives other numbers")

    monkeypatch.setattr(sweep, "sweep", refuse)
    assert main(["sweep", "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gives other numbers" in err[0] and "--teacher-replicate 1" in err[0]
    assert main(["sweep", "--teacher-replicate", "1", "--results-dir", str(tmp_path)]) == 1
    assert seen == [0, 1]
