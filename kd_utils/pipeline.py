"""tf.data pipelines: batches of `(x, y)` or `({"inputs": x, "teacher_logits": logits}, y)`
(cached logits ride in the inputs: Keras reads a batch's third element as sample weights), the
+-2 pixel jitter of Hinton, Vinyals & Dean (2015), and the input checks every entry point shares.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

INPUTS, TEACHER_LOGITS = "inputs", "teacher_logits"


def with_teacher_logits(x, teacher_logits) -> dict:
    """Inputs that carry the teacher's cached logits to the Distiller: `{"inputs": x,
    "teacher_logits": teacher_logits}` (arrays or tensors, one row per example)."""
    return {INPUTS: x, TEACHER_LOGITS: teacher_logits}


def split_inputs(x):
    """(model inputs, cached teacher logits or None) from what a batch carries as inputs."""
    if isinstance(x, dict):
        if set(x) != {INPUTS, TEACHER_LOGITS}:
            raise ValueError(f"inputs given as a dict must be {{{INPUTS!r}: x, {TEACHER_LOGITS!r}: "
                             f"cached teacher logits}}; got the keys {sorted(x)}")
        return x[INPUTS], x[TEACHER_LOGITS]
    return x, None


def check_labels(y, num_classes: int, argument: str = "y") -> None:
    """Raise ValueError unless `y` holds integer class ids in [0, num_classes)."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{argument} must hold integer class ids (sparse labels), got dtype "
                         f"{y.dtype}; convert one-hot labels with argmax")
    if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise ValueError(f"{argument} must have shape (N,), got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{argument} holds labels {y.min()}..{y.max()} but the models output "
                         f"{num_classes} classes: labels must lie in 0..{num_classes - 1}")


def check_finite(values, argument: str) -> None:
    """Raise unless every value is finite (a NaN pixel leaves the loss finite through a fused
    MatMul+ReLU, and fills the weights with NaN going backward)."""
    values = np.asarray(values)
    if values.dtype.kind in "fc" and not np.isfinite(values).all():
        bad = int(values.size - np.isfinite(values).sum())
        raise ValueError(f"{argument} holds {bad} NaN or infinite values: replace or drop them "
                         "before training (one is enough to fill a model's weights with NaN)")


def jitter(images, max_shift: int, seed=None):
    """Shift each image by its own random whole number of pixels in [-max_shift, max_shift]
    (Hinton et al.: "by up to two pixels in any direction"), zero-padded, over the batch at
    once; `seed`, a shape-[2] integer tensor, makes the draw stateless (None: fresh)."""
    if max_shift == 0:
        return images
    height, width = images.shape[1], images.shape[2]
    batch = tf.shape(images)[0]
    padded = tf.pad(images, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    shape, high = (batch, 2), 2 * max_shift + 1
    if seed is None:
        offsets = tf.random.uniform(shape, 0, high, dtype=tf.int32)
    else:
        offsets = tf.random.stateless_uniform(shape, seed, 0, high, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(height)[None, :]
    cols = offsets[:, 1:] + tf.range(width)[None, :]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, cols, axis=2, batch_dims=1)


def make_dataset(x, y, teacher_logits=None, batch_size: int = 128, shuffle: bool = False,
                 seed: int | None = None, jitter_pixels: int = 0, num_classes: int | None = None):
    """Batched, prefetched, not autotuned: `(x, y)` or `(with_teacher_logits(x, t), y)` batches.

    `teacher_logits` (one row per example) spare the Distiller the teacher's forward pass, and
    exclude `jitter_pixels` (a shift of up to that many pixels per image and epoch: the teacher
    must see each jittered image); `num_classes` checks that labels lie in 0..num_classes-1.
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    check_finite(x, "x")
    if jitter_pixels:
        if not isinstance(jitter_pixels, (int, np.integer)) or jitter_pixels < 0:
            raise ValueError(f"jitter_pixels must be an integer >= 0; got {jitter_pixels!r}")
        if np.ndim(x) < 3 or jitter_pixels >= min(np.shape(x)[1:3]) // 2:
            raise ValueError(f"jitter_pixels={jitter_pixels} needs images (batch, height, width"
                             f"[, channels]) at least {2 * jitter_pixels + 1} pixels on a side; "
                             f"the inputs have shape {np.shape(x)}")
    if num_classes is not None:
        check_labels(y, num_classes)
    tensors = (x, y)
    if teacher_logits is not None:
        if len(teacher_logits) != len(x):
            raise ValueError(f"teacher_logits has {len(teacher_logits)} rows but x has {len(x)} "
                             "examples: cached logits must be computed on the same inputs")
        if jitter_pixels:
            raise ValueError("teacher_logits cannot be cached when jitter_pixels > 0: the teacher "
                             "must see each jittered image; pass teacher_logits=None")
        check_finite(teacher_logits, "teacher_logits")
        tensors = (with_teacher_logits(x, np.asarray(teacher_logits, dtype=np.float32)), y)
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if jitter_pixels:
        # One stateless seed per batch, from a seeded stream that moves on every epoch. (A seeded
        # stateful op inside map restarts with each epoch's iterator: every epoch would see the
        # same shifts.) Stateless draws also keep the parallel map deterministic.
        batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, batch_seeds).map(
            lambda batch, batch_seed: (jitter(batch[0], jitter_pixels, batch_seed), *batch[1:]),
            num_parallel_calls=tf.data.AUTOTUNE)
    return without_autotuning(ds.prefetch(tf.data.AUTOTUNE))


def without_autotuning(ds):
    """`ds` without tf.data's autotuning, which slowed epochs on 2 cores
    (benchmarks/teacher_speed.py); batches and their order are unchanged."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
