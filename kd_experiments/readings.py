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
# Blocks written elsewhere: the benchmark script writes its own (tests/test_benchmark.py).
EXTERNAL_BLOCKS = ("benchmarks",)
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


def listed_runs(results_dir: Path, name: str) -> pd.DataFrame:
    """The summary rows of the runs behind table `name` (its `.runs.csv`)."""
    listed = records.table_runs(name, results_dir)
    if listed is None:
        raise FileNotFoundError(f"tables/{name}.runs.csv is missing: rerun its notebook")
    return listed


def teachers_of(results_dir: Path, rows: pd.DataFrame) -> str:
    """Which teachers the distilled `rows` distil, in words."""
    ids = rows.loc[rows.alpha < 1, "teacher_run_id"].unique()
    if len(ids) == 1:
        return "every seed distilling one fixed teacher (seed 0)"
    replicates = records.read_summary(results_dir).set_index("run_id").loc[ids, "replicate"]
    return "each seed distilling the teacher of its own seed" + (
        " (its second training, `replicate=1`)" if (replicates.fillna(0) == 1).all() else "")


def show(name: str, results_dir=records.COMMITTED_DIR) -> None:
    """Display block `name` in a notebook: its numbers and sentences as Markdown, from the
    committed records (whatever results folder the notebook itself writes to, FAST or not).
    Its figures are left out (the notebook's own cells draw them above it), and so are its
    heading and the footer meant for the README's maintainers."""
    from IPython.display import Markdown, display

    text = load_blocks()[name](Path(results_dir)).strip()
    kept = [line for line in text.splitlines()
            if not (line.startswith(HEADER) or line.startswith("*Generated from ")
                    or line.startswith("!["))]
    display(Markdown("\n".join(kept).strip()))


def load_blocks() -> dict[str, Callable[[Path], str]]:
    """Every block generator (importing the modules that register them)."""
    from . import (  # noqa: F401  (they fill BLOCKS)
        readings_hinton,
        readings_lab,
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

    def content(name: str) -> str:
        if name not in blocks:
            raise ValueError(f"no generator for the block {name!r}; add one to "
                             "kd_experiments/readings*.py")
        if name not in cache:
            cache[name] = blocks[name](Path(results_dir)).strip()
        return cache[name]

    stale = []
    for path in documents(repo):
        text = path.read_text()
        names = [n for n in report.block_names(text) if n not in EXTERNAL_BLOCKS]
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
