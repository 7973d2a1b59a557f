"""The generated text of the README and the notebooks: figures, numbers and their readings.

Every "What you should see" section of a notebook, and every results block of the README, is a
generated block (`<!-- results:NAME -->`, see `report.py`) whose content a function here writes
from the committed `results/`: the figure embedded as a Markdown image, the numbers as a table,
and sentences whose every number comes from the table. Nothing in a block is typed by hand.

    python -m kd_experiments.readings          # rewrite every block (make readings)
    python -m kd_experiments.readings --check  # list stale blocks, exit 1 if any

The blocks themselves are in `readings_hinton` (notebooks 01-09 and the README's main
results), `readings_sweep` (notebook 04's grids), `readings_published` (notebooks 10-15) and
`readings_lab` (00, 16, 17); `BLOCKS` maps each name to its function of the results folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from kd_lab import records, report, stats
from kd_lab.records import RESULTS_DIR

REPO = Path(__file__).resolve().parents[1]
BLOCKS: dict[str, Callable[[Path], str]] = {}
HEADER = "### What you should see"


def generated(name: str):
    """Register the decorated function `f(results_dir) -> Markdown` as block `name`."""
    def register(function):
        if name in BLOCKS:
            raise ValueError(f"block {name!r} is generated twice")
        BLOCKS[name] = function
        return function
    return register


def figure(name: str, caption: str, from_notebook: bool = True) -> str:
    """A Markdown image of `results/figures/<name>.png`, relative to a notebook or the README."""
    prefix = "../results" if from_notebook else "results"
    return f"![{caption}]({prefix}/figures/{name}.png)"


def source_line(*paths: str) -> str:
    """Where a block's numbers come from, and how to regenerate it."""
    files = ", ".join(f"`results/{p}`" for p in paths)
    return (f"*Generated from {files} by `make readings` (runs measured on 2 CPU cores). "
            "Edit `kd_experiments/readings*.py`, not this cell.*")


def read_table(results_dir: Path, name: str) -> pd.DataFrame:
    """A committed table, `results/tables/<name>.csv`."""
    return pd.read_csv(Path(results_dir) / "tables" / f"{name}.csv")


def errors(values, digits: int = 1) -> str:
    """Test errors of runs, one value per seed, as `mean ± std [95% interval]` (out of 10,000
    unless the block says otherwise)."""
    summary = stats.describe(values)
    return report.mean_spread(summary["mean"], summary["std"], digits, n=summary["count"])


def span(low, high) -> str:
    """`low-high`, or one value when they are the same."""
    return str(low) if low == high else f"{low}-{high}"


def listed_runs(results_dir: Path, name: str) -> pd.DataFrame:
    """The summary rows of the runs behind table `name` (its `.runs.csv`)."""
    listed = records.table_runs(name, results_dir)
    if listed is None:
        raise FileNotFoundError(f"tables/{name}.runs.csv is missing: rerun its notebook")
    return listed


def unlisted_runs(results_dir: Path) -> dict[str, pd.DataFrame]:
    """The summary rows behind the tables that list no runs of their own (no `.runs.csv`), by
    name: the public recipes' tables, whose `<name>_rows_full.csv` names each run, notebook
    13's (its configs at `rohin_dasari.SELF_SEEDS`) and the workshop's committed runs
    (`16_workshop`, at `workshop.WORKSHOP_SEEDS`; no table file). Records the lab did not
    train through `runner.run` (the as-published loops, an ensemble) are not among them."""
    from . import rohin_dasari, workshop

    tables = Path(results_dir) / "tables"
    summary = records.read_summary(results_dir)
    found = {}
    for path in sorted(tables.glob("*_rows_full.csv")):
        name = path.name.removesuffix("_rows_full.csv") + "_full"
        ids = pd.read_csv(path).get("run_id")
        if ids is not None and not (tables / f"{name}.runs.csv").exists():
            found[name] = summary[summary["run_id"].isin(ids.dropna())].reset_index(drop=True)
    configs = {
        "13_self_distillation_full": [c for seed in rohin_dasari.SELF_SEEDS for c in
                                      rohin_dasari.self_distillation_configs(seed).values()],
        "16_workshop": [c for seed in workshop.WORKSHOP_SEEDS
                        for c in workshop.workshop_configs(seed)]}
    for name, made in configs.items():
        rows = summary[summary["run_id"].isin({c.run_id for c in made})]
        if len(rows):
            found[name] = rows.reset_index(drop=True)
    return found


def needed_runs(results_dir: Path) -> set[str]:
    """The run ids that a table, a stage or a plan needs: the runs each table lists (or
    `unlisted_runs` finds), every run of the dark-knowledge plans' stages, and what they
    start from (teachers, ensemble members, initial weights; a run's
    recorded teacher too). A record outside it is one no table lists, which the protocol
    deletes (git history keeps it): a notebook that reads runs lists them in a table."""
    from kd_lab.config import ensemble_members

    from . import dark_knowledge

    listed = set()
    for path in (Path(results_dir) / "tables").glob("*.runs.csv"):
        if not records.is_variant(path.name):
            listed |= set(pd.read_csv(path)["run_id"])
    for rows in unlisted_runs(results_dir).values():
        listed |= set(rows["run_id"])
    planned = [c for epochs in dark_knowledge.PLANS
               for _, configs in dark_knowledge.stages(results_dir, epochs) for c in configs or ()]
    while planned:  # each config with what it starts from
        config = planned.pop()
        listed.add(config.run_id)
        planned += [c for c in (config.teacher, config.init_from) if c is not None]
        planned += ensemble_members(config) if config.teacher_seeds else []
    teachers = records.read_summary(results_dir).set_index("run_id")["teacher_run_id"]
    return listed | set(teachers.reindex(sorted(listed & set(teachers.index))).dropna()) - {""}


def runs_behind(results_dir: Path, name: str) -> pd.DataFrame:
    """The summary rows behind table `name`: its `.runs.csv`, else `unlisted_runs`."""
    listed = records.table_runs(name, results_dir)
    return listed if listed is not None else unlisted_runs(results_dir)[name]


def budget_sentence(runs: pd.DataFrame) -> str:
    """How many of `runs` (summary rows) a budget binds: their best validation epoch fell in
    the last tenth of their epoch budget (`records.best_in_last_tenth`), counted per
    architecture."""
    bound = records.best_in_last_tenth(runs)
    if not bound.any():
        return (f"No run's best validation epoch falls in the last tenth of its budget (of "
                f"{len(runs)} runs): the budget did not bind.")
    counts = ", ".join(f"`{architecture}` {int(hit.sum())} of {len(hit)}"
                       for architecture, hit in bound.groupby(runs["architecture"]))
    return (f"The budget binds for {int(bound.sum())} of these {len(runs)} runs: their best "
            f"validation epoch falls in the last tenth of their budget ({counts}), so a longer "
            "budget could change their numbers.")


def execution_sentence(runs: pd.DataFrame, name: str | None = None) -> str:
    """Which of `runs` (summary rows of table `name`) were trained in a stack and which alone,
    when the table mixes them ("" when all were trained one way)."""
    ways = records.trained_as_mix(runs)
    if not ways:
        return ""
    table = f" of `{name}`" if name else ""
    listed = "; ".join(ways)
    mix = records.execution_mix(runs)
    within = (f"Within an architecture they also differ: {'; '.join(mix)}." if mix else
              "Within each architecture the runs were executed alike (`tests/test_tables.py`), "
              "and a stacked run matches the same run trained alone to float rounding "
              "(`tests/lab/test_stack_runs.py`).")
    return (f"Not every run{table} was trained the same way. {listed[0].upper()}{listed[1:]}. "
            + within)


def teachers_of(rows: pd.DataFrame) -> str:
    """Which teachers the distilled `rows` distil, in words."""
    ids = rows.loc[rows.alpha < 1, "teacher_run_id"].unique()
    if len(ids) == 1:
        return "every seed distilling one fixed teacher (seed 0)"
    return "each seed distilling the teacher of its own seed"


def show(name: str, results_dir=records.COMMITTED_DIR, shown_above: str = "") -> None:
    """Display block `name` in a notebook: its numbers and sentences as Markdown, from the
    committed records (whatever results folder the notebook itself writes to, FAST or not).
    Its figures are left out (the notebook's own cells draw them above it), and so are its
    heading and the footer meant for the README's maintainers. `shown_above`: a Markdown table
    a cell above displayed; where the block holds each of its rows (in any order: the cell ran
    on the committed records), one line points to it instead of showing it twice."""
    from IPython.display import Markdown, display

    text = load_blocks()[name](Path(results_dir)).strip()
    kept = [line for line in text.splitlines()
            if not (line.startswith(HEADER) or line.startswith("*Generated from ")
                    or line.startswith("!["))]
    above = {line for line in shown_above.splitlines() if line.strip()}
    if above and above <= set(kept):
        kept = _pointing_to(kept, above)
    display(Markdown("\n".join(kept).strip()))


POINTER = "The cell above showed this reading's table, from the same committed records."


def _pointing_to(lines: list[str], above: set[str]) -> list[str]:
    """`lines` without those in `above` (a code fence holding only such lines goes with its
    fences), `POINTER` where the first of them stood."""
    kept, i = [], 0
    while i < len(lines):
        end = i + 1
        if lines[i].startswith("```"):
            close = next((j for j in range(end, len(lines)) if lines[j].startswith("```")), None)
            if close is None or not all(x in above or not x.strip() for x in lines[end:close]):
                kept.append(lines[i])
                i = end
                continue
            end = close + 1
        elif lines[i] not in above:
            kept.append(lines[i])
            i = end
            continue
        if POINTER not in kept:
            kept.append(POINTER)
        i = end
    return kept


def load_blocks() -> dict[str, Callable[[Path], str]]:
    """Every block generator (importing the modules that register them)."""
    from . import (  # noqa: F401  (they fill BLOCKS)
        readings_dark_knowledge,
        readings_hinton,
        readings_lab,
        readings_methods,
        readings_published,
        readings_sweep,
    )

    return BLOCKS


def documents(repo: Path = REPO) -> list[Path]:
    """The files that hold generated blocks: the README (the notebooks show theirs when
    executed, `show`)."""
    return [repo / "README.md"]


def regenerate(results_dir=RESULTS_DIR, repo: Path = REPO, write: bool = True) -> list[str]:
    """Rewrite every generated block from `results_dir`; return `file: block` for each stale one.

    A block name without a generator is an error, so a typo cannot leave a block unchecked.
    """
    blocks = load_blocks()
    cache: dict[str, str] = {}
    for path in documents(repo):  # every name first: a typo fails before any table is read
        for name in report.block_names(path.read_text()):
            if name not in blocks:
                raise ValueError(f"no generator for the block {name!r}; add one to "
                                 "kd_experiments/readings*.py")

    def content(name: str) -> str:
        if name not in cache:
            cache[name] = blocks[name](Path(results_dir)).strip()
        return cache[name]

    stale = []
    for path in documents(repo):
        text = path.read_text()
        names = report.block_names(text)
        new = text
        for name in names:
            new = report.replace_block(new, name, content(name))
        changed = [n for n in names if report.block(text, n) != report.block(new, n)]
        if changed and write:
            path.write_text(new)
        stale += [f"{path.relative_to(repo)}: {name}" for name in changed]
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kd_experiments.readings",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only list the blocks that differ from results/ (exit 1 if any)")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    stale = regenerate(args.results_dir, write=not args.check)
    for line in stale:
        print(("stale " if args.check else "rewrote ") + line)
    if args.check and stale:
        print("run `make readings` to regenerate them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run the imported module's main: the block modules register into *its* BLOCKS, not into
    # this `__main__` copy's.
    from . import readings

    sys.exit(readings.main())
