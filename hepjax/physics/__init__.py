"""Layer 1: collider kinematics and jet substructure (N-subjettiness)."""

from ._kinematics import delta_phi as delta_phi
from ._kinematics import invariant_mass as invariant_mass
from ._kinematics import p4_from_ptetaphim as p4_from_ptetaphim
from ._kinematics import pt_eta_phi_mass as pt_eta_phi_mass
from ._kinematics import rapidity as rapidity
from ._nsubjettiness import exclusive_kt_axes as exclusive_kt_axes
from ._nsubjettiness import nsubjettiness as nsubjettiness

__all__ = [
    "delta_phi",
    "exclusive_kt_axes",
    "invariant_mass",
    "nsubjettiness",
    "p4_from_ptetaphim",
    "pt_eta_phi_mass",
    "rapidity",
]
