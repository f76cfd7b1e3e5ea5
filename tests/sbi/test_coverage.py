"""HPD expected coverage (exact densities and KDE) and the diagnostic plots."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import sbi

M, L = 500, 200


def _discrete_uniform_ecp(levels, length):
    # f_i is uniform on {0, 1/L, ..., 1}: P(f < a) = #{k : k / L < a} / (L + 1)
    return np.array([np.sum(np.arange(length + 1) / length < a) / (length + 1) for a in levels])


@pytest.fixture(scope="module")
def gaussian_cases():
    """Test pairs of a 2-d Gaussian task with exact and over-confident posterior samples."""
    task = sbi.tasks.get("gaussian_linear", dim=2)
    k_sim, k_post = jax.random.split(jax.random.key(7))
    theta, x = task.simulate(k_sim, M)
    means, covs = jax.vmap(task.posterior_mean_cov)(x)
    sd = np.sqrt(np.asarray(covs[0, 0, 0]))  # 0.05 I for every x
    means = np.asarray(means)
    noise = np.asarray(jax.random.normal(k_post, (M, L, 2)))
    return np.asarray(theta), means, sd, noise


def _gauss_logpdf(points, mean, sd):
    return -0.5 * np.sum(((points - mean) / sd) ** 2, axis=-1)


def test_hpd_coverage_is_diagonal_for_exact_posteriors(gaussian_cases):
    theta, means, sd, noise = gaussian_cases
    samples = means[:, None] + sd * noise
    levels, ecp = sbi.diagnostics.hpd_coverage(
        samples,
        theta,
        log_prob_samples=_gauss_logpdf(samples, means[:, None], sd),
        log_prob_theta=_gauss_logpdf(theta, means, sd),
    )
    p = _discrete_uniform_ecp(levels, L)
    stderr = np.sqrt(p * (1 - p) / M) + 1e-3
    assert np.all(np.abs(ecp - p) < 4 * stderr)
    lo, hi = sbi.diagnostics.coverage_band(M, levels, 0.99)
    assert np.mean((ecp >= lo) & (ecp <= hi)) > 0.9


def test_hpd_coverage_falls_below_for_overconfident_posteriors(gaussian_cases):
    theta, means, sd, noise = gaussian_cases
    narrow = 0.5 * sd
    samples = means[:, None] + narrow * noise
    levels, ecp = sbi.diagnostics.hpd_coverage(
        samples,
        theta,
        log_prob_samples=_gauss_logpdf(samples, means[:, None], narrow),
        log_prob_theta=_gauss_logpdf(theta, means, narrow),
    )
    # level-a region: |theta - mu|^2 < (sd / 2)^2 * (-2 log(1 - a)); theta* ~ N(mu, sd^2)
    # falls in it with probability 1 - (1 - a)^(1/4), far below a
    expected = 1 - (1 - levels) ** 0.25
    assert np.max(levels - ecp) > 0.3
    # up to a = 0.9 (near 1 the L = 200 samples resolve the tail too coarsely)
    low = levels <= 0.9
    stderr = np.sqrt(expected * (1 - expected) / M)[low]
    assert np.all(np.abs(ecp - expected)[low] < 4 * stderr + 0.02)


def test_hpd_coverage_with_kde_densities(gaussian_cases):
    theta, means, sd, noise = gaussian_cases
    theta, means, noise = theta[:250], means[:250], noise[:250, :100]
    exact = means[:, None] + sd * noise
    levels, ecp = sbi.diagnostics.hpd_coverage(exact, theta)  # KDE of the samples
    # the KDE smooths the density a little; the curve stays near the diagonal
    assert np.max(np.abs(ecp - levels)) < 0.08
    _, ecp_narrow = sbi.diagnostics.hpd_coverage(means[:, None] + 0.5 * sd * noise, theta)
    assert np.max(levels - ecp_narrow) > 0.3


class _ExactGaussianPosterior:
    """A stand-in estimator: the analytic posterior of gaussian_linear (dim 2)."""

    def __init__(self, task, with_log_prob: bool):
        self.task = task
        if with_log_prob:
            self.log_prob = self._log_prob

    def sample_batch(self, key, xs, n):
        keys = jax.random.split(key, xs.shape[0])
        return jax.vmap(lambda k, x: self.task.reference_posterior(k, x, n))(keys, xs)

    def _log_prob(self, theta, x_obs):
        return _exact_log_prob(self.task, jnp.asarray(theta), jnp.asarray(x_obs))


@eqx.filter_jit
def _exact_log_prob(task, theta, x_obs):
    mean, cov = task.posterior_mean_cov(x_obs)
    return jax.scipy.stats.multivariate_normal.logpdf(theta, mean, cov)


@pytest.mark.parametrize("with_log_prob", [True, False])
def test_expected_coverage_of_an_estimator(with_log_prob, key, no_jaxtyping):
    task = sbi.tasks.get("gaussian_linear", dim=2)
    theta, x = task.simulate(key, 300)
    est = _ExactGaussianPosterior(task, with_log_prob)
    levels, ecp = sbi.diagnostics.expected_coverage(key, est, theta, x, 100)
    p = _discrete_uniform_ecp(levels, 100)
    tol = 4 * np.sqrt(p * (1 - p) / 300) + (1e-3 if with_log_prob else 0.05)
    assert np.all(np.abs(ecp - p) < tol)
    levels, ecp = sbi.diagnostics.expected_coverage(key, est, theta, x, 100, method="tarp")
    assert np.all(np.abs(ecp - p) < 4 * np.sqrt(p * (1 - p) / 300) + 1e-3)


def test_coverage_errors(gaussian_cases, no_jaxtyping):
    theta, means, sd, noise = gaussian_cases
    samples = means[:, None] + sd * noise
    with pytest.raises(ValueError, match="samples must be"):
        sbi.diagnostics.hpd_coverage(samples[:, :, :1], theta)
    with pytest.raises(ValueError, match="give both log_prob_samples and log_prob_theta"):
        sbi.diagnostics.hpd_coverage(samples, theta, log_prob_theta=np.zeros(M))
    with pytest.raises(ValueError, match=r"log_prob_samples must be \(500, 200\)"):
        sbi.diagnostics.hpd_coverage(
            samples, theta, log_prob_samples=np.zeros((M, 3)), log_prob_theta=np.zeros(M)
        )
    with pytest.raises(ValueError, match="at least 3 posterior samples"):
        sbi.diagnostics.hpd_coverage(samples[:, :2], theta)
    with pytest.raises(ValueError, match="finite"):
        sbi.diagnostics.hpd_coverage(np.full_like(samples, np.nan), theta)
    with pytest.raises(ValueError, match="method must be 'hpd' or 'tarp'"):
        sbi.diagnostics.expected_coverage(jax.random.key(0), None, theta, theta, method="x")
    with pytest.raises(ValueError, match="num_tests must be a positive int"):
        sbi.diagnostics.coverage_band(0, [0.5])


def test_plots_build(gaussian_cases, rng, no_jaxtyping):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    theta, means, sd, noise = gaussian_cases
    ranks = rng.integers(0, 51, size=(200, 2))
    fig = sbi.diagnostics.plot_rank_histogram(ranks, 50, labels=["a", "b"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    samples = means[:, None] + sd * noise
    curve = sbi.diagnostics.hpd_coverage(samples, theta, num_levels=21)
    fig2 = sbi.diagnostics.plot_coverage({"HPD": curve, "TARP": curve}, M)
    assert isinstance(fig2, Figure) and len(fig2.axes[0].lines) >= 3
    fig3 = sbi.diagnostics.plot_corner(
        samples[0], reference=samples[1], truth=theta[0], labels=["a", "b"]
    )
    assert isinstance(fig3, Figure) and len(fig3.axes) == 4
    with pytest.raises(ValueError, match=r"ranks must lie in \[0, 50\]"):
        sbi.diagnostics.plot_rank_histogram(ranks + 1, 50)
    with pytest.raises(ValueError, match=r"truth must have shape \(2,\)"):
        sbi.diagnostics.plot_corner(samples[0], truth=np.zeros(3))
    with pytest.raises(ValueError, match="labels must name the 2 parameters"):
        sbi.diagnostics.plot_corner(samples[0], labels=["a"])
    plt.close("all")
