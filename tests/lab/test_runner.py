"""Running configs: records written, reused without training, atomic, grouped, ensembled."""

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import DIGITS_DISTILLED, DIGITS_TEACHER

from kd_lab import datasets, records, runner, teacher_logits
from kd_lab.config import RunConfig
from kd_utils import Distiller

TEACHER = DIGITS_TEACHER

DISTILLED = DIGITS_DISTILLED


def test_a_run_writes_its_record_and_summary_row(tmp_path):
    record = runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    run_dir = tmp_path / "runs" / TEACHER.run_id
    assert record.trained and record.run_dir == run_dir
    for name in ("config.json", "history.csv", "row.json", "model.keras"):
        assert (run_dir / name).exists(), name
    assert RunConfig.from_dict(json.loads((run_dir / "config.json").read_text())) == TEACHER
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["run_id"].tolist() == [TEACHER.run_id]
    row = summary.iloc[0]
    # The reported epoch is the best validation epoch, and the test numbers are consistent.
    assert row.best_epoch == history["val_accuracy"].to_numpy().argmax() + 1
    assert row.val_accuracy == pytest.approx(history["val_accuracy"].max())
    assert row.test_count == 360 and row.test_accuracy == pytest.approx(1 - row.test_errors / 360)
    assert row.test_accuracy > 0.5  # 3 epochs on digits learn something
    assert row.tf_version and row.keras_version and row.git_commit
    assert not list(tmp_path.rglob("*.tmp"))


class SpoilAfterFirstEpoch(keras.callbacks.Callback):
    """Zeroes the model's weights after epoch 1, so that epoch 1 stays the best one."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= 1:
            self.model.set_weights([np.zeros_like(w) for w in self.model.get_weights()])


def test_the_best_validation_epoch_is_kept_and_reported(tmp_path):
    record = runner.run(TEACHER.replace(epochs=4, patience=4), results_dir=tmp_path, verbose=0,
                        callbacks=[SpoilAfterFirstEpoch()])
    history = record.history
    assert history["val_accuracy"].iloc[0] > history["val_accuracy"].iloc[1:].max()
    assert record.row["best_epoch"] == 1 and record.row["epochs_trained"] == 4
    assert record.row["val_accuracy"] == pytest.approx(history["val_accuracy"].iloc[0])
    # The test set sees epoch 1's weights, not the spoiled last ones.
    assert record.row["test_accuracy"] > 0.5


class OverconfidentAfterFirstEpoch(keras.callbacks.Callback):
    """From epoch 2 on, validates the student with its logits scaled by 1,000.

    The scaling keeps every prediction (so validation accuracy is the model's own) but makes
    each wrong one cost about 1,000 times its margin: validation loss is best at epoch 1
    while accuracy, still improving, is best later.
    """

    def on_test_begin(self, logs=None):
        self.scale = 1000.0 if self.epoch >= 1 else 1.0
        self._rescale(self.scale)

    def on_test_end(self, logs=None):
        self._rescale(1 / self.scale)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _rescale(self, factor):
        last = [layer for layer in self.model.student.layers if layer.weights][-1]
        last.set_weights([w * factor for w in last.get_weights()])


def test_a_run_can_select_its_epoch_by_validation_loss(tmp_path):
    config = DISTILLED.replace(epochs=3, patience=3)
    by_loss = runner.run(config.replace(monitor="val_loss"), results_dir=tmp_path, verbose=0,
                         callbacks=[OverconfidentAfterFirstEpoch()])
    by_accuracy = runner.run(config, results_dir=tmp_path, verbose=0,
                             callbacks=[OverconfidentAfterFirstEpoch()])
    loss, accuracy = by_loss.history["val_loss"], by_accuracy.history["val_accuracy"]
    assert loss.to_numpy().argmin() == 0 and accuracy.to_numpy().argmax() > 0
    assert by_loss.row["best_epoch"] == 1
    assert by_accuracy.row["best_epoch"] == accuracy.to_numpy().argmax() + 1
    assert by_loss.row["val_accuracy"] == pytest.approx(by_loss.history["val_accuracy"].iloc[0])
    assert by_loss.run_id != by_accuracy.run_id


def test_a_finished_run_is_read_back_not_retrained(tmp_path, monkeypatch):
    first = runner.run(TEACHER, results_dir=tmp_path, verbose=0)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(Distiller, "fit", no_training)
    again = runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    assert not again.trained and again.row == first.row
    pd.testing.assert_frame_equal(again.history, first.history)
    np.testing.assert_allclose(again.load_model().get_weights()[0], first.model.get_weights()[0])
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 1


def test_a_distilled_run_reuses_its_teacher_and_reports_agreement(tmp_path):
    teacher = runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    distilled = runner.run(DISTILLED, results_dir=tmp_path, verbose=0)
    assert distilled.trained
    assert distilled.row["teacher_run_id"] == TEACHER.run_id
    assert 0.0 <= distilled.row["test_teacher_agreement"] <= 1.0
    for key in ("distillation_loss", "kl_divergence", "teacher_agreement", "val_teacher_agreement"):
        assert key in distilled.history
    summary = records.read_summary(tmp_path)
    assert sorted(summary["run_id"]) == sorted([TEACHER.run_id, DISTILLED.run_id])
    assert teacher.row == records.load_record(TEACHER, tmp_path).row  # the teacher was not retrained


def test_an_interrupted_run_leaves_no_row_and_reruns(tmp_path, monkeypatch):
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    other = TEACHER.replace(seed=1)
    original_fit = Distiller.fit

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Distiller, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run(other, results_dir=tmp_path, verbose=0)
    assert not records.is_finished(other, tmp_path)
    assert records.read_summary(tmp_path)["run_id"].tolist() == [TEACHER.run_id]
    monkeypatch.setattr(Distiller, "fit", original_fit)
    assert runner.run(other, results_dir=tmp_path, verbose=0).trained
    assert len(records.read_summary(tmp_path)) == 2


@pytest.mark.parametrize("changes,match", [
    (dict(role="student"), "RunConfig.role"),
    (dict(teacher=None), "RunConfig.teacher"),
    (dict(temperature=0.0), "temperature"),
    (dict(alpha=2.0), "alpha"),
    (dict(dataset="imagenet"), "RunConfig.dataset"),
    (dict(epochs=0), "RunConfig.epochs"),
    (dict(optimizer="lion"), "RunConfig.optimizer"),
    (dict(monitor="accuracy"), "RunConfig.monitor must be one of val_accuracy, val_loss"),
    (dict(teacher=TEACHER.replace(dataset="mnist")), "a teacher trained on 'digits'"),
    (dict(teacher_seeds=(0,)), "RunConfig.teacher_seeds must be None or at least 2"),
    (dict(teacher_seeds=(1, 1)), "RunConfig.teacher_seeds must be None or at least 2"),
    (dict(teacher_seeds=(0, 1), jitter_pixels=2), "teacher_seeds must be None when jitter"),
])
def test_bad_configs_are_rejected_by_field(changes, match):
    with pytest.raises(ValueError, match=match):
        DISTILLED.replace(**changes)


def test_a_forced_rerun_reproduces_the_same_weights(tmp_path):
    # A run id stands for its result: retraining a config (say, a teacher whose uncommitted
    # model.keras is missing on a new machine) must give the same model, bit for bit.
    first = runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    again = runner.run(TEACHER, results_dir=tmp_path, verbose=0, force=True)
    assert again.trained
    for a, b in zip(first.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.row["test_errors"] == first.row["test_errors"]


def test_a_run_can_start_from_another_runs_trained_weights(tmp_path):
    baseline = TEACHER.replace(role="scratch", architecture="mlp:8", epochs=2)
    base_model = runner.get_or_train_model(baseline, results_dir=tmp_path, verbose=0)
    # A learning rate too small to move anything: the continued model keeps the start weights.
    continued = baseline.replace(init_from=baseline, learning_rate=1e-12, epochs=1)
    fresh = continued.replace(init_from=None)
    assert continued.run_id != fresh.run_id and fresh.run_id != baseline.run_id
    continued_model = runner.run(continued, results_dir=tmp_path, verbose=0).model
    fresh_model = runner.run(fresh, results_dir=tmp_path, verbose=0).model
    for start, kept in zip(base_model.get_weights(), continued_model.get_weights(), strict=True):
        np.testing.assert_allclose(kept, start, atol=1e-6)
    assert not np.allclose(fresh_model.get_weights()[0], base_model.get_weights()[0])
    row = json.loads((tmp_path / "runs" / continued.run_id / "row.json").read_text())
    assert row["init_from_run_id"] == baseline.run_id
    assert RunConfig.from_dict(continued.to_dict()) == continued
    with pytest.raises(ValueError, match="RunConfig.init_from must be None or the RunConfig of"):
        baseline.replace(init_from=baseline.replace(architecture="mlp:9"))


def test_an_ensemble_teacher_averages_its_members_logits(tmp_path):
    ensemble = DISTILLED.replace(teacher_seeds=[0, 1])  # a list, as JSON gives it back
    assert ensemble.teacher_seeds == (0, 1) and "-ens2-" in ensemble.run_id
    assert RunConfig.from_dict(json.loads(json.dumps(ensemble.to_dict()))) == ensemble
    assert DISTILLED.replace(teacher_seeds=None).run_id == DISTILLED.run_id  # old ids stay
    with pytest.raises(ValueError, match="teacher_seeds must be None when role='scratch'"):
        TEACHER.replace(role="scratch", teacher_seeds=(0, 1))
    record = runner.run(ensemble, results_dir=tmp_path, verbose=0)
    assert all(records.is_finished(TEACHER.replace(seed=seed), tmp_path) for seed in (0, 1))
    members = [records.load_record(TEACHER.replace(seed=seed), tmp_path) for seed in (0, 1)]
    splits = datasets.splits_for(ensemble)
    member_logits = [teacher_logits.teacher_logits_for(m.config, m.load_model(), splits, tmp_path)
                     for m in members]
    averaged = runner.teacher_of(ensemble, splits, tmp_path)[1]
    np.testing.assert_allclose(averaged[2], (member_logits[0][2] + member_logits[1][2]) / 2,
                               rtol=1e-6)
    # The members disagree somewhere, so agreement with the average is not agreement with one.
    assert (member_logits[0][2].argmax(-1) != member_logits[1][2].argmax(-1)).any()
    predictions = record.load_model().predict(splits.x_test, verbose=0).argmax(-1)
    assert record.row["test_teacher_agreement"] == pytest.approx(
        (predictions == averaged[2].argmax(-1)).mean())
    assert record.row["teacher_seeds"] == [0, 1]


def test_a_run_announces_what_it_trains_and_for_how_long_before_it_starts(tmp_path, capsys):
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line.startswith(f"training {TEACHER.run_id}: 3 epochs on ")
    assert "duration unknown" in first_line  # no digits run among the committed records
    runner.run(TEACHER, results_dir=tmp_path, verbose=0)
    assert capsys.readouterr().out == ""  # read back: nothing trains, nothing announced


def test_the_estimate_scales_the_median_run_of_the_same_model_and_dataset(tmp_path,
                                                                          monkeypatch):
    # A synthetic summary, so the expected minutes do not depend on how fast this machine (or
    # the one that trained the committed runs) is: seconds per epoch and example are 1e-4, 2e-4,
    # 9e-4.
    synthetic = pd.DataFrame({"architecture": ["mlp:8", "mlp:8", "mlp:8", "mlp:8", "mlp:9"],
                              "dataset": ["mnist", "mnist", "mnist", "fashion_mnist", "mnist"],
                              "epochs_trained": [10, 5, 2, 10, 10], "train_examples": [1000] * 5,
                              "wall_seconds": [1.0, 1.0, 1.8, 50.0, 50.0]})
    monkeypatch.setattr(records, "read_summary", lambda results_dir: synthetic if Path(
        results_dir) == tmp_path else pd.DataFrame())
    config = TEACHER.replace(dataset="mnist", architecture="mlp:8", epochs=30)
    minutes, runs = records.estimated_minutes(config, 6000, results_dir=tmp_path)
    assert runs == 3 and minutes == pytest.approx(2e-4 * 6000 * 30 / 60)  # the median: 2e-4
    half, _ = records.estimated_minutes(config.replace(epochs=15), 6000, results_dir=tmp_path)
    assert half == pytest.approx(minutes / 2)
    assert records.estimated_minutes(config.replace(architecture="mlp:7,7"), 1000,
                                     results_dir=tmp_path) is None
    assert records.estimated_minutes(config, 6000, results_dir=tmp_path / "empty") is None


def test_the_committed_full_teachers_give_an_estimate():
    from kd_experiments import hinton2015

    teacher = hinton2015.hinton_configs(0, "full")[0]
    minutes, runs = records.estimated_minutes(teacher, 55_000)
    assert runs >= 3 and minutes > 0  # its size follows the machines that trained them


def test_tensorboard_logs_each_run_in_its_own_folder(tmp_path):
    runner.run(TEACHER, results_dir=tmp_path, verbose=0, tensorboard_dir=tmp_path / "tb")
    assert list((tmp_path / "tb" / TEACHER.run_id / "validation").glob("events.out.tfevents.*"))


def test_controls_and_a_hidden_layer_loss_train_end_to_end(tmp_path):
    class_mean = DIGITS_DISTILLED.replace(soft_targets="class_mean")
    record = runner.run(class_mean, results_dir=tmp_path, verbose=0)
    assert "-class_mean-" in record.run_id and record.row["soft_targets"] == "class_mean"
    regularised = DIGITS_DISTILLED.replace(role="scratch", teacher=None,
                                           architecture="mlp:8+dropout", jitter_pixels=1)
    assert runner.run(regularised, results_dir=tmp_path, verbose=0).row["test_errors"] >= 0
    hint = DIGITS_DISTILLED.replace(loss="hint", loss_params={"teacher_layer": "hidden_1",
                                                             "student_layer": "hidden_1"})
    history = runner.run(hint, results_dir=tmp_path, verbose=0).history
    assert "distillation_loss" in history.columns


def test_a_results_dir_that_is_a_file_is_refused_by_name_before_training(tmp_path, monkeypatch):
    a_file = tmp_path / "results.txt"
    a_file.write_text("")
    monkeypatch.setattr(runner, "inputs_of", lambda *a, **k: pytest.fail("it started training"))
    for results in (a_file, a_file / "inside"):
        with pytest.raises(ValueError, match=r"^results_dir: .*results\.txt' is a file, not a folder"):
            runner.run(TEACHER, results_dir=results, verbose=0)
