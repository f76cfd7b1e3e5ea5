"""``hepjax data make|plot``: the API contract of issue 7 and the error messages."""

import sys

import h5py
import numpy as np
import pytest

from hepjax.cli import _data, main

HEP_REASON = "Pythia generation needs the hep extra: pip install 'hepjax[hep]'"
FAST = ["--shard-size", "6", "--pythia", "PartonLevel:MPI = off", "--quiet"]


@pytest.fixture(scope="module")
def hep():
    pytest.importorskip("pythia8mc", reason=HEP_REASON)
    pytest.importorskip("fastjet", reason=HEP_REASON)


@pytest.fixture(scope="module")
def jetnet_dir(hep, tmp_path_factory):
    out = tmp_path_factory.mktemp("jetnet")
    assert (
        main(["data", "make", "jetnet", "--n", "6", "--out", str(out), "--types", "t,q", *FAST])
        == 0
    )
    return out


def test_jetnet_contract(jetnet_dir):
    assert sorted(p.name for p in jetnet_dir.glob("*.hdf5")) == ["q.hdf5", "t.hdf5"]
    for name in ("t", "q"):
        with h5py.File(jetnet_dir / f"{name}.hdf5") as f:
            pf, jf = f["particle_features"], f["jet_features"]
            assert pf.shape == (6, 30, 4) and pf.dtype == np.float32
            assert jf.shape == (6, 4)
            assert set(np.unique(pf[..., 3])) <= {0.0, 1.0}
            assert (jf[:, 0] > 500).all()  # pt first


def test_150_particles(hep, tmp_path):
    args = ["data", "make", "jetnet", "--n", "6", "--out", str(tmp_path), "--types", "z"]
    assert main([*args, "--particles", "150", *FAST]) == 0
    for name in ("z150.hdf5", "z.hdf5"):  # jetnet's name, and one name per type
        with h5py.File(tmp_path / name) as f:
            assert f["particle_features"].shape == (6, 150, 4)


def test_dask_scheduler(jetnet_dir, tmp_path, capsys):
    distributed = pytest.importorskip(
        "distributed", reason="the Dask executor needs the dask extra: pip install 'hepjax[dask]'"
    )
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        args = ["data", "make", "jetnet", "--n", "6", "--out", str(tmp_path), "--types", "t"]
        assert main([*args, "--dask", cluster.scheduler_address, *FAST]) == 0
    with h5py.File(tmp_path / "t.hdf5") as f, h5py.File(jetnet_dir / "t.hdf5") as ref:
        np.testing.assert_array_equal(f["particle_features"][:], ref["particle_features"][:])
    with pytest.raises(SystemExit):
        main([*args, "--dask", "tcp://127.0.0.1:1", "--workers", "2"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_plot(jetnet_dir, capsys):
    pytest.importorskip("matplotlib")
    assert main(["data", "plot", str(jetnet_dir)]) == 0
    assert (jetnet_dir / "plots" / "jetnet.png").is_file()
    assert "wrote" in capsys.readouterr().out


def test_errors(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit):
        main(["data", "make", "jetnet", "--n", "0", "--out", str(tmp_path)])
    assert "expected a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data", "make", "pythia", "--n", "5", "--out", str(tmp_path)])
    assert "invalid choice: 'pythia'" in capsys.readouterr().err
    assert main(["data", "make", "jetnet", "--n", "5", "--out", str(tmp_path), "--types", "b"]) == 2
    assert "unknown jetnet process 'b'; expected one of g, q, t, w, z" in capsys.readouterr().err
    assert main(["data", "plot", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setitem(sys.modules, "pythia8mc", None)  # as without the hep extra
    assert main(["data", "make", "jetnet", "--n", "5", "--out", str(blocker)]) == 2
    assert (
        "pythia8mc is needed to generate collider data; install it with pip install 'hepjax[hep]'"
        in capsys.readouterr().err
    )


def test_unwritable_out(hep, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["data", "make", "lhco", "--n", "5", "--out", str(blocker / "x")]) == 2
    assert "cannot create the output folder" in capsys.readouterr().err


def test_parser_lists_the_library_classes():
    from hepjax.data.collider import DATASETS

    assert _data.DATASETS == DATASETS
