"""The transport MC as a kernel: data generation, and rollout-versus-MC consistency."""

import json
import os

import jax
import numpy as np
import pytest

from hepjax import radiation as rad
from hepjax.sim import transport


@pytest.mark.slow  # compile-heavy: in the slow suite for the make-test budget
def test_make_bricks_writes_resumable_atomic_shards(tmp_path):
    out = tmp_path / "bricks"
    files = rad.make_bricks(out, events=16, shard_size=8, progress=False)
    assert [f.name for f in files] == ["bricks_00000.h5", "bricks_00001.h5"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["events"] == 16 and len(manifest["shards"]) == 2
    assert not list(out.glob(".*.tmp"))
    data = rad.read_bricks(out)
    n = data.out_mask.shape[0]
    assert 0 < n <= 16 and data.out_mask.shape[1] == 16
    # the physics of the set-up: incident on the -z face, directions inward, cuts applied
    np.testing.assert_allclose(data.incident_position[:, 2], -0.5 * data.size_cm, rtol=1e-6)
    assert np.all(np.asarray(data.incident_direction[:, 2]) > 0)
    e = np.asarray(data.incident_energy_mev)
    assert np.all((e >= 10.0 - 1e-3) & (e <= 300.0 + 1e-3))
    rho = np.asarray(data.density_g_cm3)
    assert np.all((rho >= 0.5 - 1e-5) & (rho <= 10.0 + 1e-4))
    # outgoing momenta above the cut: p >= p(10 MeV) for each type
    p_min = np.asarray(rad._data.momentum(data.out_type, 10.0))
    p_in = np.asarray(rad._data.momentum(data.incident_type, data.incident_energy_mev))
    p = p_in[:, None] * np.exp(np.asarray(data.out_log_p))
    assert np.all(p[np.asarray(data.out_mask)] >= 0.999 * p_min[np.asarray(data.out_mask)])
    # resuming does nothing; a run with other settings is refused
    mtimes = [os.stat(f).st_mtime_ns for f in files]
    rad.make_bricks(out, events=16, shard_size=8, progress=False)
    assert [os.stat(f).st_mtime_ns for f in files] == mtimes
    with pytest.raises(ValueError, match="other settings"):
        rad.make_bricks(out, events=16, shard_size=8, seed=1, progress=False)
    # a lost shard is regenerated identically
    first = rad.read_bricks(files[1])
    files[1].unlink()
    rad.make_bricks(out, events=16, shard_size=8, progress=False)
    again = rad.read_bricks(files[1])
    np.testing.assert_array_equal(first.out_log_p, again.out_log_p)


@pytest.mark.slow
def test_rollout_of_the_mc_kernel_agrees_with_the_mc_on_the_grid(key):
    """Composition: chaining single-cube MC runs reproduces the MC on the whole grid."""
    rho = np.array([2.0, 8.96, 5.0, 10.0, 3.0], np.float32)[None, None, :]
    idx = np.zeros((1, 1, 5), int)
    grid = rad.Grid(idx, rho, 1.0)
    world = transport.Voxels(
        idx, ["Cu", "LAr"], voxel_cm=1.0, density_g_cm3=rho, origin_cm=(0.0, 0.0, 0.0)
    )
    inc = rad.incident_on_face(grid, 1, 200.0)
    particle = transport.Particle(11, 200.0, position=inc.position, direction=inc.direction)
    n = 600
    k1, k2 = jax.random.split(key)
    mc = jax.jit(
        jax.vmap(lambda k: transport.simulate(k, world, particle, cut_mev=10.0, capacity=256))
    )(jax.random.split(k1, n))
    kernel = rad.TransportKernel(exit_capacity=8, buffer=32)
    ro = jax.jit(jax.vmap(lambda k: rad.rollout(k, kernel, grid, inc, capacity=16)))(
        jax.random.split(k2, n)
    )
    assert not bool(np.any(mc.overflow)) and not bool(np.any(ro.overflow))
    a = np.asarray(mc.deposit_mev).reshape(n, -1)
    b = np.asarray(ro.deposit_mev).reshape(n, -1)
    se = np.sqrt(a.var(0, ddof=1) / n + b.var(0, ddof=1) / n)
    assert np.all(np.abs(a.mean(0) - b.mean(0)) < 4 * se)
    ta, tb = a.sum(1), b.sum(1)
    assert abs(ta.mean() - tb.mean()) < 4 * np.sqrt(ta.var() / n + tb.var() / n)
    for t, pdg in enumerate((22, 11, -11)):
        na = np.asarray((mc.exiting.pdg == pdg) & mc.exiting.mask).sum(1)
        nb = np.asarray((ro.exiting.type == t) & ro.exiting.mask).sum(1)
        assert abs(na.mean() - nb.mean()) < 4 * np.sqrt(na.var() / n + nb.var() / n) + 1e-9
