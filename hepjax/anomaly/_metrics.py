r"""Metrics of a bump hunt: SIC curves, template closure, mass sculpting.

- **SIC**, the significance improvement characteristic: a cut on the
  classifier that keeps the fractions $\epsilon_S$ of signal and $\epsilon_B$
  of background multiplies the significance $S/\sqrt B$ by
  $\mathrm{SIC} = \epsilon_S / \sqrt{\epsilon_B}$ (Gallicchio et al. 2011,
  arXiv:1010.3698). It is reported at its maximum and at $1/\epsilon_B = 1000$.
- **Closure**: a classifier between template samples and the true
  signal-region background gives a held-out AUC of 0.5 for a perfect
  template; its standard error under that null is
  $\sqrt{(n_0 + n_1 + 1)/(12\, n_0 n_1)}$ (the Mann-Whitney statistic).
- **Mass sculpting**: a cut on a classifier of background events should not
  shape their mass distribution (else a bump can be faked); the two-sample
  Kolmogorov-Smirnov test compares the masses that pass with all of them.
"""

import math

import equinox as eqx
import numpy as np
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from ..metrics import c2st_auc, roc_auc, roc_curve
from ._classifiers import AbstractClassifier, out_of_fold_scores
from ._regions import check_features


class SICResult(eqx.Module):
    """A SIC curve: signal and background efficiencies over all thresholds.

    Attributes:
        signal_efficiency: $\\epsilon_S$ at every distinct threshold, increasing.
        background_efficiency: $\\epsilon_B$ at the same thresholds.
        num_background: background events the efficiencies were counted on.
        min_background: :attr:`max` only uses thresholds that keep at least this
            many background events (below, $\\epsilon_B$ is a fluctuation).
    """

    signal_efficiency: np.ndarray
    background_efficiency: np.ndarray
    num_background: int = eqx.field(static=True)
    min_background: int = eqx.field(static=True)

    @property
    def sic(self) -> np.ndarray:
        """$\\epsilon_S/\\sqrt{\\epsilon_B}$ at every threshold ($\\epsilon_B > 0$; else NaN)."""
        eb = self.background_efficiency
        safe = np.where(eb > 0, eb, 1.0)
        return np.where(eb > 0, self.signal_efficiency / np.sqrt(safe), np.nan)

    @property
    def max(self) -> float:
        """The largest SIC over thresholds keeping at least ``min_background`` background events."""
        keep = self.background_efficiency * self.num_background >= self.min_background
        if not keep.any():
            return math.nan
        return float(np.nanmax(self.sic[keep]))

    def at(self, inverse_eps_b: float | int) -> float:
        """SIC at $1/\\epsilon_B$ = ``inverse_eps_b``, with $\\epsilon_S$ interpolated on the ROC.

        NaN where fewer than one background event would pass (the curve is not measured there).
        """
        if not inverse_eps_b >= 1:
            raise ValueError(f"inverse_eps_b must be >= 1, got {inverse_eps_b!r}")
        eps_b = 1.0 / inverse_eps_b
        if eps_b * self.num_background < 1:
            return math.nan
        eps_s = np.interp(eps_b, self.background_efficiency, self.signal_efficiency)
        return float(eps_s / math.sqrt(eps_b))

    def on_grid(self, inverse_eps_b: Float[ArrayLike, " k"]) -> np.ndarray:
        """:meth:`at` on a grid of $1/\\epsilon_B$ values (for bands over seeds)."""
        return np.array([self.at(float(v)) for v in np.asarray(inverse_eps_b).ravel()])


def sic(
    scores: Float[ArrayLike, " n"], is_signal: ArrayLike, *, min_background: int = 10
) -> SICResult:
    """The SIC curve of ``scores`` (higher: more signal-like) against the truth ``is_signal``.

    Args:
        scores: ``(n,)`` classifier scores, e.g. from :func:`cwola`.
        is_signal: ``(n,)`` truth labels.
        min_background: the fewest background events a threshold of :attr:`SICResult.max` keeps.

    Raises:
        ValueError: mismatched lengths, non-finite scores, or a single class.
    """
    labels = np.asarray(is_signal).astype(int).ravel()
    fpr, tpr = roc_curve(scores, labels)
    if isinstance(min_background, bool) or not isinstance(min_background, int):
        raise TypeError(f"min_background must be an int, got {type(min_background).__name__}")
    return SICResult(tpr, fpr, int((labels == 0).sum()), max(1, min_background))


class ClosureResult(eqx.Module):
    """Held-out AUC of a classifier telling template samples from true SR background.

    Attributes:
        auc: the AUC (0.5 for a perfect template).
        stderr: its standard error under the null of a perfect template.
        num_template: rows of template samples.
        num_background: rows of true background.
    """

    auc: float
    stderr: float
    num_template: int
    num_background: int


def closure_auc(
    key: PRNGKeyArray,
    samples: Float[ArrayLike, "m d"],
    sr_background: Float[ArrayLike, "n d"],
    *,
    classifier: AbstractClassifier | None = None,
    folds: int = 5,
) -> ClosureResult:
    """Template closure: can a classifier tell the template from the true SR background?

    Args:
        key: PRNG key.
        samples: ``(m, d)`` template samples.
        sr_background: ``(n, d)`` true background in the signal region.
        classifier: a classifier strategy scored on the pooled out-of-fold
            predictions; default :func:`hepjax.metrics.c2st_auc` (an MLP per
            fold, mean of the folds' AUCs).
        folds: cross-validation folds.
    """
    a = check_features("samples", samples)
    b = check_features("sr_background", sr_background, a.shape[1])
    if classifier is None:
        auc = c2st_auc(b, a, key=key, num_folds=folds)
    else:
        s_a, s_b = out_of_fold_scores(key, a, b, classifier, folds)
        labels = np.concatenate([np.ones(len(a)), np.zeros(len(b))])
        auc = roc_auc(np.concatenate([s_a, s_b]), labels)
    stderr = math.sqrt((len(a) + len(b) + 1) / (12.0 * len(a) * len(b)))
    return ClosureResult(float(auc), stderr, len(a), len(b))


class MassSculptingResult(eqx.Module):
    """How a cut on the score shapes the background's mass distribution.

    Attributes:
        efficiencies: the fractions of background kept by the cuts.
        thresholds: the score thresholds.
        ks_statistics: the two-sample Kolmogorov-Smirnov distance of the masses
            passing each cut to all masses.
        p_values: the KS test's p-values (small: sculpted).
    """

    efficiencies: np.ndarray
    thresholds: np.ndarray
    ks_statistics: np.ndarray
    p_values: np.ndarray


def mass_sculpting(
    scores: Float[ArrayLike, " n"],
    mass: Float[ArrayLike, " n"],
    efficiencies: tuple[float, ...] = (0.5, 0.2, 0.05),
) -> MassSculptingResult:
    """Compare the masses of background events passing score cuts with all of them.

    Args:
        scores: ``(n,)`` classifier scores of background events (e.g. sidebands and SR).
        mass: ``(n,)`` their masses.
        efficiencies: fractions of the events each cut keeps (the highest scores).
    """
    from scipy.stats import ks_2samp

    s, m = np.asarray(scores, np.float64).ravel(), np.asarray(mass, np.float64).ravel()
    if s.shape != m.shape:
        raise ValueError(f"scores and mass must have the same length, got {s.size} and {m.size}")
    effs = np.asarray(efficiencies, np.float64)
    if not ((effs > 0) & (effs <= 1)).all():
        raise ValueError(f"efficiencies must lie in (0, 1], got {efficiencies!r}")
    thresholds, stats, pvals = [], [], []
    for e in effs:
        t = np.quantile(s, 1.0 - e)
        passed = m[s >= t]
        if passed.size < 2:
            raise ValueError(f"the cut at efficiency {e} keeps fewer than 2 of {s.size} events")
        res = ks_2samp(passed, m)
        thresholds.append(t)
        stats.append(res.statistic)
        pvals.append(res.pvalue)
    return MassSculptingResult(effs, np.array(thresholds), np.array(stats), np.array(pvals))


def plot_sic(curves: dict, path, *, inverse_eps_b_max: float | int = 10_000) -> None:
    """SIC against $1/\\epsilon_B$: the median over seeds and its 16-84 % band, per method.

    Args:
        curves: name -> list of :class:`SICResult` (one per seed).
        path: the image file to write.
        inverse_eps_b_max: the right end of the axis.
    """
    from hepjax._core import figure

    grid = np.geomspace(1.0, inverse_eps_b_max, 60)
    with figure(path) as (_fig, ax):
        for name, results in curves.items():
            values = np.array([r.on_grid(grid) for r in results])
            measured = ~np.isnan(values).all(0)  # beyond 1/eps_B = N_B nothing is measured
            if not measured.any():
                continue
            values, x = values[:, measured], grid[measured]
            (line,) = ax.plot(x, np.nanmedian(values, 0), label=name)
            if len(results) > 1:
                lo, hi = np.nanpercentile(values, [16, 84], axis=0)
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.25)
        ax.set_xscale("log")
        ax.set_xlabel("background rejection $1/\\epsilon_B$")
        ax.set_ylabel("SIC $= \\epsilon_S\\,/\\,\\epsilon_B^{1/2}$")
        ax.legend()
