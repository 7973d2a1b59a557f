"""kd_utils: a small knowledge-distillation lab for Keras 3 on TensorFlow.

The core, one concept per module:
- `losses`: Hinton et al.'s soft and hard losses, as pure functions on logits.
- `distiller`: `Distiller(keras.Model)`; `group`: several students on one teacher pass;
  `stacked_mlp`, `stacking`, `stack_runs`: many MLP students trained as one stacked model;
  `checks`: what is checked before training; `distribute`: tf.distribute plumbing.
- `models`: teachers and students (logits out); `data` (+ `idx`): datasets, checksums and
  validation splits; `pipeline`: tf.data batches, jitter, label checks.
- `config`: `RunConfig` and profiles; `runner`: train a config (`run`, `run_group`,
  `get_or_train_model`); `records`: run records, summary and aggregates;
  `teacher_logits`: the cached teacher outputs; `callbacks`: epoch timing.
- `sweep` (+ `ray_sweep`): the T x alpha grid; `plots`: figures (`save_fig`); `report`: the
  one mean ± spread formatter, Markdown tables and the README's generated blocks.

Experiments (the paper's and public repositories') are in `kd_utils.reproductions`.
"""

__all__ = ["Distiller", "GroupDistiller", "NonFiniteLossError", "StackedDistiller"]
__version__ = "0.1.0"
_EXPORTS = {"Distiller": "distiller", "NonFiniteLossError": "distiller", "GroupDistiller": "group",
            "StackedDistiller": "stacking"}


def __getattr__(name):
    # Loaded on first use, so `python -m kd_utils` checks its arguments before TensorFlow loads.
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
