r"""The Kalman filter's building blocks: predict, update, material (also used by the CKF).

One step of the extended Kalman filter on ACTS bound parameters
$x=(\ell_0,\ell_1,\phi,\theta,q/p)$ (see :func:`hepjax.tracking.kalman_fit`):
:func:`kalman_predict` transports $x$ and $C$ to the next cylinder along the
helix ($F$ from ``jax.jacfwd``), :func:`kalman_update` adds one 2D pixel or 1D
strip measurement (Joseph form), :func:`add_material` applies the mean energy
loss and the Highland process noise of a thin layer (:mod:`hepjax.physics`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from ..physics import MUON_MASS, highland
from ..sim.tracker import (
    BarrelGeometry,
    Measurements,
    effective_thickness,
    energy_loss_qop,
    transport,
    wrap_angle,
)

__all__ = [
    "add_material",
    "initial_covariance",
    "kalman_predict",
    "kalman_update",
    "measurement_chi2",
    "with_geometry_resolution",
]


def kalman_predict(
    params: Float[Array, 5],
    cov: Float[Array, "5 5"],
    radius_from: Float[ArrayLike, ""],
    radius_to: Float[ArrayLike, ""],
    bz: Float[ArrayLike, ""],
) -> tuple[Float[Array, 5], Float[Array, "5 5"], Float[Array, "5 5"], Bool[Array, ""]]:
    r"""Transport parameters and covariance from one cylinder to the next.

    Args:
        params: ``(5,)`` bound parameters $(\ell_0, z, \phi, \theta, q/p)$ on cylinder
            ``radius_from`` (mm, rad, $e$/GeV).
        cov: ``(5, 5)`` their covariance.
        radius_from: the radius of the current cylinder, mm.
        radius_to: the radius of the next cylinder, mm.
        bz: the solenoid field $B_z$ in T.

    Returns:
        ``(params, cov, jacobian, reached)`` with $F$ = ``jax.jacfwd`` of
        :func:`hepjax.sim.tracker.transport` and $C^-=FCF^\top$; ``reached``
        is ``False`` when the helix cannot reach ``radius_to``.
    """

    def f(p):
        new, _, reached = transport(p, radius_from, radius_to, bz)
        return new, (new, reached)

    jac, (new, reached) = jax.jacfwd(f, has_aux=True)(params)
    new_cov = jac @ cov @ jac.T
    return new, 0.5 * (new_cov + new_cov.T), jac, reached


def _material_map(params, radius, thickness, mass):
    phi_pos = params[0] / radius
    t = effective_thickness(thickness, phi_pos, params[2], params[3])
    return params.at[4].set(energy_loss_qop(params[4], t, mass=mass)), t


def add_material(
    params: Float[Array, 5],
    cov: Float[Array, "5 5"],
    radius: Float[ArrayLike, ""],
    thickness: Float[ArrayLike, ""],
    *,
    mass: float = MUON_MASS,
) -> tuple[Float[Array, 5], Float[Array, "5 5"], Float[Array, "5 5"]]:
    r"""Energy loss and Highland process noise of a thin layer at the current state.

    Args:
        params, cov: state on the layer (after its update).
        radius: layer radius (for the incidence angle).
        thickness: $x/X_0$ at normal incidence.
        mass: particle mass (GeV).

    Returns:
        ``(params, cov, jacobian)``: $E(x)$, $J_E C J_E^\top + Q$, and $J_E$.
    """
    jac = jax.jacfwd(lambda p: _material_map(p, radius, thickness, mass)[0])(params)
    new, t = _material_map(params, radius, thickness, mass)
    theta0 = highland(jnp.abs(1.0 / params[4]), t, mass=mass)
    var = theta0**2
    sin_t = jnp.sin(params[3])
    q = jnp.zeros(5, params.dtype).at[2].set(var / sin_t**2).at[3].set(var)
    new_cov = jac @ cov @ jac.T + jnp.diag(q)
    return new, 0.5 * (new_cov + new_cov.T), jac


def _projection(meas: Measurements, dtype):
    """``(H (2, 5), V (2, 2))`` of one measurement (masked to 1D for strips)."""
    c, s = jnp.cos(meas.stereo), jnp.sin(meas.stereo)
    w = meas.is_2d.astype(dtype)
    h_loc = jnp.stack([jnp.stack([c, s]), jnp.stack([-s * w, c * w])]).astype(dtype)
    h = jnp.zeros((2, 5), dtype).at[:, :2].set(h_loc)
    v = meas.cov.astype(dtype)
    e00 = jnp.array([[1.0, 0.0], [0.0, 0.0]], dtype)
    e11 = jnp.array([[0.0, 0.0], [0.0, 1.0]], dtype)
    v = jnp.where(meas.is_2d, v, e00 * v[0, 0] + e11)
    return h, v


def _residual(params, meas: Measurements, radius):
    h, _ = _projection(meas, params.dtype)
    d0 = radius * wrap_angle((meas.loc[0] - params[0]) / radius)
    d = jnp.stack([d0, meas.loc[1] - params[1]])
    return h[:, :2] @ d


def kalman_update(
    params: Float[Array, 5],
    cov: Float[Array, "5 5"],
    meas: Measurements,
    radius: Float[ArrayLike, ""],
) -> tuple[Float[Array, 5], Float[Array, "5 5"], Float[Array, ""], Float[Array, 2]]:
    r"""Kalman update with one measurement (2D pixel or 1D strip, by ``meas.is_2d``).

    ``meas`` is a :class:`~hepjax.sim.tracker.Measurements` with an empty batch
    shape (one entry). ``meas.mask`` is ignored here (callers select).

    Args:
        params: ``(5,)`` predicted bound parameters on the measurement's layer.
        cov: ``(5, 5)`` their covariance.
        meas: one measurement (empty batch shape).
        radius: the layer radius in mm.

    Returns:
        ``(params, cov, chi2, residual)`` with $\chi^2=r^\top S^{-1} r$ of the
        *predicted* residual $r$ (the second component is 0 for strips).
    """
    dtype = params.dtype
    h, v = _projection(meas, dtype)
    r = _residual(params, meas, radius)
    s = h @ cov @ h.T + v
    s_inv = jnp.linalg.inv(s)
    chi2 = r @ s_inv @ r
    k = cov @ h.T @ s_inv
    new = params + k @ r
    ikh = jnp.eye(5, dtype=dtype) - k @ h
    new_cov = ikh @ cov @ ikh.T + k @ v @ k.T
    return new, 0.5 * (new_cov + new_cov.T), chi2, r


def measurement_chi2(
    params: Float[Array, 5],
    cov: Float[Array, "5 5"],
    meas: Measurements,
    radius: Float[ArrayLike, ""],
) -> Float[Array, ""]:
    r"""$\chi^2=r^\top(HCH^\top+V)^{-1}r$ of a candidate measurement (1 or 2 d.o.f.).

    Args:
        params: ``(5,)`` predicted bound parameters on the measurement's layer.
        cov: ``(5, 5)`` their covariance $C$.
        meas: one candidate :class:`~hepjax.sim.tracker.Measurements` entry (resolution $V$).
        radius: the layer radius in mm.
    """
    h, v = _projection(meas, params.dtype)
    r = _residual(params, meas, radius)
    s = h @ cov @ h.T + v
    return r @ jnp.linalg.solve(s, r)


def with_geometry_resolution(meas: Measurements, geometry: BarrelGeometry) -> Measurements:
    r"""Replace the measurement covariances by the geometry's resolutions (differentiable).

    Pixels get $\mathrm{diag}(\sigma_0^2,\sigma_1^2)$ and strips
    $\mathrm{diag}(\sigma_0^2, 1)$ of their layer, so gradients of fit quality
    flow into ``geometry.sigma0`` and ``geometry.sigma1``.
    """
    s0 = geometry.sigma0[meas.layer]
    s1 = geometry.sigma1[meas.layer]
    dtype = meas.cov.dtype
    v_vv = jnp.where(meas.is_2d, s1**2, 1.0)
    zero = jnp.zeros_like(s0)
    cov = jnp.stack([jnp.stack([s0**2, zero], -1), jnp.stack([zero, v_vv], -1)], -2)
    cov = jnp.where(meas.mask[..., None, None], cov.astype(dtype), meas.cov)
    return eqx.tree_at(lambda m: m.cov, meas, cov)


def initial_covariance(
    params: Float[Array, 5],
    *,
    sigma_loc: float = 1.0,
    sigma_z: float = 10.0,
    sigma_phi: float = 0.01,
    sigma_theta: float = 0.01,
    rel_sigma_qop: float = 0.1,
) -> Float[Array, "5 5"]:
    r"""A diagonal starting covariance: loosely constrained, relative $q/p$ width.

    Args:
        params: ``(5,)`` starting bound parameters (their $q/p$ sets the $q/p$ width).
        sigma_loc: standard deviation of $\ell_0$ in mm.
        sigma_z: standard deviation of $z$ in mm.
        sigma_phi: standard deviation of $\phi$ in rad.
        sigma_theta: standard deviation of $\theta$ in rad.
        rel_sigma_qop: standard deviation of $q/p$ relative to $|q/p|$.
    """
    params = jnp.asarray(params)
    sig = jnp.stack(
        [
            jnp.asarray(sigma_loc, params.dtype),
            jnp.asarray(sigma_z, params.dtype),
            jnp.asarray(sigma_phi, params.dtype),
            jnp.asarray(sigma_theta, params.dtype),
            rel_sigma_qop * jnp.abs(params[4]),
        ]
    )
    return jnp.diag(sig**2)
