"""Dark knowledge or regularisation? The lab's strong teachers, chosen on validation.

    nohup python -m kd_experiments.dark_knowledge > results/dark_knowledge.log 2>&1 &
    python -m kd_experiments.dark_knowledge --plan      # what is done, what is decided, left

Hinton, Vinyals & Dean (2015)'s MNIST teacher makes 67 test errors; the lab's earlier teacher
(Adam at a constant rate, stopped early after 12-35 epochs) made about 146, as many as the
paper's student from scratch, so a distilled student's gain could not be told apart from a
regulariser's. This module trains one set of teachers for the whole lab with the paper's
ingredients (784-1200-1200-10, dropout 0.2/0.5, max-norm 3.5, +-2 pixel jitter) and a long
schedule (SGD with momentum 0.9, cosine decay over 300 epochs, no early stop; the best
validation epoch is kept), in three stages, each decided from the records of the one before:

1. **Precision.** Mixed bfloat16 trains a teacher epoch about 1.7x as fast as float32 here
   (`benchmarks/teacher_speed.py`). It is used only if a paired check over `CHECK_SEEDS`
   (the same recipe over `CHECK_EPOCHS` epochs, both precisions, paired by seed: same
   initial weights, same batches) detects no difference in test errors.
2. **Pilot.** The learning rates `PILOT_RATES` at seed 0, in the chosen precision, over the
   full schedule; the one with the fewest *validation* errors at its kept epoch wins (the test
   set plays no part).
3. **Teachers.** The winning recipe at `TEACHER_SEEDS` (seed 0 is the pilot's own run).

A killed process loses at most the epoch it was in: run it again to go on.
"""

from __future__ import annotations

import argparse
import sys
import time

from kd_lab import records, runner, stats
from kd_lab.config import RunConfig

CHECK_SEEDS = tuple(range(5))
CHECK_EPOCHS = 30
PILOT_RATES = (0.05, 0.1)
TEACHER_SEEDS = tuple(range(10))
EPOCHS = 300
PRECISIONS = ("mixed_bfloat16", "float32")  # the faster first: used unless the check objects


def teacher_config(seed: int, learning_rate: float = PILOT_RATES[0], epochs: int = EPOCHS,
                   precision: str = "float32") -> RunConfig:
    """The strong teacher recipe at one seed (the paper profile's data: 55,000 training
    images, 5,000 for validation)."""
    return RunConfig(dataset="mnist", role="teacher", architecture="hinton_teacher",
                     jitter_pixels=2, optimizer="sgd", learning_rate=learning_rate,
                     momentum=0.9, lr_schedule="cosine", epochs=epochs, patience=0,
                     batch_size=128, val_size=5000, seed=seed, profile="paper",
                     precision=precision)


def check_configs() -> list[RunConfig]:
    """The precision check's runs: each seed in each precision, over `CHECK_EPOCHS`."""
    return [teacher_config(seed, epochs=CHECK_EPOCHS, precision=precision)
            for seed in CHECK_SEEDS for precision in PRECISIONS]


def _rows(configs, results_dir) -> list[dict] | None:
    """The finished records' rows of `configs`, or None while any is unfinished."""
    if not all(records.is_finished(c, results_dir) for c in configs):
        return None
    return [records.load_record(c, results_dir).row for c in configs]


def precision_check(results_dir=records.RESULTS_DIR) -> dict | None:
    """The paired comparison of test errors, bfloat16 minus float32 by seed, with the
    precision it chooses; None until every check run is finished."""
    rows = _rows(check_configs(), results_dir)
    if rows is None:
        return None
    errors = {p: [r["test_errors"] for r in rows if r["precision"] == p] for p in PRECISIONS}
    result = stats.paired(errors["mixed_bfloat16"], errors["float32"])
    verdict = stats.verdict(result["difference"], result["p_value"], "test_errors")
    return dict(result, n=len(CHECK_SEEDS), verdict=verdict, errors=errors,
                precision="mixed_bfloat16" if verdict == stats.UNDECIDED else "float32")


def pilot_configs(precision: str) -> list[RunConfig]:
    return [teacher_config(0, rate, precision=precision) for rate in PILOT_RATES]


def pilot_choice(precision: str, results_dir=records.RESULTS_DIR) -> dict | None:
    """The pilot's learning rate with the fewest validation errors (ties: the smaller rate),
    with every candidate's validation errors; None until the pilot is finished."""
    rows = _rows(pilot_configs(precision), results_dir)
    if rows is None:
        return None
    val_errors = {r["learning_rate"]: round((1 - r["val_accuracy"]) * r["val_size"])
                  for r in rows}
    return dict(learning_rate=min(PILOT_RATES, key=lambda rate: (val_errors[rate], rate)),
                val_errors=val_errors)


def stages(results_dir=records.RESULTS_DIR) -> list[tuple[str, list[RunConfig] | None]]:
    """(stage, its configs) in order; None where an earlier stage has not decided yet."""
    check = precision_check(results_dir)
    precision = check and check["precision"]
    pilot = precision and pilot_choice(precision, results_dir)
    return [("precision check", check_configs()),
            ("pilot", pilot_configs(precision) if precision else None),
            ("teachers", [teacher_config(seed, pilot["learning_rate"], precision=precision)
                          for seed in TEACHER_SEEDS] if pilot else None)]


def teachers(results_dir=records.RESULTS_DIR) -> list[RunConfig] | None:
    """The lab's teachers (`TEACHER_SEEDS`), once precision and pilot are decided."""
    return stages(results_dir)[-1][1]


def train_teachers(results_dir=records.RESULTS_DIR, data_dir=None) -> None:
    """Train every stage's missing runs in order (hours on 2 cores; resumable)."""
    while True:
        pending = [(name, c) for name, configs in stages(results_dir) for c in configs or ()
                   if not records.is_finished(c, results_dir)]
        if not pending:
            break
        name, config = pending[0]
        started = time.perf_counter()
        print(f"{time.strftime('%H:%M:%S')} {name}: {config.run_id}", flush=True)
        runner.run(config, results_dir, data_dir=data_dir, verbose=2, why=f"{name}: training")
        print(f"{time.strftime('%H:%M:%S')} done in {(time.perf_counter() - started) / 60:.1f} "
              "min", flush=True)
    describe(results_dir)


def describe(results_dir=records.RESULTS_DIR) -> None:
    """Print each stage's progress and decision."""
    check = precision_check(results_dir)
    for name, configs in stages(results_dir):
        if configs is None:
            print(f"  -/- {name}: waits for the stage before")
            continue
        done = sum(records.is_finished(c, results_dir) for c in configs)
        print(f"{done:>3}/{len(configs):<3} {name}")
    if check:
        print(f"precision: bfloat16 - float32 test errors {check['difference']:+.1f} "
              f"[{check['diff_low']:+.1f}, {check['diff_high']:+.1f}], paired p = "
              f"{check['p_value']:.3f}, n = {check['n']}: {check['verdict']} -> "
              f"{check['precision']}")
        pilot = pilot_choice(check["precision"], results_dir)
        if pilot:
            print(f"pilot: validation errors by learning rate {pilot['val_errors']} -> "
                  f"{pilot['learning_rate']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", action="store_true", help="print the stages, train nothing")
    parser.add_argument("--results-dir", default=str(records.RESULTS_DIR))
    args = parser.parse_args(argv)
    if args.plan:
        describe(args.results_dir)
    else:
        train_teachers(args.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
