r"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788).

For $(\theta^*_i, x_i)$ drawn from the prior and the simulator and $L$
posterior samples $\theta^{(l)} \sim q(\theta \mid x_i)$, the rank
$r_{ij} = \#\{l : \theta^{(l)}_j < \theta^*_{ij}\}$ of each true parameter is
uniform on $\{0, \dots, L\}$ when $q$ is the true posterior. Too many extreme
ranks indicate an over-confident estimator, too many central ranks an
under-confident one, a slope a bias.
"""

import numpy as np
from jaxtyping import ArrayLike, Float, Int, PRNGKeyArray

from .._data import as_2d_float, as_x_float, check_num_samples


def sbc_ranks(
    key: PRNGKeyArray,
    estimator,
    theta: Float[ArrayLike, "m d"],
    x: Float[ArrayLike, "m ..."],
    num_posterior_samples: int = 100,
    *,
    mask: ArrayLike | None = None,
) -> Int[np.ndarray, "m d"]:
    """SBC ranks of the true ``theta`` among posterior samples of a fitted ``estimator``.

    Args:
        key: PRNG key for the posterior samples.
        estimator: a fitted estimator with ``sample_batch(key, xs, n)``
            (e.g. :class:`hepjax.sbi.NPE`).
        theta: ``(m, d)`` true parameters drawn from the prior (not used in training).
        x: ``(m, dx)`` their simulations (or ensembles ``(m, n, *event_shape)``).
        num_posterior_samples: $L$, posterior samples per observation.
        mask: ``(m, n)`` real events of ensembles ``x``, passed on to the
            estimator (``None``: none, or NaN padding).

    Returns:
        ``(m, d)`` integer ranks in ``[0, L]``.
    """
    theta = as_2d_float("theta", theta)
    x = as_x_float("x", x)  # vectors (m, dx) or ensembles (m, n, *event)
    if theta.shape[0] != x.shape[0]:
        raise ValueError(
            f"theta and x must have the same number of rows, got {theta.shape[0]} and {x.shape[0]}"
        )
    num = check_num_samples(num_posterior_samples, "num_posterior_samples")
    extra = () if mask is None else (np.asarray(mask),)
    samples = np.asarray(estimator.sample_batch(key, x, num, *extra))  # (m, L, d)
    if samples.shape[-1] != theta.shape[1]:
        raise ValueError(
            f"theta has {theta.shape[1]} parameters but the estimator samples {samples.shape[-1]}"
        )
    return (samples < theta[:, None, :]).sum(axis=1)


def sbc_uniformity(
    ranks: Int[ArrayLike, "m d"], num_posterior_samples: int, num_bins: int | None = None
) -> np.ndarray:
    r"""Chi-square test of uniformity of SBC ranks, one p-value per parameter.

    The ranks in $\{0, \dots, L\}$ are grouped into ``num_bins`` bins (default
    $\min(L + 1, \max(2, m / 20))$) whose expected counts follow from the
    discrete uniform distribution exactly, and Pearson's $\chi^2$ statistic is
    compared with its $\chi^2_{B-1}$ distribution.

    Args:
        ranks: ``(m, d)`` SBC ranks in $\{0, \dots, L\}$ of ``m`` tests, per parameter.
        num_posterior_samples: $L$, the number of posterior samples each rank was computed from.
        num_bins: the number of bins $B$ (default $\min(L + 1, \max(2, m / 20))$).

    Returns:
        ``(d,)`` p-values; small values reject calibration.
    """
    from scipy import stats

    ranks = np.asarray(ranks)
    if ranks.ndim == 1:
        ranks = ranks[:, None]
    if ranks.ndim != 2:
        raise ValueError(f"ranks must have shape (m, d), got {ranks.shape}")
    length = check_num_samples(num_posterior_samples, "num_posterior_samples")
    if ranks.min() < 0 or ranks.max() > length:
        raise ValueError(f"ranks must lie in [0, {length}] for num_posterior_samples={length}")
    m = ranks.shape[0]
    if num_bins is None:
        num_bins = int(min(length + 1, max(2, m // 20)))
    if num_bins < 2 or num_bins > length + 1:
        raise ValueError(f"num_bins must be in [2, {length + 1}], got {num_bins}")
    edges = np.floor(np.arange(num_bins + 1) * (length + 1) / num_bins).astype(int)
    expected = np.diff(edges) / (length + 1) * m
    bins = np.searchsorted(edges, ranks, side="right") - 1
    pvalues = []
    for j in range(ranks.shape[1]):
        counts = np.bincount(bins[:, j], minlength=num_bins)
        pvalues.append(stats.chisquare(counts, expected).pvalue)
    return np.asarray(pvalues)
