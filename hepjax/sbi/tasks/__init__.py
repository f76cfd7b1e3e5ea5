"""Benchmark tasks with sbibm's priors, simulators and reference posteriors.

``get(name)`` returns a task; ``task.simulate(key, n)`` draws a training set,
``task.reference_posterior(key, x_obs, n)`` samples the true posterior.
The hierarchical tasks over event ensembles (:data:`HIERARCHICAL_NAMES`:
``hierarchical_gaussian``, ``resonance_mixture``) also have
``simulate_with_local`` and ``reference_local_posterior``.
"""

from ._hierarchical import AbstractHierarchicalTask as AbstractHierarchicalTask
from ._hierarchical import HierarchicalGaussian as HierarchicalGaussian
from ._hierarchical import ResonanceMixture as ResonanceMixture
from ._lensing import LensingEnsemble as LensingEnsemble
from ._onoff import OnOff as OnOff
from ._tasks import HIERARCHICAL_NAMES as HIERARCHICAL_NAMES
from ._tasks import NAMES as NAMES
from ._tasks import SLCP as SLCP
from ._tasks import AbstractTask as AbstractTask
from ._tasks import GaussianLinear as GaussianLinear
from ._tasks import TwoMoons as TwoMoons
from ._tasks import get as get

__all__ = [
    "HIERARCHICAL_NAMES",
    "NAMES",
    "SLCP",
    "AbstractHierarchicalTask",
    "AbstractTask",
    "GaussianLinear",
    "HierarchicalGaussian",
    "LensingEnsemble",
    "OnOff",
    "ResonanceMixture",
    "TwoMoons",
    "get",
]
