"""kd_utils: a small knowledge-distillation lab for Keras 3 on TensorFlow.

Modules, one concept each: `data` (datasets and pipelines), `models` (teachers and students,
logits out), `losses` (Hinton et al.'s soft and hard losses), `distiller` (the `Distiller`
model, and `GroupDistiller` for several students at once), `runs` (configs and run records),
`sweep` (the T x alpha grid; `ray_sweep` runs it on Ray Tune), `plots` (figures).
"""

from . import data, distiller, losses, models
from .distiller import Distiller, GroupDistiller, NonFiniteLossError

__all__ = ["Distiller", "GroupDistiller", "NonFiniteLossError", "data", "distiller", "losses",
           "models"]
__version__ = "0.1.0"
