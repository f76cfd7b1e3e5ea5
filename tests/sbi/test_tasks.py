"""sbibm tasks: simulators, likelihoods and reference posteriors agree with each other."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from hepjax import sbi


def test_get_and_shapes(key):
    for name, (d, dx) in {"gaussian_linear": (10, 10), "two_moons": (2, 2), "slcp": (5, 8)}.items():
        task = sbi.tasks.get(name)
        assert (task.name, task.dim_theta, task.dim_x) == (name, d, dx)
        theta, x = task.simulate(key, 7)
        assert theta.shape == (7, d) and x.shape == (7, dx)
        assert np.isfinite(np.asarray(x)).all()
        lp = jax.vmap(task.log_prior)(theta)
        assert np.isfinite(np.asarray(lp)).all()
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        sbi.tasks.get("nope")


def test_gaussian_linear_prior_and_simulator_moments(key):
    task = sbi.tasks.get("gaussian_linear")
    theta, x = task.simulate(key, 20_000)
    # sbibm: covariance 0.1 I for the prior and for the noise
    assert abs(float(jnp.var(theta)) - 0.1) < 4 * 0.1 * np.sqrt(2 / theta.size)
    assert abs(float(jnp.var(x - theta)) - 0.1) < 4 * 0.1 * np.sqrt(2 / theta.size)


def test_gaussian_linear_posterior_is_conjugate(key):
    task = sbi.tasks.get("gaussian_linear")
    x_obs = jnp.linspace(-0.5, 0.5, 10)
    mean, cov = task.posterior_mean_cov(x_obs)
    np.testing.assert_allclose(mean, x_obs / 2, rtol=1e-6)
    np.testing.assert_allclose(cov, 0.05 * np.eye(10), rtol=1e-6)
    samples = task.reference_posterior(key, x_obs, 4000)
    stderr = np.sqrt(0.05 / 4000)
    assert np.all(np.abs(np.asarray(samples.mean(0)) - np.asarray(mean)) < 4 * stderr)
    # the log posterior from prior x likelihood is the same Gaussian up to a constant
    theta = samples[:5]
    lp = jax.vmap(lambda t: task.log_prior(t) + task.log_likelihood(t, x_obs))(theta)
    ref = stats.multivariate_normal(np.asarray(mean), np.asarray(cov)).logpdf(np.asarray(theta))
    diffs = np.asarray(lp) - ref
    np.testing.assert_allclose(diffs, diffs[0], atol=1e-3)


def test_two_moons_likelihood_is_normalised(key):
    task = sbi.tasks.get("two_moons")
    theta = jnp.array([0.3, -0.5])
    x = jax.vmap(task.simulator, in_axes=(0, None))(jax.random.split(key, 4), theta)
    centre = np.asarray(x.mean(0))
    g = np.linspace(-0.25, 0.25, 801)
    grid = np.stack(np.meshgrid(centre[0] + g, centre[1] + g, indexing="ij"), -1).reshape(-1, 2)
    dens = np.exp(np.asarray(jax.vmap(task.log_likelihood, in_axes=(None, 0))(theta, grid)))
    assert abs(dens.sum() * (g[1] - g[0]) ** 2 - 1.0) < 0.01


def test_two_moons_reference_matches_importance_sampling(key):
    task = sbi.tasks.get("two_moons")
    k_ref, k_prior = jax.random.split(key)
    x_obs = jnp.array([-0.2, 0.1])
    ref = np.asarray(task.reference_posterior(k_ref, x_obs, 4000))
    assert np.all(np.abs(ref) <= 1.0)
    prior = task.sample_prior(k_prior, 400_000)
    logw = np.asarray(jax.vmap(task.log_likelihood, in_axes=(0, None))(prior, x_obs))
    w = np.exp(logw - logw.max())
    w /= w.sum()
    prior = np.asarray(prior)
    for stat in (lambda t: t[:, 0], lambda t: t[:, 1], lambda t: t[:, 0] * t[:, 1]):
        is_mean = np.sum(w * stat(prior))
        is_err = np.sqrt(np.sum(w**2 * (stat(prior) - is_mean) ** 2))
        s = stat(ref)
        err = np.hypot(s.std() / np.sqrt(len(s)), is_err)
        assert abs(s.mean() - is_mean) < 4 * err


def test_slcp_likelihood_matches_scipy(key):
    task = sbi.tasks.get("slcp")
    theta = jnp.array([0.5, -1.0, 1.2, -0.8, 0.7])
    x = task.simulator(key, theta)
    s1, s2, rho = 1.2**2, 0.8**2, np.tanh(0.7)
    cov = np.array([[s1**2 + 1e-6, rho * s1 * s2], [rho * s1 * s2, s2**2 + 1e-6]])
    ref = stats.multivariate_normal([0.5, -1.0], cov).logpdf(np.asarray(x).reshape(4, 2)).sum()
    np.testing.assert_allclose(float(task.log_likelihood(theta, x)), ref, rtol=1e-4)
    # the likelihood is symmetric in the signs of theta[2] and theta[3]
    flipped = theta * jnp.array([1, 1, -1, -1, 1])
    np.testing.assert_allclose(task.log_likelihood(flipped, x), task.log_likelihood(theta, x))


def test_observation_shape_is_checked(key):
    task = sbi.tasks.get("two_moons")
    with pytest.raises(ValueError, match=r"x_obs must be one observation of shape \(2,\)"):
        task.reference_posterior(key, jnp.zeros(3), 10)
    with pytest.raises(ValueError, match="n must be a positive int"):
        task.simulate(key, 0)
