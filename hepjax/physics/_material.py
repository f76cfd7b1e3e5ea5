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
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._core import concrete_value
from ._constants import ELECTRON_MASS

__all__ = [
    "Material",
    "Sternheimer",
    "bethe_bloch",
    "collision_stopping_power",
    "critical_energy",
    "energy_loss",
    "highland",
    "material",
    "material_names",
    "radiation_length",
]

FINE_STRUCTURE = 1 / 137.035999084
ELECTRON_MASS_MEV = 0.51099895
CLASSICAL_ELECTRON_RADIUS_CM = 2.8179403262e-13
AVOGADRO = 6.02214076e23
MOLIERE_ES = 21.2052  # MeV, m_e c^2 sqrt(4 pi / alpha) (PDG eq. 34.36)
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


def _check_composition(comp) -> None:
    try:
        rows = [tuple(float(v) for v in row) for row in comp]
    except (TypeError, ValueError):
        raise ValueError(
            f"Material.composition must be ((Z, A, mass_fraction), ...), got {comp!r}"
        ) from None
    if not rows or any(len(r) != 3 or not all(v > 0 for v in r) for r in rows):
        raise ValueError(
            f"Material.composition must be ((Z, A, mass_fraction), ...) of positive numbers, "
            f"got {comp!r}"
        )
    if abs(sum(r[2] for r in rows) - 1.0) > 1e-6:
        raise ValueError(f"Material.composition: the mass fractions must sum to 1, got {comp!r}")


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
        composition: the elements, ``((Z, A, mass_fraction), ...)`` with the
            fractions summing to 1 (static Python numbers), or ``None``. The
            photon cross sections of :mod:`hepjax.sim.transport` need it;
            :meth:`element`, :meth:`mixture`, :meth:`compound` and
            :func:`material` set it.

    The numbers may be JAX arrays (to differentiate with respect to them);
    ``name``, ``composition`` and the presence of ``sternheimer`` are static.

    Properties in the units of the transport code (MeV, cm):
    :attr:`radiation_length_g_cm2`, :attr:`radiation_length_cm`,
    :attr:`density_g_cm3`, :attr:`critical_energy_mev` and
    :attr:`moliere_radius_cm`.
    """

    name: str = eqx.field(static=True)
    Z: ArrayLike
    A: ArrayLike
    density: ArrayLike
    X0: ArrayLike
    I: ArrayLike  # noqa: E741
    sternheimer: Sternheimer | None = None
    composition: tuple[tuple[float, float, float], ...] | None = eqx.field(
        static=True, default=None
    )

    def __check_init__(self):
        for name in ("Z", "A", "density", "X0", "I"):
            _positive(name, getattr(self, name))
        if self.composition is not None:
            _check_composition(self.composition)

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
        """An element, with its radiation length from Tsai's formula (:func:`radiation_length`).

        Args:
            name: a label, e.g. ``"Pb"``.
            Z: atomic number.
            A: atomic mass in g/mol.
            density: mass density in g/cm$^3$.
            I: mean excitation energy in eV.
            sternheimer: density-effect parameters, or ``None`` for the high-energy limit.
        """
        comp = None
        z, a = concrete_value(Z), concrete_value(A)
        if z is not None and a is not None and z.shape == () and a.shape == ():
            comp = ((float(z), float(a), 1.0),)
        return cls(name, Z, A, density, radiation_length(Z, A), I, sternheimer, comp)

    @classmethod
    def mixture(
        cls,
        name: str,
        components,
        *,
        density: ArrayLike,
        I: ArrayLike | None = None,  # noqa: E741
        sternheimer: Sternheimer | None = None,
    ) -> Material:
        r"""A compound or mixture from its constituents' mass fractions.

        Args:
            name: a label.
            components: ``[(constituent, mass_fraction), ...]``; a constituent
                is a :class:`Material` with a ``composition`` (an element, or
                another mixture) or a name known to :func:`material` (``"H"``,
                ``"O"``, ``"Pb"``, ...). The fractions must be positive; they
                are normalised to sum to 1.
            density: mass density in g/cm$^3$.
            I: mean excitation energy in eV; by default Bragg's additivity rule
                $\ln I = \sum_i w_i (Z/A)_i \ln I_i / \sum_i w_i (Z/A)_i$ (which
                misses the chemical binding: give the measured value when known).
            sternheimer: density-effect parameters, or ``None`` for the
                high-energy limit.

        The radiation length follows the PDG rule (Sec. 34.4.2, eq. 34.28)
        $1/X_0 = \sum_i w_i / X_{0,i}$; ``Z`` and ``A`` are set so that
        $Z/A = \langle Z/A\rangle = \sum_i w_i Z_i/A_i$, with ``A`` the mean
        molar mass per atom $(\sum_i w_i/A_i)^{-1}$.
        """
        components = list(components)
        if not components:
            raise ValueError("components must name at least one constituent")
        elems: dict[tuple[float, float], float] = {}
        inv_x0 = 0.0
        zoa = 0.0
        log_i = 0.0
        total = 0.0
        for item in components:
            if not (isinstance(item, tuple | list) and len(item) == 2):
                raise ValueError(
                    f"components must be (constituent, mass_fraction) pairs, got {item!r}"
                )
            part, w = item
            if isinstance(part, str):
                part = material(part)
            if not isinstance(part, Material) or part.composition is None:
                raise TypeError(
                    "components: each constituent must be a material name or a "
                    f"Material with a composition, got {part!r}"
                )
            w = float(w)
            if not (np.isfinite(w) and w > 0):
                raise ValueError(f"components: mass fractions must be positive, got {w}")
            total += w
            for z, a, f in part.composition:
                elems[(z, a)] = elems.get((z, a), 0.0) + w * f
            x0 = float(concrete_value(part.X0))
            inv_x0 += w / x0
            pzoa = float(concrete_value(part.Z)) / float(concrete_value(part.A))
            zoa += w * pzoa
            log_i += w * pzoa * math.log(float(concrete_value(part.I)))
        comp = tuple((z, a, f / total) for (z, a), f in elems.items())
        zoa /= total
        a_mean = 1.0 / sum(f / a for z, a, f in comp)
        if I is None:
            I = math.exp(log_i / (zoa * total))  # noqa: E741
        return cls(name, zoa * a_mean, a_mean, density, total / inv_x0, I, sternheimer, comp)

    @classmethod
    def compound(
        cls,
        name: str,
        atoms: dict[str, float | int],
        *,
        density: ArrayLike,
        I: ArrayLike | None = None,  # noqa: E741
        sternheimer: Sternheimer | None = None,
    ) -> Material:
        r"""A compound from its chemical formula, e.g. ``{"Pb": 1, "W": 1, "O": 4}``.

        The atom counts become mass fractions $w_i = n_i A_i / \sum_j n_j A_j$,
        then :meth:`mixture` (same arguments).

        Args:
            name: a label.
            atoms: atom counts of the formula by element name (names known to :func:`material`).
            density: mass density in g/cm$^3$.
            I: mean excitation energy in eV; by default Bragg's additivity rule, as in
                :meth:`mixture`.
            sternheimer: density-effect parameters, or ``None`` for the high-energy limit.
        """
        if not atoms:
            raise ValueError("atoms must name at least one element")
        parts = [(material(sym), float(n)) for sym, n in atoms.items()]
        for (part, n), sym in zip(parts, atoms, strict=True):
            if part.composition is None or len(part.composition) != 1:
                raise ValueError(f"atoms: {sym!r} is not an element")
            if not n > 0:
                raise ValueError(f"atoms: the count of {sym!r} must be positive, got {n}")
        masses = [n * part.composition[0][1] for part, n in parts]
        tot = sum(masses)
        return cls.mixture(
            name,
            [(p, m / tot) for (p, _), m in zip(parts, masses, strict=True)],
            density=density,
            I=I,
            sternheimer=sternheimer,
        )

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

    @property
    def radiation_length_g_cm2(self) -> Float[Array, ""]:
        """$X_0$ in g/cm$^2$."""
        return jnp.asarray(self.X0)

    @property
    def radiation_length_cm(self) -> Float[Array, ""]:
        """$X_0/\\rho$ in cm."""
        return jnp.asarray(self.X0) / jnp.asarray(self.density)

    @property
    def density_g_cm3(self) -> Float[Array, ""]:
        """Mass density in g/cm$^3$."""
        return jnp.asarray(self.density)

    @property
    def critical_energy_mev(self) -> Float[Array, ""]:
        """Electron critical energy $E_c$ in MeV (Rossi's definition; :func:`critical_energy`)."""
        return critical_energy(self)

    @property
    def moliere_radius_cm(self) -> Float[Array, ""]:
        """Molière radius $R_M = E_s X_0/(E_c \\rho)$ in cm, $E_s$ = 21.2052 MeV (PDG eq. 34.36)."""
        return MOLIERE_ES * self.radiation_length_cm / self.critical_energy_mev


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
    mass: float | Float[ArrayLike, ""],
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
    mass: float | Float[ArrayLike, ""],
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
    mass: float | Float[ArrayLike, ""],
    charge: float = 1.0,
) -> Float[Array, ...]:
    r"""Mean energy (GeV) lost in a thin layer: $-\langle dE/dx\rangle(p)\,t$.

    Args:
        p: momentum in GeV at the entrance.
        thickness: path length $t$ in mm (thin: the loss must be small
            against the energy, as the stopping power is taken at the entrance).
        material: the :class:`Material` of the layer.
        mass: particle mass $M$ in GeV (a heavy particle, as in :func:`bethe_bloch`).
        charge: particle charge $z$ in units of $e$.
    """
    return bethe_bloch(p, material, mass=mass, charge=charge) * jnp.asarray(thickness)


# -- predefined materials (PDG tables of atomic and nuclear properties) -------------------


def _formula_composition(atoms: dict) -> tuple:
    """``{Z: (A, count)}`` -> ``((Z, A, mass_fraction), ...)``."""
    tot = sum(a * n for a, n in atoms.values())
    return tuple((float(z), float(a), a * n / tot) for z, (a, n) in atoms.items())


# dry air by mass (PDG): N 0.755267, O 0.231781, Ar 0.012827, C 0.000124
_AIR_COMPOSITION = (
    (6.0, 12.0107, 0.000124),
    (7.0, 14.007, 0.755267),
    (8.0, 15.999, 0.231781),
    (18.0, 39.948, 0.012828),
)

#: Silicon: $X_0$ = 21.82 g/cm$^2$ (9.370 cm), $I$ = 173 eV.
SILICON = Material(
    "silicon",
    14,
    28.0855,
    2.329,
    X0=21.82,
    I=173.0,
    sternheimer=Sternheimer(0.14921, 3.2546, 0.2015, 2.8716, 4.4355, 0.14),
    composition=((14.0, 28.0855, 1.0),),
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
    composition=((26.0, 55.845, 1.0),),
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
    composition=((29.0, 63.546, 1.0),),
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
    composition=((82.0, 207.2, 1.0),),
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
    composition=_AIR_COMPOSITION,
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
    composition=_formula_composition({82: (207.2, 1), 74: (183.84, 1), 8: (15.999, 4)}),
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
    composition=_formula_composition({55: (132.90545, 1), 53: (126.90447, 1)}),
)


# -- electrons and positrons in MeV and cm (the units of hepjax.sim.transport) -------------


def collision_stopping_power(
    kinetic_mev: Float[ArrayLike, ...],
    material: Material,
    *,
    positron: bool | ArrayLike = False,
) -> Float[Array, ...]:
    r"""Mass collision stopping power of electrons or positrons, MeV cm$^2$/g (total, unrestricted).

    The Berger-Seltzer formula (ICRU Report 37 (1984), eqs. 2.2-2.4; M. J.
    Berger and S. M. Seltzer, NBSIR 82-2550; as in Geant4's
    ``G4MollerBhabhaModel::ComputeDEDXPerVolume`` with the cut at the maximum
    energy transfer, $T/2$ for Møller and $T$ for Bhabha scattering). With
    $\tau = T/m_ec^2$, $\gamma = \tau + 1$, $I$ in units of $m_ec^2$:

    $$-\frac{1}{\rho}\frac{dE}{dx} = 2\pi r_e^2 m_ec^2 N_A\frac{Z}{A}\frac{1}{\beta^2}
      \Big[\ln\frac{2(\tau+2)}{(I/m_ec^2)^2} + F^\pm(\tau) - \delta\Big],$$

    $F^- = -1 - \beta^2 + \ln(\tau^2/4) + 2 + [\tau^2/8 + (2\tau+1)\ln\frac12]/\gamma^2$
    (Møller, $\Delta = \tau/2$), and for Bhabha ($\Delta=\tau$, $y = 1/(\gamma+1)$)
    $F^+ = \ln\tau^2 - \frac{\beta^2}{\tau}\big[\tau + 2\Delta - y(3\Delta^2/2
    + y(\Delta - \Delta^3/3 + y(\Delta^2/2 - \tau\Delta^3/3 + \Delta^4/4)))\big]$.
    $\delta$ is the density effect of the material (Sternheimer's parameters,
    or the high-energy limit, as in :func:`bethe_bloch`), at $\beta\gamma =
    \sqrt{\tau(\tau+2)}$. Valid above about 10 keV (no shell corrections).

    Args:
        kinetic_mev: kinetic energy $T$ in MeV.
        material: a :class:`Material` (its $Z/A$, $I$ and density-effect parameters).
        positron: ``True`` for positrons (may be a boolean array).
    """
    if not isinstance(material, Material):
        raise TypeError(
            f"material must be a hepjax.physics.Material, got {type(material).__name__}"
        )
    t = jnp.maximum(jnp.asarray(kinetic_mev), 1e-3)
    tau = t / ELECTRON_MASS_MEV
    gam = tau + 1.0
    g2 = gam * gam
    bg2 = tau * (tau + 2.0)
    beta2 = bg2 / g2
    i_m = jnp.asarray(material.I) * 1e-6 / ELECTRON_MASS_MEV
    base = jnp.log(2.0 * (tau + 2.0) / (i_m * i_m))
    d = 0.5 * tau
    f_minus = (
        -1.0
        - beta2
        + jnp.log((tau - d) * d)
        + tau / (tau - d)
        + (0.5 * d * d + (2.0 * tau + 1.0) * jnp.log(1.0 - d / tau)) / g2
    )
    d = tau
    d2, d3, d4 = 0.5 * d * d, d**3 / 3.0, d**4 / 4.0
    y = 1.0 / (1.0 + gam)
    f_plus = (
        jnp.log(tau * d)
        - beta2 * (tau + 2.0 * d - y * (3.0 * d2 + y * (d - d3 + y * (d2 - tau * d3 + d4)))) / tau
    )
    f = jnp.where(jnp.asarray(positron), f_plus, f_minus)
    delta = _density_correction(jnp.sqrt(bg2), material)
    k = 2 * math.pi * CLASSICAL_ELECTRON_RADIUS_CM**2 * ELECTRON_MASS_MEV * AVOGADRO
    return jnp.maximum(k * material.Z_over_A / beta2 * (base + f - delta), 0.0)


def critical_energy(material: Material) -> Float[Array, ""]:
    r"""Electron critical energy $E_c$ in MeV, Rossi's definition.

    PDG (Sec. 34.4.4, Fig. 34.14): $E_c$ is the energy at which the ionisation
    loss per radiation length equals the electron energy,
    $X_0\,(dE/dx)_\text{ion}(E_c) = E_c$ (the definition of PDG's tables, and
    the one that makes the Molière radius and the shower maximum formulae
    work). Solved here with the total collision stopping power of
    :func:`collision_stopping_power` (kinetic energy), by bisection in
    $\ln E$ on [0.1, 10$^4$] MeV. PDG's fits, $610\,\text{MeV}/(Z+1.24)$ for
    solids and liquids and $710\,\text{MeV}/(Z+0.92)$ for gases, agree to a
    few per cent for elements.
    """
    x0 = jnp.asarray(material.X0)

    def excess(log_e):
        e = jnp.exp(log_e)
        return x0 * collision_stopping_power(e, material) - e

    lo, hi = jnp.log(0.1), jnp.log(1e4)
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        pos = excess(mid) > 0
        lo, hi = jnp.where(pos, mid, lo), jnp.where(pos, hi, mid)
    return jnp.exp(0.5 * (lo + hi))


# -- the named materials of the transport code -------------------------------------------

# symbol: (name, Z, A [g/mol], density [g/cm^3], I [eV], Sternheimer (a, k, x0, x1, C, delta0))
# PDG tables of atomic and nuclear properties; gases at 20 C and 1 atm.
_ELEMENT_DATA = {
    "H": ("hydrogen gas", 1, 1.008, 8.376e-5, 19.2, None),
    "C": ("carbon (graphite)", 6, 12.0107, 2.210, 78.0, None),
    "N": ("nitrogen gas", 7, 14.007, 1.165e-3, 82.0, None),
    "O": ("oxygen gas", 8, 15.999, 1.332e-3, 95.0, None),
    "Al": (
        "aluminium",
        13,
        26.9815385,
        2.699,
        166.0,
        (0.08024, 3.6345, 0.1708, 3.0127, 4.2395, 0.12),
    ),
    "Si": ("silicon", 14, 28.0855, 2.329, 173.0, (0.14921, 3.2546, 0.2015, 2.8716, 4.4355, 0.14)),
    "Ar": ("argon gas", 18, 39.948, 1.662e-3, 188.0, None),
    "Fe": ("iron", 26, 55.845, 7.874, 286.0, (0.14680, 2.9632, -0.0012, 3.1531, 4.2911, 0.12)),
    "Cu": ("copper", 29, 63.546, 8.960, 322.0, (0.14339, 2.9044, -0.0254, 3.2792, 4.4190, 0.08)),
    "I": ("iodine", 53, 126.90447, 4.930, 491.0, None),
    "Cs": ("caesium", 55, 132.90545, 1.873, 488.0, None),
    "W": ("tungsten", 74, 183.84, 19.30, 727.0, (0.15509, 2.8447, 0.2167, 3.4960, 5.4059, 0.14)),
    "Pb": ("lead", 82, 207.2, 11.35, 823.0, (0.09359, 3.1608, 0.3776, 3.8073, 6.2018, 0.14)),
}
_ALIASES = {
    "hydrogen": "H",
    "carbon": "C",
    "nitrogen": "N",
    "oxygen": "O",
    "aluminium": "Al",
    "aluminum": "Al",
    "silicon": "Si",
    "argon": "Ar",
    "iron": "Fe",
    "copper": "Cu",
    "tungsten": "W",
    "lead": "Pb",
    "liquid argon": "LAr",
    "lead tungstate": "PbWO4",
    "polystyrene": "polystyrene",
    "scintillator": "polystyrene",
    "h2o": "water",
    "caesium iodide": "CsI",
}


def _element(symbol: str) -> Material:
    _, z, a, rho, i, st = _ELEMENT_DATA[symbol]
    return Material.element(
        symbol,
        Z=float(z),
        A=a,
        density=rho,
        I=i,
        sternheimer=None if st is None else Sternheimer(*st),
    )


def _named(name: str) -> Material:
    if name in _ELEMENT_DATA:
        return _element(name)
    if name == "LAr":
        # liquid argon, 1.396 g/cm^3 (PDG); Sternheimer's liquid-argon parameters
        ar = _ELEMENT_DATA["Ar"]
        return Material.element(
            "LAr",
            Z=18.0,
            A=ar[2],
            density=1.396,
            I=188.0,
            sternheimer=Sternheimer(0.19559, 3.0, 0.2, 3.0, 5.2146, 0.0),
        )
    if name == "PbWO4":
        return Material.compound(
            "PbWO4",
            {"Pb": 1, "W": 1, "O": 4},
            density=8.300,
            I=600.7,
            sternheimer=Sternheimer(0.22758, 3.0, 0.4068, 3.0023, 5.8528, 0.0),
        )
    if name == "polystyrene":
        # polystyrene (C8H8)n, the base of plastic scintillators, 1.060 g/cm^3 (PDG)
        return Material.compound(
            "polystyrene",
            {"C": 8, "H": 8},
            density=1.060,
            I=68.7,
            sternheimer=Sternheimer(0.16454, 3.2224, 0.1647, 2.5031, 3.2999, 0.0),
        )
    if name == "water":
        # liquid water, I = 75.0 eV with Sternheimer's (1984) parameters (ICRU 37)
        return Material.compound(
            "water",
            {"H": 2, "O": 1},
            density=1.0,
            I=75.0,
            sternheimer=Sternheimer(0.09116, 3.4773, 0.2400, 2.8004, 3.5017, 0.0),
        )
    if name == "CsI":
        return CSI
    if name == "air":
        return AIR
    raise KeyError(name)


_NAMES = (*_ELEMENT_DATA, "LAr", "PbWO4", "polystyrene", "water", "CsI", "air")


def material_names() -> tuple[str, ...]:
    """The names :func:`material` knows (aliases such as ``"lead"`` work too)."""
    return _NAMES


def material(name: str) -> Material:
    r"""A named material with its composition, e.g. ``material("PbWO4")``.

    Elements (``"H"``, ``"C"``, ``"N"``, ``"O"``, ``"Al"``, ``"Si"``, ``"Ar"``,
    ``"Fe"``, ``"Cu"``, ``"I"``, ``"Cs"``, ``"W"``, ``"Pb"``) with Tsai's
    radiation length; ``"LAr"`` (liquid argon), and the compounds ``"PbWO4"``,
    ``"polystyrene"`` (alias ``"scintillator"``), ``"water"``, ``"CsI"`` and
    ``"air"`` with $1/X_0 = \sum_i w_i/X_{0,i}$. Densities, mean excitation
    energies and density-effect parameters are PDG's (atomic and nuclear
    properties tables). Names are case-sensitive symbols, or the lower-case
    aliases of :data:`material_names`' entries (``"lead"``, ``"liquid argon"``, ...).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"material name must be a str, got {type(name).__name__}")
    key = name if name in _NAMES else _ALIASES.get(name.lower(), name)
    try:
        with jax.ensure_compile_time_eval():  # concrete numbers even under jit
            return _named(key)
    except KeyError:
        raise ValueError(f"unknown material {name!r}; known: {', '.join(_NAMES)}") from None
