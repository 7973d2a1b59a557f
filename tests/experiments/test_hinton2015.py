"""Hinton et al. (2015): configs, the width and regulariser tables, the README block."""


import numpy as np
import pandas as pd
import pytest
from helpers import DIGITS_TEACHER
from scipy import stats as scipy_stats

from kd_experiments import hinton2015, hinton2015_readme
from kd_lab import stats, sweep

TEACHER = DIGITS_TEACHER


# -- bias shift: golden values -------------------------------------------------------------
# -- configs: the reproduction shares runs with the other notebooks ------------------------
def test_width_configs_reuse_the_sweep_runs_and_add_a_scratch_run_per_width():
    configs = hinton2015.width_configs((30, 800), (2.5, 20), seeds=(0, 1, 2), profile="full")
    assert len(configs) == 2 * (2 + 1) * 3 and len(set(configs)) == len(configs)
    swept = sweep.sweep_configs(hinton2015.hinton_configs(0, "full")[2], (1, 2, 4, 8, 20),
                                 (0, 0.1, 0.5, 0.9, 1))
    shared = [c for c in configs if c in swept]
    # 800-800 at T = 20 and from scratch (alpha = 1), for 3 seeds: already in the sweep.
    assert len(shared) == 2 * 3
    assert {c.alpha for c in configs} == {0.1, 1.0}


def test_width_table_puts_scratch_runs_apart_from_every_temperature():
    rows = pd.DataFrame({"architecture": ["mlp:30,30"] * 4, "alpha": [0.1, 0.1, 1.0, 1.0],
                         "temperature": [4.0, 4.0, 1.0, 1.0], "test_errors": [300, 320, 400, 430],
                         "test_accuracy": [0.97, 0.968, 0.96, 0.957], "seed": [0, 1, 0, 1]})
    table = hinton2015.width_table(rows)
    assert table["width"].tolist() == [30, 30]
    distilled = table[table["student"] == "distilled"].iloc[0]
    scratch = table[table["student"] == "scratch"].iloc[0]
    assert distilled.temperature == 4.0 and distilled.test_errors_mean == 310
    assert np.isnan(scratch.temperature) and scratch.test_errors_mean == 415
    # Each T against its width's scratch student, seed by seed: -100 and -110.
    assert scratch.verdict == "baseline" and distilled.difference == -105
    assert distilled.p_value == pytest.approx(scipy_stats.ttest_rel([300, 320], [400, 430]).pvalue)
    assert distilled.verdict == "better"


def _two_widths() -> pd.DataFrame:
    """Three seeds of a 30-30 and an 800-800 student, each distilled at T = 4 and from scratch."""
    return pd.DataFrame({
        "architecture": ["mlp:30,30"] * 6 + ["mlp:800,800"] * 6,
        "alpha": [0.1, 0.1, 0.1, 1.0, 1.0, 1.0] * 2, "temperature": [4.0] * 3 + [1.0] * 3 + (
            [4.0] * 3 + [1.0] * 3), "seed": [0, 1, 2] * 4,
        "test_errors": [300, 320, 310, 400, 430, 405, 150, 140, 149, 160, 150, 170],
        "test_accuracy": 0.97, "run_id": [f"r{i}" for i in range(12)]})


def test_width_table_corrects_every_width_s_temperatures_as_one_family():
    rows = _two_widths()
    tested = hinton2015.width_table(rows).dropna(subset=["p_value"])
    assert len(tested) == 2
    np.testing.assert_allclose(tested["p_holm"], stats.holm(tested["p_value"]))


def test_a_width_s_temperature_another_table_tests_is_cited_not_tested_twice():
    rows = _two_widths()
    # the 800-800 line's runs (distilled, scratch), as notebook 04's grid tests them
    grid = [({f"r{i}" for i in range(6, 9)}, {f"r{i}" for i in range(9, 12)})]
    table = hinton2015.width_table(rows, {"tested in notebook 04": grid})
    cited = table[(table["width"] == 800) & (table["student"] == "distilled")].iloc[0]
    assert cited.verdict == "tested in notebook 04" and np.isnan(cited.p_value)
    tested = table.dropna(subset=["p_value"])
    assert tested["width"].tolist() == [30]  # a family of one: the line tested here
    assert tested["p_holm"].tolist() == tested["p_value"].tolist()
    # the same line on more seeds there is the same comparison: cited too
    wider = [({*grid[0][0], "r99"}, {*grid[0][1], "r98"})]
    assert hinton2015.width_table(rows, {"there": wider})["p_value"].notna().sum() == 1
    partly = [(grid[0][0] - {"r6"}, grid[0][1])]  # one of its runs not there: tested here
    assert hinton2015.width_table(rows, {"there": partly})["p_value"].notna().sum() == 2


def test_regulariser_configs_use_three_percent_and_reuse_the_full_data_runs():
    configs = hinton2015.regulariser_configs(0.03, seeds=(0,), profile="full", train_size=55000)
    _, scratch, distilled = hinton2015.hinton_configs(0, "full")
    assert configs[:2] == [scratch, distilled]
    small_scratch, small_distilled = configs[2:]
    assert small_scratch.train_limit == small_distilled.train_limit == 1650
    assert small_scratch.epochs == 10 * scratch.epochs and small_distilled.role == "distilled"
    with pytest.raises(ValueError, match="fraction must be in"):
        hinton2015.regulariser_configs(1.5, train_size=10)


def test_regulariser_table_labels_targets_and_data_size():
    rows = pd.DataFrame({"role": ["scratch", "distilled", "scratch", "distilled"],
                         "train_examples": [1000, 1000, 30, 30], "temperature": [1, 20, 1, 20],
                         "alpha": [1, 0.1, 1, 0.1], "train_accuracy": [1.0, 0.99, 1.0, 0.97],
                         "test_accuracy": [0.98, 0.985, 0.80, 0.90],
                         "test_errors": [200, 150, 2000, 1000], "best_epoch": [5, 6, 7, 8],
                         "seed": 0})
    table = hinton2015.regulariser_table(rows)
    assert table["train_percent"].tolist() == [3.0, 3.0, 100.0, 100.0]
    assert table["targets"].tolist() == ["hard labels (scratch)", "soft targets (distilled)"] * 2
    assert table["verdict"].tolist()[::2] == ["baseline", "baseline"]
    # Two seeds per arm: each size's soft targets against its own hard labels, seed by seed,
    # Holm over sizes.
    twice = pd.concat([rows, rows.assign(test_errors=rows.test_errors + [10, 20, 10, 40],
                                         seed=1)])
    tests = hinton2015.regulariser_table(twice).set_index(["train_examples", "targets"])
    soft = tests.xs("soft targets (distilled)", level="targets")
    assert soft["difference"].tolist() == [-985.0, -45.0]  # 30 images, then 1,000
    expected = stats.holm([stats.paired(twice.test_errors[(twice.train_examples == n)
                                                          & (twice.role == "distilled")],
                                        twice.test_errors[(twice.train_examples == n)
                                                          & (twice.role == "scratch")])["p_value"]
                           for n in (30, 1000)])
    assert np.allclose(soft["p_holm"], expected)


def test_a_data_size_another_table_tests_is_cited_not_tested_twice():
    rows = pd.DataFrame({"role": ["scratch", "distilled"] * 4, "seed": [0, 0, 1, 1] * 2,
                         "train_examples": [1000] * 4 + [30] * 4, "temperature": 20,
                         "alpha": 0.1, "train_accuracy": 1.0, "test_accuracy": 0.9,
                         "test_errors": [200, 150, 210, 170, 2000, 1000, 2100, 1200],
                         "best_epoch": 5, "run_id": [f"r{i}" for i in range(8)]})
    grid = {"r0", "r1", "r2", "r3"}  # all the data's runs: a grid cell of notebook 04
    table = hinton2015.regulariser_table(rows, cited_runs=grid, cited_in="tested in notebook 04")
    soft = table[table["targets"] == "soft targets (distilled)"].set_index("train_examples")
    assert soft.loc[1000, "verdict"] == "tested in notebook 04"
    assert np.isnan(soft.loc[1000, "p_value"])
    assert soft.loc[30, "p_holm"] == soft.loc[30, "p_value"]  # a family of one: tested here
    partly = hinton2015.regulariser_table(rows, cited_runs=grid - {"r0"}, cited_in="elsewhere")
    assert partly["p_value"].notna().sum() == 2  # a run the other table lacks: tested here
    everything = hinton2015.regulariser_table(rows, cited_runs={f"r{i}" for i in range(8)},
                                              cited_in="elsewhere")
    assert everything["p_value"].isna().all()


def test_paper_vs_ours_sets_each_number_beside_the_paper():
    main = pd.DataFrame({"role": ["teacher", "scratch", "distilled"],
                         "paper_test_errors": [67, 146, 74], "test_errors_mean": [80.0, 150.0, 90.0],
                         "test_errors_std": [2.0, 5.0, 3.0], "test_errors_count": [3, 3, 3]})
    omitted = pd.DataFrame({"transfer_set": ["omit_3", "omit_3"],
                            "bias": ["none", "shift chosen on validation"],
                            "shift_mean": [0.0, 3.0], "shift_std": [0.0, 0.5],
                            "errors_mean": [300.0, 120.0], "errors_std": [10.0, np.nan],
                            "errors_count": [3, 3], "class_errors_mean": [200.0, 20.0],
                            "class_errors_std": [5.0, 1.0], "class_errors_count": [3, 3],
                            "paper_shift": [0.0, 3.5],
                            "paper_errors": [206, 109], "paper_class_errors": [133, 14]})
    table = hinton2015_readme.paper_vs_ours(main, omitted)
    assert table["paper"].tolist() == ["67", "146", "74", "206 (133)", "109 (14)"]
    # mean ± std [95% t interval]: t(0.975, 2) = 4.3027, so 2.0 over 3 seeds gives ± 4.97.
    assert table["ours"].tolist() == [
        "80.0 ± 2.0 [75.0, 85.0]", "150.0 ± 5.0 [137.6, 162.4]", "90.0 ± 3.0 [82.5, 97.5]",
        "300.0 ± 10.0 [275.2, 324.8] (200.0 ± 5.0 [187.6, 212.4])",
        "120.0 (20.0 ± 1.0 [17.5, 22.5])"]
    assert "bias shift (3.00 ± 0.50; paper 3.5)" in table["experiment"].iloc[4]
    markdown = hinton2015_readme.format_paper_vs_ours(table)
    assert markdown.splitlines()[2] == (
        "| teacher 1200-1200, test errors | 67 | 80.0 ± 2.0 [75.0, 85.0] | 3 |")


def test_the_readme_block_gives_the_bias_shift_rows_their_verdicts_like_the_others(tmp_path):
    from helpers import REPO

    tables = tmp_path / "tables"
    tables.mkdir()
    committed = pd.read_csv(REPO / "results" / "tables" / "08_omitted_class_paper.csv")
    committed.loc[committed.bias != "none", "verdict"] = stats.UNDECIDED  # once left out
    committed.to_csv(tables / "08_omitted_class_paper.csv", index=False)
    block = hinton2015_readme.readme_paper_vs_ours(tmp_path)
    shifted = committed[committed.bias != "none"]
    for row in shifted.itertuples():
        label = hinton2015_readme.TRANSFER_SET_LABELS[row.transfer_set]
        assert (f"{label}, {row.difference:+.1f} errors "
                f"{stats.interval(row.diff_low, row.diff_high)} ({row.errors_count} seeds, paired, "
                f"Holm p = {row.p_holm:.3g}): {row.verdict}") in block
    assert f"Holm over the {len(shifted)} transfer sets" in block


def test_the_soft_target_examples_name_their_teacher_and_are_read_back_for_it_alone(
        tmp_path, monkeypatch):
    from kd_lab import runner

    runner.run(DIGITS_TEACHER, results_dir=tmp_path, verbose=0)
    examples = hinton2015.soft_target_examples(DIGITS_TEACHER, tmp_path, count=3)
    assert list(examples["teacher_run_id"]) == [DIGITS_TEACHER.run_id] * 3
    assert hinton2015.has_soft_target_examples(DIGITS_TEACHER, tmp_path, count=3)
    other = DIGITS_TEACHER.replace(epochs=DIGITS_TEACHER.epochs + 1)  # same profile and file
    assert not hinton2015.has_soft_target_examples(other, tmp_path, count=3)
    monkeypatch.setattr(runner, "get_or_train_model", lambda *a, **k: pytest.fail("model"))
    again = hinton2015.soft_target_examples(DIGITS_TEACHER, tmp_path, count=3)  # no model needed
    pd.testing.assert_frame_equal(again, examples, check_dtype=False)
    # the file each was read from or written to, for the suffix of a figure drawn from it
    kept = tmp_path / "tables" / f"03_soft_target_examples_{DIGITS_TEACHER.profile}.csv"
    assert examples.attrs["table"] == again.attrs["table"] == kept


def test_another_teachers_soft_target_examples_go_beside_the_kept_ones(tmp_path, monkeypatch):
    from kd_lab import records, runner

    monkeypatch.delenv(records.REPLACE_TABLES_ENV, raising=False)
    other = DIGITS_TEACHER.replace(seed=DIGITS_TEACHER.seed + 1)
    for teacher in (DIGITS_TEACHER, other):
        runner.run(teacher, results_dir=tmp_path, verbose=0)
    kept = hinton2015.soft_target_examples(DIGITS_TEACHER, tmp_path, count=3)
    with pytest.warns(UserWarning, match="holds another table"):
        beside = hinton2015.soft_target_examples(other, tmp_path, count=3)
    assert records.variant_of(kept.attrs["table"]) == ""
    assert records.variant_of(beside.attrs["table"]) != ""
    assert list(pd.read_csv(kept.attrs["table"]).teacher_run_id) == [DIGITS_TEACHER.run_id] * 3
