r"""Profile likelihood ratios on a grid, from an exact or a learned likelihood.

With a log likelihood $\ell(\mu, \nu; x)$ known up to a function of $x$ alone
(the exact one, or a learned one: any estimator's ``relative_log_likelihood``,
e.g. the log ratio $\log r(\theta, x) = \log p(x \mid \theta) - \log p(x)$ of
:class:`~hepjax.sbi.NRE`, the likelihood flow of :class:`~hepjax.sbi.NLE`, or
the posterior density over the prior of :class:`~hepjax.sbi.NPE` and
:class:`~hepjax.sbi.FMPE`), the profile likelihood ratio test statistic on a
grid of the parameter of interest is

.. math::
    t_{\mu_j}(x) = -2\big[\max_\nu \ell(\mu_j, \nu; x) - \max_{\mu, \nu} \ell(\mu, \nu; x)\big],

with the maxima taken over the grids (refined by a parabola through the best
grid point and its neighbours, for uniform grids). A learned $\ell$ gives the
learned test statistic of Heinrich et al. 2023 (arXiv:2306.12584), whose
Neyman construction (:func:`~hepjax.sbi.frequentist.neyman_construction`) has
the nominal coverage however well it was learned: learning only affects the
power (the interval widths).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from .._data import NotFittedError


def _refine_max(values, uniform: bool):
    """Maximum and argmax offset (in grid steps) of a 1-d array, parabola-refined."""
    i = jnp.argmax(values)
    best = values[i]
    if not uniform or values.shape[0] < 3:
        return best, i.astype(values.dtype) * 0.0, i
    inner = (i > 0) & (i < values.shape[0] - 1)
    j = jnp.clip(i, 1, values.shape[0] - 2)
    fm, f0, fp = values[j - 1], values[j], values[j + 1]
    curv = fm - 2.0 * f0 + fp
    ok = inner & (curv < 0)
    delta = jnp.where(ok, 0.5 * (fm - fp) / jnp.where(ok, curv, -1.0), 0.0)
    refined = jnp.where(ok, f0 - 0.25 * (fm - fp) * delta, best)
    return refined, delta, i


def _is_uniform(grid: np.ndarray) -> bool:
    if grid.shape[0] < 3:
        return False
    step = np.diff(grid)
    return bool(np.allclose(step, step[0], rtol=1e-4))


def profile_likelihood_ratio(
    log_likelihood: Callable,
    poi: ArrayLike,
    nuisance: ArrayLike | None = None,
) -> Callable:
    r"""A test statistic ``statistic(x) -> (t, nuisance_hat)`` profiled on grids.

    Args:
        log_likelihood: ``log_likelihood(theta, x) -> scalar`` with
            ``theta = (mu,)`` or ``(mu, nu)``, up to any function of ``x``
            alone (see :func:`learned_log_likelihood`).
        poi: grid of the parameter of interest ``(m,)``.
        nuisance: grid of one nuisance parameter ``(k,)``, or ``None``.

    Returns:
        ``statistic(x)``: $t_{\mu_j}(x) \ge 0$ and $\hat{\hat\nu}(\mu_j)$ on the
        ``poi`` grid, both ``(m,)`` (``nuisance_hat`` is zeros without a
        nuisance). Pure; vectorise with ``jax.vmap``.
    """
    poi = np.asarray(poi, np.float32)
    if poi.ndim != 1 or poi.shape[0] < 2:
        raise ValueError(f"poi must be a 1-d grid of at least 2 points, got shape {poi.shape}")
    nu = None if nuisance is None else np.asarray(nuisance, np.float32)
    if nu is not None and (nu.ndim != 1 or nu.shape[0] < 1):
        raise ValueError(f"nuisance must be a non-empty 1-d grid, got shape {nu.shape}")
    poi_j = jnp.asarray(poi)
    uniform_poi = _is_uniform(poi)
    if nu is None:
        thetas = poi_j[:, None]
    else:
        mu_g, nu_g = np.meshgrid(poi, nu, indexing="ij")
        thetas = jnp.asarray(np.stack([mu_g, nu_g], -1))  # (m, k, 2)
        nu_j = jnp.asarray(nu)
        uniform_nu = _is_uniform(nu)
        step_nu = float(nu[1] - nu[0]) if nu.shape[0] > 1 else 0.0

    def statistic(x):
        if nu is None:
            prof = jax.vmap(lambda th: log_likelihood(th, x))(thetas)
            nu_hat = jnp.zeros_like(prof)
        else:
            ll = jax.vmap(jax.vmap(lambda th: log_likelihood(th, x)))(thetas)  # (m, k)
            prof, delta, i = jax.vmap(lambda row: _refine_max(row, uniform_nu))(ll)
            nu_hat = nu_j[i] + delta * step_nu
        best, _, _ = _refine_max(prof, uniform_poi)
        best = jnp.maximum(best, jnp.max(prof))
        return jnp.maximum(-2.0 * (prof - best), 0.0), nu_hat

    return statistic


def learned_log_likelihood(estimator) -> Callable:
    r"""A fitted estimator's log likelihood up to a function of ``x``: ``f(theta, x) -> scalar``.

    Any estimator with the protocol method ``relative_log_likelihood(theta, x)``
    serves (every estimator of :mod:`hepjax.sbi` has one):

    - :class:`~hepjax.sbi.NRE`: the classifier's $\log r(\theta, x)$ (binary or
      balanced; the contrastive loss adds a function of $x$ only, which cancels).
    - :class:`~hepjax.sbi.NLE`: the likelihood flow's $\log q(x \mid \theta)$.
    - :class:`~hepjax.sbi.NPE`, :class:`~hepjax.sbi.FMPE`:
      $\log q(\theta \mid x) - \log p(\theta)$ with the estimator's ``prior``
      (a flat prior without one).

    Returns:
        A pure function of one ``theta (d,)`` and one observation ``x``: vectorise
        it with ``jax.vmap`` and ``jit`` it.

    Raises:
        TypeError: the estimator has no ``relative_log_likelihood`` method.
        hepjax.sbi.NotFittedError: the estimator is not fitted.
    """
    method = getattr(estimator, "relative_log_likelihood", None)
    if not callable(method):
        raise TypeError(
            "learned_log_likelihood needs an estimator with a relative_log_likelihood(theta, "
            f"x) method (a fitted NRE, NLE, NPE, FMPE, ...); {type(estimator).__name__} has none"
        )
    if not getattr(estimator, "is_fitted", True):
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted: call est = est.fit(key, theta, x) "
            "before learned_log_likelihood"
        )

    def log_likelihood(theta, x):
        return method(theta, x)

    return log_likelihood
