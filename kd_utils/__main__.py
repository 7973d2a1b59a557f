"""Headless entry points: `compare` (teacher -> scratch -> distilled) and `sweep` (T x alpha).

    python -m kd_utils compare                 # full profile, seeds 0 1 2 (about 25 min, 2 cores)
    python -m kd_utils compare --profile fast  # a one-minute smoke run on 5,000 images
    python -m kd_utils compare --force         # retrain even where run records exist
    python -m kd_utils sweep --dataset mnist --student 800,800 --temperatures 1 2 4 8 20 \
        --alphas 0 0.1 0.5 0.9 1 --seeds 0 1 2
    python -m kd_utils sweep ... --jitter-pixels 2   # students jittered: 8 per teacher pass
    python -m kd_utils sweep ... --backend ray [--address ray://host:10001]  # Ray Tune trials

Finished runs are read back from `results/runs/` rather than retrained, so an interrupted
command picks up where it stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kd_utils", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser("compare", help="teacher vs student from scratch vs distilled")
    compare.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist"))
    compare.add_argument("--profile", default=os.environ.get("KD_PROFILE", "full"),
                         choices=("fast", "full"))
    compare.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    compare.add_argument("--student", default="mlp:800,800", help="architecture of the student")
    compare.add_argument("--temperature", type=float, default=20.0)
    compare.add_argument("--alpha", type=float, default=0.1,
                         help="weight of the HARD-label loss (1 - alpha weights the soft loss)")
    compare.add_argument("--results-dir", type=Path, default=None)
    compare.add_argument("--data-dir", type=Path, default=None)
    compare.add_argument("--force", action="store_true", help="retrain finished runs")
    compare.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))

    sweep = commands.add_parser("sweep", help="distil over a grid of temperature x alpha x seed")
    sweep.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist"))
    sweep.add_argument("--profile", default=os.environ.get("KD_PROFILE", "full"),
                       choices=("fast", "full"))
    sweep.add_argument("--student", nargs="+", default=["800,800"],
                       help="hidden widths of each student MLP, such as 800,800 30,30")
    sweep.add_argument("--temperatures", type=float, nargs="+", default=[1, 2, 4, 8, 20])
    sweep.add_argument("--alphas", type=float, nargs="+", default=[0, 0.1, 0.5, 0.9, 1],
                       help="weights of the HARD-label loss (1 = no teacher signal)")
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sweep.add_argument("--jitter-pixels", type=int, default=0,
                       help="jitter the students' inputs too (the teacher then runs every batch)")
    sweep.add_argument("--group-size", type=int, default=None,
                       help="students trained on one teacher pass (default: 8 with jitter, else 1)")
    sweep.add_argument("--backend", default="local", choices=("local", "ray"),
                       help="local (this process) or ray (one Ray Tune trial per run)")
    sweep.add_argument("--address", default=None,
                       help="Ray cluster address (ray backend; default: start a local Ray)")
    sweep.add_argument("--cpus-per-trial", type=float, default=1)
    sweep.add_argument("--gpus-per-trial", type=float, default=0)
    sweep.add_argument("--results-dir", type=Path, default=None)
    sweep.add_argument("--data-dir", type=Path, default=None)
    sweep.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                       help="Keras output per run: 2 a line per epoch (default), 1 a bar, 0 none")
    return parser


def _student_architecture(spec: str) -> str:
    """'800,800' is shorthand for 'mlp:800,800'; other architecture names pass through."""
    return f"mlp:{spec}" if spec[:1].isdigit() else spec


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if os.environ.get("KD_FAST") == "1":
        args.profile = "fast"
    return {"compare": _compare, "sweep": _sweep}[args.command](args)


def _sweep(args) -> int:
    from . import losses, runs, sweep

    for temperature in args.temperatures:  # all checked before anything trains
        losses.check_temperature(temperature)
    for alpha in args.alphas:
        losses.check_alpha(alpha)
    if args.jitter_pixels < 0:
        raise SystemExit(f"--jitter-pixels must be >= 0; got {args.jitter_pixels}")
    if args.group_size is not None and args.group_size < 1:
        raise SystemExit(f"--group-size must be a positive integer; got {args.group_size}")
    students = [_student_architecture(s) for s in args.student]
    results_dir = args.results_dir or runs.RESULTS_DIR
    rows = sweep.sweep(args.dataset, students, args.temperatures, args.alphas, args.seeds,
                       args.profile, results_dir, args.data_dir, verbose=args.verbose,
                       jitter_pixels=args.jitter_pixels, group_size=args.group_size,
                       backend=args.backend, address=args.address,
                       cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial)
    table = sweep.sweep_table(rows, args.temperatures)
    name = f"sweep_{args.dataset}_{args.profile}"
    name += f"_jitter{args.jitter_pixels}" if args.jitter_pixels else ""
    for path in sweep.write_outputs(table, students, name, results_dir):
        print(f"wrote {path}")
    return 0


def _compare(args) -> int:
    from . import experiments, losses, runs

    # Check the cheap things before any data is loaded or model trained.
    losses.check_temperature(args.temperature)
    losses.check_alpha(args.alpha)
    results_dir = args.results_dir or runs.RESULTS_DIR
    configs = [c for seed in args.seeds for c in experiments.hinton_configs(
        seed, args.profile, args.dataset, args.student, args.temperature, args.alpha)]
    records = []
    for i, config in enumerate(configs, 1):
        done = runs.is_finished(config, results_dir) and not args.force
        state = "finished, reading its record" if done else "training"
        print(f"[{i}/{len(configs)}] {config.run_id}: {state}", flush=True)
        records.append(runs.run(config, results_dir=results_dir, data_dir=args.data_dir,
                                force=args.force, verbose=args.verbose))
    name = f"compare_{args.dataset}_{args.profile}"
    table, csv_path, fig_path = experiments.write_comparison(records, results_dir, name)
    print()
    test_count = records[0].row["test_count"]
    print(f"{args.dataset} test set ({test_count} images), profile {args.profile}:")
    print(experiments.format_table(table))
    print(f"\nwrote {csv_path}\nwrote {fig_path}\nrun records in {Path(results_dir) / 'runs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
