"""The runs behind the lab's main tables, trained seed by seed in the background, resumably.

    nohup python -m kd_experiments.evidence > evidence.log 2>&1 &   # hours on 2 cores
    python -m kd_experiments.evidence --plan                       # done and left

Seed counts are chosen so that each table can detect the differences it is about (the README's
"How numbers are reported" gives the smallest difference each table detects): 10 seeds for
the comparison (teacher, scratch, distilled 800-800) and the 30-30 T x alpha grid, 5 for the
800-800 grid and the width table. Every
student seed distils the teacher of its own seed, so the spreads hold the teachers' variance;
each grid's alpha = 1 cell is the scratch run of the comparison. The full profile's budget
(at most 150 epochs, patience 10) is meant not to
bind; whether it does is counted per table by the README's protocol table (the runs whose best
epoch fell in its last tenth), and the published recipes' fixed budgets (notebooks 11 and 15)
bind for some of their runs there.

These are the runs of the lab's first tables, on the full profile's early-stopped teachers:
the tables after the comparison and the 30-30 grid distil a second training (`SECOND`) of the
teachers of seeds 0-4. The paper profile's tables (the strong teachers) are trained by
`kd_experiments.dark_knowledge`, and the lab's tables move onto them as their runs come in.

Work comes in units (a teacher, whose logits are then kept; a seed's comparison runs; a seed's
grid), ordered so that every table grows one seed at a time; results `runner.run` does not
train (the soft-target examples, the as-published loops) are made as soon as
their runs are finished (`Derived`). A killed process loses at most the epoch it was in.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kd_lab import records, runner, sweep
from kd_lab.config import RunConfig

from . import (
    hinton2015,
    pratt2762,
    tsitsimis,
)

COMPARE_SEEDS = tuple(range(10))
SMALL_GRID_SEEDS = tuple(range(10))  # the 30-30 student
LARGE_GRID_SEEDS = tuple(range(5))  # the 800-800 student
WIDTH_SEEDS = tuple(range(5))
PUBLISHED_SEEDS = (0, 1, 2)  # the as-published loops of notebooks 11 and 15
SECOND = dict(replicate=1)  # the second training of a run (see the module docstring)
SECOND_TEACHER_SEEDS = tuple(sorted(set(LARGE_GRID_SEEDS + WIDTH_SEEDS)))


def full_configs(seed: int, teacher_knobs: dict | None = None
                 ) -> tuple[RunConfig, RunConfig, RunConfig]:
    """(teacher, scratch, distilled 800-800 at T = 20, alpha = 0.1) of one seed."""
    return hinton2015.hinton_configs(seed, "full", teacher_knobs=teacher_knobs)


def grid_configs(seed: int, student: str, teacher_knobs: dict | None = None) -> list[RunConfig]:
    """One seed's T x alpha grid of `student`, distilling its own teacher seed."""
    template = full_configs(seed, teacher_knobs)[2].replace(architecture=student)
    return sweep.sweep_configs(template, sweep.TEMPERATURES, sweep.ALPHAS, (seed,),
                               fixed_teacher=False, scratch_baseline=True)


def width_configs(seeds=WIDTH_SEEDS) -> list[RunConfig]:
    return hinton2015.width_configs(seeds=seeds, fixed_teacher=False, scratch_baseline=True,
                                    teacher_knobs=SECOND)


def units() -> list[tuple[str, list[RunConfig]]]:
    """(name, configs) in training order."""
    work = []
    for seed in COMPARE_SEEDS:
        teacher, scratch, distilled = full_configs(seed)
        work.append((f"teacher, seed {seed}", [teacher]))
        work.append((f"comparison students, seed {seed}", [scratch, distilled]))
        if seed in SMALL_GRID_SEEDS:
            work.append((f"30-30 grid, seed {seed}", grid_configs(seed, "mlp:30,30")))
    for seed in SECOND_TEACHER_SEEDS:
        work.append((f"teacher, seed {seed}, second training", [full_configs(seed, SECOND)[0]]))
    for seed in LARGE_GRID_SEEDS:
        work.append((f"800-800 grid, seed {seed}", grid_configs(seed, "mlp:800,800", SECOND)))
    for seed in WIDTH_SEEDS:
        work.append((f"width table, seed {seed}", width_configs((seed,))))
    return work


@dataclass(frozen=True)
class Derived:
    """A result that `runner.run` does not train, measured from finished runs' models: it is
    made as soon as the runs it `needs` are finished, so on the machine where their models
    are (models are not committed; a missing one is retrained, announced, at a cost)."""
    name: str
    needs: tuple[RunConfig, ...]
    count: Callable[[Path], tuple[int, int]]  # (done, total) in a results folder
    make: Callable[[Path, object], object]  # make(results_dir, data_dir)


def derived_units(results_dir=records.RESULTS_DIR) -> list[Derived]:
    """The results that `runner.run` does not train: the soft-target examples of notebook 05
    (from the model of the teacher behind them) and the as-published loops."""
    def folders(paths):
        return lambda r: (sum((f / "row.json").exists() for f in paths(r)), len(paths(r)))

    teacher = full_configs(0, SECOND)[0]
    tiny = [tsitsimis.tiny_student_configs(s, "full")["scratch"] for s in PUBLISHED_SEEDS]
    pratt = [pratt2762.pratt_configs(s, "full")["alpha=1"] for s in PUBLISHED_SEEDS]
    return [
        Derived("soft-target examples of teacher seed 0 (notebook 05)", (teacher,),
                lambda r: (int(hinton2015.has_soft_target_examples(teacher, r)), 1),
                lambda r, d: hinton2015.soft_target_examples(teacher, r, data_dir=d)),
        Derived("as published: the 784-10-10 double-softmax baseline (notebook 11)", (),
                folders(lambda r: [tsitsimis.double_softmax_folder(c, r) for c in tiny]),
                lambda r, d: tsitsimis.tiny_student_rows(PUBLISHED_SEEDS, "full", r, d)),
        Derived("as published: Pratt2762's loops (notebook 15)", (),
                folders(lambda r: [pratt2762.as_published_folder(c, a, r) for c in pratt
                                   for a in pratt2762.PRATT_ALPHAS]),
                lambda r, d: pratt2762.pratt_rows(PUBLISHED_SEEDS, "full", results_dir=r,
                                                  data_dir=d)),
    ]


def plan(results_dir=records.RESULTS_DIR) -> list[tuple[str, int, int]]:
    """(unit, finished runs, runs) for every unit, derived results last."""
    return ([(name, sum(records.is_finished(c, results_dir) for c in configs), len(configs))
             for name, configs in units()]
            + [(unit.name, *unit.count(results_dir)) for unit in derived_units(results_dir)])


# The fields a finished run must share with an unfinished one to stand for its duration.
ALIKE = ("dataset", "architecture", "profile", "epochs", "train_limit", "jitter_pixels",
         "transfer_classes")


def minutes_left(configs, results_dir=records.RESULTS_DIR) -> tuple[float, int]:
    """(minutes, unknown): how long the `configs` still to train should take, each the median
    wall time of the finished runs alike (`ALIKE`; a stacked run's time is its share of its
    stack's, so shares add up to the stack), and how many have no finished run alike."""
    minutes, unknown, summary = 0.0, 0, records.read_summary(results_dir)
    for config in configs:
        if records.is_finished(config, results_dir):
            continue
        alike = summary
        for field in ALIKE if not summary.empty else ():
            column, value = alike[field], getattr(config, field)
            alike = alike[column.isna() if value is None else column.astype(str) == str(value)]
        if not alike.empty:
            minutes += float(alike["wall_seconds"].median()) / 60
        else:
            unknown += 1
    return minutes, unknown


def train_all(results_dir=records.RESULTS_DIR, data_dir=None) -> None:
    """Train every unit's missing runs in order, making each derived result as soon as the
    runs it needs are finished (this takes hours; see the module docstring)."""
    derive_ready(results_dir, data_dir)
    for name, configs in units():
        if all(records.is_finished(c, results_dir) for c in configs):
            continue
        started = time.perf_counter()
        print(f"{time.strftime('%H:%M:%S')} {name}: {len(configs)} runs", flush=True)
        try:
            sweep.run_configs(configs, results_dir, data_dir, verbose=2, progress=False)
        except runner.ModelNotHere as error:  # the other units can still train
            print(f"{name}: cannot train on this machine: {error}", flush=True)
            continue
        _done(name, started)
        derive_ready(results_dir, data_dir)
        runner.keep_teacher_logits([c for _, u in units() for c in u], results_dir, data_dir)


def derive_ready(results_dir=records.RESULTS_DIR, data_dir=None) -> None:
    """Make every missing derived result whose runs are all finished."""
    for unit in derived_units(results_dir):
        done, total = unit.count(results_dir)
        if done == total or not all(records.is_finished(c, results_dir) for c in unit.needs):
            continue
        started = time.perf_counter()
        print(f"{time.strftime('%H:%M:%S')} {unit.name}", flush=True)
        try:
            unit.make(results_dir, data_dir)
        except Exception as error:  # noqa: BLE001  (the training units must go on)
            print(f"{unit.name}: FAILED: {error!r}", flush=True)
            continue
        _done(unit.name, started)


def _done(name: str, started: float) -> None:
    print(f"{time.strftime('%H:%M:%S')} {name}: done in {(time.perf_counter() - started) / 60:.1f}"
          " min", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", action="store_true", help="list the units, train nothing")
    parser.add_argument("--results-dir", default=str(records.RESULTS_DIR))
    args = parser.parse_args(argv)
    if args.plan:
        hours, unknown = 0.0, 0
        left = {name: minutes_left(configs, args.results_dir) for name, configs in units()}
        for name, done, total in plan(args.results_dir):
            minutes, missing = left.get(name, (0.0, 0))
            hours, unknown = hours + minutes / 60, unknown + missing
            estimate = (f"  about {minutes:.0f} min" if minutes else "") + (
                f"  {missing} without a finished run alike" if missing else "")
            print(f"{done:>3}/{total:<3} {name}{estimate if done < total else ''}")
        print(f"about {hours:.1f} h of training left, at the median time of finished runs alike"
              + (f"; {unknown} runs have none and are not counted" if unknown else ""))
        return 0
    train_all(args.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
