"""The paper-reproduction experiments: configs, the bias-shift analysis, and the derived tables."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kd_utils import data, experiments, hinton, runs, sweep

REPO = Path(__file__).resolve().parent.parent
TEACHER = runs.RunConfig(dataset="digits", role="teacher", architecture="mlp:32", epochs=3,
                         learning_rate=0.01, patience=0, val_size=200, profile="fast", seed=0)
NO_THREES = runs.RunConfig(dataset="digits", role="distilled", architecture="mlp:16", epochs=3,
                           learning_rate=0.01, patience=0, val_size=200, profile="fast",
                           teacher=TEACHER, temperature=4.0, alpha=0.1, seed=0,
                           transfer_classes=(0, 1, 2, 4, 5, 6, 7, 8, 9))


# -- bias shift: golden values -------------------------------------------------------------
LOGITS = np.array([[5.0, 0.0, 0.0],   # label 0, right
                   [3.0, 0.0, 2.0],   # label 2, wrong by 1: right from a shift of +1.5 on
                   [0.0, 4.0, 1.0],   # label 2, wrong by 3: right from +3.5 on
                   [1.0, 0.0, 0.0]])  # label 0, right until class 2 gains more than 1
LABELS = np.array([0, 2, 2, 0])


def test_bias_shift_curve_on_hand_computed_logits():
    curve = hinton.bias_shift_curve(LOGITS, LABELS, (2,), (0.0, 1.5, 3.5))
    assert curve["errors"].tolist() == [2, 2, 1]
    assert curve["class_errors"].tolist() == [2, 1, 0]
    assert curve["class_count"].tolist() == [2, 2, 2]
    assert curve["error_percent"].tolist() == [50.0, 50.0, 25.0]
    assert curve["class_accuracy_percent"].tolist() == [0.0, 50.0, 100.0]


def test_a_negative_shift_on_several_classes_lowers_their_logits():
    curve = hinton.bias_shift_curve(LOGITS, np.array([1, 1, 1, 1]), (0, 2), (0.0, -10.0))
    assert curve["errors"].tolist() == [3, 0]  # only row 2 says 1 before; every row after
    assert curve["class_count"].tolist() == [0, 0]  # no example of classes 0 or 2


def test_bias_shift_curve_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="logits must be"):
        hinton.bias_shift_curve(LOGITS, LABELS[:3], (2,), (0.0,))


def _curves(rows):
    return pd.DataFrame(rows, columns=["run_id", "seed", "split", "shift", "errors",
                                       "error_percent", "class_errors",
                                       "class_accuracy_percent"]).assign(transfer_set="omit_3")


def test_the_shift_is_chosen_on_validation_never_on_test():
    curves = _curves([
        ("a", 0, "val", 0.0, 30, 0.6, 20, 80.0), ("a", 0, "val", 2.0, 10, 0.2, 2, 98.0),
        ("a", 0, "val", 4.0, 10, 0.2, 1, 99.0), ("a", 0, "test", 0.0, 60, 0.6, 40, 96.0),
        ("a", 0, "test", 2.0, 50, 0.5, 9, 99.1), ("a", 0, "test", 4.0, 5, 0.05, 1, 99.9),
        ("b", 1, "val", 0.0, 9, 0.18, 3, 97.0), ("b", 1, "val", 2.0, 12, 0.24, 1, 99.0),
        ("b", 1, "test", 0.0, 70, 0.7, 50, 95.0), ("b", 1, "test", 2.0, 40, 0.4, 5, 99.5)])
    chosen = hinton.choose_shifts(curves)
    # Run a ties at 10 validation errors: the smaller shift wins, although the test set would
    # prefer 4.0. Run b's validation prefers no shift.
    assert dict(zip(chosen["run_id"], chosen["shift"], strict=True)) == {"a": 2.0, "b": 0.0}
    table = hinton.omitted_class_table(curves).set_index("bias")
    assert table.loc["none", "errors_mean"] == 65.0
    assert table.loc["shift chosen on validation", "errors_mean"] == 60.0  # (50 + 70) / 2
    assert table.loc["shift chosen on validation", "errors_count"] == 2
    assert table.loc["shift chosen on validation", "paper_errors"] == 109
    assert table.loc["none", "paper_errors"] == 206 and table.loc["none", "paper_class_errors"] == 133


# -- configs: the reproduction shares runs with the other notebooks ------------------------
def test_width_configs_reuse_the_sweep_runs_and_add_a_scratch_run_per_width():
    configs = hinton.width_configs((30, 800), (2.5, 20), seeds=(0, 1, 2), profile="full")
    assert len(configs) == 2 * (2 + 1) * 3 and len(set(configs)) == len(configs)
    swept = sweep.sweep_configs("mnist", "mlp:800,800", (1, 2, 4, 8, 20), (0, 0.1, 0.5, 0.9, 1))
    shared = [c for c in configs if c in swept]
    # 800-800 at T = 20 and from scratch (alpha = 1), for 3 seeds: already in the sweep.
    assert len(shared) == 2 * 3
    assert {c.alpha for c in configs} == {0.1, 1.0}


def test_width_table_puts_scratch_runs_apart_from_every_temperature():
    rows = pd.DataFrame({"architecture": ["mlp:30,30"] * 4, "alpha": [0.1, 0.1, 1.0, 1.0],
                         "temperature": [4.0, 4.0, 1.0, 1.0], "test_errors": [300, 320, 400, 420],
                         "test_accuracy": [0.97, 0.968, 0.96, 0.958]})
    table = hinton.width_table(rows)
    assert table["width"].tolist() == [30, 30]
    distilled = table[table["student"] == "distilled"].iloc[0]
    scratch = table[table["student"] == "scratch"].iloc[0]
    assert distilled.temperature == 4.0 and distilled.test_errors_mean == 310
    assert np.isnan(scratch.temperature) and scratch.test_errors_mean == 410


def test_omitted_class_configs_keep_the_teacher_and_drop_the_classes():
    configs = hinton.omitted_class_configs("omit_3", seeds=(0, 1), profile="full")
    for seed, config in enumerate(configs):
        _, _, distilled = experiments.hinton_configs(seed, "full")
        assert config.teacher == distilled.teacher and config.seed == seed
        assert config.transfer_classes == (0, 1, 2, 4, 5, 6, 7, 8, 9)
        assert config.run_id != distilled.run_id
    with pytest.raises(ValueError, match="transfer_set must be one of"):
        hinton.omitted_class_configs("omit_4")


def test_regulariser_configs_use_three_percent_and_reuse_the_full_data_runs():
    configs = hinton.regulariser_configs(0.03, seeds=(0,), profile="full", train_size=55000)
    _, scratch, distilled = experiments.hinton_configs(0, "full")
    assert configs[:2] == [scratch, distilled]
    small_scratch, small_distilled = configs[2:]
    assert small_scratch.train_limit == small_distilled.train_limit == 1650
    assert small_scratch.epochs == 10 * scratch.epochs and small_distilled.role == "distilled"
    with pytest.raises(ValueError, match="fraction must be in"):
        hinton.regulariser_configs(1.5, train_size=10)


def test_regulariser_table_labels_targets_and_data_size():
    rows = pd.DataFrame({"role": ["scratch", "distilled", "scratch", "distilled"],
                         "train_examples": [1000, 1000, 30, 30], "temperature": [1, 20, 1, 20],
                         "alpha": [1, 0.1, 1, 0.1], "train_accuracy": [1.0, 0.99, 1.0, 0.97],
                         "test_accuracy": [0.98, 0.985, 0.80, 0.90],
                         "test_errors": [200, 150, 2000, 1000], "best_epoch": [5, 6, 7, 8]})
    table = hinton.regulariser_table(rows)
    assert table["train_percent"].tolist() == [3.0, 3.0, 100.0, 100.0]
    assert table["targets"].tolist() == ["hard labels (scratch)", "soft targets (distilled)"] * 2


# -- configs with the fields added after the first records ---------------------------------
def test_committed_run_ids_still_match_their_configs():
    """New config fields at their defaults must not change any committed run id."""
    config_files = sorted((REPO / "results" / "runs").glob("*/config.json"))
    if not config_files:
        pytest.skip("no committed run records")
    for path in config_files:
        config = runs.RunConfig.from_dict(json.loads(path.read_text()))
        assert config.run_id == path.parent.name


def test_transfer_classes_are_validated_and_normalised():
    config = NO_THREES.replace(transfer_classes=[9, 0, 1, 2, 4, 5, 6, 7, 8])
    assert config.transfer_classes == (0, 1, 2, 4, 5, 6, 7, 8, 9) and config == NO_THREES
    for bad in ([], [1, 1], [-1], "01", [1.5]):
        with pytest.raises(ValueError, match="RunConfig.transfer_classes"):
            NO_THREES.replace(transfer_classes=bad)
    with pytest.raises(ValueError, match="RunConfig.lr_schedule"):
        NO_THREES.replace(lr_schedule="step")


def test_keep_classes_drops_train_and_val_examples_but_keeps_the_test_set():
    splits = data.load("digits", val_size=200)
    kept = splits.keep_classes([0, 1, 2, 4, 5, 6, 7, 8, 9])
    assert 3 not in kept.y_train and 3 not in kept.y_val
    assert len(kept.y_train) == (splits.y_train != 3).sum()
    assert np.array_equal(kept.y_test, splits.y_test) and 3 in kept.y_test
    with pytest.raises(ValueError, match=r"transfer_classes must be class ids in \[0, 10\)"):
        splits.keep_classes([3, 10])


def test_the_cosine_schedule_decays_to_zero_over_all_epochs():
    optimizer = runs.make_optimizer(TEACHER.replace(lr_schedule="cosine", epochs=4), 10)
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    optimizer.iterations.assign(20)
    assert float(optimizer.learning_rate) == pytest.approx(0.005, rel=1e-5)
    optimizer.iterations.assign(40)
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert float(runs.make_optimizer(TEACHER, 10).learning_rate) == pytest.approx(0.01)


def test_a_student_distilled_without_threes_never_trains_on_one(tmp_path):
    record = runs.run(NO_THREES, results_dir=tmp_path, verbose=0)
    splits = runs.load_splits(NO_THREES.replace(transfer_classes=None))
    assert record.row["train_examples"] == (splits.y_train != 3).sum()
    assert record.row["test_count"] == len(splits.y_test)  # every class is tested
    assert record.row["transfer_classes"] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    curves = hinton.bias_shift_curves([record], "omit_3", results_dir=tmp_path)
    assert set(curves["split"]) == {"val", "test"}
    test_curve = curves[curves["split"] == "test"]
    assert test_curve["class_count"].iloc[0] == (splits.y_test == 3).sum()
    assert test_curve.loc[test_curve["shift"] == 0, "errors"].item() == record.row["test_errors"]
    # A large enough shift makes every test 3 right (and the student answer 3 more often).
    assert test_curve["class_errors"].iloc[-1] <= test_curve["class_errors"].iloc[0]


def test_paper_vs_ours_sets_each_number_beside_the_paper():
    main = pd.DataFrame({"role": ["teacher", "scratch", "distilled"],
                         "paper_test_errors": [67, 146, 74], "test_errors_mean": [80.0, 150.0, 90.0],
                         "test_errors_std": [2.0, 5.0, 3.0], "test_errors_count": [3, 3, 3]})
    omitted = pd.DataFrame({"transfer_set": ["omit_3", "omit_3"],
                            "bias": ["none", "shift chosen on validation"],
                            "shift_mean": [0.0, 3.0], "shift_std": [0.0, 0.5],
                            "errors_mean": [300.0, 120.0], "errors_std": [10.0, np.nan],
                            "errors_count": [3, 3], "class_errors_mean": [200.0, 20.0],
                            "class_errors_std": [5.0, 1.0], "paper_shift": [0.0, 3.5],
                            "paper_errors": [206, 109], "paper_class_errors": [133, 14]})
    table = hinton.paper_vs_ours(main, omitted)
    assert table["paper"].tolist() == ["67", "146", "74", "206 (133)", "109 (14)"]
    assert table["ours"].tolist() == ["80.0 ± 2.0", "150.0 ± 5.0", "90.0 ± 3.0",
                                      "300.0 ± 10.0 (200.0 ± 5.0)", "120.0 (20.0 ± 1.0)"]
    assert "bias shift (3.00 ± 0.50; paper 3.5)" in table["experiment"].iloc[4]
    markdown = hinton.format_paper_vs_ours(table)
    assert markdown.splitlines()[2] == "| teacher 1200-1200, test errors | 67 | 80.0 ± 2.0 | 3 |"


def test_ensemble_configs_share_one_ensemble_across_student_seeds():
    configs = hinton.ensemble_configs(seeds=(0, 1, 2), profile="paper")
    teachers = {c.teacher for c in configs}
    assert len(teachers) == 1 and next(iter(teachers)).seed == 0  # one canonical teacher id
    assert [c.seed for c in configs] == [0, 1, 2]
    assert all(c.teacher_seeds == (0, 1, 2) and c.temperature == 20.0 and c.alpha == 0.1
               for c in configs)
    main_teachers = {experiments.hinton_configs(s, "paper")[0] for s in (0, 1, 2)}
    assert {m for c in configs[:1] for m in runs.ensemble_members(c)} == main_teachers


def test_the_ensemble_table_scores_the_averaged_teacher_once_and_the_students_per_seed(tmp_path):
    teacher = runs.RunConfig(dataset="digits", role="teacher", architecture="mlp:16", epochs=2,
                             patience=0, val_size=200, profile="fast", learning_rate=0.01)
    students = [runs.RunConfig(dataset="digits", role="distilled", architecture="mlp:8", epochs=2,
                               patience=0, val_size=200, profile="fast", learning_rate=0.01,
                               teacher=teacher, teacher_seeds=(0, 1), seed=seed)
                for seed in (0, 1)]
    records = [runs.run(c, results_dir=tmp_path, verbose=0) for c in students]
    table = hinton.ensemble_table(records, tmp_path).set_index("role")
    splits = runs.load_splits(students[0])
    averaged = runs.ensemble_logits(students[0], splits, tmp_path)[2]
    assert table.loc["ensemble_teacher", "test_errors_mean"] == (
        averaged.argmax(-1) != splits.y_test).sum()
    errors = [r.row["test_errors"] for r in records]
    assert table.loc["ensemble_distilled", "test_errors_mean"] == pytest.approx(np.mean(errors))
    assert table.loc["ensemble_distilled", "test_errors_count"] == 2
    lines = hinton.paper_vs_ours(ensemble=table.reset_index())
    assert lines["paper"].tolist() == ["-", "-"]
    assert lines["experiment"].iloc[0] == ("ensemble of 2 teachers (averaged logits), "
                                           "test errors")


def test_the_width_and_bias_shift_figures_plot_the_table_values():
    from kd_utils import plots

    table = pd.DataFrame({"width": [30, 30, 30], "student": ["distilled", "distilled", "scratch"],
                          "temperature": [2.0, 8.0, np.nan], "alpha": [0.1, 0.1, 1.0],
                          "test_errors_mean": [300.0, 350.0, 400.0],
                          "test_errors_std": [10.0, np.nan, 5.0]})
    ax = plots.plot_errors_vs_temperature_by_width(table)
    lines = ax.get_lines()
    assert list(lines[0].get_xdata()) == [2.0, 8.0] and list(lines[0].get_ydata()) == [300, 350]
    assert any(list(line.get_ydata()) == [400.0, 400.0] for line in lines)  # the scratch level
    curves = hinton.bias_shift_curve(LOGITS, LABELS, (2,), (0.0, 1.5, 3.5))
    curves = pd.concat([curves.assign(split="val"), curves.assign(split="test")])
    axes = plots.plot_bias_shift_curves(curves, paper_shift=3.5)
    assert list(axes[0].get_lines()[1].get_ydata()) == [50.0, 50.0, 25.0]
    assert list(axes[1].get_lines()[0].get_ydata()) == [0.0, 50.0, 100.0]
    plots.plt.close("all")
