"""What the public repositories' reproductions share: run rows, per-model tables, and claims.

Each repository's module (`tsitsimis`, `sai_srinivasan`, `rohin_dasari`, `johnkorn`,
`pratt2762`) turns its recipe into run configs and its claims into rows of
`results/seed_reproductions.csv`: the number the repository reported, its recipe run here, and
the corrected protocol run here, with the seeds behind them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from kd_lab import runner, stats
from kd_lab.guard import announce_training
from kd_lab.records import (
    RESULTS_DIR,
    aggregate,
    atomic_write_text,
    read_derived_row,
    write_derived_record,
)
from kd_lab.report import frame_markdown
from kd_utils import data

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
    splits = data.splits_for(config, data_dir)
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
    """'(Welch p = 0.012: better)': `model` against `baseline` over the seeds in `rows` (one
    row per seed and model), the verdict by `stats.verdict` at the 0.05 level."""
    test = stats.welch(rows.loc[rows["model"] == model, metric],
                       rows.loc[rows["model"] == baseline, metric])
    return (f"(Welch p = {test['p_value']:.2g}: "
            f"{stats.verdict(test['difference'], test['p_value'], metric)})")


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
    """`seed_reproductions` rows from (claim, reported, as published here, corrected here)."""
    return pd.DataFrame([{"source": source, "claim": claim, "reported": reported,
                          "as_published_here": published, "corrected_here": corrected,
                          "seeds": seeds, "data": data}
                         for claim, reported, published, corrected in claims],
                        columns=REPRODUCTION_COLUMNS)


def write_seed_reproductions(claims: pd.DataFrame, results_dir=RESULTS_DIR,
                             name: str = "seed_reproductions"):
    """Add these claims' rows to `results/<name>.csv`, or replace them where they stand (a row
    is the same claim when its source and claim text are), so the table keeps its order."""
    path = Path(results_dir) / f"{name}.csv"
    table = pd.read_csv(path, keep_default_na=False) if path.exists() else pd.DataFrame(
        columns=REPRODUCTION_COLUMNS)
    new = {(row.source, row.claim): row for row in claims.itertuples(index=False)}
    rows = [new.pop((row.source, row.claim), row) for row in table.itertuples(index=False)]
    rows += list(new.values())  # claims not in the table yet, in their order
    merged = pd.DataFrame(rows, columns=list(REPRODUCTION_COLUMNS))
    atomic_write_text(path, merged.to_csv(index=False))
    return path


def format_reproductions(table: pd.DataFrame, with_source: bool = True) -> str:
    """`seed_reproductions.csv` as a Markdown table (the README's, or a notebook's without
    the source column)."""
    columns = {"source": "source"} if with_source else {}
    return frame_markdown(table, {**columns, "claim": "claim", "reported": "reported",
                                  "as_published_here": "the recipe here",
                                  "corrected_here": "corrected here", "seeds": "seeds"})
