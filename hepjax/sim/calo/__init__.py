"""Layer 2: a COCOA-style configurable calorimeter (arXiv:2303.02101).

The detector (:class:`CaloGeometry`, COCOA's default as :meth:`CaloGeometry.cocoa`,
with a JSON round trip), its materials (:func:`calo_material`,
:func:`mixture_lengths`), and the read-out: energy spots summed into cells by
index with the sampling emulation and Gaussian noise (:func:`deposit_energy`)
into :class:`CellEnergies`, one value per cell; and the showers of particles
(:func:`simulate_particles`: tracking in the solenoid field, GFlash
electromagnetic showers (:class:`GFlash`), hadronic showers with an
electromagnetic fraction and non-compensation (:class:`HadronicShower`),
muon tracks, dead material); and a longitudinal sampling calorimeter whose
layer thicknesses are differentiable parameters (:class:`SamplingCalorimeter`,
:func:`simulate_sampling`), for detector design. The event processing
(topoclusters, cell graph, writers) is :mod:`hepjax.calo`.
"""

from ._cells import CellEnergies as CellEnergies
from ._cells import add_noise as add_noise
from ._cells import deposit_energy as deposit_energy
from ._geometry import CaloGeometry as CaloGeometry
from ._geometry import CaloLayer as CaloLayer
from ._geometry import CellTable as CellTable
from ._gflash import GFlash as GFlash
from ._gflash import em_longitudinal_parameters as em_longitudinal_parameters
from ._gflash import em_radial_parameters as em_radial_parameters
from ._gflash import gamma_profile_fraction as gamma_profile_fraction
from ._gflash import sample_em_profile as sample_em_profile
from ._gflash import sample_em_spots as sample_em_spots
from ._hadronic import HadronicShower as HadronicShower
from ._hadronic import em_fraction_mean as em_fraction_mean
from ._hadronic import hadronic_longitudinal_parameters as hadronic_longitudinal_parameters
from ._hadronic import sample_invisible_fraction as sample_invisible_fraction
from ._materials import CALO_MATERIALS as CALO_MATERIALS
from ._materials import CaloMaterial as CaloMaterial
from ._materials import calo_material as calo_material
from ._materials import mixture_lengths as mixture_lengths
from ._media import Medium as Medium
from ._media import medium as medium
from ._sampling import SamplingCalorimeter as SamplingCalorimeter
from ._sampling import simulate_sampling as simulate_sampling
from ._simulate import PARTICLES as PARTICLES
from ._simulate import ShowerSpots as ShowerSpots
from ._simulate import exit_field as exit_field
from ._simulate import shower_spots as shower_spots
from ._simulate import simulate_particles as simulate_particles

__all__ = [
    "CALO_MATERIALS",
    "PARTICLES",
    "CaloGeometry",
    "CaloLayer",
    "CaloMaterial",
    "CellEnergies",
    "CellTable",
    "GFlash",
    "HadronicShower",
    "Medium",
    "SamplingCalorimeter",
    "ShowerSpots",
    "add_noise",
    "calo_material",
    "deposit_energy",
    "em_fraction_mean",
    "em_longitudinal_parameters",
    "em_radial_parameters",
    "exit_field",
    "gamma_profile_fraction",
    "hadronic_longitudinal_parameters",
    "medium",
    "mixture_lengths",
    "sample_em_profile",
    "sample_em_spots",
    "sample_invisible_fraction",
    "shower_spots",
    "simulate_particles",
    "simulate_sampling",
]
