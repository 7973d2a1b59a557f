"""How fast is distillation here? CPU-seconds per epoch, min wall times, FLOP rate and memory.

    python benchmarks/distillation_speed.py             # about 15 minutes on 2 cores
    python benchmarks/distillation_speed.py --quick     # a smoke run on 2,000 images

Measures, in one command and with `--reps` repetitions taken round-robin (these VMs switch
between two speeds, so every case sees both), on MNIST with the 784-800-800-10 student:

- plain `fit` of the student on hard labels, with TensorFlow's defaults and with ours
  (`config.execution_defaults`), fed as tf.data and as arrays, and with oneDNN off and on;
- our `Distiller` on cached teacher logits, and with the teacher running every batch;
- a Keras-example-style distiller (teacher every batch, `compile()` defaults, arrays), written
  here after the Keras knowledge-distillation example, as the baseline to beat;
- the student's achieved training FLOP rate against a dense matmul's rate, both measured now;
- peak resident memory (RSS) of a plain and of a distillation run, each in its own process.

Each case builds fresh models, trains `--epochs` + 1 epochs and drops the first (tracing and
XLA compilation); a case's figure is the median CPU-seconds per epoch over all its measured
epochs and the minimum wall seconds. Ratios of CPU-seconds come from the same run, and go to
`results/benchmarks.csv` with the machine and versions (`make readings` puts them in the
README). Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STUDENT = "mlp:800,800"
TEACHER = "hinton_teacher"
BATCH_SIZE = 128


def _setup():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from kd_lab import config, registry, teacher_logits
    from kd_lab.resume import EpochTimer
    from kd_utils import data, distiller, pipeline

    kd = types.SimpleNamespace(EpochTimer=EpochTimer, config=config, data=data, distiller=distiller,
                               pipeline=pipeline, teacher_logits=teacher_logits)
    return keras, np, tf, kd, registry


# -- a Keras-example-style distiller: the baseline -----------------------------------------------
def keras_example_distiller(keras, tf):
    """The Keras example's Distiller in its shape: teacher every batch, Keras' KLDivergence."""

    class ExampleDistiller(keras.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher, self.student = teacher, student

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha=0.1,
                    temperature=3):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn, self.distillation_loss_fn = student_loss_fn, distillation_loss_fn
            self.alpha, self.temperature = alpha, temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            distillation_loss = self.distillation_loss_fn(
                keras.ops.softmax(teacher_pred / self.temperature, axis=1),
                keras.ops.softmax(y_pred / self.temperature, axis=1),
            ) * (self.temperature ** 2)
            return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

        def call(self, x):
            return self.student(x)

    return ExampleDistiller


# -- one case = fresh models, epochs + 1 of training, the first dropped ------------------------
class Bench:
    def __init__(self, train_limit: int | None, epochs: int):
        self.keras, self.np, self.tf, self.kd, self.registry = _setup()
        splits = self.kd.data.load("mnist", val_size=5000)
        self.splits = splits.limit_train(train_limit)
        self.x, self.y = self.splits.x_train, self.splits.y_train
        self.epochs = epochs
        self.jit, self.steps = self.kd.config.execution_defaults(STUDENT)
        self._teacher = self._logits = None

    @property
    def teacher(self):  # built on first use, so the plain run's memory holds no teacher
        if self._teacher is None:
            self.keras.utils.set_random_seed(0)
            self._teacher = self.registry.build(TEACHER, self.splits.input_shape, 10)
        return self._teacher

    @property
    def logits(self):
        if self._logits is None:
            self._logits = self.kd.teacher_logits.compute_teacher_logits(self.teacher, self.x)
        return self._logits

    def student(self, seed=0):
        self.keras.utils.set_random_seed(seed)
        return self.registry.build(STUDENT, self.splits.input_shape, 10)

    def dataset(self, logits=None, jitter=0):
        return self.kd.pipeline.make_dataset(self.x, self.y, logits, batch_size=BATCH_SIZE,
                                      shuffle=True, seed=0, jitter_pixels=jitter)

    def timed_fit(self, model, *args, **kwargs):
        timer = self.kd.EpochTimer()  # wall and CPU seconds per epoch, as records keep
        model.fit(*args, epochs=self.epochs + 1, verbose=0, callbacks=[timer], **kwargs)
        return timer.cpu[1:], timer.wall[1:]

    def settings(self, ours: bool):
        return dict(jit_compile=self.jit, steps_per_execution=self.steps) if ours else {}

    # the cases: each returns (cpu seconds per epoch list, wall seconds per epoch list)
    def plain(self, ours=True, arrays=False):
        model = self.student()
        model.compile("adam", self.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], **self.settings(ours))
        if arrays:
            return self.timed_fit(model, self.x, self.y, batch_size=BATCH_SIZE)
        return self.timed_fit(model, self.dataset())

    def ours(self, cached=True, ours_settings=True):
        model = self.kd.distiller.Distiller(student=self.student(),
                                            teacher=None if cached else self.teacher,
                                            temperature=20.0, alpha=0.1)
        model.compile("adam", **self.settings(ours_settings))
        return self.timed_fit(model, self.dataset(self.logits if cached else None))

    def keras_example(self):
        keras = self.keras
        model = keras_example_distiller(keras, self.tf)(self.student(), self.teacher)
        model.compile(optimizer=keras.optimizers.Adam(),
                      metrics=[keras.metrics.SparseCategoricalAccuracy()],
                      student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      distillation_loss_fn=keras.losses.KLDivergence(), alpha=0.1, temperature=20)
        return self.timed_fit(model, self.x, self.y, batch_size=BATCH_SIZE)

    def keras_distillation(self, ours_settings=True):
        """keras.distillation.Distiller on the same work: teacher every batch, T^2 * KL."""
        keras = self.keras
        model = keras.distillation.Distiller(
            teacher=self.teacher, student=self.student(), student_loss_weight=0.1,
            distillation_losses=keras.distillation.LogitsDistillation(
                temperature=20.0, loss=keras.losses.KLDivergence()))
        model.compile("adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], **self.settings(ours_settings))
        return self.timed_fit(model, self.dataset())

    def matmul_rate(self, n=1024, reps=20):
        tf = self.tf
        a = tf.random.normal((n, n))
        b = tf.random.normal((n, n))
        step = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
        step(a, b)
        best = min(_timed(lambda: step(a, b).numpy()) for _ in range(reps))
        return 2 * n ** 3 / best

    def student_training_flops_per_epoch(self):
        """Forward 2 x MACs, backward 4 x MACs, per example, over one epoch."""
        model = self.student()
        macs = sum(int(self.np.prod(w.shape)) for w in model.weights if len(w.shape) == 2)
        return 6 * macs * len(self.x)


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


CASES = {
    "plain_student_tf_defaults": lambda b: b.plain(ours=False),
    "plain_student": lambda b: b.plain(),
    "plain_student_arrays": lambda b: b.plain(arrays=True),
    "distiller_cached": lambda b: b.ours(cached=True),
    "distiller_cached_tf_defaults": lambda b: b.ours(cached=True, ours_settings=False),
    "distiller_teacher_every_batch": lambda b: b.ours(cached=False),
    "distiller_teacher_every_batch_tf_defaults": lambda b: b.ours(cached=False,
                                                                  ours_settings=False),
    "keras_distillation": lambda b: b.keras_distillation(),
    "keras_distillation_tf_defaults": lambda b: b.keras_distillation(ours_settings=False),
    "keras_example_distiller": lambda b: b.keras_example(),
}


# -- subprocess cases: oneDNN must be set before TensorFlow loads; RSS needs its own process ---
def child(case: str, train_limit, epochs) -> dict:
    bench = Bench(train_limit, epochs)
    if case.startswith("rss_"):
        cpu, wall = (bench.plain() if case == "rss_plain" else bench.ours(cached=True))
    else:
        cpu, wall = CASES[case](bench)
    return {"cpu": cpu, "wall": wall, "peak_rss_gb": peak_rss_gb()}


def peak_rss_gb() -> float:
    """This process's peak resident memory, from /proc (VmHWM).

    Not `getrusage`'s ru_maxrss: on Linux that survives exec, so a child started by a big
    parent reports the parent's size at fork.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2 ** 20  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # elsewhere: best effort


def in_child(case: str, args, env=None) -> dict:
    command = [sys.executable, __file__, "--child", case, "--epochs", str(args.epochs)]
    if args.train_limit:
        command += ["--train-limit", str(args.train_limit)]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="measured epochs per case and rep")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="first N training images (default: all 55,000)")
    parser.add_argument("--quick", action="store_true", help="2,000 images, 1 rep, 1 epoch")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks.csv")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.epochs, args.train_limit = 1, 1, 2000
    if args.child:
        print(json.dumps(child(args.child, args.train_limit, args.epochs)))
        return 0

    from stacking_speed import write_rows

    bench = Bench(args.train_limit, args.epochs)
    np = bench.np
    cpu = {case: [] for case in CASES}
    wall = {case: [] for case in CASES}
    for rep in range(args.reps):
        for case, measure in CASES.items():
            case_cpu, case_wall = measure(bench)
            cpu[case] += case_cpu
            wall[case] += case_wall
            print(f"rep {rep + 1}/{args.reps} {case:32s} cpu/epoch {np.median(case_cpu):7.2f} s"
                  f"  wall/epoch {min(case_wall):7.2f} s", flush=True)
    matmul = max(bench.matmul_rate() for _ in range(3))
    for onednn in ("0", "1"):
        result = in_child("plain_student", args, {"TF_ENABLE_ONEDNN_OPTS": onednn})
        case = f"plain_student_onednn_{onednn}"
        cpu[case], wall[case] = result["cpu"], result["wall"]
    rss = {case: in_child(case, args)["peak_rss_gb"] for case in ("rss_plain", "rss_distill")}

    rows = [{"measure": case, "kind": "cpu_seconds_per_epoch",
             "value": float(np.median(cpu[case])), "min_wall_seconds_per_epoch": min(wall[case]),
             "epochs_measured": len(cpu[case])} for case in cpu]
    med = {case: float(np.median(values)) for case, values in cpu.items()}
    best_wall = {case: min(values) for case, values in wall.items()}
    flops = bench.student_training_flops_per_epoch()
    ratios = {
        "cached distillation / plain student (target <= 1.05)":
            med["distiller_cached"] / med["plain_student"],
        "ours with teacher every batch / Keras-example distiller (target <= 0.5)":
            med["distiller_teacher_every_batch"] / med["keras_example_distiller"],
        "ours with teacher every batch / keras.distillation, our settings (target <= 1.0)":
            med["distiller_teacher_every_batch"] / med["keras_distillation"],
        "ours with teacher every batch / keras.distillation, TF defaults (target <= 1.0)":
            med["distiller_teacher_every_batch_tf_defaults"]
            / med["keras_distillation_tf_defaults"],
        "ours cached (the sweep's default) / Keras-example distiller (target <= 0.5)":
            med["distiller_cached"] / med["keras_example_distiller"],
        "student FLOP rate / dense matmul rate (target >= 0.70)":
            flops / best_wall["plain_student"] / matmul,
        "plain student: our defaults / TensorFlow defaults":
            med["plain_student"] / med["plain_student_tf_defaults"],
        "plain student: arrays / tf.data":
            med["plain_student_arrays"] / med["plain_student"],
        "cached distillation: our defaults / TensorFlow defaults":
            med["distiller_cached"] / med["distiller_cached_tf_defaults"],
        "plain student: oneDNN on / off":
            med["plain_student_onednn_1"] / med["plain_student_onednn_0"],
    }
    rows += [{"measure": name, "kind": "ratio", "value": value} for name, value in ratios.items()]
    rows += [
        {"measure": "dense matmul 1024x1024 (GFLOP/s, best of 3x20)", "kind": "rate",
         "value": matmul / 1e9},
        {"measure": "800-800 student training (GFLOP/s, min wall epoch)", "kind": "rate",
         "value": flops / best_wall["plain_student"] / 1e9},
        {"measure": "peak RSS, plain student run (GB)", "kind": "memory",
         "value": rss["rss_plain"]},
        {"measure": "peak RSS, distillation run on cached logits (GB)", "kind": "memory",
         "value": rss["rss_distill"]},
    ]
    # This script's rows replace its earlier ones (their setup starts "MNIST"), the other
    # benchmarks' stay.
    write_rows(rows, args.out, f"MNIST {len(bench.x)} training images, batch {BATCH_SIZE}, "
               f"student {STUDENT}, teacher {TEACHER}; {args.reps} reps x {args.epochs} epochs",
               owner="MNIST")
    print()
    for name, value in ratios.items():
        print(f"{value:7.3f}  {name}")
    print(f"matmul {matmul / 1e9:.1f} GFLOP/s; peak RSS plain {rss['rss_plain']:.2f} GB, "
          f"distillation {rss['rss_distill']:.2f} GB")
    print(f"wrote {args.out}; `make readings` puts it in the README")
    return 0


if __name__ == "__main__":
    sys.exit(main())
