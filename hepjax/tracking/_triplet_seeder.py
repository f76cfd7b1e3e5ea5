"""Pixel triplet seeding (:class:`TripletSeeder`), in fixed shapes.

Seeds are triplets of space points on three different pixel layers (bottom
``b``, middle ``m``, top ``t``) that pass the cuts of ACTS's seed finder
(Acts::SeedFinder; the "standard" orthogonal/grid seeding), written here in a
fixed-shape, jit-able form:

* **Doublet cuts (r–z plane).** The bottom–middle line must point back to the
  luminous region, ``|z0| = |z_b - r_b cot(theta_bm)| < z0_max``, with
  ``|cot(theta_bm)| < cot_theta_max`` (the eta acceptance).
* **Triplet cuts.** The two doublets must have compatible polar angles,
  ``|cot(theta_bm) - cot(theta_mt)| < n_sigma * sigma``, where ``sigma``
  combines multiple scattering for the minimum pT (Highland,
  ``theta0 = 13.6 MeV / p * sqrt(x/X0)``, in ``cot`` units
  ``sigma_cot = theta0 (1 + cot^2)``) and the z resolution; the circle through
  the three points in the x–y plane must have ``pT = 0.3 Bz R >= min_pt`` (R in m) and a
  transverse impact parameter ``|d0| < d0_max``.
* **Seed filter.** For every middle space point the best triplet (smallest
  ``|Delta cot|`` normalised to its tolerance, plus ``|d0|``) is kept.

Hit lookup is a sorted-phi window: the hits of each layer are sorted by phi
and, for every middle hit, the ``window`` nearest hits in phi on the bottom and
top layers are paired (``window^2`` triplets per middle hit), so shapes are fixed.
The helix estimate (:func:`~hepjax.tracking.estimate_parameters`) gives the
bound parameters at the bottom hit's cylinder and a diagonal covariance.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._core import check_positive_int
from ._seeds import (
    C_LIGHT,
    AbstractSeeder,
    Seeds,
    _bucket,
    _circle_mframe,
    _event_xyz,
    _pixel_layers,
    estimate_parameters,
)

__all__ = ["TripletSeeder"]


class TripletSeeder(AbstractSeeder):
    """Seeds from pixel triplets (see the module docstring); units mm, GeV.

    Attributes:
        min_pt: minimum transverse momentum of a seed [GeV].
        z0_max: half-length of the luminous region along z [mm].
        d0_max: maximum transverse impact parameter [mm].
        eta_max: maximum |eta| (gives ``cot_theta_max = sinh(eta_max)``).
        rad_length_per_layer: x/X0 of one pixel layer at normal incidence (for
            the scattering term of the ``cot(theta)`` compatibility cut).
        sigma_z: z resolution of a pixel hit [mm].
        n_sigma: width of the ``cot(theta)`` compatibility cut in sigmas.
        window: number of nearest-in-phi hits paired on the bottom and top layers.
        layer_triples: the pixel layer triples ``(bottom, middle, top)`` that are
            combined (indices into the pixel layers, inside out), in order of
            priority. ``None``: all ordered triples of the pixel layers, the
            compact ones (consecutive layers) first.
        init_sigmas: standard deviations of the initial covariance for
            ``(loc0, loc1, phi, theta)`` [mm, mm, rad, rad].
        init_sigma_qop_rel: relative standard deviation of ``q/p``.
        init_sigma_qopt: absolute standard deviation of ``q/pT`` [e/GeV] (ACTS's
            ``initialSigmaQoverPt``); the two add in quadrature.
        deduplicate: drop a seed that shares two hits with a seed of an earlier
            layer triple (compact triples come first), so that a particle with
            hits on all pixel layers gives one seed instead of four.
    """

    min_pt: float = eqx.field(static=True, default=0.5)
    z0_max: float = eqx.field(static=True, default=200.0)
    d0_max: float = eqx.field(static=True, default=3.0)
    eta_max: float = eqx.field(static=True, default=3.0)
    rad_length_per_layer: float = eqx.field(static=True, default=0.02)
    sigma_z: float = eqx.field(static=True, default=0.05)
    n_sigma: float = eqx.field(static=True, default=5.0)
    window: int = eqx.field(static=True, default=12)
    layer_triples: tuple[tuple[int, int, int], ...] | None = eqx.field(static=True, default=None)
    init_sigmas: tuple[float, float, float, float] = eqx.field(
        static=True, default=(0.5, 0.5, 0.01, 0.01)
    )
    init_sigma_qop_rel: float = eqx.field(static=True, default=0.1)
    init_sigma_qopt: float = eqx.field(static=True, default=0.1)
    deduplicate: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        for name in ("min_pt", "z0_max", "d0_max", "eta_max", "n_sigma", "sigma_z"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise ValueError(
                    f"TripletSeeder.{name} must be a positive finite number, got {v!r}"
                )
        check_positive_int("TripletSeeder.window", self.window)
        if self.layer_triples is not None:
            for t in self.layer_triples:
                if len(t) != 3 or not (t[0] < t[1] < t[2]) or t[0] < 0:
                    raise ValueError(
                        "TripletSeeder.layer_triples must hold increasing (bottom, middle, top) "
                        f"layer indices, got {t!r}"
                    )

    def seed_event(self, event, geometry, *, dtype=None) -> Seeds:
        """Triplet seeds of an event's pixel hits (:meth:`seed_arrays` on its tables).

        Args:
            event: the :class:`~hepjax.sim.tracker.Event`.
            geometry: its :class:`~hepjax.sim.tracker.BarrelGeometry` (pixel layers: those before
                the first strip layer).
            dtype: float dtype of the parameters (default: JAX's default float).
        """
        n_pix = _pixel_layers(geometry)
        dtype = dtype or jnp.result_type(float)
        layer = np.asarray(event.measurements["layer"])
        pl = np.where(layer < n_pix, layer, -1)
        counts = np.bincount(pl[pl >= 0], minlength=n_pix)
        cap = _bucket(int(counts.max(initial=1)))
        size = _bucket(len(pl), 64)
        xyz = _event_xyz(event, size, dtype)
        pl = np.pad(pl, (0, size - len(pl)), constant_values=-1)
        bz = float(np.asarray(geometry.bz))
        seeds = _triplets_jit(self, *xyz, jnp.asarray(pl, jnp.int32), bz, n_pix, cap)
        return seeds.compact()

    def seed_arrays(
        self,
        x: Float[Array, " N"],
        y: Float[Array, " N"],
        z: Float[Array, " N"],
        layer: Int[Array, " N"],
        mask: Bool[Array, " N"] | None = None,
        *,
        bz: float,
        num_layers: int,
        max_hits_per_layer: int,
    ) -> Seeds:
        """Triplet seeds from pixel space points (fixed shapes, jit-able).

        Args:
            x, y, z: space point coordinates [mm].
            layer: pixel layer index of each space point (``0 .. num_layers-1``, inside
                out); any other value (e.g. ``-1`` for strip hits) is ignored.
            mask: which space points are real (default: all).
            bz: the solenoid field [T] (a Python float: static).
            num_layers: the number of pixel layers (static).
            max_hits_per_layer: static capacity per layer; extra hits are dropped
                (choose it above the largest occupancy).

        Returns:
            :class:`Seeds` with one row per (layer triple, middle slot): at most one
            seed per middle space point and layer triple; ``hits`` has ``num_layers``
            columns (the global indices of the three hits, ``-1`` elsewhere).
        """
        if x.ndim != 1 or y.shape != x.shape or z.shape != x.shape or layer.shape != x.shape:
            raise ValueError(
                "x, y, z and layer must be 1-D arrays of the same length, got shapes "
                f"{x.shape}, {y.shape}, {z.shape}, {layer.shape}"
            )
        if num_layers < 3:
            raise ValueError(f"num_layers must be >= 3 for triplets, got {num_layers}")
        if mask is None:
            mask = jnp.ones(x.shape, bool)
        mask = mask & jnp.isfinite(x) & jnp.isfinite(y) & jnp.isfinite(z)
        cfg = self
        triples = cfg.layer_triples
        if triples is None:
            # compact triples first: (0,1,2), (1,2,3), ..., then those skipping a layer
            triples = tuple(
                sorted(
                    (
                        (a, b, c)
                        for a in range(num_layers)
                        for b in range(a + 1, num_layers)
                        for c in range(b + 1, num_layers)
                    ),
                    key=lambda t: (t[2] - t[0], t[0], t[1]),
                )
            )
        for t in triples:
            if t[2] >= num_layers:
                raise ValueError(f"layer triple {t} exceeds num_layers={num_layers}")
        M = int(max_hits_per_layer)
        W = cfg.window
        order, phis, counts = _layer_table(x, y, z, layer, mask, num_layers, M)
        pos = jnp.stack([x, y, z], -1)
        r = jnp.sqrt(x**2 + y**2)
        cot_max = math.sinh(cfg.eta_max)
        pt_min = cfg.min_pt
        dtype = x.dtype

        def per_middle(lb, lm, lt, slot):
            im = order[lm, slot]
            valid_m = slot < counts[lm]
            pm = pos[im]
            phim = jnp.arctan2(pm[1], pm[0])
            jb, vb = _window(phis[lb], counts[lb], phim, W)
            jt, vt = _window(phis[lt], counts[lt], phim, W)
            ib = order[lb, jb]
            it = order[lt, jt]
            pb = pos[ib]  # (W, 3)
            pt_ = pos[it]
            rb, rm, rt = r[ib], r[im], r[it]
            cot_bm = (pm[2] - pb[:, 2]) / (rm - rb)
            z0 = pb[:, 2] - rb * cot_bm
            ok_b = vb & (jnp.abs(z0) < cfg.z0_max) & (jnp.abs(cot_bm) < cot_max) & (rm > rb)
            cot_mt = (pt_[:, 2] - pm[2]) / (rt - rm)
            ok_t = vt & (jnp.abs(cot_mt) < cot_max) & (rt > rm)
            # pairwise (W_b, W_t)
            dcot = cot_bm[:, None] - cot_mt[None, :]
            cot_avg = 0.5 * (cot_bm[:, None] + cot_mt[None, :])
            one_p = 1 + cot_avg**2
            sig_ms = 13.6e-3 / pt_min * math.sqrt(cfg.rad_length_per_layer) * one_p**0.75
            sig_res = cfg.sigma_z * jnp.sqrt(
                1.0 / (rm - rb)[:, None] ** 2 + 1.0 / (rt - rm)[None, :] ** 2
            )
            tol = cfg.n_sigma * jnp.sqrt(sig_ms**2 + 2 * sig_res**2)
            bxy = jnp.broadcast_to(pb[:, None, :2], (W, W, 2))
            txy = jnp.broadcast_to(pt_[None, :, :2], (W, W, 2))
            _, kappa, d0 = _circle_mframe(bxy, pm[:2], txy)
            pt_est = C_LIGHT * abs(bz) / jnp.maximum(jnp.abs(kappa), 1e-12)
            ok = (
                ok_b[:, None]
                & ok_t[None, :]
                & (jnp.abs(dcot) < tol)
                & (pt_est >= pt_min)
                & (d0 < cfg.d0_max)
                & valid_m
            )
            score = jnp.abs(dcot) / tol + d0 / cfg.d0_max
            score = jnp.where(ok, score, jnp.inf).reshape(-1)
            best = jnp.argmin(score)
            found = jnp.isfinite(score[best])
            bi, ti = ib[best // W], it[best % W]
            params, cov = estimate_parameters(
                pos[bi],
                pm,
                pos[ti],
                bz=bz,
                init_sigmas=cfg.init_sigmas,
                init_sigma_qop_rel=cfg.init_sigma_qop_rel,
                init_sigma_qopt=cfg.init_sigma_qopt,
            )
            hits = jnp.full((num_layers,), -1, jnp.int32)
            hits = hits.at[lb].set(bi).at[lm].set(im).at[lt].set(ti)
            return hits, params.astype(dtype), cov.astype(dtype), found

        tri = jnp.asarray(triples, jnp.int32)
        n_t = tri.shape[0]
        slots = jnp.arange(M)
        hits, params, cov, found = jax.vmap(
            lambda t: jax.vmap(lambda sl: per_middle(t[0], t[1], t[2], sl))(slots)
        )(tri)
        hits = hits.reshape(n_t * M, num_layers)
        params = params.reshape(n_t * M, 5)
        cov = cov.reshape(n_t * M, 5, 5)
        found = found.reshape(n_t * M)
        start = jnp.repeat(tri[:, 0], M)
        if cfg.deduplicate:
            found = found & ~_shadowed(hits, found)
        hits = jnp.where(found[:, None], hits, -1)
        params = jnp.where(found[:, None], params, 0.0)
        cov = jnp.where(found[:, None, None], cov, jnp.eye(5, dtype=dtype))
        return Seeds(hits=hits, params=params, cov=cov, start_layer=start, mask=found)


@eqx.filter_jit
def _triplets_jit(seeder, x, y, z, layer, bz, n_pix, cap):
    return seeder.seed_arrays(x, y, z, layer, bz=bz, num_layers=n_pix, max_hits_per_layer=cap)


def _layer_table(x, y, z, layer, mask, num_layers, size):
    """Per layer: hit indices sorted by phi, padded to ``size`` (phi = +inf pads)."""
    phi = jnp.arctan2(y, x)

    def one(lay):
        sel = mask & (layer == lay)
        key = jnp.where(sel, phi, jnp.inf)
        order = jnp.argsort(key)[:size]
        return order, key[order], jnp.sum(sel)

    return jax.vmap(one)(jnp.arange(num_layers))


def _window(phis, n, phi0, w):
    """Indices (into the sorted layer) of the ``w`` hits nearest in phi to ``phi0``."""
    i = jnp.searchsorted(phis, phi0)
    j = i - w // 2 + jnp.arange(w)
    nn = jnp.maximum(n, 1)
    j = j % nn
    valid = jnp.arange(w) < n  # fewer hits than the window: each once
    return j, valid


def _shadowed(hits, valid, min_shared: int = 2):
    """Seeds sharing ``min_shared`` hits with a valid seed of higher priority (earlier row)."""
    same = (hits[:, None, :] == hits[None, :, :]) & (hits[:, None, :] >= 0)
    shared = jnp.sum(same, -1)
    n = hits.shape[0]
    earlier = jnp.arange(n)[None, :] < jnp.arange(n)[:, None]
    return jnp.any((shared >= min_shared) & earlier & valid[None, :], axis=1)
