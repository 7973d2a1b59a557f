"""tsitsimis: trees on a network's soft labels (moons) and the tiny 784-10-10 student."""

import json

import numpy as np
import pandas as pd
import pytest

from kd_experiments import claims as claims_module
from kd_experiments import tsitsimis
from kd_lab import datasets, records, registry
from kd_utils import losses


def test_the_trees_learn_hard_labels_network_labels_and_soft_labels():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    labels = np.array([0, 1, 0, 1])  # the noisy truth
    logits = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0]])  # says 0, 0, 1, 1
    trees = tsitsimis.fit_moons_trees(x, labels, logits, temperatures=(1.0, 4.0))
    assert list(trees) == ["hard-label tree", "tree on the network's labels",
                           "soft-label tree (T = 1)", "soft-label tree (T = 4)"]
    assert tsitsimis.tree_predict(trees["hard-label tree"], x).tolist() == [0, 1, 0, 1]
    assert tsitsimis.tree_predict(trees["tree on the network's labels"], x).tolist() == [0, 0, 1, 1]
    # A regression tree fits P(class 1) and predicts class 1 above 0.5, at any temperature.
    soft = trees["soft-label tree (T = 1)"]
    np.testing.assert_allclose(soft.predict(x), losses.softmax(logits, 1.0)[:, 1])
    assert tsitsimis.tree_predict(soft, x).tolist() == [0, 0, 1, 1]
    assert tsitsimis.tree_predict(trees["soft-label tree (T = 4)"], x).tolist() == [0, 0, 1, 1]
    assert trees["tree on the network's labels"].get_n_leaves() == 2  # 0, 0 | 1, 1
    assert soft.get_n_leaves() == 4  # one leaf per distinct target


@pytest.mark.slow  # trains networks and trees: the full suite, beside notebook 10 in FAST mode
def test_moons_rows_and_claims_end_to_end(tmp_path):
    rows = tsitsimis.moons_rows(seeds=[0, 1], profile="fast", results_dir=tmp_path)
    assert len(rows) == 2 * 6 and set(rows["seed"]) == {0, 1}
    network = rows[rows["model"] == "network 2-128-128-2"]
    summary = records.read_summary(tmp_path)
    assert sorted(network["test_accuracy"]) == sorted(summary["test_accuracy"])
    assert (rows["test_accuracy"] > 0.75).all()  # moons at noise 0.3 is learnable
    soft = rows[rows["model"] == "soft-label tree (T = 1)"]
    assert (soft["leaves"] > rows.loc[rows["model"] == "hard-label tree", "leaves"].min()).all()

    table = tsitsimis.moons_table(rows)
    assert table["model"].iloc[0] == "network 2-128-128-2"
    assert table.set_index("model").loc["hard-label tree", "reported_accuracy"] == 0.865
    claims = tsitsimis.moons_claims(rows)
    assert claims["reported"].tolist()[:2] == ["86.5%", "90.0%"]
    assert (claims["seeds"] == 2).all()
    hard_seed0 = rows[(rows["seed"] == 0) & (rows["model"] == "hard-label tree")]
    assert claims["as_published_here"].iloc[0] == f"{100 * hard_seed0.test_accuracy.item():.1f}%"


@pytest.mark.slow  # trains one moons network twice (seconds in FAST mode)
def test_a_network_whose_model_is_not_here_is_trained_again_aside(tmp_path, capsys):
    # Models are not committed: redrawing notebook 10's boundaries, or its trees at other
    # temperatures, on a fresh clone must neither fail nor replace the committed record.
    config = tsitsimis.moons_network_config(0, "fast")
    tsitsimis.moons_network(config, tmp_path)
    folder = records.run_dir(config, tmp_path)
    (folder / "model.keras").unlink()
    committed = {f.name: f.read_bytes() for f in folder.iterdir()}
    model, row = tsitsimis.moons_network(config, tmp_path)
    assert "trained again in" in capsys.readouterr().out
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == committed
    assert model.output_shape == (None, 2) and 0.75 < row["test_accuracy"] <= 1


def test_an_unknown_moons_profile_is_refused():
    with pytest.raises(ValueError, match="profile must be one of fast, full"):
        tsitsimis.moons_network_config(0, "paper")


def test_tiny_student_configs_follow_the_recipe():
    configs = tsitsimis.tiny_student_configs(0, "full")
    teacher, scratch = configs["teacher"], configs["scratch"]
    assert teacher.architecture == "conv_dense_teacher" and teacher.epochs == 1
    assert scratch.architecture == "mlp:10" and scratch.epochs == 12 and scratch.batch_size == 32
    assert configs["distilled"].alpha == 0.0 and configs["distilled"].temperature == 3.5
    assert configs["distilled_as_published"].temperature == 1.0
    assert configs["distilled"].teacher == teacher
    with pytest.raises(ValueError, match="profile must be one of fast, full"):
        tsitsimis.tiny_student_configs(0, "paper")


def test_tiny_student_claims_compare_reported_recipe_and_corrected():
    rows = pd.DataFrame({"seed": [0, 1] * 5,
                         "model": [m for m in tsitsimis.TINY_LABELS for _ in range(2)],
                         "test_accuracy": [0.97, 0.98, 0.86, 0.87, 0.89, 0.89, 0.92, 0.94,
                                           0.90, 0.90]})
    claims = tsitsimis.tiny_student_claims(rows).set_index("claim")
    hard = claims.loc["784-10-10 on hard labels, test accuracy"]
    assert (hard.reported, hard.as_published_here, hard.corrected_here) == (
        "86.3%", "86.5 ± 0.7% [80.1, 92.9]", "89.0 ± 0.0% [89.0, 89.0]")  # t(0.975, 1) = 12.71
    halves = claims.loc["distillation halves the test errors (1366 -> 696)"]
    # (13.5% -> 7%) errors is 48% fewer; (11% -> 10%) is 9% fewer.
    assert halves.as_published_here.startswith("48% fewer test errors (Welch p = ")
    # 0.89/0.89 against 0.90/0.90: constant samples, so any difference is certain. The verdict
    # comes with the table's Holm correction (`claims.holm_verdicts`), not before.
    assert halves.corrected_here == "9% fewer test errors (Welch p = 0)"
    shown = claims_module.holm_verdicts(claims.reset_index()).set_index("claim")
    assert shown.loc["distillation halves the test errors (1366 -> 696)", "corrected_here"] == (
        "9% fewer test errors (Welch p = 0, Holm p = 0: better)")
    rows.loc[rows["model"] == "distilled", "test_accuracy"] = [0.80, 0.81]
    worse = tsitsimis.tiny_student_claims(rows).set_index("claim")
    assert worse.loc["distillation halves the test errors (1366 -> 696)",
                     "corrected_here"] == "77% more test errors (Welch p = 0.037)"


def test_double_softmax_trains_a_softmax_output_with_a_from_logits_loss(tmp_path):
    import keras

    from kd_experiments import claims
    from kd_lab import registry

    config = tsitsimis.tiny_student_configs(0, "fast")["scratch"].replace(
        dataset="digits", val_size=200, epochs=5, architecture="mlp:16")
    accuracy = tsitsimis.double_softmax_accuracy(config, tmp_path)
    record = tmp_path / "as_published" / f"{config.run_id}-double_softmax"
    row = json.loads((record / "row.json").read_text())  # a record like any run's
    assert row["test_accuracy"] == accuracy and row["git_commit"] and row["epochs_trained"] == 5
    assert pd.read_csv(record / "history.csv")["epoch"].tolist() == [1, 2, 3, 4, 5]
    (record / "row.json").write_text(json.dumps({"test_accuracy": 0.125}))  # read back:
    assert tsitsimis.double_softmax_accuracy(config, tmp_path) == 0.125

    def trained_accuracy(softmax_twice: bool) -> float:  # the recipe, written out here
        splits = datasets.splits_for(config)
        keras.utils.set_random_seed(config.seed)
        model = registry.build(config.architecture, splits.input_shape, splits.num_classes)
        if softmax_twice:
            model = keras.Sequential([model, keras.layers.Softmax()])
        loss = (claims.cross_entropy_on_outputs if softmax_twice
                else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss)
        model.fit(splits.x_train, splits.y_train, batch_size=config.batch_size,
                  epochs=config.epochs, verbose=0)
        predicted = model.predict(splits.x_test, verbose=0).argmax(axis=1)
        return float((predicted == splits.y_test).mean())

    assert accuracy == trained_accuracy(softmax_twice=True)
    assert accuracy < trained_accuracy(softmax_twice=False)  # the bug costs accuracy


def test_moons_are_registered_and_each_seed_draws_its_own():
    moons = registry.load("moons", val_size=0.1, seed=3)
    assert moons.input_shape == (2,) and set(np.unique(moons.y_train)) == {0, 1}
    assert len(moons.x_test) == 600 and len(moons.x_train) + len(moons.x_val) == 2400
    np.testing.assert_array_equal(moons.x_test, registry.load("moons", val_size=0.1, seed=3).x_test)
    first, second = (datasets.splits_for(tsitsimis.moons_network_config(seed, "fast"))
                     for seed in (0, 1))
    assert not np.array_equal(first.x_test, second.x_test)
    assert len(first.x_train) == 1920 and len(first.x_val) == 480 and len(first.x_test) == 600
