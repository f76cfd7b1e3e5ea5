"""Unbiased RBF MMD: exact against a direct sum, unbiased against the Gaussian closed form."""

import math

import numpy as np
import pytest

from hepjax.metrics import median_bandwidth, mmd_rbf


def _direct(x, y, h):
    k = lambda a, b: np.exp(-np.sum((a[:, None] - b[None]) ** 2, -1) / (2 * h * h))
    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * k(x, y).mean()
    )


def test_matches_the_direct_double_sum(rng):
    x, y = rng.normal(size=(37, 3)), rng.normal(0.5, 1.2, size=(53, 3))
    got = mmd_rbf(x, y, bandwidth=1.3, block=8)
    assert abs(got - _direct(x, y, 1.3)) < 1e-5
    h = median_bandwidth(np.concatenate([x, y]))
    assert abs(mmd_rbf(x, y) - _direct(x, y, h)) < 1e-5


@pytest.mark.parametrize("shift", [0.0, 0.8])
def test_is_unbiased_for_gaussians(rng, shift):
    # x ~ N(0, s^2 I), y ~ N(mu, s^2 I): MMD^2 = 2 c (1 - exp(-|mu|^2 / 2(h^2 + 2 s^2))),
    # c = (h^2 / (h^2 + 2 s^2))^(d/2)
    d, s, h = 2, 1.0, 1.5
    mu = np.array([shift, 0.0])
    c = (h * h / (h * h + 2 * s * s)) ** (d / 2)
    want = 2 * c * (1 - math.exp(-(mu @ mu) / (2 * (h * h + 2 * s * s))))
    vals = [
        mmd_rbf(rng.normal(0, s, (200, d)), rng.normal(mu, s, (200, d)), bandwidth=h)
        for _ in range(30)
    ]
    err = np.std(vals, ddof=1) / math.sqrt(len(vals))
    assert abs(np.mean(vals) - want) < 4 * err


def test_bad_inputs(rng):
    with pytest.raises(ValueError, match="same d"):
        mmd_rbf(rng.normal(size=(5, 2)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="two rows"):
        mmd_rbf(rng.normal(size=(1, 2)), rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd_rbf(rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), bandwidth=0.0)
