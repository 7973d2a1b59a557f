"""How close does a teacher epoch come to this machine's matmul rate, in each precision?

    python benchmarks/teacher_speed.py            # about 5 minutes on 2 cores (7 with --reps 3)
    python benchmarks/teacher_speed.py --quick    # a smoke run on 5,000 images

Measures in one run, round-robin over `--reps` repetitions (so each case sees the machine's
speeds alike; the two speeds once put down to these VMs were, for the teacher at least,
tf.data's autotuning, which the 'as before' case keeps):

- the dense matmul rate of this machine in float32 and in bfloat16, on the teacher's own
  shapes (batch 128 by 1200 by 1200), as GFLOP/s;
- one epoch of Hinton et al.'s 784-1200-1200-10 teacher (dropout, max-norm, +-2 pixel jitter,
  SGD with momentum, batch 128) in float32 and in mixed bfloat16 (`RunConfig.precision`),
  as the training FLOP rate it reaches (6 x parameters x examples per epoch) over its mean
  epoch (a run's wall time follows the mean), and that rate's ratio to the matmul rate of the
  precision it trains in;
- the same float32 epoch with Keras' own SGD instead of `FusedMomentumSGD`, and with Keras'
  SGD and tf.data's autotuning on (`pipeline.without_autotuning`), as the lab trained before:
  each change's ratio of mean epochs, and the two together.

The ratios go to `results/benchmarks.csv` with the machine and versions. Not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
OWNER = "teacher_speed"  # the `setup` prefix of this script's rows in benchmarks.csv


def matmul_gflops(tf, dtype, seconds: float = 3.0) -> float:
    """GFLOP/s of a (128 x 1200) @ (1200 x 1200) matmul chain, the teacher's hidden layer."""
    a = tf.random.normal((128, 1200), dtype=tf.float32)
    b = tf.random.normal((1200, 1200), dtype=tf.float32) / 40
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)

    @tf.function
    def chain(x):
        for _ in range(50):
            x = tf.matmul(x, b)
        return x

    chain(a).numpy()  # trace
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        chain(a).numpy()
        count += 1
    return count * 50 * 2 * 128 * 1200 * 1200 / (time.perf_counter() - started) / 1e9


def teacher_epoch_seconds(precision: str, x, y, epochs: int, keras_sgd: bool = False,
                          autotuned: bool = False) -> tuple[list[float], int]:
    """Wall seconds of each teacher epoch after a first (tracing) one, and its parameters.

    `keras_sgd`: Keras' SGD instead of the lab's fused one; `autotuned`: tf.data's autotuning on.
    """
    import keras
    import tensorflow as tf

    from kd_lab.config import RunConfig
    from kd_lab.runner import _compile_and_datasets, build_student
    from kd_utils import data
    from kd_utils.distiller import Distiller

    config = RunConfig(role="teacher", architecture="hinton_teacher", jitter_pixels=2,
                       optimizer="sgd", learning_rate=0.05, momentum=0.9, lr_schedule="cosine",
                       epochs=300, precision=precision, patience=0)
    splits = data.Splits("mnist", x, y, x[:1000], y[:1000], x[:10], y[:10], num_classes=10)
    teacher = build_student(config, splits, None)
    model = Distiller(student=teacher, temperature=config.temperature, alpha=config.alpha)
    train_ds, _ = _compile_and_datasets(model, config, splits, None, None)
    if keras_sgd:
        model.compile(optimizer=keras.optimizers.SGD.from_config(model.optimizer.get_config()),
                      jit_compile=config.jit_compile,
                      steps_per_execution=config.steps_per_execution)
    if autotuned:
        options = tf.data.Options()
        options.autotune.enabled = True
        train_ds = train_ds.with_options(options)
    times = []
    for _ in range(epochs + 1):
        started = time.perf_counter()
        model.fit(train_ds, epochs=1, verbose=0)
        times.append(time.perf_counter() - started)
    keras.backend.clear_session()
    return times[1:], teacher.count_params()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 images, 1 epoch per case")
    parser.add_argument("--reps", type=int, default=2, help="round-robin repetitions")
    parser.add_argument("--epochs", type=int, default=3, help="measured epochs per case")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    from stacking_speed import write_rows

    from kd_utils import data

    splits = data.load("mnist")
    x, y = splits.x_train, splits.y_train
    x, y = (x[:5000], y[:5000]) if args.quick else (x[:55000], y[:55000])
    epochs = 1 if args.quick else args.epochs
    rates = {"float32": [], "mixed_bfloat16": []}
    cases = {  # name: (precision, Keras' SGD, tf.data autotuning)
        "float32": ("float32", False, False), "mixed_bfloat16": ("mixed_bfloat16", False, False),
        "keras_sgd": ("float32", True, False), "as_before": ("float32", True, True)}
    epoch_seconds = {case: [] for case in cases}
    params = 0
    for _ in range(args.reps):
        rates["float32"].append(matmul_gflops(tf, tf.float32))
        rates["mixed_bfloat16"].append(matmul_gflops(tf, tf.bfloat16))
        for case, (precision, keras_sgd, autotuned) in cases.items():
            seconds, params = teacher_epoch_seconds(precision, x, y, epochs, keras_sgd, autotuned)
            epoch_seconds[case] += seconds
    flop_per_epoch = 6 * params * len(x)
    mean = {case: float(np.mean(times)) for case, times in epoch_seconds.items()}
    fastest = {case: min(times) for case, times in epoch_seconds.items()}
    rows = []
    for precision in rates:
        matmul = float(np.median(rates[precision]))
        achieved = flop_per_epoch / mean[precision] / 1e9
        print(f"{precision:>15}: matmul {matmul:7.1f} GFLOP/s; teacher epoch "
              f"{mean[precision]:6.2f} s mean, {fastest[precision]:6.2f} s fastest "
              f"({len(x)} images) = {achieved:6.1f} GFLOP/s = {achieved / matmul:.2f} of its "
              "matmul rate")
        rows += [{"measure": f"teacher_epoch_{precision}", "kind": "fraction_of_matmul_rate",
                  "value": achieved / matmul, "min_wall_seconds_per_epoch": fastest[precision],
                  "epochs_measured": len(epoch_seconds[precision])},
                 {"measure": f"matmul_{precision}", "kind": "gflops", "value": matmul}]
    ratios = {  # measure: (slower case, faster case), a ratio of mean epochs
        "teacher_epoch_float32_over_mixed_bfloat16": ("float32", "mixed_bfloat16"),
        "teacher_epoch_keras_sgd_over_fused": ("keras_sgd", "float32"),
        "teacher_epoch_autotuned_over_not": ("as_before", "keras_sgd"),
        "teacher_epoch_float32_as_before_over_now": ("as_before", "float32")}
    for measure, (slower, faster) in ratios.items():
        print(f"{measure}: {mean[slower] / mean[faster]:.2f} ({slower} {mean[slower]:.2f} s mean, "
              f"{fastest[slower]:.2f} s fastest; {faster} {mean[faster]:.2f} s mean)")
        rows.append({"measure": measure, "kind": "wall_ratio",
                     "value": mean[slower] / mean[faster],
                     "epochs_measured": len(epoch_seconds[slower])})
    if not args.quick:
        write_rows(rows, REPO / "results" / "benchmarks.csv",
                   f"{OWNER}: MNIST {len(x)} training images, batch 128, hinton_teacher, "
                   f"+-2 px jitter, SGD momentum 0.9; {args.reps} reps x {epochs} epochs",
                   owner=OWNER)


if __name__ == "__main__":
    main()
