"""Regions, events, signal injection, the Gaussian toy and the KDE of masses."""

import jax
import numpy as np
import pytest

from hepjax import anomaly

REGIONS = anomaly.Regions(signal=(3.3, 3.7), sidebands=((3.0, 3.3), (3.7, 4.6)))


def test_regions_assign_and_split():
    m = np.array([3.0, 3.29, 3.3, 3.69, 3.7, 4.59])
    np.testing.assert_array_equal(REGIONS.in_signal(m), [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(REGIONS.in_sidebands(m), [1, 1, 0, 0, 1, 1])
    events = anomaly.Events(np.arange(12.0).reshape(6, 2), m)
    sr, sb = REGIONS.split(events)
    np.testing.assert_array_equal(sr.mass, m[2:4].astype(np.float32))
    assert len(sb) == 4
    one = anomaly.Regions(signal=(1.0, 2.0), sidebands=(2.0, 3.0))  # a bare pair
    assert one.sidebands == ((2.0, 3.0),)


@pytest.mark.parametrize(
    ("signal", "sidebands", "message"),
    [
        ((3.3, 3.7), ((3.0, 3.4),), "regions overlap: signal"),
        ((3.3, 3.7), ((3.0, 3.3), (3.2, 3.25)), r"overlap: sidebands\[0\]"),
        ((3.3, 3.3), ((3.0, 3.3),), "signal is empty"),
        ((3.3, 3.7), ((3.9, 3.8),), r"sidebands\[0\] is empty"),
        ((3.3, 3.7), (), "sidebands is empty"),
        ((3.3, float("nan")), ((3.0, 3.3),), "finite"),
    ],
)
def test_bad_regions(signal, sidebands, message):
    with pytest.raises(ValueError, match=message):
        anomaly.Regions(signal=signal, sidebands=sidebands)


def test_mass_outside_every_region():
    events = anomaly.Events(np.zeros((3, 1)), np.array([2.5, 3.5, 5.0]))
    with pytest.raises(ValueError, match="2 of 3 values of events.mass lie outside every region"):
        REGIONS.split(events)
    assert len(REGIONS.select(events)) == 1


def test_inject_signal(key):
    bkg, sig = anomaly.gaussian_toy(key, 500, 50)
    mixed = anomaly.inject_signal(jax.random.key(1), bkg, sig, 20)
    assert len(mixed) == 520 and mixed.is_signal.sum() == 20
    again = anomaly.inject_signal(jax.random.key(1), bkg, sig, 20)
    np.testing.assert_array_equal(mixed.features, again.features)  # fixed seeds
    other = anomaly.inject_signal(jax.random.key(2), bkg, sig, 20)
    assert not np.array_equal(mixed.features, other.features)
    assert anomaly.inject_signal(key, bkg, sig, 0).is_signal.sum() == 0
    with pytest.raises(ValueError, match="num_signal=51 is more than the 50 signal events"):
        anomaly.inject_signal(key, bkg, sig, 51)
    with pytest.raises(ValueError, match="num_signal must be >= 0"):
        anomaly.inject_signal(key, bkg, sig, -1)


def test_events_shapes():
    with pytest.raises(ValueError, match=r"mass must have shape \(3,\)"):
        anomaly.Events(np.zeros((3, 2)), np.zeros(4))


def test_gaussian_toy_conditional_mean(key):
    """Background features have the closed-form mass-dependent mean a u + b u^2."""
    bkg, sig = anomaly.gaussian_toy(key, 40_000, 2000, dim=3)
    assert bkg.mass.min() >= 3.0 and bkg.mass.max() < 4.6
    assert sig.is_signal.all() and abs(sig.mass.mean() - 3.5) < 4 * 0.05 / np.sqrt(2000)
    a, b = np.linspace(0.8, -0.5, 3), np.array([0.0, 0.3, 0.0])
    for lo, hi in ((3.0, 3.1), (3.5, 3.7), (4.0, 4.6)):
        sel = (bkg.mass >= lo) & (bkg.mass < hi)
        x, u = bkg.features[sel], (bkg.mass[sel] - 3.5) / 0.5
        expected = np.outer(u, a) + np.outer(u**2, b)
        resid = x - expected
        stderr = resid.std(0) / np.sqrt(sel.sum())
        assert np.all(np.abs(resid.mean(0)) < 4 * stderr)
        assert np.allclose(resid.std(0), 1.0, atol=0.05)
    # the exact log density integrates the residuals: a standard-normal check of its mean
    lp = anomaly.gaussian_toy_log_prob(bkg.features[:5000], bkg.mass[:5000])
    cov = np.eye(3) + 0.5 * (np.eye(3, k=1) + np.eye(3, k=-1))
    entropy = 0.5 * np.log(np.linalg.det(2 * np.pi * np.e * cov))
    assert abs(lp.mean() + entropy) < 4 * lp.std() / np.sqrt(5000)


def test_sample_masses_kde(key):
    m = np.asarray(jax.random.uniform(key, (4000,), minval=3.3, maxval=3.7))
    draws = anomaly.sample_masses(jax.random.key(1), m, 20_000)
    h = m.std() * len(m) ** -0.2
    assert abs(draws.mean() - m.mean()) < 4 * np.sqrt(m.var() + h**2) / np.sqrt(20_000)
    assert abs(draws.var() - (m.var() + h**2)) < 0.05 * m.var()
    bounded = anomaly.sample_masses(jax.random.key(1), m, 20_000, bounds=(3.3, 3.7))
    assert bounded.min() >= 3.3 and bounded.max() <= 3.7
    with pytest.raises(ValueError, match="bounds"):
        anomaly.sample_masses(key, m, 10, bounds=(3.7, 3.3))
