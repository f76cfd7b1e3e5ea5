r"""Pairwise interaction features of the Particle Transformer.

For two particles $a, b$ with four-momenta $p_a, p_b$ ($E, p_x, p_y, p_z$),
transverse momenta $p_{T,a}, p_{T,b}$, rapidities $y$ and azimuths $\phi$
(Qu, Li & Qian 2022, "Particle Transformer for jet tagging",
arXiv:2202.03772, eq. 2; as in ``pairwise_lv_fts`` of
jet-universe/particle_transformer):

$$
\Delta = \sqrt{(y_a - y_b)^2 + (\phi_a - \phi_b)^2},\qquad
k_T = \min(p_{T,a}, p_{T,b})\,\Delta,
$$
$$
z = \frac{\min(p_{T,a}, p_{T,b})}{p_{T,a} + p_{T,b}},\qquad
m^2 = (E_a + E_b)^2 - \lVert\vec p_a + \vec p_b\rVert^2 .
$$

The mass is evaluated in the cancellation-free form
$m^2 = m_a^2 + m_b^2 + 2\big[m_{T,a} m_{T,b}\,2\sinh^2\tfrac{\Delta y}{2}
+ p_{T,a} p_{T,b}\,2\sin^2\tfrac{\Delta\phi}{2}
+ (m_{T,a} m_{T,b} - p_{T,a} p_{T,b})\big]$, with
$m_T = \sqrt{p_T^2 + m^2}$ and the last bracket written as
$(m_a^2 p_{T,b}^2 + m_b^2 p_{T,a}^2 + m_a^2 m_b^2)/(m_{T,a} m_{T,b} + p_{T,a} p_{T,b})$;
every term is non-negative, so nearly collinear pairs keep their relative
precision in float32 (the direct $(E_a+E_b)^2 - \lVert\vec p_a+\vec p_b\rVert^2$
loses it to cancellation). A particle with $m^2 < 10^{-5} E^2$ counts as
massless (float32 cannot resolve its mass), so the diagonal pairs of
massless particles get exactly $\ln m^2 = \ln\varepsilon$ under any compilation.

Each is clamped at $\varepsilon = 10^{-8}$ before the logarithm, so that
coincident, soft or zero (padded) particles give the finite value
$\ln\varepsilon$ instead of $-\infty$. The features are
$(\ln k_T, \ln z, \ln\Delta, \ln m^2)$ in this order.
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._kinematics import delta_phi

#: The clamp applied before every logarithm (ParT's ``eps``).
PAIR_EPS = 1e-8

#: Names of the last axis of :func:`pair_features`.
PAIR_FEATURE_NAMES = ("ln_kt", "ln_z", "ln_delta", "ln_m2")


# relative m^2 / E^2 below which a particle counts as massless (float32 resolves ~2e-7)
_MASS_TOLERANCE = 1e-5


def _safe_sqrt(x: Array) -> Array:
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def _pt_y_phi(p4: Array) -> tuple[Array, Array, Array]:
    e, px, py, pz = p4[..., 0], p4[..., 1], p4[..., 2], p4[..., 3]
    pt = _safe_sqrt(px * px + py * py)
    num = jnp.maximum(e + pz, 1e-20)
    den = jnp.maximum(e - pz, 1e-20)
    y = jnp.where(e > 0, 0.5 * jnp.log(num / den), 0.0)
    phi = jnp.arctan2(py, jnp.where((px == 0) & (py == 0), 1.0, px))
    return pt, y, phi


def pair_features(p4: Float[ArrayLike, "n 4"], *, eps: float = PAIR_EPS) -> Float[Array, "n n 4"]:
    r"""$(\ln k_T, \ln z, \ln\Delta, \ln m^2)$ of every pair of a set of four-momenta.

    Args:
        p4: four-momenta $(E, p_x, p_y, p_z)$ in GeV, ``(n, 4)``; padded rows
            may hold anything finite (zeros are usual).
        eps: the clamp before each logarithm (ParT uses $10^{-8}$).

    Returns:
        ``(n, n, 4)``, symmetric in the two particle axes. The diagonal pairs
        a particle with itself ($\Delta = 0$, so $\ln k_T = \ln\Delta = \ln\varepsilon$).

    Example:
        ```python
        import jax.numpy as jnp
        from hepjax.physics import pair_features, p4_from_ptetaphim

        p4 = p4_from_ptetaphim(jnp.array([100.0, 50.0]), jnp.array([0.0, 0.1]), jnp.zeros(2))
        u = pair_features(p4)  # u[0, 1] = (ln 5, ln 1/3, ln 0.1, ln m^2)
        ```
    """
    p4 = jnp.asarray(p4)
    if p4.ndim != 2 or p4.shape[-1] != 4:
        raise ValueError(f"p4 must have shape (n, 4), got {p4.shape}")
    pt, y, phi = _pt_y_phi(p4)
    # exact zeros on the diagonal: XLA may evaluate y and phi in two fusions whose
    # rounding differs, and the log of the difference would amplify it
    same = jnp.eye(p4.shape[0], dtype=bool)
    dy = jnp.where(same, 0.0, y[:, None] - y[None, :])
    dphi = jnp.where(same, 0.0, delta_phi(phi[:, None], phi[None, :]))
    delta = _safe_sqrt(dy * dy + dphi * dphi)
    ptmin = jnp.minimum(pt[:, None], pt[None, :])
    ptsum = jnp.maximum(pt[:, None] + pt[None, :], eps)
    ln_kt = jnp.log(jnp.maximum(ptmin * delta, eps))
    ln_z = jnp.log(jnp.maximum(ptmin / ptsum, eps))
    ln_delta = jnp.log(jnp.maximum(delta, eps))
    # a particle's own m^2 = E^2 - |p|^2 is rounding noise of relative size ~1e-7 for
    # (nearly) massless particles; below 1e-5 E^2 it is taken as 0 (massless)
    e2 = p4[:, 0] ** 2
    msq = e2 - jnp.sum(p4[:, 1:] ** 2, axis=-1)
    msq = jnp.where(msq > _MASS_TOLERANCE * e2, msq, 0.0)
    mt = _safe_sqrt(pt * pt + msq)
    mt_ab, pt_ab = mt[:, None] * mt[None, :], pt[:, None] * pt[None, :]
    extra = (
        msq[:, None] * pt[None, :] ** 2
        + msq[None, :] * pt[:, None] ** 2
        + msq[:, None] * msq[None, :]
    ) / jnp.maximum(mt_ab + pt_ab, 1e-30)
    m2 = (
        msq[:, None]
        + msq[None, :]
        + 2.0
        * (mt_ab * 2.0 * jnp.sinh(0.5 * dy) ** 2 + pt_ab * 2.0 * jnp.sin(0.5 * dphi) ** 2 + extra)
    )
    ln_m2 = jnp.log(jnp.maximum(m2, eps))
    return jnp.stack([ln_kt, ln_z, ln_delta, ln_m2], axis=-1)
