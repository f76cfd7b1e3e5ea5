r"""A fast parton-splitting toy: JetNet-style jets and LHCO-style dijet features.

Not Pythia: an angular-ordered binary cascade in JAX, with a handful of
parameters, that gives jets with the right *gross* features (mass peaks of
boosted W/Z/top jets, gluon jets wider and busier than quark jets, two- and
three-prong substructure) for unit tests and quick experiments.

**Hard process.** A jet of transverse momentum $p_T$ at pseudorapidity $\eta$
starts from one parton (``"q"``, ``"g"``) or from a boosted resonance decayed
isotropically in its rest frame: $W \to q\bar q$ ($m_W = 80.4$ GeV),
$Z \to q\bar q$ ($m_Z = 91.19$ GeV), $t \to b W \to b q\bar q$
($m_t = 173$ GeV).

**Shower.** Each parton $a$ carries an energy $E_a$, a colour factor
$C_a$ ($C_F = 4/3$ for quarks, $C_A = 3$ for gluons) and an angular-ordering
bound $\theta_a^{\max}$ (the jet radius for a QCD jet, the opening angle of
its parent's decay or splitting otherwise). At each of a fixed number of
steps one parton is picked with probability $\propto C_a E_a$ and splits with
probability $1 - e^{-\alpha\, C_a}$ if the emission passes the cut below:

- momentum fraction $z = z_{\min}^{u}$, $u \sim U(0,1)$, i.e.
  $dP/dz \propto 1/z$ on $[z_{\min}, 1]$ and folded to $z \le 1/2$,
- opening angle $\theta = \theta_a^{\max}\, v^{1/(\gamma C_a)}$,
  $v \sim U(0,1)$, i.e. $P(\theta' > \theta) = 1 - (\theta/\theta_a^{\max})^{\gamma C_a}$:
  a Sudakov-like ordering in which partons of larger colour charge radiate at
  wider angles (angular ordering: daughters radiate inside $\theta$),
- a hadronisation cut $k_T = z E_a \theta > k_{T,\min}$.

The daughters are massless with energies $(1-z)E_a$ and $zE_a$, at angles
$z\theta$ and $(1-z)\theta$ on opposite sides of the parent direction (so the
transverse momentum balances at small angle); the soft daughter is a gluon.
Particles outside $\Delta R < R$ of the jet axis are dropped.

**Resonances.** The resonance mass is drawn from a Breit-Wigner of the PDG
width ($\Gamma_W = 2.085$, $\Gamma_Z = 2.495$, $\Gamma_t = 1.42$ GeV,
truncated at $5\Gamma$). The splittings above conserve three-momentum but
not mass, so after the shower a global recoil restores the resonance's
four-momentum: all (massless) constituents are scaled by $c = m/m'$, which
sets the system mass to $m$ at fixed velocity, and boosted along the jet
direction back to the original momentum. Finally each constituent's
four-momentum is smeared by $1 + \sigma\,\mathcal N(0, 1)$ (``resolution``),
so the mass peaks have a detector-like width and out-of-cone losses give a
low tail.

**Output.** The JetNet layout (Kansal et al., arXiv:2106.11535): the leading
``max_particles`` constituents by $p_T$ as $(\eta^{\rm rel}, \phi^{\rm rel},
p_T^{\rm rel}, \text{mask})$ and jet features $(p_T, \eta, m, n)$ computed
from the kept constituents. The LHCO-style dijet features follow the R&D set
(Kasieczka et al., arXiv:2101.08320) with N-subjettiness from
[`hepjax.physics.nsubjettiness`][] (exclusive-$k_T$ axes).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from hepjax._core import check_positive_int
from hepjax.physics import delta_phi, invariant_mass, nsubjettiness, pt_eta_phi_mass

JET_TYPES = ("g", "q", "t", "w", "z")
_C_F, _C_A = 4.0 / 3.0, 3.0
_M_W, _M_Z, _M_T = 80.4, 91.19, 173.0


def _boost(p4, beta):
    """Lorentz-boost ``p4`` (..., 4) by velocity ``beta`` (3,)."""
    b2 = jnp.sum(beta**2)
    gamma = 1.0 / jnp.sqrt(1.0 - b2)
    bp = jnp.sum(p4[..., 1:] * beta, axis=-1)
    e = gamma * (p4[..., 0] + bp)
    coef = jnp.where(b2 > 0, (gamma - 1.0) * bp / jnp.where(b2 > 0, b2, 1.0), 0.0)
    p = p4[..., 1:] + (coef + gamma * p4[..., 0])[..., None] * beta
    return jnp.concatenate([e[..., None], p], axis=-1)


def _decay(key, parent, m1, m2):
    """Isotropic two-body decay of ``parent`` (4,) into masses ``m1``, ``m2``."""
    m = invariant_mass(parent)
    k1, k2 = jax.random.split(key)
    cos = jax.random.uniform(k1, minval=-1.0, maxval=1.0)
    phi = jax.random.uniform(k2, maxval=2 * jnp.pi)
    sin = jnp.sqrt(1 - cos**2)
    p = jnp.sqrt(jnp.maximum((m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2), 0.0)) / (2 * m)
    n = jnp.stack([sin * jnp.cos(phi), sin * jnp.sin(phi), cos])
    d1 = jnp.concatenate([jnp.sqrt(p**2 + m1**2)[None], p * n])
    d2 = jnp.concatenate([jnp.sqrt(p**2 + m2**2)[None], -p * n])
    beta = parent[1:] / parent[0]
    return _boost(d1, beta), _boost(d2, beta)


def _opening(a, b):
    ca = jnp.sum(a[1:] * b[1:]) / (jnp.linalg.norm(a[1:]) * jnp.linalg.norm(b[1:]))
    return jnp.arccos(jnp.clip(ca, -1.0, 1.0))


def _massless(p4):
    return p4.at[0].set(jnp.linalg.norm(p4[1:]))


_G_W, _G_Z, _G_T = 2.085, 2.495, 1.42
_KINDS = {  # code for _prongs, mass, width
    "q": (0, 0.0, 0.0),
    "g": (1, 0.0, 0.0),
    "w": (2, _M_W, _G_W),
    "z": (2, _M_Z, _G_Z),
    "t": (3, _M_T, _G_T),
}


def _prongs(key, kind, pt, eta, radius, mass):
    """Three initial parton slots: four-momenta, colour factors, angle bounds, mask.

    ``kind`` is a traced code: 0 quark, 1 gluon, 2 two-prong, 3 three-prong.
    """
    axis = jnp.stack([jnp.ones_like(eta), jnp.zeros_like(eta), jnp.sinh(eta)])  # phi = 0
    k1, k2 = jax.random.split(key)
    e = jnp.sqrt((pt * jnp.cosh(eta)) ** 2 + mass**2)
    parent = jnp.concatenate([e[None], pt * axis])
    zero = jnp.zeros(4)
    # one parton
    one = (
        jnp.stack([parent, zero, zero]),
        jnp.stack([jnp.where(kind == 1, _C_A, _C_F), 0.0, 0.0]),
        jnp.array([radius, 0.0, 0.0]),
        jnp.array([True, False, False]),
    )
    # resonance -> q qbar
    q1, q2 = _decay(k1, parent, 0.0, 0.0)
    th = _opening(q1, q2)
    two = (
        jnp.stack([q1, q2, zero]),
        jnp.array([_C_F, _C_F, 0.0]),
        jnp.stack([th, th, 0.0]),
        jnp.array([True, True, False]),
    )
    # top -> b W -> b q qbar
    b, w = _decay(k1, parent, 0.0, _M_W)
    w1, w2 = _decay(k2, w, 0.0, 0.0)
    th_w = _opening(w1, w2)
    three = (
        jnp.stack([_massless(b), w1, w2]),
        jnp.full((3,), _C_F),
        jnp.stack([_opening(b, w), th_w, th_w]),
        jnp.array([True, True, True]),
    )
    pick = lambda x, y, z: jnp.where(kind <= 1, x, jnp.where(kind == 2, y, z))
    return jax.tree.map(pick, one, two, three)


def _rotate_about(v, axis_unit, angle):
    """Rodrigues rotation of 3-vector ``v`` about unit ``axis_unit``."""
    c, s = jnp.cos(angle), jnp.sin(angle)
    return v * c + jnp.cross(axis_unit, v) * s + axis_unit * jnp.dot(axis_unit, v) * (1 - c)


def _shower(key, p4, colour, theta_max, alive, *, steps, alpha, z_min, gamma, kt_min):
    """Binary cascade on a fixed-capacity particle list (see the module docstring)."""
    cap = p4.shape[0]

    def step(state, k):
        p4, colour, theta_max, alive, count = state
        kc, ks, kz, kt, kphi = jax.random.split(k, 5)
        weights = jnp.where(alive, colour * p4[:, 0], 0.0)
        a = jax.random.choice(kc, cap, p=weights / jnp.sum(weights))
        e = p4[a, 0]
        u = jax.random.uniform(kz)
        z = z_min**u
        z = jnp.where(z > 0.5, 1.0 - z, z)
        theta = theta_max[a] * jax.random.uniform(kt) ** (1.0 / (gamma * colour[a]))
        accept = (
            (jax.random.uniform(ks) < 1.0 - jnp.exp(-alpha * colour[a]))
            & (z * e * theta > kt_min)
            & (count < cap)
        )
        n = p4[a, 1:] / jnp.linalg.norm(p4[a, 1:])
        helper = jnp.where(jnp.abs(n[2]) < 0.9, jnp.array([0.0, 0.0, 1.0]), jnp.array([1.0, 0, 0]))
        perp = jnp.cross(n, helper)
        perp = perp / jnp.linalg.norm(perp)
        perp = _rotate_about(perp, n, jax.random.uniform(kphi, maxval=2 * jnp.pi))
        hard_dir = n * jnp.cos(z * theta) + perp * jnp.sin(z * theta)
        soft_dir = n * jnp.cos((1 - z) * theta) - perp * jnp.sin((1 - z) * theta)
        hard = (1 - z) * e * jnp.concatenate([jnp.ones(1), hard_dir])
        soft = z * e * jnp.concatenate([jnp.ones(1), soft_dir])
        slot = jnp.minimum(count, cap - 1)
        new = (
            p4.at[a].set(hard).at[slot].set(soft),
            colour.at[slot].set(_C_A),
            theta_max.at[a].set(theta).at[slot].set(theta),
            alive.at[slot].set(True),
            count + 1,
        )
        old = (p4, colour, theta_max, alive, count)
        return jax.tree.map(lambda x, y: jnp.where(accept, x, y), new, old), None

    state = (p4, colour, theta_max, alive, jnp.sum(alive))
    (p4, _, _, alive, _), _ = jax.lax.scan(step, state, jax.random.split(key, steps))
    return p4, alive


@functools.partial(jax.jit, static_argnames=("capacity", "max_particles", "steps", "with_p4"))
def _jet(
    key,
    kind,
    pt,
    eta,
    mass,
    width,
    resolution,
    radius,
    alpha,
    z_min,
    gamma,
    kt_min,
    *,
    capacity,
    max_particles,
    steps,
    with_p4=False,
):
    k_hard, k_shower, k_bw, k_res = jax.random.split(key, 4)
    # Breit-Wigner line shape, truncated at 5 widths
    bw = 0.5 * width * jnp.tan(jnp.pi * (jax.random.uniform(k_bw) - 0.5))
    mass = jnp.where(mass > 0, mass + jnp.clip(bw, -5 * width, 5 * width), 0.0)
    p0, c0, t0, m0 = _prongs(k_hard, kind, pt, eta, radius, mass)
    pad = capacity - 3
    p4 = jnp.concatenate([p0, jnp.zeros((pad, 4))])
    colour = jnp.concatenate([c0, jnp.zeros(pad)])
    theta = jnp.concatenate([t0, jnp.zeros(pad)])
    alive = jnp.concatenate([m0, jnp.zeros(pad, bool)])
    # compact the alive prongs to the front so new particles fill later slots
    order = jnp.argsort(~alive, stable=True)
    p4, colour, theta, alive = p4[order], colour[order], theta[order], alive[order]
    p4, alive = _shower(
        k_shower,
        p4,
        colour,
        theta,
        alive,
        steps=steps,
        alpha=alpha,
        z_min=z_min,
        gamma=gamma,
        kt_min=kt_min,
    )
    # Recoil: a resonance's decay products keep its four-momentum. Scaling
    # massless four-momenta by c scales the system mass by c at fixed velocity;
    # a boost along the (unchanged) direction then restores |p|.
    total = jnp.sum(jnp.where(alive[:, None], p4, 0.0), axis=0)
    m_now = invariant_mass(total)
    c = jnp.where((mass > 0) & (m_now > 0), mass / jnp.where(m_now > 0, m_now, 1.0), 1.0)
    hard = jnp.sum(p0, axis=0)
    fixed = _boost(_boost(c * p4, -total[1:] / total[0]), hard[1:] / hard[0])
    p4 = jnp.where((mass > 0) & alive[:, None], fixed, p4)
    # detector-like resolution: each massless constituent scaled by 1 + sigma * N(0, 1)
    smear = 1.0 + resolution * jax.random.normal(k_res, (p4.shape[0], 1))
    p4 = p4 * jnp.clip(smear, 0.1, None)
    kin = pt_eta_phi_mass(p4)
    # keep particles within R of the axis; twice, as dropping some moves the axis
    for _ in range(2):
        axis = pt_eta_phi_mass(jnp.sum(jnp.where(alive[:, None], p4, 0.0), axis=0))
        dr = jnp.hypot(kin[:, 1] - axis[1], delta_phi(kin[:, 2], axis[2]))
        alive = alive & (dr < radius)
    order = jnp.argsort(jnp.where(alive, -kin[:, 0], jnp.inf))[:max_particles]
    p4, kin, alive = p4[order], kin[order], alive[order]
    jet = pt_eta_phi_mass(jnp.sum(jnp.where(alive[:, None], p4, 0.0), axis=0))
    feats = jnp.stack(
        [kin[:, 1] - jet[1], delta_phi(kin[:, 2], jet[2]), kin[:, 0] / jet[0], alive], axis=1
    )
    feats = jnp.where(alive[:, None], feats, 0.0)
    jet_features = jnp.stack([jet[0], jet[1], jet[3], jnp.sum(alive).astype(jet.dtype)])
    if with_p4:
        return feats, jet_features, jnp.where(alive[:, None], p4, 0.0), alive
    return feats, jet_features


@functools.partial(jax.jit, static_argnames=("capacity", "max_particles"))
def _jet_batch(keys, etas, params, *, capacity, max_particles):
    kind, pt, mass, width, resolution, radius, alpha, z_min, gamma, kt_min = params

    def one(k, eta):
        return _jet(
            k,
            kind,
            pt,
            eta,
            mass,
            width,
            resolution,
            radius,
            alpha,
            z_min,
            gamma,
            kt_min,
            capacity=capacity,
            max_particles=max_particles,
            steps=capacity - 1,
        )

    return jax.vmap(one)(keys, etas)


def _check_params(num_jets, max_particles, capacity) -> tuple[int, int]:
    num_jets = check_positive_int("num_jets", num_jets)
    max_particles = check_positive_int("max_particles", max_particles)
    if capacity is not None and (not isinstance(capacity, int) or capacity < 4):
        raise ValueError(f"capacity must be an int >= 4 or None, got {capacity!r}")
    return num_jets, max_particles


def toy_shower_jets(
    key: PRNGKeyArray,
    jet_type: str,
    num_jets: int,
    *,
    max_particles: int = 30,
    pt: float = 1000.0,
    eta_max: float = 1.0,
    radius: float = 0.8,
    alpha: float = 0.4,
    z_min: float = 0.002,
    gamma: float = 0.3,
    kt_min: float = 0.05,
    resolution: float = 0.05,
    capacity: int | None = None,
) -> dict[str, np.ndarray]:
    r"""JetNet-layout toy jets of one type from the parton-splitting toy.

    Args:
        key: PRNG key; the output is a deterministic function of it.
        jet_type: ``"g"``, ``"q"``, ``"t"``, ``"w"`` or ``"z"`` (JetNet's classes).
        num_jets: number of jets $N$.
        max_particles: kept constituents $n$ (JetNet uses 30 or 150).
        pt: jet transverse momentum in GeV before showering.
        eta_max: jet $\eta$ is uniform in $[-\eta_{\max}, \eta_{\max}]$.
        radius: jet radius $R$; also the angular bound of QCD jets.
        alpha: splitting strength $\alpha$ (per-step probability
            $1 - e^{-\alpha C_a}$).
        z_min: smallest momentum fraction $z_{\min}$.
        gamma: angular exponent $\gamma$ ($\theta = \theta^{\max}
            v^{1/(\gamma C_a)}$; larger means wider emissions).
        kt_min: hadronisation cut $k_{T,\min}$ in GeV.
        resolution: relative Gaussian smearing $\sigma$ of each constituent's
            four-momentum (a detector-like resolution).
        capacity: cascade slots (default ``max(2 * max_particles, 64)``).

    Returns:
        ``{"particle_features": (N, n, 4) float32 (etarel, phirel, ptrel, mask),
        "jet_features": (N, 4) float32 (pt, eta, mass, num_particles)}``.
    """
    if jet_type not in JET_TYPES:
        raise ValueError(f"jet_type must be one of {JET_TYPES}, got {jet_type!r}")
    num_jets, max_particles = _check_params(num_jets, max_particles, capacity)
    if not 0.0 < z_min < 0.5:
        raise ValueError(f"z_min must be in (0, 0.5), got {z_min!r}")
    if pt <= 0 or radius <= 0 or alpha < 0 or gamma <= 0 or kt_min < 0:
        raise ValueError("pt, radius and gamma must be > 0 and alpha, kt_min >= 0")
    cap = capacity if capacity is not None else max(2 * max_particles, 64)
    k_eta, k_jets = jax.random.split(key)
    etas = jax.random.uniform(k_eta, (num_jets,), minval=-eta_max, maxval=eta_max)
    kind, mass, width = _KINDS[jet_type]
    feats, jets = _jet_batch(
        jax.random.split(k_jets, num_jets),
        etas,
        (kind, pt, mass, width, resolution, radius, alpha, z_min, gamma, kt_min),
        capacity=cap,
        max_particles=min(max_particles, cap),
    )
    feats = np.asarray(feats, np.float32)
    if max_particles > cap:
        feats = np.pad(feats, ((0, 0), (0, max_particles - cap), (0, 0)))
    return {"particle_features": feats, "jet_features": np.asarray(jets, np.float32)}


LHCO_TOY_FIELDS = (
    "mjj",
    "mj1",
    "delta_mj",
    "tau21_j1",
    "tau21_j2",
    "tau32_j1",
    "tau32_j2",
    "label",
)
"""Columns of [`toy_lhco_dijets`][hepjax.sim.parton_shower.toy_lhco_dijets].

``j1`` is the lighter jet.
"""


def _ratio(num, den):
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def _dijet(key, signal, params, resolution, *, capacity, radius, shower_args):
    m_wprime, m_x, m_y, mjj_min, mjj_scale = params
    k_m, k_kind, k1, k2 = jax.random.split(key, 4)
    shower = functools.partial(
        _jet,
        radius=radius,
        **shower_args,
        capacity=capacity,
        max_particles=capacity,
        steps=capacity - 1,
        with_p4=True,
    )
    s = m_wprime**2
    p_sig = jnp.sqrt((s - (m_x + m_y) ** 2) * (s - (m_x - m_y) ** 2)) / (2 * m_wprime)
    pt_bkg = 0.5 * (mjj_min + mjj_scale * jax.random.exponential(k_m))
    gluon = jax.random.bernoulli(k_kind, 0.5, (2,)).astype(jnp.int32)
    pt = jnp.where(signal, p_sig, pt_bkg)
    kinds = jnp.where(signal, 2, gluon)
    a = shower(k1, kinds[0], pt, 0.0, jnp.where(signal, m_x, 0.0), 0.0, resolution)
    b = shower(k2, kinds[1], pt, 0.0, jnp.where(signal, m_y, 0.0), 0.0, resolution)
    _, ja, pa, ma = a
    _, jb, pb, mb = b
    # the second jet recoils: reflect its transverse momentum
    pb_back = pb * jnp.array([1.0, -1.0, -1.0, 1.0])
    mjj = invariant_mass(jnp.sum(pa, axis=0) + jnp.sum(pb_back, axis=0))
    ta = nsubjettiness(pa, ma, 3, r0=radius)
    tb = nsubjettiness(pb, mb, 3, r0=radius)
    a_light = ja[2] <= jb[2]
    t1 = jnp.where(a_light, ta, tb)
    t2 = jnp.where(a_light, tb, ta)
    mj1, mj2 = jnp.minimum(ja[2], jb[2]), jnp.maximum(ja[2], jb[2])
    return jnp.stack(
        [
            mjj,
            mj1,
            mj2 - mj1,
            _ratio(t1[1], t1[0]),
            _ratio(t2[1], t2[0]),
            _ratio(t1[2], t1[1]),
            _ratio(t2[2], t2[1]),
            signal.astype(mjj.dtype),
        ]
    )


@functools.partial(jax.jit, static_argnames=("capacity", "radius", "shower_args"))
def _dijets(keys, labels, params, resolution, *, capacity, radius, shower_args):
    args = dict(shower_args)

    def one(k, y):
        return _dijet(k, y, params, resolution, capacity=capacity, radius=radius, shower_args=args)

    return jax.vmap(one)(keys, labels)


def toy_lhco_dijets(
    key: PRNGKeyArray,
    num_events: int,
    *,
    signal_fraction: float = 0.5,
    m_wprime: float = 3500.0,
    m_x: float = 500.0,
    m_y: float = 100.0,
    mjj_min: float = 2600.0,
    mjj_scale: float = 500.0,
    capacity: int = 48,
    radius: float = 1.0,
    alpha: float = 0.4,
    z_min: float = 0.002,
    gamma: float = 0.3,
    kt_min: float = 0.05,
    resolution: float = 0.05,
) -> dict[str, np.ndarray]:
    r"""LHCO R&D-style dijet features from the parton-splitting toy.

    Background events are two back-to-back quark or gluon jets (each 50/50)
    at $\eta = 0$ with $p_T = m_{jj}/2$, $m_{jj} = m_{\min} + \text{Exp}(s)$.
    Signal events are $W' \to X Y$ at rest with $X, Y \to q\bar q$, giving two
    two-prong jets of masses $m_X$ and $m_Y$. Jets have radius $R$; $j_1$ is
    the *lighter* jet, $\Delta m_j = m_{j2} - m_{j1} \ge 0$, and
    $\tau_{21} = \tau_2/\tau_1$, $\tau_{32} = \tau_3/\tau_2$ use exclusive-$k_T$
    axes with $\beta = 1$, $R_0 = R$ (see [`hepjax.physics.nsubjettiness`][]).

    Args:
        key: PRNG key; the output is a deterministic function of it.
        num_events: number of events $N$.
        signal_fraction: probability that an event is signal (``label`` 1).
        m_wprime: $W'$ mass in GeV (LHCO: 3500).
        m_x: $X$ mass (LHCO: 500).
        m_y: $Y$ mass (LHCO: 100).
        mjj_min: background $m_{jj}$ threshold $m_{\min}$.
        mjj_scale: background $m_{jj}$ exponential scale $s$.
        capacity: cascade slots per jet.
        radius: jet radius $R$.
        alpha: splitting strength (see
            [`toy_shower_jets`][hepjax.sim.parton_shower.toy_shower_jets]).
        z_min: smallest momentum fraction.
        gamma: angular exponent.
        kt_min: hadronisation cut in GeV.
        resolution: relative smearing of each constituent's four-momentum.

    Returns:
        A dict of (N,) float32 arrays named as in ``LHCO_TOY_FIELDS``.
    """
    num_events = check_positive_int("num_events", num_events)
    if not 0.0 <= signal_fraction <= 1.0:
        raise ValueError(f"signal_fraction must be in [0, 1], got {signal_fraction!r}")
    if not isinstance(capacity, int) or capacity < 4:
        raise ValueError(f"capacity must be an int >= 4, got {capacity!r}")
    if not m_x + m_y < m_wprime:
        raise ValueError(f"need m_x + m_y < m_wprime, got {m_x} + {m_y} >= {m_wprime}")
    k_label, k_ev = jax.random.split(key)
    labels = jax.random.bernoulli(k_label, signal_fraction, (num_events,))
    params = tuple(jnp.float32(v) for v in (m_wprime, m_x, m_y, mjj_min, mjj_scale))
    shower_args = (("alpha", alpha), ("z_min", z_min), ("gamma", gamma), ("kt_min", kt_min))
    out = _dijets(
        jax.random.split(k_ev, num_events),
        labels,
        params,
        jnp.float32(resolution),
        capacity=capacity,
        radius=float(radius),
        shower_args=shower_args,
    )
    out = np.asarray(out, np.float32)
    return {name: out[:, i] for i, name in enumerate(LHCO_TOY_FIELDS)}
