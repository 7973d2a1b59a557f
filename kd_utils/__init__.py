"""kd_utils: the knowledge-distillation library (Hinton, Vinyals & Dean 2015) for Keras 3.

Read it in this order, from the model to the loss:
- `distiller`: `Distiller(keras.Model)`, its `train_step`/`test_step` and the checks it makes
  before training; `losses`: the soft and hard losses as pure functions on logits;
  `distribute`: what one step needs to run on several replicas.
- `models`: teachers and students (logits out); `data`: MNIST-format IDX files, one's own
  arrays (`from_arrays`), validation splits; `pipeline`: tf.data batches with jitter and
  cached teacher logits; `callbacks`: checkpoints and timing.
- `plots`: figures (`save_fig`, learning curves, soft targets, heatmaps).

It knows nothing of run records or papers: the lab (`kd_lab`) turns configs into
records with it, and the experiments (`kd_experiments`) are built on both.
"""

import os
import sys


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up lines (oneDNN notice, CUDA probing on a machine
    without a GPU) kept off the terminal and out of notebook outputs. They are written to file
    descriptor 2 before `TF_CPP_MIN_LOG_LEVEL` is read, so only a redirect silences them; Python
    errors still surface. `KD_TF_LOGS=1` keeps them."""
    if "tensorflow" in sys.modules or os.environ.get("KD_TF_LOGS") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # probes for CUDA, which logs where there is none
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

from .distiller import Distiller, NonFiniteLossError  # noqa: E402

__all__ = ["Distiller", "NonFiniteLossError"]
__version__ = "0.2.0"
