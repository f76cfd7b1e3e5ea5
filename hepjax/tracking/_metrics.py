r"""Tracking performance: the TrackML score, efficiency, fake and duplicate rates, pulls.

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

.. math::
    \epsilon = \frac{\#\{\text{selected particles with a matched candidate}\}}
                    {\#\{\text{selected particles}\}}, \quad
    r_{\rm fake} = \frac{N_{\rm fake}}{N_{\rm tracks}}, \quad
    r_{\rm dup} = \frac{N_{\rm duplicate}}{N_{\rm tracks}},

each with the binomial error $\sqrt{r(1-r)/N}$. Selected particles have
$p_T \ge p_{T,\min}$, $|\eta| \le \eta_{\max}$ and at least ``min_hits`` hits in
``truth`` (restrict ``truth`` to pixel hits to evaluate pixel-only candidates).

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

Everything here is host NumPy: this is evaluation code, not a training path.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BOUND_PARAMETERS = ("loc0", "loc1", "phi", "theta", "qop")

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


# -- efficiency, fake and duplicate rates ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class BinnedRate:
    """A rate in bins of a variable, with binomial errors.

    Attributes:
        variable: ``"pt"`` or ``"eta"``.
        edges: ``(n_bins + 1,)`` bin edges.
        passed: ``(n_bins,)`` counts passing (matched particles, fakes, duplicates).
        total: ``(n_bins,)`` counts in the bin.
        value: ``passed / total`` (NaN for empty bins).
        error: $\\sqrt{r(1-r)/N}$ (NaN for empty bins).
    """

    variable: str
    edges: np.ndarray
    passed: np.ndarray
    total: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def value(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.total > 0, self.passed / self.total, np.nan)

    @property
    def error(self) -> np.ndarray:
        r = self.value
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(r * (1 - r) / self.total)


def _rate(passed: int, total: int) -> tuple[float, float]:
    if total == 0:
        return float("nan"), float("nan")
    r = passed / total
    return r, float(np.sqrt(r * (1 - r) / total))


@dataclasses.dataclass(frozen=True)
class TrackingPerformance:
    """Efficiency, fake and duplicate rates of one set of candidates (see the module docstring).

    Attributes:
        particle_pt: ``(n_particles,)`` truth $p_T$ (GeV).
        particle_eta: ``(n_particles,)`` truth pseudorapidity.
        particle_nhits: ``(n_particles,)`` hits in ``truth``.
        particle_matched: ``(n_particles,)`` at least one candidate matches it.
        track_pt: ``(n_tracks,)`` candidate $p_T$ (given, or the majority
            particle's truth; NaN for a noise majority).
        track_eta: ``(n_tracks,)`` candidate pseudorapidity (likewise).
        match: the :class:`TrackMatch` of the candidates.
        pt_min, eta_max, min_hits: the particle selection.
        track_selected: ``(n_tracks,)`` candidates counted in the fake and
            duplicate rates.
    """

    particle_pt: np.ndarray
    particle_eta: np.ndarray
    particle_nhits: np.ndarray
    particle_matched: np.ndarray
    track_pt: np.ndarray
    track_eta: np.ndarray
    match: TrackMatch
    pt_min: float
    eta_max: float
    min_hits: int
    track_selected: np.ndarray

    def _particle_cut(self, skip: str | None = None) -> np.ndarray:
        keep = self.particle_nhits >= self.min_hits
        if skip != "pt":
            keep &= self.particle_pt >= self.pt_min
        if skip != "eta":
            keep &= np.abs(self.particle_eta) <= self.eta_max
        return keep

    @property
    def selected(self) -> np.ndarray:
        """``(n_particles,)`` particles entering the efficiency."""
        return self._particle_cut()

    def summary(self) -> dict[str, float]:
        """``efficiency``, ``fake_rate``, ``duplicate_rate`` with ``*_error`` and the counts."""
        sel = self.selected
        n_sel, n_eff = int(sel.sum()), int((sel & self.particle_matched).sum())
        ts = self.track_selected
        n_tr = int(ts.sum())
        n_fake = int((ts & self.match.fake).sum())
        n_dup = int((ts & self.match.duplicate).sum())
        eff, eff_e = _rate(n_eff, n_sel)
        fake, fake_e = _rate(n_fake, n_tr)
        dup, dup_e = _rate(n_dup, n_tr)
        return {
            "efficiency": eff,
            "efficiency_error": eff_e,
            "fake_rate": fake,
            "fake_rate_error": fake_e,
            "duplicate_rate": dup,
            "duplicate_rate_error": dup_e,
            "n_particles": n_sel,
            "n_matched_particles": n_eff,
            "n_tracks": n_tr,
            "n_fake": n_fake,
            "n_duplicate": n_dup,
        }

    def binned(self, quantity: str, variable: str, bins: Any) -> BinnedRate:
        """``quantity`` (``"efficiency"``, ``"fake_rate"``, ``"duplicate_rate"``) in bins of
        ``variable`` (``"pt"`` or ``"eta"``; ``|eta|`` is not taken, pass symmetric bins).

        The selection cut on the binned variable itself is not applied (so an
        efficiency against $p_T$ also shows $p_T < p_{T,\\min}$).
        """
        if quantity not in ("efficiency", "fake_rate", "duplicate_rate"):
            raise ValueError(
                f"quantity must be 'efficiency', 'fake_rate' or 'duplicate_rate', got {quantity!r}"
            )
        if variable not in ("pt", "eta"):
            raise ValueError(f"variable must be 'pt' or 'eta', got {variable!r}")
        edges = np.asarray(bins, np.float64)
        if edges.ndim != 1 or edges.size < 2 or not (np.diff(edges) > 0).all():
            raise ValueError("bins must be a 1D increasing array of at least 2 edges")
        if quantity == "efficiency":
            keep = self._particle_cut(skip=variable)
            x = (self.particle_pt if variable == "pt" else self.particle_eta)[keep]
            flag = self.particle_matched[keep]
        else:
            keep = self.track_selected & np.isfinite(self.track_pt)
            x = (self.track_pt if variable == "pt" else self.track_eta)[keep]
            flag = (self.match.fake if quantity == "fake_rate" else self.match.duplicate)[keep]
        total = np.histogram(x, edges)[0]
        passed = np.histogram(x[flag], edges)[0]
        return BinnedRate(variable, edges, passed, total)


def tracking_performance(
    truth: Any,
    particles: Any,
    candidates: Any,
    *,
    matching_fraction: float = 0.5,
    double_majority: bool = False,
    pt_min: float = 1.0,
    eta_max: float = 2.5,
    min_hits: int = 3,
    track_pt: Any = None,
    track_eta: Any = None,
    select_tracks: bool = False,
) -> TrackingPerformance:
    """Match candidates to particles and collect what the rates need.

    Args:
        truth: TrackML truth table (``hit_id, particle_id``).
        particles: TrackML particles table (``particle_id, px, py, pz``).
        candidates: one hit-id array per candidate (negative ids are padding;
            empty candidates are dropped).
        matching_fraction: minimum purity for a match.
        double_majority: also require the particle's fraction of hits on the
            candidate to reach ``matching_fraction``.
        pt_min: particles with $p_T$ (GeV) below this are not in the efficiency.
        eta_max: particles with $|\\eta|$ above this are not in the efficiency.
        min_hits: particles with fewer hits in ``truth`` are not reconstructable.
        track_pt: ``(n_tracks,)`` $p_T$ of the non-empty candidates (e.g.
            fitted); default: the majority particle's truth.
        track_eta: ``(n_tracks,)`` their pseudorapidity, likewise.
        select_tracks: count in the fake and duplicate rates only candidates
            whose kinematics pass ``pt_min`` and ``eta_max`` (default: all);
            candidates without kinematics (noise majority) are always counted.

    Returns:
        A :class:`TrackingPerformance`; ``.summary()`` gives the rates,
        ``.binned(...)`` the rates against $p_T$ or $\\eta$.
    """
    if isinstance(min_hits, bool) or not isinstance(min_hits, int) or min_hits < 1:
        raise ValueError(f"min_hits must be a positive int, got {min_hits!r}")
    if not (pt_min >= 0 and eta_max > 0):
        raise ValueError(f"pt_min must be >= 0 and eta_max > 0, got {pt_min!r} and {eta_max!r}")
    t = _truth(truth)
    p = _particles(particles)
    match = match_candidates(
        truth, candidates, matching_fraction=matching_fraction, double_majority=double_majority
    )
    ppid = p["particle_id"].astype(np.int64)
    upid, ucount = np.unique(t["particle_id"].astype(np.int64), return_counts=True)
    idx, found = _lookup(ppid, upid)
    p_nhits = np.where(found, ucount[idx] if upid.size else 0, 0)
    matched_pids = np.unique(match.particle_id[match.matched])
    p_matched = _lookup(ppid, matched_pids)[1] & (ppid != 0)
    n_tracks = match.nhits.size
    tidx, tfound = _lookup(match.particle_id, ppid)
    tfound &= match.particle_id != 0
    if p["pt"].size:
        default_pt = np.where(tfound, p["pt"][tidx], np.nan)
        default_eta = np.where(tfound, p["eta"][tidx], np.nan)
    else:
        default_pt = default_eta = np.full(n_tracks, np.nan)
    tpt, teta = default_pt, default_eta
    for name, given in (("track_pt", track_pt), ("track_eta", track_eta)):
        if given is not None:
            arr = np.asarray(given, np.float64)
            if arr.shape != (n_tracks,):
                raise ValueError(
                    f"{name} must have shape ({n_tracks},) (one per non-empty candidate), "
                    f"got {arr.shape}"
                )
            if name == "track_pt":
                tpt = arr
            else:
                teta = arr
    tsel = np.ones(n_tracks, bool)
    if select_tracks:
        with np.errstate(invalid="ignore"):
            tsel = ~(tpt < pt_min) & ~(np.abs(teta) > eta_max)
    return TrackingPerformance(
        particle_pt=p["pt"],
        particle_eta=p["eta"],
        particle_nhits=p_nhits,
        particle_matched=p_matched,
        track_pt=tpt,
        track_eta=teta,
        match=match,
        pt_min=float(pt_min),
        eta_max=float(eta_max),
        min_hits=min_hits,
        track_selected=tsel,
    )


def tracking_efficiency(truth: Any, particles: Any, candidates: Any, **kwargs) -> dict[str, float]:
    """Efficiency, fake rate and duplicate rate with binomial errors and counts.

    Shorthand for ``tracking_performance(truth, particles, candidates, **kwargs).summary()``;
    see :func:`tracking_performance` for the options.
    """
    return tracking_performance(truth, particles, candidates, **kwargs).summary()


# -- resolutions and pulls ----------------------------------------------------------


def _names(names: Sequence[str] | None, k: int) -> tuple[str, ...]:
    if names is None:
        return BOUND_PARAMETERS if k == len(BOUND_PARAMETERS) else tuple(f"p{i}" for i in range(k))
    names = tuple(names)
    if len(names) != k:
        raise ValueError(f"names must have {k} entries (one per column), got {len(names)}")
    return names


def pull_summary(
    values: Any,
    *,
    names: Sequence[str] | None = None,
    mask: Any = None,
) -> dict[str, dict[str, float]]:
    """Mean and width (standard deviation) of each column, with their standard errors.

    For $n$ finite values with mean $\\bar x$ and standard deviation $s$,
    $\\sigma_{\\bar x} = s/\\sqrt n$ and $\\sigma_s \\approx s/\\sqrt{2(n-1)}$
    (Gaussian approximation). Use it on pulls $(\\hat x - x)/\\sigma$ (ideal:
    mean 0, width 1) or on residuals (the width is then the resolution).

    Args:
        values: ``(n, k)`` pulls or residuals (a ``(n,)`` array is one column).
        names: column names (default: the bound parameters
            ``loc0, loc1, phi, theta, qop`` when ``k == 5``).
        mask: ``(n,)`` or ``(n, k)`` booleans, the entries to use; non-finite
            entries are always left out.

    Returns:
        ``{name: {"mean", "mean_error", "width", "width_error", "n"}}``.
    """
    x = np.asarray(values, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"values must have shape (n, k), got {x.shape}")
    keep = np.isfinite(x)
    if mask is not None:
        m = np.asarray(mask, bool)
        if m.shape == (x.shape[0],):
            m = m[:, None]
        if m.shape not in ((x.shape[0], 1), x.shape):
            raise ValueError(f"mask must have shape ({x.shape[0]},) or {x.shape}, got {m.shape}")
        keep &= m
    out = {}
    for j, name in enumerate(_names(names, x.shape[1])):
        v = x[keep[:, j], j]
        n = v.size
        mean = float(v.mean()) if n else float("nan")
        sd = float(v.std(ddof=1)) if n > 1 else float("nan")
        out[name] = {
            "mean": mean,
            "mean_error": sd / np.sqrt(n) if n > 1 else float("nan"),
            "width": sd,
            "width_error": sd / np.sqrt(2 * (n - 1)) if n > 1 else float("nan"),
            "n": int(n),
        }
    return out


def resolution_summary(
    estimates: Any,
    truths: Any,
    *,
    names: Sequence[str] | None = None,
    mask: Any = None,
    angles: Sequence[str] = ("phi",),
) -> dict[str, dict[str, float]]:
    """Bias (mean) and resolution (width) of the residuals ``estimates - truths``.

    Columns named in ``angles`` are wrapped to $(-\\pi, \\pi]$ first. See
    :func:`pull_summary` for the output and the errors.

    Args:
        estimates: ``(n, k)`` fitted parameters.
        truths: ``(n, k)`` true parameters.
        names: column names (default: ``loc0, loc1, phi, theta, qop`` when ``k == 5``).
        mask: ``(n,)`` or ``(n, k)`` entries to use.
        angles: names of the periodic columns.
    """
    est, tru = np.asarray(estimates, np.float64), np.asarray(truths, np.float64)
    if est.shape != tru.shape:
        raise ValueError(
            f"estimates and truths must have the same shape, got {est.shape} and {tru.shape}"
        )
    res = est - tru
    if res.ndim == 1:
        res = res[:, None]
    names = _names(names, res.shape[1])
    for j, name in enumerate(names):
        if name in angles:
            res[:, j] = np.angle(np.exp(1j * res[:, j]))
    return pull_summary(res, names=names, mask=mask)


# -- plots --------------------------------------------------------------------------


def plot_rates(curves: Mapping[str, BinnedRate], path, *, ylabel: str | None = None) -> None:
    """Plot binned rates (e.g. efficiency against $p_T$ for several configurations).

    Args:
        curves: ``{label: BinnedRate}``, all against the same variable.
        path: PNG file to write (atomically).
        ylabel: y-axis label (default: none).
    """
    from hepjax._core import figure

    if not curves:
        raise ValueError("curves must hold at least one BinnedRate")
    variables = {c.variable for c in curves.values()}
    if len(variables) != 1:
        raise ValueError(f"curves must share one variable, got {sorted(variables)}")
    variable = variables.pop()
    with figure(path) as (_fig, ax):
        for label, c in curves.items():
            half = 0.5 * np.diff(c.edges)
            ax.errorbar(c.centers, c.value, xerr=half, yerr=c.error, fmt="o", ms=4, label=label)
        ax.set_xlabel(r"$p_T$ [GeV]" if variable == "pt" else r"$\eta$")
        if variable == "pt" and all(c.edges[0] > 0 for c in curves.values()):
            ax.set_xscale("log")
        if ylabel:
            ax.set_ylabel(ylabel)
        ax.legend()


def _gauss_fit(v: np.ndarray, edges: np.ndarray) -> tuple[float, float, float, float]:
    """Least-squares Gaussian fit to a histogram (Poisson errors): mu, sigma and errors."""
    from scipy.optimize import curve_fit

    counts, _ = np.histogram(v, edges)
    centers = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]

    def gauss(x, mu, sigma):
        return (
            v.size
            * width
            * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
            / (np.sqrt(2 * np.pi) * abs(sigma))
        )

    try:
        popt, pcov = curve_fit(
            gauss,
            centers,
            counts,
            p0=(v.mean(), v.std()),
            sigma=np.sqrt(np.maximum(counts, 1.0)),
            absolute_sigma=True,
        )
        err = np.sqrt(np.diag(pcov))
        return float(popt[0]), float(abs(popt[1])), float(err[0]), float(err[1])
    except (RuntimeError, ValueError):
        return float("nan"), float("nan"), float("nan"), float("nan")


def plot_pulls(
    pulls: Any,
    path,
    *,
    names: Sequence[str] | None = None,
    mask: Any = None,
    bins: int = 40,
    limit: float = 5.0,
) -> dict[str, dict[str, float]]:
    """Histogram each pull column in ``[-limit, limit]`` with a Gaussian fit.

    Args:
        pulls: ``(n, k)`` pulls.
        path: PNG file to write (atomically).
        names: column names (default: the bound parameters when ``k == 5``).
        mask: ``(n,)`` entries to use.
        bins: histogram bins.
        limit: histogram range.

    Returns:
        ``{name: {"mu", "mu_error", "sigma", "sigma_error"}}`` of the fits.
    """
    from hepjax._core import figure

    x = np.asarray(pulls, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"pulls must have shape (n, k), got {x.shape}")
    names = _names(names, x.shape[1])
    keep = np.ones(x.shape[0], bool) if mask is None else np.asarray(mask, bool)
    if keep.shape != (x.shape[0],):
        raise ValueError(f"mask must have shape ({x.shape[0]},), got {keep.shape}")
    edges = np.linspace(-limit, limit, bins + 1)
    fits = {}
    k = x.shape[1]
    with figure(path, size=(3.2 * k, 3.4), ncols=k) as (_fig, axes):
        axes = np.atleast_1d(axes)
        for j, (ax, name) in enumerate(zip(axes, names, strict=True)):
            v = x[keep & np.isfinite(x[:, j]), j]
            v = v[np.abs(v) <= limit]
            ax.hist(v, edges, histtype="step", color="k")
            mu, sigma, mu_e, sigma_e = _gauss_fit(v, edges) if v.size > 2 else (np.nan,) * 4
            fits[name] = {"mu": mu, "mu_error": mu_e, "sigma": sigma, "sigma_error": sigma_e}
            if np.isfinite(sigma):
                xs = np.linspace(-limit, limit, 200)
                w = edges[1] - edges[0]
                ys = v.size * w * np.exp(-0.5 * ((xs - mu) / sigma) ** 2)
                ax.plot(xs, ys / (np.sqrt(2 * np.pi) * sigma), "r-", lw=1)
            ax.set_xlabel(f"pull {name}")
            ax.set_title(f"$\\mu$={mu:.2f} $\\sigma$={sigma:.2f}", fontsize=10)
    return fits
