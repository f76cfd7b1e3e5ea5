"""The strong-lensing ensemble task (the CNN encoder is tested in tests/nn/test_sets.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from hepjax import sbi
from hepjax.sim import lensing

SMALL = lensing.Instrument(num_pix=16, pixel_scale=0.3, supersample=1)


def test_local_einstein_radii_follow_the_truncated_population(key):
    task = sbi.tasks.LensingEnsemble(instrument=SMALL)
    k1, k2 = jax.random.split(key)
    theta = task.sample_prior(k1, 2000)
    z = jax.jit(jax.vmap(task.sample_local))(jax.random.split(k2, 2000), theta)
    lo, hi = task.theta_e_range
    mu, sg, te = np.asarray(theta[:, 0]), np.asarray(theta[:, 1]), np.asarray(z[:, 0])
    u = scipy.stats.truncnorm.cdf(te, (lo - mu) / sg, (hi - mu) / sg, loc=mu, scale=sg)
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3
    assert np.all((np.asarray(z[:, 1]) > 0.6) & (np.asarray(z[:, 1]) <= 1.0))


@pytest.mark.slow
def test_lensing_ensemble_shapes_padding_and_local_prior(key):
    task = sbi.tasks.LensingEnsemble(min_events=2, max_events=6, instrument=SMALL)
    k1, k2 = jax.random.split(key)
    theta, z, x = task.simulate_with_local(k1, 200)
    assert theta.shape == (200, 2) and z.shape == (200, 6, 14) and x.shape == (200, 6, 16, 16)
    real = ~np.isnan(np.asarray(x)).all(axis=(2, 3))
    assert real.sum(1).min() >= 2 and real.sum(1).max() <= 6
    np.testing.assert_array_equal(real, ~np.isnan(np.asarray(z[..., 0])))
    assert np.isfinite(np.asarray(x)[real]).all()
    assert bool(jnp.all(jnp.isfinite(jax.vmap(task.log_prior)(theta))))
    # the Einstein radii follow N(mu_E, sigma_E^2) truncated to theta_e_range: check the
    # probability integral transform is uniform
    lo, hi = task.theta_e_range
    mu = np.repeat(np.asarray(theta[:, 0])[:, None], 6, 1)[real]
    sg = np.repeat(np.asarray(theta[:, 1])[:, None], 6, 1)[real]
    te = np.asarray(z[..., 0])[real]
    u = scipy.stats.truncnorm.cdf(te, (lo - mu) / sg, (hi - mu) / sg, loc=mu, scale=sg)
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3
    # fixed ensemble size, and the (x, mask) form of the same draws
    _, x = task.simulate(k2, 3, num_events=4)
    assert (~np.isnan(np.asarray(x)).all(axis=(2, 3))).sum(1).tolist() == [4, 4, 4]
    _, _, x_zero, mask = task.simulate_ensembles(k2, 3, num_events=4)
    assert np.asarray(mask).sum(1).tolist() == [4, 4, 4]
    real = np.asarray(x)[:, :4].reshape(12, 16, 16)
    np.testing.assert_array_equal(np.asarray(x_zero)[np.asarray(mask)], real)


def test_oracle_posterior_concentrates(key):
    task = sbi.tasks.LensingEnsemble(max_events=400, instrument=SMALL)
    k1, k2, k3 = jax.random.split(key, 3)
    truth = jnp.array([1.1, 0.2])
    theta_e = jax.jit(jax.vmap(task.sample_local, in_axes=(0, None)))(
        jax.random.split(k1, 400), truth
    )
    post = np.asarray(task.oracle_posterior(k2, theta_e[:, 0], 4000, grid_size=100))
    assert np.all(np.abs(post.mean(0) - np.asarray(truth)) < 4 * post.std(0))
    assert post.std(0)[0] < 0.02 and post.std(0)[1] < 0.015
    # fewer lenses: wider (NaN entries are padding)
    few = theta_e[:, 0].at[10:].set(jnp.nan)
    wide = np.asarray(task.oracle_posterior(k3, few, 4000, grid_size=100))
    assert np.all(wide.std(0) > 2 * post.std(0))
    # the same lenses given as a mask: the same draws
    mask = jnp.arange(400) < 10
    masked = task.oracle_posterior(k3, theta_e[:, 0], 4000, mask=mask, grid_size=100)
    np.testing.assert_array_equal(np.asarray(masked), wide)


def test_lensing_ensemble_bad_input(key):
    with pytest.raises(ValueError, match="must not exceed max_events"):
        sbi.tasks.LensingEnsemble(min_events=5, max_events=2)
    with pytest.raises(ValueError, match="mu_range must be"):
        sbi.tasks.LensingEnsemble(mu_range=(1.5, 0.8))
    task = sbi.tasks.LensingEnsemble(max_events=3, instrument=SMALL)
    with pytest.raises(ValueError, match=r"num_events must be in \[1, max_events=3\]"):
        task.simulate(key, 2, num_events=4)
