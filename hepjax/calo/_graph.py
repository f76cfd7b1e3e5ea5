r"""COCOA's kNN cell graph over the clustered cells, padded for :mod:`hepjax.nn`.

The nodes are the cells in topoclusters (``cell_cluster >= 0``), in cell-id
order. For every node $i$ in layer $l$ (COCOA's ``GraphConstructor``, defaults of
``config_default.json``):

* up to $k^\text{same}_l$ (8, 8, 8, 6, 6, 6) nearest nodes of the same layer, and
* up to $k^\text{inter}_l$ (1, 2, 2, 2, 2, 1) nearest nodes of the layers at most
  ``max_layer_sep`` (1) away, counted together,

among nodes with $\Delta R = \sqrt{\Delta\eta^2 + \Delta\phi^2} \le \Delta R^\max_l$
(0.05, 0.07, 0.14, 0.30, 0.30, 0.60) from it; each gives an edge $j \to i$
(``senders`` $j$, ``receivers`` $i$, as COCOA's ``cell_to_cell_edge_start/end``).
Ties in $\Delta R$ keep the lower node index (COCOA's priority queue does the same).

Optionally, tracks extrapolated to every layer, ``(T, L, 2)`` of $(\eta, \phi)$,
get edges to up to ``k_track`` (4, 4, 4, 3, 3, 3) nearest nodes of each layer
within ``max_dr_track`` (0.15, 0.15, 0.4, 1.1, 1.1, 2.0).

The result pads nodes to ``max_nodes`` and edges to ``max_nodes`` times the
largest $k^\text{same} + k^\text{inter}$, with masks, so
``InteractionNetwork(...)(g.nodes, g.edges, g.senders, g.receivers,
node_mask=g.node_mask, edge_mask=g.edge_mask)`` runs on it directly. The
pairwise $\Delta R$ is dense, $O(\text{max\_nodes}^2)$ memory.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._core import check_positive_int
from ..sim.calo import CaloGeometry, CellEnergies
from ._topo import TopoClusters

__all__ = ["CellGraph", "cell_graph"]

COCOA_SAME_LAYER_K = (8, 8, 8, 6, 6, 6)
COCOA_INTER_LAYER_K = (1, 2, 2, 2, 2, 1)
COCOA_MAX_DR = (0.05, 0.07, 0.14, 0.30, 0.30, 0.60)
COCOA_TRACK_K = (4, 4, 4, 3, 3, 3)
COCOA_TRACK_DR = (0.15, 0.15, 0.4, 1.10, 1.10, 2.00)

#: node features, in this order
NODE_FEATURES = ("energy", "significance", "eta", "phi", "rho", "layer")
#: edge features, in this order
EDGE_FEATURES = ("delta_r", "delta_eta", "delta_phi")


class CellGraph(eqx.Module):
    """A padded directed graph over the clustered cells of one event.

    Attributes:
        nodes: ``(N, 6)`` features :data:`NODE_FEATURES` (energy in GeV,
            $E/\\sigma$, $\\eta$, $\\phi$, $\\rho$ in m, layer index).
        cell: ``(N,)`` the cell id of each node (``n_cells`` on padding).
        cluster: ``(N,)`` the node's topocluster ($-1$ on padding).
        node_mask: ``(N,)`` real nodes.
        n_nodes: clustered cells found (more than ``N`` means some were cut).
        edges: ``(E, 3)`` features :data:`EDGE_FEATURES` ($\\Delta$ = receiver − sender).
        senders, receivers: ``(E,)`` node indices of each edge $j \\to i$.
        edge_mask: ``(E,)`` real edges.
        track_senders, track_receivers, track_edge_mask: ``(T L k,)`` track-to-node
            edges (track index, node index); empty without tracks.
    """

    nodes: Float[Array, "n 6"]
    cell: Int[Array, " n"]
    cluster: Int[Array, " n"]
    node_mask: Bool[Array, " n"]
    n_nodes: Int[Array, ""]
    edges: Float[Array, "e 3"]
    senders: Int[Array, " e"]
    receivers: Int[Array, " e"]
    edge_mask: Bool[Array, " e"]
    track_senders: Int[Array, " t"]
    track_receivers: Int[Array, " t"]
    track_edge_mask: Bool[Array, " t"]


def _per_layer(name, value, default, n_layers, kind):
    if value is None:
        if n_layers != len(default):
            raise ValueError(
                f"{name} must be given for a geometry with {n_layers} layers "
                f"(COCOA's default has {len(default)})"
            )
        value = default
    value = tuple(value)
    if len(value) != n_layers:
        raise ValueError(f"{name} must have one entry per layer ({n_layers}), got {len(value)}")
    for v in value:
        if kind is int and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{name} must hold integers >= 0, got {value}")
        if kind is float and not (isinstance(v, int | float) and v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} must hold finite numbers >= 0, got {value}")
    return value


def _delta_phi(a, b):
    return jnp.mod(a - b + math.pi, 2 * math.pi) - math.pi


def _knn(dr, allowed, k_max, k_row):
    """Top-``k_row`` smallest ``dr`` per row among ``allowed`` (static ``k_max``)."""
    if k_max == 0:
        rows = dr.shape[0]
        return jnp.zeros((rows, 0), jnp.int32), jnp.zeros((rows, 0), bool)
    score = jnp.where(allowed, -dr, -jnp.inf)
    vals, idx = jax.lax.top_k(score, k_max)
    ok = jnp.isfinite(vals) & (jnp.arange(k_max)[None, :] < k_row[:, None])
    return idx.astype(jnp.int32), ok


def cell_graph(
    geo: CaloGeometry,
    cells: CellEnergies,
    clusters: TopoClusters,
    *,
    max_nodes: int = 4096,
    same_layer_k=None,
    inter_layer_k=None,
    max_dr=None,
    max_layer_sep: int = 1,
    tracks: Float[ArrayLike, "t l 2"] | None = None,
    track_mask: Bool[ArrayLike, " t"] | None = None,
    track_k=None,
    track_max_dr=None,
) -> CellGraph:
    """The kNN graph of the clustered cells (module docstring); ``jit``-able with ``geo`` static.

    Args:
        geo: the detector.
        cells: the event's cell energies.
        clusters: its :class:`~hepjax.calo.TopoClusters` (the nodes are the
            cells with ``cell_cluster >= 0``).
        max_nodes: node padding $N$.
        same_layer_k, inter_layer_k, max_dr: per-layer limits (COCOA's by default).
        max_layer_sep: largest layer distance of an inter-layer edge.
        tracks: optional ``(T, L, 2)`` $(\\eta, \\phi)$ of tracks extrapolated to each layer.
        track_mask: ``(T,)`` real tracks (default: all).
        track_k, track_max_dr: per-layer limits of track-to-cell edges (COCOA's by default).
    """
    if not isinstance(geo, CaloGeometry):
        raise TypeError(f"geo must be a CaloGeometry, got {type(geo).__name__}")
    cells.check(geo)
    if not isinstance(clusters, TopoClusters):
        raise TypeError(f"clusters must be TopoClusters, got {type(clusters).__name__}")
    if clusters.cell_cluster.shape != (geo.n_cells,):
        raise ValueError(
            f"clusters.cell_cluster must have shape ({geo.n_cells},), "
            f"got {clusters.cell_cluster.shape}"
        )
    max_nodes = check_positive_int("max_nodes", max_nodes)
    L = geo.n_layers
    ks = _per_layer("same_layer_k", same_layer_k, COCOA_SAME_LAYER_K, L, int)
    ki = _per_layer("inter_layer_k", inter_layer_k, COCOA_INTER_LAYER_K, L, int)
    drs = _per_layer("max_dr", max_dr, COCOA_MAX_DR, L, float)
    n = geo.n_cells
    t = geo.cells()
    clustered = clusters.cell_cluster >= 0
    (cell,) = jnp.nonzero(clustered, size=max_nodes, fill_value=n)
    cell = cell.astype(jnp.int32)
    node_mask = cell < n
    safe = jnp.minimum(cell, n - 1)
    eta = jnp.asarray(t.eta)[safe]
    phi = jnp.asarray(t.phi)[safe]
    layer = jnp.asarray(t.layer)[safe]
    energy = cells.energy[safe]
    sig = energy / jnp.asarray(t.noise)[safe]
    rho = jnp.asarray(t.rho)[safe] / 1000.0
    nodes = jnp.stack([energy, sig, eta, phi, rho, layer.astype(jnp.float32)], axis=1)
    nodes = jnp.where(node_mask[:, None], nodes, 0.0)
    cluster = jnp.where(node_mask, clusters.cell_cluster[safe], -1)

    deta = eta[:, None] - eta[None, :]  # receiver i (row) minus sender j (column)
    dphi = _delta_phi(phi[:, None], phi[None, :])
    dr = jnp.sqrt(deta**2 + dphi**2)
    pair = node_mask[:, None] & node_mask[None, :] & ~jnp.eye(max_nodes, dtype=bool)
    within = pair & (dr <= jnp.asarray(drs, jnp.float32)[layer][:, None])
    dl = jnp.abs(layer[:, None] - layer[None, :])
    same_idx, same_ok = _knn(dr, within & (dl == 0), max(ks), jnp.asarray(ks)[layer])
    int_idx, int_ok = _knn(
        dr, within & (dl > 0) & (dl <= max_layer_sep), max(ki), jnp.asarray(ki)[layer]
    )
    nbr = jnp.concatenate([same_idx, int_idx], axis=1)
    ok = jnp.concatenate([same_ok, int_ok], axis=1)
    receivers = jnp.broadcast_to(jnp.arange(max_nodes, dtype=jnp.int32)[:, None], nbr.shape)
    senders, receivers, edge_mask = nbr.reshape(-1), receivers.reshape(-1), ok.reshape(-1)
    edges = jnp.stack(
        [dr[receivers, senders], deta[receivers, senders], dphi[receivers, senders]], axis=1
    )
    edges = jnp.where(edge_mask[:, None], edges, 0.0)
    senders = jnp.where(edge_mask, senders, 0)
    receivers = jnp.where(edge_mask, receivers, 0)

    if tracks is None:
        empty_i = jnp.zeros(0, jnp.int32)
        tr_s, tr_r, tr_m = empty_i, empty_i, jnp.zeros(0, bool)
    else:
        tracks = jnp.asarray(tracks, jnp.float32)
        if tracks.ndim != 3 or tracks.shape[1:] != (L, 2):
            raise ValueError(f"tracks must have shape (T, {L}, 2), got {tracks.shape}")
        T = tracks.shape[0]
        tmask = jnp.ones(T, bool) if track_mask is None else jnp.asarray(track_mask, bool)
        if tmask.shape != (T,):
            raise ValueError(f"track_mask must have shape ({T},), got {tmask.shape}")
        tk = _per_layer("track_k", track_k, COCOA_TRACK_K, L, int)
        tdr = _per_layer("track_max_dr", track_max_dr, COCOA_TRACK_DR, L, float)
        s_list, r_list, m_list = [], [], []
        for lay in range(L):
            te, tp = tracks[:, lay, 0], tracks[:, lay, 1]
            d = jnp.sqrt(
                (te[:, None] - eta[None, :]) ** 2 + _delta_phi(tp[:, None], phi[None, :]) ** 2
            )
            allowed = (
                tmask[:, None] & node_mask[None, :] & (layer[None, :] == lay) & (d <= tdr[lay])
            )
            idx, okk = _knn(d, allowed, tk[lay], jnp.full(T, tk[lay]))
            s_list.append(jnp.broadcast_to(jnp.arange(T, dtype=jnp.int32)[:, None], idx.shape))
            r_list.append(idx)
            m_list.append(okk)
        tr_s = jnp.concatenate([x.reshape(-1) for x in s_list])
        tr_r = jnp.concatenate([x.reshape(-1) for x in r_list])
        tr_m = jnp.concatenate([x.reshape(-1) for x in m_list])
        tr_s, tr_r = jnp.where(tr_m, tr_s, 0), jnp.where(tr_m, tr_r, 0)

    return CellGraph(
        nodes=nodes,
        cell=cell,
        cluster=cluster,
        node_mask=node_mask,
        n_nodes=jnp.sum(clustered).astype(jnp.int32),
        edges=edges,
        senders=senders,
        receivers=receivers,
        edge_mask=edge_mask,
        track_senders=tr_s,
        track_receivers=tr_r,
        track_edge_mask=tr_m,
    )
