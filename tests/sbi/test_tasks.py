"""sbibm tasks: simulators, likelihoods and reference posteriors agree with each other."""

import ast
import pathlib
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from hepjax import sbi
from hepjax.sim import lensing

ALL_TASKS = (
    "gaussian_linear",
    "hierarchical_gaussian",
    "lensing_ensemble",
    "on_off",
    "resonance_mixture",
    "slcp",
    "two_moons",
)
SMALL = {  # cheap settings for the heavier tasks
    "hierarchical_gaussian": dict(min_events=2, max_events=4),
    "resonance_mixture": dict(min_events=2, max_events=4),
    "lensing_ensemble": dict(
        max_events=2, instrument=lensing.Instrument(num_pix=8, pixel_scale=0.6, supersample=1)
    ),
}


@pytest.mark.slow  # 9-14 s; in `make test-slow` (CI), to keep `make test` under 15 min
def test_registry_has_every_task_and_each_simulates(key):
    assert sbi.tasks.names() == ALL_TASKS
    for name in ALL_TASKS:
        task = sbi.tasks.get(name, **SMALL.get(name, {}))
        assert task.name == name and sbi.tasks.get(task.name, **SMALL.get(name, {})) == task
        assert isinstance(task, sbi.tasks.AbstractTask)
        theta, x = task.simulate(key, 3)
        assert theta.shape == (3, task.dim_theta) and x.shape[0] == 3
        if isinstance(task, sbi.tasks.AbstractHierarchicalTask):
            assert x.shape[1:] == (task.max_events, *task.event_shape)
            real = ~np.isnan(np.asarray(x).reshape(3, task.max_events, -1)).all(-1)
            assert real.any(axis=1).all() and np.isfinite(np.asarray(x)[real]).all()
        else:
            assert x.shape == (3, task.dim_x) and np.isfinite(np.asarray(x)).all()
        assert np.isfinite(np.asarray(jax.vmap(task.log_prior)(theta))).all()


def test_get_and_shapes(key):
    for name, (d, dx) in {"gaussian_linear": (10, 10), "two_moons": (2, 2), "slcp": (5, 8)}.items():
        task = sbi.tasks.get(name)
        assert (task.name, task.dim_theta, task.dim_x) == (name, d, dx)
    assert sbi.tasks.get("gaussian_linear", dim=3).dim_x == 3
    with pytest.raises(ValueError, match="unknown task 'nope'; known tasks: gaussian_linear, "):
        sbi.tasks.get("nope")


def test_register_refuses_unnamed_and_taken_names():
    class Unnamed(sbi.tasks.GaussianLinear):
        pass

    with pytest.raises(TypeError, match="Unnamed needs a class attribute name"):
        sbi.tasks.register(Unnamed)

    class Taken(sbi.tasks.GaussianLinear):
        name: ClassVar[str] = "two_moons"

    with pytest.raises(ValueError, match="task name 'two_moons' is taken by TwoMoons"):
        sbi.tasks.register(Taken)
    assert sbi.tasks.names() == ALL_TASKS


def test_task_modules_do_not_import_each_other_in_a_cycle():
    package = pathlib.Path(sbi.tasks.__file__).parent
    graph = {}
    for path in package.glob("_*.py"):
        tree = ast.parse(path.read_text())
        graph[path.stem] = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }

    def reaches(start, target, seen=()):
        return any(
            m == target or (m not in seen and reaches(m, target, (*seen, m)))
            for m in graph.get(start, ())
        )

    assert graph["_hierarchical"] == {"_base"} and "_hierarchical" not in graph["_tasks"]
    assert not any(reaches(m, m) for m in graph)


def test_hierarchical_tasks_give_ensembles_with_masks(key):
    task = sbi.tasks.get("hierarchical_gaussian", min_events=2, max_events=6)
    theta, z, x, mask = task.simulate_ensembles(key, 50)
    theta_nan, z_nan, x_nan = task.simulate_with_local(key, 50)
    assert mask.shape == (50, 6) and mask.dtype == bool
    assert mask.sum(1).min() >= 2 and mask.any(1).all()
    np.testing.assert_array_equal(theta, theta_nan)
    # the same draws: zero padding in one form, NaN padding in the other
    m = np.asarray(mask)
    np.testing.assert_array_equal(np.asarray(x)[m], np.asarray(x_nan)[m])
    np.testing.assert_array_equal(np.asarray(z)[m], np.asarray(z_nan)[m])
    assert (np.asarray(x)[~m] == 0).all() and np.isnan(np.asarray(x_nan)[~m]).all()
    np.testing.assert_array_equal(~np.isnan(np.asarray(x_nan)[..., 0]), m)
    # the observation methods agree on either form, whatever the padding holds
    junk = jnp.where(mask[0][:, None], x[0], 1e3)
    for t in (theta[0], theta[1]):
        np.testing.assert_allclose(
            task.log_likelihood(t, junk, mask[0]), task.log_likelihood(t, x_nan[0]), rtol=1e-6
        )
    mean_m, cov_m = task.posterior_mean_cov(junk, mask[0])
    mean_n, cov_n = task.posterior_mean_cov(x_nan[0])
    np.testing.assert_allclose(mean_m, mean_n)
    np.testing.assert_allclose(cov_m, cov_n)
    local = task.reference_local_posterior(key, junk, 10, theta[0], mask=mask[0])
    assert np.isnan(np.asarray(local)[:, ~m[0]]).all()
    assert np.isfinite(np.asarray(local)[:, m[0]]).all()
    th, z1, x1, m1 = task.observation_ensemble(key)
    assert x1.shape == (6, 2) and m1.shape == (6,) and z1.shape == (6, 2) and th.shape == (2,)
    with pytest.raises(ValueError, match="entirely of padding"):
        task.check_observation(x[0], jnp.zeros(6, bool))
    with pytest.raises(ValueError, match=r"mask must have shape \(6\)"):
        task.check_observation(x[0], jnp.ones(5, bool))


def test_tasks_without_a_reference_posterior_say_so(key):
    task = sbi.tasks.get("lensing_ensemble", **SMALL["lensing_ensemble"])
    x = jnp.zeros((2, 8, 8))
    with pytest.raises(NotImplementedError, match="'lensing_ensemble' has no reference posterior"):
        task.reference_posterior(key, x, 10)
    with pytest.raises(NotImplementedError, match="no tractable event likelihood"):
        task.log_likelihood(jnp.array([1.0, 0.1]), x)


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
