"""Composition: the rollout through voxel grids, against closed forms and conservation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import radiation as rad


def _run(kernel, grid, incident, keys, capacity=32, wave_size=None):
    fn = jax.jit(
        jax.vmap(
            lambda k: rad.rollout(k, kernel, grid, incident, capacity=capacity, wave_size=wave_size)
        )
    )
    return fn(keys)


def test_straight_electron_deposits_the_closed_form_per_cube(key):
    # continuous loss only: each 1 cm Cu cube of density rho takes S rho until below the cut
    toy = rad.ToyKernel(interactions=False)
    rho = jnp.array([2.0, 5.0, 8.0, 9.0, 10.0])
    grid = rad.Grid(jnp.zeros((1, 1, 5), int), rho[None, None, :], 1.0)
    e0 = 60.0
    inc = rad.incident_on_face(grid, 1, e0)
    res = _run(toy, grid, inc, jax.random.split(key, 2))
    want, e = [], e0
    for r in np.asarray(rho):
        if e < 10.0:
            want.append(0.0)
            continue
        loss = 1.26 * r * 1.0
        d = loss if e - loss >= 10.0 else e
        want.append(d)
        e -= d
    np.testing.assert_allclose(res.deposit_mev[0].ravel(), want, rtol=1e-5, atol=1e-4)
    assert not bool(res.overflow[0])


def test_a_photon_without_interactions_crosses_the_grid_on_a_straight_line(key):
    toy = rad.ToyKernel(interactions=False)
    grid = rad.Grid(jnp.zeros((3, 3, 4), int), 1.0, 2.0)
    d = jnp.array([0.45, 0.2, 1.0])
    d = d / jnp.linalg.norm(d)
    inc = rad.incident_on_face(grid, 0, 100.0, xy_cm=(1.1, 2.3), direction=d)
    res = _run(toy, grid, inc, jax.random.split(key, 1))
    ex = jax.tree.map(lambda a: np.asarray(a[0]), res.exiting)
    assert ex.mask.sum() == 1
    # where the line leaves the box [0, 6] x [0, 6] x [0, 8]
    p0 = np.array([1.1, 2.3, 0.0])
    dd = np.asarray(d)
    s = min((6.0 - p0[0]) / dd[0], (6.0 - p0[1]) / dd[1], (8.0 - p0[2]) / dd[2])
    np.testing.assert_allclose(ex.position[0], p0 + s * dd, atol=1e-4)
    np.testing.assert_allclose(ex.direction[0], dd, atol=1e-6)
    assert abs(float(ex.energy_mev[0]) - 100.0) < 1e-4
    assert float(jnp.sum(res.deposit_mev)) == 0.0
    assert int(res.num_waves[0]) >= 4  # it crossed at least four cubes


@pytest.mark.parametrize("wave_size", [None, 2])
def test_rollout_conserves_energy_event_by_event(key, wave_size):
    toy = rad.ToyKernel()
    rho = jnp.array([1.0, 3.0, 9.0, 0.7, 5.0])
    grid = rad.Grid(jnp.array([0, 1, 0, 1, 0])[None, None, :], rho[None, None, :], 1.0)
    inc = rad.incident_on_face(grid, 0, 250.0)
    res = _run(toy, grid, inc, jax.random.split(key, 64), wave_size=wave_size)
    assert not bool(jnp.any(res.overflow))
    total = jnp.sum(res.deposit_mev, axis=(1, 2, 3))
    total = total + jnp.sum(jnp.where(res.exiting.mask, res.exiting.energy_mev, 0.0), axis=1)
    np.testing.assert_allclose(total, 250.0, rtol=1e-5)
    assert float(jnp.std(total - 250.0)) < 1e-3
    assert float(jnp.mean(jnp.sum(res.exiting.mask, 1))) > 1.0  # showers happened
    if wave_size is None:  # a buffer of one slot overflows as soon as a particle splits
        small = _run(toy, grid, inc, jax.random.split(key, 64), capacity=1)
        split = np.asarray(jnp.sum(res.exiting.mask, 1)) > 1
        np.testing.assert_array_equal(np.asarray(small.overflow)[split], True)


@pytest.mark.slow
def test_vmap_over_incident_particles_matches_single_runs(key):
    toy = rad.ToyKernel()
    grid = rad.Grid(jnp.zeros((2, 2, 3), int), 4.0, 1.0)
    energies = jnp.array([50.0, 120.0, 300.0])
    incs = jax.vmap(lambda e: rad.incident_on_face(grid, 1, e))(energies)
    keys = jax.random.split(key, 3)
    fn = jax.jit(lambda k, i: rad.rollout(k, toy, grid, i, capacity=32))
    batch = jax.vmap(fn)(keys, incs)
    for j in range(3):
        one = fn(keys[j], jax.tree.map(functools.partial(lambda i, a: a[i], j), incs))
        np.testing.assert_allclose(one.deposit_mev, batch.deposit_mev[j], rtol=1e-5, atol=1e-4)


def test_bad_inputs(key):
    with pytest.raises(ValueError, match="3-d grid"):
        rad.Grid(np.zeros((2, 2), int), 1.0, 1.0)
    with pytest.raises(ValueError, match="density_g_cm3 must be positive"):
        rad.Grid(np.zeros((1, 1, 2), int), np.array([1.0, -1.0])[None, None], 1.0)
    with pytest.raises(TypeError, match="integers"):
        rad.Grid(np.zeros((1, 1, 2)), 1.0, 1.0)
    grid = rad.Grid(np.zeros((1, 1, 2), int), 1.0, 1.0)
    inc = rad.incident_on_face(grid, 0, 50.0)
    with pytest.raises(TypeError, match="AbstractKernel"):
        rad.rollout(key, lambda k, i, c: None, grid, inc)
    with pytest.raises(ValueError, match="capacity"):
        rad.rollout(key, rad.ToyKernel(), grid, inc, capacity=0)
    with pytest.raises(ValueError, match="wave_size"):
        rad.rollout(key, rad.ToyKernel(), grid, inc, capacity=4, wave_size=5)


def test_bad_incident_particles(key):
    grid = rad.Grid(np.zeros((1, 1, 2), int), 1.0, 1.0)
    toy = rad.ToyKernel()
    with pytest.raises(ValueError, match="energy_mev must be positive"):
        rad.rollout(key, toy, grid, rad.incident_on_face(grid, 0, -5.0))
    with pytest.raises(ValueError, match="unit vector"):
        rad.rollout(key, toy, grid, rad.incident_on_face(grid, 0, 50.0, direction=(0, 0, 2.0)))
    with pytest.raises(ValueError, match="incident.type"):
        rad.rollout(key, toy, grid, rad.incident_on_face(grid, 5, 50.0))
    with pytest.raises(TypeError, match="Incident"):
        rad.rollout(key, toy, grid, (0, 50.0))
