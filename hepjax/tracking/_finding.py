r"""Track finding in one event: measurements, the CKF, ambiguity resolution.

:func:`find_tracks` runs the Combinatorial Kalman Filter
(:func:`hepjax.tracking.ckf`) from an event's seeds
(:func:`hepjax.tracking.seeds`) over its measurements
(:func:`event_measurements`), then the ambiguity resolution.

**Ambiguity resolution** (:func:`resolve_ambiguities`, ACTS's greedy solver):
tracks sharing hits are removed one at a time, the one with the largest
fraction of shared hits first (ties: fewer hits, then larger $\chi^2$), until
no track has more than ``max_shared`` shared hits. This removes the duplicates
that several seeds of one particle produce.

Reference: X. Ai et al., "A common tracking software project" (ACTS),
Comput. Softw. Big Sci. 6 (2022) 8.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..sim.tracker import Measurements
from ._ckf import CKFConfig, Tracks, ckf
from ._seeds import Seeds, _bucket

__all__ = ["event_measurements", "find_tracks", "resolve_ambiguities"]


def event_measurements(event, *, size: int | None = None, dtype=None) -> Measurements:
    """All measurements of an event as flat :class:`~hepjax.sim.tracker.Measurements` ``(N,)``.

    Row ``i`` is the event's hit ``i`` (its ``hits``/``measurements`` tables are
    row-aligned), so track hit indices map to ``event.hits["hit_id"]``. Hits with
    non-finite measurements are masked out (validate the event first with
    :func:`hepjax.sim.tracker.validate_event` to get an error instead).

    Args:
        event: a :class:`~hepjax.sim.tracker.Event`.
        size: pad to this many rows (masked out), e.g. to reuse a compilation.
        dtype: float dtype (default: JAX's default float).
    """
    m = event.measurements
    for c in ("layer", "loc0", "loc1", "stereo", "var_u", "var_v", "cov_uv", "ndim", "hit_id"):
        if c not in m:
            raise ValueError(f"event.measurements is missing the column {c!r}")
    dtype = dtype or jnp.result_type(float)
    two = np.asarray(m["ndim"]) == 2
    var_u = np.asarray(m["var_u"], float)
    # 1D strips keep var_v = length^2 / 12 (the update ignores it; the CKF's module
    # gate uses it)
    var_v = np.asarray(m["var_v"], float)
    var_v = np.where(two | (np.isfinite(var_v) & (var_v > 0)), var_v, 1e12)
    cuv = np.where(two, np.asarray(m["cov_uv"], float), 0.0)
    cov = np.stack([np.stack([var_u, cuv], -1), np.stack([cuv, var_v], -1)], -2)
    loc = np.stack([np.asarray(m["loc0"], float), np.asarray(m["loc1"], float)], -1)
    ok = np.all(np.isfinite(loc), 1) & np.isfinite(var_u) & (var_u > 0)
    ok &= ~two | (var_u * var_v - cuv**2 > 0)
    n = len(ok)
    size = n if size is None else int(size)
    if size < n:
        raise ValueError(f"size={size} is smaller than the number of measurements {n}")
    pad = lambda a, v=0: np.pad(a, [(0, size - n)] + [(0, 0)] * (a.ndim - 1), constant_values=v)
    return Measurements(
        loc=jnp.asarray(pad(np.where(ok[:, None], loc, 0.0)), dtype),
        stereo=jnp.asarray(pad(np.asarray(m["stereo"], float)), dtype),
        cov=jnp.asarray(pad(np.where(ok[:, None, None], cov, np.eye(2)), 1.0), dtype),
        is_2d=jnp.asarray(pad(two)),
        layer=jnp.asarray(pad(np.asarray(m["layer"]).astype(np.int32), -1)),
        hit_id=jnp.asarray(pad(np.asarray(m["hit_id"]).astype(np.int32))),
        mask=jnp.asarray(pad(ok)),
    )


def resolve_ambiguities(tracks: Tracks, num_measurements: int, *, max_shared: int = 1) -> Tracks:
    """Greedy ambiguity resolution: drop tracks that share too many hits (jit-able).

    Repeatedly, among the kept tracks, each hit's multiplicity is counted; a
    track's *shared* hits are those used by another kept track. While some track
    has more than ``max_shared`` shared hits, the one with the largest fraction of
    shared hits (ties: fewer hits, then larger chi2 per hit) is dropped. Exact
    duplicates share all their hits and go first. (ACTS's
    ``GreedyAmbiguityResolution``.)

    Args:
        tracks: :class:`Tracks` (from :func:`ckf`).
        num_measurements: the number of measurements of the event (static; the
            size of the hit-count table).
        max_shared: the largest number of shared hits a kept track may have.

    Returns:
        ``tracks`` with ``mask`` restricted to the survivors.
    """
    if max_shared < 0:
        raise ValueError(f"max_shared must be >= 0, got {max_shared}")
    hits = tracks.hits
    valid_hit = hits >= 0
    hidx = jnp.where(valid_hit, hits, num_measurements)  # a dump slot
    n = jnp.maximum(tracks.n_hits, 1)
    chi2_per_hit = tracks.chi2 / n

    def shared_of(keep):
        w = jnp.where(keep[:, None] & valid_hit, 1, 0)
        count = jnp.zeros(num_measurements + 1, jnp.int32).at[hidx].add(w)
        return jnp.sum((count[hidx] > 1) & valid_hit, axis=1)

    def cond(c):
        keep, shared = c
        return jnp.any(keep & (shared > max_shared))

    def body(c):
        keep, shared = c
        cand = keep & (shared > max_shared)
        # lexicographic: largest shared fraction (exact, as a cross-multiplied
        # comparison), then fewest hits, then largest chi2 per hit
        frac_num, frac_den = jnp.where(cand, shared, -1), n
        best_i = jnp.argmax(jnp.where(cand, shared / n, -1.0))
        is_max = cand & (frac_num * frac_den[best_i] == frac_num[best_i] * frac_den)
        n_min = jnp.min(jnp.where(is_max, n, jnp.iinfo(jnp.int32).max))
        is_max = is_max & (n == n_min)
        worst = jnp.argmax(jnp.where(is_max, chi2_per_hit, -jnp.inf))
        keep = keep.at[worst].set(False)
        return keep, shared_of(keep)

    keep0 = tracks.mask
    keep, _ = jax.lax.while_loop(cond, body, (keep0, shared_of(keep0)))
    return eqx.tree_at(lambda t: t.mask, tracks, keep)


@eqx.filter_jit
def _ckf_jit(seeds, meas, geometry, config, cap):
    tracks = ckf(seeds, meas, geometry, config=config, max_hits_per_layer=cap)
    return resolve_ambiguities(tracks, meas.layer.shape[0], max_shared=config.max_shared)


def find_tracks(
    event,
    geometry,
    seeds: Seeds,
    *,
    config: CKFConfig = CKFConfig(),
    dtype=None,
) -> tuple[list[np.ndarray], Tracks]:
    """CKF from ``seeds`` through an event, then ambiguity resolution.

    Args:
        event: the :class:`~hepjax.sim.tracker.Event`.
        geometry: its geometry.
        seeds: :class:`~hepjax.tracking.Seeds` indexing the event's rows
            (:func:`hepjax.tracking.seeds`).
        config: :class:`CKFConfig`.
        dtype: float dtype of the filter (default: JAX's default float; float64 under
            ``jax.enable_x64``).

    Returns:
        ``(candidates, tracks)``: the TrackML hit ids of every kept track, and the
        :class:`Tracks` (rows index the event's hits; ``mask`` = kept).
    """
    dtype = dtype or seeds.params.dtype
    meas = event_measurements(event, size=_bucket(event.n_hits, 64), dtype=dtype)
    layer = np.asarray(event.measurements["layer"])
    counts = np.bincount(layer, minlength=geometry.n_layers)
    cap = _bucket(max(int(counts.max(initial=1)), config.window))
    seeds = jax.tree.map(
        lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, seeds
    )
    tracks = _ckf_jit(seeds, meas, geometry, config, cap)
    hit_ids = np.asarray(event.hits["hit_id"])
    return [hit_ids[h] for h in tracks.hit_lists()], tracks
