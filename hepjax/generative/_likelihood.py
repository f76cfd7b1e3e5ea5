r"""Exact log-likelihoods of flows by the instantaneous change of variables.

For $\dot x = v(t, x)$ carrying a base density $p_0$ at $t_0$ to $p_1$ at $t_1$
(Chen et al. 2018, Neural ODEs; Grathwohl et al. 2018, FFJORD, arXiv:1810.01367),

.. math::
    \log p_1(x_1) = \log p_0(x_0) - \int_{t_0}^{t_1} \operatorname{div} v(t, x_t)\,dt,

solved backwards from $x_1$ as one augmented ODE. On a manifold the divergence
is the Riemannian one, $\operatorname{div}_{\mathcal M} v = \operatorname{tr}(P_x J_v P_x)$
with $P_x$ the tangent projection (exact for the induced metric of embedded
manifolds and for flat tori), and densities are w.r.t. the Riemannian volume.
On padded sets only the real elements' coordinates enter the trace and the
base density, so padding contributes nothing.

The divergence is a strategy: :class:`ExactDivergence` (one JVP per ambient
coordinate, via forward mode) or :class:`Hutchinson` (unbiased,
$\mathbb E_\varepsilon[w^\top J w]$ with $w = P\varepsilon$, FFJORD's
estimator with the probe fixed along the trajectory).
"""

from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import check_choice, check_positive_int
from ..manifolds import AbstractManifold
from ._checks import make_args
from ._losses import check_on_manifold
from ._ode import _rows, _rows2, check_point_shape, integrate, safe_padding, wrap_field


class AbstractDivergence(eqx.Module):
    """How the divergence of the vector field is computed."""


class ExactDivergence(AbstractDivergence):
    r"""$\operatorname{tr}(P J P)$ exactly, from one JVP per ambient coordinate."""


class Hutchinson(AbstractDivergence):
    r"""Hutchinson's trace estimator $\frac1K\sum_k w_k^\top J w_k$, $w_k = P\varepsilon_k$.

    Unbiased for $\operatorname{tr}(PJP)$ because
    $\mathbb E[\varepsilon\varepsilon^\top] = I$ and $P^2 = P$. The probes are
    drawn once per likelihood evaluation from ``key`` and held fixed along the
    ODE (Grathwohl et al. 2018, FFJORD, arXiv:1810.01367).

    Attributes:
        num_probes: number of probe vectors $K$.
        noise: ``"rademacher"`` or ``"gaussian"``.
    """

    num_probes: int = 1
    noise: str = "rademacher"

    def __check_init__(self):
        check_positive_int("num_probes", self.num_probes)
        check_choice("noise", self.noise, ("rademacher", "gaussian"))


def _directions(x, manifold, mask, divergence, key):
    """Probe directions ``(K, *x.shape)``: projected basis vectors or projected noise."""
    if isinstance(divergence, Hutchinson):
        shape = (divergence.num_probes, *x.shape)
        if divergence.noise == "rademacher":
            eps = jax.random.rademacher(key, shape, dtype=x.dtype)
        else:
            eps = jax.random.normal(key, shape, dtype=x.dtype)
    else:
        eps = jnp.eye(x.size, dtype=x.dtype).reshape((x.size, *x.shape))
    if mask is not None:
        eps = jnp.where(mask[None, :, None], eps, 0.0)
    return eps


def log_likelihood(
    vector_field: Callable,
    x1: Float[ArrayLike, "..."],
    *,
    manifold: AbstractManifold | None = None,
    base_log_prob: Callable[[Array], Array] | None = None,
    mask: Bool[ArrayLike, " n"] | None = None,
    cond: Any = None,
    args: Any = None,
    divergence: AbstractDivergence = ExactDivergence(),
    key: PRNGKeyArray | None = None,
    solver: diffrax.AbstractSolver | str = "dopri5",
    num_steps: int | None = None,
    t0: float = 0.0,
    t1: float = 1.0,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    max_steps: int = 4096,
) -> Float[Array, ""]:
    r"""$\log p_1(x_1)$ of the flow $\dot x = v(t, x)$ started from the base density at ``t0``.

    Args:
        vector_field: ``vector_field(t, x, args)`` on one example (diffrax's signature).
        x1: the point ``(d,)`` or padded set ``(n, d)`` to evaluate; batch with ``jax.vmap``.
        manifold: the manifold of the points; densities are then w.r.t. its
            Riemannian volume and the divergence is taken in the tangent space.
        base_log_prob: log density of one point (one row of a set) at ``t0``;
            default: ``manifold.base_log_prob`` (uniform on compact manifolds,
            standard normal on Euclidean ones), or the standard normal.
        mask: ``(n,)`` booleans for a padded set; only real rows count.
        cond: conditioning passed to the field as ``args["cond"]``.
        args: explicit ``args`` for the field.
        divergence: ``ExactDivergence()`` or ``Hutchinson(num_probes, noise)``.
        key: PRNG key, required by ``Hutchinson``.
        solver: a diffrax solver or name; adaptive by default.
        num_steps: fixed number of steps (``None``: adaptive).
        t0: the base time.
        t1: the data time.
        rtol: relative tolerance of adaptive stepping.
        atol: absolute tolerance of adaptive stepping.
        max_steps: step budget of adaptive stepping.

    Returns:
        The scalar log-likelihood.

    Raises:
        ValueError: Hutchinson without a key, points off the manifold, a mask
            of the wrong shape or an all-padding set, or an unknown solver.
    """
    if not isinstance(divergence, AbstractDivergence):
        raise TypeError(
            "divergence must be ExactDivergence() or Hutchinson(...), "
            f"got {type(divergence).__name__}"
        )
    if isinstance(divergence, Hutchinson) and key is None:
        raise ValueError("divergence=Hutchinson(...) needs a PRNG key: pass key=...")
    x1, mask = check_point_shape(x1, manifold, mask, name="x1")
    if manifold is not None:
        x1 = check_on_manifold(manifold, x1, mask, "x1")
    if args is None:
        args = make_args(mask, cond)
    if base_log_prob is None:
        if manifold is not None:
            base_log_prob = manifold.base_log_prob
        else:
            base_log_prob = lambda z: jnp.sum(jax.scipy.stats.norm.logpdf(z))
    field = wrap_field(vector_field, manifold, mask)

    def project(x, w):
        if manifold is None:
            return w
        return _rows2(manifold.proju, _rows(manifold.projx, safe_padding(manifold, x, mask)), w)

    def augmented(t, state, a):
        x, _, dirs = state
        w = jax.vmap(lambda e: project(x, e))(dirs)
        jw = jax.vmap(lambda d: jax.jvp(lambda y: field(t, y, a), (x,), (d,))[1])(w)
        div = jnp.sum(w * jw) / (dirs.shape[0] if isinstance(divergence, Hutchinson) else 1)
        return field(t, x, a), div, jnp.zeros_like(dirs)

    dirs = _directions(x1, manifold, mask, divergence, key)
    state0 = (x1, jnp.zeros((), x1.dtype), dirs)
    x0, delta, _ = integrate(
        augmented,
        state0,
        args,
        t0=t1,
        t1=t0,
        solver=solver,
        num_steps=num_steps,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    if manifold is not None:
        x0 = _rows(manifold.projx, safe_padding(manifold, x0, mask))
    if x0.ndim == 1:
        base = base_log_prob(x0)
    else:
        per_row = jax.vmap(base_log_prob)(x0)
        base = jnp.sum(per_row if mask is None else jnp.where(mask, per_row, 0.0))
    if np.shape(base) != ():
        raise ValueError(
            f"base_log_prob must return a scalar per point, got shape {np.shape(base)}"
        )
    return base + delta
