r"""The shower-relevant constants of a calorimeter medium (a layer's mixture, a dead material).

A :class:`Medium` holds what the shower parametrisations need, computed once in
Python from the materials and their volume ratio:

* the lengths $X_0$ and $\lambda_\text{int}$ of the mixture
  (:func:`~hepjax.sim.calo.mixture_lengths`);
* GFlash's effective atomic number and mass, weighted by the mass fractions
  $w_k$ of the elements (Grindhammer & Peters, hep-ex/0001020, Sec. 2; Geant4's
  ``GVFlashShowerParameterisation::GetEffZ/GetEffA``), $Z_\text{eff} = \sum_k w_k Z_k$,
  $A_\text{eff} = \sum_k w_k A_k$;
* GFlash's critical energy $E_c = 2.66\,(X_0 Z_\text{eff}/A_\text{eff})^{1.1}$ MeV
  with $X_0$ in g/cm$^2$ (Geant4's ``GFlashHomoShowerParameterisation::SetMaterial``;
  7.4 MeV for lead, PDG's Rossi value 7.43 MeV) and the Molière radius
  $R_M = E_s X_0/E_c$, $E_s = 21.2052$ MeV (PDG eq. 34.36);
* the mean ionisation loss $\langle dE/dx\rangle$ of a heavy charged particle
  by Bragg's additivity rule over the volume fractions $v_i$,
  $\langle dE/dx\rangle = \sum_i v_i \langle dE/dx\rangle_i$, each term from the
  Bethe equation of :func:`hepjax.physics.bethe_bloch` with the constituent's
  own density-effect parameters.

Vacuum (an empty gap) is a medium with infinite lengths and no energy loss.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from ...physics import bethe_bloch, material
from ._materials import calo_material

__all__ = ["VACUUM", "Medium", "medium"]

#: the hepjax.physics material of each calorimeter material (by canonical name); brass
#: (Cu70Zn30) is approximated by copper, whose Z, A, I are within a few percent
_PHYSICS = {
    "lead": "Pb",
    "liquid argon": "LAr",
    "iron": "Fe",
    "scintillator": "polystyrene",
    "copper": "Cu",
    "tungsten": "W",
    "silicon": "Si",
    "lead tungstate": "PbWO4",
    "brass": "Cu",
}

#: PDG's E_s = m_e c^2 sqrt(4 pi / alpha), MeV (Molière radius, eq. 34.36)
ES_MEV = 21.2052
BIG = 1e12  # mm: the lengths of vacuum


@dataclasses.dataclass(frozen=True)
class Medium:
    """Shower constants of a homogeneous mixture (module docstring); lengths in mm.

    Attributes:
        name: a label.
        x0: radiation length, mm.
        lam: nuclear interaction length, mm.
        density: g/cm$^3$.
        z_eff, a_eff: GFlash's mass-weighted $Z$ and $A$.
        critical_energy: $E_c$ in GeV.
        moliere: Molière radius, mm.
        components: ``((physics material name, volume fraction), ...)`` for the
            ionisation loss (empty for vacuum).
    """

    name: str
    x0: float
    lam: float
    density: float
    z_eff: float
    a_eff: float
    critical_energy: float
    moliere: float
    components: tuple[tuple[str, float], ...]

    @property
    def is_vacuum(self) -> bool:
        return not self.components

    def dedx(self, p, mass):
        """Mean ionisation loss in GeV/mm at momentum ``p`` (GeV) of a particle of ``mass``."""
        p = jnp.asarray(p, jnp.float32)
        out = jnp.zeros_like(p)
        for name, v in self.components:
            out = out + v * bethe_bloch(p, _physics(name), mass=mass)
        return out


VACUUM = Medium("vacuum", BIG, BIG, 0.0, 1.0, 1.0, 1.0, BIG, ())


@functools.lru_cache(maxsize=64)
def _physics(name: str):
    with jax.ensure_compile_time_eval():
        return material(name)


@functools.lru_cache(maxsize=64)
def medium(materials: tuple[str, ...], volume_ratio: tuple[float, ...]) -> Medium:
    """The :class:`Medium` of a volume mixture of calorimeter materials (cached)."""
    mats = [calo_material(m) for m in materials]
    total = float(sum(volume_ratio))
    v = [float(r) / total for r in volume_ratio]
    inv_x0 = sum(vi / m.radiation_length_mm for vi, m in zip(v, mats, strict=True))
    inv_lam = sum(vi / m.interaction_length_mm for vi, m in zip(v, mats, strict=True))
    rho = sum(vi * m.density for vi, m in zip(v, mats, strict=True))
    x0, lam = 1.0 / inv_x0, 1.0 / inv_lam
    # element mass fractions of the mixture
    elements: dict[tuple[float, float], float] = {}
    components = []
    for vi, m in zip(v, mats, strict=True):
        phys = _physics(_PHYSICS[m.name])
        w_mat = vi * m.density / rho
        for z, a, f in phys.composition:
            elements[(z, a)] = elements.get((z, a), 0.0) + w_mat * f
        components.append((_PHYSICS[m.name], vi))
    z_eff = sum(w * z for (z, _), w in elements.items())
    a_eff = sum(w * a for (_, a), w in elements.items())
    x0_gcm2 = rho * x0 / 10.0
    ec_mev = 2.66 * (x0_gcm2 * z_eff / a_eff) ** 1.1
    name = "+".join(m.name for m in mats)
    return Medium(
        name, x0, lam, rho, z_eff, a_eff, ec_mev / 1000.0, ES_MEV * x0 / ec_mev, tuple(components)
    )


def medium_of(name: str | None) -> Medium:
    """The medium of one material, or :data:`VACUUM` for ``None``."""
    if name is None:
        return VACUUM
    return medium((name,), (1.0,))
