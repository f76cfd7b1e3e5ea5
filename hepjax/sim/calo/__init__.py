"""Layer 2: a COCOA-style configurable calorimeter (arXiv:2303.02101).

The detector (:class:`CaloGeometry`, COCOA's default as :meth:`CaloGeometry.cocoa`,
with a JSON round trip), its materials (:func:`calo_material`,
:func:`mixture_lengths`), and the read-out: energy spots summed into cells by
index with the sampling emulation and Gaussian noise (:func:`deposit_energy`)
into :class:`CellEnergies`, one value per cell. The event processing
(topoclusters, cell graph, writers) is :mod:`hepjax.calo`.
"""

from ._cells import CellEnergies as CellEnergies
from ._cells import add_noise as add_noise
from ._cells import deposit_energy as deposit_energy
from ._geometry import CaloGeometry as CaloGeometry
from ._geometry import CaloLayer as CaloLayer
from ._geometry import CellTable as CellTable
from ._materials import CALO_MATERIALS as CALO_MATERIALS
from ._materials import CaloMaterial as CaloMaterial
from ._materials import calo_material as calo_material
from ._materials import mixture_lengths as mixture_lengths

__all__ = [
    "CALO_MATERIALS",
    "CaloGeometry",
    "CaloLayer",
    "CaloMaterial",
    "CellEnergies",
    "CellTable",
    "add_noise",
    "calo_material",
    "deposit_energy",
    "mixture_lengths",
]
