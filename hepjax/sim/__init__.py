"""Layer 2: pure simulators ``simulate(key, theta, ...) -> x``.

Submodules:

* :mod:`hepjax.sim.gillespie` — exact stochastic simulation (Gillespie's direct
  method) of chemical reaction networks, differentiable with every estimator
  of :mod:`hepjax.estimators`.
* :mod:`hepjax.sim.branching` — branching programs (the toy shower of
  arXiv:2308.16680, Galton-Watson processes, a Heitler cascade) in
  fixed-capacity particle buffers, differentiable with the same estimators.
* :mod:`hepjax.sim.parton_shower` — a fast angular-ordered parton-splitting
  toy: JetNet-style jets (g, q, t, W, Z) and LHCO-style dijet features.
* :mod:`hepjax.sim.lensing` — galaxy-galaxy strong-lensing images (singular
  isothermal ellipsoid with external shear, Sérsic source, PSF, noise).
* :mod:`hepjax.sim.transport` — an electromagnetic transport Monte Carlo
  (photons, electrons, positrons) through slabs and voxel grids of materials,
  in fixed-capacity particle buffers, jit/vmap-able and differentiable in the
  densities and thicknesses.
* :mod:`hepjax.sim.tracker` — a toy barrel silicon tracker (helix propagation,
  Highland scattering, energy loss, pixel and stereo-strip digitisation, noise)
  writing TrackML-format events.
"""

from . import branching as branching
from . import calo as calo
from . import gillespie as gillespie
from . import lensing as lensing
from . import parton_shower as parton_shower
from . import tracker as tracker
from . import transport as transport
