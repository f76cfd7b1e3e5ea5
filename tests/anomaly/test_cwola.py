"""CWoLa classifiers (out-of-fold scores), SIC curves, closure and mass sculpting."""

import math

import jax
import numpy as np
import pytest

from hepjax import anomaly
from hepjax.anomaly._classifiers import AbstractClassifier


class Memorizer(AbstractClassifier):
    """Scores a row 1 if it was a label-1 training row, 0 if label 0, 0.5 if never seen."""

    def out_of_fold(self, key, x, y, weight, fold, num_folds):
        scores = np.full(len(y), np.nan)
        for f in range(num_folds):
            train = {tuple(r): float(t) for r, t in zip(x[fold != f], y[fold != f], strict=True)}
            for i in np.flatnonzero(fold == f):
                scores[i] = train.get(tuple(x[i]), 0.5)
        return scores


def test_cwola_scores_are_out_of_fold(rng):
    """A classifier that memorises its training rows scores every data row blind (0.5)."""
    data, samples = rng.normal(size=(103, 2)), rng.normal(size=(211, 2))
    scores = anomaly.cwola(jax.random.key(0), data, samples, classifier=Memorizer(), folds=4)
    np.testing.assert_array_equal(scores, 0.5)
    assert scores.shape == (103,)


@pytest.mark.parametrize("classifier", [anomaly.MLPEnsemble(num_models=2, steps=300), "trees"])
def test_cwola_on_identical_samples_is_blind(rng, classifier):
    """Data and template from one distribution: out-of-fold scores do not tell them apart."""
    if classifier == "trees":
        pytest.importorskip("sklearn")
        classifier = anomaly.BoostedTrees(num_models=2, max_iter=50)
    data, samples = rng.normal(size=(600, 3)), rng.normal(size=(1200, 3))
    key = jax.random.key(1)
    # label the data 1: the AUC of data against template scores, both out of fold
    from hepjax.anomaly._classifiers import out_of_fold_scores
    from hepjax.metrics import roc_auc

    s_data, s_tmpl = out_of_fold_scores(key, data, samples, classifier, 5)
    auc = roc_auc(np.r_[s_data, s_tmpl], np.r_[np.ones(600), np.zeros(1200)])
    stderr = math.sqrt((1800 + 1) / (12 * 600 * 1200))
    assert abs(auc - 0.5) < 4 * stderr


def test_cwola_finds_a_signal(rng):
    """Signal on top of the template's distribution: the signal rows get the high scores."""
    pytest.importorskip("sklearn")
    bkg = rng.normal(size=(2000, 2))
    sig = rng.normal(loc=(2.5, 2.5), scale=0.3, size=(200, 2))
    data = np.concatenate([bkg, sig])
    is_signal = np.r_[np.zeros(2000), np.ones(200)]
    samples = rng.normal(size=(4000, 2))
    scores = anomaly.cwola(
        jax.random.key(2), data, samples, classifier=anomaly.BoostedTrees(num_models=2)
    )
    curve = anomaly.sic(scores, is_signal)
    assert curve.max > 5.0


def test_cwola_bad_input(rng):
    data, samples = rng.normal(size=(20, 2)), rng.normal(size=(40, 2))
    with pytest.raises(ValueError, match="folds=21 is more than the sample size"):
        anomaly.cwola(jax.random.key(0), data, samples, classifier=Memorizer(), folds=21)
    with pytest.raises(ValueError, match="folds must be an int >= 2"):
        anomaly.cwola(jax.random.key(0), data, samples, classifier=Memorizer(), folds=1)
    bad = data.copy()
    bad[[0, 5, 9], 0] = np.nan
    with pytest.raises(ValueError, match="sr_features has 3 of 20 rows with NaN or inf"):
        anomaly.cwola(jax.random.key(0), bad, samples, classifier=Memorizer())
    with pytest.raises((ValueError, TypeError), match="samples"):  # jaxtyping's check or ours
        anomaly.cwola(jax.random.key(0), data, rng.normal(size=(40, 3)), classifier=Memorizer())
    with pytest.raises(TypeError, match="classifier"):
        anomaly.cwola(jax.random.key(0), data, samples, classifier="bdt")


def test_sic_of_a_perfect_classifier(rng):
    """Every signal above every background: SIC = 1/sqrt(eps_B) at eps_S = 1 (closed form)."""
    num_b, num_s = 20_000, 300
    scores = np.r_[rng.uniform(0, 1, num_b), rng.uniform(2, 3, num_s)]
    labels = np.r_[np.zeros(num_b), np.ones(num_s)]
    curve = anomaly.sic(scores, labels, min_background=10)
    assert curve.at(1000) == pytest.approx(math.sqrt(1000))
    assert curve.at(100) == pytest.approx(10.0)
    assert curve.max == pytest.approx(1 / math.sqrt(10 / num_b))  # the tightest allowed cut
    assert math.isnan(curve.at(50_000))  # fewer than one background event would pass


def test_sic_of_a_random_classifier(rng):
    """Scores independent of the label: eps_S = eps_B, so SIC = sqrt(eps_B)."""
    scores = rng.uniform(size=200_000)
    labels = rng.uniform(size=200_000) < 0.5
    curve = anomaly.sic(scores, labels)
    eps_b = 0.01
    stderr = math.sqrt(eps_b * (1 - eps_b) / labels.sum()) / math.sqrt(eps_b)
    assert abs(curve.at(1 / eps_b) - math.sqrt(eps_b)) < 4 * stderr
    with pytest.raises(ValueError, match="both classes"):
        anomaly.sic(scores[:10], np.zeros(10))


def test_mass_sculpting(rng):
    mass = rng.uniform(3.0, 4.6, 20_000)
    flat = anomaly.mass_sculpting(rng.uniform(size=20_000), mass)
    assert (flat.p_values > 1e-3).all() and flat.efficiencies.tolist() == [0.5, 0.2, 0.05]
    sculpted = anomaly.mass_sculpting(mass + rng.normal(0, 0.1, 20_000), mass)
    assert (sculpted.p_values < 1e-6).all() and (sculpted.ks_statistics > 0.3).all()


def test_closure_with_a_classifier_strategy(rng):
    pytest.importorskip("sklearn")
    a, b = rng.normal(size=(800, 2)), rng.normal(size=(800, 2))
    same = anomaly.closure_auc(
        jax.random.key(0), a, b, classifier=anomaly.BoostedTrees(num_models=1, max_iter=30)
    )
    assert abs(same.auc - 0.5) < 4 * same.stderr
    shifted = anomaly.closure_auc(
        jax.random.key(0), a + 0.5, b, classifier=anomaly.BoostedTrees(num_models=1, max_iter=30)
    )
    assert shifted.auc > 0.6
