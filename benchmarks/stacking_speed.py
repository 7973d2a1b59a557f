"""What does stacking save? Sweeps trained as stacked students against the same runs one by one.

    python benchmarks/stacking_speed.py            # about two hours on 2 cores (most of it
                                                   # (a)'s 63 separate runs of 60 epochs)
    python benchmarks/stacking_speed.py --quick    # FAST profile: a smoke run of every case

Measures, in one command (each case in a process of its own, `--reps` repetitions of the
stacked cases taken round-robin with the separate ones; these VMs switch between two speeds):

(a) end-to-end wall time of the 30-30 paper-profile grid (21 cells x seeds 0-2 = 63 runs) with
    the sweep CLI from an empty results folder holding only the strong teacher's record and
    its committed logits: `--stack-size 1` (run by run) against `--stack-size 63` (one stack);
(b) CPU-seconds per student-epoch of the 30-30 stack at K = 21 (the grid at seed 0) and
    K = 63, from the stacks' own epoch times (first epoch dropped: it compiles), against the
    separate runs' (their median epoch, first dropped likewise);
(c) 800-800 students at K = 4 on cached logits: throughput of one stack of 4 against 4
    separate runs (CPU-seconds per epoch, first epoch dropped), in this process;
(d) peak resident memory (VmHWM) of the process that trains the K = 63 stack.

Rows go to `results/benchmarks.csv` (replacing this script's earlier rows, keeping the other
benchmarks') and, by `make readings`, the README's block. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

OWNER = "stacking"  # the `setup` prefix of this script's rows in benchmarks.csv
SMALL, LARGE = "mlp:30,30", "mlp:800,800"


def _configs(profile: str):
    from kd_experiments import hinton2015

    # Paper profile: the strong teacher of seed 0, whose logits are committed with its record
    # (its model is not: the students need none).
    teacher, _, distilled = hinton2015.hinton_configs(0, profile)
    return teacher, distilled


def prepare_teacher(profile: str, base: Path) -> None:
    """A results folder holding the teacher's record and its logits only."""
    from kd_lab import records, runner

    teacher, _ = _configs(profile)
    if profile == "fast":  # a smoke run: its own FAST teacher, never the committed results
        runner.save_teacher_logits(teacher, base)
        return
    # The committed record with the logits kept in it: the students need no model.
    shutil.copytree(records.run_dir(teacher, records.RESULTS_DIR), records.run_dir(teacher, base),
                    ignore=shutil.ignore_patterns("*.keras", "checkpoint"))


def cli_case(base: Path, work: Path, profile: str, seeds, stack_size: int | None) -> dict:
    """Run the sweep CLI in a fresh process on a copy of `base`; its wall time, peak RSS and the
    records it wrote."""
    results = work / f"results-{time.monotonic_ns()}"
    shutil.copytree(base, results)
    command = [sys.executable, __file__, "--child-cli", "sweep", "--profile", profile,
               "--student", SMALL.removeprefix("mlp:"), "--seeds", *map(str, seeds),
               "--results-dir", str(results), "--verbose", "0", "--fixed-teacher"]
    if stack_size is not None:
        command += ["--stack-size", str(stack_size)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    rss = json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_gb"]
    from kd_lab import records

    summary = records.read_summary(results)
    runs = summary[summary["role"] == "distilled"]
    per_student_epoch = []
    for run_id in runs["run_id"]:
        folder = results / "runs" / run_id
        stack = folder / "stack.json"
        if stack.exists():
            note = json.loads(stack.read_text())
            if note["position"] == 0:
                per_student_epoch += [t / note["stack_size"]
                                      for t in note["stack_epoch_cpu_seconds"][1:]]
        else:
            import pandas as pd

            history = pd.read_csv(folder / "history.csv")
            per_student_epoch.append(float(history["epoch_cpu_seconds"].iloc[1:].median()))
    shutil.rmtree(results, ignore_errors=True)
    return {"wall": wall, "rss": rss, "runs": len(runs),
            "cpu_per_student_epoch": statistics.median(per_student_epoch)}


def large_students(train_limit: int | None, epochs: int, count: int = 4) -> tuple[float, float]:
    """(c): CPU-seconds per epoch of `count` separate 800-800 runs (summed) and of one stack."""
    import numpy as np

    from kd_lab import registry, stack_runs, stacking
    from kd_lab.config import execution_defaults
    from kd_lab.resume import EpochTimer
    from kd_utils import data, distiller, pipeline

    splits = data.load("mnist", val_size=5000).limit_train(train_limit)
    rng = np.random.default_rng(0)  # the teacher's logits' values do not change the cost
    logits = rng.normal(size=(len(splits.x_train), 10)).astype("float32")
    jit, steps = execution_defaults(LARGE)
    cells = [(20.0, 0.1), (4.0, 0.5), (1.0, 0.9), (8.0, 0.0)][:count]

    def timed(model, dataset):
        timer = EpochTimer()
        model.compile("adam", jit_compile=jit, steps_per_execution=steps)
        model.fit(dataset, epochs=epochs + 1, verbose=0, callbacks=[timer])
        return statistics.median(timer.cpu[1:])

    def student(seed):
        import keras

        keras.utils.set_random_seed(seed)
        return registry.build(LARGE, splits.input_shape, 10)

    separate = sum(timed(distiller.Distiller(student=student(seed), temperature=t, alpha=a),
                         pipeline.make_dataset(splits.x_train, splits.y_train, logits, 128,
                                               shuffle=True, seed=seed))
                   for seed, (t, a) in enumerate(cells))
    stack = stacking.StackedDistiller([student(seed) for seed in range(count)],
                                      [t for t, _ in cells], [a for _, a in cells])
    stacked = timed(stack, stack_runs.stacked_dataset(splits.x_train, splits.y_train, logits,
                                                      128, range(count)))
    return separate, stacked


def write_rows(rows, out: Path, setup: str, owner: str = OWNER) -> None:
    """Write `rows` to `out` (whole or not at all), replacing the earlier rows whose setup
    starts with `owner`."""
    import platform

    import keras
    import pandas as pd
    import tensorflow as tf

    from kd_lab.records import atomic_write_text, cpu_model  # cpu_model: its vector extensions

    table = pd.DataFrame(rows)
    table["machine"] = f"{platform.machine()} {os.cpu_count()} cpus, {cpu_model()}"
    table["versions"] = f"TF {tf.__version__}, Keras {keras.__version__}"
    table["setup"] = setup
    if out.exists():
        earlier = pd.read_csv(out)
        table = pd.concat([earlier[~earlier["setup"].str.startswith(owner)], table])
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, table.to_csv(index=False, float_format="%.4g"))


def summarise(values) -> str:
    return f"min {min(values):.1f}, median {statistics.median(values):.1f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2, help="repetitions of the stacked cases")
    parser.add_argument("--separate-reps", type=int, default=1,
                        help="repetitions of the 63 separate runs (about 20-40 min each here)")
    parser.add_argument("--quick", action="store_true", help="FAST profile, 1 rep, 2,000 images")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks.csv")
    parser.add_argument("--child-cli", nargs=argparse.REMAINDER, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_cli:
        from distillation_speed import peak_rss_gb

        from kd_lab.__main__ import main as cli

        status = cli(args.child_cli)
        print(json.dumps({"status": status, "peak_rss_gb": peak_rss_gb()}))
        return status
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    profile = "fast" if args.quick else "paper"
    reps = 1 if args.quick else args.reps
    work = Path(tempfile.mkdtemp(prefix="stacking-bench-"))
    base = work / "base"
    # The teacher (and its logits) in a child, so this process stays small until (c).
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                    "import stacking_speed as s; s.prepare_teacher(sys.argv[2], "
                    "__import__('pathlib').Path(sys.argv[3]))",
                    str(REPO / "benchmarks"), profile, str(base)], check=True)
    all_seeds, one_seed = [0, 1, 2], [0]
    cases = {"separate": [], "stacked_63": [], "stacked_21": []}
    for rep in range(max(reps, args.separate_reps)):
        plan = [("stacked_63", all_seeds, 63), ("stacked_21", one_seed, 21)] * (rep < reps)
        plan += [("separate", all_seeds, 1)] * (rep < args.separate_reps)
        for name, seeds, stack_size in plan:
            result = cli_case(base, work, profile, seeds, stack_size)
            cases[name].append(result)
            print(f"rep {rep + 1} {name:11s} {result['runs']} runs: wall {result['wall']:.1f} s, "
                  f"CPU-s per student-epoch {result['cpu_per_student_epoch']:.3f}, peak RSS "
                  f"{result['rss']:.2f} GB", flush=True)
    large = [large_students(2000 if args.quick else None, 2) for _ in range(reps)]
    shutil.rmtree(work, ignore_errors=True)

    def values(case, key):
        return [r[key] for r in cases[case]]

    separate_wall, stacked_wall = values("separate", "wall"), values("stacked_63", "wall")
    rows = [
        {"measure": "30-30 grid, 63 runs one by one: sweep wall seconds", "kind": "seconds",
         "value": statistics.median(separate_wall), "repetitions": summarise(separate_wall)},
        {"measure": "30-30 grid, 63 runs as one stack: sweep wall seconds", "kind": "seconds",
         "value": statistics.median(stacked_wall), "repetitions": summarise(stacked_wall)},
        {"measure": "30-30 grid: stacked / separate wall time (target <= 0.2)", "kind": "ratio",
         "value": statistics.median(stacked_wall) / statistics.median(separate_wall)},
    ]
    for case, label in (("separate", "one by one"), ("stacked_21", "stack K = 21"),
                        ("stacked_63", "stack K = 63")):
        cpu = values(case, "cpu_per_student_epoch")
        rows.append({"measure": f"30-30 CPU-s per student-epoch, {label}", "kind": "seconds",
                     "value": statistics.median(cpu),
                     "repetitions": f"min {min(cpu):.3f}, median {statistics.median(cpu):.3f}"})
    throughput = [separate / stacked for separate, stacked in large]
    rows += [
        {"measure": "800-800, 4 students: stack throughput / separate runs (target >= 0.95)",
         "kind": "ratio", "value": statistics.median(throughput),
         "repetitions": f"min {min(throughput):.3f}, median {statistics.median(throughput):.3f}"},
        {"measure": "peak RSS, 30-30 stack of 63 (GB, target < 2)", "kind": "memory",
         "value": max(values("stacked_63", "rss"))},
    ]
    setup = (f"{OWNER}: MNIST, {profile} profile, batch 128, the sweep CLI from a results folder "
             f"with the teacher only; {reps} reps of each stack, {args.separate_reps} of the "
             "separate runs")
    write_rows(rows, args.out, setup)
    for row in rows:
        print(f"{row['value']:9.3f}  {row['measure']}  {row.get('repetitions', '')}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
