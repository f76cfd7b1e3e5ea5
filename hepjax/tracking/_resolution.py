r"""Resolutions and pulls of fitted track parameters: summaries and a plot.

:func:`pull_summary` gives the mean and width (with standard errors) of each
column of pulls $(\hat x - x)/\sigma$ (ideal: 0 and 1) or residuals (the width
is then the resolution, :func:`resolution_summary`); :func:`plot_pulls`
histograms them with a Gaussian fit.

Everything here is host NumPy: this is evaluation code, not a training path.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

BOUND_PARAMETERS = ("loc0", "loc1", "phi", "theta", "qop")

# -- resolutions and pulls ----------------------------------------------------------


def _names(names: Sequence[str] | None, k: int) -> tuple[str, ...]:
    if names is None:
        return BOUND_PARAMETERS if k == len(BOUND_PARAMETERS) else tuple(f"p{i}" for i in range(k))
    names = tuple(names)
    if len(names) != k:
        raise ValueError(f"names must have {k} entries (one per column), got {len(names)}")
    return names


def pull_summary(
    values: Any,
    *,
    names: Sequence[str] | None = None,
    mask: Any = None,
) -> dict[str, dict[str, float]]:
    """Mean and width (standard deviation) of each column, with their standard errors.

    For $n$ finite values with mean $\\bar x$ and standard deviation $s$,
    $\\sigma_{\\bar x} = s/\\sqrt n$ and $\\sigma_s \\approx s/\\sqrt{2(n-1)}$
    (Gaussian approximation). Use it on pulls $(\\hat x - x)/\\sigma$ (ideal:
    mean 0, width 1) or on residuals (the width is then the resolution).

    Args:
        values: ``(n, k)`` pulls or residuals (a ``(n,)`` array is one column).
        names: column names (default: the bound parameters
            ``loc0, loc1, phi, theta, qop`` when ``k == 5``).
        mask: ``(n,)`` or ``(n, k)`` booleans, the entries to use; non-finite
            entries are always left out.

    Returns:
        ``{name: {"mean", "mean_error", "width", "width_error", "n"}}``.
    """
    x = np.asarray(values, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"values must have shape (n, k), got {x.shape}")
    keep = np.isfinite(x)
    if mask is not None:
        m = np.asarray(mask, bool)
        if m.shape == (x.shape[0],):
            m = m[:, None]
        if m.shape not in ((x.shape[0], 1), x.shape):
            raise ValueError(f"mask must have shape ({x.shape[0]},) or {x.shape}, got {m.shape}")
        keep &= m
    out = {}
    for j, name in enumerate(_names(names, x.shape[1])):
        v = x[keep[:, j], j]
        n = v.size
        mean = float(v.mean()) if n else float("nan")
        sd = float(v.std(ddof=1)) if n > 1 else float("nan")
        out[name] = {
            "mean": mean,
            "mean_error": sd / np.sqrt(n) if n > 1 else float("nan"),
            "width": sd,
            "width_error": sd / np.sqrt(2 * (n - 1)) if n > 1 else float("nan"),
            "n": int(n),
        }
    return out


def resolution_summary(
    estimates: Any,
    truths: Any,
    *,
    names: Sequence[str] | None = None,
    mask: Any = None,
    angles: Sequence[str] = ("phi",),
) -> dict[str, dict[str, float]]:
    """Bias (mean) and resolution (width) of the residuals ``estimates - truths``.

    Columns named in ``angles`` are wrapped to $(-\\pi, \\pi]$ first. See
    :func:`pull_summary` for the output and the errors.

    Args:
        estimates: ``(n, k)`` fitted parameters.
        truths: ``(n, k)`` true parameters.
        names: column names (default: ``loc0, loc1, phi, theta, qop`` when ``k == 5``).
        mask: ``(n,)`` or ``(n, k)`` entries to use.
        angles: names of the periodic columns.
    """
    est, tru = np.asarray(estimates, np.float64), np.asarray(truths, np.float64)
    if est.shape != tru.shape:
        raise ValueError(
            f"estimates and truths must have the same shape, got {est.shape} and {tru.shape}"
        )
    res = est - tru
    if res.ndim == 1:
        res = res[:, None]
    names = _names(names, res.shape[1])
    for j, name in enumerate(names):
        if name in angles:
            res[:, j] = np.angle(np.exp(1j * res[:, j]))
    return pull_summary(res, names=names, mask=mask)


def _gauss_fit(v: np.ndarray, edges: np.ndarray) -> tuple[float, float, float, float]:
    """Least-squares Gaussian fit to a histogram (Poisson errors): mu, sigma and errors."""
    from scipy.optimize import curve_fit

    counts, _ = np.histogram(v, edges)
    centers = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]

    def gauss(x, mu, sigma):
        return (
            v.size
            * width
            * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
            / (np.sqrt(2 * np.pi) * abs(sigma))
        )

    try:
        popt, pcov = curve_fit(
            gauss,
            centers,
            counts,
            p0=(v.mean(), v.std()),
            sigma=np.sqrt(np.maximum(counts, 1.0)),
            absolute_sigma=True,
        )
        err = np.sqrt(np.diag(pcov))
        return float(popt[0]), float(abs(popt[1])), float(err[0]), float(err[1])
    except (RuntimeError, ValueError):
        return float("nan"), float("nan"), float("nan"), float("nan")


def plot_pulls(
    pulls: Any,
    path,
    *,
    names: Sequence[str] | None = None,
    mask: Any = None,
    bins: int = 40,
    limit: float = 5.0,
) -> dict[str, dict[str, float]]:
    """Histogram each pull column in ``[-limit, limit]`` with a Gaussian fit.

    Args:
        pulls: ``(n, k)`` pulls.
        path: PNG file to write (atomically).
        names: column names (default: the bound parameters when ``k == 5``).
        mask: ``(n,)`` entries to use.
        bins: histogram bins.
        limit: histogram range.

    Returns:
        ``{name: {"mu", "mu_error", "sigma", "sigma_error"}}`` of the fits.
    """
    from hepjax._core import figure

    x = np.asarray(pulls, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"pulls must have shape (n, k), got {x.shape}")
    names = _names(names, x.shape[1])
    keep = np.ones(x.shape[0], bool) if mask is None else np.asarray(mask, bool)
    if keep.shape != (x.shape[0],):
        raise ValueError(f"mask must have shape ({x.shape[0]},), got {keep.shape}")
    edges = np.linspace(-limit, limit, bins + 1)
    fits = {}
    k = x.shape[1]
    with figure(path, size=(3.2 * k, 3.4), ncols=k) as (_fig, axes):
        axes = np.atleast_1d(axes)
        for j, (ax, name) in enumerate(zip(axes, names, strict=True)):
            v = x[keep & np.isfinite(x[:, j]), j]
            v = v[np.abs(v) <= limit]
            ax.hist(v, edges, histtype="step", color="k")
            mu, sigma, mu_e, sigma_e = _gauss_fit(v, edges) if v.size > 2 else (np.nan,) * 4
            fits[name] = {"mu": mu, "mu_error": mu_e, "sigma": sigma, "sigma_error": sigma_e}
            if np.isfinite(sigma):
                xs = np.linspace(-limit, limit, 200)
                w = edges[1] - edges[0]
                ys = v.size * w * np.exp(-0.5 * ((xs - mu) / sigma) ** 2)
                ax.plot(xs, ys / (np.sqrt(2 * np.pi) * sigma), "r-", lw=1)
            ax.set_xlabel(f"pull {name}")
            ax.set_title(f"$\\mu$={mu:.2f} $\\sigma$={sigma:.2f}", fontsize=10)
    return fits
