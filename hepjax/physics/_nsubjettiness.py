r"""N-subjettiness with exclusive-$k_T$ axes, for padded, masked particle sets.

For a jet of particles $i$ with transverse momenta $p_{T,i}$ and $N$ axes $k$
(Thaler & Van Tilburg, arXiv:1011.2268, eq. 1),

$$\tau_N = \frac{1}{d_0} \sum_i p_{T,i}\,\min_k \big(\Delta R_{ik}\big)^\beta,
\qquad d_0 = \sum_i p_{T,i}\, R_0^\beta,$$

with $\Delta R_{ik}^2 = (y_i - y_k)^2 + (\phi_i - \phi_k)^2$. Ratios
$\tau_{21} = \tau_2/\tau_1$ and $\tau_{32} = \tau_3/\tau_2$ are small for
two- and three-prong jets.

**Axes.** We use *exclusive $k_T$ axes*, the ``KT_Axes`` choice of the
FastJet-contrib Nsubjettiness package: the jet's particles are clustered with
the $k_T$ distance $d_{ij} = \min(p_{T,i}^2, p_{T,j}^2)\,\Delta R_{ij}^2$ and
E-scheme recombination, without beam distance (i.e. $R \to \infty$), until $N$
pseudojets remain; these are the axes. No further minimisation of $\tau_N$
over the axes is done (no "one-pass" refinement), so values agree with
``KT_Axes`` but can be slightly larger than those with ``OnePass_KT_Axes``.
The clustering runs once and the axes for $N = 1, \dots, N_{\max}$ are
snapshots of the same sequence, so the cost is $O(n^3)$ per jet for $n$ slots.
"""

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from ._kinematics import delta_phi, rapidity


def _yphi(p4):
    return rapidity(p4), jnp.arctan2(p4[..., 2], p4[..., 1])


def exclusive_kt_axes(
    p4: Float[ArrayLike, "n 4"], mask: Bool[ArrayLike, " n"], max_axes: int = 3
) -> tuple[Float[Array, "k n 4"], Bool[Array, "k n"]]:
    r"""Exclusive-$k_T$ axes for $N = 1, \dots$, ``max_axes``.

    Args:
        p4: particle four-momenta $(E, p_x, p_y, p_z)$, padded.
        mask: ``True`` for real particles.
        max_axes: the largest $N$.

    Returns:
        ``(axes, alive)``: ``axes[N-1]`` holds the four-momenta of the pseudojets
        left when at most $N$ remain (in padded slots), ``alive[N-1]`` marks them.
    """
    if not isinstance(max_axes, int) or max_axes < 1:
        raise ValueError(f"max_axes must be a positive int, got {max_axes!r}")
    p4 = jnp.asarray(p4)
    mask = jnp.asarray(mask, bool)
    n = p4.shape[0]
    big = jnp.finfo(p4.dtype).max

    def merge_once(state):
        jets, alive = state
        y, phi = _yphi(jets)
        pt2 = jets[:, 1] ** 2 + jets[:, 2] ** 2
        dr2 = (y[:, None] - y[None, :]) ** 2 + delta_phi(phi[:, None], phi[None, :]) ** 2
        d = jnp.minimum(pt2[:, None], pt2[None, :]) * dr2
        ok = alive[:, None] & alive[None, :] & ~jnp.eye(n, dtype=bool)
        flat = jnp.argmin(jnp.where(ok, d, big))
        i, j = flat // n, flat % n
        lo, hi = jnp.minimum(i, j), jnp.maximum(i, j)
        jets = jets.at[lo].add(jets[hi]).at[hi].set(0.0)
        alive = alive.at[hi].set(False)
        return jets, alive

    def step(state, _):
        return jax.lax.cond(jnp.sum(state[1]) > 1, merge_once, lambda s: s, state), state

    init = (jnp.where(mask[:, None], p4, 0.0), mask)
    # Snapshot before each merge; the state with <= N alive for each N.
    _, (hist_jets, hist_alive) = jax.lax.scan(step, init, None, length=n)
    count = jnp.sum(hist_alive, axis=1)
    out_jets, out_alive = [], []
    for k in range(1, max_axes + 1):
        idx = jnp.argmax(count <= k)  # first snapshot with at most k pseudojets
        out_jets.append(hist_jets[idx])
        out_alive.append(hist_alive[idx])
    return jnp.stack(out_jets), jnp.stack(out_alive)


def nsubjettiness(
    p4: Float[ArrayLike, "n 4"],
    mask: Bool[ArrayLike, " n"],
    max_axes: int = 3,
    *,
    beta: float = 1.0,
    r0: float = 1.0,
) -> Float[Array, " k"]:
    r"""$(\tau_1, \dots, \tau_{N_{\max}})$ of one jet with exclusive-$k_T$ axes.

    Args:
        p4: constituent four-momenta $(E, p_x, p_y, p_z)$, padded to ``n``.
        mask: ``True`` for real constituents; padding does not contribute.
        max_axes: $N_{\max}$.
        beta: angular exponent $\beta$.
        r0: characteristic jet radius $R_0$ in the normalisation $d_0$.

    Returns:
        $\tau_N$ for $N = 1, \dots, N_{\max}$; 0 for an empty jet, and 0 when the
        jet has at most $N$ particles (each is its own axis).
    """
    p4 = jnp.asarray(p4)
    mask = jnp.asarray(mask, bool)
    if p4.ndim != 2 or p4.shape[-1] != 4:
        raise ValueError(f"p4 must have shape (n, 4), got {p4.shape}")
    if mask.shape != p4.shape[:1]:
        raise ValueError(f"mask must have shape ({p4.shape[0]},), got {mask.shape}")
    return _nsubjettiness(p4, mask, max_axes, beta, r0)


@functools.partial(jax.jit, static_argnames="max_axes")
def _nsubjettiness(p4, mask, max_axes, beta, r0):
    axes, alive = exclusive_kt_axes(p4, mask, max_axes)
    y, phi = _yphi(p4)
    pt = jnp.where(mask, jnp.hypot(p4[:, 1], p4[:, 2]), 0.0)
    d0 = jnp.sum(pt) * r0**beta

    def tau(ax, al):
        ya, phia = _yphi(ax)
        dr2 = (y[:, None] - ya[None, :]) ** 2 + delta_phi(phi[:, None], phia[None, :]) ** 2
        dr2 = jnp.where(al[None, :], dr2, jnp.inf)
        mind2 = jnp.min(dr2, axis=1)
        mind2 = jnp.where(mask & jnp.isfinite(mind2), mind2, 0.0)
        safe = jnp.where(mind2 > 0, mind2, 1.0)
        dist = jnp.where(mind2 > 0, safe ** (beta / 2), 0.0)
        return jnp.sum(pt * dist)

    taus = jax.vmap(tau)(axes, alive)
    return jnp.where(d0 > 0, taus / jnp.where(d0 > 0, d0, 1.0), 0.0)
