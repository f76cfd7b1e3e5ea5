"""Approaches 1 and 2 and the repetition law on synthetic curves from a known law."""

import numpy as np
import pytest

from hepjax import scaling

E, A, B, ALPHA, BETA = 0.2, 20.0, 50.0, 0.35, 0.4
EXPONENT_A = BETA / (ALPHA + BETA)


def law(N, D):
    return E + A / N**ALPHA + B / D**BETA


def curves(noise=0.0, seed=0):
    """Training curves: 12 model sizes, each evaluated at 40 data sizes."""
    sizes = np.geomspace(1e3, 1e7, 12)
    data = np.geomspace(1e3, 1e9, 40)
    n, d = (a.ravel() for a in np.meshgrid(sizes, data, indexing="ij"))
    rng = np.random.default_rng(seed)
    return n, d, law(n, d) * np.exp(rng.normal(0, noise, n.size))


def test_approaches_agree_with_closed_form():
    n, d, loss = curves()
    iso = scaling.isoflop_profiles(n, d, loss, np.geomspace(1e12, 1e15, 6))
    assert iso.a == pytest.approx(EXPONENT_A, abs=0.03)
    assert iso.a + iso.b == pytest.approx(1.0)
    env = scaling.lower_envelope(n, d, loss, num_bins=12)
    assert env.a == pytest.approx(EXPONENT_A, abs=0.1)
    assert env.b == pytest.approx(1 - EXPONENT_A, abs=0.1)
    low, high = iso.interval("a")
    assert low <= high


def test_isoflop_needs_bracketed_budgets():
    n, d, loss = curves()
    with pytest.raises(ValueError, match="budgets have a bracketed IsoFLOP minimum"):
        scaling.isoflop_profiles(n, d, loss, [1e30])


def test_effective_data_limits():
    u = 1e5
    np.testing.assert_allclose(scaling.effective_data(5e4, u, 10.0), 5e4)
    # one repetition is nearly worth fresh data; many saturate at U (1 + R*)
    assert scaling.effective_data(2e5, u, 10.0) == pytest.approx(u + u * 10 * (1 - np.exp(-0.1)))
    assert scaling.effective_data(1e12, u, 10.0) == pytest.approx(u * 11)
    with pytest.raises(ValueError, match="r_star must be positive"):
        scaling.effective_data(1e5, u, 0.0)


def test_fit_repetition_recovers_r_star():
    cells = np.ones(5)
    fit = scaling.ScalingFit(E, A, B, ALPHA, BETA, N=cells, D=cells, loss=cells)
    r_star = 5.0
    n = np.repeat([1e4, 1e5], 8)
    u = np.tile(np.repeat([1e4, 1e5], 4), 2)
    d = u * np.tile([2.0, 4.0, 16.0, 64.0], 4)
    loss = law(n, scaling.effective_data(d, u, r_star))
    result = scaling.fit_repetition(fit, n, d, u, loss, num_bootstrap=20)
    assert result.r_star == pytest.approx(r_star, rel=0.1)
    assert np.all(result.effective_gain <= 1 + result.r_star + 1e-9)
