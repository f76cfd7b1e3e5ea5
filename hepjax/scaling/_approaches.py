r"""Chinchilla approaches 1 and 2: the compute-optimal frontier without the parametric law.

Both assume the training compute $C = 6ND$ (Kaplan et al., arXiv:2001.08361)
and estimate the exponents of $N^*(C) \propto C^a$, $D^*(C) \propto C^b$.

**Approach 1** (lower envelope; Hoffmann et al., arXiv:2203.15556, sec. 3.1):
the points $(N, D, L)$ of all training curves are binned in $\log C$; in each
bin the lowest loss marks the compute-optimal run, and $\log N^*$, $\log D^*$
are regressed on $\log C$.

**Approach 2** (IsoFLOP profiles, sec. 3.2): at fixed budget $C$ each model
size's loss is read off its training curve at $D = C/(6N)$ (interpolated in
$\log D$, never extrapolated); a parabola in $\log N$ through the ``window``
points around the lowest one has its minimum at $\log N^*(C)$, and $\log N^*$
is regressed on $\log C$, with $D^* = C/(6N^*)$ so that $b = 1 - a$.

The intervals are $\pm 1$ standard error of the regression slope (68%).
"""

import dataclasses
from typing import Any

import numpy as np

from .._core import check_positive_int
from ._parametric import check_cells


@dataclasses.dataclass(frozen=True)
class FrontierResult:
    r"""A compute-optimal frontier $N^* = k_N C^a$, $D^* = k_D C^b$ from approach 1 or 2.

    Attributes:
        a, b: the exponents of $N^*$ and $D^*$ in $C$.
        a_error, b_error: their standard errors.
        compute: the budgets $C$ of the frontier points.
        N_opt, D_opt: the compute-optimal sizes found at each budget.
        loss_opt: the loss there.
    """

    a: float
    b: float
    a_error: float
    b_error: float
    compute: np.ndarray
    N_opt: np.ndarray
    D_opt: np.ndarray
    loss_opt: np.ndarray

    def interval(self, name: str) -> tuple[float, float]:
        """The 68% interval (one standard error) of ``"a"`` or ``"b"``."""
        if name not in ("a", "b"):
            raise ValueError(f"name must be 'a' or 'b', got {name!r}")
        value, error = getattr(self, name), getattr(self, f"{name}_error")
        return value - error, value + error


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope, intercept and the slope's standard error."""
    design = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = x.size - 2
    if dof <= 0:
        return float(coef[0]), float(coef[1]), float("nan")
    sigma2 = np.sum((y - design @ coef) ** 2) / dof
    err = np.sqrt(sigma2 / np.sum((x - x.mean()) ** 2))
    return float(coef[0]), float(coef[1]), float(err)


def lower_envelope(N: Any, D: Any, loss: Any, *, num_bins: int = 10) -> FrontierResult:
    r"""Chinchilla approach 1: the lower envelope of loss against compute $C = 6ND$.

    Args:
        N: model sizes of every point of every training curve.
        D: examples seen at that point.
        loss: the (validation) loss there.
        num_bins: log-spaced compute bins (at least 3 must hold points).

    Returns:
        A :class:`FrontierResult`.
    """
    N, D, loss = check_cells(N, D, loss, minimum=3)
    check_positive_int("num_bins", num_bins)
    log_c = np.log(6 * N * D)
    edges = np.linspace(log_c.min(), log_c.max(), num_bins + 1)
    which = np.clip(np.digitize(log_c, edges[1:-1]), 0, num_bins - 1)
    best = [np.flatnonzero(which == i)[np.argmin(loss[which == i])] for i in np.unique(which)]
    best = np.asarray(best)
    if best.size < 3:
        raise ValueError(f"the envelope needs at least 3 filled compute bins, got {best.size}")
    a, _, a_err = _slope(log_c[best], np.log(N[best]))
    b, _, b_err = _slope(log_c[best], np.log(D[best]))
    return FrontierResult(a, b, a_err, b_err, 6 * N[best] * D[best], N[best], D[best], loss[best])


def isoflop_profiles(N: Any, D: Any, loss: Any, budgets: Any, *, window: int = 5) -> FrontierResult:
    r"""Chinchilla approach 2: parabolas in $\log N$ of the loss at fixed compute budgets.

    Args:
        N: model sizes of every point of every training curve (one curve per size).
        D: examples seen at that point.
        loss: the loss there.
        budgets: compute budgets $C$ in FLOPs; a budget is used when at least
            3 model sizes reach it within their curves and the parabola opens upwards.
        window: the parabola is fitted to this many model sizes around the
            lowest loss of the profile (at least 3).

    Returns:
        A :class:`FrontierResult` over the usable budgets (at least 2).
    """
    N, D, loss = check_cells(N, D, loss, minimum=3)
    if check_positive_int("window", window) < 3:
        raise ValueError(f"window must be at least 3 (a parabola), got {window}")
    budgets = np.atleast_1d(np.asarray(budgets, np.float64))
    if np.any(~np.isfinite(budgets)) or np.any(budgets <= 0):
        raise ValueError(f"budgets must be positive and finite, got {budgets}")
    sizes = np.unique(N)
    rows = []
    for c in np.sort(budgets):
        xs, ys = [], []
        for n in sizes:
            on = N == n
            d, ell = D[on], loss[on]
            order = np.argsort(d)
            d, ell = d[order], ell[order]
            target = c / (6 * n)
            if d.size < 2 or not d[0] <= target <= d[-1]:
                continue
            xs.append(np.log(n))
            ys.append(np.interp(np.log(target), np.log(d), np.log(ell)))
        if len(xs) < 3:
            continue
        # the parabola is a local model: fit it to the `window` sizes around the lowest loss
        xs, ys = np.asarray(xs), np.asarray(ys)
        lowest = int(np.argmin(ys))
        start = min(max(lowest - window // 2, 0), max(xs.size - window, 0))
        xs, ys = xs[start : start + window], ys[start : start + window]
        c2, c1, c0 = np.polyfit(xs, ys, 2)
        if c2 <= 0:
            continue
        x_opt = -c1 / (2 * c2)
        if not min(xs) <= x_opt <= max(xs):
            continue  # the minimum must be bracketed by the profile
        rows.append((c, np.exp(x_opt), np.exp(c0 - c1**2 / (4 * c2))))
    if len(rows) < 2:
        raise ValueError(
            f"only {len(rows)} budgets have a bracketed IsoFLOP minimum over >= 3 model sizes; "
            "choose budgets that every curve spans"
        )
    c, n_opt, l_opt = (np.asarray(v) for v in zip(*rows, strict=True))
    a, _, a_err = _slope(np.log(c), np.log(n_opt))
    return FrontierResult(a, 1 - a, a_err, a_err, c, n_opt, c / (6 * n_opt), l_opt)
