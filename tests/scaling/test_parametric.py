"""The parametric law: synthetic recovery with bootstrap intervals, compute_optimal, bad input."""

import jax
import numpy as np
import pytest

from hepjax import scaling

TRUTH = {"E": 0.2, "A": 20.0, "B": 50.0, "alpha": 0.35, "beta": 0.4}
N_GRID = np.repeat(np.geomspace(1e3, 1e6, 5), 6)
D_GRID = np.tile(np.geomspace(1e4, 1e7, 6), 5)


def law(N, D):
    t = TRUTH
    return t["E"] + t["A"] / N ** t["alpha"] + t["B"] / D ** t["beta"]


def synthetic(seed, noise=0.01):
    rng = np.random.default_rng(seed)
    return law(N_GRID, D_GRID) * np.exp(rng.normal(0.0, noise, N_GRID.size))


@pytest.fixture(scope="module")
def fitted():
    fit = scaling.fit_parametric(N_GRID, D_GRID, synthetic(1))
    return fit, fit.bootstrap(jax.random.key(1), 100)


@pytest.mark.slow  # the 432-start fit with bootstrap: `make test-slow`
def test_recovery_within_bootstrap_intervals(fitted):
    """Known law, 1% log-normal noise, 30 cells. 68% intervals: each holds the truth with
    probability 0.68, so one realisation is checked against 68% for most parameters and the
    95% interval for all; the coverage rate itself is tested over 12 realisations (slow)."""
    fit, boot = fitted
    inside68 = [boot.interval(k)[0] <= v <= boot.interval(k)[1] for k, v in TRUTH.items()]
    inside95 = [
        boot.interval(k, 0.95)[0] <= v <= boot.interval(k, 0.95)[1] for k, v in TRUTH.items()
    ]
    assert all(inside95), boot.intervals(0.95)
    assert sum(inside68) >= 3, boot.intervals()
    assert np.max(np.abs(fit.residuals)) < 0.04
    for name, value in TRUTH.items():
        assert getattr(fit, name) == pytest.approx(value, rel=0.2)


@pytest.mark.slow
def test_bootstrap_coverage():
    """Over 12 realisations each 68% interval holds the truth at a rate compatible with 0.68
    (P(fewer than 5 of 12 | p = 0.68) = 2%)."""
    hits = {k: 0 for k in TRUTH}
    for seed in range(12):
        fit = scaling.fit_parametric(N_GRID, D_GRID, synthetic(100 + seed))
        boot = fit.bootstrap(jax.random.key(seed), 200)
        for k, v in TRUTH.items():
            low, high = boot.interval(k)
            hits[k] += low <= v <= high
    assert all(h >= 5 for h in hits.values()), hits


def test_exact_law_recovered():
    fit = scaling.fit_parametric(N_GRID, D_GRID, law(N_GRID, D_GRID))
    for name, value in TRUTH.items():
        assert getattr(fit, name) == pytest.approx(value, rel=2e-2)
    np.testing.assert_allclose(fit.predict(N_GRID, D_GRID), law(N_GRID, D_GRID), rtol=1e-3)


@pytest.mark.slow  # the 432-start fit with bootstrap: `make test-slow`
def test_compute_optimal_closed_form(fitted):
    """N* minimises L(N, C/6N) at fixed C; the closed form agrees with a scan, and 6 N* D* = C."""
    fit, boot = fitted
    for c in (1e12, 1e15):
        n_opt, d_opt = scaling.compute_optimal(fit, c)
        assert 6 * n_opt * d_opt == pytest.approx(c, rel=1e-9)
        grid = np.geomspace(n_opt / 100, n_opt * 100, 20001)
        scanned = grid[np.argmin(fit.predict(grid, c / (6 * grid)))]
        assert scanned == pytest.approx(n_opt, rel=2e-3)
    n_opt, _ = scaling.compute_optimal(fit, np.array([1e12, 1e14]))
    assert np.log(n_opt[1] / n_opt[0]) / np.log(100) == pytest.approx(fit.a, rel=1e-9)
    assert fit.a + fit.b == pytest.approx(1.0)
    low, high = boot.interval("a")
    assert low <= fit.a <= high or abs(fit.a - 0.5 * (low + high)) < high - low


def test_bad_input():
    with pytest.raises(ValueError, match="5 parameters .* only 4 cells"):
        scaling.fit_parametric([1e3, 1e4, 1e5, 1e6], [1e3] * 4, [0.5] * 4)
    with pytest.raises(ValueError, match="loss must be positive"):
        scaling.fit_parametric(N_GRID, D_GRID, -law(N_GRID, D_GRID))
    with pytest.raises(ValueError, match="N must be positive"):
        scaling.fit_parametric(np.zeros(30), D_GRID, law(N_GRID, D_GRID))
    with pytest.raises(ValueError, match="equal lengths"):
        scaling.fit_parametric(N_GRID[:-1], D_GRID, law(N_GRID, D_GRID))
    fit = scaling.ScalingFit(**TRUTH, N=N_GRID, D=D_GRID, loss=law(N_GRID, D_GRID))
    with pytest.raises(ValueError, match="compute must be positive"):
        scaling.compute_optimal(fit, -1.0)
