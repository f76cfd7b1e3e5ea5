"""Classifier metrics: a tiny ParticleNet ranks a faithful model above a distorted one."""

import pathlib

import jax
import numpy as np
import pytest

from hepjax.metrics import jets as jm

DATA = pathlib.Path(__file__).parent / "data"

TINY = dict(k=4, channels=((8, 8), (16, 16)), hidden_size=16, dropout=0.0)


@pytest.fixture(scope="module")
def samples():
    gluons = np.load(DATA / "jetnet_inputs.npz")["jets1"][:, :16]  # 1000 toy gluon jets
    truth, faithful, distorted = gluons[:300], gluons[300:600], gluons[600:900].copy()
    distorted[..., :2] *= 2.5  # jets far too wide
    return truth, faithful, distorted


@pytest.mark.slow  # default suite time budget: runs in make test-slow
def test_multi_model_metric_ranks_models(samples):
    truth, faithful, distorted = samples
    out = jm.multi_model_classifier_metric(
        truth,
        {"faithful": faithful, "distorted": distorted},
        key=jax.random.key(0),
        steps=150,
        batch_size=64,
        model_kwargs=TINY,
    )
    assert set(out) == {"truth", "faithful", "distorted"}
    (vf, ef), (vd, ed) = out["faithful"], out["distorted"]
    assert ef > 0 and ed > 0
    # The truth class is likelier on faithful jets than on distorted ones, beyond the errors.
    assert vd - vf > 4 * np.hypot(ef, ed)
    # Faithful jets look like truth: the classifier cannot separate them.
    assert abs(vf - out["truth"][0]) < 4 * np.hypot(ef, out["truth"][1])


def test_classifier_auc_separates_distorted_jets(samples):
    truth, _, distorted = samples
    auc, err = jm.classifier_auc(
        truth, distorted, key=jax.random.key(1), steps=150, batch_size=64, model_kwargs=TINY
    )
    assert 0 < err < 0.05
    assert auc - 0.5 > 4 * err  # separable beyond the Hanley-McNeil error


def test_classifier_errors(samples):
    truth, faithful, _ = samples
    with pytest.raises(ValueError, match="non-empty mapping"):
        jm.multi_model_classifier_metric(truth, {}, key=jax.random.key(0))
    with pytest.raises(ValueError, match="'truth' is reserved"):
        jm.multi_model_classifier_metric(truth, {"truth": faithful}, key=jax.random.key(0))
    with pytest.raises(ValueError, match="same number of particle slots"):
        jm.multi_model_classifier_metric(truth, {"m": faithful[:, :10]}, key=jax.random.key(0))
    with pytest.raises(ValueError, match="test_fraction"):
        jm.classifier_auc(truth, faithful, key=jax.random.key(0), test_fraction=1.0)
