r"""Materials, and the passage of charged particles through them.

Units: energies and momenta in GeV, lengths in mm (as in :mod:`hepjax.sim.tracker`);
the constants of a :class:`Material` in the units of the PDG tables of atomic
and nuclear properties: density in g/cm$^3$, radiation length $X_0$ in g/cm$^2$,
mean excitation energy $I$ in eV. Every function is a pure ``jax.numpy``
function of its arguments (the material's numbers included), so it jits,
vmaps and differentiates, e.g. with respect to a layer's thickness or density.

**Radiation length** (PDG Review of Particle Physics, ch. 34 "Passage of
particles through matter", Sec. 34.4.2; Tsai, Rev. Mod. Phys. 46 (1974) 815):

$$\frac{1}{X_0} = \frac{4\alpha r_e^2 N_A}{A}\Big\{Z^2\big[L_\text{rad} - f(Z)\big]
  + Z\,L'_\text{rad}\Big\},\qquad 4\alpha r_e^2 N_A = (716.408\ \text{g cm}^{-2})^{-1}
  \text{ for } A = 1\ \text{g/mol},$$

with $L_\text{rad} = \ln(184.15\,Z^{-1/3})$, $L'_\text{rad} = \ln(1194\,Z^{-2/3})$
(Tsai's table for $Z \le 4$) and the Coulomb correction
$f(Z) = a^2[(1+a^2)^{-1} + 0.20206 - 0.0369a^2 + 0.0083a^4 - 0.002a^6]$, $a=\alpha Z$.
Dahl's compact fit $X_0 \approx 716.4\,A / [Z(Z+1)\ln(287/\sqrt Z)]$ g/cm$^2$
agrees with it to 2.5% (except helium).

**Mean energy loss** of a heavy charged particle (charge $z$, mass $M$; the
Bethe equation, Sec. 34.2.3, eq. 34.5):

$$-\Big\langle\frac{dE}{dx}\Big\rangle = K z^2 \frac{Z}{A}\frac{1}{\beta^2}
  \Big[\frac12\ln\frac{2 m_e c^2\beta^2\gamma^2 W_\max}{I^2} - \beta^2
  - \frac{\delta(\beta\gamma)}{2}\Big],\qquad
  W_\max = \frac{2 m_e c^2 \beta^2\gamma^2}{1 + 2\gamma m_e/M + (m_e/M)^2}\ \text{(eq. 34.4)},$$

$K = 0.307075$ MeV mol$^{-1}$ cm$^2$. The density-effect correction $\delta$ is
Sternheimer's parameterisation (Sec. 34.2.5, eq. 34.7), with $x = \log_{10}\beta\gamma$:
$\delta = 2\ln 10\,x - \bar C + a(x_1 - x)^k$ for $x_0 \le x < x_1$,
$2\ln 10\,x - \bar C$ for $x \ge x_1$ and $\delta_0\,10^{2(x - x_0)}$ below $x_0$
(conductors). A material without these parameters gets the high-energy limit
$\delta/2 \to \ln(\hbar\omega_p/I) + \ln\beta\gamma - 1/2$ (eq. 34.6), floored at 0,
with the plasma energy $\hbar\omega_p = 28.816\sqrt{\rho\langle Z/A\rangle}$ eV.
The formula holds to a few per cent for $0.1 \lesssim \beta\gamma \lesssim 1000$
(no shell, Barkas or Bloch corrections, no radiative losses); it does not
apply to electrons.

**Multiple scattering** (Highland, as refined by Lynch & Dahl, NIM B58 (1991) 6;
Sec. 34.3, eq. 34.15): the width of the central Gaussian of the plane
scattering angle after $x/X_0$ radiation lengths is

$$\theta_0 = \frac{13.6\ \text{MeV}}{\beta c p}\,|z|\sqrt{x/X_0}
  \Big[1 + 0.038\ln\Big(\frac{x z^2}{X_0\beta^2}\Big)\Big],$$

accurate to 11% for $10^{-3} < x/X_0 < 100$.

Reference: S. Navas et al. (Particle Data Group), Phys. Rev. D 110 (2024)
030001; the material constants are those of the PDG tables
(pdg.lbl.gov/AtomicNuclearProperties).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._core import concrete_value
from ._constants import ELECTRON_MASS

__all__ = [
    "Material",
    "Sternheimer",
    "bethe_bloch",
    "energy_loss",
    "highland",
    "radiation_length",
]

FINE_STRUCTURE = 1 / 137.035999084
BETHE_K = 0.307075e-3  # GeV cm^2 / mol
PLASMA_ENERGY_FACTOR = 28.816  # eV, times sqrt(rho <Z/A>) with rho in g/cm^3
X0_FACTOR = 716.408  # g/cm^2: (4 alpha r_e^2 N_A / A)^-1 for A = 1 g/mol
# Tsai's L_rad and L'_rad for Z = 1..4 (PDG Table 34.2)
_L_RAD_LIGHT = np.array([5.31, 4.79, 4.74, 4.71])
_L_RAD_PRIME_LIGHT = np.array([6.144, 5.621, 5.805, 5.924])


class Sternheimer(eqx.Module):
    r"""Sternheimer's density-effect parameters of a material (PDG tables; Sec. 34.2.5).

    Attributes:
        a, k: shape of $\delta$ between $x_0$ and $x_1$.
        x0, x1: the range of $x = \log_{10}\beta\gamma$ of the intermediate form.
        C: $\bar C = 2\ln(I/\hbar\omega_p) + 1$.
        delta0: $\delta$ at $x_0$ (non-zero for conductors).
    """

    a: ArrayLike
    k: ArrayLike
    x0: ArrayLike
    x1: ArrayLike
    C: ArrayLike
    delta0: ArrayLike = 0.0


def _positive(name: str, value) -> None:
    v = concrete_value(value)
    if v is not None and not (np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError(f"Material.{name} must be positive and finite, got {value!r}")


class Material(eqx.Module):
    r"""A homogeneous material (an element, a compound or a mixture).

    Attributes:
        name: a label.
        Z: atomic number; for a compound, the electrons per formula unit.
        A: atomic mass in g/mol; for a compound, the molar mass of a formula
            unit (so that $Z/A = \langle Z/A\rangle$, all the Bethe equation needs).
        density: mass density in g/cm$^3$.
        X0: radiation length in g/cm$^2$ (:func:`radiation_length` for an
            element, :meth:`element` computes it).
        I: mean excitation energy in eV.
        sternheimer: density-effect parameters (:class:`Sternheimer`), or
            ``None`` for the high-energy limit (see the module docstring).

    The numbers may be JAX arrays (to differentiate with respect to them);
    ``name`` and the presence of ``sternheimer`` are static.
    """

    name: str = eqx.field(static=True)
    Z: ArrayLike
    A: ArrayLike
    density: ArrayLike
    X0: ArrayLike
    I: ArrayLike  # noqa: E741
    sternheimer: Sternheimer | None = None

    def __check_init__(self):
        for name in ("Z", "A", "density", "X0", "I"):
            _positive(name, getattr(self, name))

    @classmethod
    def element(
        cls,
        name: str,
        *,
        Z: ArrayLike,
        A: ArrayLike,
        density: ArrayLike,
        I: ArrayLike,  # noqa: E741
        sternheimer: Sternheimer | None = None,
    ) -> Material:
        """An element, with its radiation length from Tsai's formula (:func:`radiation_length`)."""
        return cls(name, Z, A, density, radiation_length(Z, A), I, sternheimer)

    @property
    def radiation_length(self) -> Float[Array, ""]:
        """The radiation length as a length, $X_0/\\rho$, in mm."""
        return 10.0 * jnp.asarray(self.X0) / jnp.asarray(self.density)

    @property
    def Z_over_A(self) -> Float[Array, ""]:
        """$\\langle Z/A\\rangle$ in mol/g."""
        return jnp.asarray(self.Z) / jnp.asarray(self.A)

    @property
    def plasma_energy(self) -> Float[Array, ""]:
        """$\\hbar\\omega_p = 28.816\\sqrt{\\rho\\langle Z/A\\rangle}$ eV."""
        return PLASMA_ENERGY_FACTOR * jnp.sqrt(jnp.asarray(self.density) * self.Z_over_A)


def radiation_length(Z: Float[ArrayLike, ...], A: Float[ArrayLike, ...]) -> Float[Array, ...]:
    r"""Radiation length $X_0$ of an element in g/cm$^2$ (Tsai's formula, see the module docstring).

    Args:
        Z: atomic number (``Z <= 4`` uses Tsai's tabulated logarithms at the
            nearest integer).
        A: atomic mass in g/mol.
    """
    Z = jnp.asarray(Z, float)
    A = jnp.asarray(A, float)
    z = concrete_value(Z)
    if z is not None and not np.all(z >= 1):
        raise ValueError(f"Z must be >= 1, got {z}")
    a2 = (FINE_STRUCTURE * Z) ** 2
    f = a2 * (1.0 / (1.0 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)
    light = jnp.clip(jnp.round(Z).astype(int), 1, 4) - 1
    l_rad = jnp.where(Z > 4, jnp.log(184.15) - jnp.log(Z) / 3, jnp.asarray(_L_RAD_LIGHT)[light])
    l_prime = jnp.where(
        Z > 4, jnp.log(1194.0) - 2 * jnp.log(Z) / 3, jnp.asarray(_L_RAD_PRIME_LIGHT)[light]
    )
    return X0_FACTOR * A / (Z**2 * (l_rad - f) + Z * l_prime)


def highland(
    p: Float[ArrayLike, ...],
    x_x0: Float[ArrayLike, ...],
    *,
    mass: float,
    charge: float = 1.0,
) -> Float[Array, ...]:
    r"""Highland width $\theta_0$ (rad) of the plane scattering angle (eq. 34.15).

    Args:
        p: momentum in GeV.
        x_x0: path length in radiation lengths, $x/X_0$ (e.g. a layer's
            thickness over :attr:`Material.radiation_length`).
        mass: particle mass in GeV (e.g. :data:`hepjax.physics.MUON_MASS`).
        charge: particle charge $z$ in units of $e$.

    Zero material gives zero width (the logarithm is guarded, so the gradient
    with respect to ``x_x0`` is finite there too).
    """
    p = jnp.asarray(p)
    x_x0 = jnp.asarray(x_x0)
    beta = p / jnp.sqrt(p * p + mass * mass)
    pos = x_x0 > 0
    safe = jnp.where(pos, x_x0, 1.0)
    z = abs(charge)
    width = (
        13.6e-3 / (beta * p) * z * jnp.sqrt(safe) * (1.0 + 0.038 * jnp.log(safe * z**2 / beta**2))
    )
    return jnp.where(pos, width, 0.0)


def _density_correction(bg: Array, material: Material) -> Array:
    """$\\delta(\\beta\\gamma)$: Sternheimer's form, or the high-energy limit."""
    s = material.sternheimer
    if s is None:
        half = jnp.log(material.plasma_energy / material.I) + jnp.log(bg) - 0.5
        return 2.0 * jnp.maximum(half, 0.0)
    x = jnp.log10(bg)
    high = 2 * math.log(10) * x - s.C
    mid = high + s.a * jnp.maximum(s.x1 - x, 0.0) ** s.k
    low = s.delta0 * 10.0 ** (2 * (x - s.x0))
    return jnp.where(x >= s.x1, high, jnp.where(x >= s.x0, mid, low))


def bethe_bloch(
    p: Float[ArrayLike, ...],
    material: Material,
    *,
    mass: float,
    charge: float = 1.0,
) -> Float[Array, ...]:
    r"""Mean energy loss per unit length $-\langle dE/dx\rangle$ in GeV/mm (eq. 34.5).

    Args:
        p: momentum in GeV.
        material: the :class:`Material` crossed.
        mass: particle mass $M$ in GeV (a heavy particle: muon, pion, kaon,
            proton, ...; not an electron).
        charge: particle charge $z$ in units of $e$.

    Divide by the density and multiply by 10 for the mass stopping power in
    GeV cm$^2$/g (PDG's minimum for silicon: 1.664 MeV cm$^2$/g).
    """
    if not isinstance(material, Material):
        raise TypeError(
            f"material must be a hepjax.physics.Material, got {type(material).__name__}"
        )
    p = jnp.asarray(p)
    bg = p / mass
    gamma = jnp.sqrt(1.0 + bg * bg)
    beta2 = bg * bg / (gamma * gamma)
    ratio = ELECTRON_MASS / mass
    w_max = 2 * ELECTRON_MASS * bg * bg / (1 + 2 * gamma * ratio + ratio * ratio)
    i_gev = jnp.asarray(material.I) * 1e-9
    log_term = 0.5 * jnp.log(2 * ELECTRON_MASS * bg * bg * w_max / i_gev**2)
    bracket = log_term - beta2 - 0.5 * _density_correction(bg, material)
    per_gcm2 = BETHE_K * charge**2 * material.Z_over_A / beta2 * bracket  # GeV cm^2 / g
    return per_gcm2 * jnp.asarray(material.density) / 10.0


def energy_loss(
    p: Float[ArrayLike, ...],
    thickness: Float[ArrayLike, ...],
    material: Material,
    *,
    mass: float,
    charge: float = 1.0,
) -> Float[Array, ...]:
    r"""Mean energy (GeV) lost in a thin layer: $-\langle dE/dx\rangle(p)\,t$.

    Args:
        p: momentum in GeV at the entrance.
        thickness: path length $t$ in mm (thin: the loss must be small
            against the energy, as the stopping power is taken at the entrance).
        material, mass, charge: as in :func:`bethe_bloch`.
    """
    return bethe_bloch(p, material, mass=mass, charge=charge) * jnp.asarray(thickness)


# -- predefined materials (PDG tables of atomic and nuclear properties) -------------------

#: Silicon: $X_0$ = 21.82 g/cm$^2$ (9.370 cm), $I$ = 173 eV.
SILICON = Material(
    "silicon",
    14,
    28.0855,
    2.329,
    X0=21.82,
    I=173.0,
    sternheimer=Sternheimer(0.14921, 3.2546, 0.2015, 2.8716, 4.4355, 0.14),
)
#: Iron: $X_0$ = 13.84 g/cm$^2$ (1.757 cm), $I$ = 286 eV.
IRON = Material(
    "iron",
    26,
    55.845,
    7.874,
    X0=13.84,
    I=286.0,
    sternheimer=Sternheimer(0.14680, 2.9632, -0.0012, 3.1531, 4.2911, 0.12),
)
#: Copper: $X_0$ = 12.86 g/cm$^2$ (1.436 cm), $I$ = 322 eV.
COPPER = Material(
    "copper",
    29,
    63.546,
    8.960,
    X0=12.86,
    I=322.0,
    sternheimer=Sternheimer(0.14339, 2.9044, -0.0254, 3.2792, 4.4190, 0.08),
)
#: Lead: $X_0$ = 6.37 g/cm$^2$ (0.5612 cm), $I$ = 823 eV.
LEAD = Material(
    "lead",
    82,
    207.2,
    11.35,
    X0=6.37,
    I=823.0,
    sternheimer=Sternheimer(0.09359, 3.1608, 0.3776, 3.8073, 6.2018, 0.14),
)
#: Dry air at 1 atm: $X_0$ = 36.62 g/cm$^2$ (303.9 m), $I$ = 85.7 eV (Z and A of 1 mol of air).
AIR = Material(
    "air",
    14.46,
    28.97,
    1.205e-3,
    X0=36.62,
    I=85.7,
    sternheimer=Sternheimer(0.10914, 3.3994, 1.7418, 4.2759, 10.5961, 0.0),
)
#: Lead tungstate PbWO$_4$ (CMS ECAL): $X_0$ = 7.39 g/cm$^2$ (0.8903 cm), $I$ = 600.7 eV.
PBWO4 = Material(
    "lead tungstate",
    188,
    455.04,
    8.300,
    X0=7.39,
    I=600.7,
    sternheimer=Sternheimer(0.22758, 3.0, 0.4068, 3.0023, 5.8528, 0.0),
)
#: Caesium iodide CsI: $X_0$ = 8.39 g/cm$^2$ (1.860 cm), $I$ = 553.1 eV.
CSI = Material(
    "caesium iodide",
    108,
    259.81,
    4.510,
    X0=8.39,
    I=553.1,
    sternheimer=Sternheimer(0.25381, 2.6657, 0.0395, 3.3353, 6.2807, 0.0),
)
