"""Run records: the summary survives concurrent writers, aggregates, committed ids still match."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import DIGITS_TEACHER, REPO

from kd_lab import records, sweep
from kd_lab.config import RunConfig

TEACHER = DIGITS_TEACHER


# -- bias shift: golden values -------------------------------------------------------------
def test_aggregate_gives_mean_std_and_count_per_group():
    summary = pd.DataFrame({
        "dataset": "mnist", "role": ["scratch"] * 3 + ["distilled"] * 2,
        "architecture": "mlp:800,800", "temperature": [1.0, 1.0, 1.0, 20.0, 20.0],
        "alpha": [1.0, 1.0, 1.0, 0.1, 0.1], "test_accuracy": [0.98, 0.982, 0.984, 0.99, 0.992],
        "test_errors": [200, 180, 160, 100, 80], "test_teacher_agreement": np.nan,
    })
    table = records.aggregate(summary).set_index("role")
    assert table.loc["scratch", "test_errors_mean"] == pytest.approx(180)
    assert table.loc["scratch", "test_errors_std"] == pytest.approx(20)
    assert table.loc["distilled", "test_errors_count"] == 2
    # and the 95% t interval of the mean: 180 +- t(0.975, 2) * 20 / sqrt(3)
    half = 4.302653 * 20 / np.sqrt(3)
    assert table.loc["scratch", "test_errors_ci_low"] == pytest.approx(180 - half)
    assert table.loc["scratch", "test_errors_ci_high"] == pytest.approx(180 + half)


def test_a_tables_runs_are_listed_and_checked_for_mixed_execution(tmp_path):
    rows = pd.DataFrame({"run_id": ["a", "b", "c", "d"],
                         "architecture": ["mlp:8", "mlp:8", "mlp:8", "hinton_teacher"],
                         "jit_compile": [True, True, False, False],
                         "steps_per_execution": [32, 32, 32, 1],
                         "trained_as": ["stack", "stack", "stack", "alone"],
                         "tf_version": ["2.21.0", "2.21.0", None, "2.21.0"],
                         "keras_version": "3.15.1"})
    problems = records.execution_mix(rows)
    assert problems == ["mlp:8 runs differ in jit_compile (True: 2, False: 1)",
                        "mlp:8 runs differ in tf_version (2.21.0: 2, missing: 1)"]
    assert records.execution_mix(rows.iloc[:2]) == []  # the teacher alone: nothing to mix
    path = records.write_table(pd.DataFrame({"x": [1]}), "t", tmp_path, runs=rows)
    assert list(pd.read_csv(path.with_suffix(".runs.csv"))["run_id"]) == ["a", "b", "c", "d"]
    records.write_table(pd.DataFrame({"x": [2]}), "t", tmp_path, replace=True)  # unlisted runs
    assert not path.with_suffix(".runs.csv").exists()  # the old list would name wrong runs
    assert records.table_runs("t", tmp_path) is None


def _listed(table_path):
    listed = table_path.with_suffix(".runs.csv")
    return pd.read_csv(listed)["run_id"].tolist() if listed.exists() else None


def test_a_different_table_is_written_beside_the_one_it_would_replace(tmp_path, monkeypatch):
    monkeypatch.delenv(records.REPLACE_TABLES_ENV, raising=False)
    rows = pd.DataFrame({"run_id": ["a", "b"]})
    path = records.write_table(pd.DataFrame({"x": [1]}), "t", tmp_path, runs=rows)
    assert records.write_table(pd.DataFrame({"x": [1]}), "t", tmp_path, runs=rows) == path
    # other parameters (other runs, or other numbers): the first table stays as it was
    for table, runs in ((pd.DataFrame({"x": [2]}), rows), (pd.DataFrame({"x": [1]}), rows[:1]),
                        (pd.DataFrame({"x": [1]}), None)):
        with pytest.warns(UserWarning, match=r"tables/t.csv holds another table .* written as "
                                             r"tables/t\.variant-[0-9a-f]{8}\.csv.*KD_REPLACE"):
            other = records.write_table(table, "t", tmp_path, runs=runs)
        assert other.parent == path.parent and records.is_variant(other.name)
        assert other.name == f"t{records.variant_of(other)}.csv" and records.variant_of(path) == ""
        assert pd.read_csv(other).equals(table)
        assert pd.read_csv(path)["x"].tolist() == [1]
        assert _listed(path) == ["a", "b"]
        assert _listed(other) == (None if runs is None else list(runs["run_id"]))
    # the warning points at the line that asked for the table, not into the lab
    with pytest.warns(UserWarning, match="holds another table") as caught:
        sweep.write_outputs(pd.DataFrame({"x": [4]}), [], "t", tmp_path, runs=rows)
    assert caught[0].filename == __file__
    # asked to (as `make notebooks` asks, regenerating tables from new records): replaced
    monkeypatch.setenv(records.REPLACE_TABLES_ENV, "1")
    assert records.write_table(pd.DataFrame({"x": [3]}), "t", tmp_path, runs=rows) == path
    assert pd.read_csv(path)["x"].tolist() == [3]


def test_a_table_that_mixes_stacked_and_alone_runs_says_which():
    # Alike per architecture (execution_mix has nothing to say), yet not all trained one way.
    rows = pd.DataFrame({"run_id": list("abcde"),
                         "architecture": ["mlp:30,30"] * 2 + ["mlp:800,800"] * 2 + ["cnn"],
                         "trained_as": ["stack", "stack", "alone", "alone", None]})
    assert records.execution_mix(rows) == []
    assert records.trained_as_mix(rows) == ["stacked: mlp:30,30 (2 runs)",
                                            "alone: mlp:800,800 (2 runs)",
                                            "not recorded: cnn (1 run)"]
    assert records.trained_as_mix(rows.iloc[:2]) == []  # all stacked: nothing to say
    assert records.trained_as_mix(rows.drop(columns="trained_as")) == []  # none recorded


def test_concurrent_summary_rebuilds_keep_every_row(tmp_path, monkeypatch):
    # Writers that each finish a run and rebuild the summary at once, as a sweep and a notebook
    # sharing a results folder do: the last summary written must hold every finished row.
    import time
    from concurrent.futures import ThreadPoolExecutor

    write = records.atomic_write_text

    def slow_summary_write(path, text):
        if path.name == "summary.csv":
            # Widen the read-then-write window the lock must guard: a rebuild that read fewer
            # rows waits longer, so without the lock a stale summary would be written last.
            rows_read = text.count("\n") - 1
            time.sleep(0.003 * max(0, 40 - rows_read))
        write(path, text)

    monkeypatch.setattr(records, "atomic_write_text", slow_summary_write)

    def finish(i):
        row = {"run_id": f"run-{i:02d}", "finished_at": f"2026-01-02T00:00:{i:02d}"}
        write(tmp_path / "runs" / row["run_id"] / "row.json", json.dumps(row))
        records.write_summary(tmp_path)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(finish, range(40)))
    summary = records.read_summary(tmp_path)
    assert summary["run_id"].tolist() == [f"run-{i:02d}" for i in range(40)]


# -- configs with the fields added after the first records ---------------------------------
class StandInLoss:
    """Any parameters: a registered loss's name and parameters are all a run id holds."""

    needs_teacher = True

    def __init__(self, **parameters):
        pass

    def uses_features(self):
        return False


def test_committed_run_ids_still_match_their_configs():
    """New config fields at their defaults must not change any committed run id."""
    config_files = sorted((REPO / "results" / "runs").glob("*/config.json"))
    if not config_files:
        pytest.skip("no committed run records")
    from kd_lab import registry

    placeholders, stand_ins, loss_stand_ins = [], [], []
    try:
        for path in config_files:
            values = json.loads(path.read_text())
            if values["dataset"] not in registry.known_datasets():
                # a dataset a notebook registered (17's digits8x8): its name is what the id holds
                registry.register_dataset(values["dataset"], lambda: None)
                placeholders.append(values["dataset"])
            for part in (values, values.get("teacher") or {}, values.get("init_from") or {}):
                name = part.get("architecture", "mlp:")
                if not name.startswith("mlp:") and name not in registry.BUILDERS:
                    registry.BUILDERS[name] = lambda **_: None  # the same for the id: its name
                    stand_ins.append(name)
            loss = values.get("loss", "hinton")
            if loss not in registry.LOSSES:  # a loss a notebook registered (17's logit_matching)
                registry.LOSSES[loss] = StandInLoss
                loss_stand_ins.append(loss)
            config = RunConfig.from_dict(values)
            assert config.run_id == path.parent.name
    finally:
        for name in placeholders:
            registry.unregister_dataset(name)
        for name in loss_stand_ins:
            registry.LOSSES.pop(name, None)
        for name in stand_ins:
            registry.BUILDERS.pop(name)


def test_the_commit_is_read_at_start_up_not_when_a_record_is_written(monkeypatch):
    # A long job's records name the commit its code came from, even if files change meanwhile.
    at_start = records.git_commit()

    def no_git(*args, **kwargs):
        raise AssertionError("git was asked again")

    monkeypatch.setattr(records.subprocess, "run", no_git)
    assert records.git_commit() == at_start and records.provenance()["git_commit"] == at_start


def test_a_record_names_the_cpu_and_the_vector_extensions_its_kernels_used():
    info = ("processor\t: 0\nmodel name\t: Some Xeon\nflags\t\t: fpu sse2 avx2 avx512f amx_tile\n"
            "processor\t: 1\nmodel name\t: Some Xeon\nflags\t\t: fpu sse2 avx2 avx512f amx_tile\n")
    assert records.cpu_model(info) == "Some Xeon amx_tile avx2 avx512f"
    assert records.cpu_model("flags : sse2\n") == "unknown"
    assert records.provenance()["cpu"] == records.cpu_model()


def test_nothing_is_written_outside_the_results_folder(tmp_path):
    with pytest.raises(ValueError, match="table name must be letters, digits"):
        records.write_table(pd.DataFrame({"a": [1]}), "../../escaped", tmp_path)
    with pytest.raises(ValueError, match="would be written outside"):
        records.inside(tmp_path / "runs", "../../escaped")
    assert not list(tmp_path.parent.glob("escaped*")) and not list(tmp_path.rglob("*.csv"))


# -- damage is named; writes cannot half-happen ---------------------------------------------------
class _Model:
    """Stands in for a Keras model: `save` writes bytes, or dies half way."""

    def __init__(self, content=b"model", die=False):
        self.content, self.die = content, die

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.content[:2])
            if self.die:
                raise KeyboardInterrupt  # killed in the middle of the save
            f.write(self.content[2:])


def _record(tmp_path, content=b"first model"):
    config = RunConfig(role="scratch", dataset="digits", seed=7)
    history = pd.DataFrame({"epoch": [1, 2], "val_accuracy": [0.5, 0.6]})
    row = {"run_id": config.run_id, "epochs_trained": 2, "test_errors": 3,
           "finished_at": "2026-12-04T00:00:00"}
    return config, records.write_record(config, row, history, _Model(content), tmp_path)


def test_a_kill_during_a_retrain_s_save_loses_nothing_and_counts_nothing_as_finished(tmp_path):
    config, record = _record(tmp_path)
    model = record.run_dir / "model.keras"
    with pytest.raises(KeyboardInterrupt):
        records.write_record(config, {**record.row, "test_errors": 9}, record.history,
                             _Model(b"second", die=True), tmp_path)
    assert model.read_bytes() == b"first model"  # the old record whole, still finished
    assert records.load_record(config, tmp_path).row["test_errors"] == 3
    assert [p.name for p in record.run_dir.iterdir() if p.name.startswith(".")] == []
    assert records.read_summary(tmp_path)["test_errors"].tolist() == [3]  # no half record


def test_a_kill_between_the_swap_s_two_moves_is_finished_by_the_next_look(tmp_path, monkeypatch):
    config, record = _record(tmp_path)
    def killed_on_the_second_move(source, target):  # the new record's move into runs/
        if Path(source) == tmp_path / records.INCOMING / config.run_id:
            raise KeyboardInterrupt
        os.rename(source, target)

    monkeypatch.setattr(records.os, "replace", killed_on_the_second_move)
    with pytest.raises(KeyboardInterrupt):
        records.write_record(config, {**record.row, "test_errors": 9}, record.history,
                             _Model(b"second model"), tmp_path)
    monkeypatch.undo()
    assert not record.run_dir.exists()  # the old one aside, the new one not yet in place
    assert records.is_finished(config, tmp_path)  # the new record, complete, goes in
    assert records.load_record(config, tmp_path).row["test_errors"] == 9
    assert (record.run_dir / "model.keras").read_bytes() == b"second model"
    assert not (tmp_path / records.INCOMING / config.run_id).exists()
    assert not (tmp_path / records.REPLACED / config.run_id).exists()


@pytest.mark.parametrize("damage, match", [
    ("row.json", "row.json: not valid JSON"),
    ("history.csv", "history.csv: 1 epochs where row.json says 2"),
])
def test_a_damaged_record_is_named_with_what_to_do_and_blocks_no_other(tmp_path, damage, match):
    config, record = _record(tmp_path)
    other = RunConfig(role="scratch", dataset="digits", seed=8)
    records.write_record(other, {**record.row, "run_id": other.run_id}, record.history,
                         _Model(), tmp_path)
    path = record.run_dir / damage
    text = path.read_text()
    path.write_text(text[:-12] if damage == "row.json" else "".join(text.splitlines(True)[:-1]))
    with pytest.raises(records.DamagedRecord, match=match) as error:
        records.load_record(config, tmp_path)
    assert "Delete its run folder to retrain the run, or restore the file" in str(error.value)
    if damage == "row.json":
        with pytest.warns(UserWarning, match="left out of summary.csv: .*row.json"):
            summary = records.write_summary(tmp_path)
        assert summary["run_id"].tolist() == [other.run_id]


def test_a_summary_cut_short_is_rebuilt_from_the_records(tmp_path):
    _record(tmp_path)
    other = RunConfig(role="scratch", dataset="digits", seed=8)
    records.write_record(other, {"run_id": other.run_id, "epochs_trained": 2,
                                 "finished_at": "2026-12-04T00:00:01"},
                         pd.DataFrame({"epoch": [1, 2]}), _Model(), tmp_path)
    summary = tmp_path / "summary.csv"
    summary.write_text(summary.read_text().splitlines()[0] + "\n")  # the header alone
    assert len(records.read_summary(tmp_path)) == 2
    summary.write_bytes(b"\x00\xff\x10garbage\n\"unterminated")  # not even text
    with pytest.warns(UserWarning, match="rebuilt"):
        assert len(records.read_summary(tmp_path)) == 2


def test_a_record_edited_after_the_summary_was_read_is_seen_at_the_next_read(tmp_path):
    # read_summary keeps the summary it last checked while no record changes: an edit of the
    # same size (3 -> 4 errors), made after that check, must still be read.
    config, record = _record(tmp_path)
    assert records.read_summary(tmp_path)["test_errors"].tolist() == [3]
    assert records.read_summary(tmp_path)["test_errors"].tolist() == [3]  # the kept one
    row = record.run_dir / "row.json"
    row.write_text(row.read_text().replace('"test_errors": 3', '"test_errors": 4'))
    with pytest.warns(UserWarning, match="disagreed with the run records"):
        assert records.read_summary(tmp_path)["test_errors"].tolist() == [4]


def test_damaged_logits_and_checkpoints_are_named(tmp_path):
    from kd_lab import resume, teacher_logits

    logits = tmp_path / "logits-abc.npz"
    logits.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(records.DamagedRecord, match="logits-abc.npz: unreadable teacher logits"):
        teacher_logits.read_logits(logits)
    good = np.array([[2.0, -1.0], [0.5, 0.0]], "float32")
    for part, bad, match in (("val", np.array([[np.nan, 0.0]]), "its val teacher logits hold NaN"),
                             ("test", np.array([[0.25, 0.75]]), "its test teacher logits are "
                                                                "probabilities")):
        np.savez(tmp_path / "logits-bad.npz", **{"train": good, "val": good, "test": good,
                                                 part: bad})
        with pytest.raises(records.DamagedRecord, match=f"logits-bad.npz: {match}"):
            teacher_logits.read_logits(tmp_path / "logits-bad.npz")
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / resume.STATE).write_text('{"run_id": "x", "epo')
    (folder / resume.ARRAYS).write_bytes(b"")
    with pytest.raises(records.DamagedRecord, match="checkpoint that does not parse.*Delete"):
        resume.load_state(folder, "x")


def test_a_row_of_another_run_is_named(tmp_path):
    config, record = _record(tmp_path)
    other = RunConfig(role="scratch", dataset="digits", seed=8)
    (record.run_dir / "row.json").write_text(json.dumps({**record.row, "run_id": other.run_id}))
    with pytest.raises(records.DamagedRecord, match="the row of run .*s8.*, not of this run"):
        records.load_record(config, tmp_path)


def test_a_history_with_text_where_numbers_belong_is_named_as_damaged(tmp_path):
    from helpers import DIGITS_TEACHER

    from kd_lab import runner

    record = runner.run(DIGITS_TEACHER, results_dir=tmp_path, verbose=0)
    path = record.run_dir / "history.csv"
    frame = pd.read_csv(path)
    frame["val_accuracy"] = "x"
    frame.to_csv(path, index=False)
    with pytest.raises(records.DamagedRecord, match="history.csv: column 'val_accuracy' holds "
                                                    "values that are not numbers"):
        records.load_record(DIGITS_TEACHER, tmp_path)


def test_a_row_whose_measurements_are_not_numbers_is_named_as_damaged(tmp_path):
    path = tmp_path / "row.json"
    path.write_text('{"run_id": "x", "test_errors": "abc", "test_accuracy": 0.98}')
    with pytest.raises(records.DamagedRecord, match="row.json: its test_errors is 'abc', not a "
                                                    "number"):
        records.read_row(path)
    path.write_text('{"run_id": "x", "test_errors": 12, "test_accuracy": 0.98}')
    assert records.read_row(path)["test_errors"] == 12


def test_a_truncated_or_missing_model_is_named_with_its_file(tmp_path):
    from helpers import DIGITS_TEACHER

    from kd_lab import runner
    from kd_lab.records import DamagedRecord, load_record

    runner.run(DIGITS_TEACHER, results_dir=tmp_path, verbose=0)
    record = load_record(DIGITS_TEACHER, tmp_path)
    path = record.run_dir / "model.keras"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DamagedRecord, match=r"model.keras: unreadable model"):
        record.load_model()
    path.unlink()
    with pytest.raises(FileNotFoundError, match="the record has no model"):
        load_record(DIGITS_TEACHER, tmp_path).load_model()


def test_a_summary_that_disagrees_with_the_records_is_rebuilt_and_a_text_history_named(tmp_path):
    from helpers import DIGITS_TEACHER

    from kd_lab import runner
    from kd_lab.records import DamagedRecord, load_histories, read_summary

    runner.run(DIGITS_TEACHER, results_dir=tmp_path, verbose=0)
    path = tmp_path / "summary.csv"
    good = path.read_text()
    errors = read_summary(tmp_path)["test_errors"].tolist()
    edits = {"duplicated": good + good.splitlines()[1] + "\n",
             "edited": good.replace(f",{errors[0]},", ",1,", 1),
             "replaced": "garbage_col\n1\n2\n"}
    for name, text in edits.items():
        path.write_text(text)
        with pytest.warns(UserWarning, match="disagreed with the run records"):
            summary = read_summary(tmp_path)
        assert summary["test_errors"].tolist() == errors, name
        assert path.read_text() == good, name
    history = tmp_path / "runs" / DIGITS_TEACHER.run_id / "history.csv"
    history.write_text(history.read_text().replace(".", "x", 3))
    with pytest.raises(DamagedRecord, match="history.csv: column .* not numbers"):
        load_histories(read_summary(tmp_path), tmp_path)


def test_a_row_whose_errors_disagree_with_its_accuracy_is_named(tmp_path):
    from kd_lab.records import DamagedRecord, read_row

    path = tmp_path / "row.json"
    path.write_text(json.dumps({"run_id": "x", "test_errors": 3, "test_accuracy": 0.9851,
                                "test_count": 10000}))
    with pytest.raises(DamagedRecord, match="test_errors 3 disagree with its test_accuracy"):
        read_row(path)
    path.write_text(json.dumps({"run_id": "x", "test_errors": 149, "test_accuracy": 0.9851,
                                "test_count": 10000}))
    assert read_row(path)["test_errors"] == 149
