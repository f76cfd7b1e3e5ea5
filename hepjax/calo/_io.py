r"""Writers: Phoenix event-display JSON, HDF5 rows and a ROOT tree with COCOA's branches.

**Phoenix** (the HSF event display, hepsoftwarefoundation.org/phoenix; the
layout of COCOA's ``dump_phoenix_eventdata.py``): a JSON object of events, each
``{"event number", "run number", "Tracks", "Jets", "CaloClusters", "Hits",
"IrregularCaloCells"}``, every collection a dict ``{name: [objects]}``. Phoenix
works in mm and MeV:

* ``Tracks``: ``{"pos": [[x, y, z], ...], "color"}``;
* ``Jets``: ``{"eta", "phi", "energy", "coneR"}``;
* ``CaloClusters``: ``{"energy", "eta", "phi"}``;
* ``Hits``: ``{"type": "Point", "pos": [x, y, z]}`` (cell centres);
* ``IrregularCaloCells``: ``{"layer", "energy", "vtx": [24 numbers], "cluster",
  "color", "opacity"}``, ``vtx`` the 8 corners of the cell
  (:meth:`~hepjax.sim.calo.CaloGeometry.cell_vertices`).

**ROOT** (through uproot, the optional ``hep`` extra): one entry per event in
the tree ``Out_Tree`` with COCOA's names and units (MeV, mm): ``cell_*`` for
the clustered cells (``cell_topo_idx`` counts from 1, as in COCOA), ``topo_*``
per cluster, ``cell_to_cell_edge_start/end`` and ``track_to_cell_edge_start/end``
(node indices into the ``cell_*`` arrays), and ``topo_jet_*``/``true_jet_*``.

**HDF5** (:class:`hepjax.data.HDF5Writer`): one row per event of the padded
arrays, GeV and mm, with the geometry's JSON as the attribute ``geometry``.

Every writer writes to a temporary name in the target folder and renames on
success; a missing folder is an error naming the path.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data import HDF5Writer
from ..sim.calo import CaloGeometry, CellEnergies
from ._graph import CellGraph
from ._jets import Jets
from ._topo import TopoClusters

__all__ = ["phoenix_event", "write_hdf5_events", "write_phoenix", "write_root"]

_LAYER_COLOURS = ((110, 222, 138), (146, 230, 167), (183, 239, 197), (129, 137, 255))
_CLUSTER_COLOURS = (
    (141, 211, 199), (255, 255, 179), (190, 186, 218), (251, 128, 114), (128, 177, 211),
    (253, 180, 98), (179, 222, 105), (252, 205, 229), (217, 217, 217), (188, 128, 189),
    (204, 235, 197), (255, 237, 111),
)  # fmt: skip


def _target(path: str | os.PathLike, name: str = "path") -> pathlib.Path:
    path = pathlib.Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{name}: folder {path.parent} does not exist (for {path})")
    return path


def _atomic_text(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _jets_list(jets: Jets, radius: float | int) -> list[dict[str, float]]:
    m = np.asarray(jets.mask)
    return [
        {
            "eta": float(jets.eta[k]),
            "phi": float(jets.phi[k]),
            "energy": 1000.0 * float(jets.energy[k]),
            "coneR": radius,
        }
        for k in np.flatnonzero(m)
    ]


def phoenix_event(
    geo: CaloGeometry,
    cells: CellEnergies,
    clusters: TopoClusters,
    jets: Jets | Mapping[str, Jets] | None = None,
    tracks: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None,
    *,
    all_cells: bool = False,
    event_number: int = 0,
    run_number: int = 0,
    jet_radius: float | int = 0.4,
) -> dict[str, Any]:
    """One Phoenix event dict (module docstring) of the clustered cells (or all cells).

    Args:
        geo, cells, clusters: the event.
        jets: :class:`~hepjax.calo.Jets`, or a dict of named collections.
        tracks: polylines ``(points, 3)`` in mm, or a dict of named lists.
        all_cells: include every cell, not only the clustered ones.
        event_number: the event's number.
        run_number: the run's number.
        jet_radius: the jets' radius $R$, drawn as their cone size.
    """
    cells.check(geo)
    e = np.asarray(cells.energy, np.float64)
    cl = np.asarray(clusters.cell_cluster)
    t = geo.cells()
    which = np.arange(geo.n_cells) if all_cells else np.flatnonzero(cl >= 0)
    vtx = geo.cell_vertices()
    sig = e / t.noise
    irregular, hits = [], []
    for c in which:
        layer = int(t.layer[c])
        k = int(cl[c])
        rgb = (
            _CLUSTER_COLOURS[k % len(_CLUSTER_COLOURS)]
            if k >= 0
            else _LAYER_COLOURS[min(layer, len(_LAYER_COLOURS) - 1)]
        )
        irregular.append(
            {
                "layer": layer,
                "energy": 1000.0 * float(e[c]),
                "vtx": [float(v) for v in vtx[c].reshape(-1)],
                "cluster": k,
                "color": "#{:02x}{:02x}{:02x}".format(*rgb),
                "opacity": float(np.clip(sig[c] / 4.6, 0.25, 1.0)),
            }
        )
        hits.append(
            {
                "type": "Point",
                "pos": [float(t.x[c]), float(t.y[c]), float(t.z[c])],
                "color": "#ffff00",
            }
        )
    mask = np.asarray(clusters.mask)
    topo = [
        {
            "energy": 1000.0 * float(clusters.energy[k]),
            "eta": float(clusters.eta[k]),
            "phi": float(clusters.phi[k]),
        }
        for k in np.flatnonzero(mask)
    ]
    jet_sets: dict[str, list] = {}
    if isinstance(jets, Jets):
        jet_sets["jets"] = _jets_list(jets, jet_radius)
    elif jets is not None:
        for name, js in dict(jets).items():
            if not isinstance(js, Jets):
                raise TypeError(f"jets[{name!r}] must be Jets, got {type(js).__name__}")
            jet_sets[str(name)] = _jets_list(js, jet_radius)
    track_sets: dict[str, list] = {}
    if tracks is not None:
        groups = dict(tracks) if isinstance(tracks, Mapping) else {"tracks": tracks}
        for name, group in groups.items():
            out = []
            for i, tr in enumerate(group):
                pos = np.asarray(tr, np.float64)
                if pos.ndim != 2 or pos.shape[1] != 3:
                    raise ValueError(
                        f"tracks[{name!r}][{i}] must be a (points, 3) polyline in mm, "
                        f"got shape {pos.shape}"
                    )
                out.append({"pos": pos.tolist(), "color": "0xff0000"})
            track_sets[str(name)] = out
    return {
        "event number": int(event_number),
        "run number": int(run_number),
        "Tracks": track_sets,
        "Jets": jet_sets,
        "CaloClusters": {"topoclusters": topo},
        "Hits": {"centres": hits},
        "IrregularCaloCells": {"cells": irregular},
    }


def write_phoenix(
    path: str | os.PathLike,
    geo: CaloGeometry,
    cells: CellEnergies,
    clusters: TopoClusters,
    jets: Jets | Mapping[str, Jets] | None = None,
    tracks: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None,
    *,
    all_cells: bool = False,
    event_number: int = 0,
) -> pathlib.Path:
    """Write one event as Phoenix JSON to ``path``, atomically (module docstring).

    Args:
        path: the ``.json`` file; its folder must exist.
        geo, cells, clusters: the event.
        jets: :class:`~hepjax.calo.Jets`, or a dict of named collections
            (``{"topo jets": ..., "truth jets": ...}``).
        tracks: polylines ``(points, 3)`` in mm, or a dict of named lists.
        all_cells: write every cell, not only the clustered ones.
        event_number: the event's number (its key is ``event_num_<n>``).
    """
    path = _target(path)
    event = phoenix_event(
        geo, cells, clusters, jets, tracks, all_cells=all_cells, event_number=event_number
    )
    _atomic_text(path, json.dumps({f"event_num_{event_number}": event}))
    return path


def _event_arrays(
    geo: CaloGeometry,
    cells: CellEnergies,
    clusters: TopoClusters,
    graph: CellGraph | None,
) -> dict[str, np.ndarray]:
    cells.check(geo)
    t = geo.cells()
    cl = np.asarray(clusters.cell_cluster)
    which = np.flatnonzero(cl >= 0)
    mask = np.asarray(clusters.mask)
    k = np.flatnonzero(mask)
    out = {
        "cell_layer": t.layer[which].astype(np.int32),
        "cell_x": t.x[which],
        "cell_y": t.y[which],
        "cell_z": t.z[which],
        "cell_eta": t.eta[which],
        "cell_phi": t.phi[which],
        "cell_e": 1000.0 * np.asarray(cells.energy, np.float32)[which],
        "cell_signal": 1000.0 * np.asarray(cells.signal, np.float32)[which],
        "cell_topo_idx": (cl[which] + 1).astype(np.int32),
        "topo_idx": (k + 1).astype(np.float32),
        "topo_bary_eta": np.asarray(clusters.eta)[k],
        "topo_bary_phi": np.asarray(clusters.phi)[k],
        "topo_bary_rho": np.asarray(clusters.rho)[k],
        "topo_bary_sigma_eta": np.asarray(clusters.sigma_eta)[k],
        "topo_bary_sigma_phi": np.asarray(clusters.sigma_phi)[k],
        "topo_e": 1000.0 * np.asarray(clusters.energy)[k],
    }
    if graph is not None:
        node_cell = np.asarray(graph.cell)
        real = np.asarray(graph.node_mask)
        if not np.array_equal(node_cell[real], which[: int(real.sum())]):
            raise ValueError("graph was not built from these clusters (its nodes differ)")
        em = np.asarray(graph.edge_mask)
        out["cell_to_cell_edge_start"] = np.asarray(graph.senders)[em].astype(np.int32)
        out["cell_to_cell_edge_end"] = np.asarray(graph.receivers)[em].astype(np.int32)
        tm = np.asarray(graph.track_edge_mask)
        out["track_to_cell_edge_start"] = np.asarray(graph.track_senders)[tm].astype(np.int32)
        out["track_to_cell_edge_end"] = np.asarray(graph.track_receivers)[tm].astype(np.int32)
    return out


def _jet_arrays(prefix: str, jets: Jets) -> dict[str, np.ndarray]:
    m = np.asarray(jets.mask)
    return {
        f"{prefix}_pt": 1000.0 * np.asarray(jets.pt)[m],
        f"{prefix}_eta": np.asarray(jets.eta)[m],
        f"{prefix}_phi": np.asarray(jets.phi)[m],
        f"{prefix}_m": 1000.0 * np.asarray(jets.mass)[m],
    }


def write_root(
    path: str | os.PathLike,
    geo: CaloGeometry,
    events: Sequence[Mapping[str, Any]],
    *,
    tree: str = "Out_Tree",
) -> pathlib.Path:
    """Write events to a ROOT file with COCOA's branch names (module docstring), atomically.

    Args:
        path: the ``.root`` file; its folder must exist.
        geo: the detector.
        events: one mapping per event with ``"cells"`` and ``"clusters"``, and
            optionally ``"graph"`` (:class:`~hepjax.calo.CellGraph`),
            ``"topo_jets"`` and ``"true_jets"`` (:class:`~hepjax.calo.Jets`).
        tree: the TTree's name (COCOA: ``Out_Tree``).
    """
    try:
        import awkward as ak
        import uproot
    except ImportError as err:  # pragma: no cover - the hep extra is installed in CI
        raise ImportError(
            "uproot and awkward are needed for ROOT output; pip install 'hepjax[hep]'"
        ) from err
    path = _target(path)
    if len(events) == 0:
        raise ValueError("events must hold at least one event")
    rows = []
    for i, ev in enumerate(events):
        missing = {"cells", "clusters"} - set(ev)
        if missing:
            raise ValueError(f"events[{i}] lacks {sorted(missing)}")
        row = _event_arrays(geo, ev["cells"], ev["clusters"], ev.get("graph"))
        for key, prefix in (("topo_jets", "topo_jet"), ("true_jets", "true_jet")):
            if ev.get(key) is not None:
                row.update(_jet_arrays(prefix, ev[key]))
        rows.append(row)
    keys = set(rows[0])
    for i, row in enumerate(rows):
        if set(row) != keys:
            raise ValueError(f"events[{i}] has different fields from events[0]")
    branches = {}
    for k in sorted(keys):
        parts = [np.asarray(row[k]) for row in rows]
        dtype = np.int32 if parts[0].dtype.kind in "iub" else np.float32
        flat = np.concatenate(parts).astype(dtype)
        branches[k] = ak.unflatten(flat, np.array([len(p) for p in parts], np.int64))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with uproot.recreate(tmp) as f:
            f.mktree(tree, {k: v.type for k, v in branches.items()})
            f[tree].extend(branches)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def write_hdf5_events(
    path: str | os.PathLike,
    geo: CaloGeometry,
    events: Sequence[Mapping[str, Any]],
) -> pathlib.Path:
    """Write events as padded rows to HDF5, atomically (module docstring).

    Each row holds ``cell_energy``, ``cell_signal``, ``cell_cluster``,
    ``cell_cluster2``, ``cell_weight`` (``(n_cells,)``), the cluster moments
    ``topo_*`` and ``topo_mask`` (``(max_clusters,)``), and with a ``"graph"``
    the graph's arrays ``graph_*``.

    Args:
        path: the ``.h5`` file; its folder must exist.
        geo: the detector (fixes the ``n_cells`` of a row).
        events: one mapping per event, as in :func:`write_root`.
    """
    path = _target(path)
    if len(events) == 0:
        raise ValueError("events must hold at least one event")
    fields_of = {
        "cell_energy": lambda ev: ev["cells"].energy,
        "cell_signal": lambda ev: ev["cells"].signal,
        "cell_cluster": lambda ev: ev["clusters"].cell_cluster,
        "cell_cluster2": lambda ev: ev["clusters"].cell_cluster2,
        "cell_weight": lambda ev: ev["clusters"].cell_weight,
    }
    for name in ("energy", "eta", "phi", "rho", "sigma_eta", "sigma_phi", "em_energy", "signal"):
        fields_of[f"topo_{name}"] = lambda ev, name=name: getattr(ev["clusters"], name)
    fields_of["topo_n_cells"] = lambda ev: ev["clusters"].n_cells
    fields_of["topo_mask"] = lambda ev: ev["clusters"].mask
    if events[0].get("graph") is not None:
        for name in ("nodes", "cell", "node_mask", "edges", "senders", "receivers", "edge_mask"):
            fields_of[f"graph_{name}"] = lambda ev, name=name: getattr(ev["graph"], name)
    first = {k: np.asarray(f(events[0])) for k, f in fields_of.items()}
    spec = {k: (v.shape, v.dtype) for k, v in first.items()}
    attrs = {"geometry": json.dumps(geo.to_dict()), "units": "GeV, mm"}
    with HDF5Writer(path, spec, chunk_rows=max(1, min(len(events), 16)), attrs=attrs) as w:
        for i, ev in enumerate(events):
            ev["cells"].check(geo, f"events[{i}]['cells']")
            w.append(**{k: np.asarray(f(ev))[None] for k, f in fields_of.items()})
    return path
