"""Electromagnetic transport Monte Carlo in JAX (photons, electrons, positrons).

::

    from hepjax.sim import transport

    world = transport.Slabs(materials=["Pb", "LAr"], thickness_cm=[0.5, 0.3])
    p = transport.Particle(pdg=22, energy_mev=1000.0, position=[0, 0, 0], direction=[0, 0, 1])
    res = transport.simulate(key, world, p, cut_mev=1.0, capacity=4096)
    res.deposit_mev          # per layer (Slabs) or per voxel (Voxels)
    res.exiting.energy_mev   # the particles leaving the world, with .mask
    res.overflow             # True if the buffer was too small

Units: MeV and cm (densities g/cm^3). Physics: Compton, pair production and
photoelectric absorption of photons; bremsstrahlung, continuous ionisation
loss, multiple scattering and annihilation of e± (see :mod:`._xsec` and
:mod:`._engine` for the formulas and their sources). One incident particle
per call, ``jax.vmap`` over keys and particles; :func:`simulate_batch` runs a
whole batch of incident particles in one shared particle pool (much faster).
"""

from hepjax.physics import material as material
from hepjax.physics import material_names as material_names

from ._batch import simulate_batch as simulate_batch
from ._engine import Exiting as Exiting
from ._engine import TransportResult as TransportResult
from ._engine import simulate as simulate
from ._world import AbstractWorld as AbstractWorld
from ._world import Particle as Particle
from ._world import Slabs as Slabs
from ._world import Voxels as Voxels
from ._xsec import annihilation_per_electron as annihilation_per_electron
from ._xsec import brems_cross_section as brems_cross_section
from ._xsec import compton_per_atom as compton_per_atom
from ._xsec import mass_attenuation as mass_attenuation
from ._xsec import pair_per_atom as pair_per_atom
from ._xsec import photoelectric_per_atom as photoelectric_per_atom

__all__ = [
    "AbstractWorld",
    "Exiting",
    "Particle",
    "Slabs",
    "TransportResult",
    "Voxels",
    "annihilation_per_electron",
    "brems_cross_section",
    "compton_per_atom",
    "mass_attenuation",
    "material",
    "material_names",
    "pair_per_atom",
    "photoelectric_per_atom",
    "simulate",
    "simulate_batch",
]
