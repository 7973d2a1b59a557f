"""The speed benchmark's baseline is a fair one, and its committed table holds what the README reads.

The benchmark itself (`benchmarks/distillation_speed.py`) measures time and is never run as a
test: timings are not behaviour.
"""

import importlib.util

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import REPO, tiny_mlp

from kd_utils import Distiller

SCRIPT = REPO / "benchmarks" / "distillation_speed.py"


def load_script():
    spec = importlib.util.spec_from_file_location("distillation_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_keras_example_baseline_minimises_the_same_loss_as_our_distiller(toy_data):
    import tensorflow as tf

    x, y = toy_data
    teacher = tiny_mlp(32, seed=9)
    ours, theirs = tiny_mlp(seed=1), tiny_mlp(seed=1)
    distiller = Distiller(student=ours, teacher=teacher, temperature=4.0, alpha=0.3)
    distiller.compile(keras.optimizers.SGD(0.5))
    example = load_script().keras_example_distiller(keras, tf)(theirs, teacher)
    example.compile(optimizer=keras.optimizers.SGD(0.5), metrics=None,
                    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    distillation_loss_fn=keras.losses.KLDivergence(), alpha=0.3, temperature=4.0)
    for model in (distiller, example):
        model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
    moved = max(np.abs(a - b).max() for a, b in zip(ours.get_weights(),
                                                    tiny_mlp(seed=1).get_weights(), strict=True))
    assert moved > 1e-3  # the students learned, so equal weights mean equal gradients
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_the_committed_benchmark_holds_what_the_readme_reads():
    # The README's block itself is generated and checked with the other blocks
    # (tests/experiments/test_readings.py).
    csv = REPO / "results" / "benchmarks.csv"
    if not csv.exists():
        pytest.skip("no benchmark committed yet")
    table = pd.read_csv(csv)
    expected = {"distiller_cached", "keras_example_distiller", "peak RSS, distillation run on cached logits (GB)",
                "30-30 grid: stacked / separate wall time (target <= 0.2)",
                "30-30 CPU-s per student-epoch, stack K = 21",
                "800-800, 4 students: stack throughput / separate runs (target >= 0.95)",
                "peak RSS, 30-30 stack of 63 (GB, target < 2)"}
    assert expected <= set(table["measure"])
    assert "<!-- results:benchmarks -->" in (REPO / "README.md").read_text()


def test_the_notebook_timer_runs_each_notebook_on_a_copy_and_counts_live_sections(monkeypatch,
                                                                                     tmp_path):
    spec = importlib.util.spec_from_file_location(
        "notebook_times", REPO / "benchmarks" / "notebook_times.py")
    timer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timer)
    notebooks = REPO / "notebooks"
    assert timer.has_live_cells(notebooks / "18_methods.ipynb")  # fits six models live
    assert not timer.has_live_cells(notebooks / "19_dark_knowledge.ipynb")  # reads records
    seen = {}

    def run(command, **kwargs):
        seen.update(command=command, env=kwargs["env"])
        return type("Done", (), {"returncode": 0, "stderr": "", "stdout": ""})()

    monkeypatch.setattr(timer.subprocess, "run", run)
    monkeypatch.setattr(timer.shutil, "copytree", lambda *a, **k: None)
    timer.time_notebook(notebooks / "19_dark_knowledge.ipynb", True, tmp_path)
    # the lab writes where $KD_RESULTS_DIR points: the copy, never the repository's results/
    assert seen["env"]["KD_RESULTS_DIR"] == str(tmp_path / "results")
