"""results/seed_reproductions.csv: a claim's row is replaced, never duplicated."""

import pandas as pd

from kd_experiments import claims


def test_seed_reproductions_rows_are_replaced_by_claim_not_duplicated(tmp_path):
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


def test_the_readme_table_is_the_csv_in_markdown():
    table = pd.DataFrame([{"source": "repo/a", "claim": "c", "reported": "1%",
                           "as_published_here": None, "corrected_here": "2 ± 1%", "seeds": 3,
                           "data": "d"}])
    assert claims.format_reproductions(table) == (
        "| source | claim | reported | the recipe here | corrected here | seeds |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| repo/a | c | 1% |  | 2 ± 1% | 3 |")
