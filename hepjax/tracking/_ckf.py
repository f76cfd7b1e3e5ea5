r"""Combinatorial Kalman Filter (CKF) track finding with ambiguity resolution.

The CKF (Billoir 1989; Mankel 1997; ACTS's ``CombinatorialKalmanFilter``)
follows every seed outwards through the barrel, layer by layer, with a Kalman
filter, and branches where more than one measurement is compatible:

1. **Predict.** Each branch's bound parameters
   $(\ell_0, \ell_1, \phi, \theta, q/p)$ are transported by the analytic helix to
   the next cylinder (:func:`hepjax.sim.tracker.transport`); the covariance with
   the transport Jacobian from ``jax.jacfwd``, $C \to F C F^\top$.
2. **Select** (ACTS's ``MeasurementSelector``). The hits of the layer are sorted
   by $\phi$; the ``window`` hits nearest in $\phi$ to the prediction are the
   candidates. Each gets $\chi^2 = r^\top (H C H^\top + V)^{-1} r$ (pixels 2D,
   strips 1D along the stereo-rotated axis, mixed through masking: a strip has
   a zero second row of $H$); those with $\chi^2 <$ ``chi2_cut`` are compatible
   and the ``max_per_surface`` ($K$) best of them each open a branch. If none is
   compatible the branch records a **hole**; a branch with more than
   ``max_holes`` holes stops (and is kept, trimmed at its last measurement).
3. **Update** each child with its measurement (Joseph form), then add the
   layer's multiple scattering (Highland) to the $\phi,\theta$ variances and apply
   the mean energy loss to $q/p$.
4. **Prune** to a fixed **beam** of ``beam`` ($B$) branches per seed, ranked by the
   number of measurements, then fewer holes, then smaller $\chi^2$. The best
   branch with at least ``min_hits`` measurements is the seed's track.

Everything has fixed shapes (seeds $\times$ B branches $\times$ (K+1) children
per layer, windows of W hits), so one ``jit`` compiles the whole event and
``vmap`` runs all seeds at once.

Seeds come from pixel triplets (:func:`hepjax.tracking.find_seeds`) or from
pixel track candidates (:func:`hepjax.tracking.seeds_from_candidates`: a GNN's
or the truth's): hits listed in the seed are *forced* (the filter updates with
them without a search), the other layers are searched. Starting from a fitted
pixel candidate and extending into the strips is the combination of
arXiv:2401.16016 (Huth et al., "Combined track finding with GNN & CKF").

**Ambiguity resolution** (:func:`resolve_ambiguities`, ACTS's greedy solver):
tracks sharing hits are removed one at a time, the one with the largest
fraction of shared hits first (ties: fewer hits, then larger $\chi^2$), until
no track has more than ``max_shared`` shared hits. This removes the duplicates
that several seeds of one particle produce.

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

from ..sim.tracker._helix import transport, wrap_angle
from ..sim.tracker._material import effective_thickness, energy_loss_qop, highland
from ._seeding import Seeds

__all__ = [
    "CKFConfig",
    "Measurements",
    "Tracks",
    "ckf",
    "resolve_ambiguities",
]


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
        energy_loss: apply the mean (Bethe-Bloch, muon) energy loss per layer.
    """

    chi2_cut: float = eqx.field(static=True, default=15.0)
    max_per_surface: int = eqx.field(static=True, default=3)
    beam: int = eqx.field(static=True, default=4)
    max_holes: int = eqx.field(static=True, default=2)
    window: int = eqx.field(static=True, default=16)
    min_hits: int = eqx.field(static=True, default=7)
    max_shared: int = eqx.field(static=True, default=1)
    energy_loss: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if not (self.chi2_cut > 0 and math.isfinite(self.chi2_cut)):
            raise ValueError(f"CKFConfig.chi2_cut must be positive and finite, got {self.chi2_cut}")
        for name in ("max_per_surface", "beam", "window"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"CKFConfig.{name} must be an int >= 1, got {v!r}")
        for name in ("max_holes", "min_hits", "max_shared"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 0):
                raise ValueError(f"CKFConfig.{name} must be an int >= 0, got {v!r}")
        if self.max_per_surface > self.window:
            raise ValueError(
                f"CKFConfig.max_per_surface ({self.max_per_surface}) cannot exceed "
                f"window ({self.window})"
            )


class Measurements(eqx.Module):
    """The measurements of one event in the CKF's frame (padded, with a mask).

    Each measurement lives on one layer and is given relative to a reference
    point on the cylinder, ``(phi_ref, z_ref)``: the hit itself for pixels
    (``local = 0``), the module centre for strips (``local[0] = u``, the strip
    coordinate along the stereo-rotated axis). The residual of a prediction with
    ``d = (R wrap(phi_pos - phi_ref), z - z_ref)`` is ``local - H_loc d`` with
    ``H_loc = 1`` (pixels) or ``[[cos a, sin a], [0, 0]]`` (strips).

    Attributes:
        layer: layer index of each measurement (``-1``: ignored).
        phi_ref, z_ref: reference point on the layer's cylinder.
        local: ``(N, 2)`` local measurement.
        cov: ``(N, 2, 2)`` measurement covariance (strips: ``cov[1, 1]`` unused).
        mask: which rows are real.
    """

    layer: Int[Array, " N"]
    phi_ref: Float[Array, " N"]
    z_ref: Float[Array, " N"]
    local: Float[Array, "N 2"]
    cov: Float[Array, "N 2 2"]
    mask: Bool[Array, " N"]

    def __check_init__(self):
        n = self.layer.shape[0]
        for name in ("phi_ref", "z_ref", "mask"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"Measurements.{name} must have shape ({n},) like layer, got "
                    f"{getattr(self, name).shape}"
                )
        if self.local.shape != (n, 2):
            raise ValueError(f"Measurements.local must have shape ({n}, 2), got {self.local.shape}")
        if self.cov.shape != (n, 2, 2):
            raise ValueError(f"Measurements.cov must have shape ({n}, 2, 2), got {self.cov.shape}")

    @staticmethod
    def from_pixels_and_strips(
        x, y, z, layer, geometry, *, strip_u=None, mask=None, dtype=None
    ) -> Measurements:
        """Measurements from hit positions: pixels at ``(x, y, z)``; strips with
        their strip coordinate ``strip_u`` relative to the module centre ``(x, y, z)``.

        Args:
            x, y, z: hit (pixels) or module-centre (strips) positions [mm].
            layer: layer index (``0 .. L-1``) of each hit, ``-1`` to ignore.
            geometry: the :class:`~hepjax.sim.tracker.BarrelGeometry` (resolutions,
                strip flags).
            strip_u: strip coordinate of each hit (ignored on pixel layers; zeros if
                ``None``).
            mask: which hits are real.
        """
        x, y, z = (np.asarray(a) for a in (x, y, z))
        layer = np.asarray(layer)
        n = x.shape[0]
        if not (y.shape == z.shape == layer.shape == (n,)):
            raise ValueError("x, y, z and layer must have the same shape (N,)")
        dtype = dtype or jnp.result_type(float)
        is_strip = np.asarray(geometry.is_strip, bool)
        lay = np.clip(layer, 0, len(is_strip) - 1)
        strip = is_strip[lay] & (layer >= 0)
        s0 = np.asarray(geometry.sigma0)[lay]
        s1 = np.where(strip, 1.0, np.asarray(geometry.sigma1)[lay])
        cov = np.zeros((n, 2, 2))
        cov[:, 0, 0] = s0**2
        cov[:, 1, 1] = s1**2
        local = np.zeros((n, 2))
        if strip_u is not None:
            local[:, 0] = np.where(strip, np.asarray(strip_u), 0.0)
        m = np.ones(n, bool) if mask is None else np.asarray(mask, bool)
        m = m & (layer >= 0) & np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
        return Measurements(
            layer=jnp.asarray(np.where(m, layer, -1), jnp.int32),
            phi_ref=jnp.asarray(np.arctan2(y, x), dtype),
            z_ref=jnp.asarray(z, dtype),
            local=jnp.asarray(local, dtype),
            cov=jnp.asarray(cov, dtype),
            mask=jnp.asarray(m),
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


def _layer_tables(meas: Measurements, num_layers: int, size: int):
    """Per layer: measurement indices sorted by phi (padded with +inf phi)."""

    def one(lay):
        sel = meas.mask & (meas.layer == lay)
        key = jnp.where(sel, meas.phi_ref, jnp.inf)
        order = jnp.argsort(key)[:size]
        return order, key[order], jnp.sum(sel)

    return jax.vmap(one)(jnp.arange(num_layers))


def _h_local(is_strip, stereo, dtype):
    c, s = jnp.cos(stereo), jnp.sin(stereo)
    strip = jnp.stack([jnp.stack([c, s]), jnp.zeros(2, dtype)])
    return jnp.where(is_strip, strip, jnp.eye(2, dtype=dtype))


def _residual(params, radius, phi_ref, z_ref, local, h_loc):
    d = jnp.stack([radius * wrap_angle(params[0] / radius - phi_ref), params[1] - z_ref])
    return local - h_loc @ d


def _update(params, cov, res, h_loc, v):
    """Kalman update with a 2D (pixel) or masked 1D (strip) measurement; Joseph form."""
    dtype = params.dtype
    h = jnp.zeros((2, 5), dtype).at[:, :2].set(h_loc)
    s = h @ cov @ h.T + v
    # a strip's unused second row: h row 0, residual 0 -> s[1,1] = v[1,1] > 0
    s_inv = jnp.linalg.inv(s)
    chi2 = res @ s_inv @ res
    k = cov @ h.T @ s_inv
    new = params + k @ res
    ikh = jnp.eye(5, dtype=dtype) - k @ h
    new_cov = ikh @ cov @ ikh.T + k @ v @ k.T
    return new, 0.5 * (new_cov + new_cov.T), chi2


def ckf(
    seeds: Seeds,
    meas: Measurements,
    geometry,
    *,
    config: CKFConfig = CKFConfig(),
    max_hits_per_layer: int,
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

    Returns:
        :class:`Tracks`, one row per seed (the best branch), before ambiguity
        resolution (:func:`resolve_ambiguities`).
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
    order, phis, counts = _layer_tables(meas, L, int(max_hits_per_layer))
    radius = geometry.radius.astype(dtype)
    half = geometry.half_length.astype(dtype)
    thick = geometry.thickness.astype(dtype)
    stereo = geometry.stereo.astype(dtype)
    is_strip = jnp.asarray(geometry.is_strip)
    bz = geometry.bz.astype(dtype)
    seed_hits = jnp.full((seeds.hits.shape[0], L), -1, jnp.int32).at[:, :P].set(seeds.hits)
    jac = jax.jacfwd(lambda p, r0, r1: transport(p, r0, r1, bz)[0])

    def material(p, lay):
        phi_pos = p[0] / radius[lay]
        x = effective_thickness(thick[lay], phi_pos, p[2], p[3])
        th0 = highland(jnp.abs(1.0 / p[4]), x)
        q = p
        if cfg.energy_loss:
            q = p.at[4].set(energy_loss_qop(p[4], x))
        add = jnp.zeros((5, 5), dtype).at[2, 2].set((th0 / jnp.sin(p[3])) ** 2).at[3, 3].set(th0**2)
        return q, add

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

            def predict(p, c):
                new, _, reached = transport(p, r_from, radius[lay], bz)
                f = jac(p, r_from, radius[lay])
                new = jnp.where(first, p, new)
                f = jnp.where(first, jnp.eye(5, dtype=dtype), f)
                reached = reached | first
                return new, f @ c @ f.T, reached

            p_pred, c_pred, reached = jax.vmap(predict)(params, cov)
            ext = active & started
            on_surface = reached & (jnp.abs(p_pred[:, 1]) <= half[lay])
            # a branch that cannot reach the layer stops; one off the surface skips it
            stops = ext & ~reached
            ext_on = ext & on_surface
            h_loc = _h_local(is_strip[lay], stereo[lay], dtype)
            fh = forced[lay]
            is_forced = fh >= 0

            # candidates: the W nearest in phi on this layer
            def cands(p):
                phi_pred = p[0] / radius[lay]
                i = jnp.searchsorted(phis[lay], phi_pred)
                j = (i - W // 2 + jnp.arange(W)) % jnp.maximum(counts[lay], 1)
                ok = jnp.arange(W) < counts[lay]
                idx = order[lay, j]
                return jnp.where(is_forced, jnp.full((W,), fh), idx), jnp.where(
                    is_forced, jnp.arange(W) == 0, ok
                )

            cidx, cok = jax.vmap(cands)(p_pred)  # (B, W)

            def meas_v(m):
                v = meas.cov[m]
                off_diag = jnp.where(is_strip[lay], 0.0, v[0, 1])
                return jnp.stack(
                    [
                        jnp.stack([v[0, 0], off_diag]),
                        jnp.stack([off_diag, jnp.where(is_strip[lay], 1.0, v[1, 1])]),
                    ]
                )

            def chi2_of(p, c, ms):
                # chi2 of every candidate: r^T (H C H^T + V)^-1 r with a closed-form 2x2 inverse
                hc = h_loc @ c[:2, :2] @ h_loc.T

                def one(m):
                    res = _residual(
                        p, radius[lay], meas.phi_ref[m], meas.z_ref[m], meas.local[m], h_loc
                    )
                    s = hc + meas_v(m)
                    det = s[0, 0] * s[1, 1] - s[0, 1] * s[1, 0]
                    q = (
                        s[1, 1] * res[0] ** 2
                        - 2 * s[0, 1] * res[0] * res[1]
                        + s[0, 0] * res[1] ** 2
                    )
                    return q / det, res

                return jax.vmap(one)(ms)

            up_chi2, up_res = jax.vmap(chi2_of)(p_pred, c_pred, cidx)  # (B, W), (B, W, 2)
            up_chi2 = jnp.where(jnp.isfinite(up_chi2), up_chi2, jnp.inf)
            compat = cok & (is_forced | (up_chi2 < cfg.chi2_cut)) & ext_on[:, None]
            # K best compatible per branch
            key = jnp.where(compat, -up_chi2, -jnp.inf)
            top_val, top_j = jax.lax.top_k(key, K)  # (B, K)
            top_ok = jnp.isfinite(top_val)
            any_ok = top_ok[:, 0]
            m_idx = jnp.take_along_axis(cidx, top_j, 1)
            m_res = jnp.take_along_axis(up_res, top_j[..., None], 1)

            def upd(p, c, res, m):
                return _update(p, c, res, h_loc, meas_v(m))[:2]

            m_params, m_cov = jax.vmap(
                lambda p, c, rs, ms: jax.vmap(lambda r, m: upd(p, c, r, m))(rs, ms)
            )(p_pred, c_pred, m_res, m_idx)
            m_chi2 = jnp.where(top_ok, -top_val, 0.0)
            # material of this layer, after the update
            mat = jax.vmap(jax.vmap(material, (0, None)), (0, None))(m_params, lay)
            m_params, m_cov = mat[0], m_cov + mat[1]
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
            pass_p, pass_c = jax.vmap(material, (0, None))(p_pred, lay)
            through = hole & ~too_many
            n_params = jnp.where(through[:, None], pass_p, jnp.where(off[:, None], p_pred, params))
            n_cov = jnp.where(
                through[:, None, None], c_pred + pass_c, jnp.where(off[:, None, None], c_pred, cov)
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
    return Tracks(*out)


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
    n = jnp.maximum(tracks.n_hits, 1).astype(tracks.chi2.dtype)
    tie = -n * 1e-3 + jnp.clip(tracks.chi2 / n, 0, 999) * 1e-7

    def shared_of(keep):
        w = jnp.where(keep[:, None] & valid_hit, 1, 0)
        count = jnp.zeros(num_measurements + 1, jnp.int32).at[hidx].add(w)
        return jnp.sum((count[hidx] > 1) & valid_hit, axis=1)

    def cond(c):
        keep, shared = c
        return jnp.any(keep & (shared > max_shared))

    def body(c):
        keep, shared = c
        frac = shared.astype(n.dtype) / n + tie
        frac = jnp.where(keep & (shared > max_shared), frac, -jnp.inf)
        worst = jnp.argmax(frac)
        keep = keep.at[worst].set(False)
        return keep, shared_of(keep)

    keep0 = tracks.mask
    keep, _ = jax.lax.while_loop(cond, body, (keep0, shared_of(keep0)))
    return eqx.tree_at(lambda t: t.mask, tracks, keep)
