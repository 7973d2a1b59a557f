"""Distillation methods side by side: Hinton KD, decoupled KD, a FitNets hint, label smoothing
and the student from scratch.

    nohup python -m kd_experiments.methods > results/methods.log 2>&1 &   # about 1.5 h
    python -m kd_experiments.methods --plan

On MNIST the methods share the dark-knowledge plan's students (800-800 and 30-30), teachers,
recipes and seeds (`dark_knowledge.METHODS`, trained there). On Fashion-MNIST, here: a small
CNN teacher (`mnist_cnn`: two convolutions, four dense layers of 56; Adam on a cosine schedule
over `TEACHER_EPOCHS`) and a small MLP student (`STUDENT`), every method against Hinton KD and
against scratch, paired by seed, in one Holm family (`dark_knowledge.controls_table`). Each
student seed distils the teacher of its own seed; the best validation epoch is kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from kd_lab import records, runner
from kd_lab.config import RunConfig

from . import dark_knowledge

SEEDS = tuple(range(5))
TEACHER_EPOCHS = 30
STUDENT_EPOCHS = 40
STUDENT = "mlp:64,64"
TEMPERATURE, ALPHA = 4.0, 0.1
SMOOTHING = 0.1
ARMS = ("scratch", "hinton", "decoupled", "hint", "label_smoothing")
TABLE = "18_methods_fashion_mnist"
MNIST_TABLE = "18_methods_mnist"


def fashion_configs(seed: int, profile: str = "full") -> dict[str, RunConfig]:
    """The Fashion-MNIST runs of one seed: the teacher, then each of `ARMS`. `profile`
    "fast" shrinks data and epochs (the tests)."""
    fast = profile == "fast"
    common = dict(dataset="fashion_mnist", seed=seed, profile=profile, patience=0,
                  lr_schedule="cosine", val_size=1000 if fast else 5000,
                  train_limit=3000 if fast else None)
    teacher = RunConfig(role="teacher", architecture="mnist_cnn",
                        epochs=2 if fast else TEACHER_EPOCHS, **common)
    student = dict(architecture=STUDENT, epochs=2 if fast else STUDENT_EPOCHS, **common)
    distilled = RunConfig(role="distilled", teacher=teacher, temperature=TEMPERATURE,
                          alpha=ALPHA, **student)
    scratch = RunConfig(role="scratch", **student)
    # The CNN's fourth dense layer (56 units) hints the student's second hidden layer.
    return {"teacher": teacher, "scratch": scratch, "hinton": distilled,
            "decoupled": distilled.replace(loss="decoupled", alpha=dark_knowledge.METHOD_ALPHA),
            "hint": distilled.replace(loss="hint", alpha=dark_knowledge.METHOD_ALPHA,
                                      loss_params={"teacher_layer": 4, "student_layer": 2}),
            "label_smoothing": scratch.replace(loss="label_smoothing",
                                               loss_params={"smoothing": SMOOTHING})}


def all_configs(seeds=SEEDS, profile: str = "full") -> list[RunConfig]:
    """Every run, teachers first, seed by seed."""
    return [config for seed in seeds for config in fashion_configs(seed, profile).values()]


def fashion_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Each method against Hinton KD and against scratch, paired by seed, one Holm family."""
    students = rows[rows["role"] != "teacher"]
    return dark_knowledge.controls_table(students, frozenset(),
                                         arms=[a for a in ARMS if a not in ("scratch", "hinton")])


def fashion_rows(seeds=SEEDS, profile: str = "full", results_dir=records.RESULTS_DIR,
                 data_dir=None, verbose: int = 0) -> pd.DataFrame:
    """Every run's summary row, read back from its record or trained now (announced; about
    1.5 h for all on 2 cores)."""
    done = [runner.run(c, results_dir=results_dir, data_dir=data_dir, verbose=verbose)
            for c in all_configs(seeds, profile)]
    return pd.DataFrame([record.row for record in done])


def write_outputs(rows: pd.DataFrame, results_dir=records.RESULTS_DIR,
                  profile: str = "full") -> tuple[pd.DataFrame, Path, Path]:
    """(table, its CSV, its figure): `tables/18_methods_fashion_mnist_<profile>.csv` and the
    differences with their intervals, `figures/18_methods_fashion_mnist_<profile>.png`."""
    name = f"{TABLE}_{profile}"
    table = fashion_table(rows)
    csv = records.write_table(table, name, results_dir,
                              runs=rows[rows["role"] != "teacher"])
    return table, csv, dark_knowledge.save_controls_figure(
        table, name + records.variant_of(csv), results_dir)


def write_mnist_outputs(results_dir=records.RESULTS_DIR) -> tuple[pd.DataFrame, Path | None,
                                                                   Path | None]:
    """(table, its CSV, its figure) of the MNIST methods, from the dark-knowledge plan's
    records (`dark_knowledge.methods_so_far`; trains nothing): `tables/18_methods_mnist.csv`
    and `figures/18_methods_mnist.png`, the lines with runs enough to test. Nothing is written
    (None, None) where `results_dir` holds none of these runs."""
    table, rows = dark_knowledge.methods_so_far(results_dir)
    if table.empty:
        return table, None, None
    csv = records.write_table(table, MNIST_TABLE, results_dir, runs=rows)
    return table, csv, dark_knowledge.save_controls_figure(
        table, MNIST_TABLE + records.variant_of(csv), results_dir)


def train_all(seeds=SEEDS, profile: str = "full", results_dir=records.RESULTS_DIR,
              data_dir=None) -> pd.DataFrame:
    """Train (or read back) every run; write and return the students' table."""
    rows = fashion_rows(seeds, profile, results_dir, data_dir, verbose=2)
    return write_outputs(rows, results_dir, profile)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", action="store_true", help="count what is done, train nothing")
    parser.add_argument("--results-dir", default=str(records.RESULTS_DIR))
    args = parser.parse_args(argv)
    if args.plan:
        configs = all_configs()
        done = sum(records.is_finished(c, args.results_dir) for c in configs)
        print(f"{done}/{len(configs)} Fashion-MNIST runs finished")
    else:
        print(train_all(results_dir=args.results_dir).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
