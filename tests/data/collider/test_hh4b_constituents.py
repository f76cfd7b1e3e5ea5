"""The hh4b_constituents data set: X->HH->4b and QCD events of large-radius jets with
their constituents (Pythia 8 + FastJet, a few events, MPI off), and its cached loader
hepjax.jets.hh4b_events."""

import numpy as np
import pytest

from hepjax import jets
from hepjax.data import collider

LIGHT = ("PartonLevel:MPI = off",)
N = 12


@pytest.fixture(scope="module")
def events():
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    return {
        name: collider.generate("hh4b_constituents", name, N, seed=5, extra_settings=LIGHT)
        for name in ("qcd", "hh4b")
    }


def _eta(px, py, pz):
    pt = np.hypot(px, py)
    return np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))


def test_layout_and_cuts(events):
    cuts = collider.DEFAULT_CUTS["hh4b_constituents"]
    j, p = int(cuts["max_jets"]), int(cuts["max_particles"])
    for label, name in enumerate(("qcd", "hh4b")):
        d = events[name]
        assert d["particle_features"].shape == (N, j, p, 3)
        assert d["particle_four_momenta"].shape == (N, j, p, 4)
        assert d["particle_mask"].shape == (N, j, p) and d["jet_mask"].shape == (N, j)
        assert (d["label"] == label).all()
        jm, jf = d["jet_mask"], d["jet_features"]
        assert (jm.sum(1) >= cuts["njets_min"]).all()
        assert (jf[..., 0][jm] > cuts["pt_min"]).all()
        assert (np.abs(jf[..., 1][jm]) < cuts["eta_max"]).all()
        assert (np.diff(np.where(jm, jf[..., 0], 0.0), axis=1) <= 0).all()  # pT-ordered jets
        # real jets have constituents, padded jets none; jet_features counts all of them
        n = d["particle_mask"].sum(2)
        assert (n[jm] > 0).all() and (n[~jm] == 0).all()
        np.testing.assert_array_equal(n[jm], np.minimum(jf[..., 4][jm], p))


def test_features_agree_with_four_momenta(events):
    for d in events.values():
        m = d["particle_mask"]
        p4 = d["particle_four_momenta"].astype(np.float64)
        x = d["particle_features"]
        pt = np.hypot(p4[..., 1], p4[..., 2])
        np.testing.assert_allclose(x[..., 2][m], np.log(pt[m]), rtol=1e-5, atol=1e-5)
        jet_eta = d["jet_features"][..., 1][:, :, None]
        deta = _eta(p4[..., 1], p4[..., 2], p4[..., 3]) - jet_eta
        np.testing.assert_allclose(x[..., 0][m], deta[m], atol=2e-4)
        # constituents are ordered by pT, and almost all lie within the radius in (eta, phi)
        # (anti-kT's distance uses the rapidity: soft hadrons can sit further out in eta)
        assert (np.diff(np.where(m, pt, 0.0), axis=-1) <= 1e-3).all()
        assert np.quantile(np.hypot(x[..., 0], x[..., 1])[m], 0.95) < 1.0
        # where all constituents are kept, their four-momenta add up to the jet's mass
        full = d["jet_mask"] & (d["jet_features"][..., 4] <= m.shape[-1])
        tot = p4.sum(2)[full]
        mass = np.sqrt(np.maximum(tot[:, 0] ** 2 - (tot[:, 1:] ** 2).sum(1), 0.0))
        np.testing.assert_allclose(mass, d["jet_features"][..., 3][full], rtol=1e-3, atol=0.5)


def test_higgs_jets_only_in_signal_and_near_the_higgs_mass(events):
    assert not events["qcd"]["jet_higgs"].any()
    sig = events["hh4b"]
    higgs = sig["jet_higgs"] & sig["jet_mask"]
    # m_H2 = 1.5 TeV: most events have a Higgs boson inside a large-radius jet
    assert higgs.any(1).mean() > 0.5
    masses = sig["jet_features"][..., 3][higgs]
    assert 95.0 < np.median(masses) < 145.0
    qcd_masses = events["qcd"]["jet_features"][..., 3][events["qcd"]["jet_mask"]]
    assert np.median(qcd_masses) < np.median(masses)


def test_events_loader_layout_and_cache(tmp_path):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    kw = dict(seed=2, max_jets=3, max_particles=20, extra_settings=LIGHT, cache_dir=tmp_path)
    data = jets.hh4b_events(6, **kw)
    assert isinstance(data, jets.Events) and len(data) == 12
    assert data.x.shape == (12, 3, 20, 3) and data.high_level.shape == (12, 3, 3)
    assert np.bincount(data.labels).tolist() == [6, 6]
    pt = np.hypot(data.four_momenta[..., 1], data.four_momenta[..., 2])
    np.testing.assert_allclose(data.x[..., 2][data.mask], np.log(pt[data.mask]), rtol=1e-5)
    # high-level features: log pT above log 300 GeV on real jets, zero on padded ones
    assert (data.high_level[..., 0][data.jet_mask] > np.log(300.0)).all()
    assert (data.high_level[~data.jet_mask] == 0).all()
    again = jets.hh4b_events(4, **kw)  # fewer events: read from the cache
    assert len(list((tmp_path / "jets-foundation").glob("hh4b-*.h5"))) == 2
    assert np.bincount(again.labels).tolist() == [4, 4]
    assert {tuple(r) for r in again.high_level[:, 0]} <= {tuple(r) for r in data.high_level[:, 0]}


def test_events_loader_bad_input():
    with pytest.raises(ValueError, match="max_jets must be at most 5"):
        jets.hh4b_events(3, max_jets=6)
    with pytest.raises(ValueError, match="max_particles must be at most 100"):
        jets.hh4b_events(3, max_particles=101)
    with pytest.raises(ValueError, match="n must be a positive int"):
        jets.hh4b_events(0)


def test_make_dataset_shards_resume_and_plot(tmp_path):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    pytest.importorskip("matplotlib")
    kw = dict(n=4, shard_size=2, seed=1, extra_settings=LIGHT, progress=False, batch_events=10)
    files = collider.make_dataset("hh4b_constituents", tmp_path, **kw)
    assert sorted(p.name for p in files.values()) == ["hh4b.hdf5", "qcd.hdf5"]
    import h5py

    with h5py.File(files["hh4b"], "r") as f:
        assert f["particle_features"].shape == (4, 5, 100, 3)
        first = f["particle_four_momenta"][...]
    files["hh4b"].unlink()
    again = collider.make_dataset("hh4b_constituents", tmp_path, **kw)  # merged from shards
    with h5py.File(again["hh4b"], "r") as f:
        np.testing.assert_array_equal(f["particle_four_momenta"][...], first)
    (png,) = collider.plot_dataset(tmp_path)
    assert png.name == "hh4b_constituents.png" and png.stat().st_size > 0
