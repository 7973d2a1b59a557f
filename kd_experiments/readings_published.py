"""Generated blocks for the public repositories' notebooks (10-15) and the README's table.

Each notebook's block shows its figure (where it has one), its repository's rows of
`results/seed_reproductions.csv` (reported, the recipe here, the corrected protocol) and the
per-model table, all read from the committed files (see `readings`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kd_lab import stats
from kd_lab.report import frame_markdown, percent, percent_of

from . import johnkorn, pratt2762, readme_family, rohin_dasari, sai_srinivasan, tsitsimis
from .claims import format_reproductions, holm_family
from .readings import (
    HEADER,
    budget_sentence,
    figure,
    generated,
    read_table,
    runs_behind,
    source_line,
)


def _reproductions(results_dir: Path) -> pd.DataFrame:
    return pd.read_csv(Path(results_dir) / "seed_reproductions.csv", keep_default_na=False)


def _claims_of(results_dir: Path, source: str, match: str = "") -> str:
    table = _reproductions(results_dir)
    rows = table[(table.source == source) & table.claim.str.contains(match, regex=False)]
    return format_reproductions(rows, with_source=False)


def _model_table(results_dir: Path, name: str, label: str = "label") -> str:
    table = read_table(results_dir, name)
    rows = [(getattr(r, label), percent_of(r, digits=2),
             int(r.test_accuracy_count),
             "" if pd.isna(getattr(r, "reported_accuracy", None))
             else percent(r.reported_accuracy, None, 1))
            for r in table.itertuples()]
    return frame_markdown(pd.DataFrame(rows, columns=["model", "test", "seeds", "reported"]),
                          {"model": "model", "test": "test accuracy (mean ± std [95% CI])",
                           "seeds": "seeds", "reported": "reported"})


def _family(results_dir: Path, family: readme_family.Family | None = None) -> str:
    """Which comparisons the verdicts are corrected over: the table's (a notebook), or the
    README's whole family (`readme_family`)."""
    table = _reproductions(results_dir) if family is None else family.reproductions
    over = (f"the {holm_family(table)} comparisons of the table of claims "
            f"(`results/seed_reproductions.csv`, {table.source.nunique()} repositories)")
    if family is not None:
        over = f"{family.holm_over()}: {over} and those of the tables above"
    return (f"Each verdict is Holm-corrected over {over}: Welch's t test over seeds, then "
            "\"better\" or \"worse\" only when the Holm p-value is below "
            f"{stats.SIGNIFICANCE}." + ("" if family is not None else
                                        " " + readme_family.RESTATED))


def _budget(results_dir: Path, name: str) -> str:
    return budget_sentence(runs_behind(results_dir, name))


@generated("seed_reproductions")
def readme_reproductions(results_dir: Path) -> str:
    family = readme_family.readme_family(results_dir)
    return "\n\n".join([format_reproductions(family.reproductions),
                         _family(results_dir, family)])


@generated("10_moons")
def moons_block(results_dir: Path) -> str:
    table = read_table(results_dir, "10_moons_trees_full").set_index("model")
    hard, soft = table.loc["hard-label tree"], table.loc["soft-label tree (T = 1)"]
    control = table.loc["tree on the network's labels"]
    return "\n\n".join([
        HEADER, figure("10_moons_decision_boundaries_full", "decision boundaries"),
        _claims_of(results_dir, tsitsimis.SOURCE, "tree"),
        f"Over {int(soft.test_accuracy_count)} seeds: hard-label tree "
        f"{percent_of(hard)} "
        f"({hard.leaves_mean:.0f} leaves on average), soft-label tree "
        f"{percent_of(soft)} ({soft.leaves_mean:.0f} "
        f"leaves), tree on the network's hard predictions "
        f"{percent_of(control)} "
        f"({control.leaves_mean:.0f} leaves).",
        source_line("tables/10_moons_trees_full.csv", "seed_reproductions.csv")])


@generated("11_tiny_student")
def tiny_student_block(results_dir: Path) -> str:
    return "\n\n".join([
        HEADER, _model_table(results_dir, "11_tiny_student_full"),
        _claims_of(results_dir, tsitsimis.SOURCE, "784-10-10")
        + "\n" + _claims_of(results_dir, tsitsimis.SOURCE, "halves").split("\n", 2)[2]
        + "\n" + _claims_of(results_dir, tsitsimis.SOURCE, "teacher test").split("\n", 2)[2],
        _family(results_dir) + " " + _budget(results_dir, "11_tiny_student_full"),
        source_line("tables/11_tiny_student_full.csv", "seed_reproductions.csv",
                    "as_published/", "summary.csv")])


@generated("12_continue")
def continue_block(results_dir: Path) -> str:
    return "\n\n".join([
        HEADER, _model_table(results_dir, "12_continue_from_baseline_full"),
        _claims_of(results_dir, sai_srinivasan.SOURCE),
        _family(results_dir) + " " + _budget(results_dir, "12_continue_from_baseline_full"),
        source_line("tables/12_continue_from_baseline_full.csv", "seed_reproductions.csv",
                    "summary.csv")])


@generated("13_self_distillation")
def self_distillation_block(results_dir: Path) -> str:
    return "\n\n".join([
        HEADER, figure("13_self_distillation_learning_curves_full",
                       "teacher and self-distilled student, train and validation"),
        _claims_of(results_dir, rohin_dasari.SOURCE),
        _budget(results_dir, "13_self_distillation_full"),
        source_line("tables/13_self_distillation_full.csv", "seed_reproductions.csv",
                    "summary.csv")])


@generated("14_emnist")
def emnist_block(results_dir: Path) -> str:
    return "\n\n".join([
        HEADER, _claims_of(results_dir, johnkorn.SOURCE),
        "EMNIST letters is not on this lab's machine, so nothing is measured here; with the "
        "data, the notebook's full profile trains the three models and replaces these rows.",
        source_line("seed_reproductions.csv")])


@generated("15_alexnet")
def alexnet_block(results_dir: Path) -> str:
    return "\n\n".join([
        HEADER, figure("15_alexnet_alpha_full", "alpha in {1, 0, 0.5}, as published and corrected"),
        _claims_of(results_dir, pratt2762.SOURCE),
        "Reported: CIFAR-10, one run. Here: Fashion-MNIST (15,000 training images), each "
        "seed's students distilled from that seed's teacher. " + _family(results_dir) + " "
        + _budget(results_dir, "15_alexnet_alpha_full"),
        source_line("tables/15_alexnet_alpha_full.csv", "seed_reproductions.csv",
                    "as_published/", "summary.csv")])
