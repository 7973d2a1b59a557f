"""The repository keeps its promises: lint clean, CI runs the README's test command."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kd_utils.reproductions import claims, hinton2015, hinton2015_readme

REPO = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it is in requirements.txt)")
    result = subprocess.run([ruff, "check", "kd_utils", "tests", "benchmarks"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_everything_and_the_readme_shows_both_test_commands():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert "make test " in readme and "make test-all" in readme and "make compare" in readme
    assert "make test-all" in ci
    assert 'pytest -m "not slow"' in makefile  # the everyday suite leaves the slow tests out


def test_no_dataset_files_are_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout
    if not tracked:
        pytest.skip("not a git checkout")
    offending = [p for p in tracked.splitlines()
                 if "ubyte" in p or p.endswith((".npz", ".tfrecord", ".keras"))]
    assert not offending


def test_readme_results_match_the_committed_records():
    """The README's comparison table is the one the run records give (paste it when it changes)."""
    import pandas as pd


    csv = REPO / "results" / "tables" / "compare_mnist_full.csv"
    if not csv.exists():
        pytest.skip("no full-profile results committed yet")
    table = hinton2015.format_table(pd.read_csv(csv))
    assert table in (REPO / "README.md").read_text(), (
        "README.md's results table differs from results/tables/compare_mnist_full.csv; "
        "paste the table `python -m kd_utils compare` prints")


def test_readme_reproductions_table_matches_the_committed_csv():
    import pandas as pd


    csv = REPO / "results" / "seed_reproductions.csv"
    if not csv.exists():
        pytest.skip("no reproduction results committed yet")
    table = claims.format_reproductions(pd.read_csv(csv, keep_default_na=False))
    assert table in (REPO / "README.md").read_text(), (
        "README.md's reproductions table differs from results/seed_reproductions.csv; paste "
        "claims.format_reproductions(pd.read_csv(...)) under <!-- results:seed_reproductions -->")


def test_readme_paper_vs_ours_block_matches_the_committed_tables():

    block = hinton2015_readme.readme_paper_vs_ours()
    assert "| teacher 1200-1200, test errors | 67 |" in block  # the paper's numbers are there
    readme = (REPO / "README.md").read_text()
    assert f"<!-- results:paper_vs_ours -->\n{block}\n<!-- /results:paper_vs_ours -->" in readme, (
        "README.md's paper-vs-ours block differs from results/tables/; paste "
        "hinton2015_readme.readme_paper_vs_ours() between the <!-- results:paper_vs_ours --> markers")
