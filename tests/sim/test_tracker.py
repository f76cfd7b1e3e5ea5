"""Tests of hepjax.sim.tracker: helix closed forms, material formulas, events, CSV, bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.physics import MUON_MASS, SILICON, bethe_bloch
from hepjax.sim import tracker

GEO = tracker.BarrelGeometry.default()
N_PART = 256  # one compiled shape for every event (as in tests/tracking/test_kalman.py)


@pytest.fixture(scope="module")
def event():
    k1, k2 = jax.random.split(jax.random.key(7))
    parts = tracker.particle_gun(k1, N_PART, pt=(1.0, 10.0), eta=(-2.0, 2.0), geometry=GEO)
    return parts, tracker.simulate_event(k2, GEO, parts, n_noise=40)


# -- helix ---------------------------------------------------------------------------


@pytest.mark.parametrize("charge", [1.0, -1.0])
def test_helix_circle_radius_and_z_linear_in_arc_length(charge):
    pt, eta, phi0, bz = 2.0, 0.7, 0.4, 2.0
    theta = 2 * math.atan(math.exp(-eta))
    p = pt * math.cosh(eta)
    qop = charge / p
    start = jnp.array([1.0, -2.0, 5.0])
    radius = pt / (0.299792458e-3 * bz)  # R[mm] = pT[GeV] / (0.3e-3 Bz[T])
    s = jnp.linspace(0.0, 3000.0, 7)
    pos, phi = jax.jit(
        jax.vmap(lambda si: tracker.helix_position(start, phi0, theta, qop, bz, si))
    )(s)
    # centre of the circle: start + n0 / kappa, n0 = (sin phi0, -cos phi0)
    kappa = charge / radius
    centre = start[:2] + jnp.array([math.sin(phi0), -math.cos(phi0)]) / kappa
    np.testing.assert_allclose(jnp.linalg.norm(pos[:, :2] - centre, axis=1), radius, rtol=1e-5)
    np.testing.assert_allclose(pos[:, 2], 5.0 + s / math.tan(theta), rtol=1e-5)
    np.testing.assert_allclose(phi, phi0 - kappa * s, rtol=1e-5, atol=1e-6)
    # a positive particle turns clockwise in +Bz (phi decreases)
    assert (phi[-1] < phi0) == (charge > 0)


def test_crossing_angle_from_origin():
    """From the origin, the turning angle to radius R is 2 asin(R / (2 rho))."""
    pt, bz, r = 1.5, 2.0, 500.0
    rho = pt / (0.299792458e-3 * bz)
    theta = 1.1
    qop = math.sin(theta) / pt
    prop = jax.jit(tracker.propagate_to_cylinder)
    pos, phi, path, reached = prop(jnp.zeros(3), 0.3, theta, qop, r, bz)
    a = 2 * math.asin(r / (2 * rho))
    assert bool(reached)
    np.testing.assert_allclose(float(jnp.hypot(pos[0], pos[1])), r, rtol=1e-6)
    np.testing.assert_allclose(float(phi), 0.3 - a, rtol=1e-6)
    np.testing.assert_allclose(float(path), rho * a / math.sin(theta), rtol=1e-5)
    # straight-track limit: the crossing is R times the direction
    pos, *_ = prop(jnp.zeros(3), 0.3, theta, 1e-9, r, bz)
    np.testing.assert_allclose(pos[:2], r * np.array([math.cos(0.3), math.sin(0.3)]), rtol=1e-5)


def test_looper_does_not_reach():
    pt, bz = 0.1, 2.0  # 2 rho = 334 mm < 500 mm
    *_, reached = jax.jit(tracker.propagate_to_cylinder)(
        jnp.zeros(3), 0.0, 1.2, 1.0 / pt, 500.0, bz
    )
    assert not bool(reached)


def test_bound_global_round_trip_and_vmap():
    params = jnp.array([[10.0, 3.0, 0.2, 1.0, 0.5], [-50.0, -30.0, 2.5, 2.0, -0.2]])
    r = 72.0
    back = jax.jit(jax.vmap(lambda p: tracker.global_to_bound(*tracker.bound_to_global(p, r), r)))(
        params
    )
    np.testing.assert_allclose(back, params, rtol=1e-5)
    out = jax.jit(jax.vmap(lambda p: tracker.transport(p, 72.0, 116.0, 2.0)[0]))(params)
    loop = jnp.stack([tracker.transport(p, 72.0, 116.0, 2.0)[0] for p in params])
    np.testing.assert_allclose(out, loop, rtol=1e-5)


# -- material --------------------------------------------------------------------------


def test_energy_loss_qop_is_the_mean_bethe_loss_in_silicon():
    # the material physics itself is tested in tests/physics/test_material.py
    with jax.enable_x64(True):
        p_new = 1.0 / float(tracker.energy_loss_qop(jnp.float64(1.0), 0.02))
        neg = float(tracker.energy_loss_qop(jnp.float64(-1.0), 0.02))
        # 2% of X0 of silicon (1.874 mm): ~0.8 MeV for a 1 GeV muon
        x0 = float(SILICON.radiation_length)
        de = 0.02 * x0 * float(bethe_bloch(jnp.float64(1.0), SILICON, mass=MUON_MASS))
    assert 0.7e-3 < de < 0.9e-3
    m = MUON_MASS
    e_new = math.sqrt(1.0 + m * m) - de
    np.testing.assert_allclose(p_new, math.sqrt(e_new**2 - m * m), rtol=1e-10)
    assert neg == -1.0 / p_new  # the sign of q/p is kept
    # the path through a layer grows as 1/cos of the incidence angle
    t = tracker.effective_thickness(0.01, 0.0, 0.0, math.pi / 2)
    np.testing.assert_allclose(float(t), 0.01, rtol=1e-6)
    t = tracker.effective_thickness(0.01, 0.0, math.pi / 3, math.pi / 2)
    np.testing.assert_allclose(float(t), 0.02, rtol=1e-6)


# -- events ----------------------------------------------------------------------------


def test_event_tables(event):
    _parts, ev = event
    h, t, m = ev.hits, ev.truth, ev.measurements
    assert ev.n_hits == len(t["hit_id"]) == len(m["hit_id"])
    np.testing.assert_array_equal(h["hit_id"], np.arange(1, ev.n_hits + 1))
    assert (t["particle_id"] == 0).sum() == 40
    # hits lie on their layers' cylinders
    lay = m["layer"]
    np.testing.assert_allclose(np.hypot(h["x"], h["y"]), np.asarray(GEO.radius)[lay], rtol=1e-5)
    np.testing.assert_array_equal(GEO.layer_index(h["volume_id"], h["layer_id"]), lay)
    n_mod = np.asarray(GEO.n_phi_modules) * np.asarray(GEO.n_z_modules)
    assert np.all((h["module_id"] >= 1) & (h["module_id"] <= n_mod[lay]))
    # particles table: nhits agrees with the truth table, weights sum to 1
    pid, counts = np.unique(t["particle_id"][t["particle_id"] > 0], return_counts=True)
    table = dict(zip(ev.particles["particle_id"], ev.particles["nhits"], strict=True))
    assert all(table[p] == c for p, c in zip(pid, counts, strict=True))
    np.testing.assert_allclose(t["weight"].sum(), 1.0)
    # |eta| < 2: every particle crosses at least 9 of the 10 layers (efficiency 0.99)
    assert np.median(ev.particles["nhits"]) >= 9


def test_smearing_widths(event):
    """Pixel residuals (hit - truth) have the layer resolutions (4 standard errors)."""
    _, ev = event
    m, t = ev.measurements, ev.truth
    sel = (t["particle_id"] > 0) & (m["ndim"] == 2)
    r = np.asarray(GEO.radius)[m["layer"][sel]]
    d0 = r * (
        (np.arctan2(ev.hits["y"], ev.hits["x"])[sel] - np.arctan2(t["ty"], t["tx"])[sel] + np.pi)
        % (2 * np.pi)
        - np.pi
    )
    d1 = ev.hits["z"][sel] - t["tz"][sel]
    n = sel.sum()
    for d, sigma in ((d0, 0.015), (d1, 0.05)):
        assert abs(d.std() / sigma - 1) < 4 / math.sqrt(2 * n)
    # strips: the residual across the strip, u, has sigma0
    sel = (t["particle_id"] > 0) & (m["ndim"] == 1)
    lay = m["layer"][sel]
    r = np.asarray(GEO.radius)[lay]
    a = np.asarray(GEO.stereo)[lay]
    dphi = (m["loc0"][sel] / r - np.arctan2(t["ty"], t["tx"])[sel] + np.pi) % (2 * np.pi) - np.pi
    du = np.cos(a) * r * dphi + np.sin(a) * (m["loc1"][sel] - t["tz"][sel])
    pull = du / np.asarray(GEO.sigma0)[lay]
    assert abs(pull.std() - 1) < 4 / math.sqrt(2 * sel.sum())


def test_csv_round_trip(event, tmp_path):
    _, ev = event
    paths = ev.write_csv(tmp_path, event_id=3)
    assert next(p.name for p in paths) == "event000000003-hits.csv"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    back = tracker.Event.read_csv(tmp_path, event_id=3)
    for name in ("hits", "truth", "particles", "measurements"):
        for col, val in getattr(ev, name).items():
            np.testing.assert_array_equal(getattr(back, name)[col], val)
    with pytest.raises(FileNotFoundError, match="missing hits table"):
        tracker.Event.read_csv(tmp_path, event_id=4)


def test_track_and_layer_arrays(event):
    _, ev = event
    with jax.enable_x64(True):
        tracks = tracker.track_arrays(ev, GEO, min_hits=3)
        layers = tracker.layer_arrays(ev, GEO)
    m = tracks.measurements
    assert m.loc.shape == (len(tracks.particle_id), GEO.n_layers, 2)
    assert m.loc.dtype == jnp.float64
    np.testing.assert_array_equal(m.mask, tracks.true_mask)
    # pixels measure both coordinates near the truth, strips only u
    d = np.asarray(m.loc - tracks.true_params[..., :2])[np.asarray(m.mask)]
    assert np.abs(d[:, 1][np.asarray(m.is_2d)[np.asarray(m.mask)]]).max() < 1.0
    assert int(layers.mask.sum()) == ev.n_hits
    assert layers.mask.shape[0] == GEO.n_layers


def test_pileup_spread():
    parts = tracker.pileup_particles(jax.random.key(3), 400, geometry=GEO)
    pt = np.asarray(parts.pt)
    assert pt.min() >= 0.5 and pt.max() <= 50.0
    # power law with index 3 from 0.5: median 0.5 * sqrt(2)
    assert abs(np.median(pt) / (0.5 * math.sqrt(2)) - 1) < 0.1
    assert np.abs(np.asarray(parts.eta)).max() <= 2.0


# -- bad input ---------------------------------------------------------------------------


def test_bad_gun_inputs():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="pt must be > 0"):
        tracker.particle_gun(key, 5, pt=(0.0, 1.0))
    with pytest.raises(ValueError, match="beyond the detector"):
        tracker.particle_gun(key, 5, eta=(-5.0, 5.0), geometry=GEO)
    with pytest.raises(ValueError, match="charge must be"):
        tracker.particle_gun(key, 5, charge=2)
    with pytest.raises(ValueError, match="pt_min < pt_max"):
        tracker.pileup_particles(key, 5, pt_min=0.0)


def test_bad_particles_raise_or_skip():
    mom = jnp.array(
        [[1.0, 0.0, 0.1], [0.0, 0.0, 1.0], [0.01, 0.0, 5.0]] + [[0.0, 2.0, 0.0]] * (N_PART - 3)
    )
    parts = tracker.Particles(vertex=jnp.zeros((N_PART, 3)), momentum=mom, charge=jnp.ones(N_PART))
    with pytest.raises(ValueError, match=r"pt_not_positive: particles \[1\]"):
        tracker.simulate_event(jax.random.key(0), GEO, parts)
    ev = tracker.simulate_event(jax.random.key(0), GEO, parts, n_noise=40, on_invalid="skip")
    rep = ev.report["invalid_particles"]
    assert rep["pt_not_positive"] == [1] and rep["eta_beyond_detector"] == [2]
    assert 2 not in ev.particles["particle_id"] and 3 not in ev.particles["particle_id"]
    assert not np.isin(ev.truth["particle_id"], [2, 3]).any()


def test_validate_event(event):
    _, ev = event
    assert tracker.validate_event(ev) is ev
    hits = {k: v.copy() for k, v in ev.hits.items()}
    hits["x"][[0, 5]] = np.nan
    meas = {k: v.copy() for k, v in ev.measurements.items()}
    meas["var_u"][7] = -1.0
    bad = tracker.Event(hits, ev.truth, ev.particles, meas)
    with pytest.raises(ValueError, match=r"nan_coordinates \(hit_id \[1, 6\]\)"):
        tracker.validate_event(bad)
    with pytest.raises(ValueError, match="covariance_not_positive_definite"):
        tracker.validate_event(bad)
    good = tracker.validate_event(bad, on_invalid="skip")
    assert good.n_hits == ev.n_hits - 3
    assert good.report["invalid_hits"]["covariance_not_positive_definite"] == [8]
    empty = tracker.Event(
        {k: v[:0] for k, v in ev.hits.items()},
        {k: v[:0] for k, v in ev.truth.items()},
        ev.particles,
        {k: v[:0] for k, v in ev.measurements.items()},
    )
    with pytest.raises(ValueError, match="empty event"):
        tracker.validate_event(empty)


def test_mismatched_tables(event):
    _, ev = event
    truth = {k: v[:-1] for k, v in ev.truth.items()}
    with pytest.raises(ValueError, match="hits and truth tables are mismatched"):
        tracker.Event(ev.hits, truth, ev.particles, ev.measurements)
    truth = {k: v.copy() for k, v in ev.truth.items()}
    truth["hit_id"] = truth["hit_id"][::-1].copy()
    with pytest.raises(ValueError, match="hit_id columns differ"):
        tracker.Event(ev.hits, truth, ev.particles, ev.measurements)
    with pytest.raises(ValueError, match="missing columns"):
        tracker.Event({"hit_id": ev.hits["hit_id"]}, ev.truth, ev.particles, ev.measurements)


def test_bad_geometry():
    with pytest.raises(ValueError, match="strictly increasing"):
        tracker.BarrelGeometry(
            radius=np.array([50.0, 30.0]),
            half_length=np.ones(2) * 100,
            thickness=np.zeros(2),
            sigma0=np.ones(2) * 0.01,
            sigma1=np.ones(2) * 0.01,
            stereo=np.zeros(2),
            efficiency=np.ones(2),
            bz=2.0,
            is_strip=[False, False],
        )
    with pytest.raises(ValueError, match="efficiency must lie in"):
        tracker.BarrelGeometry.default(efficiency=1.5)
