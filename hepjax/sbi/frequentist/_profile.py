r"""Profile likelihood ratios on a grid, from an exact or a learned likelihood.

With a log likelihood $\ell(\mu, \nu; x)$ known up to a function of $x$ alone
(the exact one, or a learned one: the log ratio $\log r(\theta, x) =
\log p(x \mid \theta) - \log p(x)$ of :class:`~hepjax.sbi.NRE`, the likelihood
flow of :class:`~hepjax.sbi.NLE`, or the posterior density of
:class:`~hepjax.sbi.NPE` under a flat prior), the profile likelihood ratio
test statistic on a grid of the parameter of interest is

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

from .._nle import NLE, _log_lik
from .._npe import NPE, _npe_log_prob
from .._nre import NRE


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

    - :class:`~hepjax.sbi.NRE`: the classifier's $\log r(\theta, x)$ (binary or
      balanced; the contrastive loss adds a function of $x$ only, which cancels).
    - :class:`~hepjax.sbi.NLE`: the likelihood flow's $\log q(x \mid \theta)$.
    - :class:`~hepjax.sbi.NPE`: $\log q(\theta \mid x)$, which equals the log
      likelihood up to a function of $x$ only under a flat prior (inside its support).

    Pure (no input checks): vectorise with ``jax.vmap`` and ``jit`` it.
    """
    if not isinstance(estimator, NRE | NLE | NPE):
        raise TypeError(
            f"estimator must be a fitted NRE, NLE or NPE, got {type(estimator).__name__}"
        )
    estimator._require_fitted("learned_log_likelihood")
    net, theta_std, x_std = estimator.net, estimator.theta_std, estimator.x_std
    if isinstance(estimator, NRE):

        def f(theta, x):
            context = net.context(x_std.forward(x))
            return net.logit_given_context(theta_std.forward(theta), context)

    elif isinstance(estimator, NLE):

        def f(theta, x):
            return _log_lik(net, theta_std, x_std, theta, x)

    else:

        def f(theta, x):
            return _npe_log_prob(net, theta_std, x_std, theta[None], x)[0]

    return f
