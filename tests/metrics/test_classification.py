import numpy as np
import pytest
from scipy.stats import mannwhitneyu

import hepjax.metrics as hm


def test_auc_equals_mann_whitney_with_ties(rng):
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.normal(size=500) + 0.7 * labels, 1)  # many ties
    u = mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    expected = u / ((labels == 1).sum() * (labels == 0).sum())
    assert hm.roc_auc(scores, labels) == pytest.approx(expected, rel=1e-12)


def test_roc_end_points_and_monotone(rng):
    labels = rng.integers(0, 2, 200)
    fpr, tpr = hm.roc_curve(rng.normal(size=200), labels)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_perfect_and_inverted_scores():
    labels = np.array([0, 0, 1, 1])
    assert hm.roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert hm.roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert hm.background_rejection(np.array([0.1, 0.2, 0.8, 0.9]), labels, 0.5) == float("inf")
    assert hm.background_rejection(np.array([0.1, 0.85, 0.8, 0.9]), labels, 1.0) == 2.0


def test_accuracy():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert hm.accuracy(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="do not match labels"):
        hm.accuracy(logits, np.array([0, 1]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        hm.roc_auc(np.array([1, 2, 3]), np.array([0, 1]))
    with pytest.raises(ValueError, match="both classes"):
        hm.roc_auc(np.array([1, 2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="0 \\(background\\) or 1"):
        hm.roc_auc(np.array([1, 2]), np.array([0, 2]))
    with pytest.raises(ValueError, match="finite"):
        hm.roc_auc(np.array([np.nan, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="signal_efficiency"):
        hm.background_rejection(np.array([1, 2]), np.array([0, 1]), 0.0)


def test_plots_are_written(tmp_path, rng):
    labels = rng.integers(0, 2, 100)
    hm.plot_roc({"a": hm.roc_curve(rng.normal(size=100) + labels, labels)}, tmp_path / "roc.png")
    hm.plot_losses(
        np.exp(-np.arange(50) / 10),
        tmp_path / "loss.png",
        evals=[{"step": 25, "val": 0.3}, {"step": 50, "val": 0.1}],
    )
    for name in ("roc.png", "loss.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))
