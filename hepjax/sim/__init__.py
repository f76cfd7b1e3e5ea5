"""Layer 2: pure simulators ``simulate(key, theta, ...) -> x``.

Submodules:

* :mod:`hepjax.sim.gillespie` — exact stochastic simulation (Gillespie's direct
  method) of chemical reaction networks, differentiable with every estimator
  of :mod:`hepjax.estimators`.
* :mod:`hepjax.sim.branching` — branching programs (the toy shower of
  arXiv:2308.16680, Galton-Watson processes, a Heitler cascade) in
  fixed-capacity particle buffers, differentiable with the same estimators.
"""

from . import branching as branching
from . import gillespie as gillespie
