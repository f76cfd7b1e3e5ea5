"""Tests of the showers of hepjax.sim.calo: GFlash closed forms and fluctuations,
containment, energy conservation of the spots, the field, muon tracks, pi0 versus
pi+- ordering, the multi-deposit sampling emulation, bad input; slow: the checks
against the transport MC and COCOA's response test."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from hepjax.physics import bethe_bloch, material
from hepjax.sim import calo as sc

GEO = sc.CaloGeometry.cocoa()
ECAL = sc.medium(("Liquid_Argon", "G4_Pb"), (4.6, 1.2))
EM = sc.GFlash()
P = 8  # every event of these tests has 8 particle slots (one compilation)
#: the whole simulation under jit (compiled once, shared by the tests that use it)
JIT_SIM = jax.jit(
    lambda key, pdg, e, eta, phi, mask: sc.simulate_particles(key, GEO, pdg, e, eta, phi, mask=mask)
)


def _event(pdg, energy, eta, phi):
    """Pad to P slots with a mask."""
    n = len(pdg)
    pad = P - n
    mask = np.r_[np.ones(n, bool), np.zeros(pad, bool)]
    return (
        np.r_[np.asarray(pdg, np.int32), np.full(pad, 22, np.int32)],
        np.r_[np.asarray(energy, np.float32), np.ones(pad, np.float32)],
        np.r_[np.asarray(eta, np.float32), np.zeros(pad, np.float32)],
        np.r_[np.asarray(phi, np.float32), np.zeros(pad, np.float32)],
        mask,
    )


def _spots(key, pdg, energy, eta, phi):
    pdg, energy, eta, phi, mask = _event(pdg, energy, eta, phi)
    return sc.shower_spots(key, GEO, pdg, energy, eta, phi, mask=mask)


# -- GFlash closed forms ----------------------------------------------------------------


def test_gflash_parameters_follow_the_published_formulae():
    e, z, ec = 10.0, ECAL.z_eff, ECAL.critical_energy
    ly = math.log(e / ec)
    mt, ma, st, sa, rho = sc.em_longitudinal_parameters(EM, e, z, ec)
    assert float(mt) == pytest.approx(math.log(ly - 0.812), rel=1e-5)
    assert float(ma) == pytest.approx(math.log(0.81 + (0.458 + 2.26 / z) * ly), rel=1e-5)
    assert float(st) == pytest.approx(1 / (-1.4 + 1.26 * ly), rel=1e-5)
    assert float(sa) == pytest.approx(1 / (-0.58 + 0.86 * ly), rel=1e-5)
    assert float(rho) == pytest.approx(0.705 - 0.023 * ly, rel=1e-5)
    mean = sc.GFlash(fluctuate=False)
    t_max, alpha, beta = sc.sample_em_profile(jax.random.key(0), mean, e, z, ec)
    assert float(t_max) == pytest.approx(math.exp(float(mt)), rel=1e-5)
    assert float(alpha) == pytest.approx(math.exp(float(ma)), rel=1e-5)
    assert float(beta) == pytest.approx((float(alpha) - 1) / float(t_max), rel=1e-5)
    # radial: R_C, R_T and p at tau = 1 from the published coefficients
    rc, rt, p = sc.em_radial_parameters(EM, e, z, 1.0)
    assert float(rc) == pytest.approx(0.0251 + 0.00319 * math.log(e) + 0.1162 - 0.000381 * z)
    k4 = 0.3585 + 0.0412 * math.log(e)
    expected_rt = (0.659 - 0.00309 * z) * (math.exp(-2.59 * 0.355) + math.exp(k4 * 0.355))
    assert float(rt) == pytest.approx(expected_rt, rel=1e-5)
    u = (0.401 + 0.00187 * z - 1.0) / (1.313 - 0.0686 * math.log(e))
    assert float(p) == pytest.approx((2.632 - 0.00094 * z) * math.exp(u - math.exp(u)), rel=1e-5)


def test_gamma_profile_mean_and_variance_of_the_spot_depths():
    mean = sc.GFlash(fluctuate=False)
    t, _, _, prof = sc.sample_em_spots(
        jax.random.key(1), mean, 20.0, ECAL.z_eff, ECAL.critical_energy, 20000
    )
    t, (t_max, alpha, beta) = np.asarray(t, np.float64), np.asarray(prof, np.float64)
    n = t.size
    assert abs(t.mean() - alpha / beta) < 4 * t.std() / math.sqrt(n)
    # the variance alpha / beta^2, with the standard error of a sample variance
    var, m4 = t.var(), np.mean((t - t.mean()) ** 4)
    assert abs(var - alpha / beta**2) < 4 * math.sqrt((m4 - var**2) / n)
    assert t_max == pytest.approx((alpha - 1) / beta, rel=1e-6)
    # the profile's cumulative is the regularised incomplete gamma function
    ts = np.array([1.0, 5.0, 12.0, 1e4])
    got = np.asarray(sc.gamma_profile_fraction(ts, alpha, beta))
    np.testing.assert_allclose(got, scipy.special.gammainc(alpha, beta * ts), rtol=1e-4)
    assert got[-1] == pytest.approx(1.0)


def test_profile_fluctuations_have_the_published_spreads_and_correlation():
    e = 20.0
    keys = jax.random.split(jax.random.key(2), 6000)
    t_max, alpha, _ = jax.vmap(
        lambda k: sc.sample_em_profile(k, EM, e, ECAL.z_eff, ECAL.critical_energy)
    )(keys)
    lt, la = np.log(np.asarray(t_max, np.float64)), np.log(np.asarray(alpha, np.float64))
    params = sc.em_longitudinal_parameters(EM, e, ECAL.z_eff, ECAL.critical_energy)
    mt, ma, st, sa, rho = (float(v) for v in params)
    n = lt.size
    assert abs(lt.mean() - mt) < 4 * st / math.sqrt(n)
    assert abs(la.mean() - ma) < 4 * sa / math.sqrt(n)
    assert abs(lt.std() - st) < 4 * st / math.sqrt(2 * n)
    assert abs(np.corrcoef(lt, la)[0, 1] - rho) < 4 * (1 - rho**2) / math.sqrt(n)


# -- containment ---------------------------------------------------------------------------


def test_longitudinal_and_lateral_containment():
    keys = jax.random.split(jax.random.key(3), 300)
    t, r, _, prof = jax.vmap(
        lambda k: sc.sample_em_spots(k, EM, 10.0, ECAL.z_eff, ECAL.critical_energy, 128)
    )(keys)
    t, r, prof = np.asarray(t), np.asarray(r), np.asarray(prof)
    # the fraction of the energy within 22 X0 (COCOA's ECAL) and within 5 X0: per shower
    # the Gamma cumulative; pooled over showers and spots, compared in distribution
    for depth in (5.0, 22.0):
        frac = (t < depth).mean(1)
        expected = scipy.special.gammainc(prof[:, 1], prof[:, 2] * depth)
        diff = frac - expected
        assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(diff.size) + 1e-6, depth
    assert (t < 22.0).mean() > 0.97
    # PDG: about 90% of the energy within one Moliere radius, 99% within 3.5
    assert abs((r < 1.0).mean() - 0.90) < 0.04
    assert (r < 3.5).mean() > 0.97


# -- energy bookkeeping --------------------------------------------------------------------


@pytest.mark.slow  # over 6 s: `make test-slow` keeps the default suite in 15 min
def test_spots_conserve_the_available_energy():
    pdg = [11, 22, 111, 211, 2212, -2112, 13, 14]
    energy = [5.0, 8.0, 20.0, 20.0, 12.0, 15.0, 30.0, 7.0]
    eta = [0.3, -0.7, 1.2, -1.8, 2.2, 0.1, 0.5, 0.0]
    phi = [0.1, 2.0, -2.5, 1.0, -0.4, 3.0, -1.5, 0.0]
    sp = _spots(jax.random.key(4), pdg, energy, eta, phi)
    s = {k: np.asarray(v[:8], np.float64) for k, v in sp.summary().items()}
    total = sum(s.values())
    avail = np.asarray(sp.available[:8], np.float64)
    np.testing.assert_allclose(total, avail, rtol=2e-5, atol=1e-6)
    m_p, m_n = sc.PARTICLES[2212][0], sc.PARTICLES[2112][0]
    np.testing.assert_allclose(
        avail, [5.0, 8.0, 20.0, 20.0, 12.0 - m_p, 15.0 + m_n, 30.0, 0.0], rtol=1e-6
    )
    # the spot energies themselves (before the sampling) sum to the available energy
    np.testing.assert_allclose(np.asarray(sp.energy[:8]).sum(1), avail, rtol=2e-5)
    # e/gamma/pi0 have no invisible energy; hadrons do; the muon leaks most of its energy
    assert np.all(s["invisible"][:3] == 0) and np.all(s["invisible"][3:6] > 0)
    assert s["leaked"][6] > 0.8 * 30.0
    # padding slots carry nothing
    assert float(jnp.abs(sp.energy[8:]).sum()) == 0.0


def test_pi0_showers_are_narrower_and_respond_more_than_charged_pions():
    vis, width = {111: [], 211: []}, {111: [], 211: []}
    eta0, phi0 = 0.4, 1.0
    for i in range(6):
        for pdg in (111, 211):
            sp = _spots(jax.random.key(100 + i), [pdg] * P, [20.0] * P, [eta0] * P, [phi0] * P)
            e = np.asarray(sp.visible, np.float64)
            d_eta = np.asarray(sp.eta) - eta0
            d_phi = (np.asarray(sp.phi) - phi0 + np.pi) % (2 * np.pi) - np.pi
            dr2 = d_eta**2 + d_phi**2
            vis[pdg] += list(e.sum(1) / 20.0)
            width[pdg] += list(np.sqrt((e * dr2).sum(1) / e.sum(1)))
    v0, vc = np.array(vis[111]), np.array(vis[211])
    se = math.hypot(v0.std(), vc.std()) / math.sqrt(len(v0))
    assert v0.mean() - vc.mean() > 4 * se  # non-compensation: pi+- respond lower
    w0, wc = np.array(width[111]), np.array(width[211])
    assert wc.mean() - w0.mean() > 4 * math.hypot(w0.std(), wc.std()) / math.sqrt(len(w0))


# -- the field -------------------------------------------------------------------------------


@pytest.mark.parametrize("charge", [1.0, -1.0])
def test_bending_in_the_solenoid(charge):
    pt, phi0, b, rb = 5.0, 0.3, GEO.field, GEO.field_radius
    point, direction, arrived = sc.exit_field(GEO, charge, pt, 0.0, phi0)
    point, direction = np.asarray(point), np.asarray(direction)
    delta = math.asin(0.3 * b * (rb / 1000) / (2 * pt))
    assert bool(arrived)
    assert math.hypot(point[0], point[1]) == pytest.approx(rb, rel=1e-5)
    assert math.atan2(point[1], point[0]) == pytest.approx(phi0 - charge * delta, abs=1e-5)
    assert math.atan2(direction[1], direction[0]) == pytest.approx(
        phi0 - 2 * charge * delta, abs=1e-5
    )
    # neutral: from the origin, unbent
    point, direction, arrived = sc.exit_field(GEO, 0.0, pt, 0.0, phi0)
    assert np.all(np.asarray(point) == 0) and bool(arrived)
    assert math.atan2(direction[1], direction[0]) == pytest.approx(phi0, abs=1e-6)
    # too little pT in the barrel: curls up; forward it leaves through the end of the field
    low = 0.3 * b * (rb / 1000) / 2 * 0.9
    assert not bool(sc.exit_field(GEO, charge, low, 0.0, phi0)[2])
    point, _, arrived = sc.exit_field(GEO, charge, low, 2.5, phi0)
    assert bool(arrived) and float(point[2]) == pytest.approx(GEO.field_half_length, rel=1e-5)


def test_curling_particles_are_skipped_and_counted():
    pdg, e, eta, phi, mask = _event([211, 211, 22], [0.5, 20.0, 0.5], [0.0, 0.0, 0.0], [0, 1, 2])
    cells = sc.simulate_particles(jax.random.key(5), GEO, pdg, e, eta, phi, mask=mask)
    assert int(cells.outside) == 1  # the 0.5 GeV pion at eta = 0; the photon arrives
    assert float(cells.outside_energy) == pytest.approx(0.5)


# -- muons ---------------------------------------------------------------------------------


def test_muon_deposits_its_mean_ionisation_loss_in_every_layer():
    energy, eta = 50.0, 0.2
    mass = sc.PARTICLES[13][0]
    p = math.sqrt(energy**2 - mass**2)
    pdg, e, et, ph, mask = _event([13], [energy], [eta], [0.5])
    cells = sc.simulate_particles(
        jax.random.key(6), GEO, pdg, e, et, ph, mask=mask, noise=False, sampling=False
    )
    table = GEO.cells()
    per_layer = np.bincount(table.layer, np.asarray(cells.signal, np.float64), GEO.n_layers)
    names = {"Liquid_Argon": "LAr", "G4_Pb": "Pb", "G4_Fe": "Fe",
             "G4_PLASTIC_SC_VINYLTOLUENE": "polystyrene"}  # fmt: skip
    for i, layer in enumerate(GEO.layers):
        v = np.asarray(layer.volume_ratio) / sum(layer.volume_ratio)
        dedx = sum(
            vi * float(bethe_bloch(p, material(names[m]), mass=mass))
            for vi, m in zip(v, layer.materials, strict=True)
        )
        # a barrel layer crossed at polar angle theta: thickness / sin(theta)
        expected = dedx * GEO.thickness[i] * math.cosh(eta)
        assert per_layer[i] == pytest.approx(expected, rel=3e-3), layer.name


# -- the sampling emulation ------------------------------------------------------------------


@pytest.mark.parametrize("m", [20.0, 2000.0])  # exact binomial draws / normal approximation
def test_multi_deposit_sampling_keeps_the_mean_and_has_the_binomial_variance(m):
    small = sc.CaloGeometry.cocoa(scale=8)
    n = 4000
    f = small.sampling_fraction[0]
    draw = jax.vmap(
        lambda k: sc.deposit_energy(
            k, small, jnp.zeros(1, jnp.int32), jnp.zeros(1), jnp.zeros(1), jnp.ones(1),
            noise=False, multiplicity=jnp.full(1, m),
        ).signal.sum()
    )  # fmt: skip
    x = np.asarray(draw(jax.random.split(jax.random.key(7), n)), np.float64)
    var = (1 - f) / (m * f)
    assert abs(x.mean() - 1.0) < 4 * math.sqrt(var / n)
    assert abs(x.var() - var) < 4 * var * math.sqrt(2 / n) + 0.05 * var
    # the kept energy comes in multiples of E / (m f)
    k = x * m * f
    np.testing.assert_allclose(k, np.round(k), atol=1e-3 * max(1.0, k.max()))


# -- jit and bad input ----------------------------------------------------------------------


@pytest.mark.slow  # a second compilation of the whole simulation (about 10 s)
def test_simulation_under_jit_matches_eager_and_checks_at_run_time():
    pdg, e, eta, phi, mask = _event([11, 211, 130], [10.0, 20.0, 5.0], [0.1, -1.0, 2.0], [0, 1, 2])
    key = jax.random.key(8)
    eager = sc.simulate_particles(key, GEO, pdg, e, eta, phi, mask=mask)
    jitted = JIT_SIM(key, pdg, e, eta, phi, mask)
    np.testing.assert_allclose(np.asarray(jitted.energy), np.asarray(eager.energy), atol=1e-5)
    assert float(eager.signal.sum()) > 0.3 * 35.0
    assert eager.energy.shape == (GEO.n_cells,)
    # the input checks run under jit too, at run time
    with pytest.raises(Exception, match="energy_gev must be positive"):
        zero = np.r_[0.0, e[1:]].astype(np.float32)
        jax.block_until_ready(JIT_SIM(key, pdg, zero, eta, phi, mask))


def test_bad_input_gives_clear_messages():
    pdg, e, eta, phi, mask = _event([11, 211], [10.0, 20.0], [0.1, -1.0], [0.0, 1.0])
    key = jax.random.key(9)
    sim = lambda **kw: sc.simulate_particles(
        key, GEO, kw.get("pdg", pdg), kw.get("e", e), kw.get("eta", eta), kw.get("phi", phi),
        mask=mask, outside=kw.get("outside", "skip"),
    )  # fmt: skip
    with pytest.raises(ValueError, match="energy_gev must be positive"):
        sim(e=np.r_[-1.0, e[1:]].astype(np.float32))
    with pytest.raises(ValueError, match="NaN"):
        sim(eta=np.r_[np.nan, eta[1:]].astype(np.float32))
    with pytest.raises(ValueError, match="unknown PDG codes \\[999\\]"):
        sim(pdg=np.r_[999, pdg[1:]].astype(np.int32))
    with pytest.raises((ValueError, TypeError), match="equal length|energy_gev"):
        sim(e=e[:3])
    with pytest.raises(TypeError, match="pdg"):
        sim(pdg=pdg.astype(np.float32))
    with pytest.raises(ValueError, match="at least the mass"):
        sim(pdg=np.r_[2212, pdg[1:]].astype(np.int32), e=np.r_[0.5, e[1:]].astype(np.float32))
    far = np.r_[3.2, eta[1:]].astype(np.float32)
    with pytest.raises(ValueError, match="outside the detector"):
        sim(eta=far, outside="error")
    cells = sim(eta=far)
    assert int(cells.outside) == 1 and float(cells.outside_energy) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="outside must be one of"):
        sim(outside="drop")
    with pytest.raises(ValueError, match="spots must be even"):
        sc.shower_spots(key, GEO, pdg, e, eta, phi, spots=7)
    with pytest.raises(ValueError, match="quantum must be positive"):
        sc.simulate_particles(key, GEO, pdg, e, eta, phi, quantum=0.0)


# -- slow: checks against the transport MC and COCOA's response test -----------------------


def _transport_mixture():
    from hepjax.physics import Material

    pb, lar = material("Pb"), material("LAr")
    m_pb, m_lar = 1.2 * float(pb.density), 4.6 * float(lar.density)
    return Material.mixture("PbLAr", [(pb, m_pb), (lar, m_lar)], density=(m_pb + m_lar) / 5.8)


def _transport_depths(pdg, energy_mev, n, seed):
    """Per-event mean depth (X0) of showers in COCOA's Pb/LAr mixture, transport MC."""
    from hepjax.sim import transport

    mix = _transport_mixture()
    dt, nl = 0.5, 60
    world = transport.Slabs([mix] * nl, [dt * float(mix.radiation_length_cm)] * nl)
    res = transport.simulate_batch(
        jax.random.key(seed), world, transport.Particle(pdg, energy_mev).broadcast(n),
        cut_mev=1.0, capacity=4096,
    )  # fmt: skip
    assert not bool(np.asarray(res.overflow).any())
    dep = np.asarray(res.deposit_mev, np.float64)
    t = (np.arange(nl) + 0.5) * dt
    return (dep * t).sum(1) / dep.sum(1)


@pytest.mark.slow
def test_gflash_mean_depth_matches_transport():
    """GFlash's untouched coefficients against the transport MC (2 GeV electrons), and the
    tuned pair offset against the photon-minus-electron depth (module _gflash docstring)."""
    electrons = _transport_depths(11, 2000.0, 128, 0)
    photons = _transport_depths(22, 2000.0, 128, 1)
    keys = jax.random.split(jax.random.key(10), 20000)
    _, alpha, beta = jax.vmap(
        lambda k: sc.sample_em_profile(k, EM, 2.0, ECAL.z_eff, ECAL.critical_energy)
    )(keys)
    gflash = float(np.mean(np.asarray(alpha / beta, np.float64)))
    se = electrons.std() / math.sqrt(electrons.size)
    assert abs(electrons.mean() - gflash) < 0.3 + 3 * se, (electrons.mean(), gflash, se)
    shift = photons.mean() - electrons.mean()
    se_shift = math.hypot(photons.std(), electrons.std()) / math.sqrt(electrons.size)
    model = EM.conversion_length * math.exp(-EM.pair_offset / EM.conversion_length)
    assert abs(shift - model) < 0.1 + 3 * se_shift, (shift, model, se_shift)


@pytest.mark.slow
@pytest.mark.parametrize("pdg", [11, 22])
def test_gflash_energy_lost_in_front_iron_matches_transport(pdg):
    """10 GeV e-/gamma behind 4.7 X0 of iron (COCOA's support structure at eta ~ 0.9):
    the fraction deposited in the iron, transport MC against the model's Gamma profile
    with iron's Z and E_c (the medium a shower starts in)."""
    from hepjax.sim import transport
    from hepjax.sim.calo._media import medium_of

    fe_x0 = float(material("Fe").radiation_length_cm)
    mix = _transport_mixture()
    world = transport.Slabs(
        [material("Fe")] + [mix] * 40, [4.7 * fe_x0] + [0.5 * float(mix.radiation_length_cm)] * 40
    )
    n = 48
    res = transport.simulate_batch(
        jax.random.key(11 + pdg), world, transport.Particle(pdg, 10000.0).broadcast(n),
        cut_mev=1.0, capacity=6000,
    )  # fmt: skip
    front = np.asarray(res.deposit_mev, np.float64)[:, 0] / 10000.0
    fe = medium_of("G4_Fe")
    keys = jax.random.split(jax.random.key(12), 20000)
    _, alpha, beta = jax.vmap(lambda k: sc.sample_em_profile(k, EM, 10.0, fe.z_eff,
                                                             fe.critical_energy))(keys)  # fmt: skip
    start = 0.0
    if pdg == 22:
        c = np.random.default_rng(0).exponential(EM.conversion_length, keys.shape[0])
        start = np.maximum(c - EM.pair_offset, 0.0)
    model = float(np.mean(np.asarray(sc.gamma_profile_fraction(4.7 - start, alpha, beta))))
    se = front.std() / math.sqrt(n)
    assert abs(front.mean() - model) < 0.03 + 3 * se, (front.mean(), model, se)


def cocoa_response(pdg: int, n_events: int = 100, seed: int = 0, energy: float = 20.0, **options):
    """COCOA's response check (``RunTest.cc``): 20 GeV (``energy``) particles with eta uniform in
    [-3, 3]; a pi0 decays at the vertex and only photons with pT > 1 GeV are simulated
    (COCOA's fiducial cut); response = summed energy of the topoclustered cells over the
    simulated particles' energy. Returns the per-event responses."""
    from hepjax import calo

    rng = np.random.default_rng(seed)
    sim = jax.jit(lambda k, q, e, h, f, m: sc.simulate_particles(k, GEO, q, e, h, f, mask=m,
                                                                 **options))  # fmt: skip
    cluster = jax.jit(lambda c: calo.topoclusters(GEO, c))
    out = []
    for i in range(n_events):
        eta, phi = rng.uniform(-3, 3), rng.uniform(-math.pi, math.pi)
        if pdg == 111:
            q, e, h, f = _pi0_gun(rng, energy, eta, phi)
        else:
            q, e, h, f = [int(rng.choice([211, -211]))], [energy], [eta], [phi]
        keep = [j for j in range(len(q)) if e[j] / math.cosh(h[j]) > 1.0]
        if not keep:
            continue
        args = _event([q[j] for j in keep], [e[j] for j in keep], [h[j] for j in keep],
                      [f[j] for j in keep])  # fmt: skip
        cells = sim(jax.random.key(seed * 100000 + i), *args)
        clustered = np.asarray(cluster(cells).cell_cluster) >= 0
        out.append(float(np.asarray(cells.energy)[clustered].sum()) / sum(e[j] for j in keep))
    return np.array(out)


def _pi0_gun(rng, energy, eta, phi):
    """The two photons of a pi0 decaying isotropically at the vertex (GeV, eta, phi)."""
    m = sc.PARTICLES[111][0]
    p = math.sqrt(energy**2 - m**2)
    n = np.array([math.cos(phi) / math.cosh(eta), math.sin(phi) / math.cosh(eta), math.tanh(eta)])
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    gamma, bg = energy / m, p / m
    par = (m / 2) * d @ n
    perp = (m / 2) * d - par * n
    photons = []
    for sign in (1, -1):
        e_lab = gamma * m / 2 + sign * bg * par
        vec = (sign * gamma * par + bg * m / 2) * n + sign * perp
        pt = math.hypot(vec[0], vec[1])
        photons.append((e_lab, math.asinh(vec[2] / pt), math.atan2(vec[1], vec[0])))
    return [22, 22], [ph[0] for ph in photons], [ph[1] for ph in photons], [ph[2] for ph in photons]


@pytest.mark.slow
def test_cocoa_response_of_20_gev_pions():
    """COCOA's own check (RunTest.cc) over its 100 events: pi0 0.77 +- 0.05 with spread
    0.16 +- 0.05 (a prediction), pi+- 0.50 +- 0.05 with spread 0.23 +- 0.05 (the invisible
    fraction is tuned to it). The tolerances are the issue's, widened by three standard
    errors of the 100-event samples."""
    from hepjax import calo

    pi0 = calo.response_stats(cocoa_response(111))
    pipm = calo.response_stats(cocoa_response(211, seed=1))
    print("pi0", pi0, "pi+-", pipm)
    for s, (mean, std) in ((pi0, (0.77, 0.16)), (pipm, (0.50, 0.23))):
        assert abs(s["mean"] - mean) < 0.05 + 3 * s["mean_err"], s
        assert abs(s["std"] - std) < 0.05 + 3 * s["std_err"], s
    assert pi0["mean"] - pipm["mean"] > 4 * math.hypot(pi0["mean_err"], pipm["mean_err"])
    assert pipm["std"] > pi0["std"]


def test_invisible_fraction_has_the_configured_mean_and_spread():
    """f_inv draws: Beta with the configured mean and standard deviation; bad values fail."""
    had = sc.HadronicShower()
    f = np.asarray(
        jax.vmap(lambda k: sc.sample_invisible_fraction(k, had))(
            jax.random.split(jax.random.key(7), 20000)
        ),
        np.float64,
    )
    n = f.size
    assert np.all((f >= 0) & (f <= 1))
    assert abs(f.mean() - had.invisible_mean) < 4 * f.std() / math.sqrt(n)
    m4 = np.mean((f - f.mean()) ** 4)
    assert abs(f.var() - had.invisible_sigma**2) < 4 * math.sqrt((m4 - f.var() ** 2) / n)
    with pytest.raises(ValueError, match="invisible_mean must lie in"):
        sc.HadronicShower(invisible_mean=1.2)
    with pytest.raises(ValueError, match="visibility must be"):
        sc.HadronicShower(visibility=(0.5, 0.0))


def test_charged_pion_response_rises_with_energy():
    """Visible fraction of pi+- showers (before clustering) rises with energy, as Groom's
    f_em = 1 - (E/E0)^(k-1) does (the invisible energy is a fraction of the rest)."""
    vis = {}
    for e in (5.0, 100.0):
        v = []
        for i in range(4):
            sp = _spots(jax.random.key(300 + i), [211] * P, [e] * P, [0.4] * P, [1.0] * P)
            v += list(np.asarray(sp.summary()["visible"], np.float64) / e)
        vis[e] = np.array(v)
    se = math.hypot(vis[5.0].std(), vis[100.0].std()) / math.sqrt(len(vis[5.0]))
    assert vis[100.0].mean() - vis[5.0].mean() > 3 * se
