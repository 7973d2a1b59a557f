"""The committed tables keep the evidence protocol: the runs behind each table exist and were
executed alike (one execution mode, one training-code version per architecture), and tables
with verdicts say which runs they came from. (The README's protocol block that reports them is
checked with every generated block, in tests/experiments/test_readings.py.)"""

from pathlib import Path

import pandas as pd
import pytest

from kd_lab import records

RESULTS = Path(records.RESULTS_DIR)
LISTED = sorted(p.name.removesuffix(".runs.csv") for p in (RESULTS / "tables").glob("*.runs.csv")
                if not records.is_variant(p.name))


@pytest.mark.parametrize("name", LISTED)
def test_the_runs_behind_a_committed_table_were_executed_alike(name):
    runs = records.table_runs(name, RESULTS)  # raises when a listed run has no record
    assert len(runs) > 0
    assert records.execution_mix(runs) == [], f"{name} mixes execution modes: rerun it"


def test_every_listed_table_exists_and_every_comparison_table_lists_its_runs():
    for name in LISTED:
        assert (RESULTS / "tables" / f"{name}.csv").exists(), name
    # Tables that carry verdicts must say which runs they came from.
    with_verdicts = [p.stem for p in (RESULTS / "tables").glob("*.csv")
                     if not p.name.endswith(".runs.csv") and not records.is_variant(p.name)
                     and "verdict" in pd.read_csv(p, nrows=0).columns]
    assert set(with_verdicts) <= set(LISTED), sorted(set(with_verdicts) - set(LISTED))


def test_a_budget_binds_when_the_best_epoch_falls_in_its_last_tenth():
    rows = pd.DataFrame({"epochs": [20, 20, 20, 150, 150], "best_epoch": [18, 19, 20, 135, 136]})
    assert records.best_in_last_tenth(rows).tolist() == [False, True, True, False, True]


def lines_tested(tables: dict[str, pd.DataFrame]) -> dict[tuple, list[str]]:
    """Each tested line's (difference, uncorrected p-value), rounded, -> the tables holding it.
    Two tables that test the same runs the same way print the same pair: one comparison."""
    found = {}
    for name, table in tables.items():
        if not {"difference", "p_value"} <= set(table.columns):
            continue
        for line in table.dropna(subset=["p_value"]).itertuples():
            found.setdefault((round(line.difference, 6), float(f"{line.p_value:.9g}")),
                             []).append(name)
    return found


def test_every_record_is_listed_by_a_table_a_stage_or_a_plan():
    # A record no table lists is deleted (git history keeps it); one a notebook reads is listed
    # by the notebook's table, so a clean-up never takes it for unlisted.
    from kd_experiments import readings

    unlisted = sorted(set(records.read_summary(RESULTS)["run_id"]) - readings.needed_runs(RESULTS))
    assert not unlisted, (f"{len(unlisted)} records no table, stage or plan lists: delete them "
                          f"or list them in their notebook's table: {unlisted[:5]}")


def test_a_comparison_is_tested_in_one_committed_table_only():
    # A comparison tested twice gets two Holm p-values from two families; the others cite it.
    tables = {p.stem: pd.read_csv(p) for p in sorted((RESULTS / "tables").glob("*.csv"))
              if not p.name.endswith(".runs.csv") and not records.is_variant(p.name)}
    twice = {line: names for line, names in lines_tested(tables).items()
             if len(set(names)) > 1}
    assert not twice, f"tested in two tables (cite one from the other): {twice}"


def test_the_one_table_check_finds_a_comparison_tested_twice():
    line = {"difference": [-26.4], "p_value": [0.0012489], "p_holm": [0.03]}
    tables = {"a": pd.DataFrame(line), "b": pd.DataFrame({**line, "p_holm": [0.0012489]}),
              "c": pd.DataFrame({"difference": [-26.4], "p_value": [0.2]})}
    assert lines_tested(tables)[(-26.4, 0.0012489)] == ["a", "b"]
