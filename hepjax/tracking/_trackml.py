r"""The TrackML score (Amrouche et al., arXiv:1904.06778).

**TrackML score** (Amrouche et al. 2019, section 4). Every hit $i$ of a particle
with $N \ge 4$ hits carries the weight $w_i \propto w_{\rm order}(k_i, N)\,
w_{p_T}(p_T)$, where $k_i$ is the rank of the hit by $|z_i - v_z|$ along the track,
$w_{\rm order}$ interpolates the profile $(10, 8, 6, 5, 3, 3, 3, 5, 6)$ over the
$N$ hits (the first and last hits weigh more; $N$ is capped at 20 and hits past
the 20th weigh 0), normalised to sum to 1 per particle, and $w_{p_T}$ rises
linearly from 0.2 at 0.5 GeV to 1 at 3 GeV (0 below 50 MeV). Noise hits and
particles with fewer than 4 hits weigh 0, and $\sum_i w_i = 1$. A candidate
scores the summed weight of its majority particle's hits on it when both the
candidate's purity and the particle's fraction exceed 1/2 (double majority,
strict), so a perfect reconstruction scores 1 and an empty one 0.

Inputs and matching as in :func:`hepjax.tracking.match_candidates`.

Everything here is host NumPy: this is evaluation code, not a training path.
"""

from typing import Any

import numpy as np

from ._matching import _candidates, _lookup, _majority, _particles, _truth

# -- TrackML score -------------------------------------------------------------------

_ORDER_PROFILE = np.array([10.0, 8.0, 6.0, 5.0, 3.0, 3.0, 3.0, 5.0, 6.0])
_ORDER_MIN_HITS = 4
_ORDER_MAX_HITS = 20


def _order_weights() -> np.ndarray:
    """``w[n, k]``: weight of the ``k``-th hit of an ``n``-hit particle (rows sum to 1)."""
    w = np.zeros((_ORDER_MAX_HITS + 1, _ORDER_MAX_HITS))
    for n in range(_ORDER_MIN_HITS, _ORDER_MAX_HITS + 1):
        # the profile's points spread evenly from the first to the last hit
        nodes = np.linspace(0.0, n - 1.0, _ORDER_PROFILE.size)
        row = np.interp(np.arange(n, dtype=np.float64), nodes, _ORDER_PROFILE)
        w[n, :n] = row / row.sum()
    return w


_ORDER_WEIGHTS = _order_weights()


def trackml_pt_weight(pt: Any) -> np.ndarray:
    """TrackML $p_T$ weight: 0.2 up to 0.5 GeV, linear to 1 at 3 GeV, 1 above (0 below 50 MeV)."""
    pt = np.asarray(pt, np.float64)
    return np.asarray(np.interp(pt, [0.05, 0.5, 3.0], [0.2, 0.2, 1.0], left=0.0))


def trackml_weights(truth: Any, particles: Any) -> np.ndarray:
    """Per-hit TrackML weights, in ``truth`` row order, normalised to sum to 1.

    Args:
        truth: ``hit_id, particle_id, tz``.
        particles: ``particle_id, vz, px, py, pz``.

    Returns:
        ``(n_hits,)`` float64 weights (all 0 when no hit carries weight).
    """
    t = _truth(truth, ("tz",))
    p = _particles(particles, ("vz",))
    pid = t["particle_id"].astype(np.int64)
    idx, found = _lookup(pid, p["particle_id"].astype(np.int64))
    w_pt = np.where(found & (pid != 0), trackml_pt_weight(p["pt"][idx] if p["pt"].size else 0.0), 0)
    vz = np.where(found, p["vz"][idx].astype(np.float64) if p["vz"].size else 0.0, 0.0)
    dz = np.abs(t["tz"].astype(np.float64) - vz)
    order = np.lexsort((dz, pid))
    sp = pid[order]
    start = np.flatnonzero(np.r_[True, sp[1:] != sp[:-1]]) if sp.size else np.zeros(0, int)
    size = np.diff(np.r_[start, sp.size])
    rank = np.arange(sp.size) - np.repeat(start, size)
    n = np.repeat(size, size)
    w_order = np.zeros(sp.size)
    ok = (n >= _ORDER_MIN_HITS) & (rank < _ORDER_MAX_HITS)
    w_order[ok] = _ORDER_WEIGHTS[np.minimum(n[ok], _ORDER_MAX_HITS), rank[ok]]
    w = np.zeros(pid.size)
    w[order] = w_order
    w *= w_pt
    total = w.sum()
    return w / total if total > 0 else w


def trackml_score(
    truth: Any,
    particles: Any,
    candidates: Any,
    *,
    weights: Any = None,
    shared_hits: str = "error",
) -> float:
    """The TrackML score of track candidates (Amrouche et al., arXiv:1904.06778).

    .. math::
        S = \\frac{\\sum_{\\rm tracks} \\mathbb{1}[n_{\\rm maj}/n > \\tfrac12]\\,
        \\mathbb{1}[n_{\\rm maj}/N_{\\rm particle} > \\tfrac12]
        \\sum_{i \\in {\\rm majority\\ hits}} w_i}{\\sum_{\\rm all\\ hits} w_i}

    with the hit weights $w_i$ of :func:`trackml_weights` (see the module
    docstring). Hits in no candidate count as unassigned (they never score).

    Args:
        truth: TrackML truth table (``hit_id, particle_id, tz``).
        particles: TrackML particles table (``particle_id, vz, px, py, pz``).
        candidates: one hit-id array per candidate.
        weights: ``(n_hits,)`` per-hit weights in ``truth`` order (e.g. the
            ``truth['weight']`` column); default :func:`trackml_weights`.
        shared_hits: the score needs each hit in at most one candidate:
            ``"error"`` raises if candidates share hits, ``"first"`` keeps a
            shared hit on the first candidate that lists it only.

    Returns:
        The score in [0, 1]: 1 for a perfect reconstruction, 0 for none.
    """
    if shared_hits not in ("error", "first"):
        raise ValueError(f"shared_hits must be 'error' or 'first', got {shared_hits!r}")
    cols = _truth(truth)
    w = trackml_weights(truth, particles) if weights is None else np.asarray(weights, np.float64)
    if w.shape != cols["hit_id"].shape:
        raise ValueError(f"weights must have shape ({cols['hit_id'].size},), got {w.shape}")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("weights must be finite and non-negative")
    total = w.sum()
    track, row, n_tracks = _candidates(candidates, cols["hit_id"].astype(np.int64))
    if total <= 0 or n_tracks == 0:
        return 0.0
    _, first = np.unique(row, return_index=True)
    if first.size != row.size:
        if shared_hits == "error":
            shared = np.unique(row[np.setdiff1d(np.arange(row.size), first)])
            raise ValueError(
                f"candidates share {shared.size} hit(s) (e.g. hit_id "
                f"{int(cols['hit_id'][shared[0]])}); the TrackML score needs each hit in at "
                "most one candidate: resolve shared hits or pass shared_hits='first'"
            )
        keep = np.zeros(row.size, bool)
        keep[first] = True  # np.unique's first occurrence = the earliest candidate
        track, row = track[keep], row[keep]
    pids = cols["particle_id"].astype(np.int64)
    maj_pid, nhits, maj_n, maj_w = _majority(track, pids[row], w[row], n_tracks)
    upid, ucount = np.unique(pids, return_counts=True)
    part_n = ucount[_lookup(maj_pid, upid)[0]]
    good = (2 * maj_n > nhits) & (2 * maj_n > part_n)
    return float(maj_w[good].sum() / total)
