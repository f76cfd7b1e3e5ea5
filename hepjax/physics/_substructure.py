r"""Jet substructure beyond N-subjettiness: energy correlation functions and $D_2$, the
$k_T$ splitting scales $\sqrt{d_{12}}$ and $\sqrt{d_{23}}$, and SoftDrop grooming.

Each function takes one jet as padded constituent four-momenta $(E, p_x, p_y, p_z)$
``[n, 4]`` and a mask ``[n]`` (like :func:`~hepjax.physics.nsubjettiness`); ``jax.vmap``
runs them over jets. Distances are in the rapidity-azimuth plane,
$\Delta R_{ij}^2 = (y_i - y_j)^2 + \Delta\phi_{ij}^2$.

**Energy correlation functions** (Larkoski, Salam, Thaler, arXiv:1305.0007; the
$p_T$-$R$ measure of fjcontrib's ``EnergyCorrelator``), with
$z_i = p_{T,i} / \sum_j p_{T,j}$ and $\theta_{ij} = \Delta R_{ij}^\beta$:

$$e_2^{(\beta)} = \sum_{i<j} z_i z_j \theta_{ij}, \qquad
e_3^{(\beta)} = \sum_{i<j<k} z_i z_j z_k \theta_{ij}\theta_{jk}\theta_{ik}, \qquad
D_2^{(\beta)} = \frac{e_3^{(\beta)}}{\big(e_2^{(\beta)}\big)^3}$$

(Larkoski, Moult, Neill, arXiv:1409.6298). As $\theta_{ii} = 0$, the sums over distinct
indices are sums over all indices divided by $2!$ and $3!$, so
$e_2 = \tfrac12 z^\top \Theta z$ and $e_3 = \tfrac16 \operatorname{tr}\big((Z\Theta)^3\big)$
with $Z = \operatorname{diag}(z)$: two matrix products instead of a triple loop.

**Splitting scales.** The constituents are clustered pairwise with the $k_T$ distance
$d_{ij} = \min(p_{T,i}^2, p_{T,j}^2)\,\Delta R_{ij}^2$ and E-scheme recombination, without
beam distance, down to one jet; $d_{k,k+1}$ is the $d_{ij}$ of the merge that leaves $k$
pseudojets, and $\sqrt{d_{12}} = \min(p_{T,a}, p_{T,b})\,\Delta R_{ab}$ for the last two
(ATLAS, arXiv:1306.4945). This is FastJet's ``R * sqrt(exclusive_subdmerge(jet, k))`` for
the constituents reclustered with the $k_T$ algorithm at a radius large enough that
every constituent ends in one jet.

**SoftDrop** (Larkoski, Marzani, Soyez, Thaler, arXiv:1402.2657): the constituents are
reclustered with Cambridge/Aachen ($d_{ij} = \Delta R_{ij}^2$), then declustered from the
top: while the two branches fail

$$\frac{\min(p_{T,1}, p_{T,2})}{p_{T,1} + p_{T,2}} > z_\text{cut}
\left(\frac{\Delta R_{12}}{R_0}\right)^\beta,$$

the softer is dropped and the harder declustered in turn. The groomed jet is the first
node that passes (or the last constituent left). $\beta = 0$ is the modified mass-drop
tagger; $z_\text{cut} = 0.1$, $\beta = 0$ and $z_\text{cut} = 0.05$, $\beta = 2$ are the
two settings the Vipr paper (arXiv:2410.22074) compares with.

Clustering costs $O(n^2)$ per merge and $n - 1$ merges, $O(n^3)$ per jet.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ._kinematics import delta_phi
from ._nsubjettiness import _yphi


def _check_jet(p4, mask) -> tuple[Array, Array]:
    p4 = jnp.asarray(p4)
    mask = jnp.asarray(mask, bool)
    if p4.ndim != 2 or p4.shape[-1] != 4:
        raise ValueError(f"p4 must have shape (n, 4) for one jet, got {p4.shape}")
    if mask.shape != p4.shape[:1]:
        raise ValueError(f"mask must have shape ({p4.shape[0]},), got {mask.shape}")
    if not jnp.issubdtype(p4.dtype, jnp.floating):
        p4 = p4.astype(jnp.float32)
    return p4, mask


def _delta_r2(p4: Array) -> Array:
    y, phi = _yphi(p4)
    return (y[:, None] - y[None, :]) ** 2 + delta_phi(phi[:, None], phi[None, :]) ** 2


def _pt(p4: Array) -> Array:
    return jnp.hypot(p4[..., 1], p4[..., 2])


def energy_correlators(
    p4: Float[ArrayLike, "n 4"], mask: Bool[ArrayLike, " n"], *, beta: float = 1.0
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    r"""The normalised energy correlation functions $(e_2^{(\beta)}, e_3^{(\beta)})$ of one jet.

    Args:
        p4: constituent four-momenta $(E, p_x, p_y, p_z)$, padded to ``n``.
        mask: ``True`` for real constituents.
        beta: angular exponent $\beta > 0$.

    Returns:
        ``(e2, e3)`` (module docstring); both 0 for a jet with fewer than 2 or 3 constituents.
    """
    p4, mask = _check_jet(p4, mask)
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    return _energy_correlators(p4, mask, beta)


@jax.jit
def _energy_correlators(p4, mask, beta):
    pt = jnp.where(mask, _pt(p4), 0.0)
    total = jnp.sum(pt)
    z = pt / jnp.where(total > 0, total, 1.0)
    dr2 = _delta_r2(jnp.where(mask[:, None], p4, 0.0))
    pair = mask[:, None] & mask[None, :] & (dr2 > 0)
    theta = jnp.where(pair, jnp.where(pair, dr2, 1.0) ** (beta / 2), 0.0)
    e2 = 0.5 * z @ theta @ z
    zt = z[:, None] * theta
    e3 = jnp.trace(zt @ zt @ zt) / 6.0
    return e2, e3


def d2(
    p4: Float[ArrayLike, "n 4"], mask: Bool[ArrayLike, " n"], *, beta: float = 1.0
) -> Float[Array, ""]:
    r"""$D_2^{(\beta)} = e_3^{(\beta)} / (e_2^{(\beta)})^3$ of one jet (small for two-prong jets).

    Args:
        p4: constituent four-momenta $(E, p_x, p_y, p_z)$, padded to ``n``.
        mask: ``True`` for real constituents.
        beta: angular exponent (1, as in the Vipr paper and most ATLAS/CMS analyses).

    Returns:
        $D_2$; 0 for a jet with fewer than two constituents at distinct angles ($e_2 = 0$).
    """
    e2, e3 = energy_correlators(p4, mask, beta=beta)
    return jnp.where(e2 > 0, e3 / jnp.where(e2 > 0, e2, 1.0) ** 3, 0.0)


class MergeHistory(NamedTuple):
    """The pairwise merges of a clustering of one jet's constituents (step ``t`` of ``n - 1``).

    ``into[t]`` and ``absorbed[t]`` are the slots merged at step ``t`` (the result is stored
    in ``into``), ``distance`` the clustering distance of that merge, ``merged`` whether the
    step merged anything (no: fewer than two pseudojets were left), and ``p4_into``,
    ``p4_absorbed`` the two pseudojets' four-momenta just before the merge.
    """

    into: Int[Array, " t"]
    absorbed: Int[Array, " t"]
    distance: Float[Array, " t"]
    merged: Bool[Array, " t"]
    p4_into: Float[Array, "t 4"]
    p4_absorbed: Float[Array, "t 4"]


def merge_history(
    p4: Float[ArrayLike, "n 4"], mask: Bool[ArrayLike, " n"], algorithm: str = "kt"
) -> MergeHistory:
    r"""Cluster one jet's constituents pairwise down to one pseudojet, without beam distance.

    Args:
        p4: constituent four-momenta $(E, p_x, p_y, p_z)$, padded to ``n``.
        mask: ``True`` for real constituents.
        algorithm: ``"kt"`` ($d_{ij} = \min(p_{T,i}^2, p_{T,j}^2)\Delta R_{ij}^2$) or
            ``"ca"`` (Cambridge/Aachen, $d_{ij} = \Delta R_{ij}^2$); E-scheme recombination.

    Returns:
        The :class:`MergeHistory` of the ``n - 1`` steps; the real merges come first, in
        clustering order (a jet with $m$ constituents merges at steps $0, \dots, m-2$).
    """
    if algorithm not in ("kt", "ca"):
        raise ValueError(f"algorithm must be 'kt' or 'ca', got {algorithm!r}")
    p4, mask = _check_jet(p4, mask)
    return _merge_history(p4, mask, algorithm)


@functools.partial(jax.jit, static_argnames="algorithm")
def _merge_history(p4, mask, algorithm):
    n = p4.shape[0]
    inf = jnp.asarray(jnp.inf, p4.dtype)
    off_diagonal = ~jnp.eye(n, dtype=bool)

    def step(state, _):
        jets, alive = state
        d = _delta_r2(jets)
        if algorithm == "kt":
            pt2 = jets[:, 1] ** 2 + jets[:, 2] ** 2
            d = jnp.minimum(pt2[:, None], pt2[None, :]) * d
        d = jnp.where(alive[:, None] & alive[None, :] & off_diagonal, d, inf)
        flat = jnp.argmin(d)
        i, j = flat // n, flat % n
        into, absorbed = jnp.minimum(i, j), jnp.maximum(i, j)
        merged = jnp.sum(alive) > 1
        record = (
            into,
            absorbed,
            jnp.where(merged, d[i, j], 0.0),
            merged,
            jets[into],
            jets[absorbed],
        )
        new_jets = jets.at[into].add(jets[absorbed]).at[absorbed].set(0.0)
        jets = jnp.where(merged, new_jets, jets)
        alive = jnp.where(merged, alive.at[absorbed].set(False), alive)
        return (jets, alive), record

    init = (jnp.where(mask[:, None], p4, 0.0), mask)
    _, record = jax.lax.scan(step, init, None, length=max(n - 1, 0))
    return MergeHistory(*record)


def kt_splitting_scales(
    p4: Float[ArrayLike, "n 4"], mask: Bool[ArrayLike, " n"], max_n: int = 2
) -> Float[Array, " k"]:
    r"""The $k_T$ splitting scales $(\sqrt{d_{12}}, \dots, \sqrt{d_{k,k+1}})$, $k$ = ``max_n``.

    Args:
        p4: constituent four-momenta $(E, p_x, p_y, p_z)$, padded to ``n``.
        mask: ``True`` for real constituents.
        max_n: the largest $k$ (2 gives $\sqrt{d_{12}}$ and $\sqrt{d_{23}}$).

    Returns:
        $\sqrt{d_{k,k+1}}$ in the unit of ``p4`` (module docstring); 0 when the jet has
        at most $k$ constituents, as FastJet's ``exclusive_subdmerge``.
    """
    if not isinstance(max_n, int) or isinstance(max_n, bool) or max_n < 1:
        raise ValueError(f"max_n must be a positive int, got {max_n!r}")
    p4, mask = _check_jet(p4, mask)
    history = _merge_history(p4, mask, "kt")
    m = jnp.sum(mask)
    # the merge that leaves k pseudojets is step m - k - 1 (m constituents, one merge a step)
    steps = m - jnp.arange(1, max_n + 1) - 1
    d = jnp.where(steps >= 0, history.distance[jnp.clip(steps, 0, None)], 0.0)
    return jnp.sqrt(jnp.maximum(d, 0.0))


class SoftDropResult(NamedTuple):
    """A groomed jet: its four-momentum ``p4`` (4,), the constituents it keeps ``kept`` (n,)
    and the $\\Delta R$ of the two branches that passed (``delta_r``; 0 if none passed)."""

    p4: Float[Array, " 4"]
    kept: Bool[Array, " n"]
    delta_r: Float[Array, ""]


def soft_drop(
    p4: Float[ArrayLike, "n 4"],
    mask: Bool[ArrayLike, " n"],
    *,
    z_cut: float = 0.1,
    beta: float = 0.0,
    r0: float = 1.0,
) -> SoftDropResult:
    r"""Groom one jet with SoftDrop (module docstring).

    Args:
        p4: constituent four-momenta $(E, p_x, p_y, p_z)$, padded to ``n``.
        mask: ``True`` for real constituents.
        z_cut: the momentum-fraction cut $z_\text{cut}$, in $[0, 1)$.
        beta: the angular exponent $\beta \ge 0$ (0: modified mass-drop tagger).
        r0: the jet radius $R_0$ in the angular factor.

    Returns:
        A :class:`SoftDropResult`; for an empty jet everything is zero.
    """
    for name, value, ok in (
        ("z_cut", z_cut, 0 <= z_cut < 1),
        ("beta", beta, beta >= 0),
        ("r0", r0, r0 > 0),
    ):
        if not ok:
            raise ValueError(f"{name} is out of range: got {value}")
    p4, mask = _check_jet(p4, mask)
    return _soft_drop(p4, mask, z_cut, beta, r0)


@jax.jit
def _soft_drop(p4, mask, z_cut, beta, r0):
    n = p4.shape[0]
    if n == 1:
        return SoftDropResult(jnp.where(mask[0], p4[0], 0.0), mask, jnp.zeros((), p4.dtype))
    h = _merge_history(p4, mask, "ca")
    last = jnp.argmax(mask)  # a lone constituent's slot; the final jet's slot is into[m - 2]
    m = jnp.sum(mask)
    top = jnp.where(m >= 2, h.into[jnp.clip(m - 2, 0, None)], last)

    def decluster(state, t):
        slot, found, at = state
        here = h.merged[t] & (h.into[t] == slot) & ~found
        pt_a, pt_b = _pt(h.p4_into[t]), _pt(h.p4_absorbed[t])
        dr = jnp.sqrt(_delta_r2(jnp.stack([h.p4_into[t], h.p4_absorbed[t]]))[0, 1])
        z = jnp.minimum(pt_a, pt_b) / jnp.maximum(pt_a + pt_b, 1e-30)
        passes = z > z_cut * (dr / r0) ** beta
        harder = jnp.where(pt_b > pt_a, h.absorbed[t], h.into[t])
        slot = jnp.where(here & ~passes, harder, slot)
        at = jnp.where(here & passes, t, at)
        return (slot, found | (here & passes), at), None

    steps = jnp.arange(n - 1)[::-1]
    (slot, found, at), _ = jax.lax.scan(decluster, (top, jnp.array(False), jnp.array(0)), steps)

    def follow(owner, t):  # the slot each constituent is in just before step `at`
        moved = h.merged[t] & (t < at) & (owner == h.absorbed[t])
        return jnp.where(moved, h.into[t], owner), None

    owner, _ = jax.lax.scan(follow, jnp.arange(n), jnp.arange(n - 1))
    in_node = (owner == h.into[at]) | (owner == h.absorbed[at])
    kept = mask & jnp.where(found, in_node, jnp.arange(n) == slot)
    groomed = jnp.sum(jnp.where(kept[:, None], p4, 0.0), axis=0)
    pair = jnp.stack([h.p4_into[at], h.p4_absorbed[at]])
    delta_r = jnp.where(found, jnp.sqrt(_delta_r2(pair)[0, 1]), 0.0)
    return SoftDropResult(groomed, kept, delta_r)
