r"""Hit graphs of the pixel space points, built with a module map learned from truth.

**Module map** (ATLAS ITk GNN4ITk, Biscarat et al., EPJ Web Conf. 251 (2021)
03047; used by the GNN + CKF combination, arXiv:2401.16016). In training
events, the hits of each particle on the selected layers are ordered by their
transverse radius $r$, and every pair of consecutive hits gives a connection
(module $A$ on the inner layer, module $B$ on the outer one; a missed layer
gives a skip connection). The map is the set of pairs seen. In a new event,
every hit of module $A$ is connected to every hit of each module $B$ paired
with $A$. Optional *doublet cuts*, the ranges over the true segments of each
layer pair (widened by a margin) of the longitudinal impact parameter
$z_0 = z_A - r_A\,\Delta z/\Delta r$ and of the azimuthal slope
$\Delta\phi/\Delta r$ (which bounds the curvature), remove most fake edges;
the bounds are symmetric, $|z_0| \le z_{0,\max}$ and
$|\Delta\phi/\Delta r| \le s_{\max}$, the largest true values times
$1 + $ ``cut_margin``.

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
"""

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, Bool, Float, Int

_A = Array | np.ndarray  # host arrays from build_graph, device arrays under jit

PIXEL_VOLUME = 8  # TrackML pixel-barrel volume id (as in hepjax.sim.tracker)

_LAYER_SHIFT = 20
_VOLUME_SHIFT = 32

NODE_FEATURES = 1
EDGE_FEATURES = 6


# -- event tables --------------------------------------------------------------------


def _part(event: Any, name: str) -> Any:
    if isinstance(event, Mapping):
        if name not in event:
            raise ValueError(f"event must have a {name!r} table, got keys {sorted(event)}")
        return event[name]
    if not hasattr(event, name):
        raise ValueError(f"event must have a {name!r} table (a mapping or an Event)")
    return getattr(event, name)


def _col(table: Any, name: str, part: str) -> np.ndarray:
    try:
        col = np.asarray(table[name])
    except (KeyError, ValueError, IndexError, TypeError) as err:
        raise ValueError(f"event {part} must have a column {name!r}") from err
    if col.ndim != 1:
        raise ValueError(f"event {part}[{name!r}] must be one-dimensional, got shape {col.shape}")
    return col


@dataclasses.dataclass(frozen=True)
class _Hits:
    """The selected hits of one event, with their truth particle."""

    hit_id: np.ndarray
    r: np.ndarray
    phi: np.ndarray
    z: np.ndarray
    layer: np.ndarray  # (volume, layer) key
    module: np.ndarray  # (volume, layer, module) key
    particle_id: np.ndarray


def _module_key(volume, layer, module) -> np.ndarray:
    volume, layer, module = (np.asarray(a, np.int64) for a in (volume, layer, module))
    if (module < 0).any() or (module >= 1 << _LAYER_SHIFT).any():
        raise ValueError(f"module_id must be in [0, {1 << _LAYER_SHIFT}), got {module.max()}")
    if (layer < 0).any() or (layer >= 1 << (_VOLUME_SHIFT - _LAYER_SHIFT)).any():
        raise ValueError("layer_id must be in [0, 4096)")
    return (volume << _VOLUME_SHIFT) | (layer << _LAYER_SHIFT) | module


def _select_hits(event: Any, volumes: tuple[int, ...], *, need_truth: bool) -> _Hits:
    hits = _part(event, "hits")
    cols = {n: _col(hits, n, "hits") for n in ("hit_id", "x", "y", "z", "volume_id", "layer_id")}
    cols["module_id"] = _col(hits, "module_id", "hits")
    sizes = {c.size for c in cols.values()}
    if len(sizes) != 1:
        raise ValueError(f"event hits columns must have equal lengths, got {sorted(sizes)}")
    xyz = np.stack([cols["x"], cols["y"], cols["z"]], -1).astype(np.float64)
    keep = np.isin(cols["volume_id"], volumes)
    if not np.isfinite(xyz[keep]).all():
        bad = cols["hit_id"][keep][~np.isfinite(xyz[keep]).all(-1)]
        raise ValueError(f"event hits have NaN or infinite coordinates (hit_id {bad[:5].tolist()})")
    hit_id = cols["hit_id"].astype(np.int64)
    if np.unique(hit_id).size != hit_id.size:
        raise ValueError("event hits['hit_id'] must be unique")
    pid = np.zeros(hit_id.size, np.int64)
    if need_truth:
        truth = _part(event, "truth")
        t_id = _col(truth, "hit_id", "truth").astype(np.int64)
        t_pid = _col(truth, "particle_id", "truth").astype(np.int64)
        if t_id.size != hit_id.size or t_pid.size != t_id.size:
            raise ValueError(
                f"event hits and truth tables do not match: {hit_id.size} hits but "
                f"{t_id.size} truth rows"
            )
        order = np.argsort(t_id)
        pos = np.clip(np.searchsorted(t_id[order], hit_id), 0, max(t_id.size - 1, 0))
        if t_id.size and not (t_id[order][pos] == hit_id).all():
            raise ValueError("event hits and truth tables do not match: hit_id sets differ")
        pid = t_pid[order][pos] if t_id.size else pid
    x, y, z = xyz[keep, 0], xyz[keep, 1], xyz[keep, 2]
    vol, lay, mod = cols["volume_id"][keep], cols["layer_id"][keep], cols["module_id"][keep]
    return _Hits(
        hit_id=hit_id[keep],
        r=np.hypot(x, y),
        phi=np.arctan2(y, x),
        z=z,
        layer=_module_key(vol, lay, np.zeros_like(mod)),
        module=_module_key(vol, lay, mod),
        particle_id=pid[keep],
    )


def _true_segments(h: _Hits) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive (inner, outer) hit indices of each particle, ordered by radius."""
    idx = np.flatnonzero(h.particle_id != 0)
    order = idx[np.lexsort((h.r[idx], h.particle_id[idx]))]
    same = h.particle_id[order][1:] == h.particle_id[order][:-1]
    return order[:-1][same], order[1:][same]


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _doublet(h: _Hits, i: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
    dr = h.r[j] - h.r[i]
    dz = h.z[j] - h.z[i]
    dphi = _wrap(h.phi[j] - h.phi[i])
    safe = np.where(np.abs(dr) > 1e-9, dr, 1e-9)
    return {
        "dr": dr,
        "dz": dz,
        "dphi": dphi,
        "phi_slope": dphi / safe,
        "z_slope": dz / safe,
        "z0": h.z[i] - h.r[i] * dz / safe,
        "rphi_slope": 0.5 * (h.r[i] + h.r[j]) * dphi / safe,
    }


# -- module map ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModuleMap:
    """Module pairs connected by truth, with optional doublet cuts per layer pair.

    Attributes:
        pairs: ``(P, 2)`` module keys (inner, outer), sorted and unique.
        volumes: the TrackML volume ids of the layers it covers.
        cut_layers: ``(C, 2)`` layer keys (inner, outer) with doublet cuts.
        z0_range: ``(C, 2)`` allowed $z_0$ (mm) per layer pair.
        phi_slope_range: ``(C, 2)`` allowed $\\Delta\\phi/\\Delta r$ (rad/mm).
        r_scale: radial scale of the node features (mm).
        z_scale: largest |z| of the training hits (mm).
        n_events: number of training events.
    """

    pairs: np.ndarray
    volumes: tuple[int, ...]
    cut_layers: np.ndarray
    z0_range: np.ndarray
    phi_slope_range: np.ndarray
    r_scale: float
    z_scale: float
    n_events: int

    @property
    def n_pairs(self) -> int:
        return int(self.pairs.shape[0])


def build_module_map(
    events: Sequence[Any],
    *,
    volumes: Sequence[int] = (PIXEL_VOLUME,),
    cuts: bool = True,
    cut_margin: float = 0.2,
    z0_max: float | None = None,
    skip_missing: bool = False,
) -> ModuleMap:
    """Learn a module map from the truth of training events.

    Args:
        events: TrackML events (``Event`` objects or mappings with ``hits`` and
            ``truth`` tables; see :mod:`hepjax.sim.tracker`).
        volumes: TrackML volume ids whose layers the graph covers (default: the
            pixel barrel).
        cuts: also learn doublet cuts ($z_0$ and $\\Delta\\phi/\\Delta r$ ranges
            per layer pair).
        cut_margin: widen each cut bound by this fraction.
        z0_max: accept at least $|z_0| \\le$ ``z0_max`` (mm) on every layer pair,
            whatever the training vertices were (e.g. 4 sigma of the luminous
            region), so that a map learned from a few events, each with one
            vertex, does not cut away other vertices.
        skip_missing: also connect the modules of hits two apart on a track
            (as if the hit between them had been missed), so that tracks with a
            missing hit keep a path through the graph (more edges, all of them
            false when the middle hit is present).

    The map covers only the module pairs crossed in training: learn it from
    enough tracks, from vertices spread over the luminous region (40 000 tracks
    give 97% of the true pixel segments of the default geometry, 160 000 99%,
    2000 only about 80%; see ``graph_metrics``). :func:`simulate_module_map` does this
    with dedicated simulated events.

    Returns:
        A :class:`ModuleMap`.
    """
    if isinstance(events, Mapping) or not isinstance(events, Sequence) or not events:
        raise ValueError("events must be a non-empty sequence of events")
    if cut_margin < 0:
        raise ValueError(f"cut_margin must be >= 0, got {cut_margin!r}")
    volumes = tuple(int(v) for v in volumes)
    pairs, lpairs, z0s, slopes = [], [], [], []
    r_max, z_max = 1.0, 1.0
    for event in events:
        h = _select_hits(event, volumes, need_truth=True)
        if h.hit_id.size:
            r_max, z_max = max(r_max, h.r.max()), max(z_max, np.abs(h.z).max())
        i, j = _true_segments(h)
        if skip_missing:
            # (a, c) for consecutive a -> b -> c, as if b had been missed
            chained = np.flatnonzero(j[:-1] == i[1:])
            i, j = np.r_[i, i[chained]], np.r_[j, j[chained + 1]]
        pairs.append(np.stack([h.module[i], h.module[j]], -1))
        lpairs.append(np.stack([h.layer[i], h.layer[j]], -1))
        d = _doublet(h, i, j)
        z0s.append(d["z0"])
        slopes.append(d["phi_slope"])
    pairs = np.unique(np.concatenate(pairs), axis=0)
    if pairs.shape[0] == 0:
        raise ValueError(
            f"events have no true segments in volumes {volumes}: no particle leaves two hits there"
        )
    lp = np.concatenate(lpairs)
    z0, slope = np.concatenate(z0s), np.concatenate(slopes)
    cut_layers = np.unique(lp, axis=0) if cuts else np.zeros((0, 2), np.int64)
    z0_range = np.zeros((cut_layers.shape[0], 2))
    slope_range = np.zeros((cut_layers.shape[0], 2))
    for c, (a, b) in enumerate(cut_layers):
        sel = (lp[:, 0] == a) & (lp[:, 1] == b)
        # symmetric bounds: charges come in both signs, vertices spread around z = 0
        zb = (1 + cut_margin) * np.abs(z0[sel]).max()
        if z0_max is not None:
            zb = max(zb, float(z0_max))
        sb = (1 + cut_margin) * np.abs(slope[sel]).max()
        z0_range[c] = -zb, zb
        slope_range[c] = -sb, sb
    return ModuleMap(
        pairs=pairs,
        volumes=volumes,
        cut_layers=cut_layers,
        z0_range=z0_range,
        phi_slope_range=slope_range,
        r_scale=float(math.ceil(r_max)),
        z_scale=float(math.ceil(z_max)),
        n_events=len(events),
    )


def simulate_module_map(
    key: Any,
    geometry: Any,
    *,
    n_tracks: int = 80_000,
    n_events: int = 8,
    n_vertices: int = 200,
    pt_min: float = 0.5,
    eta: tuple[float, float] = (-2.0, 2.0),
    **kwargs: Any,
) -> ModuleMap:
    """Learn a module map from dedicated simulated events, many tracks at once.

    A map learned from a few training events misses the module pairs that
    none of their tracks crossed (for the default geometry, about 20% of the
    true segments with 2000 tracks, 3% with 40 000, 1% with 160 000). Tracks are cheap in
    the simulation, so this draws ``n_events`` toy pile-up events of
    ``n_tracks / n_events`` particles each, spread over ``n_vertices``
    collision vertices (so that the whole luminous region is covered), without
    noise, and passes them to :func:`build_module_map`.

    Args:
        key: PRNG key.
        geometry: a :class:`hepjax.sim.tracker.BarrelGeometry`.
        n_tracks: total number of simulated particles.
        n_events: number of events they are split into.
        n_vertices: collision vertices per event.
        pt_min: lowest particle $p_T$ (GeV) of the power-law spectrum.
        eta: pseudorapidity range.
        **kwargs: passed to :func:`build_module_map` (``volumes``, ``cuts``,
            ``cut_margin``, ``z0_max``, ``skip_missing``).
    """
    from hepjax.sim import tracker

    for name, v in (("n_tracks", n_tracks), ("n_events", n_events), ("n_vertices", n_vertices)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    per_event = -(-n_tracks // n_events)
    events = []
    for k in jax.random.split(key, n_events):
        k1, k2 = jax.random.split(k)
        parts = tracker.pileup_particles(
            k1, per_event, pt_min=pt_min, eta=eta, n_vertices=n_vertices, geometry=geometry
        )
        events.append(tracker.simulate_event(k2, geometry, parts, n_noise=0))
    return build_module_map(events, **kwargs)


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
    """Re-pad a single graph to ``n_nodes`` nodes and ``n_edges`` edges."""
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
