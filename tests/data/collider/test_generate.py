"""Physics of the Pythia 8 + FastJet generators at small n (MPI off where the check allows).

Light settings: multiparton interactions off ("PartonLevel:MPI = off") make
Pythia 2-8x faster and remove the underlying-event mass shift, which is what
the mass-peak checks are about; everything else is the default set-up.
"""

import sys

import numpy as np
import pytest

from hepjax.data import collider

HEP_REASON = "Pythia generation needs the hep extra: pip install 'hepjax[hep]'"
LIGHT = ("PartonLevel:MPI = off",)


@pytest.fixture(scope="module")
def hep():
    pytest.importorskip("pythia8mc", reason=HEP_REASON)
    pytest.importorskip("fastjet", reason=HEP_REASON)


def _mode(x, lo, hi, width):
    h, edges = np.histogram(x, bins=np.arange(lo, hi + width, width))
    return edges[np.argmax(h)] + width / 2


@pytest.fixture(scope="module")
def top150(hep):
    return collider.generate("jetnet", "t", 120, seed=1, particles=150, extra_settings=LIGHT)


@pytest.fixture(scope="module")
def quark150(hep):
    return collider.generate("jetnet", "q", 60, seed=1, particles=150, extra_settings=LIGHT)


@pytest.fixture(scope="module")
def wjets(hep):
    return collider.generate("jetnet", "w", 120, seed=1, extra_settings=LIGHT)


@pytest.fixture(scope="module")
def lhco(hep):
    return {
        name: collider.generate("lhco", name, 40, seed=2, extra_settings=LIGHT)
        for name in ("signal", "background")
    }


def test_top_mass_peaks_near_173(top150):
    mass = top150["jet_features"][:, 2]
    assert 160 <= _mode(mass, 0, 300, 10) <= 190
    assert 150 < np.median(mass) < 215


def test_w_mass_peaks_near_80(wjets):
    mass = wjets["jet_features"][:, 2]
    assert 70 <= _mode(mass, 0, 200, 10) <= 95
    pt = wjets["jet_features"][:, 0]
    assert 700 <= pt.min() and pt.max() <= 1500  # the JetNet pT window


def test_top_jets_have_more_constituents_than_quark_jets(top150, quark150):
    n_top = top150["jet_features"][:, 3]
    n_q = quark150["jet_features"][:, 3]
    se = np.sqrt(n_top.var() / n_top.size + n_q.var() / n_q.size)
    assert n_top.mean() - n_q.mean() > 4 * se


def test_jetnet_layout_and_constituents_add_up(top150):
    pf, jf = top150["particle_features"], top150["jet_features"]
    assert pf.dtype == np.float32 and pf.shape == (120, 150, 4) and jf.shape == (120, 4)
    mask = pf[..., 3]
    k = mask.sum(1)
    assert np.array_equal(k, np.minimum(jf[:, 3], 150))  # n counts the whole jet
    # The mask marks the leading slots; constituents are pT-ordered and inside R = 0.8.
    assert np.array_equal(mask, (np.arange(150)[None] < k[:, None]).astype(np.float32))
    ptrel = pf[..., 2]
    assert (np.diff(ptrel, axis=1) <= 1e-6).all()
    # anti-kT uses rapidity; only soft massive hadrons have |eta - y| large.
    dr = np.hypot(pf[..., 0], pf[..., 1])[mask > 0]
    assert np.mean(dr < 0.8 + 1e-3) > 0.99
    # Jets with fewer than 150 constituents are whole: sum of pT vectors = jet pT.
    whole = k < 150
    px = (ptrel * np.cos(pf[..., 1])).sum(1)
    py = (ptrel * np.sin(pf[..., 1])).sum(1)
    np.testing.assert_allclose(np.hypot(px, py)[whole], 1.0, atol=0.02)


def test_30_particles_are_the_leading_150(hep, top150):
    small = collider.generate("jetnet", "t", 30, seed=1, particles=30, extra_settings=LIGHT)
    big = {k: v[:30] for k, v in top150.items() if k != "events"}
    np.testing.assert_array_equal(small["particle_features"], big["particle_features"][:, :30])
    np.testing.assert_array_equal(small["jet_features"], big["jet_features"])


def test_generation_is_deterministic_per_seed(hep, wjets):
    again = collider.generate("jetnet", "w", 20, seed=1, extra_settings=LIGHT)
    other = collider.generate("jetnet", "w", 20, seed=2, extra_settings=LIGHT)
    np.testing.assert_array_equal(again["particle_features"], wjets["particle_features"][:20])
    assert not np.array_equal(other["jet_features"], wjets["jet_features"][:20])


def test_lhco_signal_masses_and_tau21(lhco):
    from hepjax.data.formats import LHCO_FEATURE_COLUMNS, lhco_dijet_features

    feats = {}
    for name, d in lhco.items():
        assert d["features"].shape == (40, 15)
        cols = {c: d["features"][:, i] for i, c in enumerate(LHCO_FEATURE_COLUMNS)}
        assert (np.hypot(cols["pxj1"], cols["pyj1"]) >= 1200).all()  # trigger
        assert (cols["label"] == (name == "signal")).all()
        feats[name] = lhco_dijet_features(cols)
    sig, bkg = feats["signal"], feats["background"]
    assert 90 <= _mode(sig["mj1"], 0, 800, 20) <= 130  # Y(100)
    assert 480 <= _mode(sig["mj1"] + sig["delta_mj"], 0, 800, 20) <= 540  # X(500)
    assert 3000 < np.median(sig["mjj"]) < 3800  # W'(3500)
    for key in ("tau21_j1", "tau21_j2"):
        a, b = sig[key], bkg[key]
        se = np.sqrt(a.var() / a.size + b.var() / b.size)
        assert b.mean() - a.mean() > 3 * se, key


@pytest.fixture(scope="module")
def jetclass(hep):
    return {
        name: collider.generate("jetclass", name, 12, seed=3, extra_settings=LIGHT)
        for name in ("Tbqq", "QCD", "Hqql")
    }


def test_jetclass_fields_labels_and_flags(jetclass):
    from hepjax.data.formats import JETCLASS_LABELS

    for name, d in jetclass.items():
        assert (d["label"] == JETCLASS_LABELS.index(f"label_{name}")).all()
        m = d["part_mask"]
        flags = sum(
            d[f"part_is{f}"]
            for f in ("ChargedHadron", "NeutralHadron", "Photon", "Electron", "Muon")
        )
        np.testing.assert_array_equal(flags[m], 1.0)  # exactly one PID flag per particle
        np.testing.assert_array_equal(flags[~m], 0.0)
        charged = d["part_isChargedHadron"] + d["part_isElectron"] + d["part_isMuon"]
        np.testing.assert_array_equal(np.abs(d["part_charge"][m]), charged[m])
        p2 = d["part_px"] ** 2 + d["part_py"] ** 2 + d["part_pz"] ** 2
        assert (d["part_energy"][m] ** 2 >= p2[m] * (1 - 1e-5)).all()
        assert (500 <= d["jet_pt"]).all() and (d["jet_pt"] <= 1000).all()
        assert (np.abs(d["jet_eta"]) < 2).all()
    assert np.median(jetclass["Tbqq"]["jet_sdmass"]) > np.median(jetclass["QCD"]["jet_sdmass"])
    # H -> WW* -> l nu qq: a charged lepton inside the jet.
    lep = (jetclass["Hqql"]["part_isElectron"] + jetclass["Hqql"]["part_isMuon"]).sum(1)
    assert (lep >= 1).mean() > 0.8


def test_jetclass_tau_agrees_with_hepjax_nsubjettiness(jetclass):
    from hepjax.physics import nsubjettiness

    d = jetclass["Tbqq"]
    whole = np.flatnonzero(d["jet_nparticles"] <= 128)[:3]
    assert whole.size
    for j in whole:
        p4 = np.stack([d[f"part_{c}"][j] for c in ("energy", "px", "py", "pz")], axis=1)
        taus = np.asarray(nsubjettiness(p4.astype(np.float32), d["part_mask"][j], 3, r0=0.8))
        want = np.array([d[f"jet_tau{i}"][j] for i in (1, 2, 3)])
        np.testing.assert_allclose(taus, want, rtol=2e-3, atol=1e-5)


def test_hh4b_has_four_jets_and_more_b_tags_than_qcd(hep):
    sig = collider.generate("hh4b", "hh4b", 15, seed=4, extra_settings=LIGHT)
    bkg = collider.generate("hh4b", "qcd", 15, seed=4, extra_settings=LIGHT)
    for d in (sig, bkg):
        assert d["jet_features"].shape == (15, 10, 5)
        assert ((d["jet_features"][..., 0] > 40) & d["jet_mask"]).sum(1).min() >= 4
    nb = {
        k: (d["jet_features"][..., 4] * d["jet_mask"]).sum(1) for k, d in (("s", sig), ("b", bkg))
    }
    assert nb["s"].mean() > nb["b"].mean() + 1
    assert (sig["label"] == 1).all() and (bkg["label"] == 0).all()


def test_bad_input_messages():
    with pytest.raises(ValueError, match="unknown jetnet process 'x'; expected one of g, q, t"):
        collider.generate("jetnet", "x", 10)
    with pytest.raises(ValueError, match="dataset must be one of jetnet, jetclass"):
        collider.generate("jetnett", "t", 10)
    with pytest.raises(ValueError, match="n must be a positive int"):
        collider.generate("jetnet", "t", 0)
    with pytest.raises(ValueError, match="particles must be a positive int"):
        collider.generate("jetnet", "t", 5, particles=0)
    with pytest.raises(ValueError, match="cuts: unknown cut 'ptmin'"):
        collider.generate("jetnet", "t", 5, cuts={"ptmin": 3.0})
    with pytest.raises(ValueError, match="unknown lhco process 'sig'"):
        collider.pythia_settings("lhco", "sig")


def test_rejected_pythia_setting(hep):
    with pytest.raises(ValueError, match="Pythia rejected the setting 'Foo:bar = 1'"):
        collider.generate("jetnet", "g", 2, extra_settings=("Foo:bar = 1",))


@pytest.mark.parametrize("module", ["pythia8mc", "fastjet"])
def test_missing_hep_extra_names_it(monkeypatch, module):
    if module != "pythia8mc":  # pythia8mc is imported (and named) first
        pytest.importorskip("pythia8mc", reason=HEP_REASON)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=rf"{module} is needed .* pip install 'hepjax\[hep\]'"):
        collider.generate("jetnet", "t", 5)


def test_settings_are_complete_and_seeded():
    lines = collider.pythia_settings("lhco", "signal", seed=7)
    assert "Random:seed = 7" in lines and "34:m0 = 3500." in lines
    assert any(line.startswith("9000001:all") for line in lines)
    assert set(collider.DATASETS) == {"jetnet", "jetclass", "lhco", "hh4b", "hh4b_constituents"}
    for dataset, names in collider.DATASETS.items():
        for i, name in enumerate(names):
            assert collider.get_process(dataset, name).label == i
