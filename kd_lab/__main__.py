"""Headless entry points: `compare` (teacher -> scratch -> distilled) and `sweep` (T x alpha).

    python -m kd_lab compare                 # paper profile, seeds 0-9 (training time: README)
    python -m kd_lab compare --profile fast  # a one-minute smoke run on 5,000 images
    python -m kd_lab compare --force         # retrain even where run records exist
    python -m kd_lab sweep --dataset mnist --student 800,800 --temperatures 1 2 4 8 20 \
        --alphas 0 0.1 0.5 0.9 1 --seeds 0 1 2
    python -m kd_lab sweep ... --jitter-pixels 2   # students jittered: 8 per teacher pass
    python -m kd_lab sweep ... --stack-size 1      # run by run, not stacked (the default
                                                     # trains up to 21 MLP students as one model)
    python -m kd_lab sweep ... --backend ray [--address ray://host:10001]  # Ray Tune trials

Finished runs are read back from `results/runs/` rather than retrained, so an interrupted
command picks up where it stopped. Bad arguments print one line naming the argument and exit 2,
before anything trains. The default teacher and students are `main_configs.hinton_configs`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _checked(check, what: str):
    """An argparse type that runs `check` (raising ValueError) and names what was expected."""
    def convert(text: str):
        try:
            return check(float(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    return convert


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return int(text)


def _folder(text: str) -> Path:
    if not text.strip():  # Path("") is the current folder: records would land wherever one is
        raise argparse.ArgumentTypeError("expected a folder, got an empty path")
    return Path(text)


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _student(text: str) -> str:
    """'800,800' is shorthand for 'mlp:800,800'; other names are checked against the model
    builders after parsing (that needs Keras, and arguments are checked before it loads)."""
    architecture = f"mlp:{text}" if text[:1].isdigit() else text
    widths = architecture[4:].split(",") if architecture.startswith("mlp:") else None
    if widths is not None and not all(w.isdigit() and int(w) > 0 for w in widths):
        raise argparse.ArgumentTypeError(f"expected hidden widths such as 800,800; got {text!r}")
    return architecture


def _table_name(text: str) -> str:
    from .registry import check_name

    try:
        return check_name(text, "a table name")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _check_builders(parser, architectures) -> None:
    from .registry import BUILDERS

    for architecture in architectures:
        if not architecture.startswith("mlp:") and architecture not in BUILDERS:
            parser.error(f"argument --student: expected hidden widths such as 800,800 or one of "
                         f"{', '.join(BUILDERS)}; got {architecture!r}")


def _parser() -> argparse.ArgumentParser:
    from kd_utils.losses import check_alpha, check_temperature  # no TensorFlow before the checks

    temperature = _checked(check_temperature, "a temperature > 0")
    alpha = _checked(check_alpha, "an alpha in [0, 1] (the weight of the hard-label loss)")
    parser = _Parser(prog="python -m kd_lab", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    compare = commands.add_parser("compare", help="teacher vs student from scratch vs distilled")
    compare.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist"))
    compare.add_argument("--profile", default=os.environ.get("KD_PROFILE", "paper"),
                         choices=("fast", "full", "paper"))
    compare.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    compare.add_argument("--student", type=_student, default="mlp:800,800",
                         help="architecture of the student")
    compare.add_argument("--temperature", type=temperature, default=20.0)
    compare.add_argument("--alpha", type=alpha, default=0.1,
                         help="weight of the HARD-label loss (1 - alpha weights the soft loss)")
    sweep = commands.add_parser("sweep", help="distil over a grid of temperature x alpha x seed")
    compare.add_argument("--results-dir", type=_folder, default=None)
    compare.add_argument("--data-dir", type=_folder, default=None)
    compare.add_argument("--force", action="store_true", help="retrain finished runs")
    compare.add_argument("--tensorboard", action="store_true",
                         help="log each run for TensorBoard in <results-dir>/tensorboard/<run id>")
    compare.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))

    sweep.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist"))
    sweep.add_argument("--profile", default=os.environ.get("KD_PROFILE", "paper"),
                       choices=("fast", "full", "paper"))
    sweep.add_argument("--student", type=_student, nargs="+", default=["mlp:800,800"],
                       help="hidden widths of each student MLP, such as 800,800 30,30")
    sweep.add_argument("--temperatures", type=temperature, nargs="+", default=[1, 2, 4, 8, 20])
    sweep.add_argument("--alphas", type=alpha, nargs="+", default=[0, 0.1, 0.5, 0.9, 1],
                       help="weights of the HARD-label loss (1 = no teacher signal)")
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sweep.add_argument("--fixed-teacher", action="store_true",
                       help="every seed distils teacher seed 0, and alpha = 1 is a distilled run "
                       "(default: each seed its own teacher, alpha = 1 the student from scratch)")
    sweep.add_argument("--jitter-pixels", type=_non_negative_int, default=0,
                       help="jitter the students' inputs too (the teacher then runs every batch)")
    sweep.add_argument("--stack-size", type=_positive_int, default=None,
                       help="at most this many MLP students trained as one stacked model on "
                       "cached logits (default 21, one seed's grid; 1 trains run by run; lower it "
                       "if memory is short)")
    sweep.add_argument("--backend", default="local", choices=("local", "ray"),
                       help="local (this process) or ray (one Ray Tune trial per run)")
    sweep.add_argument("--address", default=None,
                       help="Ray cluster address (ray backend; default: start a local Ray)")
    sweep.add_argument("--cpus-per-trial", type=_non_negative_float, default=1)
    sweep.add_argument("--gpus-per-trial", type=_non_negative_float, default=0)
    sweep.add_argument("--results-dir", type=_folder, default=None)
    sweep.add_argument("--name", type=_table_name, default=None,
                       help="name of the table and figures written (default "
                       "sweep_<dataset>_<profile>_cli, apart from notebook 04's "
                       "sweep_<dataset>_<profile>, which a command-line grid must not replace)")
    sweep.add_argument("--tensorboard", action="store_true",
                       help="log each run for TensorBoard in <results-dir>/tensorboard/")
    sweep.add_argument("--data-dir", type=_folder, default=None)
    sweep.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                       help="Keras output per run: 2 a line per epoch (default), 1 a bar, 0 none")
    sweep.add_argument("--loss", default="hinton",
                       help="the distilled students' loss, a kd_lab.registry.LOSSES name "
                            "(hinton, decoupled, hint)")
    sweep.add_argument("--loss-param", type=_loss_param, nargs="+", default=[],
                       metavar="NAME=VALUE",
                       help="a parameter of the loss but T, e.g. non_target_weight=8")
    return parser


def _loss_param(text: str) -> tuple:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, float(value)
    except ValueError:
        return name, value


def _check_folders(parser, args) -> None:
    """Where data is read and records are written, checked before anything trains."""
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"argument --data-dir: {str(args.data_dir)!r} is not a folder")
    if args.results_dir is not None:
        from .records import check_results_dir
        try:
            check_results_dir(args.results_dir, "argument --results-dir")
        except ValueError as error:
            parser.error(str(error))


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.profile not in ("fast", "full", "paper"):  # a default from $KD_PROFILE escapes
        parser.error(f"KD_PROFILE must be fast, full or paper; got {args.profile!r}")  # choices
    if getattr(args, "address", None) is not None and args.backend != "ray":
        parser.error("argument --address: names a Ray cluster; add --backend ray")
    _check_builders(parser, args.student if isinstance(args.student, list) else [args.student])
    _check_folders(parser, args)
    from kd_utils.data import DataFileError

    from .config import check_seeds
    from .guard import TrainingRefused
    from .runner import ModelNotHere

    try:
        args.seeds = check_seeds(args.seeds, "argument --seeds")
    except ValueError as error:
        parser.error(str(error))
    if os.environ.get("KD_FAST") == "1":
        args.profile = "fast"
    try:
        return {"compare": _compare, "sweep": _sweep}[args.command](args)
    except ModelNotHere as error:  # one line, no traceback: it says what to do
        print(f"python -m kd_lab {args.command}: {error}", file=sys.stderr)
        return 1
    except (ValueError, DataFileError, OSError, TrainingRefused) as error:  # it names the cause
        print(f"python -m kd_lab {args.command}: error: {error}", file=sys.stderr)
        return 2


def _sweep(args) -> int:
    from . import records, sweep
    from .main_configs import hinton_configs

    results_dir = args.results_dir or records.RESULTS_DIR
    # The default teacher and training settings: Hinton et al.'s. Each seed distils the teacher
    # of its own seed and alpha = 1 is the student from scratch (the comparison's very runs),
    # unless --fixed-teacher.
    template = hinton_configs(0, args.profile, args.dataset)[2]
    if args.loss != "hinton" or args.loss_param:  # checked here, before anything trains
        template = template.replace(loss=args.loss, loss_params=dict(args.loss_param))
    students = args.student
    rows = sweep.sweep(template, students, args.temperatures, args.alphas, args.seeds,
                       results_dir, args.data_dir, verbose=args.verbose,
                       jitter_pixels=args.jitter_pixels,
                       stack_size=args.stack_size, fixed_teacher=args.fixed_teacher,
                       scratch_baseline=not args.fixed_teacher,
                       backend=args.backend, address=args.address,
                       cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                       tensorboard_dir=Path(results_dir) / "tensorboard" if args.tensorboard
                       else None)
    table = sweep.sweep_table(rows, args.temperatures)
    name = args.name or (f"sweep_{args.dataset}_{args.profile}_cli"
                         + (f"_jitter{args.jitter_pixels}" if args.jitter_pixels else "")
                         + (f"_{args.loss}" if args.loss != "hinton" else ""))
    for path in sweep.write_outputs(table, students, name, results_dir, runs=rows):
        print(f"wrote {path}")
    return 0


def _compare(args) -> int:
    from . import comparison, records, runner
    from .main_configs import hinton_configs

    results_dir = args.results_dir or records.RESULTS_DIR
    configs = [c for seed in args.seeds for c in hinton_configs(
        seed, args.profile, args.dataset, args.student, args.temperature, args.alpha)]
    found = []
    for i, config in enumerate(configs, 1):
        done = records.is_finished(config, results_dir) and not args.force
        state = "finished, reading its record" if done else "training"
        print(f"[{i}/{len(configs)}] {config.run_id}: {state}", flush=True)
        found.append(runner.run(
            config, results_dir=results_dir, data_dir=args.data_dir, force=args.force,
            verbose=args.verbose,
            tensorboard_dir=Path(results_dir) / "tensorboard" if args.tensorboard else None))
    name = f"compare_{args.dataset}_{args.profile}"
    # --force retrains to regenerate: its table replaces the one it was made again for
    table, csv_path, fig_path = comparison.write_comparison(found, results_dir, name,
                                                            replace=args.force or None)
    print()
    test_count = found[0].row["test_count"]
    print(f"{args.dataset} test set ({test_count} images), profile {args.profile}:")
    print(comparison.format_table(table))
    print(f"\nwrote {csv_path}\nwrote {fig_path}\nrun records in {Path(results_dir) / 'runs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
