r"""Padded hit graphs of the pixel space points, built with a module map.

**Graphs** are padded to a fixed size so that one compiled classifier serves
every event: a :class:`HitGraph` carries the node feature $r/s_r$, directed
inner-to-outer edges with features $(\Delta r/100, 10\,\Delta\phi,
\Delta z/100, \Delta z/\Delta r, 10^3\,\Delta\phi/\Delta r,
10\,\bar r\,\Delta\phi/\Delta r)$ (mm, rad; after Ju et al.,
arXiv:2103.16701), boolean masks for the real nodes and edges, and truth
labels: an edge is *true* when both hits belong to the same particle and are
consecutive on it. The features are invariant under rotations about the beam
and translations along it: with absolute $z$ (or $\phi$) the classifier
learns the vertex positions of the few training events, and its loss on
events with other vertices is several times larger.

The module map (:func:`hepjax.tracking.build_module_map`) decides which hit
pairs become edges.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ._module_map import ModuleMap, _doublet, _Hits, _select_hits, _true_segments

_A = Array | np.ndarray  # host arrays from build_graph, device arrays under jit

NODE_FEATURES = 1
EDGE_FEATURES = 6


# -- graphs --------------------------------------------------------------------------


class HitGraph(eqx.Module):
    """A padded, directed hit graph of one event (leading batch axes when stacked).

    Attributes:
        nodes: ``(N, 1)`` node feature $r/s_r$.
        node_mask: ``(N,)`` real nodes.
        senders: ``(E,)`` inner hit of each edge (index into the nodes).
        receivers: ``(E,)`` outer hit of each edge.
        edges: ``(E, 6)`` edge features (see the module docstring).
        edge_mask: ``(E,)`` real edges.
        labels: ``(E,)`` true edges (``False`` on padding, or without truth).
        hit_id: ``(N,)`` TrackML hit ids (-1 on padding).
        n_true: ``()`` true segments in the event, in the graph or not (the
            denominator of the graph-construction efficiency; -1 without truth).
    """

    nodes: Float[_A, "*b n 1"]
    node_mask: Bool[_A, "*b n"]
    senders: Int[_A, "*b e"]
    receivers: Int[_A, "*b e"]
    edges: Float[_A, "*b e 6"]
    edge_mask: Bool[_A, "*b e"]
    labels: Bool[_A, "*b e"]
    hit_id: Int[_A, "*b n"]
    n_true: Int[_A, "*b"]

    @property
    def n_nodes(self) -> int:
        """Padded number of nodes."""
        return int(self.node_mask.shape[-1])

    @property
    def n_edges(self) -> int:
        """Padded number of edges."""
        return int(self.edge_mask.shape[-1])


def _all_pairs(h: _Hits, module_map: ModuleMap) -> tuple[np.ndarray, np.ndarray]:
    """Every (hit in A, hit in B) for the map's pairs (A, B) present in the event."""
    if h.hit_id.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(h.module, kind="stable")
    mods, start, count = np.unique(h.module[order], return_index=True, return_counts=True)

    def find(keys):
        pos = np.clip(np.searchsorted(mods, keys), 0, mods.size - 1)
        return pos, mods[pos] == keys

    ia, fa = find(module_map.pairs[:, 0])
    ib, fb = find(module_map.pairs[:, 1])
    ok = fa & fb
    ia, ib = ia[ok], ib[ok]
    na, nb = count[ia], count[ib]
    per = na * nb
    total = int(per.sum())
    pair_of = np.repeat(np.arange(per.size), per)
    local = np.arange(total) - np.repeat(np.cumsum(per) - per, per)
    a = local // nb[pair_of]
    b = local % nb[pair_of]
    return order[start[ia][pair_of] + a], order[start[ib][pair_of] + b]


def _apply_cuts(h, i, j, module_map: ModuleMap):
    d = _doublet(h, i, j)
    if module_map.cut_layers.shape[0] == 0 or i.size == 0:
        return np.ones(i.size, bool), d
    cl = module_map.cut_layers
    keep = np.zeros(i.size, bool)  # layer pairs never seen in training are cut
    la, lb = h.layer[i], h.layer[j]
    for c, (a, b) in enumerate(cl):
        sel = (la == a) & (lb == b)
        if not sel.any():
            continue
        z0, sl = d["z0"][sel], d["phi_slope"][sel]
        zr, sr = module_map.z0_range[c], module_map.phi_slope_range[c]
        keep[sel] = (z0 >= zr[0]) & (z0 <= zr[1]) & (sl >= sr[0]) & (sl <= sr[1])
    return keep, d


def _round_up(n: int, multiple: int) -> int:
    return max(multiple, -(-n // multiple) * multiple)


def build_graph(
    event: Any,
    module_map: ModuleMap,
    *,
    n_nodes: int | None = None,
    n_edges: int | None = None,
    truth: bool = True,
) -> HitGraph:
    """Build the padded hit graph of one event with a module map.

    Args:
        event: a TrackML event (``hits``, and ``truth`` when ``truth=True``).
        module_map: from :func:`build_module_map`.
        n_nodes: padded number of nodes (default: rounded up to a multiple of
            256, so that similar events share a compiled classifier).
        n_edges: padded number of edges (default: rounded up to a multiple of
            1024). A ``ValueError`` if the event does not fit.
        truth: compute the edge labels from ``event.truth`` (a ``ValueError``
            if hits and truth do not match); ``False`` for data without truth.

    Returns:
        A :class:`HitGraph` (host NumPy arrays; pass it to jitted functions as is).
    """
    if not isinstance(module_map, ModuleMap):
        raise TypeError(f"module_map must be a ModuleMap, got {type(module_map).__name__}")
    h = _select_hits(event, module_map.volumes, need_truth=truth)
    i, j = _all_pairs(h, module_map)
    keep, d = _apply_cuts(h, i, j, module_map)
    i, j = i[keep], j[keep]
    feats = np.stack(
        [
            d["dr"][keep] / 100.0,
            10.0 * d["dphi"][keep],
            d["dz"][keep] / 100.0,
            d["z_slope"][keep],
            1e3 * d["phi_slope"][keep],
            10.0 * d["rphi_slope"][keep],
        ],
        -1,
    ).reshape(-1, EDGE_FEATURES)
    n, e = h.hit_id.size, i.size
    if truth:
        ti, tj = _true_segments(h)
        true_codes = np.sort(ti * max(n, 1) + tj)
        codes = i * max(n, 1) + j
        pos = np.clip(np.searchsorted(true_codes, codes), 0, max(true_codes.size - 1, 0))
        labels = true_codes[pos] == codes if true_codes.size else np.zeros(e, bool)
        n_true = ti.size
    else:
        labels, n_true = np.zeros(e, bool), -1
    n_nodes = _round_up(n, 256) if n_nodes is None else n_nodes
    n_edges = _round_up(e, 1024) if n_edges is None else n_edges
    if n > n_nodes or e > n_edges:
        raise ValueError(
            f"the event's graph has {n} nodes and {e} edges, more than n_nodes={n_nodes} or "
            f"n_edges={n_edges}"
        )
    nodes = np.zeros((n_nodes, NODE_FEATURES), np.float32)
    nodes[:n] = np.stack([h.r / module_map.r_scale], -1)
    return HitGraph(
        nodes=nodes,
        node_mask=np.arange(n_nodes) < n,
        senders=np.pad(i, (0, n_edges - e)).astype(np.int32),
        receivers=np.pad(j, (0, n_edges - e)).astype(np.int32),
        edges=np.pad(feats, ((0, n_edges - e), (0, 0))).astype(np.float32),
        edge_mask=np.arange(n_edges) < e,
        labels=np.pad(labels, (0, n_edges - e)),
        hit_id=np.pad(h.hit_id, (0, n_nodes - n), constant_values=-1).astype(np.int32),
        n_true=np.asarray(n_true, np.int32),
    )


def pad_graph(graph: HitGraph, n_nodes: int, n_edges: int) -> HitGraph:
    """Re-pad a single graph to ``n_nodes`` nodes and ``n_edges`` edges.

    Args:
        graph: one :class:`HitGraph`.
        n_nodes: the padded number of nodes (at least the graph's real nodes).
        n_edges: the padded number of edges (at least the graph's real edges).
    """
    n, e = int(np.sum(graph.node_mask)), int(np.sum(graph.edge_mask))
    if graph.node_mask.ndim != 1:
        raise ValueError("pad_graph takes one graph (no batch axis)")
    if n > n_nodes or e > n_edges:
        raise ValueError(
            f"cannot pad a graph of {n} nodes and {e} edges to n_nodes={n_nodes}, n_edges={n_edges}"
        )

    def fit(x, size, fill=0):
        x = np.asarray(x)
        x = x[:size] if x.shape[0] >= size else x
        pad = [(0, size - x.shape[0])] + [(0, 0)] * (x.ndim - 1)
        return np.pad(x, pad, constant_values=fill)

    return HitGraph(
        nodes=fit(graph.nodes, n_nodes),
        node_mask=fit(graph.node_mask, n_nodes, False),
        senders=fit(graph.senders, n_edges),
        receivers=fit(graph.receivers, n_edges),
        edges=fit(graph.edges, n_edges),
        edge_mask=fit(graph.edge_mask, n_edges, False),
        labels=fit(graph.labels, n_edges, False),
        hit_id=fit(graph.hit_id, n_nodes, -1),
        n_true=np.asarray(graph.n_true),
    )


def stack_graphs(graphs: Sequence[HitGraph]) -> HitGraph:
    """Pad graphs to a common size and stack them along a leading batch axis."""
    if not graphs:
        raise ValueError("graphs must be a non-empty sequence of HitGraph")
    n = max(int(np.sum(g.node_mask)) for g in graphs)
    e = max(int(np.sum(g.edge_mask)) for g in graphs)
    n, e = _round_up(n, 64), _round_up(e, 256)
    padded = [pad_graph(g, n, e) for g in graphs]
    return HitGraph(
        *(np.stack([getattr(g, f.name) for g in padded]) for f in dataclasses.fields(HitGraph))
    )


def graph_metrics(graph: HitGraph) -> dict[str, float]:
    """Graph-construction efficiency (true segments in the graph / all) and purity."""
    mask = np.asarray(graph.edge_mask)
    n_true_in = int(np.sum(np.asarray(graph.labels) & mask))
    n_true = int(np.sum(graph.n_true))
    n_edges = int(np.sum(mask))
    return {
        "efficiency": n_true_in / n_true if n_true > 0 else float("nan"),
        "purity": n_true_in / n_edges if n_edges else float("nan"),
        "n_edges": n_edges,
        "n_true": n_true,
    }
