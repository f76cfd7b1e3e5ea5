import h5py
import numpy as np
import pytest

import hepjax.data as hd

SCHEMA = {"particles": (30, 4), "label": ()}


def _arrays(rng, n=100):
    return {
        "particles": rng.normal(size=(n, 30, 4)).astype(np.float32),
        "label": rng.integers(0, 2, n).astype(np.int32),
    }


def test_write_read_round_trip(tmp_path, rng):
    arrays = _arrays(rng)
    path = hd.write_hdf5(tmp_path / "jets.h5", arrays, chunk_rows=16, attrs={"seed": 3})
    back = hd.read_hdf5(path, SCHEMA)
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])
        assert back[k].dtype == arrays[k].dtype
    with h5py.File(path) as f:
        assert f.attrs["seed"] == 3 and f.attrs["rows"] == 100
    assert not list(tmp_path.glob(".*tmp"))


def test_streaming_reads_chunks(tmp_path, rng):
    arrays = _arrays(rng, 70)
    path = hd.write_hdf5(tmp_path / "jets.h5", arrays)
    chunks = list(hd.iter_hdf5(path, SCHEMA, chunk_rows=32))
    assert [len(c["label"]) for c in chunks] == [32, 32, 6]
    np.testing.assert_array_equal(np.concatenate([c["label"] for c in chunks]), arrays["label"])


def test_writer_appends_and_is_atomic(tmp_path, rng):
    path = tmp_path / "out.h5"
    fields = {"particles": ((30, 4), "float32"), "label": ((), "int32")}
    with pytest.raises(RuntimeError, match="interrupted"):
        with hd.HDF5Writer(path, fields) as writer:
            writer.append(**_arrays(rng, 10))
            raise RuntimeError("interrupted")
    assert not path.exists() and not list(tmp_path.iterdir())
    with hd.HDF5Writer(path, fields) as writer:
        for _ in range(3):
            writer.append(**_arrays(rng, 10))
    assert len(hd.read_hdf5(path, SCHEMA)["label"]) == 30


def test_writer_rejects_wrong_chunks(tmp_path, rng):
    fields = {"particles": ((30, 4), "float32"), "label": ((), "int32")}
    with hd.HDF5Writer(tmp_path / "a.h5", fields) as writer:
        with pytest.raises(ValueError, match=r"field 'particles' rows must have shape \(30, 4\)"):
            writer.append(particles=np.zeros((2, 30, 3)), label=np.zeros(2))
        with pytest.raises(ValueError, match="needs exactly the fields"):
            writer.append(particles=np.zeros((2, 30, 4)))
        with pytest.raises(ValueError, match="same number of rows"):
            writer.append(particles=np.zeros((2, 30, 4)), label=np.zeros(3))


def test_missing_field_wrong_shape_and_bad_files(tmp_path, rng):
    path = hd.write_hdf5(tmp_path / "jets.h5", _arrays(rng))
    with pytest.raises(KeyError, match="missing field 'mask'"):
        hd.read_hdf5(path, {"mask": (30,)})
    with pytest.raises(ValueError, match=r"field 'particles' must have shape \(n, 150, 4\)"):
        hd.read_hdf5(path, {"particles": (150, 4)})
    with pytest.raises(FileNotFoundError, match="no HDF5 file"):
        hd.read_hdf5(tmp_path / "nope.h5", SCHEMA)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        hd.read_hdf5(bad, SCHEMA)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises((ValueError, OSError)):
        hd.read_hdf5(truncated, SCHEMA)
    with h5py.File(tmp_path / "ragged.h5", "w") as f:
        f["particles"] = np.zeros((5, 30, 4))
        f["label"] = np.zeros(4)
    with pytest.raises(ValueError, match="different numbers of rows"):
        hd.read_hdf5(tmp_path / "ragged.h5", SCHEMA)
