import pathlib

import h5py
import numpy as np
import pytest

from hepjax.data import formats


def _jetnet(rng, n=50, p=30):
    mask = (np.arange(p)[None] < rng.integers(1, p + 1, n)[:, None]).astype(np.float32)
    pf = rng.normal(size=(n, p, 4)).astype(np.float32) * mask[..., None]
    pf[..., 3] = mask
    jf = np.stack(
        [rng.uniform(900, 1100, n), rng.normal(size=n), rng.uniform(0, 200, n), mask.sum(1)], axis=1
    ).astype(np.float32)
    return pf, jf


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_jetnet_round_trip_is_exact(tmp_path, rng):
    pf, jf = _jetnet(rng)
    path = formats.write_jetnet(tmp_path / "t.hdf5", pf, jf)
    with h5py.File(path) as f:  # the published layout, as jetnet reads it
        assert sorted(f) == ["jet_features", "particle_features"]
        assert (
            f["particle_features"].dtype == np.float32 and f["particle_features"].shape == pf.shape
        )
    back = formats.read_jetnet(path, num_particles=30)
    np.testing.assert_array_equal(back["particle_features"], pf)
    np.testing.assert_array_equal(back["jet_features"], jf)
    assert not list(tmp_path.glob(".*tmp"))


def test_jetnet_bad_files(tmp_path, rng):
    pf, jf = _jetnet(rng)
    path = tmp_path / "bad.hdf5"
    with h5py.File(path, "w") as f:
        f["particle_features"] = pf
    with pytest.raises(KeyError, match=r"bad.hdf5: missing field 'jet_features'"):
        formats.read_jetnet(path)
    with h5py.File(path, "w") as f:
        f["particle_features"] = pf[..., :3]
        f["jet_features"] = jf
    with pytest.raises(ValueError, match=r"field 'particle_features' must have shape \(n, \*, 4\)"):
        formats.read_jetnet(path)
    with h5py.File(path, "w") as f:
        f["particle_features"] = pf.astype(np.int32)
        f["jet_features"] = jf
    with pytest.raises(TypeError, match="field 'particle_features' must have a floating dtype"):
        formats.read_jetnet(path)
    good = formats.write_jetnet(tmp_path / "g.hdf5", pf, jf)
    with pytest.raises(ValueError, match="must have 150 particle slots"):
        formats.read_jetnet(good, num_particles=150)
    _truncate(good)
    with pytest.raises(ValueError, match="g.hdf5"):
        formats.read_jetnet(good)
    with pytest.raises(FileNotFoundError, match="no HDF5 file"):
        formats.read_jetnet(tmp_path / "absent.hdf5")
    with pytest.raises(ValueError, match="the same N"):
        formats.write_jetnet(tmp_path / "x.hdf5", pf, jf[:-1])
    pf[0, 0, 3] = 0.5
    with pytest.raises(ValueError, match="mask"):
        formats.write_jetnet(tmp_path / "x.hdf5", pf, jf)


def test_calochallenge_round_trip_and_errors(tmp_path, rng):
    e = rng.uniform(1e3, 1e6, (20, 1)).astype(np.float32)
    s = rng.exponential(10.0, (20, 368)).astype(np.float32)
    path = formats.write_calochallenge(tmp_path / "ds1.hdf5", e, s)
    back = formats.read_calochallenge(path, num_voxels=formats.CALOCHALLENGE_VOXELS["1-photons"])
    np.testing.assert_array_equal(back["incident_energies"], e)
    np.testing.assert_array_equal(back["showers"], s)
    with pytest.raises(ValueError, match=r"field 'showers' must have shape \(n, 533\)"):
        formats.read_calochallenge(path, num_voxels=533)
    with h5py.File(tmp_path / "bad.hdf5", "w") as f:
        f["incident_energies"] = e[:, 0]
        f["showers"] = s
    with pytest.raises(ValueError, match=r"field 'incident_energies' must have shape \(n, 1\)"):
        formats.read_calochallenge(tmp_path / "bad.hdf5")
    with h5py.File(tmp_path / "bad.hdf5", "w") as f:
        f["incident_energies"] = e
    with pytest.raises(KeyError, match="missing field 'showers'"):
        formats.read_calochallenge(tmp_path / "bad.hdf5")
    with h5py.File(tmp_path / "bad.hdf5", "w") as f:
        f["incident_energies"] = e
        f["showers"] = s.astype(np.int64)
    with pytest.raises(TypeError, match="field 'showers' must have a floating dtype, got int64"):
        formats.read_calochallenge(tmp_path / "bad.hdf5")
    _truncate(path)
    with pytest.raises(ValueError, match="ds1.hdf5"):
        formats.read_calochallenge(path)


def _lhco_columns(rng, n=40):
    cols = {c: rng.normal(size=n) for c in formats.LHCO_FEATURE_COLUMNS}
    cols["mj1"], cols["mj2"] = rng.uniform(50, 600, n), rng.uniform(50, 600, n)
    cols["label"] = rng.integers(0, 2, n).astype(np.float64)
    return cols


def test_lhco_pandas_layout_round_trip(tmp_path, rng):
    cols = _lhco_columns(rng)
    path = formats.write_lhco_features(tmp_path / "events_anomalydetection_v2.features.h5", cols)
    with h5py.File(path) as f:
        g = f["df"]
        assert sorted(g) == ["axis0", "axis1", "block0_items", "block0_values"]
        assert g["block0_values"].shape == (40, 15) and g["block0_values"].dtype == np.float64
        assert [c.decode() for c in g["axis0"][...]] == list(formats.LHCO_FEATURE_COLUMNS)
        assert g.attrs["pandas_type"] == b"frame" and g["axis1"].dtype == np.int64
    back = formats.read_lhco_features(path)
    assert list(back) == list(formats.LHCO_FEATURE_COLUMNS)
    for c in cols:
        np.testing.assert_array_equal(back[c], cols[c])
    assert list(formats.read_lhco_features(path, columns=["mj1", "label"])) == ["mj1", "label"]
    part = formats.read_lhco_features(path, columns=["mj2"], start=10, stop=15)
    np.testing.assert_array_equal(part["mj2"], cols["mj2"][10:15])


def test_lhco_reads_several_blocks(tmp_path, rng):
    # pandas stores one block per dtype; a mixed-dtype table has several
    path = tmp_path / "mixed.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("df")
        g.attrs["nblocks"] = 2
        g["axis0"] = np.array([b"a", b"n", b"b"])
        g["axis1"] = np.arange(3)
        g["block0_items"] = np.array([b"a", b"b"])
        g["block0_values"] = np.arange(6.0).reshape(3, 2)
        g["block1_items"] = np.array([b"n"])
        g["block1_values"] = np.array([[7], [8], [9]])
    back = formats.read_lhco_features(path, columns=None)
    assert list(back) == ["a", "n", "b"]
    np.testing.assert_array_equal(back["n"], [7, 8, 9])
    np.testing.assert_array_equal(back["b"], [1.0, 3.0, 5.0])


def test_lhco_bad_files(tmp_path, rng):
    cols = _lhco_columns(rng)
    del cols["tau3j2"]
    path = formats.write_lhco_features(tmp_path / "f.h5", cols)
    with pytest.raises(KeyError, match=r"f.h5: missing columns \['tau3j2'\]"):
        formats.read_lhco_features(path)
    with pytest.raises(KeyError, match="missing pandas group 'table'"):
        formats.read_lhco_features(path, key="table")
    with h5py.File(path, "a") as f:
        del f["df/block0_values"]
        f["df/block0_values"] = np.zeros((40, 3))
    with pytest.raises(ValueError, match=r"field 'df/block0_values' must have shape \(40, 14\)"):
        formats.read_lhco_features(path)
    with h5py.File(path, "a") as f:
        del f["df/block0_values"]
        f["df/block0_values"] = np.full((40, 14), b"x")
    with pytest.raises(TypeError, match="'df/block0_values' must have a numeric dtype"):
        formats.read_lhco_features(path)
    with h5py.File(path, "a") as f:
        del f["df/block0_items"]
    with pytest.raises(KeyError, match="missing field 'df/block0_items'"):
        formats.read_lhco_features(path)
    good = formats.write_lhco_features(tmp_path / "g.h5", _lhco_columns(rng, 2000))
    _truncate(good)
    with pytest.raises(ValueError, match="g.h5"):
        formats.read_lhco_features(good)
    with pytest.raises(ValueError, match="same length"):
        formats.write_lhco_features(tmp_path / "x.h5", {"a": np.zeros(3), "b": np.zeros(4)})


def test_lhco_dijet_features_closed_form():
    # two back-to-back massless-momentum jets of |p| = 1000 and masses 100, 500
    cols = {c: np.zeros(1) for c in formats.LHCO_FEATURE_COLUMNS}
    cols.update(
        pxj1=np.array([1000.0]),
        pxj2=np.array([-1000.0]),
        mj1=np.array([500.0]),
        mj2=np.array([100.0]),
        tau1j1=np.array([0.4]),
        tau2j1=np.array([0.1]),
        tau3j1=np.array([0.05]),
        tau1j2=np.array([0.5]),
        tau2j2=np.array([0.4]),
        tau3j2=np.array([0.2]),
    )
    out = formats.lhco_dijet_features(cols)
    expected = np.sqrt(1000.0**2 + 500.0**2) + np.sqrt(1000.0**2 + 100.0**2)
    np.testing.assert_allclose(out["mjj"], expected)
    np.testing.assert_allclose(out["mj1"], 100.0)
    np.testing.assert_allclose(out["delta_mj"], 400.0)
    np.testing.assert_allclose(out["tau21_j1"], 0.8)  # lighter jet is j2 here
    np.testing.assert_allclose(out["tau21_j2"], 0.25)
    np.testing.assert_allclose(out["tau32_j2"], 0.5)


PANDAS_FILE = pathlib.Path(__file__).with_name("lhco_pandas_fixed.h5")


def test_lhco_reads_a_file_written_by_pandas():
    # written by pandas 3.1.1 + PyTables 3.11.1:
    # DataFrame(np.arange(45.).reshape(3, 15) / 7, columns=LHCO_FEATURE_COLUMNS).to_hdf(key="df")
    back = formats.read_lhco_features(PANDAS_FILE)
    expected = np.arange(45.0).reshape(3, 15) / 7
    for i, c in enumerate(formats.LHCO_FEATURE_COLUMNS):
        np.testing.assert_array_equal(back[c], expected[:, i])


def test_lhco_writer_matches_pandas_node_attributes(tmp_path):
    # same attribute types as PyTables (UTF-8 NUL-terminated strings, bitfield
    # booleans), so pandas.read_hdf accepts the file (checked with pandas 3.1.1)
    cols = {c: np.arange(3.0) for c in formats.LHCO_FEATURE_COLUMNS}
    ours = formats.write_lhco_features(tmp_path / "ours.h5", cols)

    def signature(path):
        with h5py.File(path) as f:
            out = {}
            for node in ("/", "df", "df/axis0", "df/axis1", "df/block0_items", "df/block0_values"):
                attrs = f[node].attrs
                for k in attrs:
                    t = attrs.get_id(k).get_type()
                    out[node, k] = (type(t).__name__, t.get_size())
                    if isinstance(t, h5py.h5t.TypeStringID):
                        out[node, k] += (t.get_cset(), t.get_strpad(), repr(attrs[k]))
            return out

    theirs = signature(PANDAS_FILE)
    # pandas also stores each index's name as a pickled None ("N.") and an empty
    # nan_rep; we omit them (pandas defaults them) and never write pickles
    theirs = {k: v for k, v in theirs.items() if k[1] not in ("name", "nan_rep")}
    assert signature(ours) == theirs
