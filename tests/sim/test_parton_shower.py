import jax
import numpy as np
import pytest

from hepjax.data import formats
from hepjax.sim import parton_shower as ps

N = 400


@pytest.fixture(scope="module")
def jets():
    key = jax.random.key(7)
    return {t: ps.toy_shower_jets(jax.random.fold_in(key, i), t, N) for i, t in enumerate("gqtwz")}


def _mean_se(x):
    x = np.asarray(x, np.float64)
    return x.mean(), x.std(ddof=1) / np.sqrt(x.size)


def test_layout(jets):
    for d in jets.values():
        pf, jf = d["particle_features"], d["jet_features"]
        assert pf.shape == (N, 30, 4) and pf.dtype == np.float32
        assert jf.shape == (N, 4) and jf.dtype == np.float32
        mask = pf[..., 3]
        assert set(np.unique(mask)) <= {0.0, 1.0}
        np.testing.assert_array_equal(mask.sum(1), jf[:, 3])
        # constituents sorted by pT, inside the jet radius; padding zero
        pt = pf[..., 2]
        assert (np.diff(pt, axis=1) <= 1e-7).all()
        assert (pf[mask == 0] == 0).all()
        assert np.quantile(np.hypot(pf[..., 0], pf[..., 1])[mask == 1], 0.999) < 0.8
        np.testing.assert_allclose(jf[:, 0], 1000.0, rtol=0.2)


def test_jet_features_agree_with_constituents(jets):
    # rebuild the jet from (etarel, phirel, ptrel): pT, eta and mass must match
    for d in jets.values():
        pf, jf = d["particle_features"].astype(np.float64), d["jet_features"].astype(np.float64)
        pt = pf[..., 2] * jf[:, :1]
        eta = pf[..., 0] + jf[:, 1:2]
        px, py = pt * np.cos(pf[..., 1]), pt * np.sin(pf[..., 1])
        pz, e = pt * np.sinh(eta), pt * np.cosh(eta)
        tot = [np.sum(v * pf[..., 3], axis=1) for v in (e, px, py, pz)]
        mass = np.sqrt(np.maximum(tot[0] ** 2 - tot[1] ** 2 - tot[2] ** 2 - tot[3] ** 2, 0))
        np.testing.assert_allclose(np.hypot(tot[1], tot[2]), jf[:, 0], rtol=1e-3)
        np.testing.assert_allclose(mass, jf[:, 2], rtol=2e-2, atol=0.5)


@pytest.mark.slow
def test_jetnet_150_particle_variant(tmp_path):
    d = ps.toy_shower_jets(jax.random.key(5), "g", 50, max_particles=150)
    assert d["particle_features"].shape == (50, 150, 4)
    path = formats.write_jetnet(tmp_path / "g150.hdf5", **d)
    back = formats.read_jetnet(path, num_particles=150)
    np.testing.assert_array_equal(back["particle_features"], d["particle_features"])


@pytest.mark.parametrize(("jet_type", "mass"), [("t", 173.0), ("w", 80.4), ("z", 91.19)])
def test_mass_peaks(jets, jet_type, mass):
    m = jets[jet_type]["jet_features"][:, 2]
    hist, edges = np.histogram(m, bins=np.arange(0.0, 260.0, 4.0))
    peak = 0.5 * (edges[np.argmax(hist)] + edges[np.argmax(hist) + 1])
    assert abs(peak - mass) < 0.05 * mass
    assert abs(np.median(m) - mass) < 0.05 * mass


def test_multiplicities_ordered(jets):
    mult = {t: _mean_se(d["jet_features"][:, 3]) for t, d in jets.items()}
    for hi, lo in [("g", "q"), ("t", "w"), ("t", "q")]:
        diff = mult[hi][0] - mult[lo][0]
        se = np.hypot(mult[hi][1], mult[lo][1])
        assert diff > 3 * se, (hi, lo, mult)


def test_gluon_jets_heavier_than_quark_jets(jets):
    (mg, sg), (mq, sq) = (_mean_se(jets[t]["jet_features"][:, 2]) for t in "gq")
    assert mg - mq > 4 * np.hypot(sg, sq)


def test_deterministic_per_key():
    a = ps.toy_shower_jets(jax.random.key(3), "t", N)
    b = ps.toy_shower_jets(jax.random.key(3), "t", N)
    c = ps.toy_shower_jets(jax.random.key(4), "t", N)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["particle_features"], c["particle_features"])


def test_jetnet_round_trip(tmp_path, jets):
    d = jets["t"]
    path = formats.write_jetnet(tmp_path / "t.hdf5", d["particle_features"], d["jet_features"])
    back = formats.read_jetnet(path, num_particles=30)
    for k in d:
        np.testing.assert_array_equal(back[k], d[k])


@pytest.mark.slow  # default suite time budget: runs in make test-slow
def test_lhco_dijets_signal_vs_background():
    ev = ps.toy_lhco_dijets(jax.random.key(11), 300, capacity=32)
    assert set(ev) == set(ps.LHCO_TOY_FIELDS)
    sig, bkg = ev["label"] == 1, ev["label"] == 0
    assert 100 < sig.sum() < 200
    mj2 = ev["mj1"] + ev["delta_mj"]
    assert abs(np.median(ev["mj1"][sig]) - 100.0) < 10.0
    assert abs(np.median(mj2[sig]) - 500.0) < 50.0
    assert abs(np.median(ev["mjj"][sig]) - 3500.0) < 175.0
    # signal jets (X, Y -> qq) are two-prong; QCD jets are not
    for col in ("tau21_j1", "tau21_j2"):
        (ms, ss), (mb, sb) = _mean_se(ev[col][sig]), _mean_se(ev[col][bkg])
        assert mb - ms > 4 * np.hypot(ss, sb), col


def test_bad_input(key):
    with pytest.raises(ValueError, match="jet_type must be one of"):
        ps.toy_shower_jets(key, "x", 3)
    with pytest.raises(ValueError, match="num_jets must be a positive int"):
        ps.toy_shower_jets(key, "q", 0)
    with pytest.raises(ValueError, match="z_min"):
        ps.toy_shower_jets(key, "q", 2, z_min=0.7)
    with pytest.raises(ValueError, match="num_events must be a positive int"):
        ps.toy_lhco_dijets(key, -1)
    with pytest.raises(ValueError, match="m_x \\+ m_y < m_wprime"):
        ps.toy_lhco_dijets(key, 2, m_x=3000.0, m_y=600.0)
