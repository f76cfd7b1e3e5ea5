"""The Vipr pile-up overlay against closed-form expectations, on synthetic pools."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import pileup
from hepjax.data.collider import ParticlePool

MEAN_PARTICLES = 80


def _pool(eta_low=-4.0, eta_high=4.0, events=200, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(MEAN_PARTICLES, events)
    width = counts.max()
    mask = np.arange(width)[None, :] < counts[:, None]
    return ParticlePool(
        pt=np.where(mask, rng.exponential(1.0, (events, width)) + 0.5, 0).astype(np.float32),
        eta=np.where(mask, rng.uniform(eta_low, eta_high, (events, width)), 0).astype(np.float32),
        phi=np.where(mask, rng.uniform(-np.pi, np.pi, (events, width)), 0).astype(np.float32),
        pdg=np.where(mask, 211, 0).astype(np.int32),
        mask=mask,
    )


def _jet(eta=0.0, phi=3.0, n=6):
    rng = np.random.default_rng(1)
    particles = np.stack(
        [rng.uniform(20, 80, n), eta + rng.normal(0, 0.05, n), phi + rng.normal(0, 0.05, n)], -1
    )
    mask = np.arange(n) < n - 1  # one padded slot
    return jnp.asarray(particles, jnp.float32), jnp.asarray(mask)


def _expected(pool, axis_eta, num_events, radius=1.0):
    """The mean number of pile-up particles in the cone given this pool: a particle at eta
    lands in it (over the uniform rotation) with probability 2 sqrt(R^2 - d^2) / 2 pi,
    d its eta distance to the axis, for either sign of eta with probability 1/2."""

    def inside(eta):
        d2 = (eta - axis_eta) ** 2
        return (
            np.where(pool.mask & (d2 < radius**2), np.sqrt(np.clip(radius**2 - d2, 0, None)), 0)
            / np.pi
        )

    per_event = 0.5 * (inside(pool.eta) + inside(-pool.eta)).sum(1)
    return num_events * per_event.mean()


def _samples(overlay, jet, count=400, seed=0):
    keys = jax.random.split(jax.random.key(seed), count)
    return jax.jit(jax.vmap(lambda k: overlay.sample(k, *jet)))(keys)


def test_added_particles_match_the_expected_density_and_lie_inside_the_cone():
    overlay = pileup.Overlay(_pool(), mu=20, radius=1.0)
    jet = _jet(phi=3.0)  # next to the phi wrap-around
    out = _samples(overlay, jet)
    added = np.asarray(out.mask & out.is_pileup).sum(1)
    axis_eta, axis_phi = pileup.jet_axis(*jet)
    expected = _expected(overlay_pool := _pool(), float(axis_eta), 20)
    # uniform particles in |eta| < 4: about a fraction pi R^2 / (8 * 2 pi) = 1/16 of each event
    assert expected == pytest.approx(20 * overlay_pool.mask.sum(1).mean() / 16, rel=0.03)
    assert abs(added.mean() - expected) < 4 * added.std() / np.sqrt(len(added))
    assert np.all(np.asarray(out.num_events) == 20) and int(np.asarray(out.overflow).max()) == 0
    p = np.asarray(out.particles)
    pu = np.asarray(out.mask & out.is_pileup)
    dphi = (p[..., 2] - float(axis_phi) + np.pi) % (2 * np.pi) - np.pi
    dr = np.hypot(p[..., 1] - float(axis_eta), dphi)
    assert dr[pu].max() <= 1.0 + 1e-5
    # the hard-scatter constituents stay in their slots, padding stays padding
    n = jet[0].shape[0]
    np.testing.assert_array_equal(
        p[:, : n - 1], np.broadcast_to(np.asarray(jet[0])[: n - 1], (400, n - 1, 3))
    )
    assert not np.asarray(out.mask)[:, n - 1].any()
    assert overlay.expected_particles(20) == pytest.approx(expected, rel=0.1)


def test_eta_flip_brings_one_sided_pile_up_to_both_sides():
    pool = _pool(eta_low=0.0, eta_high=4.0)  # every pool particle at eta > 0
    overlay = pileup.Overlay(pool, mu=20, radius=1.0)
    # half of the events are flipped: at eta = +-2 each side sees about 10 events at
    # density 80/4 per unit eta, 100 particles in the cone; without the flip, none at -2
    for eta in (2.0, -2.0):
        jet = _jet(eta=eta)
        expected = _expected(pool, float(pileup.jet_axis(*jet)[0]), 20)
        assert expected == pytest.approx(10 * MEAN_PARTICLES / 8, rel=0.05)
        added = np.asarray(_samples(overlay, jet, seed=3).mask).sum(1) - 5
        assert abs(added.mean() - expected) < 4 * added.std() / np.sqrt(len(added))


def test_mu_from_a_distribution_and_the_call_contract():
    overlay = pileup.Overlay(_pool(), mu=pileup.AbsNormal(30.0, 10.0), radius=0.8)
    out = _samples(overlay, _jet(), count=300)
    mu = np.asarray(out.mu)
    assert (mu >= 0).all() and abs(mu.mean() - 30.0) < 4 * 10.0 / np.sqrt(300)
    np.testing.assert_array_equal(np.asarray(out.num_events), np.round(mu))
    particles, mask, mu0 = overlay(jax.random.key(0), _jet())
    assert particles.shape == (6 + overlay.capacity, 3) and mask.shape == particles.shape[:1]
    assert mu0.shape == ()


def test_overflow_is_counted_not_hidden():
    overlay = pileup.Overlay(_pool(), mu=20, radius=1.0, capacity=10)
    out = _samples(overlay, _jet(), count=20)
    assert (np.asarray(out.mask & out.is_pileup).sum(1) == 10).all()
    assert (np.asarray(out.overflow) > 0).all()


def test_bad_input(no_jaxtyping):
    pool = _pool()
    with pytest.raises(ValueError, match="mu must be a number >= 0"):
        pileup.Overlay(pool, mu=-1.0)
    with pytest.raises(ValueError, match="radius"):
        pileup.Overlay(pool, mu=5, radius=0.0)
    empty = pool._replace(mask=np.zeros_like(pool.mask))
    with pytest.raises(ValueError, match="at least one particle"):
        pileup.Overlay(empty, mu=5)
    bad = pool._replace(pt=np.where(pool.mask, np.nan, 0.0))
    with pytest.raises(ValueError, match="finite"):
        pileup.Overlay(bad, mu=5)
    negative = pool._replace(pt=np.where(pool.mask, -1.0, 0.0))
    with pytest.raises(ValueError, match="pt >= 0"):
        pileup.Overlay(negative, mu=5)
    with pytest.raises(ValueError, match="max_events is required"):
        pileup.Overlay(pool, mu=lambda key: 3.0)
    with pytest.raises(ValueError, match="std >= 0"):
        pileup.AbsNormal(10.0, -1.0)
    overlay = pileup.Overlay(pool, mu=5)
    with pytest.raises(ValueError, match="particles must be"):
        overlay.sample(jax.random.key(0), jnp.zeros((4, 4)), jnp.ones(4, bool))
