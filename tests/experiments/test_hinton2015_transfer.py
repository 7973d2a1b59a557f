"""Hinton et al. (2015), omitted classes: the bias-shift analysis, chosen on validation only."""

import numpy as np
import pandas as pd
import pytest
from helpers import DIGITS_TEACHER

from kd_experiments import hinton2015, hinton2015_transfer
from kd_lab import datasets, runner
from kd_lab.config import RunConfig
from kd_utils import plots

TEACHER = DIGITS_TEACHER

NO_THREES = RunConfig(dataset="digits", role="distilled", architecture="mlp:16", epochs=3,
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
    curve = hinton2015_transfer.bias_shift_curve(LOGITS, LABELS, (2,), (0.0, 1.5, 3.5))
    assert curve["errors"].tolist() == [2, 2, 1]
    assert curve["class_errors"].tolist() == [2, 1, 0]
    assert curve["class_count"].tolist() == [2, 2, 2]
    assert curve["error_percent"].tolist() == [50.0, 50.0, 25.0]
    assert curve["class_accuracy_percent"].tolist() == [0.0, 50.0, 100.0]


def test_a_negative_shift_on_several_classes_lowers_their_logits():
    curve = hinton2015_transfer.bias_shift_curve(LOGITS, np.array([1, 1, 1, 1]), (0, 2), (0.0, -10.0))
    assert curve["errors"].tolist() == [3, 0]  # only row 2 says 1 before; every row after
    assert curve["class_count"].tolist() == [0, 0]  # no example of classes 0 or 2


def test_bias_shift_curve_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="logits must be"):
        hinton2015_transfer.bias_shift_curve(LOGITS, LABELS[:3], (2,), (0.0,))


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
    chosen = hinton2015_transfer.choose_shifts(curves)
    # Run a ties at 10 validation errors: the smaller shift wins, although the test set would
    # prefer 4.0. Run b's validation prefers no shift.
    assert dict(zip(chosen["run_id"], chosen["shift"], strict=True)) == {"a": 2.0, "b": 0.0}
    table = hinton2015_transfer.omitted_class_table(curves).set_index("bias")
    assert table.loc["none", "errors_mean"] == 65.0
    assert table.loc["shift chosen on validation", "errors_mean"] == 60.0  # (50 + 70) / 2
    assert table.loc["shift chosen on validation", "errors_count"] == 2
    assert table.loc["shift chosen on validation", "paper_errors"] == 109
    assert table.loc["none", "paper_errors"] == 206 and table.loc["none", "paper_class_errors"] == 133
    # The shifted runs are the unshifted ones measured again: paired differences -10 and 0.
    shifted = table.loc["shift chosen on validation"]
    assert shifted["difference"] == -5.0 and shifted["verdict"] == "no detectable difference"
    assert table.loc["none", "verdict"] == "baseline"
    sentence = hinton2015_transfer.shift_verdicts(table.reset_index())
    assert "paired t test over 2 seeds" in sentence and "omit_3: -5.0 errors" in sentence


def test_a_shift_reported_as_an_error_rate_is_also_given_in_points_of_it():
    import pandas as pd

    row = dict(bias="shift chosen on validation", errors_count=5, difference=-1848.4,
               diff_low=-2130.6, diff_high=-1566.2, p_holm=0.0001, verdict="better",
               errors_mean=1116.8, error_percent_mean=11.168)
    table = pd.DataFrame([{**row, "transfer_set": "only_7_8", "paper_error_percent": 13.2},
                          {**row, "transfer_set": "omit_3", "paper_error_percent": None}])
    sentence = hinton2015_transfer.shift_verdicts(table)
    assert ("only_7_8: -1848.4 errors [-2130.6, -1566.2] (= -18.48 points of test error % "
            "[-21.31, -15.66]), Holm p" in sentence)
    assert "omit_3: -1848.4 errors [-2130.6, -1566.2], Holm p" in sentence  # errors alone


def test_omitted_class_configs_keep_the_teacher_and_drop_the_classes():
    configs = hinton2015_transfer.omitted_class_configs("omit_3", seeds=(0, 1), profile="full")
    for seed, config in enumerate(configs):
        _, _, distilled = hinton2015.hinton_configs(seed, "full")
        assert config.teacher == distilled.teacher and config.seed == seed
        assert config.transfer_classes == (0, 1, 2, 4, 5, 6, 7, 8, 9)
        assert config.run_id != distilled.run_id
    with pytest.raises(ValueError, match="transfer_set must be one of"):
        hinton2015_transfer.omitted_class_configs("omit_4")


def test_a_student_distilled_without_threes_never_trains_on_one(tmp_path):
    record = runner.run(NO_THREES, results_dir=tmp_path, verbose=0)
    splits = datasets.splits_for(NO_THREES.replace(transfer_classes=None))
    assert record.row["train_examples"] == (splits.y_train != 3).sum()
    assert record.row["test_count"] == len(splits.y_test)  # every class is tested
    assert record.row["transfer_classes"] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    curves = hinton2015_transfer.bias_shift_curves([record], "omit_3", results_dir=tmp_path)
    assert set(curves["split"]) == {"val", "test"}
    test_curve = curves[curves["split"] == "test"]
    assert test_curve["class_count"].iloc[0] == (splits.y_test == 3).sum()
    assert test_curve.loc[test_curve["shift"] == 0, "errors"].item() == record.row["test_errors"]
    # A large enough shift makes every test 3 right (and the student answer 3 more often).
    assert test_curve["class_errors"].iloc[-1] <= test_curve["class_errors"].iloc[0]


def test_the_width_and_bias_shift_figures_plot_the_table_values():

    table = pd.DataFrame({"width": [30, 30, 30], "student": ["distilled", "distilled", "scratch"],
                          "temperature": [2.0, 8.0, np.nan], "alpha": [0.1, 0.1, 1.0],
                          "test_errors_mean": [300.0, 350.0, 400.0],
                          "test_errors_std": [10.0, np.nan, 5.0]})
    ax = hinton2015_transfer.plot_errors_vs_temperature_by_width(table)
    lines = ax.get_lines()
    assert list(lines[0].get_xdata()) == [2.0, 8.0] and list(lines[0].get_ydata()) == [300, 350]
    assert any(list(line.get_ydata()) == [400.0, 400.0] for line in lines)  # the scratch level
    curves = hinton2015_transfer.bias_shift_curve(LOGITS, LABELS, (2,), (0.0, 1.5, 3.5))
    curves = pd.concat([curves.assign(split="val"), curves.assign(split="test")])
    axes = hinton2015_transfer.plot_bias_shift_curves(curves, paper_shift=3.5)
    assert list(axes[0].get_lines()[1].get_ydata()) == [50.0, 50.0, 25.0]
    assert list(axes[1].get_lines()[0].get_ydata()) == [0.0, 50.0, 100.0]
    # Labelled with the transfer set's own shifted classes (only 7 and 8 are shifted there,
    # and they are the classes the student saw, not omitted ones)
    axes = hinton2015_transfer.plot_bias_shift_curves(curves.assign(transfer_set="only_7_8"))
    assert axes[0].get_xlabel() == "shift added to the output bias of classes 7 and 8"
    assert axes[1].get_ylabel() == "% of classes 7 and 8 right"
    axes = hinton2015_transfer.plot_bias_shift_curves(curves.assign(transfer_set="omit_3"))
    assert axes[0].get_xlabel() == "shift added to the output bias of class 3"
    plots.plt.close("all")
