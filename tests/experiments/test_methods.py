"""The Fashion-MNIST methods comparison: its runs, and its table on a FAST run."""

import pytest

from kd_experiments import dark_knowledge, methods


def test_each_method_is_its_own_run_of_one_student_on_one_teacher():
    configs = methods.fashion_configs(0)
    students = [c for arm, c in configs.items() if arm != "teacher"]
    assert len({c.run_id for c in students}) == len(methods.ARMS)
    assert {c.architecture for c in students} == {methods.STUDENT}
    assert {c.teacher.run_id for c in students if c.teacher} == {configs["teacher"].run_id}
    for arm, config in configs.items():
        if arm != "teacher":
            row = {**config.to_dict(), "teacher_run_id": config.teacher.run_id
                   if config.teacher else ""}
            assert dark_knowledge.arm_of(row) == arm


@pytest.mark.slow  # trains a FAST CNN teacher and ten students on Fashion-MNIST (about a minute)
def test_a_fast_run_gives_every_method_its_paired_verdicts(tmp_path):
    table = methods.train_all(seeds=(0, 1), profile="fast", results_dir=tmp_path)
    assert set(table["arm"]) == {"hinton", "decoupled", "hint", "label_smoothing"}
    assert len(table) == 2 * 3 + 1 and table["p_holm"].notna().all()
    assert (table["test_errors_count"] == 2).all()
    name = f"{methods.TABLE}_fast"
    assert (tmp_path / "tables" / f"{name}.csv").exists()
    assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 10_000

    # the notebook's block, on these runs written under the full profile's table name
    from kd_experiments import readings_methods
    from kd_lab import records

    rows = records.read_summary(tmp_path)
    methods.write_outputs(rows[rows["profile"] == "fast"], tmp_path, "full")
    block = readings_methods.methods_block(tmp_path)
    assert block.count("paired") >= 1 and "one Holm family" in block
    assert block.count("| decoupled (`mlp:64,64`)") == 2  # against Hinton KD and scratch


def test_the_controls_figure_draws_one_point_per_comparison():
    import pandas as pd

    table = pd.DataFrame({
        "student": ["mlp:8"] * 3, "arm": ["hinton", "hint", "hint"],
        "baseline": ["scratch", "scratch", "hinton"], "difference": [-5.0, -1.0, 4.0],
        "diff_low": [-8.0, -4.0, 1.0], "diff_high": [-2.0, 2.0, 7.0],
        "verdict": ["better", "no detectable difference", "worse"]})
    fig = dark_knowledge.plot_controls(table)
    panels = fig.axes
    assert [len(ax.get_yticks()) for ax in panels] == [2, 1]
    assert "Hinton KD" in panels[1].get_title() and "scratch" in panels[0].get_title()


def test_the_controls_figure_draws_an_interval_far_off_the_others_scale_as_an_arrow():
    import pandas as pd

    arms = ["hinton", "hint", "class_mean", "shuffled"]
    table = pd.DataFrame({
        "student": ["mlp:8"] * 4, "arm": arms, "baseline": ["scratch"] * 4,
        "difference": [-5.0, -1.0, 3.0, 3000.0], "diff_low": [-8.0, -4.0, 0.0, 2700.0],
        "diff_high": [-2.0, 2.0, 6.0, 3300.0], "verdict": ["better"] + ["worse"] * 3})
    ax = dark_knowledge.plot_controls(table).axes[0]
    assert ax.get_xlim()[1] < 10  # the scale of the three near ones
    assert [t.get_text() for t in ax.texts] == ["+3000 [2700, 3300]"]
    near = dark_knowledge.plot_controls(table.iloc[:3]).axes[0]
    assert not near.texts and near.get_xlim()[1] > 6  # nothing off the scale: no arrow


def test_the_mnist_methods_table_and_block_come_from_the_plan_s_records(tmp_path):
    """On a copy of the committed records: the MNIST table lists each method against Hinton KD
    and scratch for both students (8 lines, one Holm family: Hinton KD against scratch and label
    smoothing are the controls table's), its runs and figure are written, and the block shows
    every line; a folder without these runs writes nothing."""
    import shutil

    from helpers import REPO

    from kd_experiments import readings_methods

    shutil.copytree(REPO / "results", tmp_path / "results",
                    ignore=shutil.ignore_patterns("*.keras", "cache", "checkpoint*"))
    results = tmp_path / "results"
    table, csv, figure = methods.write_mnist_outputs(results)
    students = set(dark_knowledge.STUDENTS)
    assert len(table) == len(students) * 2 * 2 and set(table["student"]) == students
    assert set(table["arm"]) == set(dark_knowledge.METHODS)
    assert csv.with_suffix(".runs.csv").exists() and figure.stat().st_size > 10_000
    assert csv.name == f"{methods.MNIST_TABLE}.csv"  # the committed table, made again alike
    block = readings_methods.mnist_methods_block(results)
    assert block.count("| hint (`mlp:") == 2 * len(students) and "one Holm family" in block
    empty = tmp_path / "empty"
    (empty / "runs").mkdir(parents=True)
    assert methods.write_mnist_outputs(empty)[1:] == (None, None)
