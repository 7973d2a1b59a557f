"""Shared fixtures: tiny models and data, and where the real datasets are.

Tests follow keras.distillation's own: tiny Dense models on random data, plus reference
values for the losses (as torchdistill does) and one error test per documented bad input.
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
if "KD_DATA_DIR" not in os.environ and SHARED_DATA.exists():
    os.environ["KD_DATA_DIR"] = str(SHARED_DATA)
if os.environ.get("KD_DATA_DIR"):  # absolute, so notebooks (run in notebooks/) find it too
    os.environ["KD_DATA_DIR"] = str(Path(os.environ["KD_DATA_DIR"]).resolve())

NUM_FEATURES, NUM_CLASSES = 8, 3


def mnist_available() -> bool:
    from kd_utils import data

    try:
        return data.find_idx_files("mnist") is not None
    except data.DataFileError:
        return False


@pytest.fixture
def require_mnist():
    """MNIST from KD_DATA_DIR: missing data fails in CI and skips elsewhere."""
    if not mnist_available():
        message = "MNIST IDX files not found: set KD_DATA_DIR (CI uses ../shared/data)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def tiny_mlp(width=16, num_classes=NUM_CLASSES, seed=0, name=None, softmax=False):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((NUM_FEATURES,)),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax" if softmax else None),
    ], name=name)


@pytest.fixture
def toy_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, NUM_FEATURES)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=96).astype("int32")
    return x, y


@pytest.fixture
def teacher():
    return tiny_mlp(width=32, seed=1, name="teacher")


@pytest.fixture
def student():
    return tiny_mlp(width=8, seed=2, name="student")
