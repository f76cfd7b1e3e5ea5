"""Seeds from pixel track candidates found by something else (:class:`CandidateSeeder`).

A GNN (:func:`hepjax.tracking.track_candidates`) or the truth groups the pixel
hits of each track; every candidate becomes one seed, with the helix estimate
(:func:`~hepjax.tracking.estimate_parameters`) from its first, a middle and its
last hit, at the first hit's layer. The CKF then filters through all the
candidate's hits (they are *forced*) before searching the remaining layers:
the combination of arXiv:2401.16016 (Huth et al., "Combined track finding
with GNN & CKF"). A two-hit candidate is completed by the point of the beam
line where the line through its hits meets it (a vertex constraint), with its
direction and $q/p$ variances inflated 4x.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._core import check_positive_int
from ._seeds import (
    AbstractSeeder,
    Seeds,
    _bucket,
    _event_xyz,
    _params_at,
    _pixel_layers,
    estimate_parameters,
)

__all__ = ["CandidateSeeder"]


def _as_candidates(candidates: Any) -> tuple[np.ndarray, ...]:
    if isinstance(candidates, str | bytes) or not isinstance(candidates, Sequence | np.ndarray):
        raise TypeError(
            "candidates must be a sequence of hit-id arrays (one per track candidate), "
            f"got {type(candidates).__name__}"
        )
    out = []
    for i, c in enumerate(candidates):
        c = np.asarray(c).reshape(-1)
        if c.size and not np.issubdtype(c.dtype, np.integer):
            raise TypeError(f"candidates[{i}] must hold integer hit ids, got dtype {c.dtype}")
        out.append(c.astype(np.int64))
    return tuple(out)


class CandidateSeeder(AbstractSeeder):
    """One seed per pixel track candidate (see the module docstring).

    Attributes:
        candidates: one array of TrackML hit ids per candidate (a GNN's
            candidates or the truth's pixel hits per particle); strip hits in
            them are ignored and one hit per pixel layer is kept (the first).
            Only :meth:`seed_event` uses them.
        min_hits: the fewest pixel hits a usable candidate has (at least 2).
        init_sigmas: standard deviations of the initial covariance for
            ``(loc0, loc1, phi, theta)`` [mm, mm, rad, rad].
        init_sigma_qop_rel: relative standard deviation of ``q/p``.
        init_sigma_qopt: absolute standard deviation of ``q/pT`` [e/GeV].
    """

    candidates: tuple[np.ndarray, ...] = eqx.field(converter=_as_candidates, default=())
    min_hits: int = eqx.field(static=True, default=2)
    init_sigmas: tuple[float, float, float, float] = eqx.field(
        static=True, default=(0.5, 0.5, 0.01, 0.01)
    )
    init_sigma_qop_rel: float = eqx.field(static=True, default=0.1)
    init_sigma_qopt: float = eqx.field(static=True, default=0.1)

    def __check_init__(self):
        check_positive_int("CandidateSeeder.min_hits", self.min_hits)
        if self.min_hits < 2:
            raise ValueError(
                "CandidateSeeder.min_hits must be >= 2 (a helix needs a third point), "
                f"got {self.min_hits}"
            )

    def _options(self) -> dict:
        return dict(
            min_hits=self.min_hits,
            init_sigmas=tuple(self.init_sigmas),
            init_sigma_qop_rel=self.init_sigma_qop_rel,
            init_sigma_qopt=self.init_sigma_qopt,
        )

    def seed_arrays(
        self,
        rows: Int[Array, "S P"],
        x: Float[Array, " N"],
        y: Float[Array, " N"],
        z: Float[Array, " N"],
        *,
        bz: float,
    ) -> Seeds:
        """Seeds from candidates given as hit rows (fixed shapes, jit-able).

        Args:
            rows: index into ``x, y, z`` of each candidate's hit on each pixel
                layer (column = pixel layer, inside out), ``-1`` where it has
                none. Candidates with fewer than ``min_hits`` hits are masked out.
            x, y, z: hit coordinates [mm].
            bz: field [T] (a Python float: static).

        Returns:
            :class:`~hepjax.tracking.Seeds`, one row per candidate, at the
            first hit's layer.
        """
        return _candidate_seeds(rows, x, y, z, bz=bz, **self._options())

    def seed_event(self, event, geometry, *, dtype=None) -> Seeds:
        """Seeds of the candidates (TrackML hit ids) of one event.

        Args:
            event: the :class:`~hepjax.sim.tracker.Event` the candidates' hit ids refer to.
            geometry: its :class:`~hepjax.sim.tracker.BarrelGeometry`.
            dtype: float dtype of the parameters (default: JAX's default float).
        """
        n_pix = _pixel_layers(geometry)
        dtype = dtype or jnp.result_type(float)
        hit_ids = np.asarray(event.hits["hit_id"])
        row_of = {int(h): i for i, h in enumerate(hit_ids)}
        layer = np.asarray(event.measurements["layer"])
        candidates = self.candidates
        rows = np.full((max(len(candidates), 1), n_pix), -1, np.int64)
        for i, cand in enumerate(candidates):
            for hid in cand.tolist():
                r = row_of.get(int(hid))
                if r is None:
                    if int(hid) > 0:
                        raise ValueError(
                            f"candidate {i} has hit id {int(hid)} that is not in the event"
                        )
                    continue
                lay = layer[r]
                if lay < n_pix and rows[i, lay] < 0:
                    rows[i, lay] = r
        size = _bucket(len(rows), 8)
        rows = np.concatenate([rows, np.full((size - len(rows), n_pix), -1)])
        xyz = _event_xyz(event, _bucket(len(hit_ids), 64), dtype)
        bz = float(np.asarray(geometry.bz))
        seeds = _candidate_seeds_jit(jnp.asarray(rows, jnp.int32), *xyz, bz, self._options())
        return seeds.compact()


@eqx.filter_jit
def _candidate_seeds_jit(rows, x, y, z, bz, options):
    return _candidate_seeds(rows, x, y, z, bz=bz, **options)


def _candidate_seeds(
    candidates: Int[Array, "S P"],
    x: Float[Array, " N"],
    y: Float[Array, " N"],
    z: Float[Array, " N"],
    *,
    bz: float,
    init_sigmas=(0.5, 0.5, 0.01, 0.01),
    init_sigma_qop_rel: float = 0.1,
    init_sigma_qopt: float = 0.1,
    min_hits: int = 2,
) -> Seeds:
    """Seeds from candidate rows (see :meth:`CandidateSeeder.seed_arrays`)."""
    candidates = jnp.asarray(candidates)
    if candidates.ndim != 2:
        raise ValueError(
            f"candidates must be (num_candidates, num_pixel_layers), got {candidates.shape}"
        )
    pos = jnp.stack([x, y, z], -1)
    P = candidates.shape[1]

    def one(c):
        has = c >= 0
        n = jnp.sum(has)
        first = jnp.argmax(has)
        last = P - 1 - jnp.argmax(has[::-1])
        # middle: the hit closest to the middle rank
        ranks = jnp.cumsum(has) - 1
        mid_rank = (n - 1) // 2
        mid = jnp.argmax(has & (ranks == jnp.maximum(mid_rank, 1)))
        idx = jnp.maximum(c, 0)
        kw = dict(
            bz=bz,
            init_sigmas=init_sigmas,
            init_sigma_qop_rel=init_sigma_qop_rel,
            init_sigma_qopt=init_sigma_qopt,
        )
        p_first, p_mid, p_last = pos[idx[first]], pos[idx[mid]], pos[idx[last]]
        params3, cov3 = estimate_parameters(p_first, p_mid, p_last, **kw)
        # two hits: the beam line at the z where their line meets it is the third point
        r1 = jnp.hypot(p_first[0], p_first[1])
        r2 = jnp.hypot(p_last[0], p_last[1])
        z0 = p_first[2] - r1 * (p_last[2] - p_first[2]) / (r2 - r1)
        vertex = jnp.stack([jnp.zeros_like(z0), jnp.zeros_like(z0), z0])
        params2, cov2 = _params_at(vertex, p_first, p_last, p_first, p_last, **kw)
        three = n >= 3
        params = jnp.where(three, params3, params2)
        cov = jnp.where(three, cov3, cov2 * jnp.array([1.0, 1.0, 4.0, 4.0, 4.0]))
        ok = (n >= min_hits) & jnp.all(jnp.isfinite(params))
        return params, cov, first.astype(jnp.int32), ok

    params, cov, start, ok = jax.vmap(one)(candidates)
    params = jnp.where(ok[:, None], params, 0.0)
    cov = jnp.where(ok[:, None, None], cov, jnp.eye(5, dtype=cov.dtype))
    hits = jnp.where(ok[:, None], candidates, -1).astype(jnp.int32)
    return Seeds(hits=hits, params=params, cov=cov, start_layer=start, mask=ok)
