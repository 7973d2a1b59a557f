"""The methods notebook's generated block: its comparison lines and how they were reached."""

import pandas as pd

from kd_experiments import readings_methods


def test_each_comparison_is_one_line_with_its_interval_p_values_and_verdict():
    table = pd.DataFrame({
        "student": ["mlp:8", "mlp:8"], "arm": ["hint", "hint"], "baseline": ["hinton", "scratch"],
        "test_errors_mean": [100.0, 100.0], "test_errors_std": [3.0, 3.0],
        "test_errors_count": [5, 5], "test_errors_ci_low": [96.3, 96.3],
        "test_errors_ci_high": [103.7, 103.7], "difference": [4.0, -6.5],
        "diff_low": [1.0, -9.0], "diff_high": [7.0, -4.0], "p_value": [0.02, 0.001],
        "p_holm": [0.02, 0.002], "verdict": ["worse", "better"]})
    lines = readings_methods.comparisons_markdown(table).splitlines()
    assert len(lines) == 2 + 2
    assert "Hinton KD | +4.0 [1.0, 7.0] | 0.02 | 0.02 | worse" in lines[2]
    assert "the student from scratch | -6.5 [-9.0, -4.0] | 0.001 | 0.002 | better" in lines[3]
    words = readings_methods.methods_sentences(table, "Two comparisons.")
    assert words.startswith("Two comparisons.") and "the 2 comparisons form one Holm family" in words
