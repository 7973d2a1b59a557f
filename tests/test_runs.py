"""Run records: written, reused without training, atomic, and identified by their config."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from kd_utils import Distiller, experiments, runs
from kd_utils.__main__ import main

TEACHER = runs.RunConfig(dataset="digits", role="teacher", architecture="mlp:32", epochs=3,
                         learning_rate=0.01,
                         patience=0, val_size=200, profile="fast", seed=0)
DISTILLED = runs.RunConfig(dataset="digits", role="distilled", architecture="mlp:8", epochs=3,
                           learning_rate=0.01,
                           patience=0, val_size=200, profile="fast", teacher=TEACHER,
                           temperature=4.0, alpha=0.3, seed=0)


def test_a_run_writes_its_record_and_summary_row(tmp_path):
    record = runs.run(TEACHER, results_dir=tmp_path, verbose=0)
    run_dir = tmp_path / "runs" / TEACHER.run_id
    assert record.trained and record.run_dir == run_dir
    for name in ("config.json", "history.csv", "row.json", "model.keras"):
        assert (run_dir / name).exists(), name
    assert runs.RunConfig.from_dict(json.loads((run_dir / "config.json").read_text())) == TEACHER
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
    record = runs.run(TEACHER.replace(epochs=4, patience=4), results_dir=tmp_path, verbose=0,
                      callbacks=[SpoilAfterFirstEpoch()])
    history = record.history
    assert history["val_accuracy"].iloc[0] > history["val_accuracy"].iloc[1:].max()
    assert record.row["best_epoch"] == 1 and record.row["epochs_trained"] == 4
    assert record.row["val_accuracy"] == pytest.approx(history["val_accuracy"].iloc[0])
    # The test set sees epoch 1's weights, not the spoiled last ones.
    assert record.row["test_accuracy"] > 0.5


def test_a_finished_run_is_read_back_not_retrained(tmp_path, monkeypatch):
    first = runs.run(TEACHER, results_dir=tmp_path, verbose=0)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(Distiller, "fit", no_training)
    again = runs.run(TEACHER, results_dir=tmp_path, verbose=0)
    assert not again.trained and again.row == first.row
    pd.testing.assert_frame_equal(again.history, first.history)
    np.testing.assert_allclose(again.load_model().get_weights()[0], first.model.get_weights()[0])
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 1


def test_a_distilled_run_reuses_its_teacher_and_reports_agreement(tmp_path):
    teacher = runs.run(TEACHER, results_dir=tmp_path, verbose=0)
    distilled = runs.run(DISTILLED, results_dir=tmp_path, verbose=0)
    assert distilled.trained
    assert distilled.row["teacher_run_id"] == TEACHER.run_id
    assert 0.0 <= distilled.row["test_teacher_agreement"] <= 1.0
    for key in ("distillation_loss", "kl_divergence", "teacher_agreement", "val_teacher_agreement"):
        assert key in distilled.history
    summary = runs.read_summary(tmp_path)
    assert sorted(summary["run_id"]) == sorted([TEACHER.run_id, DISTILLED.run_id])
    assert teacher.row == runs.load_record(TEACHER, tmp_path).row  # the teacher was not retrained


def test_a_teacher_record_without_its_model_is_retrained(tmp_path):
    runs.run(TEACHER, results_dir=tmp_path, verbose=0)
    (tmp_path / "runs" / TEACHER.run_id / "model.keras").unlink()  # models are not committed
    model = runs.get_teacher(TEACHER, results_dir=tmp_path, verbose=0)
    assert model.count_params() > 0 and (tmp_path / "runs" / TEACHER.run_id / "model.keras").exists()


def test_an_interrupted_run_leaves_no_row_and_reruns(tmp_path, monkeypatch):
    runs.run(TEACHER, results_dir=tmp_path, verbose=0)
    other = TEACHER.replace(seed=1)
    original_fit = Distiller.fit

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Distiller, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runs.run(other, results_dir=tmp_path, verbose=0)
    assert not runs.is_finished(other, tmp_path)
    assert runs.read_summary(tmp_path)["run_id"].tolist() == [TEACHER.run_id]
    monkeypatch.setattr(Distiller, "fit", original_fit)
    assert runs.run(other, results_dir=tmp_path, verbose=0).trained
    assert len(runs.read_summary(tmp_path)) == 2


def test_run_ids_follow_what_the_run_computes():
    assert TEACHER.run_id == runs.RunConfig.from_dict(TEACHER.to_dict()).run_id
    assert TEACHER.run_id != TEACHER.replace(seed=1).run_id
    assert DISTILLED.run_id != DISTILLED.replace(temperature=8.0).run_id
    assert DISTILLED.run_id != DISTILLED.replace(teacher=TEACHER.replace(epochs=4)).run_id
    # How a run is executed is recorded but does not change what it is.
    assert TEACHER.run_id == TEACHER.replace(jit_compile=True, steps_per_execution=8).run_id
    # T and alpha play no part without soft targets.
    scratch = TEACHER.replace(role="scratch")
    assert scratch.replace(temperature=9.0, alpha=0.2).run_id == scratch.run_id
    assert DISTILLED.run_id.startswith("digits-distilled-mlp8-T4-a0.3-s0-fast-")


def test_execution_settings_default_to_the_measured_ones_per_model_family():
    assert (TEACHER.jit_compile, TEACHER.steps_per_execution) == (True, 32)  # an MLP
    hinton = TEACHER.replace(architecture="hinton_teacher", jit_compile=None,
                             steps_per_execution=None)
    assert (hinton.jit_compile, hinton.steps_per_execution) == (False, 1)  # dropout: no XLA
    explicit = TEACHER.replace(jit_compile=False, steps_per_execution=4)
    assert (explicit.jit_compile, explicit.steps_per_execution) == (False, 4)
    assert explicit.run_id == TEACHER.run_id
    # config.json holds the settings a run used, so a record says how it was executed.
    assert runs.RunConfig.from_dict(explicit.to_dict()) == explicit


@pytest.mark.parametrize("changes,match", [
    (dict(role="student"), "RunConfig.role"),
    (dict(teacher=None), "RunConfig.teacher"),
    (dict(temperature=0.0), "temperature"),
    (dict(alpha=2.0), "alpha"),
    (dict(dataset="imagenet"), "RunConfig.dataset"),
    (dict(epochs=0), "RunConfig.epochs"),
    (dict(optimizer="lion"), "RunConfig.optimizer"),
    (dict(teacher=TEACHER.replace(dataset="moons")), "a teacher trained on 'digits'"),
    (dict(teacher_seeds=(0,)), "RunConfig.teacher_seeds must be None or at least 2"),
    (dict(teacher_seeds=(1, 1)), "RunConfig.teacher_seeds must be None or at least 2"),
    (dict(teacher_seeds=(0, 1), jitter_pixels=2), "teacher_seeds must be None when jitter"),
])
def test_bad_configs_are_rejected_by_field(changes, match):
    with pytest.raises(ValueError, match=match):
        DISTILLED.replace(**changes)


def test_aggregate_gives_mean_std_and_count_per_group():
    summary = pd.DataFrame({
        "dataset": "mnist", "role": ["scratch"] * 3 + ["distilled"] * 2,
        "architecture": "mlp:800,800", "temperature": [1.0, 1.0, 1.0, 20.0, 20.0],
        "alpha": [1.0, 1.0, 1.0, 0.1, 0.1], "test_accuracy": [0.98, 0.982, 0.984, 0.99, 0.992],
        "test_errors": [200, 180, 160, 100, 80], "test_teacher_agreement": np.nan,
    })
    table = runs.aggregate(summary).set_index("role")
    assert table.loc["scratch", "test_errors_mean"] == pytest.approx(180)
    assert table.loc["scratch", "test_errors_std"] == pytest.approx(20)
    assert table.loc["distilled", "test_errors_count"] == 2


def test_compare_command_writes_the_table_then_reuses_its_runs(tmp_path, capsys, require_mnist):
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


def test_compare_command_rejects_bad_alpha_before_training(tmp_path):
    with pytest.raises(ValueError, match="alpha"):
        main(["compare", "--alpha", "1.5", "--results-dir", str(tmp_path)])
    assert not (tmp_path / "runs").exists()


def test_profiles_are_consistent():
    teacher, scratch, distilled = experiments.hinton_configs(seed=2, profile="fast")
    assert distilled.teacher == teacher and teacher.jitter_pixels == 2
    assert scratch.architecture == distilled.architecture == "mlp:800,800"
    assert {c.profile for c in (teacher, scratch, distilled)} == {"fast"}
    with pytest.raises(ValueError, match="profile"):
        experiments.hinton_configs(profile="medium")


def test_a_forced_rerun_reproduces_the_same_weights(tmp_path):
    # A run id stands for its result: retraining a config (say, a teacher whose uncommitted
    # model.keras is missing on a new machine) must give the same model, bit for bit.
    first = runs.run(TEACHER, results_dir=tmp_path, verbose=0)
    again = runs.run(TEACHER, results_dir=tmp_path, verbose=0, force=True)
    assert again.trained
    for a, b in zip(first.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.row["test_errors"] == first.row["test_errors"]


def test_teacher_logits_are_cached_on_disk_and_a_changed_teacher_misses(tmp_path, monkeypatch):
    teacher = runs.get_teacher(TEACHER, results_dir=tmp_path, verbose=0)
    splits = runs.load_splits(TEACHER)
    first = runs.teacher_logits_for(TEACHER, teacher, splits, tmp_path)
    path = runs.teacher_logits_path(TEACHER, teacher, splits, tmp_path)
    assert path.exists() and [a.shape[0] for a in first] == [
        len(splits.x_train), len(splits.x_val), len(splits.x_test)]

    # A new process (empty memory cache) reads the file instead of running the teacher.
    monkeypatch.setattr(runs, "_TEACHER_LOGITS_CACHE", {})
    monkeypatch.setattr(runs, "compute_teacher_logits",
                        lambda *a, **k: pytest.fail("the teacher ran although its logits were cached"))
    for cached, fresh in zip(runs.teacher_logits_for(TEACHER, teacher, splits, tmp_path), first,
                             strict=True):
        np.testing.assert_array_equal(cached, fresh)

    # Change one weight of the teacher: another file, and logits computed anew.
    monkeypatch.undo()
    weights = teacher.get_weights()
    weights[-1] = weights[-1] + 1.0
    teacher.set_weights(weights)
    changed_path = runs.teacher_logits_path(TEACHER, teacher, splits, tmp_path)
    assert changed_path != path
    changed = runs.teacher_logits_for(TEACHER, teacher, splits, tmp_path)
    assert changed_path.exists()
    np.testing.assert_allclose(changed[2], first[2] + 1.0, rtol=1e-5, atol=1e-5)


def test_concurrent_summary_rebuilds_keep_every_row(tmp_path, monkeypatch):
    # Writers that each finish a run and rebuild the summary at once, as a sweep and a notebook
    # sharing a results folder do: the last summary written must hold every finished row.
    import time
    from concurrent.futures import ThreadPoolExecutor

    write = runs.atomic_write_text

    def slow_summary_write(path, text):
        if path.name == "summary.csv":
            # Widen the read-then-write window the lock must guard: a rebuild that read fewer
            # rows waits longer, so without the lock a stale summary would be written last.
            rows_read = text.count("\n") - 1
            time.sleep(0.003 * max(0, 40 - rows_read))
        write(path, text)

    monkeypatch.setattr(runs, "atomic_write_text", slow_summary_write)

    def finish(i):
        row = {"run_id": f"run-{i:02d}", "finished_at": f"2026-01-02T00:00:{i:02d}"}
        write(tmp_path / "runs" / row["run_id"] / "row.json", json.dumps(row))
        runs.write_summary(tmp_path)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(finish, range(40)))
    summary = runs.read_summary(tmp_path)
    assert summary["run_id"].tolist() == [f"run-{i:02d}" for i in range(40)]


def test_a_run_can_start_from_another_runs_trained_weights(tmp_path):
    baseline = TEACHER.replace(role="scratch", architecture="mlp:8", epochs=2)
    base_model = runs.get_model(baseline, results_dir=tmp_path, verbose=0)
    # A learning rate too small to move anything: the continued model keeps the start weights.
    continued = baseline.replace(init_from=baseline, learning_rate=1e-12, epochs=1)
    fresh = continued.replace(init_from=None)
    assert continued.run_id != fresh.run_id and fresh.run_id != baseline.run_id
    continued_model = runs.run(continued, results_dir=tmp_path, verbose=0).model
    fresh_model = runs.run(fresh, results_dir=tmp_path, verbose=0).model
    for start, kept in zip(base_model.get_weights(), continued_model.get_weights(), strict=True):
        np.testing.assert_allclose(kept, start, atol=1e-6)
    assert not np.allclose(fresh_model.get_weights()[0], base_model.get_weights()[0])
    row = json.loads((tmp_path / "runs" / continued.run_id / "row.json").read_text())
    assert row["init_from_run_id"] == baseline.run_id
    assert runs.RunConfig.from_dict(continued.to_dict()) == continued
    with pytest.raises(ValueError, match="RunConfig.init_from must be None or the RunConfig of"):
        baseline.replace(init_from=baseline.replace(architecture="mlp:9"))


def test_a_group_of_runs_writes_the_records_its_runs_would_alone(tmp_path):
    # Jittered students: the teacher runs every batch, which is when groups pay off.
    jittered = DISTILLED.replace(jitter_pixels=1, epochs=4, patience=1)
    configs = [jittered.replace(temperature=t, alpha=a) for t, a in [(1.0, 0.0), (4.0, 0.3),
                                                                     (8.0, 0.9)]]
    alone = [runs.run(c, results_dir=tmp_path / "alone", verbose=0) for c in configs]
    grouped = runs.run_group(configs, results_dir=tmp_path / "group", verbose=0)
    for one, member in zip(alone, grouped, strict=True):
        assert member.trained and member.run_id == one.run_id
        assert list(member.row) == list(one.row)
        assert list(member.history.columns) == list(one.history.columns)
        assert len(member.history) == len(one.history)  # the same early stop
        np.testing.assert_allclose(member.history["val_accuracy"], one.history["val_accuracy"],
                                   atol=1e-6)
        assert member.row["test_errors"] == one.row["test_errors"]
        assert same_weights(member.model.get_weights(), one.model.get_weights(), atol=1e-5)
        group = json.loads((member.run_dir / "group.json").read_text())
        assert group["group_size"] == 3 and group["run_ids"] == [c.run_id for c in configs]
    summary = runs.read_summary(tmp_path / "group")
    students = summary[summary["role"] == "distilled"]
    assert sorted(students["run_id"]) == sorted(c.run_id for c in configs)
    # Finished members are read back, not retrained.
    again = runs.run_group(configs, results_dir=tmp_path / "group", verbose=0)
    assert not any(record.trained for record in again)


def test_a_group_takes_runs_that_differ_in_temperature_and_alpha_only():
    with pytest.raises(ValueError, match="differs .* in seed"):
        runs.run_group([DISTILLED, DISTILLED.replace(seed=1)], verbose=0)
    assert runs.can_group(DISTILLED, DISTILLED.replace(temperature=1.0, alpha=1.0))
    assert not runs.can_group(DISTILLED, DISTILLED.replace(architecture="mlp:9"))


def same_weights(a, b, atol):
    return all(np.allclose(x, y, atol=atol, rtol=0) for x, y in zip(a, b, strict=True))


def test_an_ensemble_teacher_averages_its_members_logits(tmp_path):
    ensemble = DISTILLED.replace(teacher_seeds=[0, 1])  # a list, as JSON gives it back
    assert ensemble.teacher_seeds == (0, 1) and "-ens2-" in ensemble.run_id
    assert runs.RunConfig.from_dict(json.loads(json.dumps(ensemble.to_dict()))) == ensemble
    assert DISTILLED.replace(teacher_seeds=None).run_id == DISTILLED.run_id  # old ids stay
    with pytest.raises(ValueError, match="teacher_seeds must be None when role='scratch'"):
        TEACHER.replace(role="scratch", teacher_seeds=(0, 1))
    record = runs.run(ensemble, results_dir=tmp_path, verbose=0)
    assert all(runs.is_finished(TEACHER.replace(seed=seed), tmp_path) for seed in (0, 1))
    members = [runs.load_record(TEACHER.replace(seed=seed), tmp_path) for seed in (0, 1)]
    splits = runs.load_splits(ensemble)
    member_logits = [runs.teacher_logits_for(m.config, m.load_model(), splits, tmp_path)
                     for m in members]
    averaged = runs.ensemble_logits(ensemble, splits, tmp_path)
    np.testing.assert_allclose(averaged[2], (member_logits[0][2] + member_logits[1][2]) / 2,
                               rtol=1e-6)
    # The members disagree somewhere, so agreement with the average is not agreement with one.
    assert (member_logits[0][2].argmax(-1) != member_logits[1][2].argmax(-1)).any()
    predictions = record.load_model().predict(splits.x_test, verbose=0).argmax(-1)
    assert record.row["test_teacher_agreement"] == pytest.approx(
        (predictions == averaged[2].argmax(-1)).mean())
    assert record.row["teacher_seeds"] == [0, 1]
