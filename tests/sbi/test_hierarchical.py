"""Set embeddings, ensembles through the estimators, hierarchical tasks and HierarchicalNPE."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from hepjax import sbi

EMBEDDINGS = {
    "deepset": lambda k: sbi.DeepSetEmbedding(3, 4, width=8, key=k),
    "transformer": lambda k: sbi.SetTransformerEmbedding(
        3, 4, d_model=8, num_heads=2, num_layers=1, key=k
    ),
}


@eqx.filter_jit
def _invariance_outputs(emb, x, perm, junk):
    """Embeddings of x permuted, padded with junk (explicit mask) or NaN (implicit mask)."""
    n = x.shape[0]
    nan_pad = jnp.concatenate([x, jnp.full((4, 3), jnp.nan)])
    variants = jnp.stack(
        [
            jnp.concatenate([x, junk]),
            jnp.concatenate([x[perm], junk]),
            jnp.concatenate([junk[:2], x[:4], junk[2:], x[4:]]),
            jnp.concatenate([x[:3], junk, junk]),  # fewer events
        ]
    )
    real = jnp.ones(n, bool)
    pad = jnp.zeros(4, bool)
    masks = jnp.stack(
        [
            jnp.concatenate([real, pad]),
            jnp.concatenate([real, pad]),
            jnp.concatenate([pad[:2], real[:4], pad[2:], real[4:]]),
            jnp.arange(n + 4) < 3,
        ]
    )
    grads = eqx.filter_grad(lambda e: jnp.sum(e(nan_pad) ** 2))(emb)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    return jax.vmap(emb)(variants, masks), emb(nan_pad), finite


@pytest.mark.parametrize("name", sorted(EMBEDDINGS))
def test_set_embeddings_are_permutation_and_padding_invariant(name, key):
    k_init, k_x, k_perm, k_junk = jax.random.split(key, 4)
    emb = eqx.filter_jit(EMBEDDINGS[name])(k_init)
    x = jax.random.normal(k_x, (7, 3))
    perm = jax.random.permutation(k_perm, 7)
    junk = 1e3 * jax.random.normal(k_junk, (4, 3))
    out, nan_padded, grads_finite = _invariance_outputs(emb, x, perm, junk)
    ref = out[0]
    assert ref.shape == (4,)
    np.testing.assert_allclose(out[1], ref, atol=1e-5)  # permuted
    np.testing.assert_allclose(out[2], ref, atol=1e-4)  # junk padding interleaved, masked
    np.testing.assert_allclose(nan_padded, ref, atol=1e-5)  # NaN padding, no mask
    assert bool(grads_finite)  # NaN padding does not leak into gradients
    # the size of the ensemble is seen (log |m| enters rho): fewer events, another output
    assert float(jnp.max(jnp.abs(out[3] - ref))) > 1e-4


def test_all_padding_ensembles_fail_clearly(key, no_jaxtyping):
    emb = eqx.filter_jit(lambda k: sbi.DeepSetEmbedding(2, 4, width=8, key=k))(key)
    with pytest.raises(ValueError, match="entirely of padding"):
        emb(jnp.full((5, 2), jnp.nan))
    with pytest.raises(ValueError, match="entirely of padding"):
        emb(jnp.ones((5, 2)), jnp.zeros(5, bool))
    x = np.ones((20, 5, 2), np.float32)
    x[3] = np.nan
    with pytest.raises(ValueError, match="1 of 20 ensembles in x are made entirely of padding"):
        sbi.NPE(embedding=emb).fit(key, np.zeros((20, 1)), x)
    with pytest.raises(ValueError, match="needs a set embedding"):
        sbi.NPE().fit(key, np.zeros((20, 1)), np.ones((20, 5, 2)))
    task = sbi.tasks.get("hierarchical_gaussian")
    with pytest.raises(ValueError, match="entirely of padding"):
        task.check_observation(np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="empty ensemble"):
        sbi.pad_ensembles([np.ones((2, 2)), np.ones((0, 2))])


def test_embedding_errors(key, no_jaxtyping):  # errors raise before any computation
    with pytest.raises(ValueError, match="num_heads must divide d_model"):
        sbi.SetTransformerEmbedding(2, 4, d_model=10, num_heads=4, key=key)
    with pytest.raises(ValueError, match="pooling"):
        sbi.DeepSetEmbedding(2, 4, pooling="max", key=key)
    emb = eqx.filter_jit(lambda k: sbi.DeepSetEmbedding(2, 4, width=8, key=k))(key)
    with pytest.raises(ValueError, match="one ensemble of shape"):
        emb(jnp.ones((3, 5, 2)))
    with pytest.raises(ValueError, match="mask must be a bool array of shape"):
        emb(jnp.ones((3, 2)), jnp.ones(4, bool))
    with pytest.raises(ValueError, match="MLPEmbedding takes one observation of shape"):
        eqx.filter_jit(lambda k: sbi.MLPEmbedding(3, 2, width=8, key=k))(key)(jnp.ones((4, 3)))


def test_pad_ensembles_and_mask():
    x = sbi.pad_ensembles([np.ones((2, 3)), np.zeros((4, 3))], max_size=5)
    assert x.shape == (2, 5, 3)
    np.testing.assert_array_equal(
        np.asarray(jax.vmap(sbi.ensemble_mask)(jnp.asarray(x))),
        [[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]],
    )
    with pytest.raises(ValueError, match="smaller than the largest"):
        sbi.pad_ensembles([np.ones((6, 3))], max_size=5)


# ----------------------------------------------------------------------------- tasks


def test_conjugate_task_posteriors_are_exact(key):
    task = sbi.tasks.get("hierarchical_gaussian")
    _, z_true, x_obs = task.observation_with_local(key)
    real = ~np.isnan(np.asarray(x_obs[:, 0]))
    assert np.all(np.isnan(np.asarray(z_true))[~real]) and 10 <= real.sum() <= 50
    mean, cov = task.posterior_mean_cov(x_obs)
    # log N(theta; mean, cov) - log prior - log likelihood is constant in theta
    thetas = np.asarray(mean) + np.random.default_rng(0).normal(size=(5, 2))
    lp = scipy.stats.multivariate_normal(mean, cov).logpdf(thetas)
    rest = jax.jit(jax.vmap(lambda t: task.log_prior(t) + task.log_likelihood(t, x_obs)))(thetas)
    diff = lp - np.asarray(rest, np.float64)
    assert np.ptp(diff) < 1e-3 * max(1.0, np.abs(diff).max())
    # local posterior given the ensemble: draws match the closed form (4 standard errors)
    n = 4000
    draws = np.asarray(task.reference_local_posterior(key, x_obs, n))
    lmean, lcov = task.local_posterior_mean_cov(x_obs)
    sd = np.sqrt(np.diag(lcov))
    assert np.all(np.isnan(draws[:, ~real]))
    err = (draws[:, real].mean(0) - lmean[real]) / (sd / np.sqrt(n))
    assert np.abs(err).max() < 4.5, np.abs(err).max()
    var_ratio = draws[:, real].var(0) / np.diag(lcov)
    assert np.abs(var_ratio - 1).max() < 4.5 * np.sqrt(2 / n) * 1.3
    # the ensemble tightens the local posterior compared with the event alone
    _, cov_alone = task.event_posterior_mean_cov(np.asarray(x_obs)[0])
    assert np.all(np.diag(lcov) < np.diag(cov_alone))


def test_resonance_likelihood_is_normalised():
    task = sbi.tasks.get("resonance_mixture")
    theta = jnp.array([0.3, 1.7])
    xs = jnp.linspace(-2.0, 14.0, 20001)
    dens = jnp.exp(jax.jit(jax.vmap(lambda v: task.event_log_likelihood(theta, v)))(xs))
    assert abs(float(jnp.trapezoid(dens, xs)) - 1.0) < 1e-4


@pytest.mark.slow
def test_resonance_simulator_and_local_posterior(key):
    task = sbi.tasks.get("resonance_mixture")
    theta = jnp.array([0.3, 1.7])
    xs = jnp.linspace(-2.0, 14.0, 20001)
    dens = jnp.exp(jax.jit(jax.vmap(lambda v: task.event_log_likelihood(theta, v)))(xs))
    # events simulated at theta follow that density: P(x in window) at 4 SE
    k_z, k_x, k_loc = jax.random.split(key, 3)
    n = 20_000

    @jax.jit
    def simulate(kz, kx):
        z = jax.vmap(task.sample_local, in_axes=(0, None))(kz, theta)
        return z, jax.vmap(task.simulate_event, in_axes=(0, None, 0))(kx, theta, z)

    z, x = simulate(jax.random.split(k_z, n), jax.random.split(k_x, n))
    x = np.asarray(x)[:, 0]
    window = (xs > 1.5) & (xs < 1.9)
    p_win = float(jnp.trapezoid(jnp.where(window, dens, 0.0), xs))
    frac = np.mean((x > 1.5) & (x < 1.9))
    assert abs(frac - p_win) < 4 * np.sqrt(p_win * (1 - p_win) / n)
    # local posterior given theta vs self-normalised importance sampling from p(z | theta)
    x_obs = jnp.array([[1.75], [0.4], [jnp.nan]])
    draws = np.asarray(task.reference_local_posterior(k_loc, x_obs, 20_000, theta=theta))
    assert draws.shape == (20_000, 3, 1) and np.all(np.isnan(draws[:, 2]))
    zs = np.asarray(z)[:, 0]
    for i in range(2):
        w = np.exp(-0.5 * ((float(x_obs[i, 0]) - zs) / task.resolution) ** 2)
        w /= w.sum()
        is_mean = np.sum(w * zs)
        is_sd = np.sqrt(np.sum(w * (zs - is_mean) ** 2))
        n_eff = 1 / np.sum(w**2)
        tol = 4 * is_sd * (1 / np.sqrt(n_eff) + 1 / np.sqrt(20_000))
        assert abs(draws[:, i, 0].mean() - is_mean) < tol


@pytest.mark.slow
def test_resonance_reference_posterior_matches_grid(key):
    task = sbi.tasks.get("resonance_mixture")
    _, x_obs = task.observation(key)
    ref = np.asarray(task.reference_posterior(key, x_obs, 4000))
    f = np.linspace(1e-4, 0.5 - 1e-4, 300)
    m = np.linspace(0.5, 3.0, 600)
    grid = jnp.stack(np.meshgrid(f, m, indexing="ij"), -1).reshape(-1, 2)
    loglik = jax.jit(jax.vmap(task.log_likelihood, in_axes=(0, None)))(grid, x_obs)
    w = np.asarray(jax.nn.softmax(loglik), np.float64)
    g = np.asarray(grid, np.float64)
    g_mean = w @ g
    g_sd = np.sqrt(w @ (g - g_mean) ** 2)
    # MCMC error: 4 standard errors with an effective sample size of ~1/4 of the draws
    assert np.all(np.abs(ref.mean(0) - g_mean) < 4 * g_sd / np.sqrt(1000)), (ref.mean(0), g_mean)
    assert np.all(np.abs(ref.std(0) / g_sd - 1) < 0.15)


# ----------------------------------------------------------------------------- estimators


@pytest.fixture(scope="module")
def conjugate_small():
    task = sbi.tasks.get("hierarchical_gaussian", min_events=3, max_events=8)
    theta, z, x = task.simulate_with_local(jax.random.key(3), 200)
    return task, np.asarray(theta), np.asarray(z), np.asarray(x)


@pytest.mark.slow
def test_npe_fmpe_nre_fit_and_sample_ensembles(conjugate_small, key, no_jaxtyping):
    task, theta, _, x = conjugate_small
    _, x_obs = task.observation(jax.random.key(9))
    x_obs = np.asarray(x_obs)[:8]
    training = sbi.TrainingOptions(max_steps=3)
    for est in (
        sbi.NPE(num_transforms=1, hidden_size=8, training=training),
        sbi.FMPE(hidden_size=8, num_layers=1, num_steps=2, training=training),
        sbi.NRE(hidden_size=8, num_layers=1, prior=task, num_proposals=4, training=training),
    ):
        emb = sbi.DeepSetEmbedding(2, 4, width=8, key=key)
        est = eqx.tree_at(lambda e: e.embedding, est, emb, is_leaf=lambda v: v is None)
        fitted = est.fit(key, theta, x)
        samples = fitted.sample(key, x_obs, 5)
        assert samples.shape == (5, 2) and bool(jnp.all(jnp.isfinite(samples)))
        # any ensemble size works once trained; padding-only observations do not
        assert fitted.sample(key, x_obs[:2], 3).shape == (3, 2)
        with pytest.raises(ValueError, match="entirely of padding"):
            fitted.sample(key, np.full((8, 2), np.nan), 3)
        with pytest.raises(ValueError, match="one ensemble of shape"):
            fitted.sample(key, x_obs[:, :1], 3)
        if hasattr(fitted, "log_ratio"):  # a ratio over the ensemble: a test statistic
            assert fitted.log_ratio(theta[:4], x_obs).shape == (4,)


def test_hierarchical_npe_input_errors(rng, key, no_jaxtyping):
    theta = rng.normal(size=(200, 2)).astype(np.float32)
    z = rng.normal(size=(200, 8, 2)).astype(np.float32)
    x = z + rng.normal(size=(200, 8, 2)).astype(np.float32)
    x[:, 6:], z[:, 6:] = np.nan, np.nan
    est = sbi.HierarchicalNPE()
    with pytest.raises(sbi.NotFittedError, match="before sample_local"):
        est.sample_local(key, x[0], 2)
    with pytest.raises(sbi.NotFittedError, match="before sample"):
        est.sample(key, x[0], 2)
    with pytest.raises(ValueError, match=r"z must have shape \(N, m, d_z\)"):
        est.fit(key, theta, z[:, :4], x)
    with pytest.raises(ValueError, match="x must hold ensembles"):
        est.fit(key, theta, z, x[:, 0])
    with pytest.raises(ValueError, match="one row per ensemble"):
        est.fit(key, theta[:10], z, x)
    x_empty = x.copy()
    x_empty[7] = np.nan
    with pytest.raises(ValueError, match="1 of 200 ensembles in x are made entirely of padding"):
        est.fit(key, theta, z, x_empty)
    with pytest.raises(TypeError, match="global_estimator must be an sbi estimator"):
        sbi.HierarchicalNPE(global_estimator="npe")
    with pytest.raises(ValueError, match="summary_features must be a positive int"):
        sbi.HierarchicalNPE(summary_features=0)


@pytest.mark.slow
def test_hierarchical_npe_api(conjugate_small, key, no_jaxtyping):
    _, theta, z, x = conjugate_small
    training = sbi.TrainingOptions(max_steps=3)
    est = sbi.HierarchicalNPE(
        global_estimator=sbi.NPE(num_transforms=1, hidden_size=8, training=training),
        summary_features=4,
        num_transforms=1,
        hidden_size=8,
        training=training,
    )
    z_bad = z.copy()
    z_bad[5, 0] = np.nan  # a real event without its local parameters
    with pytest.warns(UserWarning, match="1 of 200 training ensembles have NaN"):
        fitted = est.fit(key, theta, z_bad, x)
    assert fitted.history.num_train + fitted.history.num_val == 199
    assert fitted.global_.history.num_train + fitted.global_.history.num_val == 199
    x_obs = x[0]
    real = ~np.isnan(x_obs[:, 0])
    assert fitted.sample(key, x_obs, 4).shape == (4, 2)
    local = np.asarray(fitted.sample_local(key, x_obs, 3))
    assert local.shape == (3, 8, 2)
    assert np.all(np.isnan(local[:, ~real])) and np.all(np.isfinite(local[:, real]))
    local = np.asarray(fitted.sample_local(key, x_obs, 3, theta=theta[0]))
    assert np.all(np.isfinite(local[:, real]))
    lp = np.asarray(fitted.log_prob_local(np.nan_to_num(z[0]), x_obs, theta[0]))
    assert lp.shape == (8,) and np.all(np.isnan(lp[~real])) and np.all(np.isfinite(lp[real]))
    with pytest.raises(ValueError, match="theta must be one global parameter vector"):
        fitted.sample_local(key, x_obs, 3, theta=theta[:2])
    with pytest.raises(TypeError, match=r"log_ratio needs a global estimator .*sbi.NRE"):
        fitted.log_ratio(theta[:2], x_obs)
    with pytest.raises(ValueError, match="must be unfitted"):
        sbi.HierarchicalNPE(global_estimator=fitted.global_)


@pytest.mark.slow
def test_hierarchical_conjugate_global_and_local_posteriors_match_analytic(key):
    task = sbi.tasks.get("hierarchical_gaussian")
    k_sim, k_fit, k_obs = jax.random.split(key, 3)
    theta, z, x = task.simulate_with_local(k_sim, 4000)
    training = sbi.TrainingOptions(batch_size=100, max_steps=4000)
    est = sbi.HierarchicalNPE(training=training).fit(k_fit, theta, z, x)
    scores = []
    for k in jax.random.split(k_obs, 3):
        k_o, k_s, k_r, k_l = jax.random.split(k, 4)
        _, x_obs = task.observation(k_o)
        samples = np.asarray(est.sample(k_s, x_obs, 2000))
        mean, cov = task.posterior_mean_cov(x_obs)
        sd = np.sqrt(np.diag(cov))
        # the estimator error dominates; the mean is within half a posterior sd
        assert np.all(np.abs(samples.mean(0) - mean) < 0.5 * sd)
        assert np.all(np.abs(samples.std(0) / sd - 1) < 0.35)
        scores.append(sbi.diagnostics.c2st(samples, task.reference_posterior(k_r, x_obs, 2000)))
        local = np.asarray(est.sample_local(k_l, x_obs, 1000))
        lmean, lcov = task.local_posterior_mean_cov(x_obs)
        real = ~np.isnan(np.asarray(x_obs)[:, 0])
        lsd = np.sqrt(np.diag(lcov))
        assert np.abs(local[:, real].mean(0) - lmean[real]).max() < 0.3 * lsd.min()
        assert np.abs(local[:, real].std(0) / lsd - 1).max() < 0.35
    assert np.mean(scores) < 0.65, scores
