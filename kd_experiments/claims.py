"""What the public repositories' reproductions share: run rows, per-model tables, and claims.

Each repository's module (`tsitsimis`, `sai_srinivasan`, `rohin_dasari`, `johnkorn`,
`pratt2762`) turns its recipe into run configs and its claims into rows of
`results/seed_reproductions.csv`: the number the repository reported, its recipe run here, and
the corrected protocol run here, with the seeds behind them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kd_lab import datasets, records, runner, stats
from kd_lab.guard import announce_training
from kd_lab.records import (
    RESULTS_DIR,
    aggregate,
    atomic_write_text,
    read_derived_row,
    write_derived_record,
)
from kd_lab.report import frame_markdown

REPRODUCTION_COLUMNS = ("source", "claim", "reported", "as_published_here", "corrected_here",
                        "seeds", "data")


def cross_entropy_on_outputs(labels, outputs):
    """Per-example sparse cross-entropy that takes `outputs` as logits, whatever made them.

    The repositories' "softmax applied twice" feeds probabilities to a cross-entropy that
    expects logits. Keras 3's own cross-entropy, given `from_logits=True` and a tensor that
    comes out of a softmax, quietly takes the softmax's input instead (in a traced function:
    `keras.src.backend.tensorflow.nn._get_logits`), which would hide the bug we reproduce.
    TensorFlow's op keeps it, as Keras 2 and PyTorch's `CrossEntropyLoss` did.
    """
    import tensorflow as tf

    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=outputs)


def as_published_accuracy(folder: Path, config, what: str, train_and_test, details: dict,
                          data_dir=None) -> float:
    """The test accuracy of an as-published loop: read from its record in `folder`, or trained
    (announced) now and recorded there.

    Such loops bypass `runner.run` (they carry the bugs the Distiller refuses), so they write
    a record of their own (`records.write_derived_record`: the config and `details`, the
    history of every epoch, and a row with the test accuracy, commit and versions) under
    `results/as_published/`, read back so that a rerun does not train them again.
    `train_and_test()` trains and returns (test accuracy, history frame, one row per epoch).
    """
    finished = read_derived_row(folder)
    if finished is not None:
        return float(finished["test_accuracy"])
    splits = datasets.splits_for(config, data_dir)
    announce_training(config, len(splits.x_train), what)
    started = time.perf_counter()
    accuracy, history = train_and_test()
    history.insert(0, "epoch", range(1, len(history) + 1))
    count = int(len(splits.y_test))
    write_derived_record(folder, {**config.to_dict(), **details}, {
        **details, "run_id": Path(folder).name, "based_on_run_id": config.run_id,
        "epochs_trained": len(history), "test_accuracy": float(accuracy),
        "test_errors": round((1 - float(accuracy)) * count), "test_count": count,
        "wall_seconds": round(time.perf_counter() - started, 2)}, history)
    return float(accuracy)


def tested(rows: pd.DataFrame, model: str, baseline: str, metric: str = "test_accuracy") -> str:
    """`model` against `baseline` over the seeds in `rows` (one row per seed and model): Welch's
    t test, as a placeholder for a claim's text. `claims_frame` shows it as '(Welch p = 0.043)'
    and keeps the test in the row (`TESTS_COLUMN`); `write_seed_reproductions` gives it its
    verdict, Holm-corrected over every comparison of the table: '(Welch p = 0.043, Holm p =
    0.26: no detectable difference)'."""
    test = stats.welch(rows.loc[rows["model"] == model, metric],
                       rows.loc[rows["model"] == baseline, metric])
    return _PLACEHOLDER.format(json.dumps({
        "p": None if pd.isna(test["p_value"]) else float(test["p_value"]),
        "difference": float(test["difference"]), "metric": metric}))


# A test in a claim's text: the placeholder `tested` returns, and how a table shows it (with or
# without its verdict), which `holm_verdicts` rewrites in the order of the row's tests.
_PLACEHOLDER = "<<welch {}>>"
_PLACEHOLDER_FOUND = re.compile(r"<<welch (\{[^<>]*\})>>")
_SHOWN = re.compile(r"\(Welch p = [^()]*\)")
TESTS_COLUMN = "welch_tests"  # a row's tests, JSON, in the order its text shows them
CLAIM_CELLS = ("reported", "as_published_here", "corrected_here")


def _p(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.2g}"


def _take_tests(text: str, tests: list) -> str:
    """`text` with each `tested` placeholder shown as '(Welch p = ...)', its test appended to
    `tests`."""
    def shown(match):
        tests.append(json.loads(match.group(1)))
        return f"(Welch p = {_p(tests[-1]['p'])})"
    return _PLACEHOLDER_FOUND.sub(shown, text)


def holm_verdicts(table: pd.DataFrame, adjusted=None) -> pd.DataFrame:
    """`table` (`seed_reproductions` rows) with every comparison's verdict, Holm-corrected over
    all the comparisons of the table: each '(Welch p = ...)' of a claim's text is rewritten as
    '(Welch p = 0.043, Holm p = 0.26: no detectable difference)' from the exact test its row
    keeps in `TESTS_COLUMN`. A row whose text shows more or fewer tests than it keeps is
    refused (written before the row kept its tests: rerun its notebook).

    `adjusted`: the Holm p-values of `kept_tests(table)`, in its order, when the family is
    larger than the table (the README's, `readme_family`); None: Holm over the table."""
    table = table.copy()
    if TESTS_COLUMN not in table:
        table[TESTS_COLUMN] = ""
    kept = _kept_by_row(table)
    for row, tests in zip(table.itertuples(), kept, strict=True):
        shown = sum(len(_SHOWN.findall(str(getattr(row, cell)))) for cell in CLAIM_CELLS)
        if shown != len(tests):
            raise ValueError(f"seed_reproductions row {row.source!r}, {row.claim!r} shows "
                             f"{shown} tests and keeps {len(tests)}: rerun its notebook (a row "
                             "written before rows kept their tests), or delete the table and "
                             "rerun notebooks 10-15")
    flat = [test for tests in kept for test in tests]
    if adjusted is None:
        adjusted = stats.holm([np.nan if t["p"] is None else t["p"] for t in flat])
    if len(adjusted) != len(flat):
        raise ValueError(f"adjusted holds {len(adjusted)} p-values for {len(flat)} tests")
    adjusted = iter(adjusted)
    verdicts = iter([f"(Welch p = {_p(t['p'])}, Holm p = {_p(a)}: "
                     f"{stats.verdict(t['difference'], a, t['metric'])})"
                     for t, a in zip(flat, adjusted, strict=True)])
    rewritten = {cell: [] for cell in CLAIM_CELLS}
    for index in range(len(table)):  # row by row, cell by cell: the order of `flat`
        for cell in CLAIM_CELLS:
            text = table[cell].iloc[index]
            rewritten[cell].append(_SHOWN.sub(lambda _: next(verdicts), text)
                                   if isinstance(text, str) else text)
    for cell in CLAIM_CELLS:
        table[cell] = rewritten[cell]
    table[TESTS_COLUMN] = [json.dumps(tests) if tests else "" for tests in kept]
    return table


def kept_tests(table: pd.DataFrame) -> list[dict]:
    """The tests `table` (`seed_reproductions` rows) keeps, row by row, each a dict with the
    uncorrected `p` (None when undefined), `difference` and `metric`."""
    return [test for tests in _kept_by_row(table) for test in tests]


def _kept_by_row(table: pd.DataFrame) -> list[list[dict]]:
    if TESTS_COLUMN not in table:
        return [[] for _ in range(len(table))]
    return [json.loads(text) if text else [] for text in table[TESTS_COLUMN].fillna("")]


def holm_family(table: pd.DataFrame) -> int:
    """How many comparisons `table` (`seed_reproductions` rows) corrects together."""
    return len(kept_tests(table))


def record_rows(configs_for, seeds, profile, results_dir, data_dir,
                fields=("test_accuracy",)) -> list[dict]:
    """Run (or read back) `configs_for(seed, profile)` for every seed; one row per run."""
    rows = []
    for seed in seeds:
        for name, config in configs_for(seed, profile).items():
            record = runner.run(config, results_dir=results_dir, data_dir=data_dir, verbose=0)
            rows.append({"seed": seed, "model": name, **{f: record.row[f] for f in fields},
                         "run_id": record.run_id})
    return rows


def model_table(rows: pd.DataFrame, labels: dict, reported: dict,
                metrics=("test_accuracy",)) -> pd.DataFrame:
    """Mean, std and count over seeds per model, in the order of `labels`, with the reported
    accuracy and a readable label."""
    table = aggregate(rows, by=("model",), metrics=metrics)
    table["reported_accuracy"] = table["model"].map(reported)
    table["label"] = table["model"].map(labels)
    order = list(labels)
    return table.sort_values("model", key=lambda s: s.map(order.index)).reset_index(drop=True)


def claims_frame(source: str, claims, seeds: int, data: str) -> pd.DataFrame:
    """`seed_reproductions` rows from (claim, reported, as published here, corrected here).
    Comparisons (`tested`) show their uncorrected p-value and no verdict yet; the rows keep
    their tests in `TESTS_COLUMN` (a column only when some row has one), for
    `write_seed_reproductions` to give their verdicts over the whole table."""
    rows = []
    for claim, reported, published, corrected in claims:
        tests = []
        reported, published, corrected = (_take_tests(str(text), tests) if text else text
                                          for text in (reported, published, corrected))
        rows.append({"source": source, "claim": claim, "reported": reported,
                     "as_published_here": published, "corrected_here": corrected,
                     "seeds": seeds, "data": data,
                     TESTS_COLUMN: json.dumps(tests) if tests else ""})
    frame = pd.DataFrame(rows, columns=[*REPRODUCTION_COLUMNS, TESTS_COLUMN])
    return frame if frame[TESTS_COLUMN].any() else frame.drop(columns=TESTS_COLUMN)


def write_seed_reproductions(claims: pd.DataFrame, results_dir=RESULTS_DIR,
                             name: str = "seed_reproductions", replace: bool | None = None):
    """Add these claims' rows to `results/<name>.csv`, or replace them where they stand (a row
    is the same claim when its source and claim text are), so the table keeps its order; then
    give every comparison of the table its verdict, Holm-corrected over all of them
    (`holm_verdicts`): one family per table, whichever notebook wrote which rows. Where that
    changes the table and `replace` is off (as for `records.write_table`), the table is kept
    and the new one written beside it as a variant (an exercise's other seeds, say)."""
    columns = [*REPRODUCTION_COLUMNS, TESTS_COLUMN]
    path = Path(results_dir) / f"{name}.csv"
    table = pd.read_csv(path, keep_default_na=False) if path.exists() else pd.DataFrame(
        columns=columns)
    table, claims = (frame.reindex(columns=columns, fill_value="") for frame in (table, claims))
    new = {(row.source, row.claim): row for row in claims.itertuples(index=False)}
    rows = [new.pop((row.source, row.claim), row) for row in table.itertuples(index=False)]
    rows += list(new.values())  # claims not in the table yet, in their order
    text = holm_verdicts(pd.DataFrame(rows, columns=columns)).to_csv(index=False)
    path = records.kept_or_beside(path, text, replace=replace)
    atomic_write_text(path, text)
    return path


def written_claims(path, claims: pd.DataFrame) -> pd.DataFrame:
    """The rows of `claims` as `write_seed_reproductions` wrote them to `path`: with their
    verdicts, Holm-corrected over the whole table."""
    table = pd.read_csv(path, keep_default_na=False).set_index(["source", "claim"])
    return table.loc[list(zip(claims["source"], claims["claim"], strict=True))].reset_index()


def write_notebook_claims(claims: pd.DataFrame, results_dir, profile: str) -> str:
    """Write a notebook's claims (`write_seed_reproductions`; the fast profile's to a table of
    its own) and return them as written, verdicts Holm-corrected over the whole table, as
    Markdown."""
    name = "seed_reproductions" if profile == "full" else "seed_reproductions_fast"
    written = write_seed_reproductions(claims, results_dir, name)
    return format_reproductions(written_claims(written, claims), with_source=False)


def format_reproductions(table: pd.DataFrame, with_source: bool = True) -> str:
    """`seed_reproductions.csv` as a Markdown table (the README's, or a notebook's without
    the source column)."""
    columns = {"source": "source"} if with_source else {}
    return frame_markdown(table, {**columns, "claim": "claim", "reported": "reported",
                                  "as_published_here": "the recipe here",
                                  "corrected_here": "corrected here", "seeds": "seeds"})
