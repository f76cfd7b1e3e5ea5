r"""Four-vector kinematics in the collider coordinates $(p_T, \eta, \phi, m)$.

Four-momenta are stored as $(E, p_x, p_y, p_z)$ in GeV. With
$p_T = \sqrt{p_x^2 + p_y^2}$, the pseudorapidity is
$\eta = \operatorname{arsinh}(p_z / p_T)$, the rapidity
$y = \tfrac12 \log\frac{E + p_z}{E - p_z}$ and the invariant mass
$m = \sqrt{\max(E^2 - |\vec p|^2, 0)}$. Azimuthal differences are wrapped into
$(-\pi, \pi]$.
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

_TINY = 1e-12


def delta_phi(phi1: Float[ArrayLike, "*b1"], phi2: Float[ArrayLike, "*b2"]) -> Float[Array, "..."]:
    r"""$\phi_1 - \phi_2$ wrapped into $(-\pi, \pi]$ (the shapes broadcast)."""
    d = jnp.asarray(phi1) - jnp.asarray(phi2)
    return d - 2 * jnp.pi * jnp.round(d / (2 * jnp.pi))


def p4_from_ptetaphim(
    pt: Float[ArrayLike, "*b1"],
    eta: Float[ArrayLike, "*b2"],
    phi: Float[ArrayLike, "*b3"],
    mass: Float[ArrayLike, "*b4"] | float = 0.0,
) -> Float[Array, "... 4"]:
    r"""$(E, p_x, p_y, p_z)$ from $(p_T, \eta, \phi, m)$:
    $p_x = p_T\cos\phi$, $p_y = p_T\sin\phi$, $p_z = p_T\sinh\eta$,
    $E = \sqrt{p_T^2\cosh^2\eta + m^2}$.

    Args:
        pt: transverse momentum $p_T$ (any unit; the result has the same), any shape broadcasting
            with the others.
        eta: pseudorapidity $\eta$.
        phi: azimuth $\phi$ in radians.
        mass: invariant mass $m$, in the unit of ``pt`` (default massless).
    """
    pt, eta, phi = jnp.asarray(pt), jnp.asarray(eta), jnp.asarray(phi)
    pz = pt * jnp.sinh(eta)
    e = jnp.sqrt((pt * jnp.cosh(eta)) ** 2 + jnp.asarray(mass) ** 2)
    return jnp.stack([e, pt * jnp.cos(phi), pt * jnp.sin(phi), pz], axis=-1)


def pt_eta_phi_mass(p4: Float[ArrayLike, "*b 4"]) -> Float[Array, "*b 4"]:
    r"""$(p_T, \eta, \phi, m)$ of four-momenta $(E, p_x, p_y, p_z)$.

    A zero vector maps to $(0, 0, 0, 0)$ rather than NaN, so padded rows are safe.
    """
    p4 = jnp.asarray(p4)
    px, py, pz = p4[..., 1], p4[..., 2], p4[..., 3]
    pt = jnp.hypot(px, py)
    safe_pt = jnp.where(pt > _TINY, pt, 1.0)
    eta = jnp.where(pt > _TINY, jnp.arcsinh(pz / safe_pt), 0.0)
    phi = jnp.arctan2(py, px)
    return jnp.stack([pt, eta, phi, invariant_mass(p4)], axis=-1)


def invariant_mass(p4: Float[ArrayLike, "*b 4"]) -> Float[Array, "*b"]:
    r"""$m = \sqrt{\max(E^2 - |\vec p|^2, 0)}$ (with a safe gradient at $m = 0$)."""
    p4 = jnp.asarray(p4)
    m2 = p4[..., 0] ** 2 - jnp.sum(p4[..., 1:] ** 2, axis=-1)
    pos = m2 > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, m2, 1.0)), 0.0)


def rapidity(p4: Float[ArrayLike, "*b 4"]) -> Float[Array, "*b"]:
    r"""$y = \tfrac12\log\frac{E + p_z}{E - p_z}$ (0 for a zero vector)."""
    p4 = jnp.asarray(p4)
    e, pz = p4[..., 0], p4[..., 3]
    num = jnp.maximum(e + pz, _TINY)
    den = jnp.maximum(e - pz, _TINY)
    return jnp.where(e > _TINY, 0.5 * jnp.log(num / den), 0.0)
