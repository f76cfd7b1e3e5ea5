"""Simulation-based inference tasks: priors, simulators and, where tractable, reference posteriors.

``get(name, **kwargs)`` builds a registered task (:func:`names` lists them):
sbibm's ``gaussian_linear``, ``two_moons`` and ``slcp`` (with sbibm's priors,
simulators and reference posteriors), the ``on_off`` counting experiment,
and the hierarchical tasks over event ensembles ``hierarchical_gaussian``,
``resonance_mixture`` and ``lensing_ensemble``. ``task.simulate(key, n)``
draws a training set and ``task.reference_posterior(key, x_obs, n)`` samples
the true posterior. The hierarchical tasks also give ensembles in the
``(x, mask)`` form (:meth:`AbstractHierarchicalTask.simulate_ensembles`) and
their local parameters (``simulate_with_local``, ``reference_local_posterior``).
"""

from ._base import AbstractTask as AbstractTask
from ._base import get as get
from ._base import names as names
from ._base import register as register
from ._hierarchical import AbstractHierarchicalTask as AbstractHierarchicalTask
from ._hierarchical import HierarchicalGaussian as HierarchicalGaussian
from ._hierarchical import ResonanceMixture as ResonanceMixture
from ._lensing import LensingEnsemble as LensingEnsemble
from ._onoff import OnOff as OnOff
from ._tasks import SLCP as SLCP
from ._tasks import GaussianLinear as GaussianLinear
from ._tasks import TwoMoons as TwoMoons

__all__ = [
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
    "names",
    "register",
]
