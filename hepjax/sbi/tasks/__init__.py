"""Benchmark tasks with sbibm's priors, simulators and reference posteriors.

``get(name)`` returns a task; ``task.simulate(key, n)`` draws a training set,
``task.reference_posterior(key, x_obs, n)`` samples the true posterior.
"""

from ._tasks import NAMES as NAMES
from ._tasks import SLCP as SLCP
from ._tasks import AbstractTask as AbstractTask
from ._tasks import GaussianLinear as GaussianLinear
from ._tasks import TwoMoons as TwoMoons
from ._tasks import get as get

__all__ = ["NAMES", "SLCP", "AbstractTask", "GaussianLinear", "TwoMoons", "get"]
