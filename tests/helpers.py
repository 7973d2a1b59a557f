"""What several test modules share: the repository's path, tiny models, the digits runs, and a
weight comparison. Imported as `from helpers import ...` (pytest puts tests/ on sys.path)."""

from pathlib import Path

import keras
import numpy as np

from kd_lab.config import RunConfig

REPO = Path(__file__).resolve().parent.parent
NUM_FEATURES, NUM_CLASSES = 8, 3

# A digits teacher and student small enough to train in a second or two (scikit-learn's 8x8
# digits need no files): the runner's, sweep's and experiments' tests share these runs. Without
# XLA: compiling costs about 5 s a run, 3 times what these runs take to train (XLA's own path is
# tested by the Distiller and group tests; how a run executes is not part of its id).
DIGITS_TEACHER = RunConfig(dataset="digits", role="teacher", architecture="mlp:32", epochs=3,
                           learning_rate=0.01, patience=0, val_size=200, profile="fast", seed=0,
                           jit_compile=False)
DIGITS_DISTILLED = RunConfig(dataset="digits", role="distilled", architecture="mlp:8", epochs=3,
                             learning_rate=0.01, patience=0, val_size=200, profile="fast",
                             teacher=DIGITS_TEACHER, temperature=4.0, alpha=0.3, seed=0,
                             jit_compile=False)


def tiny_mlp(width=16, num_classes=NUM_CLASSES, seed=0, name=None, softmax=False):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((NUM_FEATURES,)),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax" if softmax else None),
    ], name=name)


def hinton_terms(labels, teacher, student, temperature, alpha, sample_weight=None):
    """The Distiller's objective at (T, alpha) on given logits: its own `loss_terms`."""
    from kd_utils import Distiller

    distiller = Distiller(student=tiny_mlp(num_classes=np.shape(student)[-1]),
                          temperature=temperature, alpha=alpha)
    return distiller.loss_terms(labels, {"logits": teacher}, {"logits": student}, sample_weight)


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


def same_weights(a, b, atol=0.0):
    """Whether two lists of weight arrays agree within `atol` (absolute, no relative slack)."""
    return all(np.allclose(x, y, atol=atol, rtol=0) for x, y in zip(a, b, strict=True))
