"""The paper-profile distilled student's variants, each against the cached-logit student."""

from types import SimpleNamespace

import pytest

from kd_experiments import hinton2015, hinton2015_variants
from kd_lab import stats


def _records(values):
    return [SimpleNamespace(row={"test_errors": v, "seed": seed})
            for seed, v in enumerate(values)]


def test_the_jittered_student_is_the_main_table_s_student_on_jittered_inputs():
    configs = hinton2015_variants.jittered_student_configs((0, 1))
    for seed, config in enumerate(configs):
        distilled = hinton2015.hinton_configs(seed, "paper")[2]
        assert config == distilled.replace(jitter_pixels=2)
        assert config.teacher == distilled.teacher and config.teacher.seed == seed


def test_each_variant_is_compared_with_the_cached_logit_student():
    table = hinton2015_variants.variants_table({
        "cached": _records([110, 120, 115, 105, 125]),
        "jittered": _records([80, 85, 78]),
        "ensemble": _records([112, 118, 121])}).set_index("variant")
    assert list(table.index) == list(hinton2015_variants.VARIANT_LABELS)  # cached first
    assert table.loc["cached", "verdict"] == "baseline"
    assert table.loc["jittered", "difference"] == pytest.approx(81 - 115)
    assert table.loc["jittered", "verdict"] == stats.BETTER
    assert table.loc["ensemble", "verdict"] == stats.UNDECIDED
    assert table.loc["jittered", "test_errors_count"] == 3


def test_variants_need_the_cached_baseline_and_known_names():
    with pytest.raises(ValueError, match="records must hold 'cached'"):
        hinton2015_variants.variants_table({"jittered": _records([1, 2])})
    with pytest.raises(ValueError, match="only the variants"):
        hinton2015_variants.variants_table({"cached": _records([1, 2]),
                                            "bigger": _records([1, 2])})


def test_the_variants_table_in_markdown_gives_each_difference_its_interval_and_verdict():
    table = hinton2015_variants.variants_table({
        "cached": _records([110, 120, 115, 105, 125]), "jittered": _records([80, 85, 78])})
    test = stats.paired([80, 85, 78], [110, 120, 115])  # seeds 0-2: the ones both hold
    lines = hinton2015_variants.format_variants_table(table).splitlines()
    assert len(lines) == 6 and "| baseline |" in lines[2]
    assert lines[5].startswith("Each difference is paired by seed over the seeds both rows hold "
                               "(3 of the baseline's 5)")
    assert lines[3].startswith(f"| {hinton2015_variants.VARIANT_LABELS['jittered']} | 81.0 ± ")
    assert (f"| 3 | {test['difference']:+.1f} "
            f"{stats.interval(test['diff_low'], test['diff_high'])} | "
            f"{test['p_value']:.3g} | better |") in lines[3]
