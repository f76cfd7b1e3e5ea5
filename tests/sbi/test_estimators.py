"""NPE and FMPE on gaussian_linear against the analytic posterior; bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import sbi

NUM_SIMS = 2000


@pytest.fixture(scope="module")
def gaussian_data():
    task = sbi.tasks.get("gaussian_linear")
    theta, x = task.simulate(jax.random.key(0), NUM_SIMS)
    return task, np.asarray(theta), np.asarray(x)


@pytest.fixture(scope="module")
def npe(gaussian_data):
    _, theta, x = gaussian_data
    theta = theta.copy()
    theta[[3, 50, 700], [0, 4, 9]] = np.nan  # three broken simulations are dropped
    with pytest.warns(UserWarning, match=f"3 of {NUM_SIMS} training rows have NaN"):
        return sbi.NPE().fit(jax.random.key(1), theta, x)


def _check_gaussian_posterior(task, est, key):
    k_obs, k_s = jax.random.split(key)
    _, x_obs = task.observation(k_obs)
    samples = np.asarray(est.sample(k_s, x_obs, 4000))
    assert samples.shape == (4000, 10)
    mean, cov = (np.asarray(a) for a in task.posterior_mean_cov(x_obs))
    sd = np.sqrt(np.diag(cov))
    # estimator error at 2000 simulations dominates the sampling error (0.016 sd)
    assert np.max(np.abs(samples.mean(0) - mean) / sd) < 0.5
    est_cov = np.cov(samples.T)
    ratio = np.diag(est_cov) / np.diag(cov)
    assert np.all((ratio > 0.7) & (ratio < 1.5)), ratio
    corr = est_cov / np.sqrt(np.outer(np.diag(est_cov), np.diag(est_cov)))
    assert np.max(np.abs(corr - np.eye(10))) < 0.2


def test_npe_gaussian_linear_matches_analytic(gaussian_data, npe, key):
    task, _, _ = gaussian_data
    assert npe.history.num_train + npe.history.num_val == NUM_SIMS - 3
    _check_gaussian_posterior(task, npe, key)


def test_npe_log_prob_matches_analytic_up_to_error(gaussian_data, npe, key):
    task, _, _ = gaussian_data
    _, x_obs = task.observation(key)
    mean, cov = task.posterior_mean_cov(x_obs)
    theta = task.reference_posterior(key, x_obs, 2000)
    lq = np.asarray(npe.log_prob(theta, x_obs))
    lp = np.asarray(jax.scipy.stats.multivariate_normal.logpdf(theta, mean, cov))
    assert lq.shape == (2000,)
    # KL(p || q) = E_p[log p - log q] >= 0 and small for a good fit
    kl = np.mean(lp - lq)
    assert -4 * np.std(lp - lq) / np.sqrt(2000) < kl < 0.5
    assert np.asarray(npe.log_prob(theta[0], x_obs)).shape == ()


def test_npe_sbc_ranks_are_uniform(gaussian_data, npe, key):
    task, _, _ = gaussian_data
    theta, x = task.simulate(key, 200)
    ranks = sbi.diagnostics.sbc_ranks(key, npe, theta, x, num_posterior_samples=50)
    assert ranks.shape == (200, 10) and ranks.min() >= 0 and ranks.max() <= 50
    pvalues = sbi.diagnostics.sbc_uniformity(ranks, 50, num_bins=10)
    # Bonferroni over the 10 parameters at level 1e-3
    assert np.all(pvalues > 1e-4), pvalues


@pytest.mark.slow
def test_fmpe_gaussian_linear_matches_analytic(gaussian_data, key):
    task, theta, x = gaussian_data
    est = sbi.FMPE().fit(jax.random.key(2), theta, x)
    _check_gaussian_posterior(task, est, key)
    # the exact ODE density: KL(p || q) small, as for NPE
    _, x_obs = task.observation(key)
    mean, cov = task.posterior_mean_cov(x_obs)
    ref = task.reference_posterior(key, x_obs, 500)
    lq = np.asarray(est.log_prob(ref, x_obs))
    lp = np.asarray(jax.scipy.stats.multivariate_normal.logpdf(ref, mean, cov))
    kl = np.mean(lp - lq)
    assert -4 * np.std(lp - lq) / np.sqrt(500) < kl < 0.5


@pytest.mark.parametrize("name", ["NPE", "FMPE"])
def test_log_prob_is_a_normalised_density(name, key):
    """NPE's flow and FMPE's exact ODE likelihood integrate to one over theta (1-d, trapezoid)."""
    task = sbi.tasks.get("gaussian_linear", dim=1)
    theta, x = task.simulate(key, 300)
    training = sbi.TrainingOptions(max_steps=60, progress=False)
    if name == "NPE":
        est = sbi.NPE(num_transforms=2, hidden_size=16, training=training)
    else:
        est = sbi.FMPE(hidden_size=32, num_layers=2, training=training)
    est = est.fit(key, theta, x)
    grid = np.linspace(-4.0, 4.0, 1601)
    density = np.exp(np.asarray(est.log_prob(grid[:, None], x[0]), np.float64))
    assert abs(np.trapezoid(density, grid) - 1.0) < 2e-3
    # and the samples follow it: their mean is the density's (4 standard errors)
    samples = np.asarray(est.sample(key, x[0], 2000))[:, 0]
    mean = np.trapezoid(grid * density, grid)
    sd = np.sqrt(np.trapezoid((grid - mean) ** 2 * density, grid))
    assert abs(samples.mean() - mean) < 4 * sd / np.sqrt(4000) + (
        0.02 * sd if name == "FMPE" else 0
    )


def test_sampling_before_fit_fails(key):
    for est in (sbi.NPE(), sbi.FMPE()):
        with pytest.raises(sbi.NotFittedError, match="is not fitted: call est = est.fit"):
            est.sample(key, jnp.zeros(2), 10)
    with pytest.raises(sbi.NotFittedError, match="before log_prob"):
        sbi.NPE().log_prob(jnp.zeros(2), jnp.zeros(2))


def test_observation_checks(npe, key):
    with pytest.raises(ValueError, match=r"x_obs must be one observation of shape \(10,\)"):
        npe.sample(key, jnp.zeros(3), 10)
    with pytest.raises(ValueError, match=r"x_obs must be one observation of shape \(10,\)"):
        npe.sample(key, jnp.zeros((2, 10)), 10)
    with pytest.raises(ValueError, match="NaN or infinite"):
        npe.sample(key, jnp.full(10, jnp.nan), 10)
    with pytest.raises(ValueError, match="n must be a positive int"):
        npe.sample(key, jnp.zeros(10), 0)
    with pytest.raises(ValueError, match=r"xs must have shape \(b, 10\)"):
        npe.sample_batch(key, jnp.zeros((4, 3)), 10)


@pytest.mark.parametrize("Est", [sbi.NPE, sbi.FMPE])
def test_training_data_checks(Est, key):
    est = Est()
    theta, x = np.zeros((50, 2)), np.zeros((50, 3))
    with pytest.raises(ValueError, match="one row per simulation, got 50 rows of theta and 49"):
        est.fit(key, theta, x[:49])
    with pytest.raises(ValueError, match=r"theta must have shape \(n, d\)"):
        est.fit(key, np.zeros((50, 2, 2)), x)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        est.fit(key, theta, x.astype(bool))
    with pytest.raises(TypeError, match="theta must hold real numbers"):
        est.fit(key, theta.astype(complex), x)
    bad = x.copy()
    bad[[1, 2]] = np.inf
    with pytest.raises(ValueError, match="2 of 50 training rows have NaN or infinite"):
        Est(training=sbi.TrainingOptions(nan_policy="raise")).fit(key, theta, bad)
    with pytest.raises(ValueError, match="need at least"):
        est.fit(key, theta[:2], x[:2])


def test_options_are_checked(no_jaxtyping):
    with pytest.raises(ValueError, match="num_bins must be a positive int"):
        sbi.NPE(num_bins=0)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        sbi.FMPE(hidden_size=0)
    with pytest.raises(ValueError, match="num_steps must be a positive int or None"):
        sbi.FMPE(num_steps=0)
    with pytest.raises(ValueError, match="tail_bound must be finite and > 0"):
        sbi.NPE(tail_bound=-1.0)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["contrastive", "balanced"])
def test_nre_gaussian_linear_posterior(gaussian_data, loss, key):
    task, theta, x = gaussian_data
    est = sbi.NRE(loss=loss, prior=task).fit(jax.random.key(3), theta, x)
    k_obs, k_s = jax.random.split(key)
    _, x_obs = task.observation(k_obs)
    samples = np.asarray(est.sample(k_s, x_obs, 4000))
    mean, cov = (np.asarray(a) for a in task.posterior_mean_cov(x_obs))
    sd = np.sqrt(np.diag(cov))
    assert np.max(np.abs(samples.mean(0) - mean) / sd) < 0.6
    ratio = samples.var(0) / np.diag(cov)
    assert np.all((ratio > 0.6) & (ratio < 1.8)), ratio
    # log r = log p(theta | x) - log p(theta) up to a constant in theta (and exactly for binary)
    lr = np.asarray(est.log_ratio(samples[:500], x_obs))
    lp = np.asarray(jax.scipy.stats.multivariate_normal.logpdf(samples[:500], mean, cov))
    lp = lp - np.asarray(jax.vmap(task.log_prior)(samples[:500]))
    assert np.corrcoef(lr, lp)[0, 1] > 0.8


def test_nre_options_and_errors(key):
    with pytest.raises(ValueError, match="loss must be one of"):
        sbi.NRE(loss="focal")
    with pytest.raises(TypeError, match="prior must be a task or an object with sample_prior"):
        sbi.NRE(prior=3.0)
    with pytest.raises(sbi.NotFittedError, match="NRE is not fitted"):
        sbi.NRE().sample(key, jnp.zeros(2), 10)


@pytest.mark.slow
def test_nle_gaussian_linear_posterior(gaussian_data, key):
    task, theta, x = gaussian_data
    est = sbi.NLE(prior=task, num_warmup=300).fit(jax.random.key(4), theta, x)
    k_obs, k_s = jax.random.split(key)
    _, x_obs = task.observation(k_obs)
    samples = np.asarray(est.sample(k_s, x_obs, 2000))
    assert samples.shape == (2000, 10)
    mean, cov = (np.asarray(a) for a in task.posterior_mean_cov(x_obs))
    sd = np.sqrt(np.diag(cov))
    assert np.max(np.abs(samples.mean(0) - mean) / sd) < 0.5
    ratio = samples.var(0) / np.diag(cov)
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio


def test_nle_options_and_errors(key):
    with pytest.raises(TypeError, match="prior must be a task or an object with log_prior"):
        sbi.NLE(prior=object())
    with pytest.raises(ValueError, match="num_chains must be a positive int"):
        sbi.NLE(num_chains=0)
    with pytest.raises(sbi.NotFittedError, match="NLE is not fitted"):
        sbi.NLE().sample(key, jnp.zeros(2), 10)


def test_npe_prior_rejects_leakage(npe, key):
    class Box(eqx.Module):
        def log_prior(self, theta):
            return jnp.where(jnp.all(theta > 0), 0.0, -jnp.inf)

    import dataclasses

    x_obs = jnp.full(10, 0.3)
    samples = np.asarray(dataclasses.replace(npe, prior=Box()).sample(key, x_obs, 50))
    assert samples.shape == (50, 10) and np.all(samples > 0)
    with pytest.raises(TypeError, match="prior must be a task or an object with log_prior"):
        sbi.NPE(prior=1.0)


@pytest.mark.slow
def test_embedding_network_is_trained_jointly(key):
    task = sbi.tasks.get("two_moons")
    theta, x = task.simulate(key, 300)
    embedding = eqx.nn.MLP(2, 8, 16, 1, key=jax.random.key(5))
    training = sbi.TrainingOptions(max_steps=30)
    est = sbi.NPE(embedding=embedding, num_transforms=2, training=training).fit(key, theta, x)
    assert est.net.embedding is not embedding
    moved = jax.tree.map(
        lambda a, b: float(jnp.max(jnp.abs(a - b))),
        eqx.filter(est.net.embedding, eqx.is_array),
        eqx.filter(embedding, eqx.is_array),
    )
    assert max(jax.tree.leaves(moved)) > 0
    assert est.sample(key, x[0], 5).shape == (5, 2)
    with pytest.raises(ValueError, match="embedding must map one observation to a 1-d"):
        sbi.NPE(embedding=lambda v: jnp.outer(v, v)).fit(key, theta, x)
