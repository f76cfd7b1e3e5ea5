r"""Cross sections and stopping powers of the transport code (MeV, cm, g).

Every formula is a data-free parametrisation; each function cites its source.

Photons, per atom of atomic number $Z$ (cm$^2$):

* **Compton scattering**: the empirical $Z$-dependent fit of Storm and Israel
  data used by Geant4's ``G4KleinNishinaCompton::ComputeCrossSectionPerAtom``
  (Geant4 Physics Reference Manual, Sec. "Compton scattering"; valid from
  10 keV to 100 GeV, binding effects included at low energy), with
  $X = E/m_ec^2$ and $P_i(Z) = Z(d_i + e_i Z + f_i Z^2)$:
  $\sigma = P_1\ln(1+2X)/X + (P_2 + P_3 X + P_4 X^2)/(1 + aX + bX^2 + cX^3)$.
* **Pair production** (nucleus and atomic electrons): L. Urban's fit to
  Hubbell's tables used by ``G4BetheHeitlerModel`` (Geant4 Physics Reference
  Manual, Sec. "Gamma conversion"; 1.5 MeV to 100 GeV), with $X = \ln(E/m_ec^2)$:
  $\sigma = (Z+1)[F_1(X) Z + F_2(X) Z^2 + F_3(X)]$, $F_i$ fifth-degree
  polynomials, and $\sigma(E) = \sigma(1.5\,\text{MeV})\,[(E-2m)/(1.5\,\text{MeV}-2m)]^2$ below.
* **Photoelectric absorption**: Sauter's K-shell cross section (F. Sauter,
  Ann. Phys. 403 (1931) 454; Heitler, *Quantum Theory of Radiation*, 1954,
  §21 eq. 17), times Stobbe's non-relativistic Coulomb correction factor
  $(1+\xi^2)\,\pi\xi/\sinh(\pi\xi)\,e^{\xi(\pi - 4\arctan(1/\xi))}$ with
  $\xi = Z\alpha/\beta$, times Hubbell's ratio of the total to the K-shell
  cross section $1 + 0.01481\ln^2 Z - 0.000788\ln^3 Z$ (J. H. Hubbell,
  NSRDS-NBS 29 (1969) eq. 2-2); the combination used by PROPOSAL's
  ``PhotoeffectSauter`` (Alameddine et al., Comput. Phys. Commun. 2020).
  The photoelectron's energy is measured from the K-shell binding energy
  $I_K = (Z\alpha)^2 m_ec^2/2$. Below $1.2 I_K$ the cross section is continued as
  $E^{-3}$ (no edges: the code is not meant for photons below ~100 keV in
  heavy elements). Against NIST XCOM it is within ~5% for Pb from 0.1 to
  10 MeV (see the tests).

Rayleigh scattering is neglected (under 2% of the attenuation above 1 MeV).

Electrons and positrons (per gram, from the radiation length $X_0$ in g/cm$^2$):

* **Bremsstrahlung**: the complete-screening Bethe-Heitler spectrum with the
  Coulomb correction (Tsai, Rev. Mod. Phys. 46 (1974) 815; PDG eq. 34.29),
  $d\sigma/dk = \frac{A}{X_0 N_A k}\big(\frac43 - \frac43 y + y^2\big)$, $y = k/E$
  ($E$ the total energy). Photons above the cut $k_c$ are emitted; those below
  are folded into the continuous loss
  $\frac1\rho\frac{dE}{dx}\big|_{k<k_c} = \frac1{X_0}\big(\frac43 k_c - \frac23\frac{k_c^2}{E}
  + \frac13\frac{k_c^3}{E^2}\big)$. The spectrum is the high-energy limit: it
  overestimates the radiative loss by ~20% near 10 MeV in lead (no LPM or
  dielectric suppression either).
* **Ionisation**: the total Berger-Seltzer stopping power with the density effect
  (:func:`hepjax.physics.collision_stopping_power`); no delta rays.
* **Annihilation in flight**: Heitler's two-photon cross section per electron
  (W. Heitler, 1954; Geant4 ``G4eeToTwoGammaModel``)
  $\sigma = \frac{\pi r_e^2}{\gamma+1}\Big[\frac{\gamma^2+4\gamma+1}{\gamma^2-1}
  \ln\big(\gamma+\sqrt{\gamma^2-1}\big) - \frac{\gamma+3}{\sqrt{\gamma^2-1}}\Big]$.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from hepjax.physics import Material, collision_stopping_power

ME = 0.51099895  # MeV
ALPHA = 1 / 137.035999084
RE = 2.8179403262e-13  # cm
NA = 6.02214076e23
BARN = 1e-24  # cm^2

# Geant4 G4KleinNishinaCompton fit constants (in barn)
_KN_ABC = (20.0, 230.0, 440.0)
_KN_D = (2.7965e-1, -1.8300e-1, 6.7527, -1.9798e1)
_KN_E = (1.9756e-5, -1.0205e-2, -7.3913e-2, 2.7079e-2)
_KN_F = (-3.9178e-7, 6.8241e-5, 6.0480e-5, 3.0274e-4)
# Urban's pair-production fit (in microbarn), G4BetheHeitlerModel
_BH_A = (8.7842e2, -1.9625e3, 1.2949e3, -2.0028e2, 1.2575e1, -2.8333e-1)
_BH_B = (-1.0342e1, 1.7692e1, -8.2381, 1.3063, -9.0815e-2, 2.3586e-3)
_BH_C = (-4.5263e2, 1.1161e3, -8.6749e2, 2.1773e2, -2.0467e1, 6.5372e-1)


def _kn_fit(x, z):
    a, b, c = _KN_ABC
    p = [z * (d + e * z + f * z * z) for d, e, f in zip(_KN_D, _KN_E, _KN_F, strict=True)]
    return p[0] * jnp.log1p(2 * x) / x + (p[1] + p[2] * x + p[3] * x * x) / (
        1 + a * x + b * x * x + c * x**3
    )


def compton_per_atom(energy_mev: Float[ArrayLike, ...], Z: float) -> Float[Array, ...]:
    """Compton cross section per atom in cm^2 (Geant4's Storm-Israel fit, module docstring).

    Below $T_0$ = 15 keV (40 keV for hydrogen) the fit's low-energy extension
    $\\sigma(T_0)\\,e^{-y(c_1 + c_2 y)}$, $y = \\ln(E/T_0)$, is used as in Geant4.
    """
    e = jnp.asarray(energy_mev, jnp.float32)
    z = float(Z)
    t0 = 0.040 if z < 1.5 else 0.015
    x = jnp.maximum(e, t0) / ME
    sig = _kn_fit(x, z)
    # low-energy modification
    s0 = _kn_fit(t0 / ME, z)
    s1 = _kn_fit((t0 + 0.001) / ME, z)
    c1 = -t0 * (s1 - s0) / (s0 * 0.001)
    c2 = 0.150 if z < 1.5 else 0.375 - 0.0556 * math.log(z)
    y = jnp.log(jnp.maximum(e, 1e-6) / t0)
    sig = jnp.where(e < t0, s0 * jnp.exp(-y * (c1 + c2 * y)), sig)
    return jnp.maximum(sig, 0.0) * BARN


def pair_per_atom(energy_mev: Float[ArrayLike, ...], Z: float) -> Float[Array, ...]:
    """Pair-production cross section per atom in cm^2 (Urban's fit, module docstring)."""
    e = jnp.asarray(energy_mev, jnp.float32)
    z = float(Z)
    lim = 1.5
    x = jnp.log(jnp.maximum(e, lim) / ME)
    f = [sum(c[i] * x**i for i in range(6)) for c in (_BH_A, _BH_B, _BH_C)]
    sig = (z + 1.0) * (f[0] * z + f[1] * z * z + f[2])
    below = ((e - 2 * ME) / (lim - 2 * ME)) ** 2
    sig = jnp.where(e < lim, sig * below, sig)
    sig = jnp.where(e <= 2 * ME, 0.0, sig)
    return jnp.maximum(sig, 0.0) * 1e-6 * BARN


def _sauter(e, z):
    sigma_t = 8 * math.pi * RE**2 / 3
    ik = (z * ALPHA) ** 2 * ME / 2
    g = 1 + (e - ik) / ME
    gb = jnp.sqrt(g * g - 1)
    sig = (
        1.5
        * sigma_t
        * z**5
        * ALPHA**4
        * (ME / e) ** 5
        * gb**3
        * (4 / 3 + g * (g - 2) / (g + 1) * (1 - jnp.log(g + gb) / (g * gb)))
    )
    xi = z * ALPHA * g / gb
    stobbe = (1 + xi * xi) * (math.pi * xi) / jnp.sinh(math.pi * xi)
    stobbe = stobbe * jnp.exp(xi * (math.pi - 4 * jnp.arctan(1 / xi)))
    lz = math.log(z)
    return sig * stobbe * (1 + 0.01481 * lz * lz - 0.000788 * lz**3)


def photoelectric_per_atom(energy_mev: Float[ArrayLike, ...], Z: float) -> Float[Array, ...]:
    """Photoelectric cross section per atom in cm^2 (Sauter-Stobbe-Hubbell, module docstring)."""
    e = jnp.asarray(energy_mev, jnp.float32)
    z = float(Z)
    e_min = 1.2 * (z * ALPHA) ** 2 * ME / 2
    e_min = max(e_min, 1e-3)
    ee = jnp.maximum(e, e_min)
    sig = _sauter(ee, z) * (ee / jnp.maximum(e, 1e-6)) ** 3
    return jnp.maximum(sig, 0.0)


def _per_gram(fn, material: Material, energy_mev) -> Array:
    if material.composition is None:
        raise ValueError(
            f"material {material.name!r} has no composition (elements and mass fractions); "
            "build it with Material.element, Material.mixture or hepjax.physics.material"
        )
    return sum(w * NA / a * fn(energy_mev, z) for z, a, w in material.composition)


def mass_attenuation(
    material: Material, energy_mev: Float[ArrayLike, ...]
) -> dict[str, Float[Array, ...]]:
    r"""Photon mass attenuation coefficients $\mu/\rho$ in cm$^2$/g by process.

    $\mu/\rho = \sum_i w_i N_A \sigma_i / A_i$ over the material's elements.

    Returns:
        ``{"compton": ..., "pair": ..., "photoelectric": ..., "total": ...}``
        (no Rayleigh scattering; compare with XCOM's total minus coherent or
        with its total to 2%).
    """
    out = {
        "compton": _per_gram(compton_per_atom, material, energy_mev),
        "pair": _per_gram(pair_per_atom, material, energy_mev),
        "photoelectric": _per_gram(photoelectric_per_atom, material, energy_mev),
    }
    out["total"] = out["compton"] + out["pair"] + out["photoelectric"]
    return out


def brems_loss_below_cut(kinetic, cut, x0):
    """Radiative mass stopping power from photons below ``cut`` (MeV cm^2/g), module docstring."""
    e = kinetic + ME
    k = jnp.minimum(cut, kinetic)
    return (4.0 / 3.0 * k - 2.0 / 3.0 * k * k / e + k**3 / (3.0 * e * e)) / x0


def brems_majorant(kinetic, cut, x0):
    r"""$\frac{4}{3X_0}\ln(T/k_c)$, cm$^2$/g: majorant of the emission cross section above the cut.

    The true cross section is $\frac1{X_0}\int_{k_c}^T (\frac43 - \frac43 y + y^2)dk/k \le$
    this; an emission sampled from $dk/k$ is kept with probability
    $(\frac43 - \frac43 y + y^2)/\frac43$ (a null collision otherwise), which is
    exact.
    """
    return jnp.where(kinetic > cut, 4.0 / 3.0 * jnp.log(jnp.maximum(kinetic, cut) / cut) / x0, 0.0)


def brems_cross_section(kinetic, cut, x0):
    """Emission cross section above the cut, cm^2/g (the integral of the spectrum).

    Args:
        kinetic: the electron's kinetic energy in MeV.
        cut: the photon-energy cut in MeV (emissions above it are discrete).
        x0: the material's radiation length in g/cm$^2$.
    """
    e = kinetic + ME
    t = jnp.maximum(kinetic, cut)
    val = (
        4.0 / 3.0 * jnp.log(t / cut)
        - 4.0 / 3.0 * (t - cut) / e
        + (t * t - cut * cut) / (2.0 * e * e)
    ) / x0
    return jnp.where(kinetic > cut, val, 0.0)


def annihilation_per_electron(kinetic):
    """Heitler's two-photon annihilation cross section per target electron, cm^2."""
    g = 1.0 + jnp.maximum(kinetic, 1e-4) / ME
    s = jnp.sqrt(g * g - 1.0)
    return (
        math.pi
        * RE**2
        / (g + 1.0)
        * ((g * g + 4 * g + 1) / (g * g - 1) * jnp.log(g + s) - (g + 3) / s)
    )


# -- tables on a log-energy grid ---------------------------------------------------------

GRID_MIN = 1e-3  # MeV
GRID_MAX = 1e6  # MeV
GRID_PER_DECADE = 48
GRID_N = 9 * GRID_PER_DECADE + 1
GRID_LOG_MIN = math.log(GRID_MIN)
GRID_DLOG = math.log(10.0) / GRID_PER_DECADE

#: columns of the per-material table
COL_COMPTON, COL_PAIR, COL_PHOTO, COL_ION_E, COL_ION_P = range(5)


def grid() -> np.ndarray:
    return np.exp(GRID_LOG_MIN + GRID_DLOG * np.arange(GRID_N))


def material_table(material: Material) -> np.ndarray:
    """``(GRID_N, 5)`` float32 table: Compton, pair, photoelectric $\\mu/\\rho$ (cm^2/g),
    e- and e+ collision stopping powers (MeV cm^2/g), on :func:`grid`."""
    with jax.ensure_compile_time_eval():
        e = jnp.asarray(grid(), jnp.float32)
        att = mass_attenuation(material, e)
        ion_e = collision_stopping_power(e, material)
        ion_p = collision_stopping_power(e, material, positron=True)
        tab = jnp.stack([att["compton"], att["pair"], att["photoelectric"], ion_e, ion_p], -1)
        return np.asarray(tab, np.float32)


def pair_screening_z(material: Material) -> float:
    """Effective Z for the pair energy sharing: the Z^2-weighted mean over the elements."""
    wz = [(w / a * z * (z + 1), z) for z, a, w in material.composition]
    return sum(w * z for w, z in wz) / sum(w for w, z in wz)


def coulomb_correction(z: float) -> float:
    """Davies-Bethe-Maximon Coulomb correction f(Z) (PDG eq. 34.27)."""
    a2 = (ALPHA * z) ** 2
    return a2 * (1 / (1 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)
