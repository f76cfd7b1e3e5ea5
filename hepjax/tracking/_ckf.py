r"""Combinatorial Kalman Filter (CKF) track finding with ambiguity resolution.

The CKF (Billoir 1989; Mankel 1997; ACTS's ``CombinatorialKalmanFilter``)
follows every seed outwards through the barrel, layer by layer, with a Kalman
filter, and branches where more than one measurement is compatible:

1. **Predict.** Each branch's bound parameters
   $(\ell_0, \ell_1, \phi, \theta, q/p)$ are transported by the analytic helix to
   the next cylinder, the covariance with the transport Jacobian from
   ``jax.jacfwd``, $C \to F C F^\top$ (the Kalman filter's
   :func:`hepjax.tracking.kalman_predict`).
2. **Select** (ACTS's ``MeasurementSelector``). The hits of the layer are sorted
   by $\phi$; the ``window`` hits nearest in $\phi$ to the prediction are the
   candidates. Each gets $\chi^2 = r^\top (H C H^\top + V)^{-1} r$ (pixels 2D,
   strips 1D along the stereo-rotated axis, mixed through masking: a strip has
   a zero second row of $H$, and a strip hit is only a candidate when the
   prediction lies on its module, within the strip length
   $\sqrt{12\,\sigma_v^2}$ along $z$); those with $\chi^2 <$ ``chi2_cut`` are compatible
   and the ``max_per_surface`` ($K$) best of them each open a branch. If none is
   compatible the branch records a **hole**; a branch with more than
   ``max_holes`` holes stops (and is kept, trimmed at its last measurement).
3. **Update** each child with its measurement (:func:`hepjax.tracking.kalman_update`,
   Joseph form), then add the layer's material
   (:func:`hepjax.tracking.add_material`: Highland scattering in the
   $\phi,\theta$ variances, mean energy loss in $q/p$). A hole branch gets the
   material too; a branch whose prediction is off the layer ($|z| > h$) skips it.
4. **Prune** to a fixed **beam** of ``beam`` ($B$) branches per seed, ranked by the
   number of measurements, then fewer holes, then smaller $\chi^2$. The best
   branch with at least ``min_hits`` measurements is the seed's track.

Everything has fixed shapes (seeds $\times$ B branches $\times$ (K+1) children
per layer, windows of W hits), so one ``jit`` compiles the whole event and
``vmap`` runs all seeds at once.

Seeds (:func:`hepjax.tracking.seeds`) come from pixel triplets
(:class:`~hepjax.tracking.TripletSeeder`) or from pixel track candidates
(:class:`~hepjax.tracking.CandidateSeeder`: a GNN's or the truth's): hits
listed in the seed are *forced* (the filter updates with them without a
search, unless their chi2 exceeds ``chi2_cut_seed``: then the layer is
searched as if the seed had no hit there), the other layers are searched.
Starting from a fitted pixel candidate and extending into the strips is the
combination of arXiv:2401.16016 (Huth et al., "Combined track finding with
GNN & CKF").

The ambiguity resolution that removes the duplicates several seeds of one
particle produce, and the event-level driver, are in
:func:`hepjax.tracking.resolve_ambiguities` and
:func:`hepjax.tracking.find_tracks`.

References: R. Frühwirth, NIM A262 (1987) 444 (Kalman filter);
R. Mankel, NIM A395 (1997) 169 (combinatorial KF); X. Ai et al., "A common
tracking software project" (ACTS), Comput. Softw. Big Sci. 6 (2022) 8;
arXiv:2401.16016.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._core import check_positive_int
from ..physics import MUON_MASS
from ..sim.tracker import Measurements, wrap_angle
from ._kalman_steps import add_material, kalman_predict, kalman_update
from ._seeds import Seeds

__all__ = ["CKFConfig", "Tracks", "ckf"]


class CKFConfig(eqx.Module):
    """Settings of the Combinatorial Kalman Filter (ACTS names in brackets).

    Attributes:
        chi2_cut: compatibility cut on a measurement's chi2 [chi2CutOffMeasurement].
        max_per_surface: at most this many compatible measurements branch per
            surface, the smallest chi2 first [numMeasurementsCutOff].
        beam: branches kept per seed after every layer (fixed beam width).
        max_holes: a branch with more holes stops [maxPixelHoles + maxStripHoles].
        window: hits nearest in phi considered per layer (must exceed the number of
            hits expected within the prediction's uncertainty).
        min_hits: a track needs at least this many measurements [nMeasurementsMin].
        max_shared: the ambiguity resolution keeps tracks with at most this many
            shared hits.
        chi2_cut_seed: a seed's own hit with a larger chi2 is an outlier (a wrong hit
            in a GNN candidate): the layer is then searched instead.
        mass: particle hypothesis for the material effects (GeV; muon).
    """

    chi2_cut: float = eqx.field(static=True, default=15.0)
    max_per_surface: int = eqx.field(static=True, default=2)
    beam: int = eqx.field(static=True, default=2)
    max_holes: int = eqx.field(static=True, default=2)
    window: int = eqx.field(static=True, default=16)
    min_hits: int = eqx.field(static=True, default=7)
    max_shared: int = eqx.field(static=True, default=1)
    chi2_cut_seed: float = eqx.field(static=True, default=100.0)
    mass: float = eqx.field(static=True, default=MUON_MASS)

    def __check_init__(self):
        if not (self.chi2_cut > 0 and math.isfinite(self.chi2_cut)):
            raise ValueError(f"CKFConfig.chi2_cut must be positive and finite, got {self.chi2_cut}")
        for name in ("max_per_surface", "beam", "window"):
            check_positive_int(f"CKFConfig.{name}", getattr(self, name))
        for name in ("max_holes", "min_hits", "max_shared"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 0):
                raise ValueError(f"CKFConfig.{name} must be an int >= 0, got {v!r}")
        if self.max_per_surface > self.window:
            raise ValueError(
                f"CKFConfig.max_per_surface ({self.max_per_surface}) cannot exceed "
                f"window ({self.window})"
            )


class Tracks(eqx.Module):
    """Found tracks, one row per seed (padded, with a mask).

    Attributes:
        hits: ``(T, L)`` measurement index on each layer, ``-1`` for none.
        params: filtered bound parameters at the last measurement's layer.
        cov: their covariance.
        last_layer: layer of ``params``.
        n_hits, n_holes: measurement and hole counts.
        chi2: sum of the measurement chi2.
        mask: which rows are tracks (seed valid, at least ``min_hits`` hits, and
            kept by the ambiguity resolution once it has run).
    """

    hits: Int[Array, "T L"]
    params: Float[Array, "T 5"]
    cov: Float[Array, "T 5 5"]
    last_layer: Int[Array, " T"]
    n_hits: Int[Array, " T"]
    n_holes: Int[Array, " T"]
    chi2: Float[Array, " T"]
    mask: Bool[Array, " T"]

    def hit_lists(self) -> list[np.ndarray]:
        """Host-side: the measurement indices of each valid track."""
        h = np.asarray(self.hits)
        m = np.asarray(self.mask)
        return [row[row >= 0] for row in h[m]]


def _layer_tables(meas: Measurements, radius, num_layers: int, size: int):
    """Per layer: measurement indices sorted by phi (padded with +inf phi)."""

    def one(lay):
        sel = meas.mask & (meas.layer == lay)
        key = jnp.where(sel, wrap_angle(meas.loc[:, 0] / radius[lay]), jnp.inf)
        order = jnp.argsort(key)[:size]
        return order, key[order], jnp.sum(sel)

    return jax.vmap(one)(jnp.arange(num_layers))


def ckf(
    seeds: Seeds,
    meas: Measurements,
    geometry,
    *,
    config: CKFConfig = CKFConfig(),
    max_hits_per_layer: int,
    all_branches: bool = False,
) -> Tracks:
    """Run the Combinatorial Kalman Filter from every seed (jit-able, fixed shapes).

    Args:
        seeds: :class:`~hepjax.tracking.Seeds` (triplets or pixel candidates); their
            ``hits`` index ``meas`` and are forced on their layers.
        meas: the event's :class:`Measurements`.
        geometry: the :class:`~hepjax.sim.tracker.BarrelGeometry` (radii, half-lengths,
            material, stereo angles, strip flags, field).
        config: :class:`CKFConfig`.
        max_hits_per_layer: static capacity of the per-layer phi tables (above the
            largest occupancy; extra hits are never found).
        all_branches: return every branch of the beam (``seeds x beam`` rows)
            instead of the best one per seed (for diagnostics).

    Returns:
        :class:`Tracks`, one row per seed (the best branch), before ambiguity
        resolution (:func:`resolve_ambiguities`).

    Raises:
        TypeError: ``seeds`` or ``meas`` of the wrong type.
        ValueError: more seed layer columns than layers, or a window larger than
            ``max_hits_per_layer``.
    """
    if not isinstance(seeds, Seeds):
        raise TypeError(f"seeds must be a Seeds, got {type(seeds).__name__}")
    if not isinstance(meas, Measurements):
        raise TypeError(f"meas must be a Measurements, got {type(meas).__name__}")
    L = geometry.n_layers
    P = seeds.hits.shape[1]
    if P > L:
        raise ValueError(f"seeds.hits has {P} layer columns but the geometry only {L} layers")
    cfg = config
    B, K, W = cfg.beam, cfg.max_per_surface, cfg.window
    if W > max_hits_per_layer:
        raise ValueError(
            f"config.window ({W}) cannot exceed max_hits_per_layer ({max_hits_per_layer})"
        )
    dtype = seeds.params.dtype
    radius = geometry.radius.astype(dtype)
    order, phis, counts = _layer_tables(meas, radius, L, int(max_hits_per_layer))
    half = geometry.half_length.astype(dtype)
    thick = geometry.thickness.astype(dtype)
    bz = geometry.bz.astype(dtype)
    seed_hits = jnp.full((seeds.hits.shape[0], L), -1, jnp.int32).at[:, :P].set(seeds.hits)
    mass = cfg.mass

    def material(p, c, lay):
        return add_material(p, c, radius[lay], thick[lay], mass=mass)[:2]

    def take(m):
        return jax.tree.map(lambda a: a[m], meas)

    def per_seed(forced, p0, c0, start, valid):
        # beam state
        params = jnp.broadcast_to(p0, (B, 5))
        cov = jnp.broadcast_to(c0, (B, 5, 5))
        hits = jnp.full((B, L), -1, jnp.int32)
        n_hits = jnp.zeros(B, jnp.int32)
        n_holes = jnp.zeros(B, jnp.int32)
        chi2 = jnp.zeros(B, dtype)
        last = jnp.broadcast_to(start, (B,)).astype(jnp.int32)
        alive = (jnp.arange(B) == 0) & valid  # a real branch
        active = alive  # still extending
        state = (params, cov, hits, n_hits, n_holes, chi2, last, alive, active)

        def step(state, lay):
            params, cov, hits, n_hits, n_holes, chi2, last, alive, active = state
            started = lay >= start
            first = lay == start
            r_from = radius[jnp.maximum(lay - 1, 0)]
            r_from = jnp.where(first, radius[lay], r_from)

            def pred(p, c):
                new, new_c, _, reached = kalman_predict(p, c, r_from, radius[lay], bz)
                return (
                    jnp.where(first, p, new),
                    jnp.where(first, c, new_c),
                    reached | first,
                )

            p_pred, c_pred, reached = jax.vmap(pred)(params, cov)
            ext = active & started
            on_surface = reached & (jnp.abs(p_pred[:, 1]) <= half[lay])
            # a branch that cannot reach the layer stops; one off the surface skips it
            stops = ext & ~reached
            ext_on = ext & on_surface
            fh = forced[lay]
            is_forced = fh >= 0

            # candidates: the W nearest in phi on this layer
            def cands(p):
                phi_pred = p[0] / radius[lay]
                i = jnp.searchsorted(phis[lay], phi_pred)
                j = (i - W // 2 + jnp.arange(W)) % jnp.maximum(counts[lay], 1)
                ok = jnp.arange(W) < counts[lay]
                # the seed's own hit on this layer, if any, is candidate W
                idx = jnp.concatenate([order[lay, j], jnp.maximum(fh, 0)[None]])
                return idx, jnp.concatenate([ok, is_forced[None]])

            cidx, cok = jax.vmap(cands)(p_pred)  # (B, W + 1)

            def chi2_of(p, c, ms):
                # measurement_chi2 for every candidate, with a closed-form 2x2 inverse
                # (cheaper to compile and run than a batched solve)
                def one(m):
                    mm = take(m)
                    cs, sn = jnp.cos(mm.stereo), jnp.sin(mm.stereo)
                    w = mm.is_2d.astype(dtype)
                    h_loc = jnp.stack([jnp.stack([cs, sn]), jnp.stack([-sn * w, cs * w])])
                    d0 = radius[lay] * wrap_angle((mm.loc[0] - p[0]) / radius[lay])
                    res = h_loc @ jnp.stack([d0, mm.loc[1] - p[1]])
                    v01 = jnp.where(mm.is_2d, mm.cov[0, 1], 0.0)
                    v11 = jnp.where(mm.is_2d, mm.cov[1, 1], 1.0)
                    s = h_loc @ c[:2, :2] @ h_loc.T + jnp.stack(
                        [jnp.stack([mm.cov[0, 0], v01]), jnp.stack([v01, v11])]
                    )
                    det = s[0, 0] * s[1, 1] - s[0, 1] * s[1, 0]
                    q = (
                        s[1, 1] * res[0] ** 2
                        + s[0, 0] * res[1] ** 2
                        - 2 * s[0, 1] * res[0] * res[1]
                    )
                    # a strip measures nothing along the strip, but only on its module:
                    # the prediction must lie within the module's length (var_v = length^2/12)
                    half = jnp.sqrt(3.0 * mm.cov[1, 1])
                    gate = half + 3.0 * jnp.sqrt(c[1, 1]) + jnp.abs(sn) * half
                    on_module = mm.is_2d | (jnp.abs(mm.loc[1] - p[1]) <= gate)
                    return jnp.where(on_module, q / det, jnp.inf)

                return jax.vmap(one)(ms)

            up_chi2 = jax.vmap(chi2_of)(p_pred, c_pred, cidx)  # (B, W)
            up_chi2 = jnp.where(jnp.isfinite(up_chi2), up_chi2, jnp.inf)
            # a seed hit is taken alone unless it is an outlier (chi2 above chi2_cut_seed),
            # then the layer is searched as if the seed had no hit there
            seed_ok = is_forced & (up_chi2[:, W] < cfg.chi2_cut_seed)
            is_seed = jnp.arange(W + 1) == W
            searched = ~is_seed & (up_chi2 < cfg.chi2_cut) & ~seed_ok[:, None]
            compat = cok & ((is_seed & seed_ok[:, None]) | searched) & ext_on[:, None]
            # K best compatible per branch
            key = jnp.where(compat, -up_chi2, -jnp.inf)
            top_val, top_j = jax.lax.top_k(key, K)  # (B, K)
            top_ok = jnp.isfinite(top_val)
            any_ok = top_ok[:, 0]
            m_idx = jnp.take_along_axis(cidx, top_j, 1)

            def upd(p, c, m):
                pu, cu = kalman_update(p, c, take(m), radius[lay])[:2]
                return material(pu, cu, lay)

            m_params, m_cov = jax.vmap(lambda p, c, ms: jax.vmap(lambda m: upd(p, c, m))(ms))(
                p_pred, c_pred, m_idx
            )
            m_chi2 = jnp.where(top_ok, -top_val, 0.0)
            m_hits = jnp.broadcast_to(hits[:, None], (B, K, L)).at[:, :, lay].set(m_idx)
            m_hits = jnp.where(top_ok[..., None], m_hits, -1)
            m_nh = jnp.broadcast_to(n_hits[:, None] + 1, (B, K))
            m_ho = jnp.broadcast_to(n_holes[:, None], (B, K))
            m_chi = chi2[:, None] + m_chi2
            m_last = jnp.full((B, K), lay, jnp.int32)
            m_alive = top_ok & alive[:, None]
            m_active = m_alive

            # the "no measurement" child: hole (on surface, nothing compatible),
            # skip (off the surface), stop (not reached / too many holes), or idle
            hole = ext_on & ~any_ok
            new_holes = n_holes + hole.astype(jnp.int32)
            too_many = new_holes > cfg.max_holes
            off = ext & reached & ~on_surface
            # passing through: keep the propagated state plus material
            pass_p, pass_c = jax.vmap(material, (0, 0, None))(p_pred, c_pred, lay)
            through = hole & ~too_many
            n_params = jnp.where(through[:, None], pass_p, jnp.where(off[:, None], p_pred, params))
            n_cov = jnp.where(
                through[:, None, None], pass_c, jnp.where(off[:, None, None], c_pred, cov)
            )
            n_active = active & ~stops & ~(hole & too_many) & ~(ext_on & any_ok) & ~(~ext & started)
            n_active = n_active | (active & ~started)
            n_holes_c = jnp.where(hole & ~too_many, new_holes, n_holes)
            # a branch that found measurements lives on in its children only
            n_alive = alive & ~(ext_on & any_ok)

            all_params = jnp.concatenate([m_params, n_params[:, None]], 1).reshape(B * (K + 1), 5)
            all_cov = jnp.concatenate([m_cov, n_cov[:, None]], 1).reshape(B * (K + 1), 5, 5)
            all_hits = jnp.concatenate([m_hits, hits[:, None]], 1).reshape(B * (K + 1), L)
            all_nh = jnp.concatenate([m_nh, n_hits[:, None]], 1).reshape(-1)
            all_ho = jnp.concatenate([m_ho, n_holes_c[:, None]], 1).reshape(-1)
            all_chi = jnp.concatenate([m_chi, chi2[:, None]], 1).reshape(-1)
            all_last = jnp.concatenate([m_last, last[:, None]], 1).reshape(-1)
            all_alive = jnp.concatenate([m_alive, n_alive[:, None]], 1).reshape(-1)
            all_active = jnp.concatenate([m_active, n_active[:, None]], 1).reshape(-1)
            score = (
                all_nh.astype(dtype) * 1e4
                - all_ho.astype(dtype) * 1e2
                - jnp.clip(all_chi / jnp.maximum(all_nh, 1), 0.0, 99.0)
            )
            score = jnp.where(all_alive, score, -jnp.inf)
            _, keep = jax.lax.top_k(score, B)
            new_state = (
                all_params[keep],
                all_cov[keep],
                all_hits[keep],
                all_nh[keep],
                all_ho[keep],
                all_chi[keep],
                all_last[keep],
                all_alive[keep],
                all_active[keep],
            )
            return new_state, None

        state, _ = jax.lax.scan(step, state, jnp.arange(L))
        params, cov, hits, n_hits, n_holes, chi2, last, alive, _ = state
        score = (
            n_hits.astype(dtype) * 1e4
            - n_holes.astype(dtype) * 1e2
            - jnp.clip(chi2 / jnp.maximum(n_hits, 1), 0.0, 99.0)
        )
        score = jnp.where(alive, score, -jnp.inf)
        if all_branches:
            ok = alive & (n_hits >= cfg.min_hits) & valid
            return (
                jnp.where(ok[:, None], hits, -1),
                params,
                cov,
                last,
                n_hits,
                n_holes,
                chi2,
                ok,
            )
        b = jnp.argmax(score)
        ok = alive[b] & (n_hits[b] >= cfg.min_hits) & valid
        return (
            jnp.where(ok, hits[b], -1),
            params[b],
            cov[b],
            last[b],
            n_hits[b],
            n_holes[b],
            chi2[b],
            ok,
        )

    out = jax.vmap(per_seed)(seed_hits, seeds.params, seeds.cov, seeds.start_layer, seeds.mask)
    if all_branches:
        out = jax.tree.map(lambda a: a.reshape((-1, *a.shape[2:])), out)
    return Tracks(*out)
