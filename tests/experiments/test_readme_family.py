"""The README's verdicts: one Holm family over every comparison it states, computed once."""

import numpy as np
import pandas as pd
import pytest

from kd_experiments import claims, readme_family
from kd_lab import stats


def _compare_table(p_teacher: float, p_distilled: float) -> pd.DataFrame:
    return pd.DataFrame({"role": ["teacher", "scratch", "distilled"],
                         "difference": [-30.0, np.nan, -12.0], "p_value": [p_teacher, np.nan,
                                                                          p_distilled],
                         "p_holm": [p_teacher, np.nan, p_distilled],
                         "verdict": ["better", "baseline", "better"]})


def test_the_readme_s_verdicts_are_holm_corrected_together(tmp_path):
    (tmp_path / "tables").mkdir()
    _compare_table(0.001, 0.03).to_csv(tmp_path / "tables" / "compare_mnist_paper.csv",
                                      index=False)
    baseline = [0.88, 0.89, 0.90]
    pair = pd.DataFrame({"model": ["model"] * 3 + ["baseline"] * 3,
                         "test_accuracy": [v + 0.025 for v in baseline] + baseline})
    claims.write_seed_reproductions(claims.claims_frame("repo/a", [(
        "gains", "+1 point", f"+2.5 points {claims.tested(pair, 'model', 'baseline')}",
        "")], 3, "d"), tmp_path)
    alone = pd.read_csv(tmp_path / "seed_reproductions.csv", keep_default_na=False)
    assert alone.loc[0, "as_published_here"].endswith("Holm p = 0.038: better)")

    family = readme_family.readme_family(tmp_path)
    assert family.size == 3 and family.holm_over() == "the README's 3 verdicts"
    expected = stats.holm([0.001, 0.03, claims.kept_tests(alone)[0]["p"]])
    compare = family.tables["compare_mnist_paper"].set_index("role")
    assert compare.loc["teacher", "p_holm"] == pytest.approx(expected[0])
    # 0.03 alone is "better"; in the family of three Holm judges it at 0.06: undecided
    assert compare.loc["distilled", "p_holm"] == pytest.approx(expected[1]) == 0.06
    assert compare.loc["distilled", "verdict"] == stats.UNDECIDED
    # the repository's test, better alone, is not once the README's family is counted
    assert expected[2] > stats.SIGNIFICANCE
    assert family.reproductions.loc[0, "as_published_here"] == (
        f"+2.5 points (Welch p = 0.038, Holm p = {expected[2]:.2g}: no detectable difference)")
    # the committed files are read, never rewritten
    assert pd.read_csv(tmp_path / "tables" / "compare_mnist_paper.csv")["p_holm"][2] == 0.03


def test_the_committed_readme_states_its_family_verdicts():
    from helpers import REPO

    family = readme_family.readme_family(REPO / "results")
    readme = (REPO / "README.md").read_text()
    assert family.size >= 10 and f"Holm over {family.holm_over()}" in readme
    for line in family.tables["compare_mnist_paper"].dropna(subset=["p_value"]).itertuples():
        assert f"Holm {stats.p_text(line.p_holm)}: {line.verdict}" in readme
