"""The repository keeps its promises: lint clean, CI runs the README's test command, no data
files. (The README's numbers are checked with the notebooks', in tests/experiments/test_readings.py.)"""

import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it is in requirements.txt)")
    result = subprocess.run([ruff, "check", "kd_utils", "kd_lab", "kd_experiments", "tests", "benchmarks"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_everything_and_the_readme_shows_both_test_commands():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert "make test " in readme and "make test-all" in readme and "make compare" in readme
    assert "make test-all" in ci
    assert 'pytest -m "not slow"' in makefile  # the everyday suite leaves the slow tests out
    assert "-n $(TEST_WORKERS)" in makefile  # ... and runs on both cores


def test_no_dataset_files_are_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout
    if not tracked:
        pytest.skip("not a git checkout")
    offending = [p for p in tracked.splitlines() if not TEACHER_LOGITS.fullmatch(p)
                 and ("ubyte" in p or p.endswith((".npz", ".tfrecord")))]  # models: below
    assert not offending


# The one kind of array file committed: a teacher's logits beside its record.
TEACHER_LOGITS = re.compile(r"results/runs/[^/]+-teacher-[^/]+/logits-[0-9a-f]+\.npz")


def test_committed_arrays_are_teacher_logits_never_images():
    listed = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True,
                            text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    for path in [p for p in listed.stdout.splitlines() if TEACHER_LOGITS.fullmatch(p)]:
        with np.load(REPO / path) as stored:
            assert sorted(stored.files) == ["test", "train", "val"], path
            for part in stored.files:  # one row of class logits per example: 2-D, a few columns
                assert stored[part].ndim == 2 and stored[part].shape[1] <= 100, (path, part)


def test_the_only_committed_models_are_teachers_whose_hidden_layers_hints_read():
    """No checkpoint is tracked, and no model but a recorded teacher's without optimizer state
    (none is, now: models over 5 MB stay out of git, and a hint's teacher is retrained and
    checked against its record)."""

    listed = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True,
                            text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    tracked = listed.stdout.splitlines()
    heavy = [p for p in tracked if "checkpoint/" in p
             or (p.endswith(".npz") and not TEACHER_LOGITS.fullmatch(p))]
    assert not heavy, f"mid-training files are tracked: {heavy[:3]}"
    models = {p for p in tracked if p.endswith(".keras")}
    strays = [p for p in models if "-teacher-" not in p or f"{p.rsplit('/', 1)[0]}/row.json"
              not in tracked]
    assert not strays, f"models other than recorded teachers' are tracked: {strays[:3]}"
    for path in models:
        with zipfile.ZipFile(REPO / path) as saved:
            weights = h5py.File(io.BytesIO(saved.read("model.weights.h5")), "r")
            assert "optimizer" not in weights, f"{path} carries its optimizer state"


def test_readme_prose_types_no_measured_number():
    """Measured numbers live in generated blocks (`make readings`); prose may name versions,
    settings and rough durations, not figures such as 0.51x, 7.6 s or 98.4%."""
    import re

    text = (REPO / "README.md").read_text()
    text = re.sub(r"<!-- results:(\w+) -->.*?<!-- /results:\1 -->", "", text, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`|\]\([^)]*\)", "", text)  # code and link targets
    versions = r"(Python|TensorFlow|TF|Keras) \d+\.\d+"
    tolerances = r"within 0\.01 after 40 steps"  # a test's tolerance, stated by the test
    settings = r"\{[\d., ]+\}|target [<>]= \d+\.\d+"  # swept values; an issue's targets
    text = re.sub(f"{versions}|{tolerances}|{settings}", "", text)
    typed = re.findall(r"[^\n]{0,30}(?:\d+\.\d+|\d+(?:\.\d+)?x\b|\d+ ?%)[^\n]{0,30}", text)
    assert [t for t in typed if "3% of the data" not in t] == []
