"""Stacked runs: each member writes the record its own run writes, in the batches its own run
sees; finished members are not retrained; which configs stack, and the errors for the rest.

Tolerance: float summation order differs between a stack and one run (see test_stacking), so
weights are compared to 1e-5 and histories to 1e-5; best epochs, early stops and test errors
must be equal.
"""

import json
import shutil

import numpy as np
import pytest
from helpers import DIGITS_DISTILLED, same_weights

from kd_lab import datasets, records, runner, stack_runs
from kd_utils import pipeline

# A high rate and patience 1, so that alone the members stop at different epochs. Member 1
# is a run from scratch (a sweep's alpha = 1 baseline), member 2 distils its own teacher seed.
BASE = DIGITS_DISTILLED.replace(epochs=6, patience=1, learning_rate=0.1)
CONFIGS = [BASE.replace(seed=0, temperature=4.0, alpha=0.3),
           BASE.replace(seed=1, role="scratch", teacher=None),
           BASE.replace(seed=2, temperature=8.0, alpha=0.0, teacher=BASE.teacher.replace(seed=2)),
           BASE.replace(seed=0, temperature=2.0, alpha=0.9)]


def test_a_stack_writes_the_records_its_runs_write_alone(tmp_path):
    alone = [runner.run(c, results_dir=tmp_path / "alone", verbose=0) for c in CONFIGS]
    # The stack distils the same trained teachers (copied, not trained again), and one member
    # finished before the stack starts: it is read back, not retrained.
    for config in (CONFIGS[0].teacher, CONFIGS[2].teacher, CONFIGS[3]):
        shutil.copytree(records.run_dir(config, tmp_path / "alone"),
                        records.run_dir(config, tmp_path / "stack"))
    stacked = stack_runs.run_stack(CONFIGS, results_dir=tmp_path / "stack")
    assert [r.trained for r in stacked] == [True, True, True, False]
    for one, member in zip(alone, stacked, strict=True):
        assert member.run_id == one.run_id and list(member.row) == list(one.row)
        assert list(member.history.columns) == list(one.history.columns)
        assert len(member.history) == len(one.history)  # the same early stop
        assert member.row["best_epoch"] == one.row["best_epoch"]
        assert member.row["test_errors"] == one.row["test_errors"]
        for column in ("loss", "val_accuracy", "val_loss"):
            np.testing.assert_allclose(member.history[column], one.history[column], atol=1e-5)
        assert same_weights(member.load_model().get_weights(), one.load_model().get_weights(), atol=1e-5)
    stop_epochs = {len(r.history) for r in alone}
    assert len(stop_epochs) > 1  # the members did stop at different epochs
    note = json.loads((stacked[0].run_dir / "stack.json").read_text())
    assert note["stack_size"] == 3 and note["run_ids"] == [c.run_id for c in CONFIGS[:3]]
    again = stack_runs.run_stack(CONFIGS, results_dir=tmp_path / "stack")
    assert not any(record.trained for record in again)


def test_each_column_sees_the_batches_of_its_own_runs_dataset():
    splits = datasets.splits_for(BASE)
    x, y = splits.x_train, splits.y_train
    seeds = [3, 0]
    logits = np.random.default_rng(0).normal(size=(len(seeds), len(x), 10)).astype("float32")
    stacked = stack_runs.stacked_dataset(x, y, logits, 64, seeds)  # column k: teacher k's
    own = []
    for k, seed in enumerate(seeds):
        import keras

        keras.utils.set_random_seed(seed)  # as runner.build_student leaves it
        own.append(pipeline.make_dataset(x, y, logits[k], 64, shuffle=True, seed=seed))
    for _ in range(3):  # three passes: each reshuffles every column as its run reshuffles
        for step, (inputs, labels) in enumerate(stacked):
            for k, dataset in enumerate(own):
                if step == 0:
                    own_batches = list(dataset)
                    own[k] = (dataset, own_batches)
                own_inputs, own_labels = own[k][1][step]
                np.testing.assert_array_equal(inputs["inputs"][:, k], own_inputs["inputs"])
                np.testing.assert_array_equal(inputs["teacher_logits"][:, k],
                                              own_inputs["teacher_logits"])
                np.testing.assert_array_equal(labels[:, k], own_labels)
        own = [dataset for dataset, _ in own]


def test_only_runs_that_differ_in_seed_temperature_and_alpha_stack():
    assert stack_runs.can_stack(BASE, BASE.replace(seed=4, temperature=1.0, alpha=1.0))
    assert not stack_runs.can_stack(BASE, BASE.replace(epochs=9))
    assert stack_runs.can_stack(BASE, BASE.replace(role="scratch", teacher=None))
    assert stack_runs.can_stack(BASE, BASE.replace(teacher=BASE.teacher.replace(seed=5)))
    other_teacher = BASE.replace(teacher=BASE.teacher.replace(epochs=9))
    assert not stack_runs.can_stack(BASE, other_teacher)
    with pytest.raises(ValueError, match="differs .* in teacher.epochs; a stack's runs"):
        stack_runs.run_stack([BASE, other_teacher])
    assert not stack_runs.stackable(BASE.replace(jitter_pixels=1))
    assert not stack_runs.stackable(BASE.replace(architecture="mnist_cnn"))
    assert stack_runs.stackable(BASE.replace(architecture="mlp:100,100"))
    assert not stack_runs.stackable(BASE.replace(architecture="mlp:800,800"))  # compute-bound
    with pytest.raises(ValueError, match="differs .* in epochs; a stack's runs may differ"):
        stack_runs.run_stack([BASE, BASE.replace(epochs=9)])
    with pytest.raises(ValueError, match="cannot stack .* runner.run"):
        stack_runs.run_stack([BASE.replace(jitter_pixels=1)])


def test_stacks_are_formed_by_key_and_capped_by_size():
    other = BASE.replace(architecture="mlp:9")
    configs = [BASE.replace(seed=0), other, BASE.replace(seed=1), BASE.replace(seed=2),
               BASE.replace(jitter_pixels=1)]
    stacks = stack_runs.training_stacks(configs, 2)
    assert [[c.run_id for c in s] for s in stacks] == [
        [configs[0].run_id, configs[2].run_id], [other.run_id], [configs[3].run_id],
        [configs[4].run_id]]
    assert len(stack_runs.training_stacks(configs, 1)) == len(configs)
    with pytest.raises(ValueError, match="stack_size must be a positive integer"):
        stack_runs.training_stacks(configs, 0)


@pytest.mark.slow
def test_a_killed_stack_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    configs = CONFIGS[:2]
    reference = stack_runs.run_stack(configs, results_dir=tmp_path / "whole")
    from kd_lab import resume

    real_fit = resume.fit_resumably

    def killed_after_two_epochs(model, *args, **kwargs):
        import keras

        class Kill(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1:
                    raise KeyboardInterrupt

        kwargs["callbacks"] = [*kwargs.get("callbacks", []), Kill()]
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(resume, "fit_resumably", killed_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        stack_runs.run_stack(configs, results_dir=tmp_path / "killed")
    monkeypatch.setattr(resume, "fit_resumably", real_fit)
    assert not any(records.is_finished(c, tmp_path / "killed") for c in configs)
    resumed = stack_runs.run_stack(configs, results_dir=tmp_path / "killed")
    for one, again in zip(reference, resumed, strict=True):
        assert len(again.history) == len(one.history)
        assert again.row["test_errors"] == one.row["test_errors"]
        assert same_weights(again.load_model().get_weights(), one.load_model().get_weights(), atol=1e-6)
