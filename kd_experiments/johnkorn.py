"""johnkorn/distillation, EMNIST letters: a CNN teacher (reported 94.4%) and a 784-512-26 MLP
with dropout (91.6% alone, 92.2% distilled at T = 10 with lambda = 0.5 on the hard term and
no T^2), Adadelta, batch 256; it validated (and early-stopped) on the test set. EMNIST is
not on this machine: the code path runs on `tfds.testing.mock_data`, and its rows say that
no number was measured here.
"""

from __future__ import annotations

import contextlib
import logging

import keras
import numpy as np
import pandas as pd
from keras import layers

from kd_lab import datasets, registry, runner
from kd_lab.config import RunConfig, profile_settings
from kd_lab.records import RESULTS_DIR, aggregate
from kd_lab.report import percent, percent_of
from kd_utils import models

from .claims import claims_frame, record_rows

SOURCE = "johnkorn/distillation"
EMNIST_REPORTED = {"teacher": 0.944, "scratch": 0.916, "distilled": 0.922}
EMNIST_PROFILES = {"fast": dict(train_limit=2000, val_size=0.2, teacher_epochs=2,
                                student_epochs=2),
                   "full": dict(train_limit=None, val_size=10000, teacher_epochs=30,
                                student_epochs=50)}


def alpha_without_t2(lambda_hard: float, temperature: float) -> float:
    """Our alpha for a loss `lambda * hard + soft` whose soft term has no T^2.

    Ours is alpha * hard + (1 - alpha) * T^2 * soft; the same ratio of hard to soft gradients
    needs alpha / ((1 - alpha) * T^2) = lambda, so alpha = lambda T^2 / (1 + lambda T^2).
    (Adadelta's steps do not depend on the loss's overall scale.)
    """
    return lambda_hard * temperature ** 2 / (1 + lambda_hard * temperature ** 2)


def emnist_configs(seed: int = 0, profile: str = "full") -> dict[str, RunConfig]:
    """Teacher CNN, the MLP student alone, and distilled (T = 10, lambda = 0.5 without T^2).

    Adadelta at its classic rate 1.0 (Keras 2's default then), batch 256; the epoch is chosen on
    a validation split carved from the training set, not on the test set.
    """
    p = profile_settings(EMNIST_PROFILES, profile)
    common = dict(dataset="emnist_letters", optimizer="adadelta", learning_rate=1.0,
                  batch_size=256, patience=3, seed=seed, profile=profile,
                  train_limit=p["train_limit"], val_size=p["val_size"])
    teacher = RunConfig(role="teacher", architecture="emnist_cnn",
                        epochs=p["teacher_epochs"], **common)
    scratch = RunConfig(role="scratch", architecture="emnist_student",
                        epochs=p["student_epochs"], **common)
    distilled = scratch.replace(role="distilled", teacher=teacher, temperature=10.0,
                                alpha=alpha_without_t2(0.5, 10.0))
    return {"teacher": teacher, "scratch": scratch, "distilled": distilled}


def emnist_available(data_dir=None) -> bool:
    """Whether EMNIST letters can be loaded here without downloading."""
    absl = logging.getLogger("absl")  # tfds warns of each folder it looks in and lacks
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        registry.load("emnist_letters", data_dir=data_dir, val_size=0.1, download=False)
    except Exception:  # tfds raises several kinds when a dataset is absent
        return False
    finally:
        absl.setLevel(level)
    return True


@contextlib.contextmanager
def mock_emnist_letters(examples_per_letter: int = 12, seed: int = 0):
    """Serve random EMNIST-shaped letters (labels 1..26) through tensorflow-datasets.

    For CI and machines without the data: the whole pipeline runs, and nothing it measures
    means anything. The lab's caches are emptied on exit, so no mock image outlives the block.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(1, 27), examples_per_letter).astype(np.int64)
    images = rng.integers(0, 256, size=(len(labels), 28, 28, 1), dtype=np.uint8)

    def as_dataset(self, split, **kwargs):
        return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})

    runner.clear_caches()
    try:
        with tfds.testing.mock_data(as_dataset_fn=as_dataset):
            yield
    finally:
        runner.clear_caches()


def emnist_rows(seeds=(0, 1, 2), profile: str = "full", results_dir=RESULTS_DIR,
                data_dir=None) -> pd.DataFrame:
    """Test accuracy of teacher, student alone and distilled student, one row per seed."""
    return pd.DataFrame(record_rows(emnist_configs, seeds, profile, results_dir, data_dir))


def emnist_experiment(seeds=(0, 1, 2), profile: str = "full", results_dir=RESULTS_DIR,
                      data_dir=None, mock: bool | None = None):
    """(rows, claims) of the EMNIST experiment; on mock data when EMNIST is not available.

    Mock runs use the FAST profile in a temporary folder, never `results_dir`: their records
    must not be mistaken for real ones, and their claims say that nothing was measured.
    """
    import tempfile

    if mock is None:
        mock = not emnist_available(data_dir)
    if not mock:
        rows = emnist_rows(seeds, profile, results_dir, data_dir)
        return rows, emnist_claims(rows)
    with mock_emnist_letters(), tempfile.TemporaryDirectory() as scratch_dir:
        rows = emnist_rows(seeds[:1], "fast", scratch_dir)
    return rows.assign(data="mock"), emnist_claims(None)


def emnist_claims(rows: pd.DataFrame | None) -> pd.DataFrame:
    """The three reported accuracies; `rows=None` says plainly that nothing was measured."""
    labels = {"teacher": "teacher CNN, test accuracy",
              "scratch": "MLP 784-512-26 alone, test accuracy",
              "distilled": "MLP distilled (T = 10, lambda = 0.5, no T^2), test accuracy"}
    table = None if rows is None else aggregate(rows, by=("model",),
                                                metrics=("test_accuracy",)).set_index("model")
    claims = []
    for name, claim in labels.items():
        if table is None:
            measured = "not measured: EMNIST letters is not on this machine"
        else:
            measured = percent_of(table.loc[name])
        claims.append((claim, percent(EMNIST_REPORTED[name]),
                       "not rerun: the recipe selected epochs on the test set", measured))
    seeds = 0 if table is None else int(table["test_accuracy_count"].min())
    return claims_frame(SOURCE, claims, seeds,
                        "EMNIST letters (tensorflow-datasets); mock data only on this machine"
                        if table is None else "EMNIST letters (tensorflow-datasets)")


# -- The models of this experiment ------------------------------------------------------------
def emnist_cnn(input_shape=models.MNIST_SHAPE, num_classes: int = 26, dropout: float = 0.25,
               dense_dropout: float = 0.5) -> keras.Model:
    """EMNIST letters teacher: conv64-pool-drop-conv128-pool-drop-dense1024-drop-logits.

    Parameters: 3,378,970 (26 classes).
    """
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Dropout(dropout),
        layers.Conv2D(128, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Dropout(dropout),
        layers.Flatten(),
        layers.Dense(1024, activation="relu"),
        layers.Dropout(dense_dropout),
        layers.Dense(num_classes, name="logits"),
    ], name="emnist_cnn")


def emnist_student(input_shape=models.MNIST_SHAPE, num_classes: int = 26,
                   dropout: float = 0.2) -> keras.Model:
    """EMNIST letters student: 784-512-26 with dropout 0.2 after the hidden layer.

    Parameters: 415,258 (26 classes).
    """
    return models.mlp((512,), input_shape, num_classes, dropout=dropout, name="emnist_student")


def load_emnist_letters(data_dir=None, download: bool = True):
    """EMNIST letters through tensorflow-datasets, oriented as MNIST and labelled 0..25."""
    (x_train, y_train), (x_test, y_test) = datasets.load_tfds("emnist/letters", data_dir, download)
    for split, labels in (("train", y_train), ("test", y_test)):
        if labels.min() < 1 or labels.max() > 26:
            raise ValueError(f"emnist_letters {split} labels span {labels.min()}..{labels.max()}, "
                             "expected the letters 1..26")
    # EMNIST stores letters transposed relative to MNIST, and numbers them from 1.
    return ((x_train.transpose(0, 2, 1, 3), y_train - 1),
            (x_test.transpose(0, 2, 1, 3), y_test - 1))


registry.register_model("emnist_cnn", emnist_cnn)
registry.register_model("emnist_student", emnist_student)
registry.register_dataset("emnist_letters", load_emnist_letters, num_classes=26)
