r"""Layer 3: probability paths, losses, samplers and likelihoods for generative models.

- **Paths** (strategy objects): :class:`CondOT`, :class:`VP`, :class:`VE`,
  :class:`Cosine`, :class:`GeodesicPath` (any manifold), :class:`MixturePath`
  (discrete tokens); :func:`make_path` builds one by name.
- **Losses** on batches of points or padded sets with masks and conditioning:
  :func:`flow_matching_loss`, :func:`riemannian_flow_matching_loss`,
  :func:`discrete_flow_matching_loss`, :func:`hybrid_flow_matching_loss`,
  :func:`edm_loss`.
- **Samplers** on one example (batch with ``jax.vmap``): :func:`sample_ode`
  (diffrax solvers), :func:`sample_ctmc`, :func:`sample_hybrid`,
  :func:`sample_sde`, :func:`sdedit`; :func:`sample_ode_sets` and
  :func:`sample_sde_sets` generate whole data sets of padded sets in chunks.
- **Likelihood**: :func:`log_likelihood` with :class:`ExactDivergence` or
  :class:`Hutchinson`.
- **Normalising flows**: :class:`ConditionalSplineFlow`, a conditional
  density $q(y \mid c)$ from rational-quadratic spline coupling layers
  (neural spline flows, arXiv:1906.04032), with exact log-density and sampling.

Vector fields use diffrax's signature ``f(t, x, args)`` where ``args`` is a
dict with ``"mask"`` and ``"cond"`` entries when given. Time runs from noise
($t = 0$) to data ($t = 1$).
"""

from ._diffusion import EDMDenoiser as EDMDenoiser
from ._diffusion import edm_loss as edm_loss
from ._diffusion import karras_sigmas as karras_sigmas
from ._diffusion import sample_sde as sample_sde
from ._diffusion import sdedit as sdedit
from ._discrete import MixturePath as MixturePath
from ._discrete import discrete_flow_matching_loss as discrete_flow_matching_loss
from ._discrete import hybrid_flow_matching_loss as hybrid_flow_matching_loss
from ._discrete import sample_ctmc as sample_ctmc
from ._discrete import sample_hybrid as sample_hybrid
from ._flows import ConditionalSplineFlow as ConditionalSplineFlow
from ._likelihood import AbstractDivergence as AbstractDivergence
from ._likelihood import ExactDivergence as ExactDivergence
from ._likelihood import Hutchinson as Hutchinson
from ._likelihood import log_likelihood as log_likelihood
from ._losses import flow_matching_loss as flow_matching_loss
from ._losses import riemannian_flow_matching_loss as riemannian_flow_matching_loss
from ._ode import SOLVERS as SOLVERS
from ._ode import sample_ode as sample_ode
from ._paths import VE as VE
from ._paths import VP as VP
from ._paths import AbstractGaussianPath as AbstractGaussianPath
from ._paths import AbstractPath as AbstractPath
from ._paths import CondOT as CondOT
from ._paths import Cosine as Cosine
from ._paths import GeodesicPath as GeodesicPath
from ._paths import make_path as make_path
from ._sets import sample_ode_sets as sample_ode_sets
from ._sets import sample_sde_sets as sample_sde_sets

__all__ = [
    "SOLVERS",
    "VE",
    "VP",
    "AbstractDivergence",
    "AbstractGaussianPath",
    "AbstractPath",
    "CondOT",
    "ConditionalSplineFlow",
    "Cosine",
    "EDMDenoiser",
    "ExactDivergence",
    "GeodesicPath",
    "Hutchinson",
    "MixturePath",
    "discrete_flow_matching_loss",
    "edm_loss",
    "flow_matching_loss",
    "hybrid_flow_matching_loss",
    "karras_sigmas",
    "log_likelihood",
    "make_path",
    "riemannian_flow_matching_loss",
    "sample_ctmc",
    "sample_hybrid",
    "sample_ode",
    "sample_ode_sets",
    "sample_sde",
    "sample_sde_sets",
    "sdedit",
]
