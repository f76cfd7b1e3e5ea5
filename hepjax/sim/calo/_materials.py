r"""Absorber and active materials of a sampling calorimeter, and their mixtures.

A COCOA layer is a homogeneous *mixture* of an absorber and an active medium in
a given volume ratio (arXiv:2303.02101, Sec. 2; ``ECAL_material_mixing_in_volume_proportion``
of its configuration), and its depth is given in radiation lengths $X_0$ (ECAL)
or nuclear interaction lengths $\lambda_\text{int}$ (HCAL) of that mixture.

For volume fractions $v_i = r_i/\sum_j r_j$ and lengths $X_{0,i} = X_{0,i}^{\rho}/\rho_i$
(the PDG value in g/cm$^2$ over the density), the mixture's lengths are the
harmonic means (PDG Review, ch. 34, eq. 34.28 for $X_0$; the same rule for
$\lambda_\text{int}$, which is an inverse sum of cross sections):

$$\frac{1}{X_0^\text{mix}} = \sum_i \frac{v_i}{X_{0,i}},\qquad
  \frac{1}{\lambda^\text{mix}_\text{int}} = \sum_i \frac{v_i}{\lambda_{\text{int},i}},\qquad
  \rho^\text{mix} = \sum_i v_i\rho_i .$$

The constants are those of the PDG tables of atomic and nuclear properties
(pdg.lbl.gov/AtomicNuclearProperties): density in g/cm$^3$, $X_0$ and
$\lambda_\text{int}$ in g/cm$^2$. Names follow COCOA's configuration (Geant4
NIST names such as ``G4_Pb``) and plain English; lookups are case-insensitive.
"""

from __future__ import annotations

import dataclasses

__all__ = ["CALO_MATERIALS", "CaloMaterial", "calo_material", "mixture_lengths"]


@dataclasses.dataclass(frozen=True)
class CaloMaterial:
    """A calorimeter material: density (g/cm^3), X0 and lambda_int (g/cm^2).

    Attributes:
        name: canonical name.
        density: g/cm$^3$.
        X0: radiation length in g/cm$^2$.
        lambda_int: nuclear interaction length in g/cm$^2$.
    """

    name: str
    density: float
    X0: float
    lambda_int: float

    def __post_init__(self):
        for field in ("density", "X0", "lambda_int"):
            v = getattr(self, field)
            if not (isinstance(v, int | float) and v > 0 and v < float("inf")):
                raise ValueError(f"CaloMaterial.{field} must be positive and finite, got {v!r}")

    @property
    def radiation_length_mm(self) -> float:
        """$X_0/\\rho$ in mm."""
        return 10.0 * self.X0 / self.density

    @property
    def interaction_length_mm(self) -> float:
        """$\\lambda_\\text{int}/\\rho$ in mm."""
        return 10.0 * self.lambda_int / self.density


_TABLE = (
    # name, density, X0, lambda_int (PDG), aliases
    (CaloMaterial("lead", 11.35, 6.37, 199.6), ("g4_pb", "pb")),
    (CaloMaterial("liquid argon", 1.396, 19.55, 119.7), ("liquid_argon", "g4_lar", "lar")),
    (CaloMaterial("iron", 7.874, 13.84, 132.1), ("g4_fe", "fe")),
    (
        # polyvinyltoluene-based plastic scintillator (PDG: "plastic scintillator
        # (vinyltoluene based)"); lambda_int as for polystyrene to within 1%
        CaloMaterial("scintillator", 1.032, 43.83, 81.8),
        ("g4_plastic_sc_vinyltoluene", "polyvinyltoluene", "plastic scintillator"),
    ),
    (CaloMaterial("copper", 8.96, 12.86, 137.3), ("g4_cu", "cu")),
    (CaloMaterial("tungsten", 19.3, 6.76, 191.9), ("g4_w", "w")),
    (CaloMaterial("silicon", 2.329, 21.82, 108.4), ("g4_si", "si")),
    (CaloMaterial("lead tungstate", 8.30, 7.39, 168.3), ("g4_pbwo4", "pbwo4")),
    (CaloMaterial("brass", 8.53, 12.98, 136.7), ("g4_brass",)),
)

#: Known materials by lower-case name or alias (COCOA/Geant4 names included).
CALO_MATERIALS: dict[str, CaloMaterial] = {}
for _m, _aliases in _TABLE:
    for _n in (_m.name, *_aliases):
        CALO_MATERIALS[_n.lower()] = _m


def calo_material(name: str | CaloMaterial) -> CaloMaterial:
    """The :class:`CaloMaterial` called ``name`` (case-insensitive), or ``name`` itself.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if isinstance(name, CaloMaterial):
        return name
    if not isinstance(name, str):
        raise TypeError(f"material must be a name or a CaloMaterial, got {type(name).__name__}")
    try:
        return CALO_MATERIALS[name.lower()]
    except KeyError:
        known = sorted({m.name for m, _ in _TABLE})
        raise ValueError(
            f"unknown material {name!r}; known materials are {known} "
            "(or their Geant4 names such as 'G4_Pb', 'Liquid_Argon', 'G4_Fe', "
            "'G4_PLASTIC_SC_VINYLTOLUENE')"
        ) from None


def mixture_lengths(
    materials: tuple[str | CaloMaterial, ...], volume_ratio: tuple[float | int, ...]
) -> tuple[float, float, float]:
    """``(X0_mm, lambda_int_mm, density)`` of a volume mixture (module docstring).

    Args:
        materials: material names (or :class:`CaloMaterial`).
        volume_ratio: one positive number per material, e.g. ``(4.6, 1.2)``
            for COCOA's LAr : Pb ECAL.
    """
    if len(materials) == 0 or len(materials) != len(volume_ratio):
        raise ValueError(
            f"materials and volume_ratio must be non-empty and of equal length, got "
            f"{len(materials)} and {len(volume_ratio)}"
        )
    if not all(float(r) > 0 for r in volume_ratio):
        raise ValueError(f"volume_ratio must be positive, got {tuple(volume_ratio)}")
    mats = [calo_material(m) for m in materials]
    total = float(sum(volume_ratio))
    v = [float(r) / total for r in volume_ratio]
    inv_x0 = sum(vi / m.radiation_length_mm for vi, m in zip(v, mats, strict=True))
    inv_lam = sum(vi / m.interaction_length_mm for vi, m in zip(v, mats, strict=True))
    rho = sum(vi * m.density for vi, m in zip(v, mats, strict=True))
    return 1.0 / inv_x0, 1.0 / inv_lam, rho
