r"""The transport loop: all live particles of one event advance in lockstep.

One iteration of a ``lax.while_loop`` moves every live particle of the
fixed-capacity buffer by one step (class II condensed history for e±):

1. *Stopped particles.* A photon or electron below the cut deposits its
   energy; a positron below the cut deposits its kinetic energy and
   annihilates at rest into two back-to-back 511 keV photons (isotropic).
2. *Step length* $s = \min(s_\text{int}, s_\text{geom}, s_\text{loss})$:
   $s_\text{int} = -\ln u/\Sigma$ with the total macroscopic cross section $\Sigma$
   (photons: Compton + pair + photoelectric; e−: bremsstrahlung majorant;
   e+: the same plus annihilation in flight), $s_\text{geom}$ the distance to the
   cell's boundary, $s_\text{loss}$ (e±) the length over which the continuous
   loss reaches $\max(f T, k_c)$, $f$ = ``step_fraction``. Sampling a fresh
   exponential distance each step is exact for a piecewise-constant
   cross section (memorylessness).
3. *Move;* for e±: continuous loss (ionisation + bremsstrahlung below the cut)
   with the stopping power at the step's midpoint energy, deposited in the
   cell, and multiple scattering: a deflection by Gaussian plane angles of
   Highland's width (PDG eq. 34.15) at the end of the step (no lateral
   displacement within a step).
4. *Interaction* at the end of an interaction-limited step (module
   :mod:`._xsec` for the cross sections; the final states are sampled as in
   Geant4's standard models): Compton (Klein-Nishina, Butcher-Messel),
   pair production (Bethe-Heitler with screening and Coulomb correction; the
   e± angles from Urban's universal distribution), photoelectric absorption
   (the electron takes the photon's energy and direction, binding neglected),
   bremsstrahlung (null collision against the majorant; photon angle from
   Urban's distribution), annihilation in flight (Heitler). Rejection
   sampling uses a fixed number of vectorised tries (the last try is kept in
   the rare case none is accepted).
5. *Cut:* secondaries below the cut deposit at once (positrons are kept to
   annihilate); particles leaving the world stay in their slot, marked as
   exited (the slot is not reused), and are gathered into the ``exiting``
   set at the end.

Every interaction keeps the particle in its slot as one product and spawns at
most one secondary, written into a free slot by
:func:`hepjax.sim.branching._buffer.spawn`; a secondary that finds no slot
raises ``overflow``. All random numbers of an iteration come from one key
(``fold_in(key, step)``), drawn for the whole buffer at once.

Energy bookkeeping (exact up to float32 rounding, when nothing overflows):
incident energy (kinetic for e±) $+\ 2m_e[\text{incident } e^+]$ = deposits
+ exiting energies (kinetic for e±) + $2m_e\,\times$ exiting positrons.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from hepjax._core import check_choice, check_positive_int, concrete_value
from hepjax.sim.branching._buffer import append_rows, spawn

from . import _xsec
from ._world import PDG_CODES, AbstractWorld, Particle

ME = _xsec.ME
NA = _xsec.NA
N_TRIES = 4
_N_U = 21


class Exiting(eqx.Module):
    """Particles leaving the world (a padded set with a mask).

    Attributes:
        pdg: ``(K,)`` PDG codes (22, 11, -11; 0 in empty rows).
        energy_mev: ``(K,)`` kinetic energy (photon energy) in MeV.
        position: ``(K, 3)`` exit point on the world's surface, cm.
        direction: ``(K, 3)`` unit direction.
        mask: ``(K,)`` which rows hold a particle.
    """

    pdg: Int[Array, "*batch k"]
    energy_mev: Float[Array, "*batch k"]
    position: Float[Array, "*batch k 3"]
    direction: Float[Array, "*batch k 3"]
    mask: Bool[Array, "*batch k"]


class TransportResult(eqx.Module):
    """Result of :func:`simulate` (one incident particle; batch with ``jax.vmap``).

    :func:`simulate_batch` returns the same fields with a leading batch axis.

    Attributes:
        deposit_mev: energy deposited per layer ``(L,)`` (:class:`Slabs`) or per
            voxel ``(nx, ny, nz)`` (:class:`Voxels`), MeV.
        exiting: the particles leaving the world (:class:`Exiting`).
        overflow: ``True`` if a secondary found no free slot in the buffer (exited
            particles keep their slots) or the exiting set was too small (energy is
            then missing from the balance).
        truncated: ``True`` if the loop stopped at ``max_steps`` with live particles.
        n_steps: iterations of the lockstep loop.
        n_interactions: discrete interactions (null collisions excluded,
            annihilations at rest included).
        n_particle_steps: particle steps summed over the event.
    """

    deposit_mev: Float[Array, ...]
    exiting: Exiting
    overflow: Bool[Array, "*batch"]
    truncated: Bool[Array, "*batch"]
    n_steps: Int[Array, "*batch"]
    n_interactions: Int[Array, "*batch"]
    n_particle_steps: Int[Array, "*batch"]


# -- small vector helpers ------------------------------------------------------------------


def _rotate_uz(u, cos_t, sin_t, phi):
    """Rotate the local vector (sin cos phi, sin sin phi, cos) into the frame whose z is ``u``."""
    vx, vy, vz = sin_t * jnp.cos(phi), sin_t * jnp.sin(phi), cos_t
    ux, uy, uz = u[..., 0], u[..., 1], u[..., 2]
    up2 = ux * ux + uy * uy
    ok = up2 > 1e-14
    up = jnp.sqrt(jnp.where(ok, up2, 1.0))
    rx = (ux * uz * vx - uy * vy) / up + ux * vz
    ry = (uy * uz * vx + ux * vy) / up + uy * vz
    rz = -up * vx + uz * vz
    sgn = jnp.where(uz >= 0, 1.0, -1.0)
    rx = jnp.where(ok, rx, sgn * vx)
    ry = jnp.where(ok, ry, vy)
    rz = jnp.where(ok, rz, sgn * vz)
    r = jnp.stack([rx, ry, rz], -1)
    return r / jnp.linalg.norm(r, axis=-1, keepdims=True)


def _first_accepted(values, accepted):
    """Per row, the first accepted of ``N_TRIES`` proposals (the last if none is)."""
    idx = jnp.where(jnp.any(accepted, -1), jnp.argmax(accepted, -1), values.shape[-1] - 1)
    return jnp.take_along_axis(values, idx[:, None], -1)[:, 0]


def _urban_angle(u_a, u_b, u_c, total_energy):
    """Urban's universal polar angle of e± from pair production/bremsstrahlung (Geant3 PHYS211)."""
    a1, a2, d = 0.625, 1.875, 27.0
    t = -jnp.log(jnp.maximum(u_a * u_b, 1e-30))
    u = jnp.where(u_c < 9.0 / (9.0 + d), t / a1, t / a2)
    return jnp.minimum(u * ME / total_energy, math.pi)


def _screen1(d):
    return jnp.where(d > 1.0, 42.24 - 8.368 * jnp.log(d + 0.952), 42.392 - d * (7.796 - 1.961 * d))


def _screen2(d):
    return jnp.where(d > 1.0, 42.24 - 8.368 * jnp.log(d + 0.952), 41.405 - d * (5.828 - 0.8945 * d))


# -- final-state samplers (vectorised over the buffer) -------------------------------------


def _compton(e, u):
    """Scattered photon fraction eps and cos(theta) (Klein-Nishina, Butcher & Messel)."""
    k = e / ME
    eps0 = 1.0 / (1.0 + 2.0 * k)
    a1 = -jnp.log(eps0)
    a2 = 0.5 * (1.0 - eps0 * eps0)
    r1, r2, r3 = u[:, 0:N_TRIES], u[:, N_TRIES : 2 * N_TRIES], u[:, 2 * N_TRIES : 3 * N_TRIES]
    first = (a1 / (a1 + a2))[:, None] > r1
    eps_a = jnp.exp(-a1[:, None] * r2)
    eps_b = jnp.sqrt(eps0[:, None] ** 2 + (1.0 - eps0[:, None] ** 2) * r2)
    eps = jnp.where(first, eps_a, eps_b)
    onecost = (1.0 - eps) / (eps * k[:, None])
    sint2 = onecost * (2.0 - onecost)
    g = 1.0 - eps * sint2 / (1.0 + eps * eps)
    eps = _first_accepted(eps, g >= r3)
    cost = jnp.clip(1.0 - (1.0 - eps) / (eps * k), -1.0, 1.0)
    return eps, cost


def _pair(e, zeff, fcoul, u):
    """Energy fraction eps of one lepton (Bethe-Heitler with screening; G4BetheHeitlerModel)."""
    eps0 = ME / e
    lz3 = jnp.log(zeff) / 3.0
    fz = 8.0 * lz3 + jnp.where(e > 50.0, 8.0 * fcoul, 0.0)
    screenfac = 136.0 * eps0 / jnp.exp(lz3)
    screenmax = jnp.exp((42.24 - fz) / 8.368) - 0.952
    screenmin = jnp.minimum(4.0 * screenfac, screenmax)
    eps1 = 0.5 - 0.5 * jnp.sqrt(jnp.maximum(1.0 - screenmin / screenmax, 0.0))
    epsmin = jnp.maximum(eps0, eps1)
    rng = 0.5 - epsmin
    f10 = _screen1(screenmin) - fz
    f20 = _screen2(screenmin) - fz
    n1 = jnp.maximum(f10 * rng * rng, 0.0)
    n2 = jnp.maximum(1.5 * f20, 0.0)
    r1, r2, r3 = u[:, 0:N_TRIES], u[:, N_TRIES : 2 * N_TRIES], u[:, 2 * N_TRIES : 3 * N_TRIES]
    first = (n1 / jnp.maximum(n1 + n2, 1e-30))[:, None] > r1
    eps_a = 0.5 - rng[:, None] * jnp.cbrt(r2)
    eps_b = epsmin[:, None] + rng[:, None] * r2
    eps = jnp.where(first, eps_a, eps_b)
    sv = screenfac[:, None] / jnp.maximum(eps * (1.0 - eps), 1e-12)
    g = jnp.where(
        first,
        (_screen1(sv) - fz[:, None]) / jnp.where(f10 > 0, f10, 1.0)[:, None],
        (_screen2(sv) - fz[:, None]) / jnp.where(f20 > 0, f20, 1.0)[:, None],
    )
    eps = _first_accepted(eps, g >= r3)
    low = eps0 + (0.5 - eps0) * u[:, 0]
    return jnp.where(e < 2.0, low, eps)


def _annihilation(t, u):
    """Photon-1 energy fraction and cos(theta) of annihilation in flight (Heitler)."""
    tau = jnp.maximum(t, 1e-6) / ME
    gam = tau + 1.0
    tau2 = tau + 2.0
    sq = 0.5 * jnp.sqrt(tau / tau2)
    emin, emax = 0.5 - sq, 0.5 + sq
    r1, r2 = u[:, 0:N_TRIES], u[:, N_TRIES : 2 * N_TRIES]
    eps = emin[:, None] * jnp.exp(jnp.log(emax / emin)[:, None] * r1)
    g = 1.0 - eps + (2.0 * gam[:, None] * eps - 1.0) / (eps * tau2[:, None] ** 2)
    eps = _first_accepted(eps, g >= r2)
    cost = jnp.clip((eps * tau2 - 1.0) / (eps * jnp.sqrt(tau * tau2)), -1.0, 1.0)
    return eps, cost


# -- the engine ----------------------------------------------------------------------------


def _lookup(table, m, energy):
    """Linear interpolation of the per-material table in ln E: ``(C, 5)``."""
    g = table.shape[1]
    x = (jnp.log(jnp.maximum(energy, _xsec.GRID_MIN)) - _xsec.GRID_LOG_MIN) / _xsec.GRID_DLOG
    x = jnp.clip(x, 0.0, g - 1.001)
    i = jnp.floor(x).astype(jnp.int32)
    f = (x - i)[:, None]
    flat = table.reshape(-1, table.shape[-1])
    lo = flat[m * g + i]
    hi = flat[m * g + i + 1]
    return lo + f * (hi - lo)


def _highland(kinetic, x_x0):
    """Highland width (rad) for an electron of kinetic energy ``kinetic`` over ``x_x0``."""
    p2 = kinetic * (kinetic + 2 * ME)
    e = kinetic + ME
    beta_p = p2 / e
    beta2 = p2 / (e * e)
    x = jnp.maximum(x_x0, 1e-20)
    corr = jnp.maximum(1.0 + 0.038 * jnp.log(x / beta2), 0.0)
    return 13.6 / beta_p * jnp.sqrt(x) * corr


def _body_fn(state, *, key, world_arrays, tables, cut, step_fraction, dims):
    (
        ptype,
        energy,
        pos,
        dirs,
        cell,
        alive,
        exited,
        dep,
        lost,
        step,
        n_int,
        n_ps,
    ) = state
    px, py, pz, cell_mat, cell_rho = world_arrays
    nx, ny, nz = dims
    cap = ptype.shape[0]
    u = jax.random.uniform(jax.random.fold_in(key, step), (cap, _N_U), jnp.float32)
    u = jnp.clip(u, 1e-7, 1.0 - 1e-7)
    is_g = ptype == 0
    is_p = ptype == 2
    charged = ~is_g

    flat = (cell[:, 0] * ny + cell[:, 1]) * nz + cell[:, 2]
    flat = jnp.clip(flat, 0, nx * ny * nz - 1)
    m = cell_mat[flat]
    rho = cell_rho[flat]
    x0 = tables.x0[m]
    zoa = tables.zoa[m]

    # 1. stopped particles
    stopped = alive & (energy < cut)
    dep_now = jnp.where(stopped, energy, 0.0)
    at_rest = stopped & is_p
    iso_c = 2.0 * u[:, 5] - 1.0
    iso_dir = _rotate_uz(
        jnp.broadcast_to(jnp.asarray([0.0, 0.0, 1.0]), dirs.shape),
        iso_c,
        jnp.sqrt(jnp.maximum(1.0 - iso_c * iso_c, 0.0)),
        2 * math.pi * u[:, 4],
    )
    moving = alive & ~stopped

    # 2. step lengths
    row = _lookup(tables.table, m, energy)
    mu_g = row[:, _xsec.COL_COMPTON] + row[:, _xsec.COL_PAIR] + row[:, _xsec.COL_PHOTO]
    s_ion = jnp.where(is_p, row[:, _xsec.COL_ION_P], row[:, _xsec.COL_ION_E])
    s_tot = s_ion + _xsec.brems_loss_below_cut(energy, cut, x0)  # MeV cm^2/g
    mu_brem = _xsec.brems_majorant(energy, cut, x0)
    mu_ann = jnp.where(is_p, NA * zoa * _xsec.annihilation_per_electron(energy), 0.0)
    mu = jnp.where(is_g, mu_g, mu_brem + mu_ann)  # cm^2/g
    sig = rho * mu
    s_int = jnp.where(sig > 0, -jnp.log(u[:, 0]) / jnp.where(sig > 0, sig, 1.0), jnp.inf)
    s_loss = jnp.where(charged, jnp.maximum(step_fraction * energy, cut) / (rho * s_tot), jnp.inf)
    dist = []
    for a, planes in enumerate((px, py, pz)):
        d = dirs[:, a]
        up = d > 0
        plane = planes[jnp.clip(cell[:, a] + up.astype(jnp.int32), 0, planes.shape[0] - 1)]
        nonzero = jnp.abs(d) > 1e-12
        t = (plane - pos[:, a]) / jnp.where(nonzero, d, 1.0)
        dist.append(jnp.where(nonzero, jnp.maximum(t, 0.0), jnp.inf))
    dist = jnp.stack(dist, -1)
    axis = jnp.argmin(dist, -1)
    s_geom = jnp.min(dist, -1)
    s = jnp.minimum(jnp.minimum(s_int, s_geom), s_loss)
    s = jnp.where(moving, s, 0.0)
    interacts = moving & (s_int <= s_geom) & (s_int <= s_loss)
    crosses = moving & ~interacts & (s_geom <= s_loss)

    # 3. move, continuous loss, multiple scattering
    new_pos = pos + s[:, None] * dirs
    onehot = jax.nn.one_hot(axis, 3, dtype=jnp.bool_)
    snap = jnp.stack(
        [
            planes[
                jnp.clip(cell[:, a] + (dirs[:, a] > 0).astype(jnp.int32), 0, planes.shape[0] - 1)
            ]
            for a, planes in enumerate((px, py, pz))
        ],
        -1,
    )
    new_pos = jnp.where(crosses[:, None] & onehot, snap, new_pos)
    step_dir = jnp.where(dirs > 0, 1, -1).astype(jnp.int32)
    new_cell = jnp.where(crosses[:, None] & onehot, cell + step_dir, cell)
    de1 = rho * s_tot * s
    t_mid = jnp.maximum(energy - 0.5 * de1, 1e-3)
    row_mid = _lookup(tables.table, m, t_mid)
    s_mid = jnp.where(is_p, row_mid[:, _xsec.COL_ION_P], row_mid[:, _xsec.COL_ION_E])
    s_mid = s_mid + _xsec.brems_loss_below_cut(t_mid, cut, x0)
    de = jnp.where(moving & charged, jnp.minimum(rho * s_mid * s, energy), 0.0)
    dep_cont = de
    t_after = jnp.where(moving & charged, energy - de, energy)
    theta0 = _highland(t_mid, rho * s / x0)
    r_ms = jnp.sqrt(-2.0 * jnp.log(u[:, 2]))
    thx = theta0 * r_ms * jnp.cos(2 * math.pi * u[:, 3])
    thy = theta0 * r_ms * jnp.sin(2 * math.pi * u[:, 3])
    th = jnp.minimum(jnp.sqrt(thx * thx + thy * thy), math.pi)
    ms_dir = _rotate_uz(dirs, jnp.cos(th), jnp.sin(th), jnp.arctan2(thy, thx))
    new_dir = jnp.where((moving & charged & (s > 0))[:, None], ms_dir, dirs)

    # 4. interactions
    phi = 2 * math.pi * u[:, 4]
    pool = u[:, 5 : 5 + 3 * N_TRIES]
    frac_c = row[:, _xsec.COL_COMPTON] / jnp.where(mu_g > 0, mu_g, 1.0)
    frac_p = row[:, _xsec.COL_PAIR] / jnp.where(mu_g > 0, mu_g, 1.0)
    g_compton = interacts & is_g & (u[:, 1] < frac_c)
    g_pair = interacts & is_g & ~g_compton & (u[:, 1] < frac_c + frac_p) & (energy > 2 * ME)
    g_photo = interacts & is_g & ~g_compton & ~g_pair
    # Compton
    eps_c, cos_c = _compton(jnp.maximum(energy, 1e-3), pool)
    e_sc = eps_c * energy
    dir_sc = _rotate_uz(new_dir, cos_c, jnp.sqrt(jnp.maximum(1 - cos_c * cos_c, 0.0)), phi)
    p_el = energy[:, None] * new_dir - e_sc[:, None] * dir_sc
    dir_el = p_el / jnp.maximum(jnp.linalg.norm(p_el, axis=-1, keepdims=True), 1e-20)
    # pair
    zeff = tables.zpair[m]
    eps_p = _pair(jnp.maximum(energy, 2.1 * ME), zeff, tables.fcoul[m], pool)
    swap = u[:, 17] < 0.5
    e_minus_tot = jnp.where(swap, eps_p, 1.0 - eps_p) * energy
    e_plus_tot = energy - e_minus_tot
    th_m = _urban_angle(u[:, 18], u[:, 19], u[:, 20], jnp.maximum(e_minus_tot, ME))
    th_p = _urban_angle(u[:, 18], u[:, 19], u[:, 20], jnp.maximum(e_plus_tot, ME))
    dir_m = _rotate_uz(new_dir, jnp.cos(th_m), jnp.sin(th_m), phi)
    dir_p = _rotate_uz(new_dir, jnp.cos(th_p), jnp.sin(th_p), phi + math.pi)
    t_minus = jnp.maximum(e_minus_tot - ME, 0.0)
    t_plus = jnp.maximum(e_plus_tot - ME, 0.0)
    # bremsstrahlung (null collision against the majorant evaluated at the pre-step energy)
    ratio = jnp.log(jnp.maximum(t_after, cut) / cut) / jnp.maximum(
        jnp.log(jnp.maximum(energy, cut) / cut), 1e-20
    )
    k_b = cut * jnp.exp(u[:, 5] * jnp.log(jnp.maximum(t_after, cut) / cut))
    y_b = k_b / (t_after + ME)
    acc_b = (1.0 - y_b + 0.75 * y_b * y_b) * ratio
    frac_brem = mu_brem / jnp.where(mu > 0, mu, 1.0)
    in_flight = interacts & is_p & (u[:, 1] >= frac_brem) & (t_after >= cut)
    brems = interacts & charged & (u[:, 1] < frac_brem) & (u[:, 6] < acc_b) & (t_after > cut)
    th_b = _urban_angle(u[:, 18], u[:, 19], u[:, 20], t_after + ME)
    dir_b = _rotate_uz(new_dir, jnp.cos(th_b), jnp.sin(th_b), phi)
    # annihilation in flight
    eps_a, cos_a = _annihilation(t_after, u[:, 7 : 7 + 2 * N_TRIES])
    e_avail = t_after + 2 * ME
    k1 = eps_a * e_avail
    dir_k1 = _rotate_uz(new_dir, cos_a, jnp.sqrt(jnp.maximum(1 - cos_a * cos_a, 0.0)), phi)
    p_pos = jnp.sqrt(t_after * (t_after + 2 * ME))
    p2 = p_pos[:, None] * new_dir - k1[:, None] * dir_k1
    dir_k2 = p2 / jnp.maximum(jnp.linalg.norm(p2, axis=-1, keepdims=True), 1e-20)

    # the slot's own new state
    out_type = jnp.where(g_pair | g_photo, 1, ptype)
    out_type = jnp.where(in_flight | at_rest, 0, out_type)
    out_e = t_after
    out_e = jnp.where(g_compton, e_sc, out_e)
    out_e = jnp.where(g_pair, t_minus, out_e)
    out_e = jnp.where(brems, t_after - k_b, out_e)
    out_e = jnp.where(in_flight, k1, out_e)
    out_e = jnp.where(at_rest, ME, out_e)
    out_dir = new_dir
    out_dir = jnp.where(g_compton[:, None], dir_sc, out_dir)
    out_dir = jnp.where(g_pair[:, None], dir_m, out_dir)
    out_dir = jnp.where(in_flight[:, None], dir_k1, out_dir)
    out_dir = jnp.where(at_rest[:, None], iso_dir, out_dir)
    # the child
    has_child = g_compton | g_pair | brems | in_flight | at_rest
    ch_type = jnp.where(g_compton, 1, jnp.where(g_pair, 2, 0))
    ch_e = jnp.where(g_compton, energy - e_sc, 0.0)
    ch_e = jnp.where(g_pair, t_plus, ch_e)
    ch_e = jnp.where(brems, k_b, ch_e)
    ch_e = jnp.where(in_flight, e_avail - k1, ch_e)
    ch_e = jnp.where(at_rest, ME, ch_e)
    ch_dir = jnp.where(g_compton[:, None], dir_el, dir_b)
    ch_dir = jnp.where(g_pair[:, None], dir_p, ch_dir)
    ch_dir = jnp.where(in_flight[:, None], dir_k2, ch_dir)
    ch_dir = jnp.where(at_rest[:, None], -iso_dir, ch_dir)
    n_int = n_int + jnp.sum(g_compton | g_pair | g_photo | brems | in_flight | at_rest)

    # 5. leaving the world, cut
    outside = (
        (new_cell[:, 0] < 0)
        | (new_cell[:, 0] >= nx)
        | (new_cell[:, 1] < 0)
        | (new_cell[:, 1] >= ny)
        | (new_cell[:, 2] < 0)
        | (new_cell[:, 2] >= nz)
    )
    leaving = moving & outside
    exited = exited | leaving  # the row keeps the exit state; spawn leaves it alone
    alive_now = alive & ~leaving & ~(stopped & ~is_p)
    below = alive_now & ~at_rest & (out_e < cut) & (out_type != 2)
    dep_after = jnp.where(below, out_e, 0.0)
    alive_now = alive_now & ~below
    child_below = has_child & (ch_e < cut) & (ch_type != 2)
    dep_after = dep_after + jnp.where(child_below, ch_e, 0.0)
    parents = has_child & ~child_below

    new_flat = jnp.clip(
        (new_cell[:, 0] * ny + new_cell[:, 1]) * nz + new_cell[:, 2], 0, nx * ny * nz - 1
    )
    dep = dep + jax.ops.segment_sum(
        jnp.concatenate([dep_now + dep_cont, dep_after]),
        jnp.concatenate([flat, new_flat]),
        num_segments=nx * ny * nz,
    )
    occupied, bufs, n_lost = spawn(
        alive_now | exited,
        parents,
        {
            "t": (ch_type, out_type),
            "e": (ch_e, out_e),
            "p": (new_pos, new_pos),
            "d": (ch_dir, out_dir),
            "c": (new_cell, new_cell),
        },
    )
    return (
        bufs["t"],
        bufs["e"],
        bufs["p"],
        bufs["d"],
        bufs["c"],
        occupied & ~exited,
        exited,
        dep,
        lost + n_lost,
        step + 1,
        n_int,
        n_ps + jnp.sum(moving),
    )


def _start_cell(planes, x, d):
    """Index of the cell containing x (moving along d), -1 or n if outside."""
    n = planes.shape[0] - 1
    i = jnp.searchsorted(planes, x, side="right") - 1
    on_plane = (i >= 0) & (i <= n) & (planes[jnp.clip(i, 0, n)] == x)
    i = jnp.where(on_plane & (d < 0), i - 1, i)
    return i.astype(jnp.int32)


@eqx.filter_jit
def _run(key, world, particle, cut, step_fraction, capacity, exit_capacity, max_steps):
    px, py, pz, cell_mat, cell_rho = world.grid()
    dims = (px.shape[0] - 1, py.shape[0] - 1, pz.shape[0] - 1)
    pdg = jnp.asarray(particle.pdg)
    ptype0 = jnp.where(pdg == 22, 0, jnp.where(pdg == 11, 1, 2)).astype(jnp.int32)
    pos0 = jnp.asarray(particle.position, jnp.float32)
    dir0 = jnp.asarray(particle.direction, jnp.float32)
    dir0 = dir0 / jnp.linalg.norm(dir0)
    cell0 = jnp.stack([_start_cell(p, pos0[a], dir0[a]) for a, p in enumerate((px, py, pz))])
    inside = jnp.all((cell0 >= 0) & (cell0 < jnp.asarray(dims)))
    eps = 1e-5
    lo = jnp.stack([px[0], py[0], pz[0]])
    hi = jnp.stack([px[-1], py[-1], pz[-1]])
    tol = eps * (1.0 + jnp.abs(hi - lo))
    on_or_in = jnp.all((pos0 >= lo - tol) & (pos0 <= hi + tol))
    pos0 = jnp.clip(pos0, lo, hi)

    cap = capacity
    ptype = jnp.zeros(cap, jnp.int32).at[0].set(ptype0)
    energy = jnp.zeros(cap, jnp.float32).at[0].set(jnp.asarray(particle.energy_mev, jnp.float32))
    pos = jnp.zeros((cap, 3), jnp.float32).at[0].set(pos0)
    dirs = jnp.zeros((cap, 3), jnp.float32).at[0].set(dir0)
    cell = jnp.zeros((cap, 3), jnp.int32).at[0].set(jnp.clip(cell0, 0, jnp.asarray(dims) - 1))
    alive = jnp.zeros(cap, bool).at[0].set(inside)
    exited = jnp.zeros(cap, bool).at[0].set(~inside)
    dep = jnp.zeros(dims[0] * dims[1] * dims[2], jnp.float32)
    state = (
        ptype,
        energy,
        pos,
        dirs,
        cell,
        alive,
        exited,
        dep,
        jnp.int32(0),
        jnp.int32(0),
        jnp.int32(0),
        jnp.int32(0),
    )

    def cond(s):
        return jnp.any(s[5]) & (s[9] < max_steps)

    def body(s):
        return _body_fn(
            s,
            key=key,
            world_arrays=(px, py, pz, cell_mat, cell_rho),
            tables=world.tables,
            cut=cut,
            step_fraction=step_fraction,
            dims=dims,
        )

    state = lax.while_loop(cond, body, state)
    (ptype, energy, pos, dirs, _, alive, exited, dep, lost, step, n_int, n_ps) = state
    pdg_f = jnp.asarray(PDG_CODES, jnp.float32)[ptype]
    rows = jnp.concatenate([pdg_f[:, None], energy[:, None], pos, dirs], -1)
    ex_rows, ex_count = append_rows(
        jnp.zeros((exit_capacity, 8), jnp.float32), jnp.int32(0), rows, exited
    )
    mask = jnp.arange(exit_capacity) < ex_count
    exiting = Exiting(
        pdg=jnp.where(mask, ex_rows[:, 0], 0.0).round().astype(jnp.int32),
        energy_mev=jnp.where(mask, ex_rows[:, 1], 0.0),
        position=jnp.where(mask[:, None], ex_rows[:, 2:5], 0.0),
        direction=jnp.where(mask[:, None], ex_rows[:, 5:8], 0.0),
        mask=mask,
    )
    return (
        TransportResult(
            deposit_mev=dep.reshape(world.deposit_shape()),
            exiting=exiting,
            overflow=(lost > 0) | (ex_count > exit_capacity),
            truncated=jnp.any(alive),
            n_steps=step,
            n_interactions=n_int,
            n_particle_steps=n_ps,
        ),
        on_or_in,
    )


def check_options(
    world, particles, name: str, *, on_overflow, capacity, max_steps, cut_mev, step_fraction
) -> tuple[int, int]:
    """Trace-time checks shared by :func:`simulate` and ``simulate_batch``.

    Returns the checked ``(capacity, max_steps)``.
    """
    if not isinstance(world, AbstractWorld):
        raise TypeError(
            f"world must be transport.Slabs or transport.Voxels, got {type(world).__name__}"
        )
    if not isinstance(particles, Particle):
        raise TypeError(f"{name} must be a transport.Particle, got {type(particles).__name__}")
    check_choice("on_overflow", on_overflow, ("flag", "error"))
    capacity = check_positive_int("capacity", capacity)
    max_steps = check_positive_int("max_steps", max_steps)
    c = concrete_value(cut_mev)
    if c is not None and not (c.shape == () and math.isfinite(float(c)) and float(c) > 0):
        raise ValueError(f"cut_mev must be a positive scalar, got {cut_mev!r}")
    if not (isinstance(step_fraction, float | int) and 0 < step_fraction < 1):
        raise ValueError(f"step_fraction must be in (0, 1), got {step_fraction!r}")
    return capacity, max_steps


def check_values(res, world, particles, name: str, on_or_in, on_overflow: str):
    """Checks of the traced inputs, shared by :func:`simulate` and ``simulate_batch``.

    A start point outside the world raises at once when it is concrete; every
    check also runs under ``jit`` through ``equinox.error_if``, on one particle
    or on a batch (``name`` is ``"particle"`` or ``"particles"``).
    """
    ok = concrete_value(on_or_in)
    if ok is not None and not bool(ok.all()):
        pos = concrete_value(particles.position)
        where = "" if ok.ndim == 0 else f"[{int(jnp.argmin(ok))}]"
        row = pos if ok.ndim == 0 else pos[int(jnp.argmin(ok))]
        raise ValueError(f"{name}.position{where} {row.tolist()} is outside the world")
    res = eqx.error_if(res, ~jnp.all(on_or_in), f"{name}.position is outside the world")
    pdg = jnp.asarray(particles.pdg)
    res = eqx.error_if(
        res,
        ~jnp.all((pdg == 22) | (pdg == 11) | (pdg == -11)),
        f"{name}.pdg: unsupported particle type (22, 11 or -11)",
    )
    energy = jnp.asarray(particles.energy_mev)
    res = eqx.error_if(res, ~jnp.all(energy > 0), f"{name}.energy_mev must be positive")
    norm = jnp.linalg.norm(jnp.asarray(particles.direction), axis=-1)
    res = eqx.error_if(
        res, jnp.any(jnp.abs(norm - 1.0) > 1e-4), f"{name}.direction must be unit vectors"
    )
    for field, val in world.value_checks():
        res = eqx.error_if(res, ~jnp.all(val > 0), f"world.{field} must be positive")
    if on_overflow == "error":
        res = eqx.error_if(
            res,
            jnp.any(res.overflow),
            "transport buffer overflow: raise capacity (particle slots) or exit_capacity "
            "(exiting particles per event)",
        )
    return res


def simulate(
    key: ArrayLike,
    world: AbstractWorld,
    particle: Particle,
    *,
    cut_mev: float | ArrayLike = 1.0,
    capacity: int = 4096,
    exit_capacity: int | None = None,
    step_fraction: float = 0.2,
    max_steps: int = 100_000,
    on_overflow: str = "flag",
) -> TransportResult:
    r"""Transport one incident particle through ``world`` (module docstring for the physics).

    Args:
        key: a PRNG key.
        world: :class:`Slabs` or :class:`Voxels`.
        particle: the incident :class:`Particle` (photon, electron or positron).
        cut_mev: production and tracking cut in MeV (traceable): bremsstrahlung
            photons below it are folded into the continuous loss, and any
            particle whose energy (kinetic for e±) falls below it deposits it where
            it is; a positron below it annihilates at rest (its two 511 keV photons
            are transported when above the cut, deposited otherwise).
        capacity: slots of the particle buffer (static).
        exit_capacity: rows of the store of exiting particles (default ``capacity``).
        step_fraction: the largest fractional continuous energy loss of an e± step
            (steps may always lose up to the cut).
        max_steps: bound on the loop's iterations (``truncated`` is set if reached).
        on_overflow: ``"flag"`` (set ``overflow``) or ``"error"`` (raise at run time,
            via ``equinox.error_if``, when a buffer was too small).

    Returns:
        a :class:`TransportResult`.

    ``jit``- and ``vmap``-able over keys, particles and the world's traced
    numbers (densities, thicknesses, voxel size, ``cut_mev``). Derivatives
    with respect to them are forward-mode (``jax.jvp``, ``jax.jacfwd``: reverse
    mode does not go through ``lax.while_loop``) and pathwise: the random
    numbers are held fixed, so they capture the continuous dependence (step
    lengths, continuous losses, scattering angles) and miss the discrete
    changes (a step that switches between ending on a boundary and in an
    interaction).
    """
    capacity, max_steps = check_options(
        world,
        particle,
        "particle",
        on_overflow=on_overflow,
        capacity=capacity,
        max_steps=max_steps,
        cut_mev=cut_mev,
        step_fraction=step_fraction,
    )
    exit_capacity = (
        capacity if exit_capacity is None else check_positive_int("exit_capacity", exit_capacity)
    )
    if jnp.shape(particle.pdg) != ():
        raise ValueError(
            "particle must be a single particle (pdg of shape ()); vmap over a batch of "
            f"particles, got pdg of shape {jnp.shape(particle.pdg)}"
        )
    cut = jnp.asarray(cut_mev, jnp.float32)
    res, on_or_in = _run(
        key, world, particle, cut, float(step_fraction), capacity, exit_capacity, max_steps
    )
    return check_values(res, world, particle, "particle", on_or_in, on_overflow)
