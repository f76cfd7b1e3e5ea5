r"""Track candidates from a scored hit graph: connected components or a walkthrough.

Edges scoring above ``threshold`` are kept. :class:`ConnectedComponents` returns
the connected components of the kept edges (scipy's ``connected_components`` on
the undirected graph), as in the Exa.TrkX pipeline (Ju et al., arXiv:2103.16701).
Where tracks cross, a component can merge two tracks; :class:`Walkthrough` (the
default) therefore first resolves every junction greedily: going through the kept edges
from the highest score down, an edge is accepted when its inner hit has no
accepted outgoing edge and its outer hit no accepted incoming edge yet. Every
hit then has at most one edge inwards and one outwards, so the components are
simple inner-to-outer chains (a greedy form of the walkthrough of the ATLAS
GNN4ITk pipeline). Components with fewer than ``min_hits`` hits are dropped.
"""

from typing import Any

import equinox as eqx
import numpy as np

from .._core import check_positive_int
from ._gnn_graph import HitGraph


class ConnectedComponents(eqx.Module):
    """Candidates are the connected components of the kept edges (Exa.TrkX)."""


class Walkthrough(eqx.Module):
    """Resolve junctions greedily by score first, then take the components (GNN4ITk-like)."""


def _greedy_chains(senders: np.ndarray, receivers: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Accept edges by decreasing score, at most one outgoing and one incoming per hit."""
    order = np.argsort(-score, kind="stable")
    has_out, has_in = set(), set()
    accepted = np.zeros(score.size, bool)
    for k in order.tolist():
        a, b = int(senders[k]), int(receivers[k])
        if a in has_out or b in has_in:
            continue
        has_out.add(a)
        has_in.add(b)
        accepted[k] = True
    return accepted


def track_candidates(
    graph: HitGraph,
    scores: Any,
    *,
    threshold: float = 0.5,
    method: ConnectedComponents | Walkthrough = Walkthrough(),
    min_hits: int = 3,
) -> list[np.ndarray]:
    """Group the hits of one scored graph into track candidates.

    Args:
        graph: one (unbatched) :class:`HitGraph`.
        scores: ``(E,)`` edge probabilities (e.g. :func:`edge_scores`), or
            truth labels for the ideal candidates of the graph.
        threshold: keep edges with a score above it.
        method: :class:`Walkthrough` (junctions resolved, the default) or
            :class:`ConnectedComponents`.
        min_hits: drop candidates with fewer hits.

    Returns:
        A list of ``int64`` arrays of hit ids, one per candidate, each ordered
        from the inner to the outer layers (by node feature $r$); candidates are
        sorted by decreasing size.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not isinstance(graph, HitGraph):
        raise TypeError(f"graph must be a HitGraph, got {type(graph).__name__}")
    if np.ndim(graph.edge_mask) != 1:
        raise ValueError("track_candidates takes one graph (no batch axis)")
    if not isinstance(method, ConnectedComponents | Walkthrough):
        raise TypeError(
            f"method must be Walkthrough() or ConnectedComponents(), got {type(method).__name__}"
        )
    min_hits = check_positive_int("min_hits", min_hits)
    scores = np.asarray(scores, np.float64)
    mask = np.asarray(graph.edge_mask)
    if scores.shape != mask.shape:
        raise ValueError(f"scores must have shape {mask.shape}, got {scores.shape}")
    if not np.isfinite(scores[mask]).all():
        raise ValueError("scores must be finite on the real edges")
    s, r = np.asarray(graph.senders), np.asarray(graph.receivers)
    keep = mask & (scores > threshold)
    if isinstance(method, Walkthrough):
        idx = np.flatnonzero(keep)
        ok = _greedy_chains(s[idx], r[idx], scores[idx])
        keep = np.zeros_like(keep)
        keep[idx[ok]] = True
    n = graph.nodes.shape[0]
    adj = coo_matrix((np.ones(int(keep.sum())), (s[keep], r[keep])), shape=(n, n))
    _, label = connected_components(adj, directed=False)
    node_mask = np.asarray(graph.node_mask)
    label = np.where(node_mask, label, -1)
    radius = np.asarray(graph.nodes)[:, 0]
    hit_id = np.asarray(graph.hit_id).astype(np.int64)
    nodes = np.flatnonzero(node_mask)
    order = nodes[np.lexsort((radius[nodes], label[nodes]))]
    lab = label[order]
    start = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]]) if order.size else np.zeros(0, int)
    size = np.diff(np.r_[start, order.size])
    out = [hit_id[order[a : a + m]] for a, m in zip(start, size, strict=True) if m >= min_hits]
    out.sort(key=len, reverse=True)
    return out
