import numpy as np
import pytest

from hepjax.data import formats


def _tables(rng, n_hits=30, n_particles=5):
    pid = rng.integers(2**60, 2**62, n_particles)  # beyond float64's exact integers
    hits = {
        "hit_id": np.arange(1, n_hits + 1),
        "x": rng.normal(size=n_hits) * 100,
        "y": rng.normal(size=n_hits) * 100,
        "z": rng.normal(size=n_hits) * 1000,
        "volume_id": rng.integers(7, 18, n_hits),
        "layer_id": rng.integers(2, 14, n_hits),
        "module_id": rng.integers(1, 3000, n_hits),
    }
    truth = {"hit_id": hits["hit_id"], "particle_id": rng.choice(np.append(pid, 0), n_hits)}
    for c in ("tx", "ty", "tz", "tpx", "tpy", "tpz", "weight"):
        truth[c] = rng.normal(size=n_hits)
    particles = {
        "particle_id": pid,
        "q": rng.choice([-1, 1], n_particles),
        "nhits": rng.integers(1, 15, n_particles),
    }
    for c in ("vx", "vy", "vz", "px", "py", "pz"):
        particles[c] = rng.normal(size=n_particles)
    return {"hits": hits, "truth": truth, "particles": particles}


def test_round_trip_exact(tmp_path, rng):
    tables = _tables(rng)
    paths = formats.write_trackml_event(tmp_path, 1000, tables)
    assert sorted(p.name for p in paths) == [
        "event000001000-hits.csv",
        "event000001000-particles.csv",
        "event000001000-truth.csv",
    ]
    assert (
        (tmp_path / "event000001000-hits.csv")
        .read_text()
        .startswith("hit_id,x,y,z,volume_id,layer_id,module_id\n")
    )
    back = formats.read_trackml_event(tmp_path, 1000)
    for part, cols in formats.TRACKML_COLUMNS.items():
        assert list(back[part]) == [c for c, _ in cols]
        for name, dtype in cols:
            np.testing.assert_array_equal(
                back[part][name], np.asarray(tables[part][name]).astype(dtype)
            )
    assert back["truth"]["particle_id"].dtype == np.int64
    assert set(back["truth"]["particle_id"]) <= set(tables["particles"]["particle_id"]) | {0}
    only = formats.read_trackml_event(tmp_path, 1000, parts=("hits",))
    assert list(only) == ["hits"]


def test_bad_files(tmp_path, rng):
    formats.write_trackml_event(tmp_path, 7, _tables(rng))
    hits = tmp_path / "event000000007-hits.csv"
    text = hits.read_text()
    hits.write_text(text[: len(text) // 2 + 3])  # cut inside a line
    with pytest.raises(
        ValueError, match=r"event000000007-hits.csv: line \d+ has \d fields, expected 7"
    ):
        formats.read_trackml_event(tmp_path, 7, parts=("hits",))
    hits.write_text(text.replace("volume_id", "volume"))
    with pytest.raises(KeyError, match=r"hits.csv: missing columns \['volume_id'\]"):
        formats.read_trackml_event(tmp_path, 7, parts=("hits",))
    lines = text.splitlines()
    lines[1] = "abc," + lines[1].split(",", 1)[1]
    hits.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="column 'hit_id' must hold integer values"):
        formats.read_trackml_event(tmp_path, 7, parts=("hits",))
    with pytest.raises(FileNotFoundError, match="no TrackML truth file"):
        formats.read_trackml_event(tmp_path, 8, parts=("truth",))
    with pytest.raises(ValueError, match="parts must be among"):
        formats.read_trackml_event(tmp_path, 7, parts=("cells",))
    tables = _tables(rng)
    del tables["hits"]["x"]
    with pytest.raises(KeyError, match=r"tables\['hits'\] is missing columns \['x'\]"):
        formats.write_trackml_event(tmp_path, 9, tables)
