"""rohin-dasari (self-distillation): the recipe and the overfitting measure."""

import pandas as pd
import pytest

from kd_experiments import rohin_dasari


def test_self_distillation_configs_follow_the_recipe():
    configs = rohin_dasari.self_distillation_configs(0, "full")
    teacher, student = configs["teacher"], configs["distilled"]
    assert teacher.architecture == student.architecture == "mnist_cnn"
    assert (teacher.train_limit, teacher.epochs, teacher.batch_size, teacher.patience) == (
        10000, 10, 32, 0)
    assert (student.temperature, student.alpha, student.teacher) == (4.0, 0.8, teacher)


class _Record:
    def __init__(self, seed, train, val, test):
        self.config = rohin_dasari.self_distillation_configs(seed, "fast")["teacher"]
        self.history = pd.DataFrame({"accuracy": [0.5, train], "val_accuracy": [0.5, val],
                                     "val_student_loss": [1.0, 0.1]})
        self.row = {"test_accuracy": test}


def test_overfitting_is_the_last_epoch_gap_between_train_and_validation():
    records = {"teacher": [_Record(0, 1.00, 0.97, 0.971), _Record(1, 0.99, 0.97, 0.969)],
               "distilled": [_Record(0, 0.98, 0.975, 0.975), _Record(1, 0.98, 0.975, 0.977)]}
    table = rohin_dasari.overfitting_table(records).set_index("model")
    assert table.loc["teacher", "gap_points_last_mean"] == pytest.approx(2.5)
    assert table.loc["distilled", "gap_points_last_mean"] == pytest.approx(0.5)
    claim = rohin_dasari.self_distillation_claims(table.reset_index())["corrected_here"].item()
    # mean ± std [95% t interval]; t(0.975, 1) = 12.71 for two seeds
    assert "teacher 2.50 ± 0.71 [-3.85, 8.85], student 0.50 ± 0.00 [0.50, 0.50] points" in claim
    assert "student 97.60 ± 0.14% [96.33, 98.87]" in claim
