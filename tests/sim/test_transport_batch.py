"""Tests of hepjax.sim.transport.simulate_batch: agreement in distribution with
``jax.vmap(simulate)`` (the reference), energy conservation event by event, overflow
flags and bad input.

The compiled functions are shared through module-scope fixtures (compilation is most
of the runtime); ``simulate_batch`` is called without an outer ``jit``, so its
compiled core is reused across calls with the same static configuration.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from hepjax.sim import transport

ME = 0.51099895
N_PER_TYPE = 400
TYPES = (22, 11, -11)
ENERGY = 200.0
CUT = 2.0
CFG = dict(cut_mev=CUT, capacity=512, width=64, exit_capacity=48)


@pytest.fixture(scope="module")
def world():
    return transport.Slabs(["Pb", "LAr", "Cu"], [0.4, 1.5, 0.5])


@pytest.fixture(scope="module")
def particles():
    pdg = np.repeat(TYPES, N_PER_TYPE)
    n = pdg.size
    pos = np.zeros((n, 3), np.float32)
    pos[:, 0] = np.linspace(-0.5, 0.5, n)
    return transport.Particle(pdg, np.full(n, ENERGY), pos, np.tile([0.0, 0.0, 1.0], (n, 1)))


@pytest.fixture(scope="module")
def batch(world, particles):
    return transport.simulate_batch(jax.random.key(11), world, particles, **CFG)


@pytest.fixture(scope="module")
def reference(world, particles):
    sim = jax.jit(
        jax.vmap(
            lambda k, p: transport.simulate(
                k, world, p, cut_mev=CUT, capacity=128, exit_capacity=48
            )
        )
    )
    return sim(jax.random.split(jax.random.key(12), particles.pdg.shape[0]), particles)


def _balance(res, pdg):
    """(deposited + exiting energy, incident energy) per event."""
    ex = res.exiting
    out = jnp.where(ex.mask, ex.energy_mev + jnp.where(ex.pdg == -11, 2 * ME, 0.0), 0.0)
    got = jnp.sum(res.deposit_mev, -1) + jnp.sum(out, -1)
    want = ENERGY + jnp.where(jnp.asarray(pdg) == -11, 2 * ME, 0.0)
    return np.asarray(got), np.asarray(want)


def _assert_same_mean(a, b, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) <= 4 * se + 1e-6, (what, a.mean(), b.mean(), se)


@pytest.mark.slow  # compile-heavy: in the slow suite for the make-test budget
def test_batch_agrees_with_vmapped_simulate(batch, reference, particles):
    assert batch.deposit_mev.shape == reference.deposit_mev.shape == (3 * N_PER_TYPE, 3)
    assert batch.exiting.mask.shape == (3 * N_PER_TYPE, 48)
    for r in (batch, reference):
        assert not bool(r.overflow.any()) and not bool(r.truncated.any())
    pdg = np.asarray(particles.pdg)
    for t in TYPES:
        sel = pdg == t
        b = jax.tree.map(lambda a, sel=sel: np.asarray(a)[sel], batch)
        r = jax.tree.map(lambda a, sel=sel: np.asarray(a)[sel], reference)
        for layer in range(3):
            _assert_same_mean(b.deposit_mev[:, layer], r.deposit_mev[:, layer], (t, layer))
        # the whole distribution of the total deposit (two-sample KS)
        ks = stats.ks_2samp(b.deposit_mev.sum(1), r.deposit_mev.sum(1))
        assert ks.pvalue > 1e-3, (t, ks)
        for code in TYPES:
            nb = (b.exiting.mask & (b.exiting.pdg == code)).sum(1)
            nr = (r.exiting.mask & (r.exiting.pdg == code)).sum(1)
            _assert_same_mean(nb, nr, ("multiplicity", t, code))
            eb = np.where(b.exiting.mask & (b.exiting.pdg == code), b.exiting.energy_mev, 0).sum(1)
            er = np.where(r.exiting.mask & (r.exiting.pdg == code), r.exiting.energy_mev, 0).sum(1)
            _assert_same_mean(eb, er, ("exiting energy", t, code))
        _assert_same_mean(b.n_interactions, r.n_interactions, ("interactions", t))
        _assert_same_mean(b.n_particle_steps, r.n_particle_steps, ("particle steps", t))


def test_batch_conserves_energy_event_by_event(batch, particles):
    got, want = _balance(batch, particles.pdg)
    np.testing.assert_allclose(got, want, rtol=2e-5)
    ex = batch.exiting
    d = np.asarray(ex.direction)[np.asarray(ex.mask)]
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-5)
    # exit points lie on the world's faces z = 0 or z = 2.4 (slabs are infinite in x, y)
    z = np.asarray(ex.position)[np.asarray(ex.mask)][:, 2]
    assert np.all(np.isclose(z, 0.0, atol=1e-5) | np.isclose(z, 2.4, atol=1e-4))
    assert np.all(np.asarray(batch.n_steps) >= 1)


@pytest.mark.slow  # compile-heavy: in the slow suite for the make-test budget
def test_exit_store_overflow_flags_exactly_the_full_events(world, particles, batch):
    # same key and pool: the same histories; only the exit store is smaller
    small = transport.simulate_batch(
        jax.random.key(11), world, particles, **{**CFG, "exit_capacity": 1}
    )
    n_exit = np.asarray(batch.exiting.mask.sum(1))
    np.testing.assert_array_equal(np.asarray(small.overflow), n_exit > 1)
    np.testing.assert_allclose(small.deposit_mev, batch.deposit_mev, rtol=1e-6)
    np.testing.assert_array_equal(small.exiting.mask[:, 0], n_exit >= 1)


def test_pool_overflow_flag_and_error():
    world = transport.Slabs(["Pb"] * 4, [0.5] * 4)
    ps = transport.Particle(11, 2000.0).broadcast(6)
    kw = dict(cut_mev=1.0, capacity=16, width=8, exit_capacity=64)
    res = transport.simulate_batch(jax.random.key(0), world, ps, **kw)
    assert bool(res.overflow.any())
    with pytest.raises(Exception, match="transport buffer overflow"):
        jax.block_until_ready(
            transport.simulate_batch(jax.random.key(0), world, ps, on_overflow="error", **kw)
        )


def test_start_on_the_surface_moving_out_exits_at_once(world, particles):
    n = particles.pdg.shape[0]
    d = np.tile([0.0, 0.0, 1.0], (n, 1))
    d[0] = [0.0, 0.0, -1.0]  # on the front face, moving out of the world
    ps = transport.Particle(particles.pdg, particles.energy_mev, particles.position, d)
    res = transport.simulate_batch(jax.random.key(1), world, ps, **CFG)
    assert int(res.exiting.mask[0].sum()) == 1 and float(res.deposit_mev[0].sum()) == 0.0
    assert float(res.exiting.energy_mev[0, 0]) == ENERGY
    got, want = _balance(res, particles.pdg)
    np.testing.assert_allclose(got, want, rtol=2e-5)


@pytest.mark.slow  # compile-heavy: in the slow suite for the make-test budget
def test_batch_bad_inputs(no_jaxtyping, world, particles):
    key = jax.random.key(0)
    one = transport.Particle(22, 5.0)
    with pytest.raises(ValueError, match="particles must have a leading batch axis"):
        transport.simulate_batch(key, world, one)
    with pytest.raises(TypeError, match="world must be transport.Slabs or transport.Voxels"):
        transport.simulate_batch(key, "Pb", one.broadcast(2))
    with pytest.raises(TypeError, match="particles must be a transport.Particle"):
        transport.simulate_batch(key, world, [one])
    bad = transport.Particle(jnp.array([22, 22]), jnp.array([5.0, 5.0]), jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"particles.position must have shape \(2, 3\)"):
        transport.simulate_batch(key, world, bad)
    with pytest.raises(ValueError, match="capacity must be at least 2 \\* width"):
        transport.simulate_batch(key, world, one.broadcast(2), capacity=64, width=64)
    with pytest.raises(ValueError, match="on_overflow must be one of"):
        transport.simulate_batch(key, world, one.broadcast(2), on_overflow="ignore")
    with pytest.raises(ValueError, match="cut_mev must be a positive scalar"):
        transport.simulate_batch(key, world, one.broadcast(2), cut_mev=-1.0)
    with pytest.raises(ValueError, match="broadcast needs a single particle"):
        one.broadcast(2).broadcast(3)
    pos = np.asarray(particles.position).copy()
    pos[5, 2] = -1.0
    outside = transport.Particle(particles.pdg, particles.energy_mev, pos, particles.direction)
    with pytest.raises(ValueError, match=r"particles.position\[5\] .* is outside the world"):
        transport.simulate_batch(key, world, outside, **CFG)
