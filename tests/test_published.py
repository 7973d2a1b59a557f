"""Public repositories' claims re-run: the moons decision-tree experiment and the claims table."""

import numpy as np
import pandas as pd
import pytest

from kd_utils import published, runs


def test_softmax_at_a_temperature_matches_hand_values():
    probabilities = published._softmax([[0.0, np.log(3.0)], [1000.0, 0.0]], temperature=1.0)
    np.testing.assert_allclose(probabilities, [[0.25, 0.75], [1.0, 0.0]], atol=1e-12)
    softened = published._softmax([[0.0, 2 * np.log(3.0)]], temperature=2.0)
    np.testing.assert_allclose(softened, [[0.25, 0.75]])


def test_the_trees_learn_hard_labels_network_labels_and_soft_labels():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    labels = np.array([0, 1, 0, 1])  # the noisy truth
    logits = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0]])  # says 0, 0, 1, 1
    trees = published.fit_moons_trees(x, labels, logits, temperatures=(1.0, 4.0))
    assert list(trees) == ["hard-label tree", "tree on the network's labels",
                           "soft-label tree (T = 1)", "soft-label tree (T = 4)"]
    assert published.tree_predict(trees["hard-label tree"], x).tolist() == [0, 1, 0, 1]
    assert published.tree_predict(trees["tree on the network's labels"], x).tolist() == [0, 0, 1, 1]
    # A regression tree fits P(class 1) and predicts class 1 above 0.5, at any temperature.
    soft = trees["soft-label tree (T = 1)"]
    np.testing.assert_allclose(soft.predict(x), published._softmax(logits, 1.0)[:, 1])
    assert published.tree_predict(soft, x).tolist() == [0, 0, 1, 1]
    assert published.tree_predict(trees["soft-label tree (T = 4)"], x).tolist() == [0, 0, 1, 1]
    assert trees["tree on the network's labels"].get_n_leaves() == 2  # 0, 0 | 1, 1
    assert soft.get_n_leaves() == 4  # one leaf per distinct target


def test_each_seed_draws_its_own_moons_but_real_datasets_keep_one_split():
    first, second = (runs.load_splits(published.moons_network_config(seed, "fast"))
                     for seed in (0, 1))
    assert not np.array_equal(first.x_test, second.x_test)
    assert len(first.x_train) == 1920 and len(first.x_val) == 480 and len(first.x_test) == 600
    digits = runs.RunConfig(dataset="digits", role="teacher", architecture="mlp:8", val_size=200)
    np.testing.assert_array_equal(runs.load_splits(digits).x_val,
                                  runs.load_splits(digits.replace(seed=5)).x_val)


def test_moons_rows_and_claims_end_to_end(tmp_path):
    rows = published.moons_rows(seeds=[0, 1], profile="fast", results_dir=tmp_path)
    assert len(rows) == 2 * 6 and set(rows["seed"]) == {0, 1}
    network = rows[rows["model"] == "network 2-128-128-2"]
    summary = runs.read_summary(tmp_path)
    assert sorted(network["test_accuracy"]) == sorted(summary["test_accuracy"])
    assert (rows["test_accuracy"] > 0.75).all()  # moons at noise 0.3 is learnable
    soft = rows[rows["model"] == "soft-label tree (T = 1)"]
    assert (soft["leaves"] > rows.loc[rows["model"] == "hard-label tree", "leaves"].min()).all()

    table = published.moons_table(rows)
    assert table["model"].iloc[0] == "network 2-128-128-2"
    assert table.set_index("model").loc["hard-label tree", "reported_accuracy"] == 0.865
    claims = published.moons_claims(rows)
    assert claims["reported"].tolist()[:2] == ["86.5%", "90.0%"]
    assert (claims["seeds"] == 2).all()
    hard_seed0 = rows[(rows["seed"] == 0) & (rows["model"] == "hard-label tree")]
    assert claims["as_published_here"].iloc[0] == f"{100 * hard_seed0.test_accuracy.item():.1f}%"


def test_seed_reproductions_rows_are_replaced_by_claim_not_duplicated(tmp_path):
    def claims(value, claim="c1"):
        return pd.DataFrame([{"source": "repo/a", "claim": claim, "reported": "1%",
                              "as_published_here": "", "corrected_here": value, "seeds": 3,
                              "data": "d"}])

    published.write_seed_reproductions(claims("10%"), tmp_path)
    published.write_seed_reproductions(claims("20%", "c2"), tmp_path)
    path = published.write_seed_reproductions(claims("30%"), tmp_path)
    table = pd.read_csv(path, keep_default_na=False)
    assert table["claim"].tolist() == ["c2", "c1"]
    assert table["corrected_here"].tolist() == ["20%", "30%"]
    assert table["as_published_here"].tolist() == ["", ""]


def test_an_unknown_moons_profile_is_refused():
    with pytest.raises(ValueError, match="profile must be one of fast, full"):
        published.moons_network_config(0, "paper")


def test_tiny_student_configs_follow_the_recipe():
    configs = published.tiny_student_configs(0, "full")
    teacher, scratch = configs["teacher"], configs["scratch"]
    assert teacher.architecture == "conv_dense_teacher" and teacher.epochs == 1
    assert scratch.architecture == "mlp:10" and scratch.epochs == 12 and scratch.batch_size == 32
    assert configs["distilled"].alpha == 0.0 and configs["distilled"].temperature == 3.5
    assert configs["distilled_as_published"].temperature == 1.0
    assert configs["distilled"].teacher == teacher
    with pytest.raises(ValueError, match="profile must be one of fast, full"):
        published.tiny_student_configs(0, "paper")


def test_tiny_student_claims_compare_reported_recipe_and_corrected():
    rows = pd.DataFrame({"seed": [0, 1] * 5,
                         "model": [m for m in published.TINY_LABELS for _ in range(2)],
                         "test_accuracy": [0.97, 0.98, 0.86, 0.87, 0.89, 0.89, 0.92, 0.94,
                                           0.90, 0.90]})
    claims = published.tiny_student_claims(rows).set_index("claim")
    hard = claims.loc["784-10-10 on hard labels, test accuracy"]
    assert (hard.reported, hard.as_published_here, hard.corrected_here) == (
        "86.3%", "86.5 ± 0.7%", "89.0 ± 0.0%")
    halves = claims.loc["distillation halves the test errors (1366 -> 696)"]
    # (13.5% -> 7%) errors is 48% fewer; (11% -> 10%) is 9% fewer.
    assert halves.as_published_here == "48% fewer test errors"
    assert halves.corrected_here == "9% fewer test errors"
    rows.loc[rows["model"] == "distilled", "test_accuracy"] = 0.80
    worse = published.tiny_student_claims(rows).set_index("claim")
    assert worse.loc["distillation halves the test errors (1366 -> 696)",
                     "corrected_here"] == "82% more test errors"


def test_double_softmax_trains_a_softmax_output_with_a_from_logits_loss():
    config = published.tiny_student_configs(0, "fast")["scratch"].replace(
        dataset="digits", val_size=200, epochs=2, architecture="mlp:16")
    accuracy = published.double_softmax_accuracy(config)
    assert 0.0 < accuracy < 1.0


def test_continue_configs_differ_only_in_where_the_distilled_student_starts():
    configs = published.continue_configs(0, "full")
    continued, fresh = configs["distilled_continued"], configs["distilled_fresh"]
    assert continued.init_from == configs["scratch"] and fresh.init_from is None
    assert continued.replace(init_from=None) == fresh
    assert (fresh.optimizer, fresh.learning_rate, fresh.momentum, fresh.weight_decay) == (
        "sgd", 0.01, 0.9, 1e-5)
    assert (fresh.temperature, fresh.alpha, fresh.epochs, fresh.batch_size) == (10.0, 0.5, 30, 128)
    assert configs["teacher"].architecture == "mlp:1200,1200"
    assert configs["scratch_continued"].role == "scratch"


def test_continue_claims_report_gains_in_points():
    rows = pd.DataFrame({"seed": [0, 1] * 5,
                         "model": [m for m in published.CONTINUE_LABELS for _ in range(2)],
                         "test_accuracy": [0.982, 0.984, 0.979, 0.979, 0.981, 0.981, 0.980,
                                           0.980, 0.9805, 0.9805],
                         "test_errors": [0] * 10, "train_examples": [55000] * 10})
    claims = published.continue_claims(rows).set_index("claim")
    assert claims.loc["teacher 784-1200-1200-10, test accuracy", "reported"] == "98.19%"
    assert claims.loc["teacher 784-1200-1200-10, test accuracy",
                      "as_published_here"] == "98.30 ± 0.14%"
    gain = claims.loc["distillation improves the student"]
    assert gain.reported == "+0.20 points"
    assert gain.as_published_here == "+0.20 points over the student"
    assert gain.corrected_here == ("+0.10 points over the student; continuing on hard labels "
                                   "alone: +0.15 points over the student")


def test_self_distillation_configs_follow_the_recipe():
    configs = published.self_distillation_configs(0, "full")
    teacher, student = configs["teacher"], configs["distilled"]
    assert teacher.architecture == student.architecture == "mnist_cnn"
    assert (teacher.train_limit, teacher.epochs, teacher.batch_size, teacher.patience) == (
        10000, 10, 32, 0)
    assert (student.temperature, student.alpha, student.teacher) == (4.0, 0.8, teacher)


class _Record:
    def __init__(self, seed, train, val, test):
        self.config = published.self_distillation_configs(seed, "fast")["teacher"]
        self.history = pd.DataFrame({"accuracy": [0.5, train], "val_accuracy": [0.5, val],
                                     "val_student_loss": [1.0, 0.1]})
        self.row = {"test_accuracy": test}


def test_overfitting_is_the_last_epoch_gap_between_train_and_validation():
    records = {"teacher": [_Record(0, 1.00, 0.97, 0.971), _Record(1, 0.99, 0.97, 0.969)],
               "distilled": [_Record(0, 0.98, 0.975, 0.975), _Record(1, 0.98, 0.975, 0.977)]}
    table = published.overfitting_table(records).set_index("model")
    assert table.loc["teacher", "gap_points_last_mean"] == pytest.approx(2.5)
    assert table.loc["distilled", "gap_points_last_mean"] == pytest.approx(0.5)
    claim = published.self_distillation_claims(table.reset_index())["corrected_here"].item()
    assert "teacher 2.50 ± 0.71, student 0.50 ± 0.00 points" in claim
    assert "student 97.60 ± 0.14%" in claim


def test_alpha_without_t2_keeps_the_published_ratio_of_hard_to_soft():
    alpha = published.alpha_without_t2(0.5, 10.0)
    assert alpha == pytest.approx(50 / 51)
    assert alpha / ((1 - alpha) * 10.0 ** 2) == pytest.approx(0.5)


def test_emnist_runs_end_to_end_on_mock_data_and_leaves_no_mock_behind(tmp_path):
    with published.mock_emnist_letters(examples_per_letter=8):
        rows = published.emnist_rows(seeds=[0], profile="fast", results_dir=tmp_path)
    assert rows["model"].tolist() == ["teacher", "scratch", "distilled"]
    assert rows["test_accuracy"].between(0, 1).all()
    assert not runs._SPLITS_CACHE  # a later real load cannot be served mock images
    distilled = runs.read_summary(tmp_path).set_index("role").loc["distilled"]
    assert distilled.architecture == "emnist_student" and distilled.test_count == 8 * 26
    claims = published.emnist_claims(None)
    assert claims["reported"].tolist() == ["94.4%", "91.6%", "92.2%"]
    assert claims["corrected_here"].str.startswith("not measured").all()
    assert (claims["seeds"] == 0).all()


def test_emnist_is_not_available_offline_without_a_local_copy(tmp_path):
    assert not published.emnist_available(data_dir=tmp_path)


def test_the_emnist_experiment_falls_back_to_mock_data_and_writes_nothing(tmp_path):
    rows, claims = published.emnist_experiment(seeds=[0, 1], profile="full",
                                               results_dir=tmp_path, mock=True)
    assert (rows["data"] == "mock").all() and set(rows["seed"]) == {0}
    assert claims["corrected_here"].str.startswith("not measured").all()
    assert not list(tmp_path.iterdir())


# -- Pratt2762: alpha in {1, 0, 0.5} --------------------------------------------------------
def test_pratt_configs_follow_the_recipe_and_refuse_unknown_datasets():
    configs = published.pratt_configs(0, "full")
    assert list(configs) == ["teacher", "alpha=1", "alpha=0", "alpha=0.5"]
    assert configs["teacher"].architecture == "alexnet_teacher_small"
    assert published.pratt_configs(0, "full", "cifar10")["teacher"].architecture == "alexnet_teacher"
    for config in configs.values():
        assert (config.optimizer, config.learning_rate, config.momentum, config.batch_size) == (
            "sgd", 0.005, 0.9, 64)
        assert config.weight_decay == pytest.approx(10 * 0.005)  # torch's L2 through momentum 0.9
    assert configs["alpha=1"].role == "scratch" and configs["alpha=1"].epochs == 10
    assert (configs["alpha=0"].alpha, configs["alpha=0.5"].alpha) == (0.0, 0.5)
    assert configs["alpha=0"].temperature == 1.0 and configs["alpha=0"].teacher == configs["teacher"]
    with pytest.raises(ValueError, match="dataset must be one of"):
        published.pratt_configs(0, "full", "mnist")


def test_pratt_published_loss_applies_softmax_twice_on_the_hard_term():
    labels = np.array([1])
    logits = np.array([[0.0, np.log(3.0)]], np.float32)  # softmax: (0.25, 0.75)
    # CE on the probabilities taken as logits: -log softmax(0.25, 0.75)[1] = log(1 + e^-0.5)
    hard = float(published.pratt_published_loss(labels, logits, None, 1.0))
    assert hard == pytest.approx(np.log1p(np.exp(-0.5)), rel=1e-6)
    assert hard > -np.log(0.75)  # a correct loss on logits would give 0.288
    soft_labels = np.array([[0.5, 0.5]], np.float32)  # CE = -(log 0.25 + log 0.75) / 2
    both = float(published.pratt_published_loss(labels, logits, soft_labels, 0.5))
    assert both == pytest.approx(0.5 * hard - 0.25 * (np.log(0.25) + np.log(0.75)), rel=1e-6)


def test_pratt_as_published_runs_once_and_reads_its_result_back(tmp_path, monkeypatch):
    configs = published.pratt_configs(0, "fast")
    student = configs["alpha=1"].replace(train_limit=300, epochs=1)
    teacher = configs["teacher"].replace(train_limit=300)
    accuracy = published.pratt_as_published_accuracy(student, teacher, 0.5, tmp_path)
    assert 0.0 < accuracy < 1.0
    saved = list((tmp_path / "as_published").glob("*.json"))
    assert [p.name for p in saved] == [f"{student.run_id}-alpha0.5.json"]
    assert runs.is_finished(teacher, tmp_path)  # the teacher is a run record of its own
    from kd_utils import models

    def no_training(*args, **kwargs):
        raise AssertionError("the saved result should have been read back")

    monkeypatch.setattr(models, "build", no_training)
    assert published.pratt_as_published_accuracy(student, teacher, 0.5, tmp_path) == accuracy
    with pytest.raises(ValueError, match="alpha must be in"):
        published.pratt_as_published_accuracy(student, teacher, 1.5, tmp_path)


def pratt_rows_for(accuracies: dict) -> pd.DataFrame:
    rows = []
    for (model, protocol), values in accuracies.items():
        alpha = 1.0 if model == "teacher" else float(model.split("=")[1])
        rows += [{"seed": seed, "model": model, "protocol": protocol, "alpha": alpha,
                  "test_accuracy": value, "train_examples": 15000}
                 for seed, value in enumerate(values)]
    return pd.DataFrame(rows)


def test_pratt_table_and_claims_put_reported_recipe_and_corrected_side_by_side():
    rows = pratt_rows_for({
        ("teacher", "teacher"): [0.90, 0.92, 0.91],
        ("alpha=1", "corrected"): [0.88, 0.88, 0.88], ("alpha=1", "as published"): [0.85, 0.87, 0.86],
        ("alpha=0", "corrected"): [0.89, 0.89, 0.89], ("alpha=0", "as published"): [0.80, 0.80, 0.80],
        ("alpha=0.5", "corrected"): [0.90, 0.90, 0.90],
        ("alpha=0.5", "as published"): [0.81, 0.83, 0.82]})
    table = published.pratt_table(rows)
    assert list(zip(table["model"], table["protocol"], strict=True))[:3] == [
        ("teacher", "teacher"), ("alpha=1", "as published"), ("alpha=1", "corrected")]
    assert table.set_index(["model", "protocol"]).loc[
        ("alpha=0", "as published"), "reported_cifar10_accuracy"] == 0.62
    claims = published.pratt_claims(rows).set_index("claim")
    assert claims.loc["teacher test accuracy (CIFAR-10)", "corrected_here"] == "91.0 ± 1.0%"
    half = claims.loc["student, alpha = 0.5 (half of each), test accuracy"]
    assert (half.reported, half.as_published_here, half.corrected_here, half.seeds) == (
        "62.0%", "82.0 ± 1.0%", "90.0 ± 0.0%", 3)
    assert "Fashion-MNIST, 15,000 training images, not CIFAR-10" in half.data


def test_plot_protocol_comparison_draws_one_bar_per_student_and_protocol():
    import matplotlib.pyplot as plt

    from kd_utils import plots

    rows = pratt_rows_for({("teacher", "teacher"): [0.9],
                           ("alpha=1", "corrected"): [0.8], ("alpha=1", "as published"): [0.7],
                           ("alpha=0", "corrected"): [0.6], ("alpha=0", "as published"): [0.5]})
    ax = plots.plot_protocol_comparison(published.pratt_table(rows))
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [50.0, 60.0, 70.0, 80.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["alpha=1", "alpha=0"]
    plt.close(ax.figure)


def test_the_cifar10_path_runs_end_to_end_on_mock_data_and_leaves_no_mock_behind():
    rows = published.mock_cifar10_experiment()
    assert (rows["data"] == "mock").all() and len(rows) == 7
    assert set(rows["protocol"]) == {"teacher", "corrected", "as published"}
    assert rows["test_accuracy"].between(0, 1).all()
    assert not runs._SPLITS_CACHE  # a later real load cannot be served mock images
