r"""Plots of the calibration diagnostics: SBC rank histograms, coverage curves, corner plots.

Each function builds and returns a ``matplotlib.figure.Figure`` (matplotlib is
imported inside the functions, so ``import hepjax.sbi`` stays light). The
bands are what a calibrated estimator stays inside: for SBC, each bin count of
$m$ uniform ranks is $\mathrm{Binomial}(m, p_b)$ with $p_b$ the bin's share of
$\{0, \dots, L\}$ (Talts et al. 2018, arXiv:1804.06788); for coverage, each
$m\,\mathrm{ECP}(a)$ is $\mathrm{Binomial}(m, a)$.
"""

from collections.abc import Mapping, Sequence

import numpy as np
from jaxtyping import ArrayLike, Float, Int

from .._data import check_num_samples
from ._coverage import coverage_band


def _labels(labels, d: int) -> list[str]:
    if labels is None:
        return [rf"$\theta_{{{j + 1}}}$" for j in range(d)]
    labels = list(labels)
    if len(labels) != d:
        raise ValueError(f"labels must name the {d} parameters, got {len(labels)}")
    return labels


def plot_rank_histogram(
    ranks: Int[ArrayLike, "m d"],
    num_posterior_samples: int,
    *,
    num_bins: int | None = None,
    labels: Sequence[str] | None = None,
    confidence: float = 0.99,
):
    """SBC rank histograms, one panel per parameter, with the binomial band of uniform ranks.

    Args:
        ranks: ``(m, d)`` ranks in ``[0, L]`` (:func:`sbc_ranks`).
        num_posterior_samples: $L$.
        num_bins: histogram bins (default $\\min(L + 1, \\max(2, m / 20))$, as
            :func:`sbc_uniformity`).
        labels: parameter names.
        confidence: coverage of the grey band (per bin).

    Returns:
        The ``matplotlib`` Figure.
    """
    import matplotlib.pyplot as plt
    from scipy import stats

    ranks = np.asarray(ranks)
    if ranks.ndim == 1:
        ranks = ranks[:, None]
    if ranks.ndim != 2:
        raise ValueError(f"ranks must have shape (m, d), got {ranks.shape}")
    length = check_num_samples(num_posterior_samples, "num_posterior_samples")
    if ranks.min() < 0 or ranks.max() > length:
        raise ValueError(f"ranks must lie in [0, {length}] for num_posterior_samples={length}")
    m, d = ranks.shape
    if num_bins is None:
        num_bins = int(min(length + 1, max(2, m // 20)))
    if num_bins < 1 or num_bins > length + 1:
        raise ValueError(f"num_bins must be in [1, {length + 1}], got {num_bins}")
    names = _labels(labels, d)
    edges = np.floor(np.arange(num_bins + 1) * (length + 1) / num_bins).astype(int)
    p = np.diff(edges) / (length + 1)
    lo, hi = stats.binom.interval(confidence, m, p)
    fig, axes = plt.subplots(1, d, figsize=(2.6 * d, 2.4), squeeze=False)
    for j, ax in enumerate(axes[0]):
        counts = np.bincount(
            np.searchsorted(edges, ranks[:, j], side="right") - 1, minlength=num_bins
        )
        ax.fill_between(
            edges,
            np.append(lo, lo[-1]),
            np.append(hi, hi[-1]),
            step="post",
            color="0.85",
            label=f"{confidence:.0%} band",
        )
        ax.stairs(counts, edges, color="C0", lw=1.5)
        ax.set(xlabel=f"rank of {names[j]}", xlim=(0, length + 1), yticks=[])
    axes[0, 0].set_ylabel("count")
    axes[0, 0].legend(loc="lower center", fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


def plot_coverage(
    curves,
    num_tests: int,
    *,
    confidence: float = 0.99,
    title: str | None = None,
):
    """Expected coverage curves against the diagonal, with the band of a calibrated estimator.

    Args:
        curves: ``(levels, ecp)`` (from :func:`hpd_coverage`, :func:`tarp` or
            :func:`expected_coverage`), or a mapping of labels to such pairs.
        num_tests: number of test pairs $m$ behind each curve (for the band).
        confidence: coverage of the grey band (pointwise).
        title: axes title.

    Returns:
        The ``matplotlib`` Figure.
    """
    import matplotlib.pyplot as plt

    if not isinstance(curves, Mapping):
        curves = {None: curves}
    if not curves:
        raise ValueError("curves must hold at least one (levels, ecp) pair")
    grid = np.linspace(0.0, 1.0, 201)
    lo, hi = coverage_band(num_tests, grid, confidence)
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    ax.fill_between(grid, lo, hi, color="0.85", label=f"{confidence:.0%} band (m={num_tests})")
    ax.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1)
    for i, (label, pair) in enumerate(curves.items()):
        levels, ecp = (np.asarray(a, dtype=np.float64) for a in pair)
        if levels.shape != ecp.shape or levels.ndim != 1:
            raise ValueError(
                f"each curve must be (levels, ecp) of equal 1-d shape, got {levels.shape} "
                f"and {ecp.shape}"
            )
        ax.plot(levels, ecp, color=f"C{i}", lw=1.8, label=label)
    ax.set(
        xlabel="credibility level",
        ylabel="expected coverage",
        xlim=(0, 1),
        ylim=(0, 1),
        aspect="equal",
        title=title,
    )
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


def plot_corner(
    samples: Float[ArrayLike, "n d"],
    *,
    reference: Float[ArrayLike, "k d"] | None = None,
    truth: Float[ArrayLike, " d"] | None = None,
    labels: Sequence[str] | None = None,
    limits: Sequence[tuple[float, float]] | None = None,
    bins: int = 40,
    max_points: int = 3000,
    names: tuple[str, str] = ("estimate", "reference"),
):
    """Corner plot: 1-d histograms on the diagonal, pairwise scatter below it.

    Args:
        samples: ``(n, d)`` posterior samples.
        reference: optional ``(k, d)`` reference samples overlaid (e.g. the true posterior).
        truth: optional ``(d,)`` true parameter, marked in every panel.
        labels: parameter names.
        limits: per-parameter ``(low, high)``; default the range of all samples.
        bins: histogram bins on the diagonal.
        max_points: at most this many points per scatter panel (a subsample).
        names: legend names of ``samples`` and ``reference``.

    Returns:
        The ``matplotlib`` Figure.
    """
    import matplotlib.pyplot as plt

    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2:
        raise ValueError(f"samples must have shape (n, d), got {samples.shape}")
    d = samples.shape[1]
    sets = [samples]
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float64)
        if reference.ndim != 2 or reference.shape[1] != d:
            raise ValueError(f"reference must have shape (k, {d}), got {reference.shape}")
        sets.append(reference)
    if truth is not None:
        truth = np.asarray(truth, dtype=np.float64).reshape(-1)
        if truth.shape != (d,):
            raise ValueError(f"truth must have shape ({d},), got {truth.shape}")
    names_ = _labels(labels, d)
    if limits is None:
        both = np.concatenate(sets)
        limits = list(zip(both.min(0), both.max(0), strict=True))
    elif len(limits) != d:
        raise ValueError(f"limits must give (low, high) for the {d} parameters")
    rng = np.random.default_rng(0)
    thin = [s[rng.permutation(len(s))[:max_points]] for s in sets]
    size = min(2.2 * d, 12.0)
    fig, axes = plt.subplots(d, d, figsize=(size + 0.4, size), squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                edges = np.linspace(*limits[i], bins + 1)
                for k, s in enumerate(sets):
                    ax.hist(s[:, i], bins=edges, density=True, histtype="step", color=f"C{k}")
                if truth is not None:
                    ax.axvline(truth[i], color="C3", lw=1)
                ax.set_yticks([])
            else:
                for k, s in enumerate(thin):
                    ax.scatter(s[:, j], s[:, i], s=1, alpha=0.25, color=f"C{k}", rasterized=True)
                if truth is not None:
                    ax.plot(truth[j], truth[i], "*", color="C3", ms=8)
                ax.set_ylim(*limits[i])
            ax.set_xlim(*limits[j])
            if i == d - 1:
                ax.set_xlabel(names_[j])
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(names_[i])
            elif j > 0:
                ax.set_yticklabels([])
    handles = [plt.Line2D([], [], color="C0", label=names[0])]
    if reference is not None:
        handles.append(plt.Line2D([], [], color="C1", label=names[1]))
    if truth is not None:
        handles.append(plt.Line2D([], [], color="C3", marker="*", ls="", label="truth"))
    fig.legend(handles=handles, loc="upper right", frameon=False)
    fig.tight_layout()
    return fig
