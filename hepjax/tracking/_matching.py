r"""Matching track candidates to truth particles (TrackML tables).

**Inputs.** Events are TrackML tables (Amrouche et al., arXiv:1904.06778): dicts
of equal-length columns, NumPy structured arrays or data frames. ``truth`` needs
``hit_id, particle_id`` (and ``tz`` for the TrackML weights); ``particles`` needs
``particle_id, px, py, pz`` (and ``vz`` for the weights). Noise hits have
``particle_id`` 0. Track candidates are a sequence of hit-id arrays, one per
candidate (or a 2D integer array padded with negative ids); negative ids are
ignored and empty candidates are dropped.

**Matching.** For a candidate with $n$ hits, the *majority particle* is the
particle with most hits on it (ties go to the smaller ``particle_id``, noise
included, as in the TrackML library), with $n_{\rm maj}$ of them. The candidate
is *matched* to that particle when the purity $n_{\rm maj}/n \ge f$
(``matching_fraction``, ACTS's ``truthMatchProbMin``, default $f = 0.5$) and,
with ``double_majority=True``, also $n_{\rm maj}/N_{\rm particle} \ge f$, where
$N_{\rm particle}$ counts the particle's hits in ``truth``. A candidate that is
not matched (or whose majority is noise) is a *fake*. When several candidates
match one particle, the one with the highest purity (then most majority hits,
then the first) is kept and the others are *duplicates*. Then
Rates and scores built on the matching: :func:`hepjax.tracking.tracking_performance`
(efficiency, fake and duplicate rates) and :func:`hepjax.tracking.trackml_score`.

Everything here is host NumPy: this is evaluation code, not a training path.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

# -- table access ------------------------------------------------------------------


def _column(table: Any, name: str, argname: str) -> np.ndarray:
    try:
        col = table[name]
    except (KeyError, ValueError, IndexError, TypeError) as err:
        raise ValueError(f"{argname} must have a column {name!r}") from err
    col = np.asarray(col)
    if col.ndim != 1:
        raise ValueError(f"{argname}[{name!r}] must be one-dimensional, got shape {col.shape}")
    return col


def _table(table: Any, names: Sequence[str], argname: str) -> dict[str, np.ndarray]:
    if table is None:
        raise ValueError(f"{argname} must be a table (dict of columns), got None")
    cols = {n: _column(table, n, argname) for n in names}
    sizes = {c.size for c in cols.values()}
    if len(sizes) > 1:
        lens = {n: c.size for n, c in cols.items()}
        raise ValueError(f"{argname} columns must have equal lengths, got {lens}")
    for n in names:
        if n.endswith("_id") and cols[n].size and not np.issubdtype(cols[n].dtype, np.integer):
            raise ValueError(f"{argname}[{n!r}] must hold integers, got dtype {cols[n].dtype}")
    return cols


def _truth(truth: Any, extra: Sequence[str] = ()) -> dict[str, np.ndarray]:
    cols = _table(truth, ("hit_id", "particle_id", *extra), "truth")
    ids = cols["hit_id"]
    if np.unique(ids).size != ids.size:
        raise ValueError("truth['hit_id'] must be unique (one truth row per hit)")
    for n in extra:
        if not np.isfinite(cols[n].astype(np.float64)).all():
            raise ValueError(f"truth[{n!r}] must be finite (NaN or inf found)")
    return cols


def _particles(particles: Any, extra: Sequence[str] = ()) -> dict[str, np.ndarray]:
    cols = _table(particles, ("particle_id", "px", "py", "pz", *extra), "particles")
    if np.unique(cols["particle_id"]).size != cols["particle_id"].size:
        raise ValueError("particles['particle_id'] must be unique")
    px, py, pz = (cols[k].astype(np.float64) for k in ("px", "py", "pz"))
    if not (np.isfinite(px) & np.isfinite(py) & np.isfinite(pz)).all():
        raise ValueError("particles momenta (px, py, pz) must be finite")
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1.0)), np.sign(pz) * np.inf)
    cols["pt"], cols["eta"] = pt, eta
    return cols


def _lookup(keys: np.ndarray, table_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each key in ``table_keys`` and whether it was found."""
    if table_keys.size == 0:
        return np.zeros(keys.shape, np.int64), np.zeros(keys.shape, bool)
    order = np.argsort(table_keys, kind="stable")
    pos = np.clip(np.searchsorted(table_keys[order], keys), 0, table_keys.size - 1)
    idx = order[pos]
    return idx, table_keys[idx] == keys


def _candidates(candidates: Any, hit_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Flatten candidates into (track index, truth row) pairs; drop empty candidates."""
    if hasattr(candidates, "shape") and not isinstance(candidates, list | tuple):
        arr = np.asarray(candidates)
        if arr.ndim == 2:
            candidates = list(arr)
        elif arr.size == 0:
            candidates = []
        else:
            raise ValueError(
                "candidates must be a sequence of hit-id arrays or a 2D padded array, "
                f"got an array of shape {arr.shape}"
            )
    elif isinstance(candidates, str | bytes) or not isinstance(candidates, Sequence):
        raise ValueError(
            "candidates must be a sequence of hit-id arrays (one per track candidate), "
            f"got {type(candidates).__name__}"
        )
    tracks, rows = [], []
    n_tracks = 0
    for i, cand in enumerate(candidates):
        ids = np.asarray(cand)
        if ids.ndim != 1:
            raise ValueError(
                f"candidates[{i}] must be a 1D array of hit ids, got shape {ids.shape}"
            )
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"candidates[{i}] must hold integer hit ids, got dtype {ids.dtype}")
        ids = ids[ids >= 0].astype(np.int64)
        if ids.size == 0:
            continue
        if np.unique(ids).size != ids.size:
            raise ValueError(f"candidates[{i}] lists a hit id more than once")
        idx, found = _lookup(ids, hit_ids)
        if not found.all():
            raise ValueError(
                f"candidates[{i}] has hit ids not in truth['hit_id']: {ids[~found][:5].tolist()}"
            )
        tracks.append(np.full(ids.size, n_tracks, np.int64))
        rows.append(idx)
        n_tracks += 1
    if not tracks:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    return np.concatenate(tracks), np.concatenate(rows), n_tracks


# -- matching ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrackMatch:
    """Per-candidate majority-particle analysis (see the module docstring).

    Attributes:
        particle_id: ``(n_tracks,)`` majority particle (0 when noise is the majority).
        nhits: ``(n_tracks,)`` hits on the candidate.
        majority_nhits: ``(n_tracks,)`` hits of the majority particle on the candidate.
        particle_nhits: ``(n_tracks,)`` hits of the majority particle in ``truth``.
        majority_weight: ``(n_tracks,)`` summed hit weight of the majority hits.
        matched: ``(n_tracks,)`` the candidate is matched to its majority particle.
        duplicate: ``(n_tracks,)`` matched, but another candidate matches the same
            particle better.
    """

    particle_id: np.ndarray
    nhits: np.ndarray
    majority_nhits: np.ndarray
    particle_nhits: np.ndarray
    majority_weight: np.ndarray
    matched: np.ndarray
    duplicate: np.ndarray

    @property
    def purity(self) -> np.ndarray:
        """Fraction of the candidate's hits from its majority particle."""
        return self.majority_nhits / np.maximum(self.nhits, 1)

    @property
    def fake(self) -> np.ndarray:
        """Candidates not matched to any particle."""
        return ~self.matched


def _majority(track, pid, weight, n_tracks):
    """Majority particle per track: counts and weights of (track, particle) groups."""
    if track.size == 0:
        z = np.zeros(0, np.int64)
        return z, z, z, np.zeros(0)
    order = np.lexsort((pid, track))
    t, p, w = track[order], pid[order], weight[order]
    start = np.flatnonzero(np.r_[True, (t[1:] != t[:-1]) | (p[1:] != p[:-1])])
    gt, gp = t[start], p[start]
    gn = np.diff(np.r_[start, t.size])
    gw = np.add.reduceat(w, start) if t.size else np.zeros(0)
    best = np.lexsort((gp, -gn, gt))  # per track: most hits first, then smallest particle id
    first = best[np.r_[True, gt[best][1:] != gt[best][:-1]]]
    nhits = np.bincount(t, minlength=n_tracks)
    return gp[first], nhits, gn[first], gw[first]


def match_candidates(
    truth: Any,
    candidates: Any,
    *,
    matching_fraction: float = 0.5,
    double_majority: bool = False,
    weights: Any = None,
) -> TrackMatch:
    """Match each track candidate to its majority particle.

    Args:
        truth: TrackML truth table (``hit_id``, ``particle_id``).
        candidates: one hit-id array per candidate (negative ids are padding).
        matching_fraction: minimum purity $n_{\\rm maj}/n$ for a match (ACTS: 0.5).
        double_majority: also require $n_{\\rm maj}/N_{\\rm particle} \\ge$ the fraction.
        weights: optional ``(n_hits,)`` per-hit weights (in ``truth`` row order)
            summed into ``majority_weight``; default 0.

    Returns:
        A :class:`TrackMatch` over the non-empty candidates, in their order.
    """
    if not 0.0 < matching_fraction <= 1.0:
        raise ValueError(f"matching_fraction must be in (0, 1], got {matching_fraction!r}")
    cols = _truth(truth)
    hit_ids, pids = cols["hit_id"].astype(np.int64), cols["particle_id"].astype(np.int64)
    w = np.zeros(hit_ids.size) if weights is None else np.asarray(weights, np.float64)
    if w.shape != hit_ids.shape:
        raise ValueError(f"weights must have shape ({hit_ids.size},), got {w.shape}")
    track, row, n_tracks = _candidates(candidates, hit_ids)
    maj_pid, nhits, maj_n, maj_w = _majority(track, pids[row], w[row], n_tracks)
    upid, ucount = np.unique(pids, return_counts=True)
    idx, _ = _lookup(maj_pid, upid)
    part_n = ucount[idx] if upid.size else np.zeros(n_tracks, np.int64)
    matched = (maj_pid != 0) & (maj_n >= matching_fraction * nhits)
    if double_majority:
        matched &= maj_n >= matching_fraction * part_n
    # duplicates: all but the best matched candidate of each particle
    duplicate = np.zeros(n_tracks, bool)
    m = np.flatnonzero(matched)
    if m.size:
        purity = maj_n[m] / nhits[m]
        order = np.lexsort((m, -maj_n[m], -purity, maj_pid[m]))
        sp = maj_pid[m][order]
        later = np.r_[False, sp[1:] == sp[:-1]]
        duplicate[m[order][later]] = True
    return TrackMatch(maj_pid, nhits, maj_n, part_n, maj_w, matched, duplicate)
