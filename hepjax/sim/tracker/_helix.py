r"""Analytic helix propagation between coaxial cylinders in a uniform field $B_z$.

A particle of charge $q$ (units of $e$) and momentum $p$ at polar angle
$\theta$ moves on a helix. With the signed transverse curvature
$\kappa = C\,B_z\,q/p_T$ ($C=0.299792458\times10^{-3}$ GeV/(T mm), so
$|1/\kappa| = R_\text{helix} = p_T/(C B_z |q|)$) and the transverse arc length
$s$, the azimuth of the direction turns as $\phi(s)=\phi_0-\kappa s$ and

$$x_\perp(s) = x_{\perp,0} + \frac{\sin \kappa s}{\kappa}\,t_0
  + \frac{1-\cos\kappa s}{\kappa}\,n_0,\qquad z(s) = z_0 + s\cot\theta,$$

with $t_0=(\cos\phi_0,\sin\phi_0)$ and $n_0=(\sin\phi_0,-\cos\phi_0)$.

Crossing the cylinder $|x_\perp|=R$: with $w=\kappa s/2$ and
$v=\tan(w)/\kappa$ the condition $|x_\perp(s)|^2=R^2$ becomes the quadratic

$$A v^2 + B v + C = 0,\quad A = 4+4\kappa\,(x_{\perp,0}\cdot n_0)
  + \kappa^2(|x_{\perp,0}|^2-R^2),\ B = 4\,x_{\perp,0}\cdot t_0,\
  C = |x_{\perp,0}|^2-R^2,$$

which has no $1/\kappa$ and so stays exact for straight tracks ($\kappa\to0$).
The first crossing is the smallest positive root
$v=-2C/(B+\sqrt{B^2-4AC})$, and $s = 2\arctan(\kappa v)/\kappa$. The
functions are pure JAX (``jit``/``vmap``/``jacfwd``), in the dtype of their
inputs (use float64 for fitting, see :mod:`hepjax.tracking`).

Bound parameters on a cylinder of radius $R$ follow ACTS:
$(\ell_0, \ell_1, \phi, \theta, q/p)$ with $\ell_0=R\,\phi_\text{pos}$ and
$\ell_1=z$.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from ._geometry import C_LIGHT


def curvature(qop: Float[ArrayLike, ""], theta: Float[ArrayLike, ""], bz) -> Float[Array, ""]:
    r"""Signed transverse curvature $\kappa = C B_z (q/p)/\sin\theta$ in 1/mm.

    Args:
        qop: $q/p$ in $e$/GeV.
        theta: polar angle of the direction, radians.
        bz: the solenoid field $B_z$ in T.
    """
    return C_LIGHT * bz * qop / jnp.sin(theta)


def _atan_ratio(x):
    """``arctan(x)/x``, smooth at 0."""
    small = jnp.abs(x) < 1e-4
    safe = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 - x * x / 3.0, jnp.arctan(safe) / safe)


def helix_position(
    position: Float[ArrayLike, 3],
    phi: Float[ArrayLike, ""],
    theta: Float[ArrayLike, ""],
    qop: Float[ArrayLike, ""],
    bz,
    s: Float[ArrayLike, ""],
) -> tuple[Float[Array, 3], Float[Array, ""]]:
    r"""Position and direction azimuth after a transverse arc length ``s`` (closed form).

    Args:
        position: ``(3,)`` start point in mm.
        phi: azimuth of the direction at the start, radians.
        theta: polar angle of the direction, radians (constant along the helix).
        qop: $q/p$ in $e$/GeV.
        bz: the solenoid field $B_z$ in T.
        s: the transverse arc length in mm.

    Returns:
        ``(position, phi)`` at arc length $s$ (mm): $\phi_0-\kappa s$ and the
        helix point of the module docstring.
    """
    position = jnp.asarray(position)
    kappa = curvature(qop, theta, bz)
    a = kappa * s
    # sin(a)/kappa and (1-cos(a))/kappa without dividing by kappa.
    s1 = s * jnp.sinc(a / jnp.pi)
    s2 = s * jnp.sin(a / 2) * jnp.sinc(a / (2 * jnp.pi))
    c, sn = jnp.cos(phi), jnp.sin(phi)
    x = position[0] + s1 * c + s2 * sn
    y = position[1] + s1 * sn - s2 * c
    z = position[2] + s * jnp.cos(theta) / jnp.sin(theta)
    return jnp.stack([x, y, z]), phi - a


def propagate_to_cylinder(
    position: Float[ArrayLike, 3],
    phi: Float[ArrayLike, ""],
    theta: Float[ArrayLike, ""],
    qop: Float[ArrayLike, ""],
    radius: Float[ArrayLike, ""],
    bz,
) -> tuple[Float[Array, 3], Float[Array, ""], Float[Array, ""], Bool[Array, ""]]:
    r"""Propagate a helix to its first outward crossing of the cylinder $r=R$.

    Args:
        position: ``(3,)`` start point (mm), inside the cylinder.
        phi: azimuth of the direction.
        theta: polar angle of the direction.
        qop: $q/p$ in e/GeV.
        radius: cylinder radius $R$ (mm).
        bz: field (T).

    Returns:
        ``(position, phi, path_length, reached)``: the crossing point, the new
        direction azimuth, the 3D path length (mm) and whether the cylinder is
        reached at all (``False`` for loopers whose helix stays inside $R$ or
        starts outside it; the other outputs are then finite but meaningless).
    """
    position = jnp.asarray(position)
    kappa = curvature(qop, theta, bz)
    px, py = position[0], position[1]
    c, sn = jnp.cos(phi), jnp.sin(phi)
    pt0 = px * c + py * sn  # x . t0
    pn0 = px * sn - py * c  # x . n0
    r02 = px * px + py * py
    cc = r02 - radius * radius
    aa = 4.0 + 4.0 * kappa * pn0 + kappa * kappa * cc
    bb = 4.0 * pt0
    disc = bb * bb - 4.0 * aa * cc
    denom = bb + jnp.sqrt(jnp.maximum(disc, 0.0))
    reached = (disc >= 0) & (denom > 0) & (cc < 0)
    v = -2.0 * cc / jnp.where(reached, denom, 1.0)
    s = 2.0 * v * _atan_ratio(kappa * v)
    reached = reached & (s > 0)
    new_pos, new_phi = helix_position(position, phi, theta, qop, bz, s)
    return new_pos, new_phi, s / jnp.sin(theta), reached


def bound_to_global(
    params: Float[ArrayLike, 5], radius: Float[ArrayLike, ""]
) -> tuple[Float[Array, 3], Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
    r"""``(position, phi, theta, qop)`` of bound parameters on the cylinder of ``radius``."""
    params = jnp.asarray(params)
    phi_pos = params[0] / radius
    pos = jnp.stack([radius * jnp.cos(phi_pos), radius * jnp.sin(phi_pos), params[1]])
    return pos, params[2], params[3], params[4]


def global_to_bound(
    position: Float[ArrayLike, 3],
    phi: Float[ArrayLike, ""],
    theta: Float[ArrayLike, ""],
    qop: Float[ArrayLike, ""],
    radius: Float[ArrayLike, ""],
) -> Float[Array, 5]:
    r"""Bound parameters $(R\,\operatorname{atan2}(y,x), z, \phi, \theta, q/p)$ on a cylinder.

    Args:
        position: ``(3,)`` point on the cylinder, mm.
        phi: azimuth of the direction, radians.
        theta: polar angle of the direction, radians.
        qop: $q/p$ in $e$/GeV.
        radius: the cylinder radius $R$ in mm.
    """
    position = jnp.asarray(position)
    loc0 = radius * jnp.arctan2(position[1], position[0])
    return jnp.stack(
        jnp.broadcast_arrays(
            loc0, position[2], jnp.asarray(phi), jnp.asarray(theta), jnp.asarray(qop)
        )
    )


def momentum_to_angles(
    momentum: Float[ArrayLike, 3], charge
) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
    r"""``(phi, theta, q/p)`` of a momentum vector (GeV) and charge (e)."""
    momentum = jnp.asarray(momentum)
    pt = jnp.hypot(momentum[0], momentum[1])
    p = jnp.sqrt(pt * pt + momentum[2] ** 2)
    return jnp.arctan2(momentum[1], momentum[0]), jnp.arctan2(pt, momentum[2]), charge / p


def angles_to_momentum(phi, theta, qop, charge) -> Float[Array, 3]:
    r"""Momentum vector $p\,(\cos\phi\sin\theta, \sin\phi\sin\theta, \cos\theta)$, $p=q/(q/p)$.

    Args:
        phi: azimuth of the direction, radians.
        theta: polar angle of the direction, radians.
        qop: $q/p$ in $e$/GeV.
        charge: the charge $q$ in units of $e$.
    """
    p = jnp.abs(charge / qop)
    st = jnp.sin(theta)
    return p * jnp.stack([jnp.cos(phi) * st, jnp.sin(phi) * st, jnp.cos(theta)])


def transport(
    params: Float[ArrayLike, 5],
    radius_from: Float[ArrayLike, ""],
    radius_to: Float[ArrayLike, ""],
    bz,
) -> tuple[Float[Array, 5], Float[Array, ""], Bool[Array, ""]]:
    r"""Bound parameters on cylinder ``radius_from`` to bound parameters on ``radius_to``.

    The transport Jacobian is ``jax.jacfwd(lambda p: transport(p, r0, r1, bz)[0])(p)``.
    The new $\ell_0$ is $R\,\operatorname{atan2}(y, x)$ in $(-\pi R, \pi R]$.

    Args:
        params: ``(5,)`` bound parameters $(\ell_0, z, \phi, \theta, q/p)$ on the first cylinder
            (mm, rad, $e$/GeV).
        radius_from: radius of the cylinder the parameters are on, mm.
        radius_to: radius of the target cylinder, mm.
        bz: the solenoid field $B_z$ in T.

    Returns:
        ``(params, path_length, reached)``.
    """
    pos, phi, theta, qop = bound_to_global(params, radius_from)
    new_pos, new_phi, path, reached = propagate_to_cylinder(pos, phi, theta, qop, radius_to, bz)
    return global_to_bound(new_pos, new_phi, theta, qop, radius_to), path, reached


def wrap_angle(x: Float[ArrayLike, ...]) -> Float[Array, ...]:
    """Angle wrapped to $[-\\pi, \\pi)$."""
    return (jnp.asarray(x) + jnp.pi) % (2 * jnp.pi) - jnp.pi
