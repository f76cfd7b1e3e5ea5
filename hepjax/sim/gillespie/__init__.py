"""Exact stochastic simulation (Gillespie's direct method) of reaction networks.

::

    from hepjax.sim import gillespie

    net = gillespie.birth_death()
    sol = gillespie.simulate(key, net, rates, x0, t_obs, max_steps=2000)
    sol.x         # (len(t_obs), species) counts
    sol.overflow  # True if max_steps ran out before the last observation time

The simulator's discrete draws use :mod:`hepjax.estimators` primitives, so
``hje.value_and_grad`` differentiates any objective of ``sol.x`` with respect
to the rates with every estimator.
"""

from ._network import ReactionNetwork as ReactionNetwork
from ._network import bimolecular as bimolecular
from ._network import birth_death as birth_death
from ._network import custom as custom
from ._network import lotka_volterra as lotka_volterra
from ._network import mass_action as mass_action
from ._network import repressilator as repressilator
from ._objectives import autocorrelation as autocorrelation
from ._objectives import mean_trajectory_loss as mean_trajectory_loss
from ._objectives import oscillation_period as oscillation_period
from ._objectives import steady_state_moments as steady_state_moments
from ._ssa import Solution as Solution
from ._ssa import simulate as simulate

__all__ = [
    "ReactionNetwork",
    "Solution",
    "autocorrelation",
    "bimolecular",
    "birth_death",
    "custom",
    "lotka_volterra",
    "mass_action",
    "mean_trajectory_loss",
    "oscillation_period",
    "repressilator",
    "simulate",
    "steady_state_moments",
]
