"""C2ST and SBC on distributions with known answers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import sbi

N = 600


def test_c2st_same_distribution_is_chance(key):
    k1, k2 = jax.random.split(key)
    a = jax.random.normal(k1, (N, 2))
    b = jax.random.normal(k2, (N, 2))
    acc = sbi.diagnostics.c2st(a, b)
    assert 0.5 <= acc < 0.56  # 4 standard errors of chance accuracy: 4 * 0.5 / sqrt(2 N) ~ 0.058


def test_c2st_separated_distributions_is_one(key):
    k1, k2 = jax.random.split(key)
    a = jax.random.normal(k1, (N, 2))
    b = jax.random.normal(k2, (N, 2)) + 6.0
    assert sbi.diagnostics.c2st(a, b) > 0.99


def test_c2st_errors(no_jaxtyping):
    a = np.zeros((10, 2))
    with pytest.raises(ValueError, match="same dimension"):
        sbi.diagnostics.c2st(a, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="finite"):
        sbi.diagnostics.c2st(a, np.full((10, 2), np.nan))
    with pytest.raises(TypeError, match="real numbers"):
        sbi.diagnostics.c2st(a, np.zeros((10, 2), bool))
    with pytest.raises(ValueError, match="num_folds"):
        sbi.diagnostics.c2st(a, a, num_folds=1)


def test_sbc_uniformity_detects_miscalibration(rng):
    length, m = 99, 2000
    uniform = rng.integers(0, length + 1, size=(m, 2))
    assert np.all(sbi.diagnostics.sbc_uniformity(uniform, length) > 1e-3)
    # an over-confident posterior puts the truth in the tails
    tails = np.where(
        rng.random((m, 1)) < 0.5, rng.integers(0, 10, (m, 1)), rng.integers(90, 100, (m, 1))
    )
    assert sbi.diagnostics.sbc_uniformity(tails, length)[0] < 1e-6
    with pytest.raises(ValueError, match=r"ranks must lie in \[0, 99\]"):
        sbi.diagnostics.sbc_uniformity(uniform + 5, length)


def test_tarp_is_diagonal_for_exact_posteriors_and_not_for_overconfident(key, no_jaxtyping):
    task = sbi.tasks.get("gaussian_linear", dim=2)
    k_sim, k_post = jax.random.split(key)
    theta, x = task.simulate(k_sim, 500)
    means, covs = jax.vmap(task.posterior_mean_cov)(x)
    sds = jnp.sqrt(jnp.diagonal(covs, axis1=1, axis2=2))
    exact = np.asarray(means[:, None] + sds[:, None] * jax.random.normal(k_post, (500, 200, 2)))
    levels, ecp = sbi.diagnostics.tarp(exact, theta)
    # f_i is uniform on {0, 1/L, ..., 1} (L = 200), so ECP(a) is a mean of 500
    # Bernoulli(p(a)) indicators with p(a) = #{k : k / L < a} / (L + 1)
    p = np.array([np.sum(np.arange(201) / 200 < a) / 201 for a in levels])
    stderr = np.sqrt(p * (1 - p) / 500) + 1e-3
    assert np.all(np.abs(ecp - p) < 4 * stderr)
    means = np.asarray(x) / 2
    narrow = means[:, None, :] + 0.3 * (exact - means[:, None, :])  # too confident
    _, ecp_narrow = sbi.diagnostics.tarp(narrow, theta)
    assert np.max(np.abs(ecp_narrow - levels)) > 0.2
    with pytest.raises(ValueError, match="samples must be"):
        sbi.diagnostics.tarp(exact[:, :, :1], theta)
