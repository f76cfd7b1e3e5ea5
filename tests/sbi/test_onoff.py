"""On/off Poisson task, profile likelihood ratios and the Neyman construction (coverage)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from hepjax import sbi
from hepjax.sbi import frequentist as freq

MU = np.linspace(0.0, 5.0, 21)
NU = np.linspace(20.0, 60.0, 5)


def exact_statistic(task, mu=MU):
    mu = jnp.asarray(mu, jnp.float32)
    return lambda x: (task.profile_likelihood_ratio(mu, x), task.profile_nu(mu, x))


def test_onoff_profile_and_mle_match_scipy():
    task = sbi.tasks.OnOff(s=8.0, tau=2.0)
    x = np.array([47.0, 61.0])

    def nll(mu, nu):
        return -(
            scipy.stats.poisson.logpmf(x[0], mu * 8.0 + nu)
            + scipy.stats.poisson.logpmf(x[1], 2.0 * nu)
        )

    for mu in (0.0, 0.7, 2.5):
        r = scipy.optimize.minimize_scalar(
            lambda nu, mu=mu: nll(mu, nu), bounds=(1e-6, 300), method="bounded"
        )
        np.testing.assert_allclose(float(task.profile_nu(mu, x)), r.x, rtol=1e-4)
    r = scipy.optimize.minimize(
        lambda p: nll(*p),
        [1.0, 30.0],
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10},
    )
    np.testing.assert_allclose(task.mle(x), r.x, rtol=1e-4)
    np.testing.assert_allclose(float(task.log_likelihood(r.x, x)), -r.fun, rtol=1e-5)
    t = task.profile_likelihood_ratio(jnp.array([0.0, 1.0, 2.0]), x)
    best = r.fun
    for mu, tv in zip((0.0, 1.0, 2.0), np.asarray(t), strict=True):
        prof = scipy.optimize.minimize_scalar(
            lambda nu, mu=mu: nll(mu, nu), bounds=(1e-6, 300), method="bounded"
        )
        np.testing.assert_allclose(tv, 2 * (prof.fun - best), atol=2e-3)
    # a deficit in the on region: mu_hat is 0 (mu >= 0) and t_0 = 0
    x = np.array([10.0, 30.0])
    np.testing.assert_allclose(task.mle(x), [0.0, 40.0 / 3.0], rtol=1e-6)
    assert float(task.profile_likelihood_ratio(0.0, x)) == 0.0


def test_onoff_simulate(key):
    task = sbi.tasks.OnOff()
    theta, x = task.simulate(key, 2000)
    assert theta.shape == (2000, 2) and x.shape == (2000, 2) and x.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(jax.vmap(task.log_prior)(theta))))
    # E[n_on] = mu s + nu, E[n_off] = tau nu
    resid = np.asarray(x - jax.vmap(task.rates)(theta))
    assert np.all(np.abs(resid.mean(0)) < 4 * resid.std(0) / np.sqrt(2000))


@pytest.mark.slow
def test_onoff_reference_posterior(key):
    task = sbi.tasks.OnOff()
    # the grid posterior peaks at the MLE (flat prior)
    x_obs = jnp.array([55.0, 38.0])
    post = np.asarray(task.reference_posterior(key, x_obs, 5000, grid_size=128))
    hist, mu_edges, nu_edges = np.histogram2d(post[:, 0], post[:, 1], bins=(10, 16))
    i, j = np.unravel_index(hist.argmax(), hist.shape)
    assert abs(0.5 * (mu_edges[i] + mu_edges[i + 1]) - 1.7) < 0.5
    assert abs(0.5 * (nu_edges[j] + nu_edges[j + 1]) - 38.0) < 4.0


def test_profile_likelihood_ratio_on_a_grid_matches_closed_form():
    task = sbi.tasks.OnOff()
    stat = jax.jit(freq.profile_likelihood_ratio(task.log_likelihood, MU, np.linspace(10, 80, 71)))
    for x in (jnp.array([55.0, 38.0]), jnp.array([30.0, 33.0])):
        t, nu_hat = stat(x)
        t_exact, nu_exact = exact_statistic(task)(x)
        np.testing.assert_allclose(t, t_exact, atol=5e-3)
        np.testing.assert_allclose(nu_hat, nu_exact, atol=0.05)


def test_neyman_gaussian_critical_values_and_intervals(key):
    # x ~ N(mu, 1), t_mu = (x - mu)^2 ~ chi2(1): critical values 1 and 4, intervals x -+ 1, 2
    mu = np.linspace(-3, 3, 61)

    def simulator(k, theta):
        return theta + jax.random.normal(k, (1,))

    def statistic(x):
        return (x[0] - jnp.asarray(mu)) ** 2

    belt = freq.neyman_construction(key, statistic, simulator, mu, num_toys=4000)
    q = scipy.stats.chi2.ppf(belt.cl, 1)
    crit = np.asarray(belt.critical[:, 0, :])
    # the sample quantile's standard error: sqrt(p (1 - p) / n) / f(q)
    f = scipy.stats.chi2.pdf(q, 1)
    se = np.sqrt(np.asarray(belt.cl) * (1 - np.asarray(belt.cl)) / 4000) / f
    assert np.all(np.abs(crit.mean(0) - q) < 4 * se / np.sqrt(len(mu)) + 1e-3)
    lo_hi = np.asarray(belt.interval(statistic(jnp.array([0.3]))))
    np.testing.assert_allclose(lo_hi[0], [-0.7, 1.3], atol=0.11)
    np.testing.assert_allclose(lo_hi[1], [-1.7, 2.3], atol=0.11)
    # coverage at a grid point: nominal within 4 binomial errors
    cov = freq.coverage(key, belt, statistic, simulator, (0.5,), num_trials=2000)
    assert np.all(np.abs(np.asarray(cov.pulls())) < 4), cov
    # 68%: x -+ 1 on a grid of step 0.1 (the 95% intervals are cut by the grid's ends)
    np.testing.assert_allclose(cov.mean_width[0], 2.0, atol=0.2)


@pytest.mark.slow
def test_neyman_coverage_of_exact_onoff(key):
    task = sbi.tasks.OnOff()
    stat = exact_statistic(task)
    k1, k2 = jax.random.split(key)
    mu, nu = MU[::2], NU[::2]
    stat = exact_statistic(task, mu)
    belt = freq.neyman_construction(k1, stat, task.simulator, mu, nu, num_toys=1000)
    cov = freq.coverage(k2, belt, stat, task.simulator, (1.0, 40.0), num_trials=1000)
    # the Neyman construction covers at the nominal level (within 4 binomial errors)
    assert np.all(np.abs(np.asarray(cov.pulls())) < 4), cov
    assert np.all(np.asarray(cov.mean_width) > 0)


def test_neyman_bad_input(key):
    task = sbi.tasks.OnOff()
    stat = exact_statistic(task)
    with pytest.raises(ValueError, match="poi must be a non-empty 1-d grid"):
        freq.neyman_construction(key, stat, task.simulator, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="strictly increasing"):
        freq.neyman_construction(key, stat, task.simulator, MU[::-1], NU)
    with pytest.raises(ValueError, match=r"cl must be confidence levels in \(0, 1\)"):
        freq.neyman_construction(key, stat, task.simulator, MU, NU, cl=1.5)
    with pytest.raises(ValueError, match="num_toys must be an int >= 2"):
        freq.neyman_construction(key, stat, task.simulator, MU, NU, num_toys=1)
    with pytest.raises(ValueError, match=r"statistic\(x\) must return t of shape \(3,\)"):
        freq.neyman_construction(key, stat, task.simulator, MU[:3], NU[:1], num_toys=2)
    belt = freq.NeymanBelt(
        jnp.asarray(MU), jnp.asarray(NU), jnp.ones((len(MU), len(NU), 2)), (0.68, 0.95), 4
    )
    with pytest.raises(ValueError, match="pass the profiled nuisance"):
        belt.interval(jnp.zeros(len(MU)))
    with pytest.raises(ValueError, match="must be a point of the belt's poi grid"):
        freq.coverage(key, belt, stat, task.simulator, (1.01, 40.0), num_trials=4)
    with pytest.raises(TypeError, match="needs an estimator with a relative_log_likelihood"):
        freq.learned_log_likelihood(task)
    with pytest.raises(sbi.NotFittedError, match="not fitted"):
        freq.learned_log_likelihood(sbi.NRE())
    with pytest.raises(ValueError, match="need 0 <= nu_min < nu_max"):
        sbi.tasks.OnOff(nu_min=5.0, nu_max=1.0)


@pytest.mark.slow
def test_learned_statistic_neyman_coverage(key):
    """NRE-learned profile likelihood ratio: nominal coverage, intervals close to the exact ones."""
    task = sbi.tasks.OnOff()
    k_sim, k_fit, k_belt, k_cov = jax.random.split(key, 4)
    theta, x = task.simulate(k_sim, 20_000)
    training = sbi.TrainingOptions(max_steps=8000, progress=False)
    est = sbi.NRE(hidden_size=64, num_layers=2, training=training).fit(k_fit, theta, x)
    mu = np.linspace(0.0, 5.0, 21)
    nu_prof = np.linspace(20.0, 60.0, 33)
    stat = freq.profile_likelihood_ratio(freq.learned_log_likelihood(est), mu, nu_prof)
    belt = freq.neyman_construction(
        k_belt, stat, task.simulator, mu, NU, num_toys=1000, unique=True
    )
    for truth in ((1.0, 40.0), (2.5, 30.0)):
        cov = freq.coverage(k_cov, belt, stat, task.simulator, truth, num_trials=1000, unique=True)
        assert np.all(np.abs(np.asarray(cov.pulls())) < 4), (truth, cov)
    # the learned statistic is close to the exact one where the data are typical
    x_obs = jnp.array([55.0, 38.0])
    t_learned, _ = jax.jit(stat)(x_obs)
    t_exact, _ = exact_statistic(task, mu)(x_obs)
    inside = np.asarray(t_exact) < 4
    assert np.abs(np.asarray(t_learned - t_exact))[inside].max() < 1.0
