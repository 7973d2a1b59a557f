"""results/seed_reproductions.csv: a claim's row is replaced, never duplicated."""

import pandas as pd
import pytest

from kd_experiments import claims


def _rows(value, claim="c1"):
    return pd.DataFrame([{"source": "repo/a", "claim": claim, "reported": "1%",
                          "as_published_here": "", "corrected_here": value, "seeds": 3,
                          "data": "d"}])


def test_seed_reproductions_rows_are_replaced_by_claim_not_duplicated(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_REPLACE_TABLES", "1")  # as when the committed notebooks are made

    def rows(value, claim="c1"):
        return pd.DataFrame([{"source": "repo/a", "claim": claim, "reported": "1%",
                              "as_published_here": "", "corrected_here": value, "seeds": 3,
                              "data": "d"}])

    claims.write_seed_reproductions(rows("10%"), tmp_path)
    claims.write_seed_reproductions(rows("20%", "c2"), tmp_path)
    path = claims.write_seed_reproductions(rows("30%"), tmp_path)
    table = pd.read_csv(path, keep_default_na=False)
    assert table["claim"].tolist() == ["c1", "c2"]  # replaced where it stood
    assert table["corrected_here"].tolist() == ["30%", "20%"]
    assert table["as_published_here"].tolist() == ["", ""]


def test_other_rows_go_beside_the_table_unless_told_to_replace_it(tmp_path, monkeypatch):
    # An exercise's other seeds must not overwrite the committed table (the notebooks and the
    # README read it): as records.write_table does, a different table is written beside it.
    monkeypatch.delenv("KD_REPLACE_TABLES", raising=False)
    path = claims.write_seed_reproductions(_rows("10%"), tmp_path)
    committed = path.read_text()
    assert claims.write_seed_reproductions(_rows("10%"), tmp_path) == path  # the same table
    with pytest.warns(UserWarning, match="holds another table"):
        beside = claims.write_seed_reproductions(_rows("30%"), tmp_path)
    assert beside.name.startswith("seed_reproductions.variant-") and beside.exists()
    assert path.read_text() == committed
    assert pd.read_csv(beside)["corrected_here"].tolist() == ["30%"]
    assert claims.write_seed_reproductions(_rows("30%"), tmp_path, replace=True) == path
    assert pd.read_csv(path)["corrected_here"].tolist() == ["30%"]


def test_the_readme_table_is_the_csv_in_markdown():
    table = pd.DataFrame([{"source": "repo/a", "claim": "c", "reported": "1%",
                           "as_published_here": None, "corrected_here": "2 ± 1%", "seeds": 3,
                           "data": "d"}])
    assert claims.format_reproductions(table) == (
        "| source | claim | reported | the recipe here | corrected here | seeds |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| repo/a | c | 1% |  | 2 ± 1% | 3 |")


def _pair(model_gain: float):
    """Three seeds of a baseline and of a model `model_gain` above it (Welch p = 0.038 for a
    gain of +-0.025: each "better" or "worse" alone)."""
    baseline = [0.88, 0.89, 0.90]
    return pd.DataFrame({"model": ["model"] * 3 + ["baseline"] * 3,
                         "test_accuracy": [v + model_gain for v in baseline] + baseline})


def test_verdicts_are_holm_corrected_over_every_comparison_of_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_REPLACE_TABLES", "1")
    # Two repositories' claims, written by two notebooks: p = 0.038 "better" and p = 0.038
    # "worse" each alone, Holm 0.075 over the two, so neither is a detectable difference.
    better = claims.claims_frame("repo/a", [(
        "gains", "+1 point", f"+2.5 points {claims.tested(_pair(+0.025), 'model', 'baseline')}",
        "same recipe")], 3, "d")
    assert better.loc[0, "as_published_here"] == "+2.5 points (Welch p = 0.038)"  # no verdict yet
    claims.write_seed_reproductions(better, tmp_path)
    alone = pd.read_csv(tmp_path / "seed_reproductions.csv", keep_default_na=False)
    assert alone.loc[0, "as_published_here"] == (
        "+2.5 points (Welch p = 0.038, Holm p = 0.038: better)")  # a family of one, so far
    worse = claims.claims_frame("repo/b", [(
        "loses", "-1 point", "not rerun",
        f"-2.5 points {claims.tested(_pair(-0.025), 'model', 'baseline')}")], 3, "d")
    path = claims.write_seed_reproductions(worse, tmp_path)
    table = pd.read_csv(path, keep_default_na=False).set_index("source")
    assert table.loc["repo/a", "as_published_here"] == (
        "+2.5 points (Welch p = 0.038, Holm p = 0.075: no detectable difference)")
    assert table.loc["repo/b", "corrected_here"] == (
        "-2.5 points (Welch p = 0.038, Holm p = 0.075: no detectable difference)")
    assert claims.holm_family(table) == 2
    shown = claims.written_claims(path, worse)  # what notebooks 10-15 show
    assert shown["corrected_here"].tolist() == [table.loc["repo/b", "corrected_here"]]
    # Rewriting one repository's rows keeps the family whole (the other's tests are kept).
    claims.write_seed_reproductions(better, tmp_path)
    again = pd.read_csv(path, keep_default_na=False).set_index("source")
    assert again.loc["repo/a", "as_published_here"].endswith("no detectable difference)")


def test_a_row_that_shows_a_test_it_does_not_keep_is_refused(tmp_path):
    # A row written before rows kept their tests: its verdict could not be corrected.
    legacy = pd.DataFrame([{"source": "repo/a", "claim": "c", "reported": "1%",
                            "as_published_here": "+7.2 points (Welch p = 0.043: better)",
                            "corrected_here": "", "seeds": 3, "data": "d"}])
    with pytest.raises(ValueError, match="shows 1 tests and keeps 0: rerun its notebook"):
        claims.write_seed_reproductions(legacy, tmp_path)


def test_the_committed_table_is_corrected_over_all_its_comparisons():
    from helpers import REPO

    table = pd.read_csv(REPO / "results" / "seed_reproductions.csv", keep_default_na=False)
    assert claims.holm_family(table) >= 2
    assert claims.holm_verdicts(table).equals(table)  # every verdict is the table's Holm one
    shown = " ".join(table[list(claims.CLAIM_CELLS)].astype(str).to_numpy().ravel())
    assert shown.count("Holm p = ") == claims.holm_family(table)
