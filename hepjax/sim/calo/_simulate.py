r"""Particles to cell energies: tracking in the field, showers, dead material, read-out.

:func:`simulate_particles` turns the particles of one event (PDG code, energy,
direction at the vertex) into the energy of every cell, as COCOA's Geant4
simulation does (arXiv:2303.02101), with parametrised showers in place of
Geant4's:

1. **Field.** A charged particle of transverse momentum $p_T$ follows a helix of
   radius $R = p_T/(0.3 B)$ (m, GeV, T) in the solenoid ($\rho < r_B$,
   $|z| < z_B$) and a straight line beyond. It leaves the field cylinder at
   azimuth $\phi_0 - q\,\arcsin(0.3 B r_B/2p_T)$ (charge sign $q$, $B$ along
   $+z$) with its direction turned by twice that angle; one with
   $p_T < 0.3 B r_B/2$ and too little $p_z$ to reach the end of the field
   curls up and never arrives (it is skipped and counted).
2. **Path.** Along the straight line the particle crosses the passive material
   in front of the calorimeter (:attr:`CaloGeometry.front`, thickness divided by
   $\sin\theta$ in the barrel and by $|\cos\theta|$ in the endcaps), then every
   layer and every gap (empty, or a dead material such as COCOA's 80 mm of iron)
   between the nested boxes $\{\rho < r, |z| < z\}$ of the layers' faces. Depths
   in $X_0$ and in $\lambda_\text{int}$ accumulate segment by segment; a depth
   maps back to a point on the line by inverting these piecewise-linear sums.
3. **Showers** (spots of energy at a depth, a radius and an azimuth around the
   axis): electrons, positrons and photons by GFlash (:mod:`._gflash`; photons
   convert first), $\pi^0 \to \gamma\gamma$ (isotropic decay in the rest frame,
   two showers), hadrons by :mod:`._hadronic` (minimum ionisation up to an
   exponentially distributed first interaction, then an electromagnetic and a
   non-compensated hadronic part), muons by their mean ionisation loss in
   every segment (:meth:`Medium.dedx`, Bragg additivity of the Bethe
   equation; radiative losses are neglected), neutrinos not at all. The energy
   of spots in dead material, behind the last layer, or outside the acceptance is
   lost. The passive iron in front (2.7 $X_0$ at $\eta = 0$, up to 6 $X_0$ at
   the barrel's end and 5.5 in the endcaps) is why a 20 GeV $\pi^0$ measures
   only about 0.8 of its energy in COCOA; hadrons lose in addition the
   invisible part of their hadronic showers.
4. **Read-out** (:func:`~hepjax.sim.calo.deposit_energy`): spots summed into
   cells by index, COCOA's sampling emulation and per-layer noise. COCOA keeps
   each Geant4 deposit with probability $f$; a spot here stands for
   $m = E_\text{spot}/\epsilon$ such deposits ($\epsilon$ = ``quantum``, the
   effective energy of one Geant4 step in the mixture), of which a
   Binomial$(m, f)$ number is kept, so the sampling term of the resolution is
   $\sqrt{(1-f)\epsilon/(fE)}$ whatever the number of spots. An electron
   loses about 6 MeV/cm in the Pb/LAr mixture and Geant4 steps are a
   millimetre or less near the end of its range, so $\epsilon$ is of order
   0.5–1 MeV; $\epsilon$ = 0.7 MeV, an ECAL sampling term of
   $9.6\%/\sqrt{E}$, was chosen in that range so that the calorimeter's
   stochastic term (sampling, shower fluctuations, clustering) lies inside the
   8–15%/$\sqrt{E}$ of Pb/LAr sampling calorimeters (the example at ``small``
   scale: 11.8 ± 1.2%; 1 MeV gave 14.0 ± 1.2%). The hadronic part of hadron showers
   deposits through slow protons and nuclear fragments that stop in a few
   steps: $\epsilon_h$ = ``hadronic_quantum`` = 5 MeV (an estimate).

Every particle has the same number of spots (``spots`` for its shower(s), one
per path segment for its track, one for the energy that escapes), so the
event is one ``jax.vmap`` over particles and one scatter-add over cells. The
known particles are those of :data:`PARTICLES`; other codes are errors.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from ..._core import check_choice, check_positive_int, concrete_value
from ._cells import CellEnergies, deposit_energy
from ._geometry import CaloGeometry
from ._gflash import GFlash, em_radial_parameters, sample_em_profile
from ._hadronic import (
    HadronicShower,
    hadronic_longitudinal_parameters,
    sample_em_fraction,
    sample_invisible_fraction,
)
from ._media import BIG, Medium, medium, medium_of

__all__ = [
    "PARTICLES",
    "ShowerSpots",
    "exit_field",
    "shower_spots",
    "simulate_particles",
]

# particle kinds
NONE, EM, PI0, MUON, MESON, BARYON, ANTIBARYON = range(7)
#: spot codes in ``ShowerSpots.layer`` besides a layer index
DEAD, LEAKED, OUTSIDE, UNUSED = -1, -2, -3, -4

#: The known particles: PDG code -> (mass in GeV, charge in e, kind). Kinds: ``0``
#: neutrino (no deposit), ``1`` e±/γ (EM shower), ``2`` π⁰ (→ γγ), ``3`` μ± (ionisation
#: only), ``4`` meson (π±, K±, K⁰_L, K⁰_S), ``5`` baryon (kinetic energy
#: deposited), ``6`` antibaryon (kinetic energy plus two masses: annihilation).
PARTICLES: dict[int, tuple[float, float, int]] = {}
for _code, _mass, _charge, _kind in (
    (22, 0.0, 0, EM),
    (11, 0.000511, -1, EM),
    (13, 0.105658, -1, MUON),
    (12, 0.0, 0, NONE),
    (14, 0.0, 0, NONE),
    (16, 0.0, 0, NONE),
    (111, 0.134977, 0, PI0),
    (211, 0.139570, 1, MESON),
    (321, 0.493677, 1, MESON),
    (130, 0.497611, 0, MESON),
    (310, 0.497611, 0, MESON),
    (2212, 0.938272, 1, BARYON),
    (2112, 0.939565, 0, BARYON),
    (3122, 1.115683, 0, BARYON),
    (3222, 1.189370, 1, BARYON),
    (3112, 1.197449, -1, BARYON),
    (3312, 1.321710, -1, BARYON),
    (3322, 1.314860, 0, BARYON),
    (3334, 1.672450, -1, BARYON),
):
    PARTICLES[_code] = (_mass, float(_charge), _kind)
    if _code not in (22, 111, 130, 310):
        anti = ANTIBARYON if _kind == BARYON else _kind
        PARTICLES[-_code] = (_mass, -float(_charge), anti)
del _code, _mass, _charge, _kind

_CODES = np.array(sorted(PARTICLES), np.int32)
_TABLE = np.array([PARTICLES[c] for c in _CODES], np.float32)  # (n, 3): mass, charge, kind


class ShowerSpots(eqx.Module):
    """The energy spots of the particles of one event, before sampling and noise.

    Shapes ``(P, S)`` with ``S = spots + n_segments + 1`` per particle: the
    shower spots, one track spot per path segment, one escape spot.

    Attributes:
        layer: layer index of each spot, or ``DEAD`` (-1: passive material),
            ``LEAKED`` (-2: behind the last layer, or escaping: muons,
            punch-through), ``OUTSIDE`` (-3: beyond the acceptance), ``UNUSED`` (-4).
        hadronic: spots of the hadronic (non-electromagnetic) part of a shower.
        eta, phi: the spot's direction from the origin.
        energy: the energy the spot carries, GeV.
        visible: the energy the layer sees, GeV: ``energy`` times $h/e$ for
            hadronic spots, 0 unless in a layer.
        available: ``(P,)`` energy a particle can deposit (GeV): $E$ for leptons,
            photons and mesons, $E - m$ for baryons, $E + m$ for antibaryons,
            0 for skipped particles.
        accepted: ``(P,)`` simulated (valid, inside the acceptance, reached the
            calorimeter).
        arrived: ``(P,)`` reached the calorimeter (not curled up in the field).
        eta_calo, phi_calo: ``(P,)`` where the particle's axis enters the first layer.
        em_fraction: ``(P,)`` $f_\\text{em}$ of a hadron's shower (1 for e/γ/π⁰).
        first_interaction: ``(P,)`` depth of a hadron's first interaction in
            $\\lambda_\\text{int}$ along its path (inf otherwise).
    """

    layer: Int[Array, "p s"]
    hadronic: Bool[Array, "p s"]
    eta: Float[Array, "p s"]
    phi: Float[Array, "p s"]
    energy: Float[Array, "p s"]
    visible: Float[Array, "p s"]
    available: Float[Array, " p"]
    accepted: Bool[Array, " p"]
    arrived: Bool[Array, " p"]
    eta_calo: Float[Array, " p"]
    phi_calo: Float[Array, " p"]
    em_fraction: Float[Array, " p"]
    first_interaction: Float[Array, " p"]

    def summary(self) -> dict[str, Array]:
        """Per particle ``(P,)``: visible, invisible, dead, leaked, outside energies (GeV).

        ``visible + invisible + dead + leaked + outside == available``.
        """
        e, lay = self.energy, self.layer
        return {
            "visible": jnp.sum(self.visible, -1),
            "invisible": jnp.sum(jnp.where(lay >= 0, e - self.visible, 0.0), -1),
            "dead": jnp.sum(jnp.where(lay == DEAD, e, 0.0), -1),
            "leaked": jnp.sum(jnp.where(lay == LEAKED, e, 0.0), -1),
            "outside": jnp.sum(jnp.where(lay == OUTSIDE, e, 0.0), -1),
        }


# -- the static description of the path segments ------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _Segments:
    """Per path segment (front materials, then gap and layer for every layer): constants."""

    n_front: int
    media: tuple[Medium, ...]
    layer_of: np.ndarray  # (K,) layer index or DEAD
    hadronic_layer: np.ndarray  # (K,) True for (the gap in front of) a hadronic layer
    x0: np.ndarray
    lam: np.ndarray
    moliere: np.ndarray
    z_eff: np.ndarray
    critical_energy: np.ndarray
    shower_medium: np.ndarray  # (K,) the segment whose Z and E_c a shower starting here uses
    front_barrel: np.ndarray
    front_endcap: np.ndarray


@functools.lru_cache(maxsize=16)
def _segments(geo: CaloGeometry) -> _Segments:
    media: list[Medium] = []
    layer_of: list[int] = []
    hadronic: list[bool] = []
    for name, _, _ in geo.front:
        media.append(medium_of(name))
        layer_of.append(DEAD)
        hadronic.append(False)
    for i, layer in enumerate(geo.layers):
        media.append(medium_of(layer.gap_material))
        layer_of.append(DEAD)
        hadronic.append(not layer.electromagnetic)
        media.append(medium(tuple(layer.materials), tuple(layer.volume_ratio)))
        layer_of.append(i)
        hadronic.append(not layer.electromagnetic)
    k = len(media)
    # a shower uses the Z and E_c of the medium it starts in (vacuum: the next medium)
    shower = np.zeros(k, np.int32)
    nxt = k - 1
    for j in range(k - 1, -1, -1):
        if not media[j].is_vacuum:
            nxt = j
        shower[j] = nxt
    f32 = lambda v: np.asarray(v, np.float32)
    return _Segments(
        n_front=len(geo.front),
        media=tuple(media),
        layer_of=np.asarray(layer_of, np.int32),
        hadronic_layer=np.asarray(hadronic, bool),
        x0=f32([m.x0 for m in media]),
        lam=f32([m.lam for m in media]),
        moliere=f32([m.moliere for m in media]),
        z_eff=f32([m.z_eff for m in media]),
        critical_energy=f32([m.critical_energy for m in media]),
        shower_medium=shower,
        front_barrel=f32([b for _, b, _ in geo.front]),
        front_endcap=f32([e for _, _, e in geo.front]),
    )


# -- field and path ------------------------------------------------------------------------


def _direction(eta, phi):
    c = 1.0 / jnp.cosh(eta)
    return jnp.stack([c * jnp.cos(phi), c * jnp.sin(phi), jnp.tanh(eta)])


def exit_field(
    geo: CaloGeometry,
    charge: Float[ArrayLike, ""],
    pt: Float[ArrayLike, ""],
    eta: Float[ArrayLike, ""],
    phi: Float[ArrayLike, ""],
) -> tuple[Float[Array, " 3"], Float[Array, " 3"], Bool[Array, ""]]:
    """Where and in which direction a particle from the origin leaves the field.

    Returns ``(point, direction, arrived)``: the exit point (mm) on the field
    cylinder $\\rho = r_B$ or on its end plane $|z| = z_B$, the unit direction
    there, and whether it gets out at all (module docstring, step 1). A
    neutral particle (or $B = 0$) leaves from the origin unbent. The azimuth
    of the exit point on the cylinder is $\\phi_0 - q\\arcsin(0.3 B r_B/2p_T)$
    ($r_B$ in m, $p_T$ in GeV).

    Args:
        geo: the detector (its field $B$, T, and field volume $r_B$, $z_B$, mm).
        charge: the particle's charge in units of $e$ (0 for a neutral one).
        pt: its transverse momentum, GeV.
        eta, phi: its direction at the origin.
    """
    charge = jnp.asarray(charge, jnp.float32)
    pt = jnp.asarray(pt, jnp.float32)
    eta = jnp.asarray(eta, jnp.float32)
    phi = jnp.asarray(phi, jnp.float32)
    bent = (charge != 0) & (geo.field != 0)
    qs = jnp.sign(charge) * math.copysign(1.0, geo.field)
    radius = jnp.maximum(pt, 1e-9) / (0.3 * abs(geo.field) + 1e-30) * 1000.0  # mm
    x = geo.field_radius / (2.0 * radius)
    a_cyl = jnp.where(x <= 1.0, 2.0 * jnp.arcsin(jnp.minimum(x, 1.0)), jnp.inf)
    sh = jnp.abs(jnp.sinh(eta))
    a_z = jnp.where(sh > 0, geo.field_half_length / (radius * jnp.maximum(sh, 1e-30)), jnp.inf)
    turn = jnp.minimum(a_cyl, a_z)
    arrived = jnp.isfinite(turn) | ~bent
    turn = jnp.where(bent & arrived, turn, 0.0)
    phi_pos = phi - qs * turn / 2
    chord = 2.0 * radius * jnp.sin(turn / 2)
    z = radius * turn * jnp.sinh(eta)
    point = jnp.stack([chord * jnp.cos(phi_pos), chord * jnp.sin(phi_pos), z])
    point = jnp.where(bent, point, 0.0)
    return point, _direction(eta, phi - qs * turn), arrived


def _box_exit(p0, u, r, z):
    """Distance along ``u`` from ``p0`` (inside) to the surface of {rho < r, |z| < z}."""
    a = u[0] ** 2 + u[1] ** 2
    b = p0[0] * u[0] + p0[1] * u[1]
    c = p0[0] ** 2 + p0[1] ** 2 - r**2
    root = jnp.sqrt(jnp.maximum(b * b - a * c, 0.0))
    s_cyl = jnp.where(a > 1e-12, (-b + root) / jnp.maximum(a, 1e-12), BIG)
    s_pl = jnp.where(
        jnp.abs(u[2]) > 1e-12, (jnp.sign(u[2]) * z - p0[2]) / jnp.where(u[2] == 0, 1.0, u[2]), BIG
    )
    return jnp.maximum(jnp.minimum(s_cyl, s_pl), 0.0), s_cyl, s_pl


class _Path(eqx.Module):
    c: Float[Array, " k1"]  # start of every segment along the axis (mm), and the end
    ell: Float[Array, " k"]  # length of every segment (mm)
    dx: Float[Array, " k1"]  # cumulative depth in X0
    dl: Float[Array, " k1"]  # cumulative depth in lambda_int
    face: Float[Array, ""]  # distance to the first layer


def _path(geo: CaloGeometry, seg: _Segments, p0, u) -> _Path:
    r_in, r_out = geo.r_inner, geo.r_outer
    z_in, z_out = geo.z_inner, geo.z_outer
    s0, s_cyl0, s_pl0 = _box_exit(p0, u, geo.inner_radius, geo.z_endcap)
    s_in = jnp.stack([_box_exit(p0, u, r_in[i], z_in[i])[0] for i in range(geo.n_layers)])
    s_out = jnp.stack([_box_exit(p0, u, r_out[i], z_out[i])[0] for i in range(geo.n_layers)])
    barrel = s_cyl0 <= s_pl0
    sin_t = jnp.sqrt(u[0] ** 2 + u[1] ** 2)
    front = jnp.where(
        barrel,
        jnp.asarray(seg.front_barrel) / jnp.maximum(sin_t, 1e-3),
        jnp.asarray(seg.front_endcap) / jnp.maximum(jnp.abs(u[2]), 1e-3),
    )
    prev = jnp.concatenate([s0[None], s_out[:-1]])
    gap = jnp.maximum(s_in - prev, 0.0)
    lay = jnp.maximum(s_out - s_in, 0.0)
    ell = jnp.concatenate([front, jnp.stack([gap, lay], axis=1).reshape(-1)])
    c = s0 - jnp.sum(front) + jnp.concatenate([jnp.zeros(1), jnp.cumsum(ell)])
    dx = jnp.concatenate([jnp.zeros(1), jnp.cumsum(ell / jnp.asarray(seg.x0))])
    dl = jnp.concatenate([jnp.zeros(1), jnp.cumsum(ell / jnp.asarray(seg.lam))])
    return _Path(c, ell, dx, dl, s_in[0])


def _segment_of(depths, t):
    k = depths.shape[0] - 1
    return jnp.clip(jnp.searchsorted(depths, t, side="right") - 1, 0, k - 1)


def _along(path: _Path, depths, unit, t):
    """Segment and distance along the axis of cumulative depth ``t`` (in ``unit`` lengths)."""
    k = _segment_of(depths, t)
    s = path.c[k] + jnp.clip((t - depths[k]) * unit[k], 0.0, path.ell[k])
    return k, s, t >= depths[-1]


def _eta_phi(p0, u, s, r, psi):
    """Direction from the origin of the point at ``s`` along the axis, ``r`` off it at ``psi``."""
    phu = jnp.arctan2(u[1], u[0])
    e1 = jnp.stack([-jnp.sin(phu), jnp.cos(phu), jnp.zeros(())])
    e2 = jnp.cross(u, e1)
    lat = jnp.cos(psi)[:, None] * e1 + jnp.sin(psi)[:, None] * e2
    p = p0 + s[:, None] * u + r[:, None] * lat
    rho = jnp.maximum(jnp.hypot(p[:, 0], p[:, 1]), 1e-6)
    return jnp.arcsinh(p[:, 2] / rho), jnp.arctan2(p[:, 1], p[:, 0])


# -- one particle -------------------------------------------------------------------------


def _pi0_photons(key, energy, mass, eta, phi):
    """The two photons of an isotropic pi0 -> gamma gamma decay: energies and directions."""
    k1, k2 = jax.random.split(key)
    cos_s = jax.random.uniform(k1, minval=-1.0, maxval=1.0)
    psi = jax.random.uniform(k2, maxval=2 * math.pi)
    sin_s = jnp.sqrt(jnp.maximum(1 - cos_s**2, 0.0))
    n = _direction(eta, phi)
    e1 = jnp.stack([-jnp.sin(phi), jnp.cos(phi), jnp.zeros(())])
    e2 = jnp.cross(n, e1)
    half = mass / 2
    gamma = energy / mass
    bg = jnp.sqrt(jnp.maximum(gamma**2 - 1.0, 0.0))
    par = half * cos_s
    perp = half * sin_s * (jnp.cos(psi) * e1 + jnp.sin(psi) * e2)
    en1 = gamma * half + bg * par
    p1 = (gamma * par + bg * half) * n + perp
    p2 = (-gamma * par + bg * half) * n - perp

    def eta_phi(p):
        pt = jnp.maximum(jnp.hypot(p[0], p[1]), 1e-12)
        return jnp.arcsinh(p[2] / pt), jnp.arctan2(p[1], p[0])

    return (en1, *eta_phi(p1)), (energy - en1, *eta_phi(p2))


def _particle(
    key,
    mass,
    charge,
    kind,
    energy,
    eta,
    phi,
    valid,
    *,
    geo: CaloGeometry,
    seg: _Segments,
    em: GFlash,
    had: HadronicShower,
    n_spots: int,
):
    k_int, k_fem, k_h, k_pi0, k_conv, k_prof, k_spot_a, k_spot_b, k_had = jax.random.split(key, 9)
    n_half = n_spots // 2
    kk = seg.x0.shape[0]
    is_em, is_pi0, is_mu = kind == EM, kind == PI0, kind == MUON
    is_had = (kind == MESON) | (kind == BARYON) | (kind == ANTIBARYON)
    baryon = (kind == BARYON) | (kind == ANTIBARYON)
    e_safe = jnp.where(valid, energy, 1.0)
    m_safe = jnp.where(valid, mass, 0.0)
    p = jnp.sqrt(jnp.maximum(e_safe**2 - m_safe**2, 0.0))
    available = jnp.where(
        kind == BARYON, e_safe - m_safe, jnp.where(kind == ANTIBARYON, e_safe + m_safe, e_safe)
    )
    available = jnp.where(valid & (kind != NONE), jnp.maximum(available, 0.0), 0.0)

    # the particle's own axis (bent in the field)
    p0, u, arrived = exit_field(geo, charge, p / jnp.cosh(eta), eta, phi)
    # pi0 photons: axes from the origin
    (g1e, g1eta, g1phi), (g2e, g2eta, g2phi) = _pi0_photons(
        k_pi0, e_safe, jnp.maximum(m_safe, 1e-3), eta, phi
    )
    zero3 = jnp.zeros(3)
    ua, ub = _direction(g1eta, g1phi), _direction(g2eta, g2phi)
    axis_a = (jnp.where(is_pi0, zero3, p0), jnp.where(is_pi0, ua, u))
    axis_b = (jnp.where(is_pi0, zero3, p0), jnp.where(is_pi0, ub, u))
    # the three axes' paths in one vmap (one traced copy of the path computation)
    paths = jax.vmap(lambda a, b: _path(geo, seg, a, b))(
        jnp.stack([p0, axis_a[0], axis_b[0]]), jnp.stack([u, axis_a[1], axis_b[1]])
    )
    path, path_a, path_b = (jax.tree.map(lambda x, i=i: x[i], paths) for i in range(3))

    # hadrons: the first interaction (depth in lambda_int along the path)
    lam_factor = jnp.where(baryon, 1.0, had.meson_length)
    d_int = jnp.where(is_had, jax.random.exponential(k_int) * lam_factor, jnp.inf)
    d_int_safe = jnp.minimum(d_int, path.dl[-1])
    k_i, s_int, punch = _along(path, path.dl, jnp.asarray(seg.lam), d_int_safe)
    punch = punch | ~jnp.isfinite(d_int)
    x_int = path.dx[k_i] + (s_int - path.c[k_i]) / jnp.asarray(seg.x0)[k_i]

    # the track: ionisation in every segment up to the interaction (hadrons) or all (muons)
    charged = (charge != 0) & (is_mu | is_had)
    s_stop = jnp.where(is_mu | punch, jnp.inf, s_int)
    l_eff = jnp.clip(s_stop - path.c[:-1], 0.0, path.ell)
    unique = list(dict.fromkeys(seg.media))
    per_medium = [m.dedx(p, jnp.maximum(m_safe, 1e-3)) for m in unique]
    dedx = jnp.stack([per_medium[unique.index(m)] for m in seg.media])
    d_track = jnp.where(charged, dedx * l_eff, 0.0)
    cum = jnp.cumsum(d_track)
    d_track = jnp.clip(jnp.minimum(cum, available) - (cum - d_track), 0.0)
    remaining = available - jnp.sum(d_track)
    track_s = path.c[:-1] + l_eff / 2
    track_eta, track_phi = _eta_phi(p0, u, track_s, jnp.zeros(kk), jnp.zeros(kk))
    track_layer = jnp.where(d_track > 0, jnp.asarray(seg.layer_of), UNUSED)

    # the two shower halves
    f_em = jnp.where(is_had, sample_em_fraction(k_fem, had, remaining, baryon), 1.0)
    shower = is_em | is_pi0 | (is_had & ~punch)
    e_a = jnp.where(is_pi0, g1e, jnp.where(is_had, f_em * remaining, remaining / 2))
    e_b = jnp.where(is_pi0, g2e, jnp.where(is_had, (1 - f_em) * remaining, remaining / 2))
    e_a, e_b = jnp.where(shower, e_a, 0.0), jnp.where(shower, e_b, 0.0)
    prof_e_a = jnp.where(is_em, remaining, e_a)  # a single e/gamma shower is split in halves
    prof_e_b = jnp.where(is_em, remaining, e_b)
    kc1, kc2 = jax.random.split(k_conv)
    conv1 = jnp.maximum(jax.random.exponential(kc1) * em.conversion_length - em.pair_offset, 0.0)
    conv2 = jnp.maximum(jax.random.exponential(kc2) * em.conversion_length - em.pair_offset, 0.0)
    photon = is_pi0 | (is_em & (charge == 0))
    start_a = jnp.where(is_had, x_int, jnp.where(photon, conv1, 0.0))
    start_b = jnp.where(is_pi0, conv2, start_a)
    # e/gamma: both halves are one shower (the same profile key); pi0: two showers
    kp1, kp2 = jax.random.split(k_prof)
    kp_b = jax.random.wrap_key_data(
        jnp.where(is_pi0, jax.random.key_data(kp2), jax.random.key_data(kp1))
    )

    def em_half(k_prof_h, k_spots, prof_energy, half_energy, start, path_h):
        km = jnp.asarray(seg.shower_medium)[_segment_of(path_h.dx, start)]
        z_eff = jnp.asarray(seg.z_eff)[km]
        ec = jnp.asarray(seg.critical_energy)[km]
        t_max, alpha, beta = sample_em_profile(k_prof_h, em, prof_energy, z_eff, ec)
        kt, kc, kr, kpsi = jax.random.split(k_spots, 4)
        t = start + jax.random.gamma(kt, alpha, (n_half,), jnp.float32) / beta
        r_core, r_tail, pc = em_radial_parameters(em, prof_energy, z_eff, (t - start) / t_max)
        core = jax.random.uniform(kc, (n_half,)) < pc
        v = jax.random.uniform(kr, (n_half,), maxval=em.max_radius_quantile)
        r = jnp.where(core, r_core, r_tail) * jnp.sqrt(v / (1.0 - v))
        psi = jax.random.uniform(kpsi, (n_half,), maxval=2 * math.pi)
        k, s, leaked = _along(path_h, path_h.dx, jnp.asarray(seg.x0), t)
        r_mm = r * jnp.asarray(seg.moliere)[k]
        e_spot = jnp.full((n_half,), half_energy / n_half)
        return k, s, leaked, r_mm, psi, e_spot, jnp.ones(n_half)

    def had_half(k_h_spots, half_energy, start_l):
        alpha, beta = hadronic_longitudinal_parameters(had, remaining)
        kt, kr, kpsi = jax.random.split(k_h_spots, 3)
        t = start_l + jax.random.gamma(kt, alpha, (n_half,), jnp.float32) / beta
        v = jax.random.uniform(kr, (n_half,), maxval=had.max_radius_quantile)
        k, s, leaked = _along(path, path.dl, jnp.asarray(seg.lam), t)
        r_mm = had.radius * jnp.sqrt(v / (1.0 - v)) * jnp.asarray(seg.lam)[k]
        psi = jax.random.uniform(kpsi, (n_half,), maxval=2 * math.pi)
        eps = jnp.where(jnp.asarray(seg.hadronic_layer)[k], had.visibility[1], had.visibility[0])
        f_inv = sample_invisible_fraction(k_h, had)
        e_spot = jnp.full((n_half,), half_energy / n_half)
        return k, s, leaked, r_mm, psi, e_spot, jnp.clip((1.0 - f_inv) * eps, 0.0, 1.0)

    stack = lambda *xs: jax.tree.map(lambda *v: jnp.stack(v), *xs)
    both = jax.vmap(em_half)(
        stack(kp1, kp_b),
        stack(k_spot_a, k_spot_b),
        jnp.stack([prof_e_a, prof_e_b]),
        jnp.stack([e_a, e_b]),
        jnp.stack([start_a, start_b]),
        stack(path_a, path_b),
    )
    a, b_em = (jax.tree.map(lambda x, i=i: x[i], both) for i in range(2))
    b_had = had_half(k_had, e_b, d_int_safe)
    b = jax.tree.map(lambda x, y: jnp.where(is_had, x, y), b_had, b_em)

    def finish(half, axis):
        k, s, leaked, r_mm, psi, e_spot, vis = half
        eta_s, phi_s = _eta_phi(axis[0], axis[1], s, r_mm, psi)
        lay = jnp.asarray(seg.layer_of)[k]
        lay = jnp.where(leaked, LEAKED, lay)
        lay = jnp.where((lay >= 0) & (jnp.abs(eta_s) >= geo.eta_max), OUTSIDE, lay)
        lay = jnp.where(e_spot > 0, lay, UNUSED)
        return lay, eta_s, phi_s, e_spot, jnp.where(lay >= 0, e_spot * vis, 0.0)

    n_track = kk + 1
    hadronic = jnp.concatenate(
        [jnp.zeros(n_half, bool), jnp.full(n_half, is_had & ~punch), jnp.zeros(n_track, bool)]
    )

    la, eta_a, phi_a, en_a, vis_a = finish(a, axis_a)
    lb, eta_b, phi_b, en_b, vis_b = finish(b, axis_b)
    t_out = (track_eta, track_phi)
    t_out_lay = jnp.where(
        (track_layer >= 0) & (jnp.abs(track_eta) >= geo.eta_max), OUTSIDE, track_layer
    )
    escape = jnp.where(shower, 0.0, remaining)
    layer = jnp.concatenate([la, lb, t_out_lay, jnp.where(escape > 0, LEAKED, UNUSED)[None]])
    eta_all = jnp.concatenate([eta_a, eta_b, t_out[0], eta[None]])
    phi_all = jnp.concatenate([phi_a, phi_b, t_out[1], phi[None]])
    en_all = jnp.concatenate([en_a, en_b, d_track, escape[None]])
    vis_all = jnp.concatenate([vis_a, vis_b, jnp.where(t_out_lay >= 0, d_track, 0.0), jnp.zeros(1)])
    face_eta, face_phi = _eta_phi(p0, u, path.face[None], jnp.zeros(1), jnp.zeros(1))
    return (
        layer,
        hadronic,
        eta_all,
        phi_all,
        en_all,
        vis_all,
        available,
        arrived,
        face_eta[0],
        face_phi[0],
        jnp.where(is_had, f_em, jnp.where(is_em | is_pi0, 1.0, 0.0)),
        jnp.where(is_had, d_int, jnp.inf),
    )


# -- the event -----------------------------------------------------------------------------


def _lookup(pdg):
    codes = jnp.asarray(_CODES)
    idx = jnp.clip(jnp.searchsorted(codes, pdg), 0, len(_CODES) - 1)
    known = codes[idx] == pdg
    row = jnp.asarray(_TABLE)[idx]
    return known, row[:, 0], row[:, 1], row[:, 2].astype(jnp.int32)


def _check_inputs(geo, pdg, energy, eta, phi, mask, outside):
    """Shapes and dtypes at trace time; values now if concrete, else at run time."""
    if not isinstance(geo, CaloGeometry):
        raise TypeError(f"geo must be a CaloGeometry, got {type(geo).__name__}")
    check_choice("outside", outside, ("skip", "error"))
    pdg = jnp.asarray(pdg)
    if not jnp.issubdtype(pdg.dtype, jnp.integer):
        raise TypeError(f"pdg must be an integer array of PDG codes, got dtype {pdg.dtype}")
    arrays = {"pdg": pdg, "energy_gev": energy, "eta": eta, "phi": phi}
    if mask is not None:
        arrays["mask"] = mask
    shapes = {k: jnp.shape(v) for k, v in arrays.items()}
    if len(set(shapes.values())) != 1 or len(shapes["pdg"]) != 1:
        raise ValueError(
            f"pdg, energy_gev, eta, phi (and mask) must be 1D arrays of equal length "
            f"(one entry per particle), got shapes {shapes}"
        )
    energy = jnp.asarray(energy, jnp.float32)
    eta = jnp.asarray(eta, jnp.float32)
    phi = jnp.asarray(phi, jnp.float32)
    mask = jnp.ones(pdg.shape, bool) if mask is None else jnp.asarray(mask, bool)
    pdg = pdg.astype(jnp.int32)
    known, mass, charge, kind = _lookup(pdg)
    # concrete values: clear Python errors now
    c = {k: concrete_value(v) for k, v in (("pdg", pdg), ("e", energy), ("eta", eta),
                                             ("phi", phi), ("mask", mask))}  # fmt: skip
    if all(v is not None for v in c.values()):
        m = c["mask"]
        if (
            np.any(np.isnan(c["e"][m]))
            or np.any(np.isnan(c["eta"][m]))
            or np.any(np.isnan(c["phi"][m]))
        ):
            raise ValueError("simulate_particles: energy_gev, eta and phi must not be NaN")
        bad = np.flatnonzero(m & ~np.asarray(known))
        if bad.size:
            codes = sorted({int(v) for v in c["pdg"][bad]})
            raise ValueError(
                f"simulate_particles: unknown PDG codes {codes} (particles {bad[:10].tolist()}); "
                f"known: {sorted(PARTICLES)}"
            )
        bad = np.flatnonzero(m & ~(c["e"] > 0))
        if bad.size:
            raise ValueError(
                f"simulate_particles: energy_gev must be positive, got "
                f"{c['e'][bad[:5]].tolist()} for particles {bad[:5].tolist()}"
            )
        below = m & (c["e"] < np.asarray(mass) * (1 - 1e-4))
        if np.any(below):
            bad = np.flatnonzero(below)
            raise ValueError(
                f"simulate_particles: energy_gev is the total energy and must be at least "
                f"the mass; particles {bad[:5].tolist()} have less"
            )
        out = m & ~(np.abs(c["eta"]) < geo.eta_max)
        if outside == "error" and np.any(out):
            raise ValueError(
                f"simulate_particles: particles {np.flatnonzero(out)[:10].tolist()} have "
                f"|eta| >= {geo.eta_max} (outside the detector); pass outside='skip' to "
                "skip and count them"
            )
    else:  # traced: the same checks at run time
        energy = eqx.error_if(
            energy,
            jnp.any(mask & (jnp.isnan(energy) | jnp.isnan(eta) | jnp.isnan(phi))),
            "simulate_particles: energy_gev, eta and phi must not be NaN",
        )
        energy = eqx.error_if(
            energy, jnp.any(mask & ~known), "simulate_particles: unknown PDG code"
        )
        energy = eqx.error_if(
            energy, jnp.any(mask & ~(energy > 0)), "simulate_particles: energy_gev must be positive"
        )
        energy = eqx.error_if(
            energy,
            jnp.any(mask & (energy < mass * (1 - 1e-4))),
            "simulate_particles: energy_gev is the total energy and must be at least the mass",
        )
        if outside == "error":
            energy = eqx.error_if(
                energy,
                jnp.any(mask & ~(jnp.abs(eta) < geo.eta_max)),
                f"simulate_particles: a particle has |eta| >= {geo.eta_max} (outside the detector)",
            )
    return pdg, energy, eta, phi, mask, known, mass, charge, kind


@functools.partial(jax.jit, static_argnames=("geo", "em", "hadronic", "spots"))
def _spots_core(key, geo, em, hadronic, spots, energy, eta, phi, mask, known, mass, charge, kind):
    seg = _segments(geo)
    inside = jnp.abs(eta) < geo.eta_max
    valid = mask & known & inside & jnp.isfinite(energy) & (energy > 0)
    keys = jax.random.split(key, energy.shape[0])
    fn = functools.partial(_particle, geo=geo, seg=seg, em=em, had=hadronic, n_spots=spots)
    out = jax.vmap(fn)(keys, mass, charge, kind, energy, eta, phi, valid)
    layer, hadronic_spot, eta_s, phi_s, en, vis, available, arrived, eta_c, phi_c, fem, d_int = out
    accepted = valid & arrived
    acc = accepted[:, None]
    return ShowerSpots(
        layer=jnp.where(acc, layer, UNUSED),
        hadronic=hadronic_spot & acc,
        eta=eta_s,
        phi=phi_s,
        energy=jnp.where(acc, en, 0.0),
        visible=jnp.where(acc, vis, 0.0),
        available=jnp.where(accepted, available, 0.0),
        accepted=accepted,
        arrived=arrived,
        eta_calo=eta_c,
        phi_calo=phi_c,
        em_fraction=fem,
        first_interaction=d_int,
    )


def shower_spots(
    key: PRNGKeyArray,
    geo: CaloGeometry,
    pdg: Int[ArrayLike, " p"],
    energy_gev: Float[ArrayLike, " p"],
    eta: Float[ArrayLike, " p"],
    phi: Float[ArrayLike, " p"],
    *,
    mask: Bool[ArrayLike, " p"] | None = None,
    outside: str = "skip",
    spots: int = 256,
    em: GFlash | None = None,
    hadronic: HadronicShower | None = None,
) -> ShowerSpots:
    """The energy spots of one event's particles before sampling and noise (module docstring).

    :meth:`ShowerSpots.summary` splits every particle's available energy into
    visible, invisible, dead, leaked and outside parts.

    Args:
        key: PRNG key.
        geo: the detector.
        pdg: ``(P,)`` PDG codes (those of :data:`PARTICLES`).
        energy_gev: ``(P,)`` total energies, GeV (positive, at least the mass).
        eta, phi: ``(P,)`` directions at the vertex (the origin).
        mask: ``(P,)`` the real particles (padding is ignored, whatever its values).
        outside: ``"skip"`` particles with $|\\eta| \\ge \\eta_\\max$ and count them,
            or ``"error"``.
        spots: shower spots per particle (even; fixed, so the event is one ``vmap``).
        em: the electromagnetic shower model (default :class:`GFlash`).
        hadronic: the hadronic shower model (default :class:`HadronicShower`).
    """
    spots = check_positive_int("spots", spots)
    if spots % 2:
        raise ValueError(f"spots must be even (two shower halves), got {spots}")
    em = GFlash() if em is None else em
    hadronic = HadronicShower() if hadronic is None else hadronic
    if not isinstance(em, GFlash):
        raise TypeError(f"em must be a GFlash, got {type(em).__name__}")
    if not isinstance(hadronic, HadronicShower):
        raise TypeError(f"hadronic must be a HadronicShower, got {type(hadronic).__name__}")
    pdg, energy, eta, phi, mask, known, mass, charge, kind = _check_inputs(
        geo, pdg, energy_gev, eta, phi, mask, outside
    )
    return _spots_core(
        key, geo, em, hadronic, spots, energy, eta, phi, mask, known, mass, charge, kind
    )


def simulate_particles(
    key: PRNGKeyArray,
    geo: CaloGeometry,
    pdg: Int[ArrayLike, " p"],
    energy_gev: Float[ArrayLike, " p"],
    eta: Float[ArrayLike, " p"],
    phi: Float[ArrayLike, " p"],
    *,
    mask: Bool[ArrayLike, " p"] | None = None,
    noise: bool = True,
    sampling: bool = True,
    outside: str = "skip",
    spots: int = 256,
    quantum: float = 0.0007,
    hadronic_quantum: float = 0.005,
    em: GFlash | None = None,
    hadronic: HadronicShower | None = None,
) -> CellEnergies:
    """Simulate the particles of one event into cell energies (module docstring).

    Args:
        key: PRNG key.
        geo: the detector.
        pdg: ``(P,)`` PDG codes (those of :data:`PARTICLES`).
        energy_gev: ``(P,)`` total energies, GeV (positive, at least the mass).
        eta, phi: ``(P,)`` directions at the vertex (the origin).
        mask: ``(P,)`` the real particles (padding is ignored, whatever its values).
        noise: add the per-layer Gaussian noise.
        sampling: emulate the sampling fraction (COCOA's keep-with-probability-$f$,
            for ``quantum``-sized deposits).
        outside: ``"skip"`` particles with $|\\eta| \\ge \\eta_\\max$ and count them,
            or ``"error"``.
        spots: shower spots per particle (even; fixed, so the event is one ``vmap``).
        quantum: effective energy of one Geant4 deposit, GeV (module docstring).
        hadronic_quantum: the same for the hadronic part of hadron showers,
            whose energy is carried by slow protons and nuclear fragments that
            stop in a few steps (module docstring).
        em: the electromagnetic shower model (default :class:`GFlash`).
        hadronic: the hadronic shower model (default :class:`HadronicShower`).

    Returns:
        :class:`CellEnergies`, one value per cell, noise included.
        ``outside`` counts the skipped particles (outside the acceptance, or
        curled up in the field) and ``outside_energy`` is their energy.
        ``jit``-able with ``geo`` (and the options) static. Bad input raises
        ``ValueError``/``TypeError`` now, or at run time under ``jit``.
    """
    for name, q in (("quantum", quantum), ("hadronic_quantum", hadronic_quantum)):
        if isinstance(q, bool) or not (float(q) > 0 and math.isfinite(float(q))):
            raise ValueError(f"{name} must be positive (GeV), got {q!r}")
    k_spots, k_read = jax.random.split(key)
    sp = shower_spots(
        k_spots, geo, pdg, energy_gev, eta, phi, mask=mask, outside=outside, spots=spots,
        em=em, hadronic=hadronic,
    )  # fmt: skip
    layer = sp.layer.reshape(-1)
    vis = sp.visible.reshape(-1)
    cells = deposit_energy(
        k_read,
        geo,
        jnp.maximum(layer, 0),
        sp.eta.reshape(-1),
        sp.phi.reshape(-1),
        vis,
        noise=noise,
        sampling=sampling,
        multiplicity=vis / jnp.where(sp.hadronic.reshape(-1), hadronic_quantum, quantum),
    )
    skipped = jnp.asarray(mask if mask is not None else True) & ~sp.accepted
    e_skip = jnp.where(skipped, jnp.asarray(energy_gev, jnp.float32), 0.0)
    return CellEnergies(
        cells.energy, cells.signal, jnp.sum(skipped).astype(jnp.int32), jnp.sum(e_skip)
    )
