import numpy as np
import pytest

from hepjax.data import formats

uproot = pytest.importorskip("uproot", reason="needs the hep extra: pip install 'hepjax[hep]'")
ak = pytest.importorskip("awkward", reason="needs the hep extra: pip install 'hepjax[hep]'")


def _arrays(rng, n=12, p=20, impact=False):
    counts = rng.integers(1, p + 1, n)
    mask = np.arange(p)[None] < counts[:, None]
    names = list(formats.JETCLASS_PARTICLE_BRANCHES)
    if impact:
        names += list(formats.JETCLASS_IMPACT_BRANCHES)
    arrays = {b: (rng.normal(size=(n, p)) * mask).astype(np.float32) for b in names}
    arrays["part_mask"] = mask
    for b in formats.JETCLASS_JET_BRANCHES:
        arrays[b] = rng.normal(size=n).astype(np.float32)
    arrays["label"] = rng.integers(0, 10, n)
    return arrays


def test_round_trip_pads_and_masks(tmp_path, rng):
    arrays = _arrays(rng)
    path = formats.write_jetclass(tmp_path / "HToBB_000.root", arrays)
    with uproot.open(path) as f:
        t = f["tree"]
        assert t["part_px"].typename == "float[]" and "npart" in t.keys()
        assert set(formats.JETCLASS_LABELS) <= set(t.keys())
        assert "part_d0val" not in t.keys()
    back = formats.read_jetclass(path, max_particles=20)
    np.testing.assert_array_equal(back["part_mask"], arrays["part_mask"])
    for b in (*formats.JETCLASS_PARTICLE_BRANCHES, *formats.JETCLASS_JET_BRANCHES):
        np.testing.assert_array_equal(back[b], arrays[b])
    np.testing.assert_array_equal(back["label"], arrays["label"])
    assert back["label_Hbb"].dtype == bool
    assert "part_d0val" not in back
    # padding to more slots, and clipping to fewer
    wide = formats.read_jetclass(path, max_particles=32)
    np.testing.assert_array_equal(wide["part_px"][:, :20], arrays["part_px"])
    assert (wide["part_px"][:, 20:] == 0).all() and not wide["part_mask"][:, 20:].any()
    some = formats.read_jetclass(path, max_particles=20, entry_start=3, entry_stop=7)
    np.testing.assert_array_equal(some["part_pz"], arrays["part_pz"][3:7])
    np.testing.assert_array_equal(some["label"], arrays["label"][3:7])
    narrow = formats.read_jetclass(path, max_particles=5)
    np.testing.assert_array_equal(narrow["part_energy"], arrays["part_energy"][:, :5])


def test_impact_parameters_read_when_present(tmp_path, rng):
    arrays = _arrays(rng, impact=True)
    path = formats.write_jetclass(tmp_path / "full.root", arrays)
    back = formats.read_jetclass(path, max_particles=20)
    for b in formats.JETCLASS_IMPACT_BRANCHES:
        np.testing.assert_array_equal(back[b], arrays[b])


def test_bad_files(tmp_path, rng):
    arrays = _arrays(rng)
    with uproot.recreate(tmp_path / "missing.root") as f:
        f["tree"] = {"part_px": ak.Array([[1.0], [2.0, 3.0]])}
    with pytest.raises(
        KeyError, match=r"missing.root: tree 'tree' is missing branches \['part_py'"
    ):
        formats.read_jetclass(tmp_path / "missing.root")
    with pytest.raises(KeyError, match="missing tree 'events'"):
        formats.read_jetclass(tmp_path / "missing.root", tree="events")
    # a flat particle branch
    flat = {b: arrays[b][:, 0] for b in formats.JETCLASS_PARTICLE_BRANCHES}
    flat.update({b: arrays[b] for b in formats.JETCLASS_JET_BRANCHES})
    flat.update({b: arrays["label"] == i for i, b in enumerate(formats.JETCLASS_LABELS)})
    with uproot.recreate(tmp_path / "flat.root") as f:
        f["tree"] = flat
    with pytest.raises(ValueError, match="branch 'part_px' must be jagged"):
        formats.read_jetclass(tmp_path / "flat.root")
    # labels that are not one-hot
    two = dict(arrays)
    del two["label"]
    two.update({b: np.ones(12, bool) for b in formats.JETCLASS_LABELS})
    path = formats.write_jetclass(tmp_path / "twolabels.root", two)
    with pytest.raises(ValueError, match="labels must be one-hot, jet 0 has 10 set"):
        formats.read_jetclass(path)
    # truncated
    good = formats.write_jetclass(tmp_path / "good.root", _arrays(rng, n=500))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="good.root"):
        formats.read_jetclass(good)
    with pytest.raises(ValueError, match="max_particles must be a positive int"):
        formats.read_jetclass(path, max_particles=0)
    bad = dict(arrays)
    del bad["jet_sdmass"]
    with pytest.raises(KeyError, match=r"arrays is missing \['jet_sdmass'\]"):
        formats.write_jetclass(tmp_path / "x.root", bad)
