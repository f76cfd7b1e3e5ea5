r"""Material effects of a thin silicon layer: multiple scattering and energy loss.

**Multiple scattering** (Highland; PDG Review of Particle Physics, "Passage of
particles through matter", eq. 34.16, Lynch & Dahl NIM B58 (1991) 6): a
particle of momentum $p$, velocity $\beta$ and charge $z$ crossing $x/X_0$
radiation lengths is deflected by a Gaussian plane angle of width

$$\theta_0 = \frac{13.6\ \text{MeV}}{\beta c p}\,|z|\sqrt{x/X_0}
  \left[1 + 0.038\,\ln\!\left(\frac{x z^2}{X_0\beta^2}\right)\right].$$

On a layer of thickness $t$ (normal incidence) the path is $t/\cos\psi$, with
$\cos\psi = \sin\theta\cos(\phi-\phi_\text{pos})$ the cosine of the angle of
incidence. In bound parameters the two independent plane angles become
$\sigma_\theta=\theta_0$ and $\sigma_\phi=\theta_0/\sin\theta$ (as in ACTS).

**Energy loss**: the Bethe-Bloch mean (PDG eq. 34.5) for silicon
($Z/A=0.49848$, $\rho=2.329$ g/cm$^3$, $I=173$ eV, $X_0=93.7$ mm), with the
high-energy density-effect correction
$\delta/2=\max(0, \ln(\hbar\omega_p/I)+\ln\beta\gamma-1/2)$,
$\hbar\omega_p=31.05$ eV, and the mass of the muon by default. The loss is
deterministic (no Landau straggling): the simulation and the Kalman filter
apply the same mean, so fitted $q/p$ is unbiased.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

MUON_MASS = 0.1056583755  # GeV
ELECTRON_MASS = 0.51099895e-3  # GeV
SILICON_X0 = 93.70  # mm
SILICON_DENSITY = 2.329  # g/cm^3
SILICON_Z_OVER_A = 0.49848
SILICON_I = 173e-9  # GeV
SILICON_PLASMA = 31.05e-9  # GeV
BETHE_K = 0.307075e-3  # GeV cm^2 / mol


def highland(
    p: Float[ArrayLike, ...],
    x_x0: Float[ArrayLike, ...],
    *,
    mass: float = MUON_MASS,
    charge: float = 1.0,
) -> Float[Array, ...]:
    r"""Highland width $\theta_0$ (rad) for momentum ``p`` (GeV) through ``x_x0`` radiation lengths.

    Zero material gives zero width (the logarithm is guarded).
    """
    p = jnp.asarray(p)
    x_x0 = jnp.asarray(x_x0)
    e = jnp.sqrt(p * p + mass * mass)
    beta = p / e
    pos = x_x0 > 0
    safe = jnp.where(pos, x_x0, 1.0)
    width = (
        13.6e-3
        / (beta * p)
        * abs(charge)
        * jnp.sqrt(safe)
        * (1.0 + 0.038 * jnp.log(safe * charge**2 / beta**2))
    )
    return jnp.where(pos, width, 0.0)


def bethe_bloch(p: Float[ArrayLike, ...], *, mass: float = MUON_MASS) -> Float[Array, ...]:
    r"""Mean energy loss per unit length in silicon, GeV/mm, at momentum ``p`` (GeV)."""
    p = jnp.asarray(p)
    bg = p / mass
    gamma = jnp.sqrt(1.0 + bg * bg)
    beta2 = bg * bg / (gamma * gamma)
    ratio = ELECTRON_MASS / mass
    tmax = 2 * ELECTRON_MASS * bg * bg / (1 + 2 * gamma * ratio + ratio * ratio)
    half_delta = jnp.maximum(jnp.log(SILICON_PLASMA / SILICON_I) + jnp.log(bg) - 0.5, 0.0)
    bracket = 0.5 * jnp.log(2 * ELECTRON_MASS * bg * bg * tmax / SILICON_I**2) - beta2 - half_delta
    per_gcm2 = BETHE_K * SILICON_Z_OVER_A / beta2 * bracket  # GeV cm^2/g
    return per_gcm2 * SILICON_DENSITY / 10.0  # GeV/mm


def incidence_cosine(phi_pos, phi, theta) -> Float[Array, ""]:
    r"""$|\cos\psi| = |\sin\theta\cos(\phi-\phi_\text{pos})|$ for a track crossing a cylinder."""
    return jnp.abs(jnp.sin(theta) * jnp.cos(phi - phi_pos))


def effective_thickness(x_x0, phi_pos, phi, theta, *, min_cosine: float = 0.05):
    r"""Path $x/X_0$ through a layer at incidence: $t/\max(|\cos\psi|, c_\text{min})$."""
    return x_x0 / jnp.maximum(incidence_cosine(phi_pos, phi, theta), min_cosine)


def energy_loss_qop(
    qop: Float[ArrayLike, ""],
    x_x0_eff: Float[ArrayLike, ""],
    *,
    charge: float = 1.0,
    mass: float = MUON_MASS,
) -> Float[Array, ""]:
    r"""$q/p$ after the mean Bethe-Bloch loss over $x/X_0$ (effective) of silicon.

    $E' = E - (dE/dx)\,x$, $p'=\sqrt{E'^2-m^2}$ (floored at 1 MeV for a stopped
    particle); the sign of $q/p$ is kept.
    """
    qop = jnp.asarray(qop)
    p = jnp.abs(charge / qop)
    e = jnp.sqrt(p * p + mass * mass)
    de = bethe_bloch(p, mass=mass) * x_x0_eff * SILICON_X0
    e_new = jnp.maximum(e - de, mass + 1e-6)
    p_new = jnp.sqrt(jnp.maximum(e_new * e_new - mass * mass, 1e-6))
    return jnp.sign(qop) * abs(charge) / p_new
