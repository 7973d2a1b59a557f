"""The runs behind the lab's main tables, trained seed by seed in the background, resumably.

    nohup python -m kd_utils.reproductions.evidence > evidence.log 2>&1 &   # hours on 2 cores
    python -m kd_utils.reproductions.evidence --plan                       # done and left

Seed counts are chosen so that each table can detect the differences it is about (the README's
"How numbers are reported" gives the smallest detectable difference per table): 10 seeds for
the comparison (teacher, scratch, distilled 800-800) and the 30-30 T x alpha grid, 5 for the
800-800 grid and the width table. Every student seed distils the teacher of its own seed, so
the spreads hold the teachers' variance; each grid's alpha = 1 cell is the scratch run of the
comparison. Budgets do not bind: at most `BUDGET["epochs"]` epochs, early stopping after
`BUDGET["patience"]` epochs without a better validation accuracy.

Work comes in units, each complete on its own (a teacher; a seed's comparison runs; a seed's
grid), ordered so that every table grows one seed at a time. A killed process loses at most
the epoch it was in: finished runs are read back, a run or stack resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import sys
import time

from .. import records, sweep
from ..config import RunConfig
from . import hinton2015, hinton2015_transfer

# Far above where the runs stop (the fraction whose best epoch falls in the last tenth is
# reported per table); patience 10 of a 5,000-image validation split's accuracy.
BUDGET = dict(epochs=150, patience=10)
COMPARE_SEEDS = tuple(range(10))
SMALL_GRID_SEEDS = tuple(range(10))  # the 30-30 student
LARGE_GRID_SEEDS = tuple(range(5))  # the 800-800 student
WIDTH_SEEDS = tuple(range(5))
TRANSFER_SEEDS = tuple(range(5))  # notebook 08, selecting on validation loss
REGULARISER_SEEDS = tuple(range(5))  # notebook 09


def full_configs(seed: int) -> tuple[RunConfig, RunConfig, RunConfig]:
    """(teacher, scratch, distilled 800-800 at T = 20, alpha = 0.1) of one seed."""
    return hinton2015.hinton_configs(seed, "full", student_knobs=BUDGET, teacher_knobs=BUDGET)


def grid_configs(seed: int, student: str) -> list[RunConfig]:
    """One seed's T x alpha grid of `student`, distilling its own teacher seed."""
    template = full_configs(seed)[2].replace(architecture=student)
    return sweep.sweep_configs(template, sweep.TEMPERATURES, sweep.ALPHAS, (seed,),
                               fixed_teacher=False, scratch_baseline=True)


def width_configs(seeds=WIDTH_SEEDS) -> list[RunConfig]:
    return hinton2015.width_configs(seeds=seeds, student_knobs=BUDGET, teacher_knobs=BUDGET,
                                    fixed_teacher=False, scratch_baseline=True)


def units() -> list[tuple[str, list[RunConfig]]]:
    """(name, configs) in training order."""
    work = []
    for seed in COMPARE_SEEDS:
        teacher, scratch, distilled = full_configs(seed)
        work.append((f"teacher, seed {seed}", [teacher]))
        work.append((f"comparison students, seed {seed}", [scratch, distilled]))
        if seed in SMALL_GRID_SEEDS:
            work.append((f"30-30 grid, seed {seed}", grid_configs(seed, "mlp:30,30")))
    for seed in LARGE_GRID_SEEDS:
        work.append((f"800-800 grid, seed {seed}", grid_configs(seed, "mlp:800,800")))
    for seed in WIDTH_SEEDS:
        work.append((f"width table, seed {seed}", width_configs((seed,))))
    for name in hinton2015_transfer.TRANSFER_SETS:
        work.append((f"transfer set {name}", hinton2015_transfer.omitted_class_configs(
            name, TRANSFER_SEEDS, student_knobs=BUDGET, teacher_knobs=BUDGET,
            monitor="val_loss")))
    work.append(("soft targets as a regulariser", hinton2015.regulariser_configs(
        seeds=REGULARISER_SEEDS, student_knobs=BUDGET, teacher_knobs=BUDGET,
        train_size=55_000)))
    return work


def plan(results_dir=records.RESULTS_DIR) -> list[tuple[str, int, int]]:
    """(unit, finished runs, runs) for every unit."""
    return [(name, sum(records.is_finished(c, results_dir) for c in configs), len(configs))
            for name, configs in units()]


def train_all(results_dir=records.RESULTS_DIR, data_dir=None) -> None:
    """Train every unit's missing runs in order (this takes hours; see the module docstring)."""
    for name, configs in units():
        if all(records.is_finished(c, results_dir) for c in configs):
            continue
        started = time.perf_counter()
        print(f"{time.strftime('%H:%M:%S')} {name}: {len(configs)} runs", flush=True)
        sweep.run_configs(configs, results_dir, data_dir, verbose=2, progress=False)
        print(f"{time.strftime('%H:%M:%S')} {name}: done in "
              f"{(time.perf_counter() - started) / 60:.1f} min", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", action="store_true", help="list the units, train nothing")
    parser.add_argument("--results-dir", default=str(records.RESULTS_DIR))
    args = parser.parse_args(argv)
    if args.plan:
        for name, done, total in plan(args.results_dir):
            print(f"{done:>3}/{total:<3} {name}")
        return 0
    train_all(args.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
