"""Tests of hepjax.sim.calo: COCOA's geometry, materials, cell ids and vertices, JSON,
the deposit-to-cell sum with sampling and noise, and bad input."""

import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.sim import calo as sc

GEO = sc.CaloGeometry.cocoa()
SMALL = sc.CaloGeometry.cocoa(scale=8)

# PDG lengths in mm: X0 / rho and lambda_int / rho
X0_PB, X0_LAR = 10 * 6.37 / 11.35, 10 * 19.55 / 1.396
LAM_FE, LAM_SC = 10 * 132.1 / 7.874, 10 * 81.8 / 1.032


# -- materials and the COCOA default ------------------------------------------------------


def test_mixture_lengths_are_volume_weighted_harmonic_means():
    x0, lam, rho = sc.mixture_lengths(("Liquid_Argon", "G4_Pb"), (4.6, 1.2))
    v_pb = 1.2 / 5.8
    assert x0 == pytest.approx(1.0 / (v_pb / X0_PB + (1 - v_pb) / X0_LAR), rel=1e-12)
    assert rho == pytest.approx(v_pb * 11.35 + (1 - v_pb) * 1.396, rel=1e-12)
    assert lam > x0
    # a pure material is itself
    assert sc.mixture_lengths(("iron",), (1.0,))[1] == pytest.approx(LAM_FE)


def test_cocoa_default_numbers():
    assert GEO.n_layers == 6
    assert GEO.n_eta == (256, 256, 128, 64, 64, 32) == GEO.n_phi
    assert GEO.n_cells == 2 * 256**2 + 128**2 + 2 * 64**2 + 32**2
    assert GEO.noise == pytest.approx((0.013, 0.034, 0.041, 0.075, 0.050, 0.025))
    assert GEO.sampling_fraction == (0.07, 0.07, 0.07, 0.025, 0.025, 0.025)
    assert (GEO.eta_barrel, GEO.eta_max, GEO.inner_radius, GEO.field) == (1.5, 3.0, 1500.0, 3.8)
    x0, _, _ = sc.mixture_lengths(("Liquid_Argon", "G4_Pb"), (4.6, 1.2))
    v_fe = 1.1 / 2.1
    lam = 1.0 / (v_fe / LAM_FE + (1 - v_fe) / LAM_SC)
    np.testing.assert_allclose(
        GEO.thickness, [4 * x0, 16 * x0, 2 * x0, 1.5 * lam, 4.1 * lam, 1.8 * lam], rtol=1e-9
    )
    r_in, r_out = GEO.r_inner, GEO.r_outer
    assert r_in[0] == 1500.0
    np.testing.assert_allclose(r_in[1:3], r_out[:2])
    assert r_in[3] == pytest.approx(r_out[2] + 80.0)  # COCOA's Layer_gap
    np.testing.assert_allclose(r_in[4:], r_out[3:5])
    assert GEO.z_endcap == pytest.approx(1500 * math.sinh(1.5))  # 3193.9 mm as in COCOA
    assert SMALL.n_eta == (32, 32, 16, 8, 8, 4)


# -- ids, centres, vertices --------------------------------------------------------------


def test_cell_id_and_index_are_inverse_and_jit(rng):
    cells = rng.integers(0, GEO.n_cells, 500)
    layer, ieta, iphi = jax.jit(GEO.cell_index)(cells)
    assert np.array_equal(np.asarray(jax.jit(GEO.cell_id)(layer, ieta, iphi)), cells)
    t = GEO.cells()
    assert np.array_equal(np.asarray(layer), t.layer[cells])
    assert np.array_equal(np.asarray(ieta), t.ieta[cells])
    assert np.array_equal(np.asarray(iphi), t.iphi[cells])
    assert int(GEO.cell_id(2, 5, 7)) == 2 * 256**2 + 5 * 128 + 7


def test_cell_centres_lie_on_their_layer_and_direction():
    t = GEO.cells()
    for layer in range(GEO.n_layers):
        sel = t.layer == layer
        n = GEO.n_eta[layer]
        deta = 6.0 / n
        expected_eta = -3.0 + (np.arange(n) + 0.5) * deta
        np.testing.assert_allclose(t.eta[sel].reshape(n, n)[:, 0], expected_eta, atol=1e-6)
        np.testing.assert_allclose(t.eta_hi[sel] - t.eta_lo[sel], deta, rtol=1e-4)
        np.testing.assert_allclose(t.phi_hi[sel] - t.phi_lo[sel], 2 * math.pi / n, rtol=1e-4)
        barrel = sel & ~t.endcap
        np.testing.assert_allclose(t.rho[barrel], GEO.r_mid[layer], rtol=1e-6)
        z_mid = GEO.z_endcap + GEO.r_mid[layer] - 1500.0
        np.testing.assert_allclose(np.abs(t.z[sel & t.endcap]), z_mid, rtol=1e-6)
    assert np.all(np.abs(t.eta[~t.endcap]) <= 1.5) and np.all(np.abs(t.eta[t.endcap]) > 1.5)
    # the centre's direction is the cell's (eta, phi)
    np.testing.assert_allclose(np.arcsinh(t.z / t.rho), t.eta, atol=2e-5)
    np.testing.assert_allclose(np.arctan2(t.y, t.x), t.phi, atol=2e-5)
    assert np.all((t.phi > -math.pi) & (t.phi <= math.pi))


def test_cell_vertices_are_the_eight_corners():
    v = SMALL.cell_vertices().astype(float)
    t = SMALL.cells()
    assert v.shape == (SMALL.n_cells, 8, 3)
    rho, z = np.hypot(v[..., 0], v[..., 1]), v[..., 2]
    eta = np.arcsinh(z / rho)
    phi = np.mod(np.arctan2(v[..., 1], v[..., 0]), 2 * math.pi)
    for k in range(8):
        s_phi, s_r, s_eta = (k >> 2) & 1, (k >> 1) & 1, k & 1
        np.testing.assert_allclose(eta[:, k], np.where(s_eta, t.eta_hi, t.eta_lo), atol=1e-4)
        want_phi = np.mod(np.where(s_phi, t.phi_hi, t.phi_lo), 2 * math.pi)
        dphi = np.mod(phi[:, k] - want_phi + math.pi, 2 * math.pi) - math.pi
        np.testing.assert_allclose(dphi, 0.0, atol=1e-5)
        radial = np.where(s_r, SMALL.r_outer[t.layer], SMALL.r_inner[t.layer])
        b = ~t.endcap
        np.testing.assert_allclose(rho[b, k], radial[b], rtol=1e-5)
        zface = SMALL.z_endcap + radial - 1500.0
        np.testing.assert_allclose(np.abs(z[~b, k]), zface[~b], rtol=1e-5)


def test_locate_finds_the_cell_containing_a_direction(rng):
    layer = rng.integers(0, 6, 2000)
    eta = rng.uniform(-3.2, 3.2, 2000)
    phi = rng.uniform(-7, 7, 2000)
    cell = np.asarray(jax.jit(GEO.locate)(layer, eta, phi))
    inside = np.abs(eta) < 3.0
    assert np.all(cell[~inside] == -1) and np.all(cell[inside] >= 0)
    t = GEO.cells()
    c = cell[inside]
    assert np.array_equal(t.layer[c], layer[inside])
    assert np.all((t.eta_lo[c] - 1e-5 <= eta[inside]) & (eta[inside] <= t.eta_hi[c] + 1e-5))
    p = np.mod(phi[inside], 2 * math.pi)
    assert np.all((t.phi_lo[c] - 1e-5 <= p) & (p <= t.phi_hi[c] + 1e-5))
    assert int(GEO.locate(6, 0.0, 0.0)) == -1 and int(GEO.locate(0, jnp.nan, 0.0)) == -1


# -- JSON ------------------------------------------------------------------------------


def test_json_round_trip_is_atomic_and_exact(tmp_path):
    path = GEO.to_json(tmp_path / "geo.json")
    assert [p.name for p in tmp_path.iterdir()] == ["geo.json"]
    back = sc.CaloGeometry.from_json(path)
    assert back == GEO and hash(back) == hash(GEO)
    cfg = json.loads(path.read_text())
    assert cfg["layers"][3]["gap"] == 80.0 and cfg["layers"][0]["materials"] == [
        "Liquid_Argon",
        "G4_Pb",
    ]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        GEO.to_json(tmp_path / "missing" / "geo.json")
    with pytest.raises(FileNotFoundError, match="no geometry JSON"):
        sc.CaloGeometry.from_json(tmp_path / "nope.json")


# -- bad input -------------------------------------------------------------------------


def _layer(name, n, **kw):
    spec = dict(depth=1.0, depth_unit="X0", materials=("lead",), volume_ratio=(1.0,), noise=0.01)
    spec.update(kw)
    return sc.CaloLayer(name, n, n, **spec)


def test_bad_geometries_fail_with_clear_messages():
    with pytest.raises(ValueError, match="inconsistent granularities.*'B'"):
        sc.CaloGeometry([_layer("A", 256), _layer("B", 100)])
    with pytest.raises(ValueError, match="inconsistent granularities"):
        sc.CaloGeometry([_layer("A", 64), _layer("B", 128)])  # finer behind coarser
    with pytest.raises(ValueError, match="unknown material 'unobtainium'"):
        _layer("A", 8, materials=("unobtainium",))
    with pytest.raises(ValueError, match="unknown material"):
        sc.calo_material("G4_Unobtainium")
    with pytest.raises(ValueError, match="depth_unit"):
        _layer("A", 8, depth_unit="cm")
    with pytest.raises(ValueError, match="n_phi must be >= 3"):
        _layer("A", 2)
    with pytest.raises(ValueError, match="sampling_fraction"):
        _layer("A", 8, sampling_fraction=0.0)
    with pytest.raises(ValueError, match="volume_ratio"):
        _layer("A", 8, materials=("lead", "iron"), volume_ratio=(1.0,))
    with pytest.raises(ValueError, match="unique"):
        sc.CaloGeometry([_layer("A", 8), _layer("A", 8)])
    with pytest.raises(ValueError, match="eta_barrel"):
        sc.CaloGeometry([_layer("A", 8)], eta_barrel=3.5)
    cfg = SMALL.to_dict()
    cfg["layers"][0]["colour"] = "red"
    with pytest.raises(ValueError, match="unknown keys \\['colour'\\]"):
        sc.CaloGeometry.from_dict(cfg)


# -- deposits ---------------------------------------------------------------------------


def test_deposits_sum_into_cells_by_index(key, rng):
    s = 3000
    layer = rng.integers(0, 6, s)
    eta, phi = rng.uniform(-3.3, 3.3, s), rng.uniform(-math.pi, math.pi, s)
    energy = rng.exponential(1.0, s).astype(np.float32)
    energy[:100] = 0.0  # padding
    cells = jax.jit(
        lambda k: sc.deposit_energy(k, SMALL, layer, eta, phi, energy, noise=False, sampling=False)
    )(key)
    cid = np.asarray(SMALL.locate(layer, eta, phi))
    expected = np.zeros(SMALL.n_cells)
    np.add.at(expected, cid[cid >= 0], energy[cid >= 0])
    np.testing.assert_allclose(np.asarray(cells.energy), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(cells.energy, cells.signal)
    out = (cid < 0) & (energy > 0)
    assert int(cells.outside) == out.sum() > 0
    assert float(cells.outside_energy) == pytest.approx(energy[out].sum(), rel=1e-5)


def test_sampling_keeps_the_mean_and_has_binomial_spread(key):
    f, n_spots, e = 0.07, 400, 0.01
    layer = jnp.zeros(n_spots, jnp.int32)
    eta, phi = jnp.full(n_spots, 0.3), jnp.full(n_spots, 1.0)
    energy = jnp.full(n_spots, e)
    cell = int(SMALL.locate(0, 0.3, 1.0))

    def one(k):
        return sc.deposit_energy(k, SMALL, layer, eta, phi, energy, noise=False).signal[cell]

    x = np.asarray(jax.vmap(one)(jax.random.split(key, 4000)), np.float64)
    total = n_spots * e
    assert abs(x.mean() - total) < 4 * x.std(ddof=1) / math.sqrt(x.size)
    var = n_spots * e**2 * (1 - f) / f  # kept ~ Binomial(n, f), each scaled by e/f
    # the sample variance's standard error from the fourth central moment
    m4 = np.mean((x - x.mean()) ** 4)
    se_var = math.sqrt((m4 - x.var() ** 2) / x.size)
    assert abs(x.var(ddof=1) - var) < 4 * se_var


def test_noise_has_the_configured_width_per_layer(key):
    cells = sc.deposit_energy(
        key, GEO, jnp.zeros(1, jnp.int32), jnp.zeros(1), jnp.zeros(1), jnp.zeros(1)
    )
    e = np.asarray(cells.energy, np.float64)
    for layer, (a, b) in enumerate(zip(GEO.offsets[:-1], GEO.offsets[1:], strict=True)):
        x = e[a:b]
        sigma = GEO.noise[layer]
        assert abs(x.mean()) < 4 * sigma / math.sqrt(x.size)
        assert abs(x.std() / sigma - 1) < 4 / math.sqrt(2 * x.size)
    assert np.all(np.asarray(cells.signal) == 0)


def test_bad_deposits_fail_with_clear_messages(key):
    one = jnp.ones(2)
    lay = jnp.zeros(2, jnp.int32)
    with pytest.raises(Exception, match="NaN deposits"):
        sc.deposit_energy(key, SMALL, lay, one, one, jnp.array([1.0, jnp.nan]))
    with pytest.raises(Exception, match="NaN deposits"):
        jax.jit(lambda e: sc.deposit_energy(key, SMALL, lay, one, one, e))(jnp.array([jnp.nan, 1]))
    with pytest.raises(Exception, match=">= 0"):
        sc.deposit_energy(key, SMALL, lay, one, one, jnp.array([1.0, -1.0]))
    with pytest.raises(Exception, match="NaN eta or phi"):
        sc.deposit_energy(key, SMALL, lay, jnp.array([0.0, jnp.nan]), one, one)
    with pytest.raises(Exception, match="outside the detector"):
        sc.deposit_energy(key, SMALL, lay, jnp.array([0.0, 3.5]), one, one, outside="error")
    with pytest.raises(ValueError, match="outside must be one of"):
        sc.deposit_energy(key, SMALL, lay, one, one, one, outside="drop")
    # shapes and dtypes: our own check, or jaxtyping's when runtime checking is on
    with pytest.raises((ValueError, TypeError), match="energy"):
        sc.deposit_energy(key, SMALL, lay, one, one, jnp.ones(3))
    with pytest.raises(TypeError, match="layer"):
        sc.deposit_energy(key, SMALL, one, one, one, one)
    with pytest.raises(ValueError, match="cells but the geometry"):
        sc.CellEnergies.zeros(SMALL).check(GEO)
    assert isinstance(sc.CellEnergies.zeros(SMALL), eqx.Module)
