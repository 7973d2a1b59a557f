"""Announcing training, and read-only mode: nothing trains without saying so first.

Every path of the lab that trains calls `announce_training` before it starts, which prints what
trains, on how many examples and roughly for how long. With `KD_READ_ONLY=1` in the
environment (or inside `read_only()`) it raises `TrainingRefused` instead: the tests run every
notebook so, to prove that its defaults only read the committed records.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from . import records

READ_ONLY_ENV = "KD_READ_ONLY"


class TrainingRefused(RuntimeError):
    """Something was about to train while `KD_READ_ONLY=1` (read the committed records only)."""


def training_allowed() -> bool:
    """False when `$KD_READ_ONLY` is 1: every training path then raises `TrainingRefused`."""
    return os.environ.get(READ_ONLY_ENV, "0") != "1"


def announce_training(config, train_examples: int, what: str = "training",
                      runs: int = 1) -> None:
    """Print what is about to train and roughly for how long, before it starts.

    Every path of the lab that trains calls this first, so read-only mode (`$KD_READ_ONLY`)
    is enforced in one place. `runs` > 1 announces a group or stack of that many runs like
    `config`: a member's recorded time is its share of its group's, so the estimate is `runs`
    shares.
    """
    if not training_allowed():
        raise TrainingRefused(
            f"{what} {config.run_id} refused: {READ_ONLY_ENV}=1 allows reading finished "
            f"records only. Unset {READ_ONLY_ENV} to train it.")
    estimate = records.estimated_minutes(config, train_examples)
    duration = ("duration unknown (no earlier run of this model here)" if estimate is None
                else f"about {estimate[0] * runs:.1f} min if all epochs run (scaled from "
                     f"{estimate[1]} earlier runs here)")
    print(f"{what} {config.run_id}: {config.epochs} epochs on {train_examples:,} examples, "
          f"{duration}", flush=True)


@contextmanager
def read_only():
    """Refuse any training inside the block (sets `$KD_READ_ONLY` for its duration)."""
    before = os.environ.get(READ_ONLY_ENV)
    os.environ[READ_ONLY_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(READ_ONLY_ENV, None)
        else:
            os.environ[READ_ONLY_ENV] = before
