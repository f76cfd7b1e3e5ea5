r"""Binary-classification metrics: ROC curve, AUC, background rejection.

For scores $s$ and labels $y \in \{0, 1\}$ (1 = signal), the ROC curve is the
set of (false-positive rate, true-positive rate) pairs over all thresholds,
and the AUC equals the Mann-Whitney probability
$P(s_{\rm sig} > s_{\rm bkg}) + \tfrac12 P(s_{\rm sig} = s_{\rm bkg})$.
These work on host NumPy arrays: they are evaluation, not training, code.
"""

import numpy as np
from jaxtyping import ArrayLike


def _check(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = np.asarray(scores, np.float64).ravel(), np.asarray(labels).ravel()
    if scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must have the same length, got {scores.size} and {labels.size}"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (background) or 1 (signal)")
    if labels.min() == labels.max():
        raise ValueError("labels must contain both classes to define a ROC curve")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    return scores, labels.astype(bool)


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the end of each tie group
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    fpr = np.r_[0.0, fp / (~labels).sum()]
    tpr = np.r_[0.0, tp / labels.sum()]
    return fpr, tpr


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve (trapezoidal, so ties count one half)."""
    fpr, tpr = roc_curve(scores, labels)
    return float(np.trapezoid(tpr, fpr))


def background_rejection(scores: ArrayLike, labels: ArrayLike, signal_efficiency: float) -> float:
    r"""$1/\epsilon_B$ at the threshold where the signal efficiency first reaches the target.

    Args:
        scores: ``(n,)`` classifier scores, higher meaning more signal-like.
        labels: ``(n,)`` truth labels, 1 for signal and 0 for background.
        signal_efficiency: the target signal efficiency $\epsilon_S$ in ``(0, 1]``.
    """
    if not 0.0 < signal_efficiency <= 1.0:
        raise ValueError(f"signal_efficiency must be in (0, 1], got {signal_efficiency!r}")
    fpr, tpr = roc_curve(scores, labels)
    i = int(np.searchsorted(tpr, signal_efficiency))
    return float("inf") if fpr[i] == 0 else float(1.0 / fpr[i])


def accuracy(logits: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of ``argmax(logits, -1) == labels``."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"logits of shape {logits.shape} do not match labels of shape {labels.shape}"
        )
    return float(np.mean(np.argmax(logits, -1) == labels))


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path) -> None:
    """Plot background rejection against signal efficiency for named ROC curves."""
    from hepjax._core import figure

    with figure(path) as (_fig, ax):
        for name, (fpr, tpr) in curves.items():
            keep = fpr > 0
            ax.plot(tpr[keep], 1.0 / fpr[keep], label=name)
        ax.set_yscale("log")
        ax.set_xlabel("signal efficiency")
        ax.set_ylabel("background rejection $1/\\epsilon_B$")
        ax.legend()
