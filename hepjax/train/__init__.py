"""Layer 3: the training loop (Equinox or Flax NNX models, Optax optimizers)."""

from ._callbacks import Evaluate as Evaluate
from ._callbacks import StepInfo as StepInfo
from ._checkpoint import Checkpointer as Checkpointer
from ._checkpoint import CheckpointError as CheckpointError
from ._early_stopping import EarlyStopping as EarlyStopping
from ._fit import FitResult as FitResult
from ._fit import NonFiniteLossError as NonFiniteLossError
from ._fit import fit as fit
from ._minimize import minimize as minimize
from ._sharding import DataParallel as DataParallel

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "DataParallel",
    "EarlyStopping",
    "Evaluate",
    "FitResult",
    "NonFiniteLossError",
    "StepInfo",
    "fit",
    "minimize",
]
