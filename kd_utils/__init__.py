"""kd_utils: the knowledge-distillation library (Hinton, Vinyals & Dean 2015) for Keras 3.

Read from the model to the loss: `distiller` (`Distiller(keras.Model)`, its steps and checks),
`losses` (pure functions on logits, one object per method), `distribute` (one step on several
replicas); then `models`, `data` (IDX files, one's own arrays, validation splits), `pipeline`
(tf.data, jitter, cached logits), `callbacks` and `plots`. It knows nothing of run records or
papers: the lab (`kd_lab`) turns configs into records with it; the experiments use both.
"""

import os
import sys


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow without its C++ start-up lines (oneDNN, CUDA probing), written to file
    descriptor 2 before `TF_CPP_MIN_LOG_LEVEL` is read: only a redirect silences them. Python
    errors still surface; `KD_TF_LOGS=1` keeps them."""
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
