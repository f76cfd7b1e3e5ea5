"""Layer 1: collider kinematics, ParT pair features, jet substructure, materials.

Substructure: N-subjettiness, energy correlation functions and :func:`d2`, the $k_T$
splitting scales, SoftDrop grooming (:func:`soft_drop`), on one padded, masked jet each.

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
from ._substructure import MergeHistory as MergeHistory
from ._substructure import SoftDropResult as SoftDropResult
from ._substructure import d2 as d2
from ._substructure import energy_correlators as energy_correlators
from ._substructure import kt_splitting_scales as kt_splitting_scales
from ._substructure import merge_history as merge_history
from ._substructure import soft_drop as soft_drop

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
    "MergeHistory",
    "SoftDropResult",
    "Sternheimer",
    "bethe_bloch",
    "collision_stopping_power",
    "critical_energy",
    "d2",
    "delta_phi",
    "energy_correlators",
    "energy_loss",
    "exclusive_kt_axes",
    "highland",
    "invariant_mass",
    "kt_splitting_scales",
    "material",
    "material_names",
    "merge_history",
    "nsubjettiness",
    "p4_from_ptetaphim",
    "pair_features",
    "pt_eta_phi_mass",
    "radiation_length",
    "rapidity",
    "soft_drop",
]
