"""The MI bounds of hepjax.design on correlated Gaussians, I = -d/2 log(1 - rho^2)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import design


def gaussians(key, n, d, rho):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (n, d))
    y = rho * x + math.sqrt(1 - rho**2) * jax.random.normal(k2, (n, d))
    return np.asarray(x), np.asarray(y)


def exact(d, rho):
    return -0.5 * d * math.log(1 - rho**2)


def optimal_scores(x, y, rho):
    """log p(x, y) / (p(x) p(y)) for unit Gaussians of correlation rho (1-d)."""
    x, y = jnp.asarray(x[:, 0])[:, None], jnp.asarray(y[:, 0])[None, :]
    s2 = 1 - rho**2
    return -0.5 * jnp.log(s2) - (y - rho * x) ** 2 / (2 * s2) + y**2 / 2


@pytest.mark.parametrize(
    ("estimator", "shift"), [(design.InfoNCE(), 0.0), (design.NWJ(), 1.0), (design.MINE(), 0.0)]
)
def test_bounds_with_the_optimal_critic(estimator, shift):
    """With the exact log density ratio (plus 1 for NWJ) every bound is close to I."""
    rho, n = 0.8, 2000
    x, y = gaussians(jax.random.key(3), n, 1, rho)
    estimate, error = estimator.bound(optimal_scores(x, y, rho) + shift)
    # InfoNCE is low by at most about E[log mean_j p/q] ~ O(e^I / n)
    slack = math.exp(exact(1, rho)) / n if isinstance(estimator, design.InfoNCE) else 0.0
    assert abs(float(estimate) - exact(1, rho)) < 4 * float(error) + slack + 1e-3


def test_infonce_is_bounded_by_log_n():
    x, y = gaussians(jax.random.key(0), 64, 1, 0.999)
    estimate, _ = design.InfoNCE().bound(1e3 * optimal_scores(x, y, 0.999))
    assert float(estimate) <= math.log(64) + 1e-5


@pytest.mark.slow  # over 6 s: `make test-slow` keeps the default suite in 15 min
def test_infonce_trained_on_one_case():
    rho, d = 0.8, 2
    x, y = gaussians(jax.random.key(0), 4096, d, rho)
    estimate, error = design.mutual_information(jax.random.key(1), x, y, design.InfoNCE())
    assert error > 0
    assert abs(estimate - exact(d, rho)) < 0.1 * exact(d, rho)


def test_mutual_information_bad_input():
    x = np.zeros((100, 2), np.float32)
    with pytest.raises(ValueError, match="pair up"):
        design.mutual_information(jax.random.key(0), x, x[:50])
    with pytest.raises(ValueError, match="too few"):
        design.mutual_information(jax.random.key(0), x, x)
    with pytest.raises(TypeError, match="estimator"):
        design.mutual_information(jax.random.key(0), x, x, estimator="infonce")
    with pytest.raises(ValueError, match="test_fraction"):
        design.NWJ(test_fraction=1.5)


SETTINGS = dict(num_steps=3000, batch_size=512, learning_rate=5e-4)
CASES = [
    (estimator, rho, d)
    for estimator in ("InfoNCE", "NWJ", "MINE")
    for rho in (0.5, 0.8, 0.9)
    for d in ((1, 2, 3, 4, 5) if estimator != "MINE" else (1, 5))
]


@pytest.mark.slow
@pytest.mark.parametrize(("estimator", "rho", "d"), CASES)
def test_within_ten_percent_on_correlated_gaussians(estimator, rho, d):
    """32768 pairs, half held out in blocks of 4096 (InfoNCE's ceiling log 4096 = 8.3)."""
    x, y = gaussians(jax.random.key(10 * d + int(10 * rho)), 32768, d, rho)
    est = getattr(design, estimator)(**SETTINGS)
    estimate, _ = design.mutual_information(jax.random.key(1), x, y, est)
    assert abs(estimate - exact(d, rho)) < 0.1 * exact(d, rho), (estimate, exact(d, rho))
