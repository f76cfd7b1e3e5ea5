"""C2ST accuracy and AUC against closed forms for Gaussians."""

import math

import jax
import numpy as np
import pytest

from hepjax.metrics import c2st, c2st_auc
from hepjax.sbi.diagnostics import c2st as sbi_c2st


def _normal_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@pytest.fixture(scope="module")
def shifted():
    rng = np.random.default_rng(0)
    n, shift = 2000, 1.0
    return rng.normal(size=(n, 1)), rng.normal(size=(n, 1)) + shift, shift


def test_auc_of_shifted_gaussians_is_the_optimal_one(shifted):
    a, b, shift = shifted
    # the Bayes-optimal score is monotone in x, so AUC = P(x_b > x_a) = Phi(shift / sqrt 2)
    exact = _normal_cdf(shift / math.sqrt(2.0))
    auc = c2st_auc(a, b, key=jax.random.key(0), min_steps=300, epochs=5)
    # the held-out AUC of n = 2000 + 2000 rows has a standard error of about 0.008
    assert abs(auc - exact) < 0.03, (auc, exact)


def test_auc_of_equal_distributions_is_chance():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(1500, 2)), rng.normal(size=(1500, 2))
    auc = c2st_auc(a, b, key=jax.random.key(1), min_steps=300, epochs=5)
    assert abs(auc - 0.5) < 0.04, auc


def test_accuracy_of_shifted_gaussians_and_the_sbi_reexport(shifted):
    a, b, shift = shifted
    assert sbi_c2st is c2st
    acc = c2st(a, b, key=jax.random.key(0), min_steps=300, epochs=5)
    # optimal accuracy for equal priors: Phi(shift / 2); n = 4000 gives a standard error ~0.008
    assert abs(acc - _normal_cdf(shift / 2.0)) < 0.03, acc


def test_bad_input_is_named(no_jaxtyping):
    with pytest.raises(ValueError, match="same dimension"):
        c2st_auc(np.zeros((10, 2)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="finite"):
        c2st_auc(np.full((10, 1), np.nan), np.zeros((10, 1)))
