r"""Objectives of SSA trajectories: steady-state moments and time-dependent losses.

Each takes the ``(K, S)`` states of one trajectory (``sol.x``) and returns a
scalar or small vector; average over trajectories (or let
``hje.value_and_grad`` average over samples).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float


def steady_state_moments(x: Float[Array, "k s"], burn_in: int = 0) -> Float[Array, "2 s"]:
    r"""Time-averaged mean and second moment $(\overline{x}, \overline{x^2})$ after ``burn_in``."""
    tail = x[burn_in:]
    return jnp.stack([jnp.mean(tail, axis=0), jnp.mean(tail**2, axis=0)])


def mean_trajectory_loss(
    x: Float[Array, "k s"], target: Float[Array, "k s"], weights: Float[Array, " s"] | None = None
) -> Float[Array, ""]:
    r"""$\sum_{k,s} w_s (x_{ks}-\mu_{ks})^2/K$ against an observed mean trajectory $\mu$.

    Its expectation is $\sum w_s[(E x_{ks}-\mu_{ks})^2+\mathrm{Var}\,x_{ks}]/K$;
    minimise the squared error of the *mean* with ``(mean_x - target)**2`` over a
    batch instead when the variance term is unwanted.

    Args:
        x: ``(K, S)`` one simulated trajectory: the state of ``S`` species at ``K`` observation
            times.
        target: ``(K, S)`` the observed mean trajectory $\mu$.
        weights: optional ``(S,)`` per-species weights $w_s$ (default all 1).
    """
    w = jnp.ones(x.shape[-1], x.dtype) if weights is None else jnp.asarray(weights, x.dtype)
    return jnp.sum(w * (x - target) ** 2) / x.shape[0]


def autocorrelation(x: Float[Array, " k"], lag: int) -> Float[Array, ""]:
    r"""Sample autocorrelation of a scalar time series at a static ``lag``."""
    xc = x - jnp.mean(x)
    var = jnp.mean(xc**2)
    cov = jnp.mean(xc[lag:] * xc[: x.shape[0] - lag])
    return cov / jnp.where(var > 0, var, 1)


def oscillation_period(x: Float[Array, " k"], dt: float) -> Float[Array, ""]:
    r"""Period from the mean crossings of a series sampled every ``dt``.

    $T = 2\,\Delta t\,(i_\text{last}-i_\text{first})/(n-1)$ for $n$ sign
    changes of $x-\bar x$ at indices $i$; 0 with fewer than two crossings.
    """
    xc = x - jnp.mean(x)
    cross = (xc[1:] * xc[:-1]) < 0
    n = jnp.sum(cross)
    idx = jnp.arange(cross.shape[0])
    first = jnp.min(jnp.where(cross, idx, cross.shape[0]))
    last = jnp.max(jnp.where(cross, idx, -1))
    return jnp.where(n >= 2, 2 * dt * (last - first) / jnp.maximum(n - 1, 1), 0.0)
