r"""Calorimeter energy resolution: response statistics and the fit $a/\sqrt E \oplus b \oplus c/E$.

The relative resolution of a calorimeter is parametrised as (PDG Review,
"Calorimetry", eq. 35.1)

$$\frac{\sigma_E}{E} = \sqrt{\frac{a^2}{E} + b^2 + \frac{c^2}{E^2}}
  = \frac{a}{\sqrt E}\oplus b\oplus\frac{c}{E},$$

$a$ the stochastic (sampling and shower) term in $\sqrt{\text{GeV}}$, $b$ the
constant term (leakage, non-uniformity), $c$ the noise term in GeV.
:func:`fit_resolution` fits it by weighted least squares
(``scipy.optimize.curve_fit`` with absolute errors) on $|a|, |b|, |c|$.

:func:`response_stats` gives the mean and the standard deviation of a sample of
responses $E_\text{meas}/E_\text{true}$ with their standard errors
($\sigma/\sqrt n$ for the mean; the normal-theory $\sigma/\sqrt{2(n-1)}$ for
the standard deviation).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["ResolutionFit", "fit_resolution", "resolution_model", "response_stats"]


def resolution_model(energy, a, b, c):
    """$\\sqrt{a^2/E + b^2 + c^2/E^2}$ (module docstring); NumPy, any shapes.

    Args:
        energy: the energy $E$, GeV.
        a: the stochastic term, $\\sqrt{\\text{GeV}}$.
        b: the constant term.
        c: the noise term, GeV.
    """
    e = np.asarray(energy, np.float64)
    return np.sqrt(a**2 / e + b**2 + c**2 / e**2)


@dataclasses.dataclass(frozen=True)
class ResolutionFit:
    """The result of :func:`fit_resolution`.

    Attributes:
        a, b, c: stochastic ($\\sqrt{\\text{GeV}}$), constant and noise (GeV) terms.
        a_err, b_err, c_err: their standard errors (from the covariance, scaled
            by $\\sqrt{\\chi^2/\\text{ndf}}$ when that exceeds 1).
        chi2: $\\chi^2$ of the fit.
        ndf: its degrees of freedom.
        covariance: ``(3, 3)`` covariance of ``(a, b, c)``.
    """

    a: float
    b: float
    c: float
    a_err: float
    b_err: float
    c_err: float
    chi2: float
    ndf: int
    covariance: np.ndarray

    def __call__(self, energy):
        return resolution_model(energy, self.a, self.b, self.c)


def fit_resolution(
    energy, resolution, error, *, p0=(0.1, 0.01, 0.1), constant: float | None = None
) -> ResolutionFit:
    """Fit $\\sigma/E = a/\\sqrt E \\oplus b \\oplus c/E$ to measured resolutions.

    Args:
        energy: ``(n,)`` energies in GeV (positive).
        resolution: ``(n,)`` measured $\\sigma/E$.
        error: ``(n,)`` their standard errors (positive).
        p0: starting ``(a, b, c)``.
        constant: fix the constant term $b$ to this value (its error is then 0)
            and fit $a$ and $c$ only, e.g. with few energies or events. When a
            free $b$ runs into its bound 0 (a singular fit), it is fixed there.

    Returns:
        :class:`ResolutionFit` with non-negative terms.

    Raises:
        ValueError: fewer than four points, mismatched lengths, non-positive
            energies or errors, or non-finite values.
    """
    e = np.asarray(energy, np.float64)
    r = np.asarray(resolution, np.float64)
    s = np.asarray(error, np.float64)
    if e.ndim != 1 or e.shape != r.shape or e.shape != s.shape:
        raise ValueError(
            "energy, resolution and error must be 1D of equal length, got shapes "
            f"{e.shape}, {r.shape}, {s.shape}"
        )
    n_par = 3 if constant is None else 2
    if e.size < n_par + 1:
        raise ValueError(f"need at least {n_par + 1} energies to fit {n_par} terms, got {e.size}")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(r)) and np.all(np.isfinite(s))):
        raise ValueError("energy, resolution and error must be finite")
    if np.any(e <= 0) or np.any(s <= 0):
        raise ValueError("energy and error must be positive")
    if constant is None:
        fit = _fit(e, r, s, p0, None)
        if fit.b < 1e-6 or not np.all(np.isfinite(np.diag(fit.covariance))):
            # the constant term ran into its bound b = 0, where the fit is singular:
            # fix it there (its error is then 0) and fit a and c
            fit = _fit(e, r, s, p0, 0.0)
        return fit
    return _fit(e, r, s, p0, constant)


def _fit(e, r, s, p0, constant) -> ResolutionFit:
    from scipy.optimize import curve_fit

    n_par = 3 if constant is None else 2
    if constant is None:
        model = lambda x, a, b, c: resolution_model(x, a, b, c)
        start = p0
    else:
        b_fixed = float(constant)
        model = lambda x, a, c: resolution_model(x, a, b_fixed, c)
        start = (p0[0], p0[2])
    popt, pcov = curve_fit(model, e, r, p0=start, sigma=s, absolute_sigma=True, maxfev=20000)
    popt = np.abs(popt)
    pcov = np.asarray(pcov)
    if constant is not None:  # back to (a, b, c) with b fixed
        popt = np.array([popt[0], abs(b_fixed), popt[1]])
        full = np.zeros((3, 3))
        full[np.ix_([0, 2], [0, 2])] = pcov
        pcov = full
    chi2 = float(np.sum(((r - resolution_model(e, *popt)) / s) ** 2))
    ndf = int(e.size - n_par)
    scale = max(chi2 / ndf, 1.0) if ndf > 0 else 1.0
    cov = pcov * scale
    err = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return ResolutionFit(
        float(popt[0]),
        float(popt[1]),
        float(popt[2]),
        float(err[0]),
        float(err[1]),
        float(err[2]),
        chi2,
        ndf,
        cov,
    )


def response_stats(response) -> dict[str, float]:
    """Mean and standard deviation of responses with their standard errors.

    Returns ``{"mean", "mean_err", "std", "std_err", "n"}``; the standard
    deviation uses ``ddof=1`` (as COCOA's response check).
    """
    x = np.asarray(response, np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"need at least 2 responses, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("responses must be finite")
    n = x.size
    sd = float(np.std(x, ddof=1))
    return {
        "mean": float(np.mean(x)),
        "mean_err": sd / math.sqrt(n),
        "std": sd,
        "std_err": sd / math.sqrt(2 * (n - 1)),
        "n": float(n),
    }
