r"""A track crossing a thin layer: path length at incidence and mean energy loss in $q/p$.

The material physics (Highland scattering, Bethe mean energy loss) is
:mod:`hepjax.physics`; this module applies it to the tracker's layers, thin
cylinders of silicon (:data:`hepjax.physics.SILICON`) of $x/X_0$ radiation
lengths at normal incidence.

On a layer of thickness $t$ the path is $t/\cos\psi$, with
$\cos\psi = \sin\theta\cos(\phi-\phi_\text{pos})$ the cosine of the angle of
incidence. In bound parameters the two independent plane scattering angles of
Highland width $\theta_0$ become $\sigma_\theta=\theta_0$ and
$\sigma_\phi=\theta_0/\sin\theta$ (as in ACTS). The energy loss is the
deterministic mean (no Landau straggling): the simulation and the Kalman
filter apply the same mean, so fitted $q/p$ is unbiased.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ...physics import MUON_MASS, SILICON, Material, energy_loss


def incidence_cosine(phi_pos, phi, theta) -> Float[Array, ""]:
    r"""$|\cos\psi| = |\sin\theta\cos(\phi-\phi_\text{pos})|$ for a track crossing a cylinder."""
    return jnp.abs(jnp.sin(theta) * jnp.cos(phi - phi_pos))


def effective_thickness(x_x0, phi_pos, phi, theta, *, min_cosine: float = 0.05):
    r"""Path $x/X_0$ through a layer at incidence: $t/\max(|\cos\psi|, c_\text{min})$.

    Args:
        x_x0: the layer's thickness $t$ in radiation lengths at normal incidence.
        phi_pos: azimuth of the crossing point (the layer normal's direction), radians.
        phi: azimuth of the track direction, radians.
        theta: polar angle of the track direction, radians.
        min_cosine: the floor $c_\text{min}$ of $|\cos\psi|$, bounding the path of grazing tracks.
    """
    return x_x0 / jnp.maximum(incidence_cosine(phi_pos, phi, theta), min_cosine)


def energy_loss_qop(
    qop: Float[ArrayLike, ""],
    x_x0_eff: Float[ArrayLike, ""],
    *,
    charge: float = 1.0,
    mass: float = MUON_MASS,
    material: Material = SILICON,
) -> Float[Array, ""]:
    r"""$q/p$ after the mean Bethe loss over $x/X_0$ (effective) of ``material``.

    $E' = E - (dE/dx)\,x$ (:func:`hepjax.physics.energy_loss` over
    $x = (x/X_0)\,X_0$), $p'=\sqrt{E'^2-m^2}$ (floored at 1 MeV for a stopped
    particle); the sign of $q/p$ is kept.

    Args:
        qop: $q/p$ in $e$/GeV before the layer.
        x_x0_eff: the effective path length $x/X_0$ (from :func:`effective_thickness`).
        charge: the particle charge in units of $e$.
        mass: the particle mass in GeV.
        material: the layer's material.
    """
    qop = jnp.asarray(qop)
    p = jnp.abs(charge / qop)
    e = jnp.sqrt(p * p + mass * mass)
    de = energy_loss(p, x_x0_eff * material.radiation_length, material, mass=mass, charge=charge)
    e_new = jnp.maximum(e - de, mass + 1e-6)
    p_new = jnp.sqrt(jnp.maximum(e_new * e_new - mass * mass, 1e-6))
    return jnp.sign(qop) * abs(charge) / p_new
