r"""Batched transport: many incident particles share one particle pool.

:func:`simulate` moves the particles of *one* event in lockstep; under
``jax.vmap`` every slot of every event's buffer is processed on every
iteration until the slowest event ends, so most of the work is on empty slots.
:func:`simulate_batch` runs the same physics (the steps of :mod:`._engine`'s
docstring, the same cross sections, samplers and cuts) on a pool that stays
full:

**Layout.** The pool is a stack of ``capacity`` slots stored as a struct of
arrays (``_FIELDS``: type, kinetic energy, position, direction, cell indices,
and the *event* index of the incident particle the slot descends from). Its
live particles are always the first ``n`` slots. The incident particles wait
in a queue (the input batch, in order; ``next`` is the first not yet started).

**One iteration** of the ``lax.while_loop``:

1. *Window*: the top ``w`` slots ``[start, start + w)``, ``start = max(n - w, 0)``.
   When fewer than ``w`` particles are live, the free rows of the window are
   refilled from the queue, so the window stays full until the queue is empty.
2. *Step*: one transport step for every row of the window (:func:`_step`), with
   all random numbers of the iteration drawn from one key
   (``fold_in(key, iteration)``, expanded by XLA's threefry bit generator).
3. *Write-back*: the window's survivors and their secondaries (at most one per
   row) are compacted (cumulative sum + gather, no scatter) and written back from
   ``start``; the secondaries lie on top and are processed next (depth first,
   which keeps the stack shallow). A secondary that does not fit
   (``n > capacity - width``) is lost and counted against its event
   (``overflow``).
4. *Bookkeeping*: deposits and counters are added per (event, cell) with one
   scatter-add; particles leaving the world are written into a per-event exit
   store of ``exit_capacity`` rows (ranked within their event by a sort of the
   window's event indices; one column scatter).

**Tail.** Once the queue is empty the pool drains. The window width is chosen
per iteration from ``(width, width // 8)`` (``lax.switch``: only the chosen
branch runs), so the work per iteration follows the number of live particles.

A particle's history depends only on its own random numbers, not on the
iteration that processes it, so the results have the same distribution as
``jax.vmap(simulate)``'s (the random streams differ; the tests compare the two
in distribution).

Cheaper than :func:`simulate`'s step, same distributions: three rotations per
row instead of eight (multiple scattering; the slot's own product; the
secondary, by rotation or by momentum conservation), azimuths as (cos, sin)
pairs (no ``arctan2``), rejection samplers without ``take_along_axis``, the
screening functions' logarithm computed once, and XLA's native threefry bit
generator (about twice as fast as ``jax.random.uniform`` on CPU).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import ArrayLike

from hepjax._core import check_positive_int

from . import _xsec
from ._engine import (
    N_TRIES,
    Exiting,
    TransportResult,
    _highland,
    _lookup,
    _start_cell,
    check_options,
    check_values,
)
from ._world import PDG_CODES, AbstractWorld, Particle

ME = _xsec.ME
NA = _xsec.NA
TWO_PI = 2.0 * math.pi

#: pool fields: (name, dtype); positions/directions/cells as one array per component
_FIELDS = (
    ("t", jnp.int32),
    ("e", jnp.float32),
    ("x", jnp.float32),
    ("y", jnp.float32),
    ("z", jnp.float32),
    ("ux", jnp.float32),
    ("uy", jnp.float32),
    ("uz", jnp.float32),
    ("cx", jnp.int32),
    ("cy", jnp.int32),
    ("cz", jnp.int32),
    ("ev", jnp.int32),
)
_NAMES = tuple(n for n, _ in _FIELDS)

# rows of the per-iteration uniform block (N_U, w)
_U_STEP, _U_PROC, _U_MS_R, _U_MS_PHI, _U_PHI, _U_POOL = range(6)
_N_POOL = 3 * N_TRIES + 4  # sampler tries, then pair swap and Urban's three numbers
_N_U = _U_POOL + _N_POOL
_TAIL_WIDTHS = True


# -- vector helpers (component arrays) ----------------------------------------------------


def _rotate(ux, uy, uz, cos_t, sin_t, cos_p, sin_p):
    """Rotate (sin_t cos_p, sin_t sin_p, cos_t) from the frame whose z is u to the lab."""
    vx, vy, vz = sin_t * cos_p, sin_t * sin_p, cos_t
    up2 = ux * ux + uy * uy
    ok = up2 > 1e-14
    inv_up = lax.rsqrt(jnp.where(ok, up2, 1.0))
    rx = (ux * uz * vx - uy * vy) * inv_up + ux * vz
    ry = (uy * uz * vx + ux * vy) * inv_up + uy * vz
    rz = -(up2 * inv_up) * vx + uz * vz
    sgn = jnp.where(uz >= 0, 1.0, -1.0)
    rx = jnp.where(ok, rx, sgn * vx)
    ry = jnp.where(ok, ry, vy)
    rz = jnp.where(ok, rz, sgn * vz)
    inv = lax.rsqrt(rx * rx + ry * ry + rz * rz)
    return rx * inv, ry * inv, rz * inv


def _normalize(x, y, z):
    inv = lax.rsqrt(jnp.maximum(x * x + y * y + z * z, 1e-40))
    return x * inv, y * inv, z * inv


def _first_accepted(values, accepted):
    """Per column, the first accepted of the ``N_TRIES`` rows (the last if none is)."""
    out = values[-1]
    for i in range(values.shape[0] - 2, -1, -1):
        out = jnp.where(accepted[i], values[i], out)
    return out


def _sin_from_cos(c):
    return jnp.sqrt(jnp.maximum(1.0 - c * c, 0.0))


# -- final-state samplers, tries along the leading axis (formulas as in ._engine) ---------


def _compton(e, r1, r2, r3):
    """Klein-Nishina scattered fraction eps and cos(theta) (Butcher & Messel)."""
    k = e / ME
    eps0 = 1.0 / (1.0 + 2.0 * k)
    a1 = -jnp.log(eps0)
    a2 = 0.5 * (1.0 - eps0 * eps0)
    first = a1 / (a1 + a2) > r1
    eps = jnp.where(first, jnp.exp(-a1 * r2), jnp.sqrt(eps0 * eps0 + (1.0 - eps0 * eps0) * r2))
    onecost = (1.0 - eps) / (eps * k)
    g = 1.0 - eps * onecost * (2.0 - onecost) / (1.0 + eps * eps)
    eps = _first_accepted(eps, g >= r3)
    cost = jnp.clip(1.0 - (1.0 - eps) / (eps * k), -1.0, 1.0)
    return eps, cost


def _pair(e, zeff, fcoul, r1, r2, r3, u_low):
    """Bethe-Heitler lepton energy fraction with screening (G4BetheHeitlerModel)."""
    eps0 = ME / e
    lz3 = jnp.log(zeff) / 3.0
    fz = 8.0 * lz3 + jnp.where(e > 50.0, 8.0 * fcoul, 0.0)
    screenfac = 136.0 * eps0 * jnp.exp(-lz3)
    screenmax = jnp.exp((42.24 - fz) / 8.368) - 0.952
    screenmin = jnp.minimum(4.0 * screenfac, screenmax)
    eps1 = 0.5 - 0.5 * jnp.sqrt(jnp.maximum(1.0 - screenmin / screenmax, 0.0))
    epsmin = jnp.maximum(eps0, eps1)
    rng = 0.5 - epsmin
    big = 42.24 - 8.368 * jnp.log(screenmin + 0.952)
    f10 = jnp.where(screenmin > 1.0, big, 42.392 - screenmin * (7.796 - 1.961 * screenmin)) - fz
    f20 = jnp.where(screenmin > 1.0, big, 41.405 - screenmin * (5.828 - 0.8945 * screenmin)) - fz
    n1 = jnp.maximum(f10 * rng * rng, 0.0)
    n2 = jnp.maximum(1.5 * f20, 0.0)
    first = n1 / jnp.maximum(n1 + n2, 1e-30) > r1
    cbrt = jnp.exp(jnp.log(r2) * (1.0 / 3.0))
    eps = jnp.where(first, 0.5 - rng * cbrt, epsmin + rng * r2)
    sv = screenfac / jnp.maximum(eps * (1.0 - eps), 1e-12)
    big = 42.24 - 8.368 * jnp.log(sv + 0.952)
    s1 = jnp.where(sv > 1.0, big, 42.392 - sv * (7.796 - 1.961 * sv))
    s2 = jnp.where(sv > 1.0, big, 41.405 - sv * (5.828 - 0.8945 * sv))
    g = jnp.where(
        first,
        (s1 - fz) / jnp.where(f10 > 0, f10, 1.0),
        (s2 - fz) / jnp.where(f20 > 0, f20, 1.0),
    )
    eps = _first_accepted(eps, g >= r3)
    return jnp.where(e < 2.0, eps0 + (0.5 - eps0) * u_low, eps)


def _annihilation(t, r1, r2):
    """Heitler's two-photon annihilation in flight: photon-1 fraction and cos(theta)."""
    tau = jnp.maximum(t, 1e-6) / ME
    gam = tau + 1.0
    tau2 = tau + 2.0
    sq = 0.5 * jnp.sqrt(tau / tau2)
    emin, emax = 0.5 - sq, 0.5 + sq
    eps = emin * jnp.exp(jnp.log(emax / emin) * r1)
    g = 1.0 - eps + (2.0 * gam * eps - 1.0) / (eps * tau2 * tau2)
    eps = _first_accepted(eps, g >= r2)
    cost = jnp.clip((eps * tau2 - 1.0) / (eps * jnp.sqrt(tau * tau2)), -1.0, 1.0)
    return eps, cost


# -- one step of a window of particles ----------------------------------------------------


def _uniforms(key, step, w):
    """The ``(_N_U, w)`` uniforms of one iteration, in (0, 1), from one key."""
    state = jax.random.bits(jax.random.fold_in(key, step), (4,), jnp.uint32)
    _, bits = lax.rng_bit_generator(
        state, (_N_U, w), jnp.uint32, algorithm=lax.RandomAlgorithm.RNG_THREE_FRY
    )
    u = lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0
    return jnp.clip(u, 1e-7, 1.0 - 1e-7)


def _step(p, live, u, *, grid, tables, cut, step_fraction):
    """One transport step for each row of a window (the steps of :mod:`._engine`).

    Args:
        p: the window's particles, ``{field: (w,)}`` (``_FIELDS``).
        live: ``(w,)`` which rows hold a particle.
        u: ``(_N_U, w)`` uniforms.

    Returns:
        ``(out, keep, child, has_child, leaving, tallies)``: the rows' own new state
        and which rows stay in the pool, the secondaries and which rows made one,
        which rows left the world (``out`` holds their exit state), and
        ``(dep_pre, flat, dep_post, new_flat, interacted, moved)`` for the tallies.
    """
    planes, cell_mat, cell_rho, dims = grid
    nx, ny, nz = dims
    t, e = p["t"], p["e"]
    pos = (p["x"], p["y"], p["z"])
    d = (p["ux"], p["uy"], p["uz"])
    c = (p["cx"], p["cy"], p["cz"])
    is_g, is_p = t == 0, t == 2
    charged = ~is_g

    flat = jnp.clip((c[0] * ny + c[1]) * nz + c[2], 0, nx * ny * nz - 1)
    m = cell_mat[flat]
    rho = cell_rho[flat]
    x0 = tables.x0[m]

    # 1. stopped particles
    stopped = live & (e < cut)
    at_rest = stopped & is_p
    moving = live & ~stopped

    # 2. step lengths
    row = _lookup(tables.table, m, e)
    mu_g = row[:, _xsec.COL_COMPTON] + row[:, _xsec.COL_PAIR] + row[:, _xsec.COL_PHOTO]
    s_ion = jnp.where(is_p, row[:, _xsec.COL_ION_P], row[:, _xsec.COL_ION_E])
    s_tot = s_ion + _xsec.brems_loss_below_cut(e, cut, x0)
    mu_brem = _xsec.brems_majorant(e, cut, x0)
    mu_ann = jnp.where(is_p, NA * tables.zoa[m] * _xsec.annihilation_per_electron(e), 0.0)
    mu = jnp.where(is_g, mu_g, mu_brem + mu_ann)
    sig = rho * mu
    s_int = jnp.where(sig > 0, -jnp.log(u[_U_STEP]) / jnp.where(sig > 0, sig, 1.0), jnp.inf)
    s_loss = jnp.where(charged, jnp.maximum(step_fraction * e, cut) / (rho * s_tot), jnp.inf)
    plane, dist = [], []
    for a in range(3):
        up = d[a] > 0
        pl = planes[a][jnp.clip(c[a] + up.astype(jnp.int32), 0, planes[a].shape[0] - 1)]
        nonzero = jnp.abs(d[a]) > 1e-12
        tt = (pl - pos[a]) / jnp.where(nonzero, d[a], 1.0)
        plane.append(pl)
        dist.append(jnp.where(nonzero, jnp.maximum(tt, 0.0), jnp.inf))
    s_geom = jnp.minimum(jnp.minimum(dist[0], dist[1]), dist[2])
    axis = jnp.where(dist[0] <= s_geom, 0, jnp.where(dist[1] <= s_geom, 1, 2))
    s = jnp.where(moving, jnp.minimum(jnp.minimum(s_int, s_geom), s_loss), 0.0)
    interacts = moving & (s_int <= s_geom) & (s_int <= s_loss)
    crosses = moving & ~interacts & (s_geom <= s_loss)

    # 3. move, continuous loss, multiple scattering
    new_pos, new_c = [], []
    for a in range(3):
        snap = crosses & (axis == a)
        new_pos.append(jnp.where(snap, plane[a], pos[a] + s * d[a]))
        new_c.append(jnp.where(snap, c[a] + jnp.where(d[a] > 0, 1, -1), c[a]))
    de1 = rho * s_tot * s
    t_mid = jnp.maximum(e - 0.5 * de1, 1e-3)
    row_mid = _lookup(tables.table, m, t_mid)
    s_mid = jnp.where(is_p, row_mid[:, _xsec.COL_ION_P], row_mid[:, _xsec.COL_ION_E])
    s_mid = s_mid + _xsec.brems_loss_below_cut(t_mid, cut, x0)
    dep_cont = jnp.where(moving & charged, jnp.minimum(rho * s_mid * s, e), 0.0)
    t_after = e - dep_cont
    # Gaussian plane angles (thx, thy) = theta0 r (cos a, sin a): polar angle theta0 r,
    # azimuth a, so no arctan2 is needed
    theta0 = _highland(t_mid, rho * s / x0)
    th = jnp.minimum(theta0 * jnp.sqrt(-2.0 * jnp.log(u[_U_MS_R])), math.pi)
    a_ms = TWO_PI * u[_U_MS_PHI]
    ms = _rotate(*d, jnp.cos(th), jnp.sin(th), jnp.cos(a_ms), jnp.sin(a_ms))
    scatter = moving & charged & (s > 0)
    nd = tuple(jnp.where(scatter, ms[a], d[a]) for a in range(3))

    # 4. interactions
    q = u[_U_POOL:]
    tries = (q[0:N_TRIES], q[N_TRIES : 2 * N_TRIES], q[2 * N_TRIES : 3 * N_TRIES])
    u_swap = q[3 * N_TRIES]
    u_urban = q[3 * N_TRIES + 1 :]
    phi = TWO_PI * u[_U_PHI]
    cos_phi, sin_phi = jnp.cos(phi), jnp.sin(phi)
    safe_mu_g = jnp.where(mu_g > 0, mu_g, 1.0)
    frac_c = row[:, _xsec.COL_COMPTON] / safe_mu_g
    frac_p = row[:, _xsec.COL_PAIR] / safe_mu_g
    u_proc = u[_U_PROC]
    g_compton = interacts & is_g & (u_proc < frac_c)
    g_pair = interacts & is_g & ~g_compton & (u_proc < frac_c + frac_p) & (e > 2 * ME)
    g_photo = interacts & is_g & ~g_compton & ~g_pair
    # Compton
    eps_c, cos_c = _compton(jnp.maximum(e, 1e-3), *tries)
    e_sc = eps_c * e
    # pair
    eps_p = _pair(jnp.maximum(e, 2.1 * ME), tables.zpair[m], tables.fcoul[m], *tries, tries[0][0])
    e_minus_tot = jnp.where(u_swap < 0.5, eps_p, 1.0 - eps_p) * e
    e_plus_tot = e - e_minus_tot
    # Urban's angle: one universal variable, scaled by m_e / E_total of each lepton
    t_u = -jnp.log(jnp.maximum(u_urban[0] * u_urban[1], 1e-30))
    urban = jnp.where(u_urban[2] < 9.0 / 36.0, t_u / 0.625, t_u / 1.875) * ME
    # bremsstrahlung (null collision against the majorant at the pre-step energy)
    log_after = jnp.log(jnp.maximum(t_after, cut) / cut)
    ratio = log_after / jnp.maximum(jnp.log(jnp.maximum(e, cut) / cut), 1e-20)
    k_b = cut * jnp.exp(tries[0][0] * log_after)
    y_b = k_b / (t_after + ME)
    acc_b = (1.0 - y_b + 0.75 * y_b * y_b) * ratio
    frac_brem = mu_brem / jnp.where(mu > 0, mu, 1.0)
    in_flight = interacts & is_p & (u_proc >= frac_brem) & (t_after >= cut)
    brems = interacts & charged & (u_proc < frac_brem) & (tries[0][1] < acc_b) & (t_after > cut)
    # annihilation in flight
    eps_a, cos_a = _annihilation(t_after, tries[0], tries[1])
    e_avail = t_after + 2 * ME
    k1 = eps_a * e_avail
    p_pos = jnp.sqrt(t_after * (t_after + 2 * ME))
    iso_c = 2.0 * tries[0][0] - 1.0

    # the slot's own product: one rotation of the (possibly scattered) direction
    th_m = jnp.minimum(urban / jnp.maximum(e_minus_tot, ME), math.pi)
    cos_o = jnp.where(g_compton, cos_c, jnp.where(in_flight, cos_a, iso_c))
    cos_o = jnp.where(g_pair, jnp.cos(th_m), cos_o)
    sin_o = jnp.where(g_pair, jnp.sin(th_m), _sin_from_cos(cos_o))
    turn = g_compton | g_pair | in_flight | at_rest
    od = _rotate(*nd, jnp.where(turn, cos_o, 1.0), jnp.where(turn, sin_o, 0.0), cos_phi, sin_phi)
    out_dir = tuple(jnp.where(turn, od[a], nd[a]) for a in range(3))
    out_t = jnp.where(g_pair | g_photo, 1, t)
    out_t = jnp.where(in_flight | at_rest, 0, out_t)
    out_e = t_after
    out_e = jnp.where(g_compton, e_sc, out_e)
    out_e = jnp.where(g_pair, jnp.maximum(e_minus_tot - ME, 0.0), out_e)
    out_e = jnp.where(brems, t_after - k_b, out_e)
    out_e = jnp.where(in_flight, k1, out_e)
    out_e = jnp.where(at_rest, ME, out_e)

    # the secondary: pair positron and bremsstrahlung photon by rotation (azimuth
    # phi + pi for the positron), the rest by momentum conservation a nd - b out_dir
    has_child = g_compton | g_pair | brems | in_flight | at_rest
    e_ch_tot = jnp.where(g_pair, e_plus_tot, t_after + ME)
    th_ch = jnp.minimum(urban / jnp.maximum(e_ch_tot, ME), math.pi)
    flip = jnp.where(g_pair, -1.0, 1.0)
    rd = _rotate(*nd, jnp.cos(th_ch), jnp.sin(th_ch), flip * cos_phi, flip * sin_phi)
    a_mom = jnp.where(g_compton, e, jnp.where(in_flight, p_pos, 0.0))
    b_mom = jnp.where(g_compton, e_sc, jnp.where(in_flight, k1, 1.0))
    md = _normalize(*(a_mom * nd[a] - b_mom * out_dir[a] for a in range(3)))
    by_rot = g_pair | brems
    ch_dir = tuple(jnp.where(by_rot, rd[a], md[a]) for a in range(3))
    ch_t = jnp.where(g_compton, 1, jnp.where(g_pair, 2, 0))
    ch_e = jnp.where(g_compton, e - e_sc, 0.0)
    ch_e = jnp.where(g_pair, jnp.maximum(e_plus_tot - ME, 0.0), ch_e)
    ch_e = jnp.where(brems, k_b, ch_e)
    ch_e = jnp.where(in_flight, e_avail - k1, ch_e)
    ch_e = jnp.where(at_rest, ME, ch_e)
    interacted = g_compton | g_pair | g_photo | brems | in_flight | at_rest

    # 5. leaving the world, cut
    dims_arr = (nx, ny, nz)
    outside = jnp.zeros_like(live)
    for a in range(3):
        outside = outside | (new_c[a] < 0) | (new_c[a] >= dims_arr[a])
    leaving = moving & outside
    keep = live & ~leaving & ~(stopped & ~is_p)
    below = keep & ~at_rest & (out_e < cut) & (out_t != 2)
    keep = keep & ~below
    child_below = has_child & (ch_e < cut) & (ch_t != 2)
    dep_pre = jnp.where(stopped, e, 0.0) + dep_cont
    dep_post = jnp.where(below, out_e, 0.0) + jnp.where(child_below, ch_e, 0.0)
    new_flat = jnp.clip((new_c[0] * ny + new_c[1]) * nz + new_c[2], 0, nx * ny * nz - 1)

    out = dict(p)
    out.update(t=out_t, e=out_e, x=new_pos[0], y=new_pos[1], z=new_pos[2])
    out.update(ux=out_dir[0], uy=out_dir[1], uz=out_dir[2])
    out.update(cx=new_c[0], cy=new_c[1], cz=new_c[2])
    child = dict(out)
    child.update(t=ch_t, e=ch_e, ux=ch_dir[0], uy=ch_dir[1], uz=ch_dir[2])
    tallies = (dep_pre, flat, dep_post, new_flat, interacted, moving)
    return out, keep, child, has_child & ~child_below, leaving, tallies


# -- the pool ----------------------------------------------------------------------------


def _pack(rows):
    """``{field: (k,)}`` -> ``(len(_FIELDS), k)`` float32 (integer fields bit-cast)."""
    return jnp.stack(
        [
            lax.bitcast_convert_type(rows[n], jnp.float32) if dt == jnp.int32 else rows[n]
            for n, dt in _FIELDS
        ]
    )


def _unpack(packed):
    """Inverse of :func:`_pack`."""
    return {
        n: lax.bitcast_convert_type(packed[i], jnp.int32) if dt == jnp.int32 else packed[i]
        for i, (n, dt) in enumerate(_FIELDS)
    }


def _take_columns(packed, idx):
    """``packed[:, idx]`` as one 1-D gather per row (XLA's CPU gather of ``(F, 1)``
    slices is far slower, and slower still inside a loop)."""
    return jnp.stack([row[idx] for row in packed])


def _compact(mask, packed):
    """Move the ``mask`` columns of ``packed`` ``(F, k)`` to the front, in order.

    The destination of column ``i`` is its rank among the ``mask`` columns (a
    cumulative sum); one small integer scatter inverts it into a source index,
    then one gather moves all fields at once.
    """
    k = mask.shape[0]
    rank = jnp.cumsum(mask.astype(jnp.int32))
    dest = jnp.where(mask, rank - 1, k)
    src = (
        jnp.zeros(k, jnp.int32)
        .at[dest]
        .set(jnp.arange(k, dtype=jnp.int32), mode="drop", unique_indices=True)
    )
    return _take_columns(packed, src), rank


def _iteration(state, w, *, key, queue, grid, tables, cut, step_fraction, limit, n_cells):
    """One pool iteration with a window of ``w`` rows (module docstring)."""
    pool, n, nxt, it, tally, ex_store, ex_count, first, last = state
    n_events = queue.shape[1]
    n_fields = pool.shape[0]
    start = jnp.maximum(n - w, 0)
    j = jnp.arange(w)
    win = lax.dynamic_slice(pool, (0, start), (n_fields, w))
    live = start + j < n
    # refill the free rows of the window from the queue (in order)
    qi = nxt + (j - n)
    take = (j >= n) & (qi < n_events)
    qc = jnp.clip(qi, 0, n_events - 1)
    win = jnp.where(take[None], _take_columns(queue[:n_fields], qc), win)
    live = live | (take & queue_ok(queue)[qc])
    n_fill = jnp.sum(take)
    seg = lax.dynamic_slice_in_dim(first, nxt, w)
    first = lax.dynamic_update_slice_in_dim(first, jnp.where(j < n_fill, it, seg), nxt, 0)
    nxt = nxt + n_fill

    p = _unpack(win)
    out, keep, child, has_child, leaving, tal = _step(
        p,
        live,
        _uniforms(key, it, w),
        grid=grid,
        tables=tables,
        cut=cut,
        step_fraction=step_fraction,
    )
    dep_pre, flat, dep_post, new_flat, interacted, moved = tal
    ev = jnp.clip(p["ev"], 0, n_events - 1)

    # write back: survivors, then secondaries on top; what passes the limit is lost
    cmask = jnp.concatenate([keep, has_child])
    rows, rank = _compact(cmask, jnp.concatenate([_pack(out), _pack(child)], 1))
    lost = cmask & (rank > limit - start)
    pool = lax.dynamic_update_slice(pool, rows, (0, start))
    n_new = jnp.minimum(start + rank[-1], limit)

    # exits: ranked within their event (a sort of the window's event indices), then
    # one column scatter into the (field, event * exit_capacity + row) store
    k_cap = ex_store.shape[1] // n_events
    vals = jnp.stack(
        [
            jnp.asarray(PDG_CODES, jnp.float32)[out["t"]],
            out["e"],
            out["x"],
            out["y"],
            out["z"],
            out["ux"],
            out["uy"],
            out["uz"],
        ]
    )
    keys, order = lax.sort((jnp.where(leaving, ev, n_events), j), num_keys=1, is_stable=True)
    run = jnp.concatenate([jnp.ones(1, bool), keys[1:] != keys[:-1]])
    rank = j - lax.cummax(jnp.where(run, j, 0))
    kc = jnp.clip(keys, 0, n_events - 1)
    row = ex_count[kc] + rank
    dest = jnp.where((keys < n_events) & (row < k_cap), kc * k_cap + row, n_events * k_cap)
    ex_store = ex_store.at[:, dest].set(
        _take_columns(vals, order), mode="drop", unique_indices=True
    )
    ex_count = ex_count.at[ev].add(leaving.astype(jnp.int32))

    # tallies, one scatter-add: deposits per (event, cell), interactions, particle
    # steps, lost particles
    stride = n_cells + 3
    base = ev * stride
    idx = jnp.concatenate(
        [
            base + flat,
            base + new_flat,
            base + n_cells,
            base + n_cells + 1,
            jnp.concatenate([base, base]) + n_cells + 2,
        ]
    )
    f32 = jnp.float32
    val = jnp.concatenate(
        [
            dep_pre,
            dep_post,
            interacted.astype(f32),
            moved.astype(f32),
            lost.astype(f32),
        ]
    )
    tally = tally.at[idx].add(val)
    last = last.at[jnp.where(live, ev, n_events)].max(it, mode="drop")
    return pool, n_new, nxt, it + 1, tally, ex_store, ex_count, first, last


def queue_ok(queue):
    """The ``ok`` row of the packed queue (the particle starts inside the world)."""
    return queue[len(_FIELDS)] > 0


def _queue(particles, grid_planes, dims):
    """The incident particles packed as pool columns plus an ``ok`` row, and ``on_or_in``."""
    pdg = jnp.asarray(particles.pdg)
    n = pdg.shape[0]
    t = jnp.where(pdg == 22, 0, jnp.where(pdg == 11, 1, 2)).astype(jnp.int32)
    pos = jnp.asarray(particles.position, jnp.float32)
    d = jnp.asarray(particles.direction, jnp.float32)
    d = d / jnp.linalg.norm(d, axis=-1, keepdims=True)
    start_cell = jax.vmap(_start_cell, (None, 0, 0))
    cell = jnp.stack([start_cell(p, pos[:, a], d[:, a]) for a, p in enumerate(grid_planes)], -1)
    dims_arr = jnp.asarray(dims)
    inside = jnp.all((cell >= 0) & (cell < dims_arr), -1)
    lo = jnp.stack([p[0] for p in grid_planes])
    hi = jnp.stack([p[-1] for p in grid_planes])
    tol = 1e-5 * (1.0 + jnp.abs(hi - lo))
    on_or_in = jnp.all((pos >= lo - tol) & (pos <= hi + tol), -1)
    pos = jnp.clip(pos, lo, hi)
    cell = jnp.clip(cell, 0, dims_arr - 1)
    rows = dict(
        t=t, e=jnp.asarray(particles.energy_mev, jnp.float32), ev=jnp.arange(n, dtype=jnp.int32)
    )
    rows.update(x=pos[:, 0], y=pos[:, 1], z=pos[:, 2], ux=d[:, 0], uy=d[:, 1], uz=d[:, 2])
    rows.update(cx=cell[:, 0], cy=cell[:, 1], cz=cell[:, 2])
    queue = jnp.concatenate([_pack(rows), inside.astype(jnp.float32)[None]])
    return queue, on_or_in


@eqx.filter_jit
def _run_batch(
    key, world, particles, cut, step_fraction, capacity, width, exit_capacity, max_steps
):
    px, py, pz, cell_mat, cell_rho = world.grid()
    dims = (px.shape[0] - 1, py.shape[0] - 1, pz.shape[0] - 1)
    n_cells = dims[0] * dims[1] * dims[2]
    queue, on_or_in = _queue(particles, (px, py, pz), dims)
    n_events = queue.shape[1]
    grid = ((px, py, pz), cell_mat, cell_rho, dims)

    # incident particles that start on the surface moving out leave at once (row 0)
    ok = queue_ok(queue)
    u = _unpack(queue[: len(_FIELDS)])
    rows0 = jnp.stack(
        [
            jnp.asarray(particles.pdg, jnp.float32),
            *(u[k] for k in ("e", "x", "y", "z", "ux", "uy", "uz")),
        ]
    )
    ex_store = jnp.zeros((8, n_events, exit_capacity), jnp.float32)
    ex_store = ex_store.at[:, :, 0].set(jnp.where(ok[None], 0.0, rows0))
    ex_store = ex_store.reshape(8, n_events * exit_capacity)
    big = jnp.iinfo(jnp.int32).max
    state = (
        jnp.zeros((len(_FIELDS), capacity), jnp.float32),
        jnp.int32(0),
        jnp.int32(0),
        jnp.int32(0),
        jnp.zeros(n_events * (n_cells + 3), jnp.float32),
        ex_store,
        (~ok).astype(jnp.int32),
        jnp.full(n_events + width, big, jnp.int32),
        jnp.full(n_events, -1, jnp.int32),
    )
    widths = (width, width // 8) if width >= 64 and _TAIL_WIDTHS else (width,)
    kw = dict(
        key=key,
        queue=queue,
        grid=grid,
        tables=world.tables,
        cut=cut,
        step_fraction=step_fraction,
        limit=capacity - width,
        n_cells=n_cells,
    )
    branches = [lambda s, w=w: _iteration(s, w, **kw) for w in widths]

    def cond(s):
        return ((s[1] > 0) | (s[2] < n_events)) & (s[3] < max_steps)

    def body(s):
        pending = s[1] + (n_events - s[2])
        level = sum((pending <= w).astype(jnp.int32) for w in widths[1:])
        return lax.switch(level, branches, s) if len(widths) > 1 else branches[0](s)

    state = lax.while_loop(cond, body, state)
    pool, n, nxt, it, tally, ex_store, ex_count, first, last = state

    tally = tally.reshape(n_events, n_cells + 3)
    ev_in_pool = lax.bitcast_convert_type(pool[_NAMES.index("ev")], jnp.int32)
    in_pool = jnp.where(jnp.arange(capacity) < n, ev_in_pool, n_events)
    stuck = jnp.zeros(n_events, bool).at[in_pool].set(True, mode="drop")
    truncated = stuck | (jnp.arange(n_events) >= nxt)
    rows = ex_store.reshape(8, n_events, exit_capacity)
    mask = jnp.arange(exit_capacity)[None, :] < ex_count[:, None]
    rows = jnp.where(mask[None], rows, 0.0)
    exiting = Exiting(
        pdg=rows[0].round().astype(jnp.int32),
        energy_mev=rows[1],
        position=jnp.moveaxis(rows[2:5], 0, -1),
        direction=jnp.moveaxis(rows[5:8], 0, -1),
        mask=mask,
    )
    res = TransportResult(
        deposit_mev=tally[:, :n_cells].reshape((n_events, *world.deposit_shape())),
        exiting=exiting,
        overflow=(tally[:, n_cells + 2] > 0) | (ex_count > exit_capacity),
        truncated=truncated,
        n_steps=jnp.maximum(last - first[:n_events] + 1, 0),
        n_interactions=tally[:, n_cells].round().astype(jnp.int32),
        n_particle_steps=tally[:, n_cells + 1].round().astype(jnp.int32),
    )
    return res, on_or_in, it


def simulate_batch(
    key: ArrayLike,
    world: AbstractWorld,
    particles: Particle,
    *,
    cut_mev: float | ArrayLike = 1.0,
    capacity: int = 8192,
    width: int | None = None,
    exit_capacity: int = 64,
    step_fraction: float = 0.2,
    max_steps: int = 10_000_000,
    on_overflow: str = "flag",
) -> TransportResult:
    r"""Transport a batch of incident particles through ``world`` in one shared pool.

    The same physics as :func:`simulate` (its docstring and :mod:`._engine`'s), run
    on a particle pool that stays full (this module's docstring): much faster
    than ``jax.vmap(simulate)`` when the events are small or differ in size.
    The random streams differ from :func:`simulate`'s, so results agree in
    distribution, not number by number.

    Args:
        key: a PRNG key (one for the whole batch).
        world: :class:`Slabs` or :class:`Voxels`.
        particles: a :class:`Particle` whose fields have a leading batch axis
            ``(N,)`` (:meth:`Particle.broadcast` makes ``N`` copies of one particle).
        cut_mev: production and tracking cut in MeV (traceable), as in :func:`simulate`.
        capacity: slots of the shared pool (static); at most ``capacity - width``
            particles wait at once (a secondary that does not fit sets its
            event's ``overflow``).
        width: rows advanced per iteration (static; default
            ``min(1024, capacity // 2)``; at most ``capacity // 2``).
        exit_capacity: rows of each event's store of exiting particles.
        step_fraction: the largest fractional continuous loss of an e± step.
        max_steps: bound on the pool's iterations (the events with particles left
            are ``truncated``).
        on_overflow: ``"flag"`` or ``"error"`` (raise at run time when any event
            overflowed).

    Returns:
        a :class:`TransportResult` whose fields have a leading axis ``N``, one row
        per incident particle: ``deposit_mev`` ``(N, L)`` or ``(N, nx, ny, nz)``,
        ``exiting`` with fields ``(N, exit_capacity, ...)``, ``overflow``,
        ``truncated``, ``n_interactions``, ``n_particle_steps`` ``(N,)``;
        ``n_steps`` counts the pool iterations from the event's first to its
        last processed particle.
    """
    capacity, max_steps = check_options(
        world,
        particles,
        "particles",
        on_overflow=on_overflow,
        capacity=capacity,
        max_steps=max_steps,
        cut_mev=cut_mev,
        step_fraction=step_fraction,
    )
    if jnp.ndim(particles.pdg) != 1:
        raise ValueError(
            "particles must have a leading batch axis (pdg of shape (N,)); use "
            f"Particle.broadcast(n) for copies of one particle, got pdg of shape "
            f"{jnp.shape(particles.pdg)}"
        )
    n = jnp.shape(particles.pdg)[0]
    shapes = {
        "energy_mev": (jnp.shape(particles.energy_mev), (n,)),
        "position": (jnp.shape(particles.position), (n, 3)),
        "direction": (jnp.shape(particles.direction), (n, 3)),
    }
    for name, (got, want) in shapes.items():
        if got != want:
            raise ValueError(f"particles.{name} must have shape {want}, got {got}")
    if n == 0:
        raise ValueError("particles must hold at least one particle")
    width = min(1024, capacity // 2) if width is None else check_positive_int("width", width)
    if capacity < 2 * width or width < 1:
        raise ValueError(
            f"capacity must be at least 2 * width (capacity={capacity}, width={width})"
        )
    exit_capacity = check_positive_int("exit_capacity", exit_capacity)
    cut = jnp.asarray(cut_mev, jnp.float32)
    res, on_or_in, _ = _run_batch(
        key,
        world,
        particles,
        cut,
        float(step_fraction),
        capacity,
        width,
        exit_capacity,
        max_steps,
    )
    return check_values(res, world, particles, "particles", on_or_in, on_overflow)
