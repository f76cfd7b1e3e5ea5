r"""Evaluation of fine-tuned classifiers and learning curves over labels, with seeds.

For a binary task the score is the softmax probability of class 1 (signal);
the AUC and the background rejection $1/\epsilon_B$ at a fixed signal
efficiency come from :mod:`hepjax.metrics`. A learning curve fine-tunes with
each strategy on random labelled subsets of each size (a number of labels,
or a fraction of the labelled pool) for several seeds, and reports every
(strategy, size, seed) so that the spread over seeds can be shown.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from hepjax import metrics
from hepjax._core import check_positive_int

from ._data import Events, Jets
from ._finetune import STRATEGIES, finetune


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Accuracy, AUC and background rejection of a classifier on a labelled set.

    Attributes:
        accuracy: fraction of correct argmax predictions.
        auc: ROC AUC of the class-1 probability (binary tasks; ``nan`` otherwise).
        background_rejection: $1/\\epsilon_B$ at ``signal_efficiency`` (binary tasks).
        signal_efficiency: the working point of the rejection.
        scores: the class-1 probabilities (binary) or the logits.
    """

    accuracy: float
    auc: float
    background_rejection: float
    signal_efficiency: float
    scores: np.ndarray


def evaluate(
    model: Any, data: Jets | Events, *, signal_efficiency: float = 0.5
) -> EvaluationResult:
    """Evaluate a :class:`FinetuneResult` (or its model) on labelled ``data``.

    Args:
        model: a :class:`FinetuneResult` or a classifier with ``logits_batch``.
        data: labelled jets or events.
        signal_efficiency: the working point of the background rejection
            (binary classification only).
    """
    clf = getattr(model, "model", model)
    if data.labels is None:
        raise ValueError("data needs labels to be evaluated")
    logits = np.asarray(clf.logits_batch(data), np.float64)
    acc = metrics.accuracy(logits, data.labels)
    if logits.shape[1] != 2:
        return EvaluationResult(acc, float("nan"), float("nan"), signal_efficiency, logits)
    scores = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))
    auc = metrics.roc_auc(scores, data.labels)
    rej = metrics.background_rejection(scores, data.labels, signal_efficiency)
    return EvaluationResult(acc, auc, rej, signal_efficiency, scores)


@dataclasses.dataclass
class LearningCurveResult:
    """Metrics per strategy, size and seed.

    Attributes:
        sizes: the numbers of labelled examples used (after resolving fractions).
        requested: the sizes as requested (ints or fractions).
        seeds: the number of seeds.
        auc, accuracy, rejection: ``{strategy: array (len(sizes), seeds)}``.
    """

    sizes: list[int]
    requested: list[float]
    seeds: int
    auc: dict[str, np.ndarray]
    accuracy: dict[str, np.ndarray]
    rejection: dict[str, np.ndarray]

    def to_dict(self) -> dict:
        """JSON-ready: per strategy, ``{size: [per-seed AUC]}`` and the rest."""
        out = {"sizes": self.sizes, "requested": self.requested, "seeds": self.seeds}
        for name in ("auc", "accuracy", "rejection"):
            table = getattr(self, name)
            out[name] = {
                s: {
                    str(n): [float(v) for v in row]
                    for n, row in zip(self.sizes, table[s], strict=True)
                }
                for s in table
            }
        return out


def _subset(key, labels: np.ndarray, size: int) -> np.ndarray:
    """A random subset with every class present (when ``size`` allows)."""
    for attempt in range(20):
        pick = np.asarray(jax.random.permutation(jax.random.fold_in(key, attempt), labels.size))
        pick = np.sort(pick[:size])
        if np.unique(labels[pick]).size == np.unique(labels).size or size < 2:
            return pick
    return pick


def learning_curve(
    key: PRNGKeyArray,
    model: Any,
    labelled: Jets | Events,
    test: Jets | Events,
    *,
    sizes: Sequence[int | float],
    seeds: int = 3,
    strategies: Sequence[str] = STRATEGIES,
    signal_efficiency: float = 0.5,
    **finetune_kwargs: Any,
) -> LearningCurveResult:
    """Fine-tune with every strategy on subsets of ``labelled`` of each size, for ``seeds`` seeds.

    Args:
        key: PRNG key; seed ``s`` uses the same subsets for every strategy.
        model: a :class:`PretrainResult` or a backbone.
        labelled, test: the labelled pool and the held-out test set.
        sizes: numbers of labels (ints) or training fractions (floats in (0, 1]).
        seeds: seeds per size.
        strategies: a subset of ``("frozen", "finetune", "scratch")``.
        signal_efficiency: the working point of the background rejection.
        **finetune_kwargs: passed to :func:`finetune` (``head``, ``steps``, ...).
    """
    seeds = check_positive_int("seeds", seeds)
    for s in strategies:
        if s not in STRATEGIES:
            raise ValueError(f"strategies must be drawn from {STRATEGIES}, got {s!r}")
    total = len(labelled)
    resolved = []
    for size in sizes:
        if isinstance(size, float):
            if not 0.0 < size <= 1.0:
                raise ValueError(f"a fractional size must be in (0, 1], got {size}")
            n = max(2, round(size * total))
        else:
            n = check_positive_int("sizes", size)
        if n > total:
            raise ValueError(f"size {size} asks for {n} examples, the pool has {total}")
        resolved.append(n)
    shape = (len(resolved), seeds)
    auc = {s: np.full(shape, np.nan) for s in strategies}
    acc = {s: np.full(shape, np.nan) for s in strategies}
    rej = {s: np.full(shape, np.nan) for s in strategies}
    for i, n in enumerate(resolved):
        for seed in range(seeds):
            ksub = jax.random.fold_in(jax.random.fold_in(key, i), seed)
            pick = _subset(ksub, labelled.labels, n)
            part = labelled.subset(pick)
            for s in strategies:
                kfit = jax.random.fold_in(ksub, 1 + STRATEGIES.index(s))
                res = finetune(kfit, model, part, strategy=s, **finetune_kwargs)
                ev = evaluate(res, test, signal_efficiency=signal_efficiency)
                auc[s][i, seed] = ev.auc
                acc[s][i, seed] = ev.accuracy
                rej[s][i, seed] = ev.background_rejection
    return LearningCurveResult(resolved, [float(v) for v in sizes], seeds, auc, acc, rej)


def plot_learning_curves(
    curves: dict[str, LearningCurveResult] | LearningCurveResult,
    path,
    *,
    metric: str = "auc",
    xlabel: str = "labelled examples",
) -> None:
    """Mean over seeds with a band of +-1 standard deviation and the single seeds as dots.

    Args:
        curves: one :class:`LearningCurveResult`, or several by a label prefix.
        path: where to save the figure.
        metric: the :class:`LearningCurveResult` attribute to plot (``"auc"``, ...).
        xlabel: the x-axis label (the sizes, log scale).
    """
    from hepjax._core import figure

    if isinstance(curves, LearningCurveResult):
        curves = {"": curves}
    with figure(path) as (_fig, ax):
        for prefix, curve in curves.items():
            for strategy, table in getattr(curve, metric).items():
                x = np.asarray(curve.sizes, float)
                mean, std = np.nanmean(table, 1), np.nanstd(table, 1)
                label = f"{prefix} {strategy}".strip()
                (line,) = ax.plot(x, mean, marker="o", label=label)
                ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
                for j in range(table.shape[1]):
                    ax.scatter(x, table[:, j], s=6, color=line.get_color(), alpha=0.5)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel({"auc": "AUC", "accuracy": "accuracy"}.get(metric, "background rejection"))
        ax.legend()
