"""Shared fixtures: tiny models and data, where the real datasets are, and the FAST MNIST
teachers trained once per test session.

Tests follow keras.distillation's own: tiny Dense models on random data, plus reference
values for the losses (as torchdistill does) and one error test per documented bad input.
"""

import os
import shutil
from pathlib import Path

import kd_utils  # noqa: F401  TensorFlow's start-up lines silenced, before helpers import keras

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import NUM_CLASSES, REPO, tiny_mlp  # noqa: E402

SHARED_DATA = REPO.parent / "shared" / "data"
if "KD_DATA_DIR" not in os.environ and SHARED_DATA.exists():
    os.environ["KD_DATA_DIR"] = str(SHARED_DATA)
if os.environ.get("KD_DATA_DIR"):  # absolute, so notebooks (run in notebooks/) find it too
    os.environ["KD_DATA_DIR"] = str(Path(os.environ["KD_DATA_DIR"]).resolve())


def mnist_available() -> bool:
    from kd_utils import data

    try:
        return data.find_idx_files("mnist") is not None
    except data.DataFileError:
        return False


def _require_mnist():
    if not mnist_available():
        message = "MNIST IDX files not found: set KD_DATA_DIR (CI uses ../shared/data)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def require_mnist():
    """MNIST from KD_DATA_DIR: missing data fails in CI and skips elsewhere."""
    _require_mnist()


@pytest.fixture(scope="session")
def fast_mnist_teachers(tmp_path_factory):
    """A results folder holding the FAST Hinton teachers of seeds 0-2, trained once a session.

    Tests copy it (`results_with_fast_teachers`) rather than share it, so no test sees another's
    runs and their order does not matter.
    """
    _require_mnist()
    from kd_experiments import hinton2015
    from kd_lab import runner

    results = tmp_path_factory.mktemp("fast_mnist_teachers")
    for seed in (0, 1, 2):
        runner.run(hinton2015.hinton_configs(seed, "fast")[0], results_dir=results, verbose=0)
    return results


@pytest.fixture
def results_with_fast_teachers(fast_mnist_teachers, tmp_path):
    """A fresh results folder of this test's own, starting with the FAST MNIST teachers."""
    results = tmp_path / "results"
    shutil.copytree(fast_mnist_teachers, results)
    return results


@pytest.fixture
def toy_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=96).astype("int32")
    return x, y


@pytest.fixture
def teacher():
    return tiny_mlp(width=32, seed=1, name="teacher")


@pytest.fixture
def student():
    return tiny_mlp(width=8, seed=2, name="student")
