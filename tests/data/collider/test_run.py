"""make_dataset at small n: shards, executors, manifest, resume, damaged shards, cache."""

import concurrent.futures
import functools
import json
import os
import shutil

import numpy as np
import pytest

from hepjax.data import collider
from hepjax.data.collider import _cache
from hepjax.data.formats import read_jetclass, read_jetnet, read_lhco_features

HEP_REASON = "Pythia generation needs the hep extra: pip install 'hepjax[hep]'"
LIGHT = ("PartonLevel:MPI = off",)
KW = {"shard_size": 20, "extra_settings": LIGHT, "progress": False}


@pytest.fixture(scope="module")
def hep():
    pytest.importorskip("pythia8mc", reason=HEP_REASON)
    pytest.importorskip("fastjet", reason=HEP_REASON)


@pytest.fixture(scope="module")
def two_workers(hep, tmp_path_factory):
    out = tmp_path_factory.mktemp("w2")
    files = collider.make_dataset("jetnet", out, n=40, types="w", seed=5, workers=2, **KW)
    return out, files


def test_jetnet_files_and_manifest(two_workers):
    out, files = two_workers
    assert files == {"w": out / "w.hdf5"}
    data = read_jetnet(files["w"], num_particles=30)
    assert data["particle_features"].shape == (40, 30, 4)
    assert data["jet_features"].shape == (40, 4)
    m = json.loads((out / "manifest.json").read_text())
    assert m["versions"]["pythia8mc"] == "8.317.2"
    assert m["settings"]["seed"] == 5 and m["settings"]["shard_size"] == 20
    entry = m["processes"]["w"]
    assert entry["rows"] == 40 and 0 < entry["pass_fraction"] <= 1
    seeds = {int(k): s["seed"] for k, s in entry["shards"].items()}
    assert seeds == {k: collider.shard_seed(5, "jetnet", "w", k) for k in (0, 1)}
    assert seeds[0] != seeds[1]
    assert "34:m0 = 2000." in entry["pythia_settings"]
    assert "PartonLevel:MPI = off" in entry["pythia_settings"]
    shard = entry["shards"]["0"]
    assert shard["seconds_pythia"] + shard["seconds_clustering"] <= shard["seconds_total"]


def test_same_output_with_one_worker_and_resume(two_workers, tmp_path):
    _, files = two_workers
    ref = read_jetnet(files["w"])
    one = collider.make_dataset("jetnet", tmp_path, n=40, types=["w"], seed=5, workers=1, **KW)
    np.testing.assert_array_equal(
        read_jetnet(one["w"])["particle_features"], ref["particle_features"]
    )
    # A killed run: shard 1 missing, a stale temporary file, no final file.
    shard0, shard1 = (tmp_path / ".shards" / "w" / f"{k:05d}.hdf5" for k in (0, 1))
    shard1.unlink()
    (one["w"]).unlink()
    stale = shard1.with_name(".00001.hdf5.999.tmp")
    stale.write_bytes(b"half")
    before = os.stat(shard0).st_mtime_ns
    again = collider.make_dataset("jetnet", tmp_path, n=40, types="w", seed=5, **KW)
    assert os.stat(shard0).st_mtime_ns == before  # kept, not regenerated
    assert not stale.exists()
    np.testing.assert_array_equal(read_jetnet(again["w"])["jet_features"], ref["jet_features"])


def test_dask_executor_same_output_and_resume(two_workers, tmp_path):
    """Shards on a (local, in-process) Dask cluster: same bytes, a rerun skips them."""
    distributed = pytest.importorskip(
        "distributed", reason="the Dask executor needs the dask extra: pip install 'hepjax[dask]'"
    )
    _, files = two_workers
    ref = read_jetnet(files["w"])
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        run = functools.partial(
            collider.make_dataset,
            "jetnet",
            tmp_path,
            n=40,
            types="w",
            seed=5,
            executor=client.get_executor(),
            **KW,
        )
        got = run()
        for key in ("particle_features", "jet_features"):
            np.testing.assert_array_equal(read_jetnet(got["w"])[key], ref[key])
        shards = [tmp_path / ".shards" / "w" / f"{k:05d}.hdf5" for k in (0, 1)]
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        assert sorted(manifest["processes"]["w"]["shards"]) == ["0", "1"]
        assert not list(shards[0].parent.glob(".*.tmp"))  # atomic: no temporary left
        # a rerun skips both finished shards; a killed run regenerates only the missing one
        stamps = [os.stat(p).st_mtime_ns for p in shards]
        run()
        assert [os.stat(p).st_mtime_ns for p in shards] == stamps
        shards[1].unlink()
        got["w"].unlink()
        again = run()
        assert os.stat(shards[0]).st_mtime_ns == stamps[0]
        np.testing.assert_array_equal(read_jetnet(again["w"])["jet_features"], ref["jet_features"])


def test_damaged_shard_and_other_settings(two_workers, tmp_path):
    out, _ = two_workers
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shard = copy / ".shards" / "w" / "00001.hdf5"
    shard.write_bytes(shard.read_bytes()[:2000])  # truncated
    with pytest.raises(ValueError, match=r"shard .*00001.hdf5 is corrupt or truncated"):
        collider.make_dataset("jetnet", copy, n=40, types="w", seed=5, **KW)
    with pytest.raises(ValueError, match="holds a run with other settings"):
        collider.make_dataset("jetnet", out, n=40, types="w", seed=6, **KW)
    m = json.loads((copy / "manifest.json").read_text())
    m["versions"]["pythia8mc"] = "8.310"
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="started with pythia8mc 8.310, this is 8.317.2"):
        collider.make_dataset("jetnet", copy, n=40, types="w", seed=5, **KW)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n must be a positive int"):
        collider.make_dataset("jetnet", tmp_path, n=0)
    with pytest.raises(ValueError, match="unknown jetnet process 'x'"):
        collider.make_dataset("jetnet", tmp_path, n=5, types="t,x")
    with pytest.raises(ValueError, match="dataset must be one of"):
        collider.make_dataset("jetnets", tmp_path, n=5)
    with pytest.raises(ValueError, match="workers must be a positive int"):
        collider.make_dataset("jetnet", tmp_path, n=5, workers=0)
    with pytest.raises(TypeError, match="executor"):
        collider.make_dataset("jetnet", tmp_path, n=5, executor="dask")
    with (
        concurrent.futures.ThreadPoolExecutor(1) as ex,
        pytest.raises(ValueError, match="workers .* or executor, not both"),
    ):
        collider.make_dataset("jetnet", tmp_path, n=5, workers=2, executor=ex)


def test_unwritable_out(hep, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="out: cannot create the output folder"):
        collider.make_dataset("jetnet", blocker / "sub", n=5, types="t")


def test_jetclass_root_and_lhco_table(hep, tmp_path):
    files = collider.make_dataset("jetclass", tmp_path / "jc", n=8, types="Wqq", seed=1, **KW)
    assert files["Wqq"].read_text().split() == ["WToQQ_000.root"]
    d = read_jetclass(tmp_path / "jc" / "WToQQ_000.root")
    assert d["part_mask"].shape == (8, 128) and (d["label"] == 7).all()
    assert "part_d0val" not in d  # no impact parameters: no detector
    files = collider.make_dataset("lhco", tmp_path / "lh", n=6, types="signal", **KW)
    cols = read_lhco_features(files["signal"])
    assert cols["mj1"].shape == (6,) and (cols["label"] == 1).all()


def test_cached_jetnet(hep, tmp_path, monkeypatch):
    monkeypatch.setattr(_cache, "DEFAULT_SHARD_SIZE", 10)
    monkeypatch.setenv("HEPJAX_CACHE", str(tmp_path))
    path = collider.cached_jetnet("g", 8, seed=3, progress=False)
    assert path == tmp_path / "jetnet-p30-s3" / "g.hdf5"
    assert read_jetnet(path)["jet_features"].shape == (10, 4)  # a whole shard
    shards = json.loads((path.parent / "manifest.json").read_text())["processes"]["g"]["shards"]
    assert shards["0"]["rows"] == 10

    def fail(*args, **kwargs):
        raise AssertionError("regenerated a cached file")

    monkeypatch.setattr(_cache, "make_dataset", fail)
    assert collider.cached_jetnet("g", 10, seed=3) == path
    with pytest.raises(ValueError, match="unknown jetnet process 'b'"):
        collider.cached_jetnet("b", 10)


def test_plot_dataset(two_workers, tmp_path):
    pytest.importorskip("matplotlib")
    out, _ = two_workers
    (png,) = collider.plot_dataset(out, tmp_path)
    assert png == tmp_path / "jetnet.png" and png.stat().st_size > 10_000
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        collider.plot_dataset(tmp_path)
