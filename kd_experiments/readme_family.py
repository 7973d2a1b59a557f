"""The README's verdicts as one Holm family.

Every comparison the README states a verdict for is named here (`CLAIMED`: the lines of the
committed tables that test them, and the public repositories' tests in
`results/seed_reproductions.csv`). `readme_family` reads their uncorrected p-values and
Holm-adjusts them together, once; the README's blocks show these verdicts. A notebook shows
its own tables' verdicts, each table one family.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kd_lab import stats

from . import claims

# The lines of a table whose verdict the README states, and the metric each is tested on.
CLAIMED = {
    "compare_mnist_paper": (lambda t: t["role"].isin(["teacher", "distilled"]), "test_errors"),
    "06_hinton_variants_paper": (lambda t: t["variant"].isin(["ensemble", "jittered"]),
                                 "test_errors"),
    "08_omitted_class_paper": (lambda t: t["bias"] != "none", "errors"),
    "19_controls": (lambda t: t["p_value"].notna(), "test_errors"),  # every line
}
REPRODUCTIONS = "seed_reproductions"
# Said under a notebook's verdicts that the README states again in its own family.
RESTATED = ("The README states these verdicts again, Holm-corrected together with every other "
            "verdict it states (one family for its page): its Holm p-values are larger, and a "
            "verdict there can differ from the one here.")


@dataclass
class Family:
    """The README's tables with each stated verdict corrected over the whole family."""

    tables: dict[str, pd.DataFrame]  # by name; the claimed lines' `p_holm` and `verdict`
    reproductions: pd.DataFrame | None  # `seed_reproductions`, its texts' verdicts rewritten
    size: int  # how many tests the family corrects together (those with a p-value)

    def holm_over(self) -> str:
        """The family, in words, for a block's sentence on its test."""
        return f"the README's {self.size} verdicts"


def readme_family(results_dir: Path) -> Family:
    """Read the README's claimed lines and tests from the committed tables, Holm-adjust their
    p-values together, and return the tables with those verdicts (tables that do not exist
    yet are left out)."""
    folder = Path(results_dir)
    tables, lines, p_values = {}, [], []
    for name, (claimed, _) in CLAIMED.items():
        path = folder / "tables" / f"{name}.csv"
        if not path.exists():
            continue
        table = tables[name] = pd.read_csv(path)
        for index in table.index[claimed(table) & table["p_value"].notna()]:
            lines.append((name, index))
            p_values.append(float(table.at[index, "p_value"]))
    path = folder / f"{REPRODUCTIONS}.csv"
    reproductions = pd.read_csv(path, keep_default_na=False) if path.exists() else None
    tests = claims.kept_tests(reproductions) if reproductions is not None else []
    p_values += [np.nan if test["p"] is None else test["p"] for test in tests]
    adjusted = stats.holm(p_values)
    for (name, index), p_holm in zip(lines, adjusted, strict=False):
        table = tables[name]
        table.at[index, "p_holm"] = p_holm
        table.at[index, "verdict"] = stats.verdict(table.at[index, "difference"], p_holm,
                                                   CLAIMED[name][1])
    if reproductions is not None:
        reproductions = claims.holm_verdicts(reproductions, adjusted[len(lines):])
    return Family(tables, reproductions, int(np.isfinite(p_values).sum()))
