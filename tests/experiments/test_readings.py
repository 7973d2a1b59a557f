"""Every generated block of the README matches the committed results, and each notebook shows
its own, generated from them, when it is executed."""

import shutil

import pandas as pd
import pytest
from helpers import REPO

from kd_experiments import claims, readings, readme_family
from kd_lab import report


def test_every_generated_block_matches_the_committed_results():
    stale = readings.regenerate(write=False)
    assert not stale, ("generated blocks differ from results/ (run `make readings`): "
                       + ", ".join(stale))


def test_a_block_points_to_the_table_a_cell_above_showed_instead_of_repeating_it(monkeypatch):
    import IPython.display

    block = ("### What you should see\n\n| claim | verdict |\n| --- | --- |\n| a | better |\n"
             "| b | worse |\n\nA sentence.")
    monkeypatch.setattr(readings, "load_blocks", lambda: {"page": lambda results_dir: block})
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda item: shown.append(item.data))
    # The cell above showed the same rows (in another order): pointed to, not repeated
    readings.show("page", shown_above="| claim | verdict |\n| --- | --- |\n| b | worse |\n"
                                      "| a | better |")
    pointer = "The cell above showed this reading's table, from the same committed records."
    assert shown[-1] == f"{pointer}\n\nA sentence."
    # Another seed's verdict above (FAST mode, other seeds): the committed table is shown too
    readings.show("page", shown_above="| claim | verdict |\n| --- | --- |\n| a | no detectable "
                                      "difference |")
    assert shown[-1] == block.removeprefix("### What you should see\n\n")
    readings.show("page")
    assert shown[-1] == shown[-2]
    # A printed table that the block holds in a code fence: the fence goes with it
    fenced = "Before.\n\n```\nmodel  errors\nteacher  70\n```\n\nAfter."
    monkeypatch.setattr(readings, "load_blocks", lambda: {"page": lambda results_dir: fenced})
    readings.show("page", shown_above="model  errors\nteacher  70\n")
    assert shown[-1] == f"Before.\n\n{pointer}\n\nAfter."


def _shown_blocks(path) -> list[str]:
    """The blocks a notebook shows when executed: its `readings.show("NAME", ...)` calls."""
    import json
    import re

    cells = json.loads(path.read_text())["cells"]
    return [m for c in cells if c["cell_type"] == "code"
            for m in re.findall(r'readings\.show\("([^"]+)"', "".join(c["source"]))]


def test_every_notebook_shows_its_what_you_should_see_block_when_executed():
    blocks = readings.load_blocks()
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        names = _shown_blocks(path)
        assert names, f"{path.name} shows no block of the committed results"
        assert not report.notebook_block_names(path), (
            f"{path.name} holds a generated block: notebooks show theirs as executed outputs")
        for name in names:
            assert name in blocks, f"{path.name} shows {name!r}, which nothing generates"
        if path.stem != "00_index":
            assert readings.HEADER in blocks[names[0]](REPO / "results")


def test_show_displays_a_block_without_its_figures_heading_and_footer(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    readings.show("03_compare")
    text = shown[0].data
    assert "distilled student" in text and "![" not in text
    assert readings.HEADER not in text and "*Generated from" not in text


@pytest.fixture
def copy_of_repo(tmp_path):
    shutil.copytree(REPO / "results", tmp_path / "results",
                    ignore=shutil.ignore_patterns("cache", "tensorboard"))
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    return tmp_path


def test_a_changed_table_makes_its_blocks_stale_and_regenerating_fixes_them(copy_of_repo):
    csv = copy_of_repo / "results" / "tables" / "compare_mnist_paper.csv"
    table = pd.read_csv(csv)
    table.loc[table["role"] == "distilled", "test_errors_mean"] += 10
    table.to_csv(csv, index=False)
    stale = readings.regenerate(copy_of_repo / "results", copy_of_repo)
    # the comparison's block, its reading, and the paper beside it (its main rows)
    assert set(stale) == {"README.md: compare_mnist_paper", "README.md: compare_reading",
                          "README.md: paper_vs_ours"}
    assert readings.regenerate(copy_of_repo / "results", copy_of_repo, write=False) == []
    assert "107.3" in (copy_of_repo / "README.md").read_text()  # 97.3 + 10, from the table


def test_a_block_without_a_generator_is_an_error(copy_of_repo):
    readme = copy_of_repo / "README.md"
    readme.write_text(readme.read_text() + "\n<!-- results:nobody -->\n<!-- /results:nobody -->\n")
    with pytest.raises(ValueError, match="no generator for the block 'nobody'"):
        readings.regenerate(copy_of_repo / "results", copy_of_repo, write=False)


def test_the_protocol_block_sums_each_table_s_recorded_training_time(copy_of_repo):
    import json

    results = copy_of_repo / "results"
    listed = pd.read_csv(results / "tables" / "compare_mnist_paper.runs.csv")["run_id"]
    for run_id in listed:  # the records are the measurements: 30 runs of 600 s, 5 hours
        path = results / "runs" / run_id / "row.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "wall_seconds": 600.0}))
    line = next(line for line in readings.load_blocks()["protocol"](results).splitlines()
                if line.startswith("| `compare_mnist_paper`"))
    assert line.endswith("| 5.0 h |") and len(listed) == 30


def test_the_chosen_cell_is_set_against_each_seed_s_own_teacher_pair_by_pair(tmp_path,
                                                                           monkeypatch):
    from kd_experiments import readings_sweep
    from kd_lab import records

    # Teachers a, b, c; each student seed is 10 errors below its own teacher, whatever the
    # teachers' spread: paired, the difference is exactly -10 (unpaired it would be undecided).
    summary = pd.DataFrame({"run_id": ["a", "b", "c", "s0", "s1", "s2"],
                            "test_errors": [100, 150, 200, 90, 140, 190]})
    monkeypatch.setattr(records, "read_summary", lambda results_dir: summary)
    students = pd.DataFrame({"teacher_run_id": ["b", "a", "c"], "test_errors": [140, 90, 190],
                             "alpha": 0.5})
    sentence = readings_sweep.against_teachers(tmp_path, students)
    assert "-10.0 [-10.0, -10.0]" in sentence and sentence.endswith(": better.")
    assert readings.teachers_of(students) == "each seed distilling the teacher of its own seed"
    one = students.assign(teacher_run_id="a")
    assert readings_sweep.against_teachers(tmp_path, one) == ""  # one fixed teacher: no pairs
    assert readings.teachers_of(one) == "every seed distilling one fixed teacher (seed 0)"


def test_notebook_06_s_variants_and_their_verdicts_come_from_the_variants_table(copy_of_repo):
    csv = copy_of_repo / "results" / "tables" / "06_hinton_variants_paper.csv"
    table = pd.read_csv(csv)
    ensemble = table["variant"] == "ensemble"
    table.loc[ensemble, ["difference", "diff_low", "diff_high"]] += 1000
    table.loc[ensemble, "verdict"] = "worse"
    table.to_csv(csv, index=False)
    stale = readings.regenerate(copy_of_repo / "results", copy_of_repo)
    assert set(stale) == {"README.md: paper_vs_ours"}
    line = table[ensemble].iloc[0]
    shown = f"{line.difference:+.1f} errors [{line.diff_low:.1f}, {line.diff_high:.1f}]"
    readme = (copy_of_repo / "README.md").read_text()
    assert f"distilled from the ensemble, {shown} (3 seeds, paired, Holm p = " in readme
    notebook = readings.load_blocks()["06_main"](copy_of_repo / "results")  # what 06 shows
    assert f"{line.difference:+.1f} [{line.diff_low:.1f}, {line.diff_high:.1f}] | " in notebook
    assert "| worse |" in notebook


def test_the_protocol_counts_seeds_per_variant_not_per_role():
    # Notebook 06's variants share role, architecture, T and alpha; they differ in their inputs
    # (jitter) and teachers (an ensemble): each is a row of its own, as in the table.
    table = pd.read_csv(REPO / "results" / "tables" / "06_hinton_variants_paper.csv")
    counts = table["test_errors_count"].astype(int)
    line = next(line for line in readings.load_blocks()["protocol"](REPO / "results").splitlines()
                if line.startswith("| `06_hinton_variants_paper`"))
    assert line.split(" | ")[2] == f"{counts.min()}-{counts.max()}" and counts.min() < counts.max()


def _protocol_line(results, name: str) -> list[str]:
    line = next(line for line in readings.load_blocks()["protocol"](results).splitlines()
                if line.startswith(f"| `{name}`"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def _stacked_in_the_copy(results, table: str, architecture: str) -> None:
    """Mark `table`'s runs of `architecture` as trained in a stack, in their records."""
    import json

    from kd_lab import records

    runs = records.table_runs(table, results)
    for run_id in runs.loc[runs.architecture == architecture, "run_id"]:
        path = results / "runs" / run_id / "row.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "trained_as": "stack"}))


WIDTHS = "07_width_vs_temperature_paper"


def test_the_protocol_and_the_notebook_name_the_stacked_and_alone_runs_of_a_mixed_table(
        copy_of_repo):
    results = copy_of_repo / "results"
    blocks = readings.load_blocks()
    assert _protocol_line(results, WIDTHS)[3] == "alike"
    assert "Not every run" not in blocks["07_width"](results)
    # (the 100-100 student's runs are this table's alone: no other table changes)
    _stacked_in_the_copy(results, WIDTHS, "mlp:100,100")  # the table now mixes them...
    execution = _protocol_line(results, WIDTHS)[3]
    assert execution.startswith("alike per architecture; stacked: mlp:100,100 (35 runs); "
                                "alone: mlp:30,30 (")  # ...and says which
    assert f"`{WIDTHS}`" in blocks["protocol"](results).split("Across architectures")[1]
    text = blocks["07_width"](results)
    assert "Not every run" in text and "Stacked: " in text and "; alone: " in text
    for name in ("06_main", "04_sweep_800", "04_sweep_30"):  # all trained alone
        assert "Not every run" not in blocks[name](results), name


def test_the_protocol_counts_binding_budgets_in_every_table_behind_a_number():
    from kd_lab import records

    results = REPO / "results"
    block = readings.load_blocks()["protocol"](results)
    assert "Budgets do not bind" not in block
    for name in ("11_tiny_student_full", "15_alexnet_alpha_full", "16_workshop"):
        runs = readings.runs_behind(results, name)  # no `.runs.csv`: from rows or configs
        bound = int(records.best_in_last_tenth(runs).sum())
        assert bound > 0, name  # these budgets bind...
        assert _protocol_line(results, name)[4].startswith(f"{bound} of {len(runs)} ")
        assert f"`{name}` ({bound} of {len(runs)})" in block  # ...and the rule says where
    for name in ("11_tiny_student", "12_continue", "13_self_distillation", "15_alexnet"):
        assert "The budget binds for " in readings.load_blocks()[name](results), name


def test_the_budget_sentence_counts_runs_per_architecture():
    rows = pd.DataFrame({"architecture": ["a", "a", "b"], "epochs": [10, 10, 150],
                         "best_epoch": [10, 5, 40]})
    assert readings.budget_sentence(rows).startswith(
        "The budget binds for 1 of these 3 runs: their best validation epoch falls in the last "
        "tenth of their budget (`a` 1 of 2, `b` 0 of 1)")
    assert readings.budget_sentence(rows.iloc[1:]).startswith("No run's best validation epoch")


def test_the_published_notebooks_show_verdicts_corrected_over_the_table_of_claims():
    blocks = readings.load_blocks()
    table = pd.read_csv(REPO / "results" / "seed_reproductions.csv", keep_default_na=False)
    family = f"Holm-corrected over the {claims.holm_family(table)} comparisons"
    readme = readme_family.readme_family(REPO / "results")
    for name in ("seed_reproductions", "11_tiny_student", "12_continue", "15_alexnet"):
        text = blocks[name](REPO / "results")
        expected = family if name != "seed_reproductions" else (  # the README's own family
            f"Holm-corrected over {readme.holm_over()}: the {claims.holm_family(table)} "
            "comparisons of the table of claims")
        assert expected in text, name
        assert "Welch p = " in text and text.count("Welch p = ") == text.count("Holm p = "), name


def test_the_protocol_counts_a_weak_teachers_students_apart_from_the_strong_teachers():
    # Hinton KD and the weak-teacher control differ only in their teachers' epochs: one row
    # each, so the controls table has one run per seed in every row.
    from kd_experiments import dark_knowledge, readings_lab

    runs = readings.listed_runs(REPO / "results", dark_knowledge.CONTROLS_TABLE)
    block = readings_lab.protocol_block(REPO / "results")
    assert (f"| `{dark_knowledge.CONTROLS_TABLE}` | {len(runs)} | "
            f"{runs['seed'].nunique()} | alike |") in block
