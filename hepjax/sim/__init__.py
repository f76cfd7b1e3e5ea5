"""Layer 2: pure simulators ``simulate(key, theta, ...) -> x``.

Submodules:

* :mod:`hepjax.sim.gillespie` — exact stochastic simulation (Gillespie's direct
  method) of chemical reaction networks, differentiable with every estimator
  of :mod:`hepjax.estimators`.
"""

from . import gillespie as gillespie
