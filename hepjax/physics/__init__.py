"""Layer 1: collider kinematics, ParT pair features, jet substructure (N-subjettiness), materials.

Materials (:class:`Material`, predefined ones such as :data:`SILICON` and
:data:`LEAD`) with the radiation length, the Bethe mean energy loss and the
Highland multiple-scattering width, for any charged particle (mass and charge
are arguments; masses such as :data:`MUON_MASS` are here too).
"""

from ._constants import ELECTRON_MASS as ELECTRON_MASS
from ._constants import KAON_MASS as KAON_MASS
from ._constants import MUON_MASS as MUON_MASS
from ._constants import PION_MASS as PION_MASS
from ._constants import PROTON_MASS as PROTON_MASS
from ._kinematics import delta_phi as delta_phi
from ._kinematics import invariant_mass as invariant_mass
from ._kinematics import p4_from_ptetaphim as p4_from_ptetaphim
from ._kinematics import pt_eta_phi_mass as pt_eta_phi_mass
from ._kinematics import rapidity as rapidity
from ._material import AIR as AIR
from ._material import COPPER as COPPER
from ._material import CSI as CSI
from ._material import IRON as IRON
from ._material import LEAD as LEAD
from ._material import PBWO4 as PBWO4
from ._material import SILICON as SILICON
from ._material import Material as Material
from ._material import Sternheimer as Sternheimer
from ._material import bethe_bloch as bethe_bloch
from ._material import collision_stopping_power as collision_stopping_power
from ._material import critical_energy as critical_energy
from ._material import energy_loss as energy_loss
from ._material import highland as highland
from ._material import material as material
from ._material import material_names as material_names
from ._material import radiation_length as radiation_length
from ._nsubjettiness import exclusive_kt_axes as exclusive_kt_axes
from ._nsubjettiness import nsubjettiness as nsubjettiness
from ._pairs import PAIR_EPS as PAIR_EPS
from ._pairs import PAIR_FEATURE_NAMES as PAIR_FEATURE_NAMES
from ._pairs import pair_features as pair_features

__all__ = [
    "AIR",
    "COPPER",
    "CSI",
    "ELECTRON_MASS",
    "IRON",
    "KAON_MASS",
    "LEAD",
    "MUON_MASS",
    "PAIR_EPS",
    "PAIR_FEATURE_NAMES",
    "PBWO4",
    "PION_MASS",
    "PROTON_MASS",
    "SILICON",
    "Material",
    "Sternheimer",
    "bethe_bloch",
    "collision_stopping_power",
    "critical_energy",
    "delta_phi",
    "energy_loss",
    "exclusive_kt_axes",
    "highland",
    "invariant_mass",
    "material",
    "material_names",
    "nsubjettiness",
    "p4_from_ptetaphim",
    "pair_features",
    "pt_eta_phi_mass",
    "radiation_length",
    "rapidity",
]
