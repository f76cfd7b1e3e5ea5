"""Pixel triplet seeding with a helix estimate of the initial track parameters.

A *seed* is a short, clean track stub in the inner pixel layers from which the
Combinatorial Kalman Filter (:func:`hepjax.tracking.ckf`) starts. Seeds are
triplets of space points on three different pixel layers (bottom ``b``,
middle ``m``, top ``t``) that pass the cuts of ACTS's seed finder
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

The circle is computed in the conformal plane ``u = x'/(x'^2+y'^2)``,
``v = y'/(x'^2+y'^2)`` of coordinates ``x'`` centred on the middle hit, where
circles through the middle hit are straight lines ``2 a u + 2 b v = 1``
(centre ``(a, b)``; Hansen & Tollefsrud / ACTS). The impact parameter uses the
power of the origin, ``d0 = (|m|^2 + 2 c.m) / (|c + m| + R)``, which is stable in
float32 for radii of tens of metres.

Hit lookup is a sorted-phi window: the hits of each layer are sorted by phi
and, for every middle hit, the ``window`` nearest hits in phi on the bottom and
top layers are paired (``window^2`` triplets per middle hit), so shapes are fixed.

The helix estimate gives the bound parameters at the bottom hit's cylinder
(ACTS convention ``(loc0 = r phi_pos, loc1 = z, phi, theta, q/p)``) and a
diagonal covariance (:func:`estimate_parameters`), which works for any three
hits, so the same estimate starts the CKF from pixel candidates of a GNN or of
the truth (:func:`seeds_from_candidates`), as in arXiv:2401.16016.

References: ACTS seed finder (Acts/Seeding/SeedFinder.hpp and
EstimateTrackParamsFromSeed.hpp); R. Frühwirth, A. Strandlie, *Pattern
Recognition, Tracking and Vertex Reconstruction in Particle Detectors*
(Springer 2021), ch. 7.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

# radius [mm] = pT [GeV] / (C_LIGHT * Bz [T] * |q|)
C_LIGHT = 0.299792458e-3

__all__ = [
    "SeedConfig",
    "Seeds",
    "estimate_parameters",
    "find_seeds",
    "seeds_from_candidates",
]


class SeedConfig(eqx.Module):
    """Cuts of the triplet seed finder (units: mm, GeV, T).

    Attributes:
        bz: solenoid field along z [T].
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

    bz: float = eqx.field(static=True, default=2.0)
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
        for name in ("bz", "min_pt", "z0_max", "d0_max", "eta_max", "n_sigma", "sigma_z"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise ValueError(f"SeedConfig.{name} must be a positive finite number, got {v!r}")
        if not (isinstance(self.window, int) and self.window >= 1):
            raise ValueError(f"SeedConfig.window must be a positive int, got {self.window!r}")
        if self.layer_triples is not None:
            for t in self.layer_triples:
                if len(t) != 3 or not (t[0] < t[1] < t[2]) or t[0] < 0:
                    raise ValueError(
                        "SeedConfig.layer_triples must hold increasing (bottom, middle, top) "
                        f"layer indices, got {t!r}"
                    )


class Seeds(eqx.Module):
    """A padded set of seeds: pixel hits per pixel layer and initial parameters.

    Attributes:
        hits: global hit index on each pixel layer, ``-1`` where the seed has no
            hit (a triplet fills three of the pixel layers; a candidate any number).
        params: bound parameters ``(loc0, loc1, phi, theta, q/p)`` at the cylinder of
            ``start_layer``.
        cov: their covariance.
        start_layer: the layer index of the first hit (where ``params`` live).
        mask: which rows are seeds (the rest is padding).
    """

    hits: Int[Array, "S P"]
    params: Float[Array, "S 5"]
    cov: Float[Array, "S 5 5"]
    start_layer: Int[Array, " S"]
    mask: Bool[Array, " S"]

    @property
    def num(self) -> int:
        return int(np.asarray(self.mask).sum())

    def compact(self, size: int | None = None) -> Seeds:
        """Host-side: keep only the valid seeds, padded to ``size`` (default: a
        power of two, to bound the number of CKF compilations)."""
        m = np.asarray(self.mask)
        idx = np.nonzero(m)[0]
        n = idx.size
        if size is None:
            size = max(8, 1 << max(0, (n - 1)).bit_length())
        if size < n:
            raise ValueError(f"size={size} is smaller than the number of seeds {n}")
        pad = size - n
        take = np.concatenate([idx, np.zeros(pad, np.int64)]).astype(np.int64)

        def g(a, fill):
            a = np.asarray(a)[take]
            if pad:
                a[n:] = fill
            return jnp.asarray(a)

        return Seeds(
            hits=g(self.hits, -1),
            params=g(self.params, 0.0),
            cov=g(self.cov, 0.0)
            + jnp.asarray((np.arange(size) >= n)[:, None, None]) * jnp.eye(5, dtype=self.cov.dtype),
            start_layer=g(self.start_layer, 0),
            mask=jnp.asarray(np.arange(size) < n),
        )


def _wrap(a):
    return (a + jnp.pi) % (2 * jnp.pi) - jnp.pi


def _circle_mframe(b, m, t):
    """Circle through b, m, t (xy), in the frame centred on m.

    Returns the centre ``c`` (relative to m), the signed curvature ``kappa``
    (positive counterclockwise) and the impact parameter ``d0`` (>= 0) of the
    circle with respect to the origin of the global frame.
    """
    bp = b - m
    tp = t - m
    rb2 = jnp.sum(bp**2, -1)
    rt2 = jnp.sum(tp**2, -1)
    ub, vb = bp[..., 0] / rb2, bp[..., 1] / rb2
    ut, vt = tp[..., 0] / rt2, tp[..., 1] / rt2
    det = ub * vt - vb * ut
    det_safe = jnp.where(jnp.abs(det) < 1e-30, 1e-30, det)
    # 2a ub + 2b vb = 1 ; 2a ut + 2b vt = 1
    a = 0.5 * (vt - vb) / det_safe
    bb = 0.5 * (ub - ut) / det_safe
    c = jnp.stack([a, bb], -1)
    radius = jnp.sqrt(a**2 + bb**2)
    # orientation: cross((m-b), (t-m)) > 0 means counterclockwise
    cross = (-bp[..., 0]) * tp[..., 1] - (-bp[..., 1]) * tp[..., 0]
    kappa = jnp.sign(cross) / radius
    power = jnp.sum(m**2, -1) + 2 * jnp.sum(c * m, -1)
    d0 = jnp.abs(power) / (jnp.sqrt(jnp.sum((c + m) ** 2, -1)) + radius)
    return c, kappa, d0


def estimate_parameters(
    xyz_b: Float[Array, " 3"],
    xyz_m: Float[Array, " 3"],
    xyz_t: Float[Array, " 3"],
    *,
    bz: float,
    init_sigmas=(0.5, 0.5, 0.01, 0.01),
    init_sigma_qop_rel: float = 0.1,
    init_sigma_qopt: float = 0.1,
) -> tuple[Float[Array, " 5"], Float[Array, "5 5"]]:
    """Helix estimate of the bound parameters at the first of three hits.

    The circle through the three points in the transverse plane gives the radius
    ``R`` (so ``pT = 0.3 |Bz| R``), the charge (its sense of rotation: a positive
    charge turns clockwise for ``Bz > 0``) and the direction ``phi`` (its tangent
    at the first hit); ``cot(theta)`` is the slope of ``z`` against the
    transverse arc length ``s = 2 R asin(chord / 2R)`` between the first and the
    last hit.

    Args:
        xyz_b, xyz_m, xyz_t: the three space points, inside out [mm].
        bz: field [T].
        init_sigmas: initial standard deviations of ``(loc0, loc1, phi, theta)``.
        init_sigma_qop_rel: relative standard deviation of ``q/p``.
        init_sigma_qopt: absolute standard deviation of ``q/pT`` (added in quadrature).

    Returns:
        ``(params, cov)``: ``(loc0 = r_b phi_b, loc1 = z_b, phi, theta, q/p)`` on the
        cylinder through the first hit, and a diagonal covariance.
    """
    return _params_at(
        xyz_b,
        xyz_m,
        xyz_t,
        xyz_b,
        xyz_m,
        bz=bz,
        init_sigmas=init_sigmas,
        init_sigma_qop_rel=init_sigma_qop_rel,
        init_sigma_qopt=init_sigma_qopt,
    )


def _params_at(a, b, c, at, toward, *, bz, init_sigmas, init_sigma_qop_rel, init_sigma_qopt):
    """Helix through a, b, c (circle in x-y); parameters at ``at`` (one of them), moving
    towards ``toward``; cot(theta) from ``at`` to ``c`` over the arc length."""
    a2, b2, c2, at2 = a[:2], b[:2], c[:2], at[:2]
    cen, kappa, _ = _circle_mframe(a2, b2, c2)
    radius = 1.0 / jnp.abs(kappa)
    # tangent at `at`: perpendicular to (at - centre), oriented along the motion
    rel = (at2 - b2) - cen
    tang = jnp.stack([-rel[1], rel[0]])
    tang = tang * jnp.sign(jnp.sum(tang * (toward[:2] - at2)))
    phi = jnp.arctan2(tang[1], tang[0])
    chord = jnp.sqrt(jnp.sum((c2 - at2) ** 2))
    arc = 2 * radius * jnp.arcsin(jnp.clip(chord / (2 * radius), 0.0, 1.0))
    cot = (c[2] - at[2]) / arc
    theta = jnp.arctan2(1.0, cot)
    pt = C_LIGHT * abs(bz) * radius
    # counterclockwise (kappa > 0) is a negative charge for Bz > 0
    q = -jnp.sign(kappa) * math.copysign(1.0, bz)
    p = pt * jnp.sqrt(1 + cot**2)
    qop = q / p
    r_at = jnp.sqrt(jnp.sum(at2**2))
    params = jnp.stack([r_at * jnp.arctan2(at2[1], at2[0]), at[2], phi, theta, qop])
    s = jnp.asarray(init_sigmas, params.dtype)
    var_qop = (init_sigma_qop_rel * qop) ** 2 + (init_sigma_qopt * jnp.sin(theta)) ** 2
    var = jnp.concatenate([s**2, var_qop[None]])
    return params, jnp.diag(var)


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


def find_seeds(
    x: Float[Array, " N"],
    y: Float[Array, " N"],
    z: Float[Array, " N"],
    layer: Int[Array, " N"],
    mask: Bool[Array, " N"] | None = None,
    *,
    num_layers: int,
    max_hits_per_layer: int,
    config: SeedConfig = SeedConfig(),
) -> Seeds:
    """Triplet seeds from pixel space points (fixed shapes, jit-able).

    Args:
        x, y, z: space point coordinates [mm].
        layer: pixel layer index of each space point (``0 .. num_layers-1``, inside
            out); any other value (e.g. ``-1`` for strip hits) is ignored.
        mask: which space points are real (default: all).
        num_layers: the number of pixel layers (static).
        max_hits_per_layer: static capacity per layer; extra hits are dropped
            (choose it above the largest occupancy).
        config: the cuts (:class:`SeedConfig`).

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
    cfg = config
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
        pt_est = C_LIGHT * abs(cfg.bz) / jnp.maximum(jnp.abs(kappa), 1e-12)
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
            bz=cfg.bz,
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


def _shadowed(hits, valid, min_shared: int = 2):
    """Seeds sharing ``min_shared`` hits with a valid seed of higher priority (earlier row)."""
    same = (hits[:, None, :] == hits[None, :, :]) & (hits[:, None, :] >= 0)
    shared = jnp.sum(same, -1)
    n = hits.shape[0]
    earlier = jnp.arange(n)[None, :] < jnp.arange(n)[:, None]
    return jnp.any((shared >= min_shared) & earlier & valid[None, :], axis=1)


def seeds_from_candidates(
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
    """Seeds from pixel track candidates (GNN or truth), one row per candidate.

    Args:
        candidates: global hit index of the candidate's hit on each pixel layer
            (column = pixel layer, inside out), ``-1`` where it has none.
            Candidates with fewer than ``min_hits`` hits are masked out.
        min_hits: the fewest hits a usable candidate has (at least 2). A two-hit
            candidate is completed by the point of the beam line where the line
            through its hits meets it (a vertex constraint), with its
            direction and q/p variances inflated 4x.
        x, y, z: hit coordinates [mm].
        bz: field [T].

    Returns:
        :class:`Seeds` whose parameters are the helix estimate from the first,
        a middle and the last hit of each candidate (:func:`estimate_parameters`),
        at the first hit's layer; the CKF then filters through all candidate hits
        (they are forced) before searching the remaining layers.
    """
    candidates = jnp.asarray(candidates)
    if min_hits < 2:
        raise ValueError(f"min_hits must be >= 2 (a helix needs a third point), got {min_hits}")
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
