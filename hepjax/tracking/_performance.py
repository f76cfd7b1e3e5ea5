r"""Tracking efficiency, fake and duplicate rates, overall and binned in $p_T$ or $\eta$.

A candidate is matched to its majority particle as in
:func:`hepjax.tracking.match_candidates` (a *fake* when not matched, a
*duplicate* when another candidate matches the same particle better). Then

.. math::
    \epsilon = \frac{\#\{\text{selected particles with a matched candidate}\}}
                    {\#\{\text{selected particles}\}}, \quad
    r_{\rm fake} = \frac{N_{\rm fake}}{N_{\rm tracks}}, \quad
    r_{\rm dup} = \frac{N_{\rm duplicate}}{N_{\rm tracks}},

each with the binomial error $\sqrt{r(1-r)/N}$. Selected particles have
$p_T \ge p_{T,\min}$, $|\eta| \le \eta_{\max}$ and at least ``min_hits`` hits in
``truth`` (restrict ``truth`` to pixel hits to evaluate pixel-only candidates).

Everything here is host NumPy: this is evaluation code, not a training path.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._core import check_positive_int
from ._matching import TrackMatch, _lookup, _particles, _truth, match_candidates

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

        Args:
            quantity: ``"efficiency"``, ``"fake_rate"`` or ``"duplicate_rate"``.
            variable: ``"pt"`` (GeV) or ``"eta"``.
            bins: bin edges, increasing.
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
    min_hits = check_positive_int("min_hits", min_hits)
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

    Args:
        truth: TrackML truth table (``hit_id, particle_id``).
        particles: TrackML particles table (``particle_id, px, py, pz``).
        candidates: one hit-id array per candidate (negative ids are padding).
    """
    return tracking_performance(truth, particles, candidates, **kwargs).summary()


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
