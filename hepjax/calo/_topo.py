r"""Topological clustering 4-2-0 with local-maximum splitting, as in COCOA, in JAX.

The algorithm of COCOA (arXiv:2303.02101, Sec. 3.1; ``Topo_clust_func.cc`` of
cocoa-hep), itself the ATLAS one (Aad et al., "Topological cell clustering in
the ATLAS calorimeters", arXiv:1603.02934), on the significance
$\varsigma_c = E_c/\sigma_c$ of every cell ($|E_c|/\sigma_c$ with ``absolute=True``,
COCOA's ``cluster_negative_energy_cells``; its default is the signed form):

1. **Seeds** are cells with $\varsigma > t_\text{seed}$ (4.6), **core** cells
   those with $\varsigma > t_\text{grow}$ (2) and **ring** cells those with
   $t_\text{last} < \varsigma \le t_\text{grow}$ (last: 0). Neighbours are those of
   :func:`~hepjax.calo.neighbour_table`.
2. **Growth.** Seeds are processed in descending significance; a processed cell
   labels its unlabelled core neighbours (which are processed in turn, generation
   by generation, each generation in descending significance), merges the
   clusters of already-labelled core neighbours, and gives its label to
   unlabelled ring neighbours, which are not processed further. Hence a cluster
   is a connected component of core cells containing a seed, and a ring cell
   joins the cluster of the first core neighbour in processing order
   $(d, -\varsigma, \text{id})$, $d$ the graph distance to the nearest seed
   through core cells. This is how it is computed here: connected components
   and distances by iterated min-propagation over the neighbour table in a
   ``lax.while_loop``, then one sort.
3. Clusters with net energy $\sum_c E_c \le 0$ are dropped.
4. **Local maxima:** clustered cells with $E > E_\text{lm}$ (400 MeV), more
   energy than every neighbour, and at least 4 clustered neighbours. In a
   hadronic layer, a candidate is dropped when an accepted maximum of an earlier
   layer lies inside it (COCOA's ``find_local_max``).
5. **Splitting.** A cluster with $k \ge 2$ maxima becomes $k$ clusters, grown from
   the maxima through the cluster's cells in synchronous generations (a
   breadth-first Voronoi partition): a cell reached in the same generation by
   several maxima is *shared* between the two with the most energy and stops
   the growth; cells cut off by shared cells become shared with the same pair
   (COCOA's ``cluster_share_neighbor``). A shared cell $c$ contributes
   $w_1 E_c$ and $(1-w_1) E_c$ to its two clusters, with COCOA's weight
   $w_1 = E_1/(E_1 + e^{d_1 - d_2} E_2)$: $E_i$ the energies of the two
   clusters' unshared cells and $d_i$ the distances (mm) from the cell to their
   barycentres.
6. **Order:** clusters in the order of their most significant seed; the parts
   of a split cluster in descending energy of their maxima.

Differences from COCOA's sequential code: ties in significance or energy are
broken by cell id; the split grows all maxima in lockstep (COCOA grows them
one cell at a time in energy order, so a later cell of one maximum can turn an
adjacent cell of another one into a shared cell); the hadronic local-maximum
rule uses the $\phi$ range of the cell (COCOA's comparison misses maxima with
$\phi > \pi$); cluster widths are energy-weighted RMS (COCOA: a running
unweighted estimate with a 0.05 floor). A plain-Python version of the same
algorithm is :func:`hepjax.calo.reference_topoclusters`.

**Moments** of a cluster $k$ with cell weights $w_{ck}$ (1, or the share):
$E_k = \sum_c w_{ck}E_c$; barycentres weighted by $a_c = w_{ck}|E_c|$:
$\bar\eta = \sum a\eta/\sum a$, $\bar\phi = \operatorname{atan2}(\sum a\sin\phi,
\sum a\cos\phi)$, $\bar\rho = \sum a R_{l(c)}/\sum a$ with $R_l$ the mid radius
of the cell's layer (COCOA's ``topo_bary_rho``); widths
$\sigma_\eta^2 = \sum a(\eta - \bar\eta)^2/\sum a$, and the same with the wrapped
$\Delta\phi$.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._core import check_positive_int
from ..sim.calo import CaloGeometry, CellEnergies
from ._neighbours import containing_cell, neighbour_table

__all__ = ["TopoClusters", "topoclusters"]

#: Shared-cell weights use distances in mm, as COCOA does (``Cell::set_local_max_weights``).
SHARE_LENGTH_MM = 1.0


class TopoClusters(eqx.Module):
    """Topoclusters of one event, padded to ``max_clusters``.

    Attributes:
        energy: ``(C,)`` cluster energy $\\sum_c w_c E_c$, GeV (0 on padding).
        eta, phi, rho: ``(C,)`` barycentre (module docstring), $\\rho$ in mm.
        sigma_eta, sigma_phi: ``(C,)`` energy-weighted widths.
        em_energy: ``(C,)`` energy in the electromagnetic layers.
        signal: ``(C,)`` noise-free visible energy of the same cells and weights.
        n_cells: ``(C,)`` cells (shared ones counted in both clusters).
        mask: ``(C,)`` real clusters.
        n_clusters: number of clusters found (may exceed ``C``: the moments of
            the extra ones are not stored; ``cell_cluster`` still numbers them).
        cell_cluster: ``(n_cells,)`` the cluster of every cell, $-1$ if none
            (a shared cell: the cluster of its higher-energy maximum).
        cell_cluster2: ``(n_cells,)`` second cluster of a shared cell, else $-1$.
        cell_weight: ``(n_cells,)`` weight of ``cell_cluster`` (1 unless shared;
            ``cell_cluster2`` gets ``1 - cell_weight``).
        local_max: ``(n_cells,)`` the local maxima (of all clusters).
    """

    energy: Float[Array, " c"]
    eta: Float[Array, " c"]
    phi: Float[Array, " c"]
    rho: Float[Array, " c"]
    sigma_eta: Float[Array, " c"]
    sigma_phi: Float[Array, " c"]
    em_energy: Float[Array, " c"]
    signal: Float[Array, " c"]
    n_cells: Int[Array, " c"]
    mask: Bool[Array, " c"]
    n_clusters: Int[Array, ""]
    cell_cluster: Int[Array, " n"]
    cell_cluster2: Int[Array, " n"]
    cell_weight: Float[Array, " n"]
    local_max: Bool[Array, " n"]

    @property
    def max_clusters(self) -> int:
        return int(jnp.shape(self.energy)[0])


def _check_thresholds(seed, grow, last):
    for name, v in (("seed", seed), ("grow", grow), ("last", last)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise TypeError(f"{name} must be a finite number (a significance), got {v!r}")
    if not seed >= grow >= last:
        raise ValueError(f"need seed >= grow >= last, got seed={seed}, grow={grow}, last={last}")


def _min_over(values_pad, nb, valid, big):
    """Masked minimum over neighbours: ``min_k values_pad[nb[:, k]]`` where ``valid``."""
    return jnp.min(jnp.where(valid, values_pad[nb], big), axis=1)


def topoclusters(
    geo: CaloGeometry,
    cells: CellEnergies,
    seed: float = 4.6,
    grow: float = 2.0,
    last: float = 0.0,
    *,
    local_max_energy: float = 0.4,
    absolute: bool = False,
    split: bool = True,
    max_clusters: int = 1024,
) -> TopoClusters:
    """Topoclusters of one event (module docstring); ``jit``-able with ``geo`` static.

    Args:
        geo: the detector (static: its neighbour table is built once and cached).
        cells: the event's :class:`~hepjax.sim.calo.CellEnergies`.
        seed, grow, last: significance thresholds $t_\\text{seed} \\ge
            t_\\text{grow} \\ge t_\\text{last}$ (COCOA: 4.6, 2, 0).
        local_max_energy: minimum energy of a local maximum, GeV (COCOA: 400 MeV).
        absolute: cluster on $|E|/\\sigma$ (negative cells too) instead of $E/\\sigma$.
        split: split clusters at their local maxima.
        max_clusters: size of the padded cluster arrays.
    """
    if not isinstance(geo, CaloGeometry):
        raise TypeError(f"geo must be a CaloGeometry, got {type(geo).__name__}")
    if not isinstance(cells, CellEnergies):
        raise TypeError(f"cells must be a CellEnergies, got {type(cells).__name__}")
    cells.check(geo)
    _check_thresholds(seed, grow, last)
    max_clusters = check_positive_int("max_clusters", max_clusters)
    if min(geo.noise) <= 0:
        raise ValueError(f"every layer needs noise > 0 for significances E/sigma, got {geo.noise}")
    nb_np, valid_np = neighbour_table(geo)
    n = geo.n_cells
    big = n  # "no label" / sentinel, larger than any rank or cell id
    table = geo.cells()
    nb = jnp.asarray(nb_np)
    valid = jnp.asarray(valid_np)
    E = cells.energy.astype(jnp.float32)
    E = eqx.error_if(E, jnp.any(~jnp.isfinite(E)), "topoclusters: cell energies must be finite")
    sigma = jnp.asarray(table.noise)
    s = jnp.abs(E) / sigma if absolute else E / sigma
    is_seed = s > seed
    is_core = s > grow
    is_ring = (s > last) & ~is_core
    idx = jnp.arange(n, dtype=jnp.int32)
    pad_b = lambda x: jnp.concatenate([x, jnp.zeros(1, bool)])
    pad_i = lambda x, v: jnp.concatenate([x, jnp.full(1, v, x.dtype)])

    # ---- 1-2. components of core cells seeded by a seed, distances to the seeds ----
    order = jnp.argsort(-s, stable=True)
    rank = jnp.zeros(n, jnp.int32).at[order].set(idx)
    core_nb = valid & pad_b(is_core)[nb]
    comp0 = jnp.where(is_seed, rank, big)
    dist0 = jnp.where(is_seed, 0, big)

    def grow_body(state):
        comp, dist, _ = state
        c_new = jnp.minimum(comp, _min_over(pad_i(comp, big), nb, core_nb, big))
        d_new = jnp.minimum(dist, _min_over(pad_i(dist, big), nb, core_nb, big) + 1)
        c_new = jnp.where(is_core, c_new, big)
        d_new = jnp.where(is_core, jnp.minimum(d_new, big), big)
        changed = jnp.any(c_new != comp) | jnp.any(d_new != dist)
        return c_new, d_new, changed

    comp, dist, _ = jax.lax.while_loop(lambda st: st[2], grow_body, (comp0, dist0, jnp.array(True)))
    clustered_core = is_core & (comp < big)
    # processing order of core cells: generation, then descending significance, then id
    proc_order = jnp.lexsort((idx, -s, jnp.where(clustered_core, dist, big)))
    prank = jnp.zeros(n, jnp.int32).at[proc_order].set(idx)
    prank = jnp.where(clustered_core, prank, big)
    ring_nb = valid & pad_b(clustered_core)[nb]
    first = jnp.argmin(jnp.where(ring_nb, pad_i(prank, big)[nb], big), axis=1)
    first_cell = jnp.take_along_axis(nb, first[:, None], axis=1)[:, 0]
    ring_label = jnp.where(jnp.any(ring_nb, axis=1), pad_i(comp, big)[first_cell], big)
    label = jnp.where(clustered_core, comp, jnp.where(is_ring, ring_label, big))

    # ---- 3. drop clusters with net E <= 0; number the rest by seed rank ----
    e_label = jnp.zeros(n + 1, jnp.float32).at[label].add(jnp.where(label < big, E, 0.0))
    has = jnp.zeros(n + 1, bool).at[label].set(True)
    keep = has[:n] & (e_label[:n] > 0)
    new_id = jnp.cumsum(keep.astype(jnp.int32)) - 1
    lab = jnp.where(label < big, label, 0)
    cl = jnp.where((label < big) & keep[lab], new_id[lab], -1)  # parent cluster per cell
    n_parent = jnp.sum(keep).astype(jnp.int32)

    # ---- 4. local maxima ----
    E_pad = pad_i(E, -jnp.inf)
    cl_pad = pad_i(cl, -1)
    higher_than_all = jnp.all(jnp.where(valid, E_pad[nb] < E[:, None], True), axis=1)
    n_clustered_nb = jnp.sum(valid & (cl_pad[nb] >= 0), axis=1)
    lm = (cl >= 0) & (E > local_max_energy) & higher_than_all & (n_clustered_nb >= 4)
    cont = jnp.asarray(containing_cell(geo))
    layer = jnp.asarray(table.layer)
    for m, lay_m in enumerate(geo.layers):
        if lay_m.electromagnetic:
            continue
        earlier = lm & (layer < m)
        target = jnp.where(earlier, cont[:, m], n)
        covered = jnp.zeros(n + 1, bool).at[target].set(True)[:n]
        lm = lm & ~(covered & (layer == m))

    # ---- 5. splitting ----
    # energy rank of the maxima (descending energy, ties by id)
    lm_order = jnp.argsort(jnp.where(lm, -E, jnp.inf), stable=True)
    lm_rank = jnp.where(lm, jnp.zeros(n, jnp.int32).at[lm_order].set(idx), big)
    cl_safe = jnp.where(cl >= 0, cl, n)
    n_lm = jnp.zeros(n + 1, jnp.int32).at[jnp.where(lm, cl_safe, n)].add(1)[:n]
    is_split = (n_lm >= 2) if split else jnp.zeros(n, bool)
    # ids of the final clusters: a split cluster takes n_lm ids, others one
    parent_width = jnp.where(jnp.arange(n) < n_parent, jnp.where(is_split, n_lm, 1), 0)
    parent_base = jnp.cumsum(parent_width) - parent_width
    # position of each maximum within its cluster (by energy rank)
    srt = jnp.lexsort((lm_rank, jnp.where(lm, cl_safe, n)))
    srt_cl = jnp.where(lm, cl_safe, n)[srt]
    start = jnp.searchsorted(srt_cl, srt_cl, side="left")
    pos_sorted = idx - start.astype(jnp.int32)
    pos = jnp.zeros(n, jnp.int32).at[srt].set(pos_sorted)
    # sub-cluster id of each maximum, indexed by the maximum's energy rank
    sub_of_rank = (
        jnp.full(n + 1, -1, jnp.int32)
        .at[jnp.where(lm, lm_rank, n)]
        .set(parent_base[cl_safe.clip(0, n - 1)] + pos)
    )
    in_split = (cl >= 0) & is_split[cl_safe.clip(0, n - 1)]
    same_cl = valid & (cl_pad[nb] == cl[:, None])
    owner0 = jnp.where(in_split & lm, lm_rank, big)

    def split_body(state):
        owner, shared, first2, second2, share_step, step, _ = state
        owned_nb = same_cl & (pad_i(owner, big)[nb] < big) & ~pad_b(shared)[nb]
        o_nb = jnp.where(owned_nb, pad_i(owner, big)[nb], big)
        best = jnp.min(o_nb, axis=1)
        second = jnp.min(jnp.where(o_nb != best[:, None], o_nb, big), axis=1)
        cand = in_split & (owner == big) & ~shared
        take = cand & (best < big) & (second == big)
        share = cand & (second < big)
        owner_n = jnp.where(take, best, owner)
        shared_n = shared | share
        first_n = jnp.where(share, best, first2)
        second_n = jnp.where(share, second, second2)
        step_n = jnp.where(share, step, share_step)
        return owner_n, shared_n, first_n, second_n, step_n, step + 1, jnp.any(take | share)

    init = (
        owner0,
        jnp.zeros(n, bool),
        jnp.full(n, big, jnp.int32),
        jnp.full(n, big, jnp.int32),
        jnp.full(n, big, jnp.int32),
        jnp.array(0, jnp.int32),
        jnp.array(True),
    )
    owner, shared, first2, second2, share_step, step, _ = jax.lax.while_loop(
        lambda st: st[-1], split_body, init
    )

    # cells cut off by shared cells become shared with the pair of a shared neighbour
    def spread_body(state):
        shared, first2, second2, share_step, step, _ = state
        key = jnp.where(shared, share_step * (n + 1) + idx, jnp.iinfo(jnp.int32).max)
        ok = same_cl & pad_b(shared)[nb]
        k_nb = jnp.where(ok, pad_i(key, jnp.iinfo(jnp.int32).max)[nb], jnp.iinfo(jnp.int32).max)
        j = jnp.argmin(k_nb, axis=1)
        src = jnp.take_along_axis(nb, j[:, None], axis=1)[:, 0]
        cand = in_split & (owner == big) & ~shared & jnp.any(ok, axis=1)
        first_n = jnp.where(cand, pad_i(first2, big)[src], first2)
        second_n = jnp.where(cand, pad_i(second2, big)[src], second2)
        step_n = jnp.where(cand, step, share_step)
        return shared | cand, first_n, second_n, step_n, step + 1, jnp.any(cand)

    shared, first2, second2, share_step, _, _ = jax.lax.while_loop(
        lambda st: st[-1], spread_body, (shared, first2, second2, share_step, step, jnp.array(True))
    )

    # ---- cluster id and weight of every cell ----
    sub_owner = sub_of_rank[jnp.minimum(owner, n)]
    c1 = jnp.where(
        in_split,
        jnp.where(shared, sub_of_rank[jnp.minimum(first2, n)], sub_owner),
        jnp.where(cl >= 0, parent_base[cl_safe.clip(0, n - 1)], -1),
    )
    c2 = jnp.where(in_split & shared, sub_of_rank[jnp.minimum(second2, n)], -1)
    n_total = jnp.sum(parent_width).astype(jnp.int32)

    rho_layer = jnp.asarray(table.layer_rho)
    eta_c = jnp.asarray(table.eta)
    phi_c = jnp.asarray(table.phi)
    a_abs = jnp.abs(E)
    # barycentres of the unshared parts (for the weights of shared cells)
    slots = n + 1
    base_id = jnp.where((c1 >= 0) & ~shared, c1, n)
    ssum = lambda v: jnp.zeros(slots, jnp.float32).at[base_id].add(v)
    A = ssum(a_abs)
    Ek = ssum(E)
    safeA = jnp.where(A > 0, A, 1.0)
    eta_b = ssum(a_abs * eta_c) / safeA
    phi_b = jnp.arctan2(ssum(a_abs * jnp.sin(phi_c)), ssum(a_abs * jnp.cos(phi_c)))
    rho_b = ssum(a_abs * rho_layer) / safeA
    bx, by, bz = rho_b * jnp.cos(phi_b), rho_b * jnp.sin(phi_b), rho_b * jnp.sinh(eta_b)
    cx, cy, cz = jnp.asarray(table.x), jnp.asarray(table.y), jnp.asarray(table.z)

    def dist_to(k):
        k = jnp.where(k >= 0, k, n)
        return jnp.sqrt((cx - bx[k]) ** 2 + (cy - by[k]) ** 2 + (cz - bz[k]) ** 2)

    e1, e2 = Ek[jnp.where(c1 >= 0, c1, n)], Ek[jnp.where(c2 >= 0, c2, n)]
    logit = (
        jnp.log(jnp.maximum(e1, 1e-30))
        - jnp.log(jnp.maximum(e2, 1e-30))
        - (dist_to(c1) - dist_to(c2)) / SHARE_LENGTH_MM
    )
    degenerate = jnp.where(e2 > 0, 0.0, jnp.where(e1 > 0, 1.0, 0.5))
    w_share = jnp.where((e1 > 0) & (e2 > 0), jax.nn.sigmoid(logit), degenerate)
    w1 = jnp.where(c2 >= 0, w_share, jnp.where(c1 >= 0, 1.0, 0.0)).astype(jnp.float32)

    # ---- 6. moments over both memberships ----
    C = max_clusters
    ids = jnp.concatenate([c1, c2])
    ws = jnp.concatenate([w1, 1.0 - w1])
    ids = jnp.where((ids >= 0) & (ids < C), ids, C)
    ws = jnp.where(ids < C, ws, 0.0)
    E2 = jnp.concatenate([E, E])
    a2 = ws * jnp.abs(E2)
    eta2, phi2 = jnp.concatenate([eta_c, eta_c]), jnp.concatenate([phi_c, phi_c])
    csum = lambda v: jnp.zeros(C + 1, jnp.float32).at[ids].add(v)[:C]
    energy = csum(ws * E2)
    A = csum(a2)
    safeA = jnp.where(A > 0, A, 1.0)
    eta_k = csum(a2 * eta2) / safeA
    phi_k = jnp.arctan2(csum(a2 * jnp.sin(phi2)), csum(a2 * jnp.cos(phi2)))
    rho_k = csum(a2 * jnp.concatenate([rho_layer, rho_layer])) / safeA
    eta_pad, phi_pad = jnp.append(eta_k, 0.0), jnp.append(phi_k, 0.0)
    deta = eta2 - eta_pad[ids]
    dphi = jnp.mod(phi2 - phi_pad[ids] + math.pi, 2 * math.pi) - math.pi
    sig_eta = jnp.sqrt(csum(a2 * deta**2) / safeA)
    sig_phi = jnp.sqrt(csum(a2 * dphi**2) / safeA)
    em = jnp.asarray([lay.electromagnetic for lay in geo.layers])[layer]
    em_energy = csum(ws * E2 * jnp.concatenate([em, em]))
    signal = csum(ws * jnp.concatenate([cells.signal, cells.signal]))
    member = (ids < C) & jnp.concatenate([c1 >= 0, c2 >= 0])
    n_cells = jnp.zeros(C + 1, jnp.int32).at[ids].add(member.astype(jnp.int32))[:C]
    mask = jnp.arange(C) < n_total
    zero = lambda v: jnp.where(mask, v, 0)
    return TopoClusters(
        energy=zero(energy),
        eta=zero(eta_k),
        phi=zero(phi_k),
        rho=zero(rho_k),
        sigma_eta=zero(sig_eta),
        sigma_phi=zero(sig_phi),
        em_energy=zero(em_energy),
        signal=zero(signal),
        n_cells=zero(n_cells),
        mask=mask,
        n_clusters=n_total,
        cell_cluster=c1.astype(jnp.int32),
        cell_cluster2=c2.astype(jnp.int32),
        cell_weight=w1,
        local_max=lm,
    )
