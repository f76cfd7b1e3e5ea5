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


def test_grouped_folds_keep_each_group_in_one_fold():
    from hepjax.metrics._c2st import _assign_folds

    groups_a = np.repeat(np.arange(50), 3)
    groups_b = np.repeat(np.arange(50), 2)
    folds = _assign_folds(jax.random.key(0), 150, 100, groups_a, groups_b, 5)
    groups = np.concatenate([groups_a, groups_b])
    for g in range(50):
        assert len(np.unique(folds[groups == g])) == 1
    assert np.bincount(folds, minlength=5).min() > 0
    assert sorted(np.unique(folds).tolist()) == [0, 1, 2, 3, 4]


def test_auc_of_paired_samples_with_groups_is_chance():
    # two samples drawn for the same 600 conditions (like MC and a generator for the same
    # incident particles): equal conditional distributions, so the grouped AUC is 0.5
    rng = np.random.default_rng(2)
    cond = rng.normal(size=(600, 2)) * 3.0
    a = cond + 0.3 * rng.normal(size=cond.shape)
    b = cond + 0.3 * rng.normal(size=cond.shape)
    events = np.arange(600)
    auc = c2st_auc(
        a, b, key=jax.random.key(3), groups_a=events, groups_b=events, min_steps=300, epochs=5
    )
    # 1200 rows: the standard error of a chance AUC is about 0.017
    assert abs(auc - 0.5) < 0.05, auc


def test_bad_groups_are_named(no_jaxtyping):
    a = np.zeros((10, 1))
    with pytest.raises(ValueError, match="together"):
        c2st_auc(a, a, groups_a=np.arange(10))
    with pytest.raises(ValueError, match="groups_b must be"):
        c2st_auc(a, a, groups_a=np.arange(10), groups_b=np.arange(9))
    with pytest.raises(ValueError, match="at least num_folds=5 groups"):
        c2st_auc(a, a, groups_a=np.zeros(10, int), groups_b=np.zeros(10, int))
