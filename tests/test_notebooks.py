"""The notebooks: committed without outputs, readable without running (generated results,
exercises with solutions, knobs), and each runs headless in FAST mode and, with its defaults,
in read-only mode (nothing may train)."""

import json
import re
import shutil

import pytest
from helpers import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# The notebooks whose experiment the lab trains with its own settings expose the knobs;
# 10-15 rerun published recipes, whose settings are the claim under test.
WITH_KNOBS = ("01", "02", "03", "04", "06", "07", "08", "09", "16", "17")


def test_the_numbered_notebooks_exist():
    assert [p.stem[:2] for p in NOTEBOOKS] == [f"{n:02d}" for n in range(18)]


def _cells(path, kind):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == kind]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_collapsible_solution(path):
    exercises = next(c for c in _cells(path, "markdown") if c.startswith("## Exercises"))
    questions = re.findall(r"^\d+\. ", exercises, flags=re.M)
    solutions = re.findall(r"<details><summary>Solution</summary>", exercises)
    assert len(questions) >= 2 and len(solutions) == len(questions), path.name


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem[:2] in WITH_KNOBS],
                         ids=lambda p: p.stem)
def test_the_parameters_cell_exposes_the_training_knobs(path):
    notebook = json.loads(path.read_text())
    parameters = next("".join(c["source"]) for c in notebook["cells"]
                      if "parameters" in c.get("metadata", {}).get("tags", []))
    for knob in ("EPOCHS = None", "LEARNING_RATE = None", "BATCH_SIZE = None"):
        assert knob in parameters, f"{path.name} lacks {knob}"
    assert any("KNOBS" in c and "=" in c for c in _cells(path, "code"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_and_has_parameters(path):
    notebook = json.loads(path.read_text())
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    for cell in code_cells:
        assert not cell.get("outputs") and cell.get("execution_count") is None, (
            f"{path.name} has outputs: clear them before committing")
    ids = [c.get("id") for c in notebook["cells"]]
    assert len(set(ids)) == len(ids), f"{path.name} has duplicate cell ids: nbformat rewrites them"
    tagged = [c for c in code_cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "FAST" in "".join(tagged[0]["source"])
    headings = [line for c in notebook["cells"] if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if line.startswith("## ")]
    for required in ("## Setup", "## Parameters", "## Results written", "## Exercises"):
        assert required in headings, f"{path.name} lacks {required}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_in_fast_mode(path, results_with_fast_teachers, tmp_path,
                                             monkeypatch):
    """Each notebook on its own, in a results folder of its own (holding only the session's FAST
    MNIST teachers), so no notebook depends on another having run before it."""
    papermill = pytest.importorskip("papermill")
    shared_results = results_with_fast_teachers
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports kd_utils from this checkout
    monkeypatch.setenv("MPLBACKEND", "Agg")
    papermill.execute_notebook(
        str(path), str(tmp_path / path.name), cwd=str(path.parent), kernel_name="python3",
        parameters={"FAST": True, "RESULTS_DIR": str(shared_results)}, progress_bar=False)
    if path.stem == "05_plots":
        # 05 plots the committed full-profile records, whatever FAST says: it trains nothing.
        figures = {p.name for p in (shared_results / "figures").glob("05_*_full.png")}
        assert {"05_learning_curves_full.png", "05_soft_targets_full.png",
                "05_sweep_heatmap_mlp800x800_full.png"} <= figures
    written = {
        "06_hinton_main_table": "tables/06_hinton_main_fast.csv",
        "07_temperature_vs_width": "figures/07_errors_vs_temperature_by_width_fast.png",
        "08_omitted_class": "figures/08_bias_shift_omit_3_fast.png",
        "09_soft_targets_regulariser": "tables/09_soft_targets_regulariser_fast.csv",
        "10_published_moons_trees": "figures/10_moons_decision_boundaries_fast.png",
        "11_published_tiny_student": "tables/11_tiny_student_fast.csv",
        "12_published_continue_from_baseline": "tables/12_continue_from_baseline_fast.csv",
        "13_published_self_distillation": "figures/13_self_distillation_learning_curves_fast.png",
        "14_published_emnist_letters": "seed_reproductions_fast.csv",
        "15_published_alexnet_alpha": "figures/15_alexnet_alpha_fast.png",
    }
    if path.stem in written:
        assert (shared_results / written[path.stem]).exists()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_with_its_defaults_without_training(path, tmp_path, monkeypatch):
    """The defaults read the committed records: in a copy of results/ as a fresh clone has it
    (no models, no logit cache), with KD_READ_ONLY=1, any training raises and fails the run."""
    papermill = pytest.importorskip("papermill")
    results = tmp_path / "results"
    shutil.copytree(REPO / "results", results,
                    ignore=shutil.ignore_patterns("*.keras", "cache", "checkpoint*", "tensorboard"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("KD_READ_ONLY", "1")
    monkeypatch.delenv("KD_FAST", raising=False)
    papermill.execute_notebook(
        str(path), str(tmp_path / path.name), cwd=str(path.parent), kernel_name="python3",
        parameters={"RESULTS_DIR": str(results)}, progress_bar=False)
    assert not (set(p.name for p in (results / "runs").iterdir())
                - set(p.name for p in (REPO / "results" / "runs").iterdir())), (
        f"{path.name} wrote new runs with its defaults")
