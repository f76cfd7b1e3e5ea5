r"""The data-constrained scaling law: repeated data as an effective dataset size.

Muennighoff et al. (arXiv:2305.16264, eq. 5): training on $D$ examples drawn
from $U$ unique ones repeats the data $R = D/U - 1$ times beyond the first
epoch, and is worth

.. math::
    D' = U + U R^* \big(1 - e^{-R/R^*}\big)

unique examples: the first repetitions are nearly as good as fresh data, and
the gain saturates at $U(1 + R^*)$. $R^*$ is fitted by least squares in
$\log L$ against a parametric law $L(N, D')$ fitted on unique data
(:func:`~hepjax.scaling.fit_parametric`), by a scan over $\log R^*$ refined
by golden-section search; the interval is the 16-84% range of refits on
resampled runs.
"""

import dataclasses
from typing import Any

import numpy as np

from .._core import check_positive_int
from ._parametric import ScalingFit, check_cells


def effective_data(D: Any, U: Any, r_star: float) -> Any:
    r"""The effective data size $D' = U + U R^*(1 - e^{-R/R^*})$, $R = \max(D/U - 1, 0)$.

    Args:
        D: examples seen in training.
        U: unique examples available (``D <= U`` means no repetition: ``D' = D``).
        r_star: the decay constant $R^* > 0$.
    """
    D, U = np.asarray(D, np.float64), np.asarray(U, np.float64)
    if not r_star > 0:
        raise ValueError(f"r_star must be positive, got {r_star!r}")
    repeats = np.maximum(D / U - 1.0, 0.0)
    return np.where(D <= U, D, U + U * r_star * (1.0 - np.exp(-repeats / r_star)))


@dataclasses.dataclass(frozen=True)
class RepetitionResult:
    r"""The fitted repetition constant $R^*$ (:func:`fit_repetition`).

    Attributes:
        r_star: the fitted $R^*$.
        interval: its 68% bootstrap interval.
        effective_gain: $D'/U$ for each run.
    """

    r_star: float
    interval: tuple[float, float]
    effective_gain: np.ndarray


def _sse(log_r: Any, fit: ScalingFit, N, D, U, loss, weights) -> np.ndarray:
    out = []
    for lr in np.atleast_1d(log_r):
        pred = fit.predict(N, effective_data(D, U, float(np.exp(lr))))
        out.append(weights @ (np.log(pred) - np.log(loss)) ** 2)
    return np.asarray(out)


def _best(fit, N, D, U, loss, weights) -> float:
    grid = np.linspace(np.log(1e-2), np.log(1e4), 121)
    i = int(np.argmin(_sse(grid, fit, N, D, U, loss, weights)))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    golden = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        x1, x2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        if _sse(x1, fit, N, D, U, loss, weights)[0] < _sse(x2, fit, N, D, U, loss, weights)[0]:
            hi = x2
        else:
            lo = x1
    return float(np.exp(0.5 * (lo + hi)))


def fit_repetition(
    fit: ScalingFit,
    N: Any,
    D: Any,
    U: Any,
    loss: Any,
    *,
    num_bootstrap: int = 100,
    seed: int = 0,
) -> RepetitionResult:
    r"""Fit $R^*$ of :func:`effective_data` to runs on repeated data.

    Args:
        fit: the law fitted on unique data (its $E, A, \alpha, B, \beta$ are held).
        N: model sizes of the runs.
        D: examples seen by each run.
        U: unique examples each run drew from (``D > U`` repeats them).
        loss: each run's validation loss.
        num_bootstrap: resamples of the runs for the interval.
        seed: NumPy seed of the resampling.

    Returns:
        A :class:`RepetitionResult`.
    """
    if not isinstance(fit, ScalingFit):
        raise TypeError(f"fit must be a hepjax.scaling.ScalingFit, got {type(fit).__name__}")
    N, D, loss = check_cells(N, D, loss, minimum=2)
    U = np.broadcast_to(np.asarray(U, np.float64), N.shape)
    if np.any(~np.isfinite(U)) or np.any(U <= 0):
        raise ValueError(f"U must be positive and finite, got {U}")
    check_positive_int("num_bootstrap", num_bootstrap)
    ones = np.ones(N.size)
    r_star = _best(fit, N, D, U, loss, ones)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(num_bootstrap):
        weights = np.bincount(rng.integers(0, N.size, N.size), minlength=N.size).astype(float)
        boot.append(_best(fit, N, D, U, loss, weights))
    low, high = np.percentile(boot, [16, 84])
    return RepetitionResult(
        r_star=r_star,
        interval=(float(low), float(high)),
        effective_gain=effective_data(D, U, r_star) / U,
    )
