"""stats: intervals, Welch tests, Holm's correction and verdicts, against scipy's own tests and
hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from kd_lab import stats

SCRATCH = [203, 172, 211, 199, 194, 171, 188, 190, 205, 180]
DISTILLED = [163, 150, 178, 160, 171, 149, 158, 166, 170, 155]


def test_describe_gives_the_t_interval_of_the_mean():
    d = stats.describe(SCRATCH)
    low, high = scipy_stats.t.interval(0.95, len(SCRATCH) - 1, loc=np.mean(SCRATCH),
                                       scale=scipy_stats.sem(SCRATCH))
    assert d["count"] == 10 and d["mean"] == pytest.approx(191.3)
    assert d["std"] == pytest.approx(np.std(SCRATCH, ddof=1))
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((low, high))
    # By hand: 3 values 1, 2, 3: mean 2, std 1, half-width t(0.975, 2) / sqrt(3) = 2.4841
    assert stats.describe([1, 2, 3])["ci_high"] == pytest.approx(2 + 4.302653 / math.sqrt(3))
    one = stats.describe([5.0, np.nan])
    assert one["count"] == 1 and one["mean"] == 5 and math.isnan(one["ci_low"])


def test_welch_matches_scipy_test_and_interval():
    w = stats.welch(DISTILLED, SCRATCH)
    ref = scipy_stats.ttest_ind(DISTILLED, SCRATCH, equal_var=False)
    interval = ref.confidence_interval(0.95)
    assert w["difference"] == pytest.approx(np.mean(DISTILLED) - np.mean(SCRATCH))
    assert w["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert w["df"] == pytest.approx(ref.df)
    assert (w["diff_low"], w["diff_high"]) == pytest.approx((interval.low, interval.high))
    unequal = stats.welch([1.0, 2.0, 9.0], [4.0, 4.5, 4.2, 4.4, 4.1])
    ref = scipy_stats.ttest_ind([1.0, 2.0, 9.0], [4.0, 4.5, 4.2, 4.4, 4.1], equal_var=False)
    assert unequal["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert math.isnan(stats.welch([1.0], SCRATCH)["p_value"])
    assert stats.welch([2.0, 2.0], [2.0, 2.0])["p_value"] == 1.0


def test_holm_adjusts_step_down_and_keeps_order():
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, then max(0.06, 0.04 x 1)
    np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[4])
    assert stats.holm([0.5, 0.9])[1] == 1.0  # capped at 1


def test_verdicts_follow_the_metrics_direction():
    assert stats.verdict(-30.0, 0.001, "test_errors") == stats.BETTER
    assert stats.verdict(-30.0, 0.001, "test_accuracy") == stats.WORSE
    assert stats.verdict(0.003, 0.01, "test_accuracy") == stats.BETTER
    assert stats.verdict(-30.0, 0.05, "test_errors") == stats.UNDECIDED  # not below 0.05
    assert stats.verdict(-30.0, np.nan, "test_errors") == stats.TOO_FEW


def test_detectable_difference_has_the_stated_power():
    d = stats.detectable_difference(10.0, 10, 10.0, 10)
    # by hand: (t(0.975, 18) + t(0.8, 18)) * sqrt(10^2/10 + 10^2/10)
    assert d == pytest.approx((2.100922 + 0.862049) * math.sqrt(20), rel=1e-5)
    # the power of Welch's test at that difference, from the noncentral t: about 0.8
    se, df = math.sqrt(20), 18
    critical = scipy_stats.t.ppf(0.975, df)
    power = scipy_stats.nct.sf(critical, df, d / se) + scipy_stats.nct.cdf(-critical, df, d / se)
    assert power == pytest.approx(0.8, abs=0.01)
    assert math.isnan(stats.detectable_difference(10.0, 1, 10.0, 10))
    # in a table of 20 comparisons, Holm's first step tests at 0.05 / 20
    assert stats.detectable_difference(10.0, 10, 10.0, 10, comparisons=20) == pytest.approx(
        (scipy_stats.t.ppf(1 - 0.0025 / 2, 18) + 0.862049) * math.sqrt(20), rel=1e-5)


def test_compare_tests_every_group_against_one_baseline_with_holm():
    rows = pd.DataFrame({"role": ["scratch"] * 10 + ["distilled"] * 10 + ["noise"] * 10,
                         "test_errors": SCRATCH + DISTILLED + [s + 1 for s in SCRATCH]})
    table = stats.compare(rows, ["role"], "test_errors", lambda r: r["role"] == "scratch")
    table = table.set_index("role")
    assert table.loc["scratch", "verdict"] == "baseline"
    assert table.loc["distilled", "verdict"] == stats.BETTER
    assert table.loc["noise", "verdict"] == stats.UNDECIDED
    raw = [stats.welch(DISTILLED, SCRATCH)["p_value"],
           stats.welch([s + 1 for s in SCRATCH], SCRATCH)["p_value"]]
    np.testing.assert_allclose(table.loc[["distilled", "noise"], "p_holm"], stats.holm(raw))
    assert table.loc["distilled", "test_errors_count"] == 10
    assert table.loc["noise", "difference"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="is_baseline must pick exactly one group"):
        stats.compare(rows, ["role"], "test_errors", lambda r: r["role"] != "scratch")


def test_compare_pairs_by_seed_over_the_seeds_both_groups_hold():
    # Seeds 0-4 from scratch, seeds 0-2 distilled in reverse order, and a seed the baseline
    # lacks: pairs are matched by seed, not by position, and only common seeds count.
    rows = pd.DataFrame({"role": ["scratch"] * 5 + ["distilled"] * 4,
                         "seed": [0, 1, 2, 3, 4, 2, 1, 0, 9],
                         "test_errors": [150, 160, 140, 155, 145, 139, 150, 151, 10]})
    table = stats.compare(rows, ["role"], "test_errors", lambda r: r["role"] == "scratch",
                          pair_by="seed").set_index("role")
    expected = scipy_stats.ttest_rel([151, 150, 139], [150, 160, 140])
    assert table.loc["distilled", "p_value"] == pytest.approx(expected.pvalue)
    assert table.loc["distilled", "difference"] == pytest.approx(-10 / 3)
    assert table.loc["distilled", "pairs"] == 3 and np.isnan(table.loc["scratch", "pairs"])
    assert stats.how_tested(table) == "a paired t test by seed"
    welch = stats.compare(rows, ["role"], "test_errors", lambda r: r["role"] == "scratch")
    assert welch["pairs"].isna().all() and stats.how_tested(welch) == "Welch's t test"
    twice = rows.assign(seed=[0, 1, 2, 3, 4, 2, 2, 0, 9])
    with pytest.raises(ValueError, match="pair_by='seed': a group holds seed 2 twice"):
        stats.compare(twice, ["role"], "test_errors", lambda r: r["role"] == "scratch",
                      pair_by="seed")


def test_summarise_keeps_groups_with_missing_keys_and_reports_intervals():
    rows = pd.DataFrame({"role": ["a", "a", "b"], "T": [np.nan, np.nan, 4.0],
                         "test_errors": [10.0, 12.0, 7.0]})
    table = stats.summarise(rows, ["role", "T", "absent"], ["test_errors"])
    assert list(table["test_errors_count"]) == [2, 1]
    assert table.loc[0, "test_errors_ci_low"] < 11 < table.loc[0, "test_errors_ci_high"]
    assert stats.interval(1.234, 5.678) == "[1.2, 5.7]" and stats.interval(np.nan, 1) == ""


def test_compare_within_tests_each_group_against_its_own_baseline_with_holm_over_all():
    rows = pd.DataFrame({
        "size": [1650] * 6 + [55000] * 6,
        "role": ["scratch"] * 3 + ["distilled"] * 3 + ["scratch"] * 3 + ["distilled"] * 3,
        "test_errors": [690, 694, 700, 420, 430, 425, 195, 180, 210, 160, 170, 175]})
    table = stats.compare_within(rows, "size", "role", "scratch", "test_errors")
    assert list(table["size"]) == [1650, 55000] and set(table["role"]) == {"distilled"}
    p = [scipy_stats.ttest_ind(rows.test_errors[i + 3:i + 6], rows.test_errors[i:i + 3],
                               equal_var=False).pvalue for i in (0, 6)]
    assert table["p_value"].tolist() == pytest.approx(p)
    assert table["p_holm"].tolist() == pytest.approx(stats.holm(p))
    assert table["difference"].tolist() == pytest.approx([-269.667, -26.667], abs=1e-3)
    assert table["verdict"].tolist() == [stats.BETTER, stats.UNDECIDED]


def test_paired_matches_scipy_and_pairs_the_same_runs_whatever_their_order():
    before = [169, 221, 200, 178, 209]
    after = [148, 183, 180, 161, 191]
    test = stats.paired(after, before)
    assert test["p_value"] == pytest.approx(scipy_stats.ttest_rel(after, before).pvalue)
    d = np.subtract(after, before)
    half = scipy_stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (test["diff_low"], test["diff_high"]) == pytest.approx((d.mean() - half,
                                                                   d.mean() + half))
    rows = pd.DataFrame({"set": "omit_3", "run_id": list("abcde") + list("edcba"),
                         "bias": ["none"] * 5 + ["shifted"] * 5,
                         "errors": before + after[::-1]})  # the shifted rows in reverse order
    table = stats.compare_within(rows, "set", "bias", "none", "errors", pair_by="run_id")
    assert table["p_value"].item() == pytest.approx(test["p_value"])
    assert table["verdict"].item() == stats.BETTER  # every run improves: p = 0.004
    # Unpaired, the same numbers are within the seeds' spread.
    assert stats.compare_within(rows, "set", "bias", "none", "errors")["verdict"].item() == (
        stats.UNDECIDED)


def test_seeds_to_detect_grow_as_the_target_shrinks_and_the_family_grows():
    from kd_lab.stats import seeds_to_detect

    few = seeds_to_detect(10.0, 20.0)
    assert few < seeds_to_detect(10.0, 10.0) < seeds_to_detect(10.0, 10.0, comparisons=20)
    assert seeds_to_detect(10.0, 0.01, at_most=12) == 12
    # The classic paired-t check: sd 1, target 1, alpha 0.05, power 0.8 needs 10 pairs.
    assert seeds_to_detect(1.0, 1.0) == 10


def test_paired_ratio_is_the_set_of_ratios_a_paired_t_test_does_not_reject():
    # per seed: the gain a control keeps (scratch - control) and Hinton KD's (scratch - KD)
    part = [8.0, 13.0, 5.0, 11.0, 9.0]
    whole = [50.0, 49.0, 41.0, 57.0, 46.0]
    share = stats.paired_ratio(part, whole)
    assert share["ratio"] == pytest.approx(np.mean(part) / np.mean(whole))
    assert share["ratio_low"] < share["ratio"] < share["ratio_high"]
    for bound in (share["ratio_low"], share["ratio_high"]):  # Fieller's ends: p = 0.05 exactly
        residual = np.subtract(part, bound * np.asarray(whole))
        assert scipy_stats.ttest_1samp(residual, 0).pvalue == pytest.approx(0.05, abs=1e-9)
    inside = np.subtract(part, share["ratio"] * np.asarray(whole))
    assert scipy_stats.ttest_1samp(inside, 0).pvalue == pytest.approx(1.0)


def test_paired_ratio_is_unbounded_when_the_whole_is_not_told_from_zero():
    whole = [30.0, -25.0, 12.0, -8.0, 5.0]  # a gain the paired t test cannot tell from 0
    assert scipy_stats.ttest_1samp(whole, 0).pvalue > 0.05
    share = stats.paired_ratio([3.0, -2.0, 1.0, 0.0, 1.0], whole)
    assert (share["ratio_low"], share["ratio_high"]) == (-math.inf, math.inf)
    one = stats.paired_ratio([3.0], [30.0])
    assert one["ratio"] == pytest.approx(0.1) and math.isnan(one["ratio_low"])
    with pytest.raises(ValueError, match="pair one to one"):
        stats.paired_ratio([1.0, 2.0], [1.0])
