r"""Highest-posterior-density (HPD) expected coverage (Hermans et al. 2022, arXiv:2110.06581).

For a test pair $(\theta^*_i, x_i)$ and posterior samples
$\theta^{(l)}_i \sim q(\theta \mid x_i)$, $l = 1, \dots, L$, the smallest HPD
region of $q(\cdot \mid x_i)$ that contains $\theta^*_i$ has credibility

.. math::
    f_i = \frac1L \sum_l \mathbf 1\big[q(\theta^{(l)}_i \mid x_i) > q(\theta^*_i \mid x_i)\big],

and the expected coverage at level $a$ is
$\mathrm{ECP}(a) = \frac1m \sum_i \mathbf 1[f_i < a]$: the fraction of test
pairs whose true parameter lies in the level-$a$ HPD region. For the exact
posterior $f_i$ is uniform, so $\mathrm{ECP}(a) = a$; a curve below the
diagonal means over-confident (too narrow) regions, above it conservative
ones. The density is the estimator's own (``log_prob``) where it has one;
otherwise a Gaussian kernel density estimate of the $L$ samples (Scott's
bandwidth, leave-one-out at the samples themselves) stands in for it.

Under calibration each $\mathrm{ECP}(a)$ is a binomial proportion, so
:func:`coverage_band` gives the band a calibrated estimator stays in.
"""

import numpy as np
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from ..._core import check_positive_int
from .._data import as_2d_float, check_num_samples


def _check_samples(samples, theta) -> tuple[np.ndarray, np.ndarray]:
    samples = np.asarray(samples, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if samples.ndim != 3 or theta.ndim != 2 or samples.shape[::2] != theta.shape:
        raise ValueError(
            f"samples must be (m, L, d) and theta (m, d) with the same m and d, got "
            f"{samples.shape} and {theta.shape}"
        )
    if not (np.isfinite(samples).all() and np.isfinite(theta).all()):
        raise ValueError("samples and theta must be finite (found NaN or inf)")
    return samples, theta


def _kde_log_density(samples: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-KDE log densities (up to a constant per test pair) of the samples
    (leave-one-out) and of ``theta``, per test pair."""
    _, length, d = samples.shape
    if length < 3:
        raise ValueError(f"a KDE needs at least 3 posterior samples per test pair, got {length}")
    mean = samples.mean(1, keepdims=True)
    cov = np.einsum("mli,mlj->mij", samples - mean, samples - mean) / (length - 1)
    cov = cov + 1e-12 * np.eye(d) * np.trace(cov, axis1=1, axis2=2)[:, None, None]
    bandwidth = length ** (-1.0 / (d + 4))  # Scott's factor
    chol = np.linalg.cholesky(cov) * bandwidth
    white = lambda a: np.linalg.solve(chol[:, None], a[..., None])[..., 0]
    z = white(samples)  # (m, L, d)
    zt = white(theta[:, None, :])  # (m, 1, d)

    def log_kde(points, leave_out: bool):
        sq = np.sum((points[:, :, None, :] - z[:, None, :, :]) ** 2, axis=-1)  # (m, P, L)
        logk = -0.5 * sq
        if leave_out:
            np.einsum("mii->mi", logk)[...] = -np.inf
        peak = logk.max(-1, keepdims=True)
        return np.log(np.exp(logk - peak).sum(-1)) + peak[..., 0]

    return log_kde(z, True), log_kde(zt, False)[:, 0]


def hpd_levels(
    samples: Float[ArrayLike, "m l d"],
    theta: Float[ArrayLike, "m d"],
    *,
    log_prob_samples: Float[ArrayLike, "m l"] | None = None,
    log_prob_theta: Float[ArrayLike, " m"] | None = None,
) -> np.ndarray:
    """$f_i$: the credibility of the smallest HPD region holding each true parameter.

    Args:
        samples: ``(m, L, d)`` posterior samples for ``m`` test observations.
        theta: ``(m, d)`` true parameters of the test observations.
        log_prob_samples: ``(m, L)`` posterior log densities of the samples
            (default: a leave-one-out Gaussian KDE of the samples).
        log_prob_theta: ``(m,)`` posterior log densities of ``theta`` (given
            together with ``log_prob_samples``).

    Returns:
        ``(m,)`` values in ``[0, 1]``, uniform for the exact posterior.
    """
    samples, theta = _check_samples(samples, theta)
    if (log_prob_samples is None) != (log_prob_theta is None):
        raise ValueError("give both log_prob_samples and log_prob_theta, or neither (KDE)")
    if log_prob_samples is None:
        lp_s, lp_t = _kde_log_density(samples, theta)
    else:
        lp_s = np.asarray(log_prob_samples, dtype=np.float64)
        lp_t = np.asarray(log_prob_theta, dtype=np.float64)
        if lp_s.shape != samples.shape[:2] or lp_t.shape != theta.shape[:1]:
            raise ValueError(
                f"log_prob_samples must be {samples.shape[:2]} and log_prob_theta "
                f"{theta.shape[:1]}, got {lp_s.shape} and {lp_t.shape}"
            )
        if np.isnan(lp_s).any() or np.isnan(lp_t).any():
            raise ValueError("log_prob_samples and log_prob_theta must not be NaN")
    return np.mean(lp_s > lp_t[:, None], axis=1)


def hpd_coverage(
    samples: Float[ArrayLike, "m l d"],
    theta: Float[ArrayLike, "m d"],
    *,
    log_prob_samples: Float[ArrayLike, "m l"] | None = None,
    log_prob_theta: Float[ArrayLike, " m"] | None = None,
    num_levels: int = 51,
) -> tuple[np.ndarray, np.ndarray]:
    """HPD expected coverage curve ``(levels, ecp)``; calibrated: ``ecp`` close to ``levels``.

    Arguments as in :func:`hpd_levels`; ``num_levels`` credibility levels in ``[0, 1]``.

    Args:
        samples: ``(m, L, d)`` posterior samples for ``m`` test observations.
        theta: ``(m, d)`` true parameters of the test observations.
        log_prob_samples: ``(m, L)`` posterior log densities of the samples (default: a leave-one-
            out Gaussian KDE of the samples).
        log_prob_theta: ``(m,)`` posterior log densities of ``theta`` (given together with
            ``log_prob_samples``).
        num_levels: the number of credibility levels, evenly spaced in ``[0, 1]``.

    Example:
        ```python notest
        samples = est.sample_batch(key, x_test, 200)  # (m, 200, d)
        levels, ecp = sbi.diagnostics.hpd_coverage(samples, theta_test)  # KDE densities
        ```
    """
    f = hpd_levels(samples, theta, log_prob_samples=log_prob_samples, log_prob_theta=log_prob_theta)
    levels = np.linspace(0.0, 1.0, _check_levels(num_levels))
    return levels, np.mean(f[None, :] < levels[:, None], axis=1)


def expected_coverage(
    key: PRNGKeyArray,
    estimator,
    theta: Float[ArrayLike, "m d"],
    x: Float[ArrayLike, "m dx"],
    num_posterior_samples: int = 200,
    *,
    method: str = "hpd",
    num_levels: int = 51,
    mask: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected coverage of a fitted estimator on test pairs ``(theta, x)``.

    Args:
        key: PRNG key for the posterior samples.
        estimator: a fitted estimator with ``sample_batch(key, xs, n)``; for
            ``method="hpd"`` its ``log_prob(theta, x_obs)`` is used when it has
            one (:class:`hepjax.sbi.NPE`), otherwise a KDE of the samples.
        theta: ``(m, d)`` true parameters drawn from the prior (not used in training).
        x: ``(m, dx)`` their simulations (or ensembles ``(m, n, *event_shape)``).
        num_posterior_samples: $L$, samples per test observation.
        method: ``"hpd"`` (:func:`hpd_coverage`) or ``"tarp"`` (:func:`tarp`).
        num_levels: number of credibility levels.
        mask: ``(m, n)`` real events of ensembles ``x``, passed on to the
            estimator (``None``: none, or NaN padding).

    Returns:
        ``(levels, ecp)``.
    """
    from ._tarp import tarp

    if method not in ("hpd", "tarp"):
        raise ValueError(f"method must be 'hpd' or 'tarp', got {method!r}")
    theta = as_2d_float("theta", theta)
    x = np.asarray(x)
    if theta.shape[0] != x.shape[0]:
        raise ValueError(
            f"theta and x must have the same number of rows, got {theta.shape[0]} and {x.shape[0]}"
        )
    num = check_num_samples(num_posterior_samples, "num_posterior_samples")
    extra = () if mask is None else (np.asarray(mask),)
    samples = np.asarray(estimator.sample_batch(key, x, num, *extra))
    if samples.shape[-1] != theta.shape[1]:
        raise ValueError(
            f"theta has {theta.shape[1]} parameters but the estimator samples {samples.shape[-1]}"
        )
    if method == "tarp":
        return tarp(samples, theta, num_levels=_check_levels(num_levels))
    if not hasattr(estimator, "log_prob"):
        return hpd_coverage(samples, theta, num_levels=num_levels)
    lp_s, lp_t = [], []
    for i, (s, t, x_i) in enumerate(zip(samples, theta, x, strict=True)):
        extra_i = () if mask is None else (extra[0][i],)
        lp = np.asarray(estimator.log_prob(np.concatenate([s, t[None]]), x_i, *extra_i))
        lp_s.append(lp[:-1])
        lp_t.append(lp[-1])
    return hpd_coverage(
        samples,
        theta,
        log_prob_samples=np.stack(lp_s),
        log_prob_theta=np.asarray(lp_t),
        num_levels=num_levels,
    )


def coverage_band(
    num_tests: int, levels: Float[ArrayLike, " k"], confidence: float = 0.99
) -> tuple[np.ndarray, np.ndarray]:
    """Central ``confidence`` band of the ECP of a calibrated estimator at each level.

    With ``num_tests`` independent test pairs, $m\\,\\mathrm{ECP}(a) \\sim
    \\mathrm{Binomial}(m, a)$; returns ``(lower, upper)`` as fractions.

    Args:
        num_tests: the number $m$ of independent test pairs behind the ECP.
        levels: ``(k,)`` credibility levels $a$ in ``[0, 1]``.
        confidence: the probability content of the band (central, from the binomial quantiles).
    """
    from scipy import stats

    check_positive_int("num_tests", num_tests)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    levels = np.clip(np.asarray(levels, dtype=np.float64), 0.0, 1.0)
    lower, upper = stats.binom.interval(confidence, num_tests, levels)
    return lower / num_tests, upper / num_tests


def _check_levels(num_levels) -> int:
    if check_positive_int("num_levels", num_levels) < 2:
        raise ValueError(f"num_levels must be an int >= 2, got {num_levels!r}")
    return num_levels
