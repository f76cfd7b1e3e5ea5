"""Tests of hepjax.calo's resolution fit and response statistics on synthetic data."""

import math

import numpy as np
import pytest

from hepjax import calo

E = np.array([2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0])
TRUE = (0.10, 0.01, 0.25)  # a [sqrt(GeV)], b, c [GeV]


def test_fit_recovers_exact_terms():
    r = calo.resolution_model(E, *TRUE)
    fit = calo.fit_resolution(E, r, 1e-3 * r)
    np.testing.assert_allclose([fit.a, fit.b, fit.c], TRUE, rtol=1e-5)
    assert fit.chi2 < 1e-6 and fit.ndf == 4
    np.testing.assert_allclose(fit(E), r, rtol=1e-6)


def test_fit_with_a_fixed_constant_term():
    r = calo.resolution_model(E[:4], *TRUE)
    fit = calo.fit_resolution(E[:4], r, 1e-3 * r, constant=TRUE[1])
    np.testing.assert_allclose([fit.a, fit.b, fit.c], TRUE, rtol=1e-5)
    assert fit.b_err == 0.0 and fit.ndf == 2
    with pytest.raises(ValueError, match="at least 3 energies"):
        calo.fit_resolution(E[:2], r[:2], r[:2], constant=0.0)


def test_fit_errors_cover_the_truth_in_repeated_noisy_data():
    rng = np.random.default_rng(0)
    pulls = []
    for _ in range(200):
        r = calo.resolution_model(E, *TRUE)
        err = 0.03 * r
        fit = calo.fit_resolution(E, r + err * rng.normal(size=E.size), err)
        pulls.append((fit.a - TRUE[0]) / fit.a_err)
    pulls = np.array(pulls)
    # unbiased with unit-width pulls, within the statistics of 200 fits
    assert abs(pulls.mean()) < 4 / math.sqrt(pulls.size) + 0.1
    assert 0.7 < pulls.std() < 1.4


def test_response_stats_and_bad_input():
    x = np.random.default_rng(1).normal(0.8, 0.1, 400)
    s = calo.response_stats(x)
    assert s["mean"] == pytest.approx(x.mean()) and s["std"] == pytest.approx(x.std(ddof=1))
    assert s["mean_err"] == pytest.approx(x.std(ddof=1) / 20.0)
    with pytest.raises(ValueError, match="at least 4"):
        calo.fit_resolution(E[:3], E[:3], E[:3])
    with pytest.raises(ValueError, match="equal length"):
        calo.fit_resolution(E, E[:5], E)
    with pytest.raises(ValueError, match="positive"):
        calo.fit_resolution(-E, E, E)
    with pytest.raises(ValueError, match="at least 2"):
        calo.response_stats([1.0])
