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
   ``lax.while_loop`` (on the core cells only, compacted into a fixed buffer of
   ``max_active`` cells, of which the loop runs on the smallest quarter, half or
   whole that holds them), then a lexicographic minimum scattered from the core
   cells to their ring neighbours.
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
unweighted estimate with a 0.05 floor); the significance is $E\cdot(1/\sigma)$
rounded to float32, so that the reference reproduces every order exactly. A
plain-Python version of the same algorithm is
:func:`hepjax.calo.reference_topoclusters`.

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
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._core import check_positive_int, concrete_value
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


def _check_thresholds(seed, grow, last, local_max_energy):
    """Static checks of the thresholds; traced thresholds (a scan under jit) are not checked."""
    values = {"seed": seed, "grow": grow, "last": last, "local_max_energy": local_max_energy}
    concrete = {}
    for name, v in values.items():
        if isinstance(v, bool):
            raise TypeError(f"{name} must be a number, got {v!r}")
        c = concrete_value(v)
        if c is None:
            continue
        if np.ndim(c) != 0 or not np.isfinite(c):
            raise ValueError(f"{name} must be a finite scalar, got {v!r}")
        concrete[name] = float(c)
    if {"seed", "grow", "last"} <= set(concrete) and not (
        concrete["seed"] >= concrete["grow"] >= concrete["last"]
    ):
        raise ValueError(f"need seed >= grow >= last, got seed={seed}, grow={grow}, last={last}")


def _padded(table: np.ndarray, fill: int) -> np.ndarray:
    """``table`` with one more row of ``fill`` (numpy, so it is a constant under jit)."""
    return np.concatenate([table, np.full((1, table.shape[1]), fill, table.dtype)])


def _min_over(values_pad, nb, valid, big):
    """Masked minimum over neighbours: ``min_k values_pad[nb[:, k]]`` where ``valid``."""
    return jnp.min(jnp.where(valid, values_pad[nb], big), axis=1)


def _buckets(size: int) -> tuple[int, ...]:
    """The buffer sizes the iterative steps may run on: a quarter, a half or all of ``size``
    (few sizes: every one is compiled)."""
    return tuple(sorted({max(1, size // k) for k in (4, 2, 1)}))


def _on_prefix(count, size: int, loop, arrays, nb):
    """Run ``loop(nb_S, *arrays_S) -> arrays_S`` on the first ``S`` slots of compacted
    buffers, ``S`` the smallest of :func:`_buckets` holding ``count`` real slots.

    The real slots come first (``jnp.nonzero`` keeps the order) and their neighbours
    are real slots or the sentinel ``size``, which becomes ``S``; the padding slots
    beyond ``S`` keep their values. One ``lax.switch`` over the sizes: the while loops
    cost in proportion to the cells there are, not to the buffer.
    """
    sizes = _buckets(size)

    def branch(S):
        def run(arrays, nb):
            out = loop(jnp.minimum(nb[:S], S), *(a[:S] for a in arrays))
            return tuple(jnp.concatenate([o, a[S:]]) for o, a in zip(out, arrays, strict=True))

        return run

    index = jnp.searchsorted(jnp.asarray(sizes, jnp.int32), count.astype(jnp.int32))
    return jax.lax.switch(jnp.minimum(index, len(sizes) - 1), [branch(S) for S in sizes],
                          tuple(arrays), nb)  # fmt: skip


def topoclusters(
    geo: CaloGeometry,
    cells: CellEnergies,
    seed: float | int | Float[ArrayLike, ""] = 4.6,
    grow: float | int | Float[ArrayLike, ""] = 2.0,
    last: float | int | Float[ArrayLike, ""] = 0.0,
    *,
    local_max_energy: float | int | Float[ArrayLike, ""] = 0.4,
    absolute: bool = False,
    split: bool = True,
    max_clusters: int = 1024,
    max_active: int = 16384,
) -> TopoClusters:
    """Topoclusters of one event (module docstring); ``jit``-able with ``geo`` static.

    Args:
        geo: the detector (static: its neighbour table is built once and cached).
        cells: the event's :class:`~hepjax.sim.calo.CellEnergies`.
        seed, grow, last: significance thresholds $t_\\text{seed} \\ge
            t_\\text{grow} \\ge t_\\text{last}$ (COCOA: 4.6, 2, 0); Python numbers
            or traced scalars (to scan thresholds without recompiling).
        local_max_energy: minimum energy of a local maximum, GeV (COCOA: 400 MeV).
        absolute: cluster on $|E|/\\sigma$ (negative cells too) instead of $E/\\sigma$.
        split: split clusters at their local maxima.
        max_clusters: size of the padded cluster arrays (and the most local
            maxima an event may have).
        max_active: the iterative steps run on compacted buffers of this many
            cells (the cells above the growth threshold; the cells of clusters to
            split); more such cells is a run-time error.
    """
    if not isinstance(geo, CaloGeometry):
        raise TypeError(f"geo must be a CaloGeometry, got {type(geo).__name__}")
    if not isinstance(cells, CellEnergies):
        raise TypeError(f"cells must be a CellEnergies, got {type(cells).__name__}")
    cells.check(geo)
    _check_thresholds(seed, grow, last, local_max_energy)
    max_clusters = check_positive_int("max_clusters", max_clusters)
    max_active = check_positive_int("max_active", max_active)
    if min(geo.noise) <= 0:
        raise ValueError(f"every layer needs noise > 0 for significances E/sigma, got {geo.noise}")
    nb_np, _ = neighbour_table(geo)
    n = geo.n_cells
    big = n  # "no label" / sentinel, larger than any rank or cell id
    table = geo.cells()
    E = cells.energy.astype(jnp.float32)
    E = eqx.error_if(E, jnp.any(~jnp.isfinite(E)), "topoclusters: cell energies must be finite")
    # E times the float32 constant 1/sigma: one correctly rounded product, so that the
    # plain-Python reference reproduces every significance (and every order) exactly
    inv_sigma = jnp.asarray(np.float32(1.0) / table.noise.astype(np.float32))
    s = jnp.abs(E) * inv_sigma if absolute else E * inv_sigma
    is_seed = s > seed
    is_core = s > grow
    is_ring = (s > last) & ~is_core
    pad_b = lambda x: jnp.concatenate([x, jnp.zeros(1, bool)])
    pad_i = lambda x, v: jnp.concatenate([x, jnp.full(1, v, x.dtype)])

    nb_pad = jnp.asarray(_padded(nb_np, n))
    M = min(n, max_active)
    m_idx = jnp.arange(M, dtype=jnp.int32)

    def compact(mask, what):
        """Ids ``(M,)`` of the cells in ``mask`` and their neighbours in compact indices."""
        too_many = jnp.sum(mask) > M
        ids = jnp.nonzero(mask, size=M, fill_value=n)[0].astype(jnp.int32)
        ids = eqx.error_if(
            ids, too_many, f"topoclusters: more than max_active={M} {what}; raise max_active"
        )
        g2c = jnp.full(n + 1, M, jnp.int32).at[ids].set(m_idx).at[n].set(M)
        return ids, g2c[nb_pad[ids]], g2c

    # ---- 1-2. components of core cells seeded by a seed, distances to the seeds ----
    # (on the core cells only, compacted to M slots)
    c_ids, c_nb, _ = compact(is_core, "cells above the growth threshold")
    c_real = c_ids < n
    c_s = jnp.where(c_real, pad_i(s, -jnp.inf)[c_ids], -jnp.inf)
    c_seed = pad_b(is_seed)[c_ids]
    c_order = jnp.argsort(jnp.where(c_seed, -c_s, jnp.inf), stable=True)
    c_rank = jnp.zeros(M, jnp.int32).at[c_order].set(m_idx)
    comp0 = jnp.where(c_seed, c_rank, big)
    dist0 = jnp.where(c_seed, 0, big)

    def grow(nb, comp, dist):
        ok = nb < comp.shape[0]

        def body(state):
            comp, dist, _ = state
            c_new = jnp.minimum(comp, _min_over(pad_i(comp, big), nb, ok, big))
            d_new = jnp.minimum(dist, _min_over(pad_i(dist, big), nb, ok, big) + 1)
            d_new = jnp.minimum(d_new, big)
            changed = jnp.any(c_new != comp) | jnp.any(d_new != dist)
            return c_new, d_new, changed

        return jax.lax.while_loop(lambda st: st[2], body, (comp, dist, jnp.array(True)))[:2]

    comp_c, dist_c = _on_prefix(jnp.sum(c_real), M, grow, (comp0, dist0), c_nb)
    cl_core_c = c_real & (comp_c < big)
    comp = jnp.full(n + 1, big, jnp.int32).at[c_ids].set(jnp.where(cl_core_c, comp_c, big))[:n]
    clustered_core = comp < big
    # a ring cell joins the cluster of its first clustered core neighbour in processing
    # order (generation, then descending significance, then id): a lexicographic minimum
    # scattered from the core cells to their neighbours, one key at a time
    c_gnb = jnp.where(cl_core_c[:, None], nb_pad[c_ids], n)
    pairs = c_gnb.shape
    best_d = jnp.full(n + 1, big, jnp.int32).at[c_gnb].min(jnp.broadcast_to(dist_c[:, None], pairs))
    on = (c_gnb < n) & (dist_c[:, None] == best_d[c_gnb])
    best_s = (
        jnp.full(n + 1, -jnp.inf, jnp.float32)
        .at[jnp.where(on, c_gnb, n)]
        .max(jnp.broadcast_to(c_s[:, None], pairs))
    )
    on = on & (c_s[:, None] == best_s[c_gnb])
    best_c = (
        jnp.full(n + 1, M, jnp.int32)
        .at[jnp.where(on, c_gnb, n)]
        .min(jnp.broadcast_to(m_idx[:, None], pairs))[:n]
    )
    ring_label = pad_i(comp_c, big)[best_c]
    label = jnp.where(clustered_core, comp, jnp.where(is_ring, ring_label, big))

    # ---- 3. drop clusters with net E <= 0; number the rest by seed rank ----
    # labels are seed ranks (< M): per-label sums on M + 1 slots, not on the cells
    lab_m = jnp.where(label < big, label, M)
    e_label = jnp.zeros(M + 1, jnp.float32).at[lab_m].add(jnp.where(label < big, E, 0.0))
    has = jnp.zeros(M + 1, bool).at[lab_m].set(True)
    keep = has[:M] & (e_label[:M] > 0)
    new_id = jnp.cumsum(keep.astype(jnp.int32)) - 1
    lab = jnp.where(label < big, label, 0)
    cl = jnp.where((label < big) & keep[lab], new_id[lab], -1)  # parent cluster per cell
    n_parent = jnp.sum(keep).astype(jnp.int32)

    # everything below runs on the clustered cells, compacted to M slots ("k" space)
    k_ids, k_nb, _ = compact(cl >= 0, "clustered cells")
    k_real = k_ids < n
    k_gnb = nb_pad[k_ids]
    cl_pad = pad_i(cl, -1)
    E_pad = pad_i(E, -jnp.inf)
    k_cl = cl_pad[k_ids]
    k_E = jnp.where(k_real, E_pad[k_ids], 0.0)
    layer_pad = pad_i(jnp.asarray(table.layer), -1)
    k_layer = layer_pad[k_ids]
    padk = lambda x, v: jnp.concatenate([x, jnp.full(1, v, x.dtype)])

    # ---- 4. local maxima ----
    higher_than_all = jnp.all(E_pad[k_gnb] < k_E[:, None], axis=1)  # padding is -inf
    n_clustered_nb = jnp.sum(cl_pad[k_gnb] >= 0, axis=1)
    lm_k = k_real & (k_E > local_max_energy) & higher_than_all & (n_clustered_nb >= 4)
    cont = jnp.asarray(_padded(containing_cell(geo), n))
    for m, lay_m in enumerate(geo.layers):
        if lay_m.electromagnetic:
            continue
        target = jnp.where(lm_k & (k_layer < m), cont[k_ids, m], n)
        covered = jnp.zeros(n + 1, bool).at[target].set(True)
        lm_k = lm_k & ~(covered[k_ids] & (k_layer == m))

    # ---- 5. splitting ----
    # the maxima, compacted to max_clusters slots (each is a cluster or alone in one)
    C = max_clusters
    c_idx = jnp.arange(C, dtype=jnp.int32)
    l_ids = jnp.nonzero(lm_k, size=C, fill_value=M)[0].astype(jnp.int32)
    l_ids = eqx.error_if(
        l_ids,
        jnp.sum(lm_k) > C,
        f"topoclusters: more than max_clusters={C} local maxima; raise max_clusters",
    )
    l_real = l_ids < M
    l_E = jnp.where(l_real, padk(k_E, 0.0)[l_ids], -jnp.inf)
    l_rank = jnp.zeros(C, jnp.int32).at[jnp.argsort(-l_E, stable=True)].set(c_idx)
    lm_rank_k = jnp.full(M + 1, big, jnp.int32).at[l_ids].set(l_rank)[:M]
    k_cl_safe = jnp.where(k_cl >= 0, k_cl, n)
    # parent cluster ids are below M (at most one per seed)
    n_lm = jnp.zeros(M + 1, jnp.int32).at[jnp.where(lm_k, jnp.minimum(k_cl_safe, M), M)].add(1)[:M]
    is_split = (n_lm >= 2) if split else jnp.zeros(M, bool)
    # ids of the final clusters: a split cluster takes n_lm ids, others one
    parent_width = jnp.where(m_idx < n_parent, jnp.where(is_split, n_lm, 1), 0)
    parent_base = jnp.cumsum(parent_width) - parent_width
    n_total = jnp.sum(parent_width).astype(jnp.int32)
    # position of each maximum within its cluster (by energy rank)
    l_cl = jnp.where(l_real, padk(k_cl_safe, n)[l_ids], n)
    srt = jnp.lexsort((l_rank, l_cl))
    srt_cl = l_cl[srt]
    pos_sorted = c_idx - jnp.searchsorted(srt_cl, srt_cl, side="left").astype(jnp.int32)
    pos = jnp.zeros(C, jnp.int32).at[srt].set(pos_sorted)
    # sub-cluster id of each maximum, indexed by the maximum's energy rank
    sub_of_rank = (
        jnp.full(C + 1, -1, jnp.int32)
        .at[jnp.where(l_real, l_rank, C)]
        .set(parent_base[jnp.clip(l_cl, 0, M - 1)] + pos)
    )
    in_split = k_real & is_split[jnp.clip(k_cl, 0, M - 1)]
    owner0 = jnp.where(in_split, lm_rank_k, big)
    int_max = jnp.iinfo(jnp.int32).max

    def split_and_spread(nb, owner, _shared, _first2, _second2, k_cl_s, in_split_s):
        S = owner.shape[0]
        s_idx = jnp.arange(S, dtype=jnp.int32)
        same_cl = (nb < S) & (pad_i(k_cl_s, -2)[nb] == k_cl_s[:, None])

        def split_body(state):
            owner, shared, first2, second2, share_step, step, _ = state
            o_pad = pad_i(owner, big)
            owned_nb = same_cl & (o_pad[nb] < big) & ~pad_b(shared)[nb]
            o_nb = jnp.where(owned_nb, o_pad[nb], big)
            best = jnp.min(o_nb, axis=1)
            second = jnp.min(jnp.where(o_nb != best[:, None], o_nb, big), axis=1)
            cand = in_split_s & (owner == big) & ~shared
            take = cand & (best < big) & (second == big)
            share = cand & (second < big)
            owner_n = jnp.where(take, best, owner)
            shared_n = shared | share
            first_n = jnp.where(share, best, first2)
            second_n = jnp.where(share, second, second2)
            step_n = jnp.where(share, step, share_step)
            return owner_n, shared_n, first_n, second_n, step_n, step + 1, jnp.any(take | share)

        none = jnp.full(S, big, jnp.int32)
        init = (owner, jnp.zeros(S, bool), none, none, none, jnp.array(0, jnp.int32),
                jnp.array(True))  # fmt: skip
        owner, shared, first2, second2, share_step, step, _ = jax.lax.while_loop(
            lambda st: st[-1], split_body, init
        )

        # cells cut off by shared cells become shared with the pair of a shared neighbour
        def spread_body(state):
            shared, first2, second2, share_step, step, _ = state
            key = jnp.where(shared, share_step * (S + 1) + s_idx, int_max)
            ok = same_cl & pad_b(shared)[nb]
            k_key = jnp.where(ok, pad_i(key, int_max)[nb], int_max)
            j = jnp.argmin(k_key, axis=1)
            src = jnp.take_along_axis(nb, j[:, None], axis=1)[:, 0]
            cand = in_split_s & (owner == big) & ~shared & jnp.any(ok, axis=1)
            first_n = jnp.where(cand, pad_i(first2, big)[src], first2)
            second_n = jnp.where(cand, pad_i(second2, big)[src], second2)
            step_n = jnp.where(cand, step, share_step)
            return shared | cand, first_n, second_n, step_n, step + 1, jnp.any(cand)

        shared, first2, second2, _, _, _ = jax.lax.while_loop(
            lambda st: st[-1],
            spread_body,
            (shared, first2, second2, share_step, step, jnp.array(True)),
        )
        return owner, shared, first2, second2, k_cl_s, in_split_s

    owner, shared, first2, second2, _, _ = _on_prefix(
        jnp.sum(k_real),
        M,
        split_and_spread,
        (owner0, jnp.zeros(M, bool), jnp.full(M, big, jnp.int32), jnp.full(M, big, jnp.int32),
         k_cl, in_split),
        k_nb,
    )  # fmt: skip

    # ---- cluster id and weight of every clustered cell ----
    c1 = jnp.where(
        in_split,
        sub_of_rank[jnp.minimum(jnp.where(shared, first2, owner), C)],
        jnp.where(k_real, parent_base[jnp.clip(k_cl, 0, M - 1)], -1),
    )
    c2 = jnp.where(in_split & shared, sub_of_rank[jnp.minimum(second2, C)], -1)
    k_rho_layer = pad_i(jnp.asarray(table.layer_rho), 0.0)[k_ids]
    k_eta = pad_i(jnp.asarray(table.eta), 0.0)[k_ids]
    k_phi = pad_i(jnp.asarray(table.phi), 0.0)[k_ids]
    a_abs = jnp.abs(k_E)
    # barycentres of the unshared parts (for the weights of shared cells)
    base_id = jnp.where((c1 >= 0) & (c1 < C) & ~shared, c1, C)
    ssum = lambda v: jnp.zeros(C + 1, jnp.float32).at[base_id].add(v)
    A = ssum(a_abs)
    Ek = ssum(k_E)
    safeA = jnp.where(A > 0, A, 1.0)
    eta_b = ssum(a_abs * k_eta) / safeA
    phi_b = jnp.arctan2(ssum(a_abs * jnp.sin(k_phi)), ssum(a_abs * jnp.cos(k_phi)))
    rho_b = ssum(a_abs * k_rho_layer) / safeA
    bx, by, bz = rho_b * jnp.cos(phi_b), rho_b * jnp.sin(phi_b), rho_b * jnp.sinh(eta_b)
    cx = pad_i(jnp.asarray(table.x), 0.0)[k_ids]
    cy = pad_i(jnp.asarray(table.y), 0.0)[k_ids]
    cz = pad_i(jnp.asarray(table.z), 0.0)[k_ids]

    def slot(k):
        return jnp.where((k >= 0) & (k < C), k, C)

    def dist_to(k):
        k = slot(k)
        return jnp.sqrt((cx - bx[k]) ** 2 + (cy - by[k]) ** 2 + (cz - bz[k]) ** 2)

    e1, e2 = Ek[slot(c1)], Ek[slot(c2)]
    logit = (
        jnp.log(jnp.maximum(e1, 1e-30))
        - jnp.log(jnp.maximum(e2, 1e-30))
        - (dist_to(c1) - dist_to(c2)) / SHARE_LENGTH_MM
    )
    degenerate = jnp.where(e2 > 0, 0.0, jnp.where(e1 > 0, 1.0, 0.5))
    w_share = jnp.where((e1 > 0) & (e2 > 0), jax.nn.sigmoid(logit), degenerate)
    w1 = jnp.where(c2 >= 0, w_share, jnp.where(c1 >= 0, 1.0, 0.0)).astype(jnp.float32)

    # ---- 6. moments over both memberships ----
    ids = jnp.concatenate([slot(c1), slot(c2)])
    ws = jnp.where(ids < C, jnp.concatenate([w1, 1.0 - w1]), 0.0)
    E2 = jnp.concatenate([k_E, k_E])
    a2 = ws * jnp.abs(E2)
    eta2, phi2 = jnp.concatenate([k_eta, k_eta]), jnp.concatenate([k_phi, k_phi])
    csum = lambda v: jnp.zeros(C + 1, jnp.float32).at[ids].add(v)[:C]
    energy = csum(ws * E2)
    A = csum(a2)
    safeA = jnp.where(A > 0, A, 1.0)
    eta_k = csum(a2 * eta2) / safeA
    phi_k = jnp.arctan2(csum(a2 * jnp.sin(phi2)), csum(a2 * jnp.cos(phi2)))
    rho_k = csum(a2 * jnp.concatenate([k_rho_layer, k_rho_layer])) / safeA
    eta_pad, phi_pad = jnp.append(eta_k, 0.0), jnp.append(phi_k, 0.0)
    deta = eta2 - eta_pad[ids]
    dphi = jnp.mod(phi2 - phi_pad[ids] + math.pi, 2 * math.pi) - math.pi
    sig_eta = jnp.sqrt(csum(a2 * deta**2) / safeA)
    sig_phi = jnp.sqrt(csum(a2 * dphi**2) / safeA)
    em_layer = jnp.asarray([lay.electromagnetic for lay in geo.layers] + [False])
    k_em = em_layer[k_layer]
    em_energy = csum(ws * E2 * jnp.concatenate([k_em, k_em]))
    k_sig = jnp.where(k_real, pad_i(cells.signal.astype(jnp.float32), 0.0)[k_ids], 0.0)
    signal = csum(ws * jnp.concatenate([k_sig, k_sig]))
    member = (ids < C) & jnp.concatenate([c1 >= 0, c2 >= 0])
    n_cells = jnp.zeros(C + 1, jnp.int32).at[ids].add(member.astype(jnp.int32))[:C]
    mask = jnp.arange(C) < n_total
    zero = lambda v: jnp.where(mask, v, 0)
    to_cells = lambda x, v: jnp.full(n + 1, v, x.dtype).at[k_ids].set(x)[:n]
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
        cell_cluster=to_cells(c1.astype(jnp.int32), -1),
        cell_cluster2=to_cells(c2.astype(jnp.int32), -1),
        cell_weight=to_cells(w1, 0.0),
        local_max=to_cells(lm_k, False),
    )
