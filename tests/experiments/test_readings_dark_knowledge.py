"""The dark-knowledge notebook's block: the teachers against the target, in words."""

import pandas as pd

from kd_experiments import readings_dark_knowledge


def test_the_teachers_sentence_places_the_interval_against_the_target():
    def sentence(errors):
        return readings_dark_knowledge.teachers_sentence(pd.DataFrame({"test_errors": errors}))

    assert sentence([72]).endswith("one teacher gives no interval yet.")
    assert sentence([60, 62, 64, 66, 68]).endswith("its whole interval lies below the target.")
    assert sentence([60, 90, 70, 80, 75]).endswith("the target lies inside its interval.")
    assert sentence([90, 92, 94]).endswith("its whole interval lies above the target.")
    assert sentence([72]).startswith("1 of 10 teachers trained: 72.0")


def test_with_every_teacher_trained_the_sentence_says_whether_the_mean_meets_the_target():
    def sentence(errors):
        return readings_dark_knowledge.teachers_sentence(pd.DataFrame({"test_errors": errors}))

    assert sentence([70, 80] * 5).endswith("their mean meets the target.")  # 75: at most 75
    assert sentence([72, 84] * 5).endswith(
        "Every planned teacher is trained: their mean is above the target, so this recipe does "
        "not meet it; the target lies inside its interval, so these seeds cannot tell the "
        "recipe's mean from the target either.")
    assert sentence([90, 92] * 5).endswith(
        "their mean is above the target, so this recipe does not meet it; its whole interval "
        "lies above the target.")
    assert "Every planned" not in sentence([72, 84] * 4)  # eight of ten: not yet


def test_notebook_19_s_reading_of_the_target_agrees_with_the_teachers_records():
    import json

    from helpers import REPO

    from kd_experiments import dark_knowledge

    cells = json.loads((REPO / "notebooks" / "19_dark_knowledge.ipynb").read_text())["cells"]
    text = " ".join("".join(next(c for c in cells if c.get("id") == "kd-19-15")["source"]).split())
    rows = dark_knowledge.teacher_rows(REPO / "results")
    if len(rows) < len(dark_knowledge.TEACHER_SEEDS):
        assert "until all are trained it is open" in text
    elif rows["test_errors"].mean() > dark_knowledge.TEACHER_TARGET:
        assert "their mean is above the target: this recipe does not meet it" in text
    else:
        assert "their mean meets the target" in text


def _controls_table(verdicts: dict) -> pd.DataFrame:
    """A controls table whose every line has the verdict `verdicts[(arm, baseline)]` (else
    "no detectable difference"), in a shuffled order."""
    from kd_experiments import dark_knowledge

    lines = [dict(student=student, arm=arm, baseline=baseline,
                  verdict=verdicts.get((arm, baseline), "no detectable difference"))
             for student in dark_knowledge.STUDENTS for baseline in ("hinton", "scratch")
             for arm in (*dark_knowledge.CONTROLS, *["hinton"] * (baseline == "scratch"))]
    return pd.DataFrame(lines).sample(frac=1.0, random_state=0)


def test_the_controls_reading_says_each_verdict_in_words_and_no_other():
    table = _controls_table({("hinton", "scratch"): "better", ("class_mean", "hinton"): "worse",
                             ("shuffled", "scratch"): "worse"})
    from kd_experiments import dark_knowledge

    ordered = dark_knowledge.in_reading_order(table)
    first = ordered[ordered["student"] == dark_knowledge.STUDENTS[0]]
    assert list(first["baseline"]) == ["scratch"] * 6 + ["hinton"] * 5
    assert list(first["arm"][:2]) == ["hinton", dark_knowledge.CONTROLS[0]]
    text = readings_dark_knowledge.controls_readings(ordered)
    for student in dark_knowledge.STUDENTS:
        assert (f"`{student}`: Hinton KD, fewer test errors than the student from scratch; "
                in text)
    assert text.count("class-mean soft targets, more test errors than Hinton KD and no "
                      "detectable difference from scratch") == 2
    assert text.count("shuffled soft targets, no detectable difference from Hinton KD and more "
                      "test errors than scratch") == 2
    assert text.count("more test errors") == 4 and "fewer test errors" in text


def test_the_readme_states_no_control_verdict_before_every_control_is_in(tmp_path):
    block = readings_dark_knowledge.readme_controls_block(tmp_path)
    assert block.startswith("The controls' verdicts appear here once every control run is "
                            "recorded") and "better" not in block and "worse" not in block


def test_the_status_says_how_far_the_plan_on_longer_teachers_has_come(tmp_path, monkeypatch):
    from kd_experiments import dark_knowledge as dk
    from kd_experiments.readings_dark_knowledge import longer_plan_sentence

    assert "waits for the precision check and the pilot" in longer_plan_sentence(tmp_path)
    schedule = dk.schedule_configs("float32", 0.05)
    finished = {c.run_id for c in schedule[:3]}
    own = [("schedule", schedule), ("student recipe", None), ("teachers", None)]
    monkeypatch.setattr(dk, "stages", lambda *a: [("precision check", []), ("pilot", []), *own])
    monkeypatch.setattr(dk.records, "is_finished", lambda c, *a: c.run_id in finished)
    monkeypatch.setattr(dk, "decisions", lambda *a: {})
    assert ("3 of the 4 runs of its decided stages (schedule) are recorded, 2 stages wait for "
            "earlier stages" in longer_plan_sentence(tmp_path))
    monkeypatch.setattr(dk, "stages", lambda *a: [("precision check", []), ("pilot", []),
                                                  *own[:2]])
    assert "are recorded, 1 stage waits for earlier stages" in longer_plan_sentence(tmp_path)
    monkeypatch.setattr(dk, "decisions", lambda *a: {"epochs": dk.EPOCHS})
    assert "did not take 600-epoch teachers" in longer_plan_sentence(tmp_path)


def test_the_selection_seed_block_names_each_verdict_that_changes_without_it(monkeypatch):
    from kd_experiments import dark_knowledge as dk
    from kd_experiments.readings_dark_knowledge import selection_seed_block

    checked = pd.DataFrame({
        "student": ["mlp:800,800", "mlp:30,30"], "arm": ["hinton", "class_mean"],
        "baseline": ["scratch", "hinton"], "verdict": ["better", "worse"],
        "verdict_without": ["no detectable difference", "worse"]})
    monkeypatch.setattr(dk, "without_selection_seed", lambda *a: checked)
    block = selection_seed_block(None)
    assert ("1 of the 2 verdicts change: `mlp:800,800`, Hinton KD against the student from "
            "scratch: better, without it no detectable difference.") in block
    monkeypatch.setattr(dk, "without_selection_seed", lambda *a: checked.assign(
        verdict_without=checked["verdict"]))
    assert "every one of the 2 verdicts holds" in selection_seed_block(None)
