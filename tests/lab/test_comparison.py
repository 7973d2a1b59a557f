"""The teacher / scratch / distilled comparison: n, intervals and each role's verdict against
the student from scratch."""

from types import SimpleNamespace

import pytest
import scipy.stats

from kd_lab import comparison


def test_the_comparison_tests_each_role_against_the_student_from_scratch():
    errors = {"teacher": [140, 150, 145, 148], "scratch": [200, 190, 210, 195],
              "distilled": [192, 205, 199, 186]}
    records = [SimpleNamespace(row=dict(role=role, architecture="mlp:8", temperature=20.0,
                                        alpha=0.1, test_errors=e, test_accuracy=1 - e / 1e4,
                                        test_teacher_agreement=0.99, best_epoch=5, seed=seed))
               for role, values in errors.items() for seed, e in enumerate(values)]
    table = comparison.comparison_table(records).set_index("role")
    assert table.loc["scratch", "verdict"] == "baseline"
    assert table.loc["teacher", "verdict"] == "better"  # fewer errors, p far below 0.05
    assert table.loc["distilled", "verdict"] == "no detectable difference"
    assert table.loc["distilled", "difference"] == pytest.approx(-3.25)
    # a seed's students share initial weights and batch order: tested pair by pair
    paired = scipy.stats.ttest_rel(errors["distilled"], errors["scratch"])
    assert table.loc["distilled", "p_value"] == pytest.approx(paired.pvalue)
    assert table.loc["distilled", "pairs"] == 4
    text = comparison.format_table(table.reset_index())
    assert "Holm over 2 comparisons" in text and "no detectable difference" in text
    assert "a paired t test by seed" in text
