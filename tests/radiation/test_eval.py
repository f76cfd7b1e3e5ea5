"""Evaluation helpers: features, per-feature W1, multiplicity agreement."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import radiation as rad


@functools.partial(jax.jit, static_argnums=(1, 2))
def _toy(key, n, toy):
    def one(k):
        k1, k2, k3 = jax.random.split(k, 3)
        inc = rad.random_incident(k1, 1.0)
        cube = rad.Cube(0, jnp.exp(jax.random.uniform(k2, maxval=math.log(10.0))), 1.0)
        return rad.to_interaction(inc, cube, toy(k3, inc, cube))

    return jax.vmap(one)(jax.random.split(key, n))


def test_features_have_one_row_per_particle_and_event(key):
    data = _toy(key, 500, rad.ToyKernel())
    pf = rad.particle_features(data)
    assert pf.shape == (int(np.asarray(data.out_mask).sum()), len(rad.PARTICLE_FEATURES))
    np.testing.assert_allclose(pf[:, :3].sum(1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(pf[:, 4:7], axis=1), 1.0, atol=1e-5)
    ef = rad.event_features(data)
    assert ef.shape == (500, len(rad.EVENT_FEATURES))
    np.testing.assert_array_equal(ef[:, :3].sum(1), np.asarray(data.out_mask).sum(1))


def test_feature_w1_of_a_shift_is_the_shift(rng):
    a = rng.normal(size=(4000, 2))
    b = a + np.array([0.3, -1.0])
    np.testing.assert_allclose(rad.feature_w1(a, b), [0.3, 1.0], atol=1e-6)
    with pytest.raises(ValueError, match="same d"):
        rad.feature_w1(a, b[:, :1])


def test_multiplicity_agreement_tells_same_from_different(key):
    k1, k2, k3 = jax.random.split(key, 3)
    toy = rad.ToyKernel()
    a, b = _toy(k1, 2000, toy), _toy(k2, 2000, toy)
    same = rad.multiplicity_agreement(a, b)
    assert same.fraction >= 0.75
    assert np.all(same.truth.sum(1) == 2000)
    other = _toy(k3, 2000, rad.ToyKernel(cut_mev=40.0))
    assert rad.multiplicity_agreement(a, other).fraction < 0.5
