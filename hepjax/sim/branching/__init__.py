"""Branching programs: particle showers and branching processes as pure JAX functions.

::

    from hepjax.sim import branching

    out = branching.galton_watson(key, m, n_generations, capacity=64)
    out.sizes     # (n_generations + 1,) population per generation
    out.overflow  # True if a generation did not fit in the buffer

    sh = branching.shower(key, theta, mode="split")  # the toy of arXiv:2308.16680
    loss = branching.mean_radius_loss(sh)

Particles live in fixed-capacity buffers with masks; a too small buffer is
reported by an ``overflow`` flag, never dropped silently. Every discrete draw
uses :mod:`hepjax.estimators` primitives, so ``hje.value_and_grad`` runs every
estimator through these programs, under ``jit`` and ``vmap``, with particles
created and dropped along the alternative paths.
"""

from ._cascade import Cascade as Cascade
from ._cascade import em_cascade as em_cascade
from ._galton_watson import GaltonWatson as GaltonWatson
from ._galton_watson import galton_watson as galton_watson
from ._shower import Shower as Shower
from ._shower import interaction_probability as interaction_probability
from ._shower import mean_radius_loss as mean_radius_loss
from ._shower import shower as shower

__all__ = [
    "Cascade",
    "GaltonWatson",
    "Shower",
    "em_cascade",
    "galton_watson",
    "interaction_probability",
    "mean_radius_loss",
    "shower",
]
