r"""Simulation of particles through the barrel: helix, material, digitisation, noise.

For every particle and every layer $i$ (outwards), :func:`simulate_tracks`

1. propagates the helix to the cylinder $R_i$ (:func:`propagate_to_cylinder`);
   a particle that cannot reach it (a looper) stops;
2. if $|z|\le h_i$ the layer is *crossed*: the true bound parameters and the
   true position and momentum are recorded (before the material of the layer);
3. the measurement is smeared in the module frame (pixels: $\ell_0,\ell_1$
   with $\sigma_0,\sigma_1$; strips: $u$ with $\sigma_0$, the hit placed on
   the strip line at the module centre) and kept with probability
   ``efficiency``;
4. the mean Bethe energy loss is applied and the direction is deflected
   by two independent Gaussian plane angles of Highland width $\theta_0$
   ($\delta\theta=\theta_0 g_1$, $\delta\phi=\theta_0 g_2/\sin\theta$).

The thin-layer model (no displacement inside the layer) matches the Kalman
filter's process noise exactly, so the pulls of a correct fit are standard
normal. :func:`simulate_event` turns the arrays into TrackML tables
(:class:`~hepjax.sim.tracker.Event`) and adds uniformly distributed noise hits.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int

from ...physics import MUON_MASS, highland
from ._crossing import effective_thickness, energy_loss_qop
from ._event import Event
from ._geometry import BarrelGeometry
from ._gun import Particles
from ._helix import (
    angles_to_momentum,
    global_to_bound,
    momentum_to_angles,
    propagate_to_cylinder,
    wrap_angle,
)


class SimulatedTracks(eqx.Module):
    """Per-particle, per-layer output of :func:`simulate_tracks` (``n`` particles, ``L`` layers).

    Attributes:
        crossed: ``(n, L)`` the particle crossed the layer inside $|z|\\le h$.
        detected: ``(n, L)`` crossed and recorded (hit efficiency).
        position: ``(n, L, 3)`` true crossing points (mm).
        momentum: ``(n, L, 3)`` true momenta at the crossing, before the layer's material.
        params: ``(n, L, 5)`` true bound parameters on the layer (before material).
        local: ``(n, L, 2)`` measured hit point in bound coordinates $(\\ell_0, \\ell_1)$.
        hit_position: ``(n, L, 3)`` global position of the measured hit.
        module_id: ``(n, L)`` TrackML module id of the hit.
    """

    crossed: Bool[Array, "n l"]
    detected: Bool[Array, "n l"]
    position: Float[Array, "n l 3"]
    momentum: Float[Array, "n l 3"]
    params: Float[Array, "n l 5"]
    local: Float[Array, "n l 2"]
    hit_position: Float[Array, "n l 3"]
    module_id: Int[Array, "n l"]


def _layer_arrays(geometry: BarrelGeometry):
    nphi = jnp.asarray(geometry.n_phi_modules)
    nz = jnp.asarray(geometry.n_z_modules)
    return dict(
        radius=geometry.radius,
        half_length=geometry.half_length,
        thickness=geometry.thickness,
        sigma0=geometry.sigma0,
        sigma1=geometry.sigma1,
        stereo=geometry.stereo,
        efficiency=geometry.efficiency,
        is_strip=geometry.strip_mask,
        nphi=nphi,
        nz=nz,
    )


def _digitize(g, lay, loc_true):
    """Module, hit point (bound coordinates) and global hit position of a true point.

    ``g`` holds two standard normal draws (zeros for no smearing).
    """
    r, hl = lay["radius"], lay["half_length"]
    nphi, nz = lay["nphi"], lay["nz"]
    phi_pos = loc_true[0] / r
    iphi = jnp.clip(jnp.floor((wrap_angle(phi_pos) + jnp.pi) / (2 * jnp.pi) * nphi), 0, nphi - 1)
    iz = jnp.clip(jnp.floor((loc_true[1] + hl) / (2 * hl) * nz), 0, nz - 1)
    phic = -jnp.pi + (iphi + 0.5) * 2 * jnp.pi / nphi
    zc = -hl + (iz + 0.5) * 2 * hl / nz
    l0 = r * wrap_angle(phi_pos - phic)
    l1 = loc_true[1] - zc
    ca, sa = jnp.cos(lay["stereo"]), jnp.sin(lay["stereo"])
    u = ca * l0 + sa * l1 + lay["sigma0"] * g[0]
    strip = jnp.stack([u * ca, u * sa])
    pixel = jnp.stack([l0 + lay["sigma0"] * g[0], l1 + lay["sigma1"] * g[1]])
    m = jnp.where(lay["is_strip"], strip, pixel)
    local = jnp.stack([r * phic + m[0], zc + m[1]])
    ph = local[0] / r
    pos = jnp.stack([r * jnp.cos(ph), r * jnp.sin(ph), local[1]])
    module = (iz * nphi + iphi + 1).astype(jnp.int32)
    return local, pos, module


def _simulate_one(key, lay, vertex, momentum, charge, bz, mass):
    phi, theta, qop = momentum_to_angles(momentum, charge)

    def step(carry, xs):
        pos, phi, theta, qop, alive = carry
        g_meas, u_eff, g_ms, layer = xs
        new_pos, new_phi, _, reached = propagate_to_cylinder(
            pos, phi, theta, qop, layer["radius"], bz
        )
        reached = reached & alive
        crossed = reached & (jnp.abs(new_pos[2]) <= layer["half_length"])
        params = global_to_bound(new_pos, new_phi, theta, qop, layer["radius"])
        mom = angles_to_momentum(new_phi, theta, qop, charge)
        local, hit_pos, module = _digitize(g_meas, layer, params[:2])
        detected = crossed & (u_eff < layer["efficiency"])
        # Material of the crossed layer: mean energy loss, then Highland scattering.
        phi_pos = jnp.arctan2(new_pos[1], new_pos[0])
        t = effective_thickness(layer["thickness"], phi_pos, new_phi, theta)
        qop_out = energy_loss_qop(qop, t, mass=mass)
        theta0 = highland(jnp.abs(1.0 / qop), t, mass=mass)
        g = g_ms * theta0
        theta_out = jnp.clip(theta + g[0], 1e-3, jnp.pi - 1e-3)
        phi_out = new_phi + g[1] / jnp.sin(theta)
        theta_n = jnp.where(crossed, theta_out, theta)
        phi_n = jnp.where(crossed, phi_out, new_phi)
        qop_n = jnp.where(crossed, qop_out, qop)
        pos_n = jnp.where(reached, new_pos, pos)
        out = (crossed, detected, new_pos, mom, params, local, hit_pos, module)
        return (pos_n, jnp.where(reached, phi_n, phi), theta_n, qop_n, reached), out

    n_layers = lay["radius"].shape[0]
    dtype = jnp.result_type(vertex)
    k1, k2, k3 = jax.random.split(key, 3)
    g_meas = jax.random.normal(k1, (n_layers, 2), dtype)
    u_eff = jax.random.uniform(k2, (n_layers,), dtype)
    g_ms = jax.random.normal(k3, (n_layers, 2), dtype)
    carry = (jnp.asarray(vertex), phi, theta, qop, jnp.asarray(True))
    _, out = lax.scan(step, carry, (g_meas, u_eff, g_ms, lay))
    return out


def simulate_tracks(
    key,
    geometry: BarrelGeometry,
    particles: Particles,
    *,
    mass: float = MUON_MASS,
) -> SimulatedTracks:
    """Propagate ``particles`` through ``geometry`` with material and digitisation (pure JAX).

    Fixed shapes ``(n, L)``; jit it with ``eqx.filter_jit``. Particles are
    simulated independently (``vmap``); the arrays are in the dtype of the
    particles' momenta (use float64 for precision studies).

    Args:
        key: PRNG key of scattering, energy-loss fluctuations, efficiency and smearing.
        geometry: the tracker.
        particles: the particles to propagate (``n`` of them).
        mass: the particle mass in GeV (one for all particles).
    """
    lay = _layer_arrays(geometry)
    dtype = particles.momentum.dtype
    lay = {
        k: (v.astype(dtype) if jnp.issubdtype(v.dtype, jnp.floating) else v) for k, v in lay.items()
    }
    bz = geometry.bz.astype(dtype)
    keys = jax.random.split(key, particles.charge.shape[0])
    out = jax.vmap(lambda k, v, p, q: _simulate_one(k, lay, v, p, q, bz, mass))(
        keys, particles.vertex, particles.momentum, particles.charge
    )
    return SimulatedTracks(*out)


def noise_hits(key, geometry: BarrelGeometry, n: int, *, dtype=jnp.float32):
    """``n`` noise hits spread uniformly over the layers' areas (pure JAX).

    Args:
        key: PRNG key of the draw.
        geometry: the tracker.
        n: the number of noise hits.
        dtype: float dtype of the positions.

    Returns:
        ``(layer, local, position, module_id)`` with shapes ``(n,)``, ``(n, 2)``,
        ``(n, 3)``, ``(n,)``.
    """
    lay = _layer_arrays(geometry)
    area = lay["radius"] * lay["half_length"]
    k1, k2, k3, _k4 = jax.random.split(key, 4)
    # Inverse-CDF draw of the layer (jax.random.categorical compiles slowly on CPU).
    cdf = jnp.cumsum(area / area.sum())
    u = jax.random.uniform(k1, (n,), cdf.dtype)
    layer = jnp.minimum(jnp.sum(u[:, None] >= cdf[None, :-1], axis=1), area.shape[0] - 1)
    lay_n = jax.tree.map(lambda a: a[layer], lay)
    phi = jax.random.uniform(k2, (n,), dtype, -math.pi, math.pi)
    z = (jax.random.uniform(k3, (n,), dtype) * 2 - 1) * lay_n["half_length"].astype(dtype)
    loc = jnp.stack([lay_n["radius"].astype(dtype) * phi, z], axis=-1)
    zeros = jnp.zeros((n, 2), dtype)
    local, pos, module = jax.vmap(_digitize)(zeros, lay_n, loc)
    return layer, local, pos, module


def _check_particles(geometry, particles, on_invalid):
    pt = np.asarray(particles.pt)
    eta = np.asarray(particles.eta) if np.all(pt > 0) else np.zeros_like(pt)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(np.asarray(particles.momentum)[:, 2] / pt), 0.0)
    bad_pt = ~(pt > 0) | ~np.isfinite(pt)
    bad_eta = np.abs(eta) > geometry.eta_max()
    bad_q = ~np.isin(np.asarray(particles.charge), (-1.0, 1.0))
    bad_v = ~np.all(np.isfinite(np.asarray(particles.vertex)), axis=1)
    bad = bad_pt | bad_eta | bad_q | bad_v
    report = {
        "pt_not_positive": np.flatnonzero(bad_pt).tolist(),
        "eta_beyond_detector": np.flatnonzero(bad_eta & ~bad_pt).tolist(),
        "charge_not_unit": np.flatnonzero(bad_q).tolist(),
        "vertex_not_finite": np.flatnonzero(bad_v).tolist(),
    }
    if bad.any() and on_invalid == "raise":
        parts = [f"{k}: particles {v[:5]}" for k, v in report.items() if v]
        raise ValueError(
            "invalid particles (pass on_invalid='skip' to drop them): "
            + "; ".join(parts)
            + f" (geometry.eta_max() = {geometry.eta_max():.3f})"
        )
    return ~bad, report


def simulate_event(
    key,
    geometry: BarrelGeometry,
    particles: Particles,
    *,
    n_noise: int = 0,
    on_invalid: str = "raise",
    mass: float = MUON_MASS,
) -> Event:
    """Simulate one event and return its TrackML tables (see :class:`Event`).

    Args:
        key: PRNG key.
        geometry: the detector.
        particles: primary particles (from :func:`particle_gun` or :func:`pileup_particles`).
        n_noise: number of noise hits (``particle_id`` 0) spread uniformly over the layers.
        on_invalid: ``"raise"`` (default) for a ``ValueError`` on particles with
            pT = 0, |eta| beyond ``geometry.eta_max()``, a charge other than
            $\\pm1$ or a non-finite vertex; ``"skip"`` drops them and lists them in
            ``event.report``.
        mass: particle mass for the material effects (GeV).

    Particle ids are 1..n in the order of ``particles``; hit ids are 1..N,
    sorted by volume, layer and module as in TrackML. Truth weights are
    uniform over the particles' hits (summing to 1, noise 0).
    """
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    if not isinstance(n_noise, int | np.integer) or n_noise < 0:
        raise ValueError(f"n_noise must be a non-negative integer, got {n_noise!r}")
    good, report = _check_particles(geometry, particles, on_invalid)
    sim, noise, tie_seed = _simulate_jit(key, geometry, particles, mass, int(n_noise))
    sim = jax.tree.map(np.asarray, sim)
    _n, _n_layers = sim.detected.shape
    det = sim.detected & good[:, None]
    pidx, lidx = np.nonzero(det)
    vol = np.asarray(geometry.volume_id)
    lid = np.asarray(geometry.layer_id)
    hit_layer = lidx
    hit_pos = sim.hit_position[pidx, lidx]
    hit_local = sim.local[pidx, lidx]
    hit_module = sim.module_id[pidx, lidx]
    hit_pid = pidx + 1
    tpos = sim.position[pidx, lidx]
    tmom = sim.momentum[pidx, lidx]
    if n_noise:
        nl, nloc, npos, nmod = jax.tree.map(np.asarray, noise)
        hit_layer = np.concatenate([hit_layer, nl])
        hit_pos = np.concatenate([hit_pos, npos])
        hit_local = np.concatenate([hit_local, nloc])
        hit_module = np.concatenate([hit_module, nmod])
        hit_pid = np.concatenate([hit_pid, np.zeros(n_noise, int)])
        tpos = np.concatenate([tpos, npos])
        tmom = np.concatenate([tmom, np.zeros((n_noise, 3))])
    # random order of the hits within a module (no information in the hit id)
    tie = np.random.default_rng(np.asarray(tie_seed)).permutation(len(hit_layer))
    order = np.lexsort((tie, hit_module, hit_layer))
    nh = len(order)
    hit_id = np.arange(1, nh + 1, dtype=np.int64)
    layer = hit_layer[order]
    strip = np.asarray(geometry.is_strip, bool)[layer]
    sig0 = np.asarray(geometry.sigma0, float)[layer]
    sig1 = np.asarray(geometry.sigma1, float)[layer]
    mlen = np.asarray(geometry.module_length, float)[layer]
    pid = hit_pid[order].astype(np.int64)
    npart_hits = det.sum()
    weight = np.where(pid > 0, 1.0 / max(npart_hits, 1), 0.0)
    pos = hit_pos[order].astype(float)
    hits = dict(
        hit_id=hit_id,
        x=pos[:, 0],
        y=pos[:, 1],
        z=pos[:, 2],
        volume_id=vol[layer].astype(np.int64),
        layer_id=lid[layer].astype(np.int64),
        module_id=hit_module[order].astype(np.int64),
    )
    tp, tm = tpos[order].astype(float), tmom[order].astype(float)
    truth = dict(
        hit_id=hit_id,
        particle_id=pid,
        tx=tp[:, 0],
        ty=tp[:, 1],
        tz=tp[:, 2],
        tpx=tm[:, 0],
        tpy=tm[:, 1],
        tpz=tm[:, 2],
        weight=weight,
    )
    loc = hit_local[order].astype(float)
    measurements = dict(
        hit_id=hit_id,
        layer=layer.astype(np.int64),
        loc0=loc[:, 0],
        loc1=loc[:, 1],
        stereo=np.asarray(geometry.stereo, float)[layer],
        var_u=sig0**2,
        var_v=np.where(strip, mlen**2 / 12.0, sig1**2),
        cov_uv=np.zeros(nh),
        ndim=np.where(strip, 1, 2).astype(np.int64),
    )
    v = np.asarray(particles.vertex, float)
    p = np.asarray(particles.momentum, float)
    keep = np.flatnonzero(good)
    particles_t = dict(
        particle_id=keep.astype(np.int64) + 1,
        vx=v[keep, 0],
        vy=v[keep, 1],
        vz=v[keep, 2],
        px=p[keep, 0],
        py=p[keep, 1],
        pz=p[keep, 2],
        q=np.asarray(particles.charge)[keep].astype(np.int64),
        nhits=det.sum(axis=1)[keep].astype(np.int64),
    )
    return Event(
        hits=hits,
        truth=truth,
        particles=particles_t,
        measurements=measurements,
        report={"invalid_particles": report},
    )


@eqx.filter_jit
def _simulate_jit(key, geometry, particles, mass, n_noise):
    k_sim, k_noise, k_tie = jax.random.split(key, 3)
    sim = simulate_tracks(k_sim, geometry, particles, mass=mass)
    noise = noise_hits(k_noise, geometry, n_noise, dtype=particles.momentum.dtype)
    tie_seed = jax.random.randint(k_tie, (4,), 0, 2**31 - 1)
    return sim, noise, tie_seed
