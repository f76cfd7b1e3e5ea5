"""Layer 4: detector design by local surrogates, direct gradients and mutual information.

- **Design spaces**: :class:`Box` (continuous parameters with bounds and names),
  :class:`LinearPenalty` (a total length or cost as a soft constraint),
  :func:`latin_hypercube` (designs in the trust box).
- **Optimisers** with one ``run(key, psi0, steps=...)`` returning a
  :class:`DesignResult`: :class:`LocalSurrogateOptimizer` (L-GSO,
  arXiv:2002.04632: a conditional normalising-flow surrogate of the simulator
  in a box around the design, warm-started across steps),
  :class:`DirectGradientOptimizer` (gradients through the stochastic simulator,
  pathwise or with a :mod:`hepjax.estimators` estimator) and
  :class:`FiniteDifferenceOptimizer` (the baseline that counts its calls).
  Every simulated design goes to an HDF5 campaign log (:class:`CampaignLog`)
  from which an interrupted run resumes.
- **Mutual information**: :func:`mutual_information` with the :class:`MINE`,
  :class:`NWJ` and :class:`InfoNCE` bounds (arXiv:1905.06922).
"""

from ._log import CampaignLog as CampaignLog
from ._mi import MINE as MINE
from ._mi import NWJ as NWJ
from ._mi import AbstractMIEstimator as AbstractMIEstimator
from ._mi import InfoNCE as InfoNCE
from ._mi import MutualInformationResult as MutualInformationResult
from ._mi import SeparableCritic as SeparableCritic
from ._mi import mutual_information as mutual_information
from ._optimize import DesignResult as DesignResult
from ._optimize import DirectGradientOptimizer as DirectGradientOptimizer
from ._optimize import FiniteDifferenceOptimizer as FiniteDifferenceOptimizer
from ._optimize import LocalSurrogateOptimizer as LocalSurrogateOptimizer
from ._space import Box as Box
from ._space import LinearPenalty as LinearPenalty
from ._space import latin_hypercube as latin_hypercube

__all__ = [
    "MINE",
    "NWJ",
    "AbstractMIEstimator",
    "Box",
    "CampaignLog",
    "DesignResult",
    "DirectGradientOptimizer",
    "FiniteDifferenceOptimizer",
    "InfoNCE",
    "LinearPenalty",
    "LocalSurrogateOptimizer",
    "MutualInformationResult",
    "SeparableCritic",
    "latin_hypercube",
    "mutual_information",
]
