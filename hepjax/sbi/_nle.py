r"""Neural likelihood estimation (NLE) with posterior sampling by NUTS.

A conditional neural spline flow $q_\phi(x \mid \theta)$ is fitted to the
simulations by maximum likelihood (Papamakarios et al. 2019,
arXiv:1805.07226). For an observation, the unnormalised posterior
$q_\phi(x_{obs} \mid \theta)\,p(\theta)$ is sampled with numpyro's NUTS
(Hoffman & Gelman 2014) in z-scored parameter space, several chains
vectorised. The prior density comes from ``prior=`` (a task, or anything
with ``log_prior(theta)`` and ``sample_prior(key, n)``); without one, a
Gaussian KDE of the training parameters stands in for it.
"""

import dataclasses
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_positive_int
from ..data import Standardizer
from ..generative import ConditionalSplineFlow
from ._base import AbstractPosteriorEstimator, KDEPrior, check_prior, train_estimator
from ._data import check_num_samples, check_training_data


def _nle_loss(net, batch, *, key=None):
    del key
    return -jnp.mean(jax.vmap(net.log_prob)(batch["x"], batch["theta"]))


class NLE(AbstractPosteriorEstimator):
    """Neural likelihood estimation; posterior samples by NUTS on the learned likelihood.

    Args:
        prior: the prior (a task, or an object with ``log_prior(theta)`` and
            ``sample_prior(key, n)``); ``None`` uses a KDE of the training parameters.
        num_chains: NUTS chains (vectorised).
        num_warmup: NUTS warm-up steps per chain.
        num_transforms: coupling layers of the likelihood flow.
        hidden_size: width of the conditioner MLPs (64, like every spline-flow
            conditioner in :mod:`hepjax.sbi`; see :class:`~hepjax.sbi.NPE`).
        num_layers: hidden layers per conditioner.
        num_bins: spline bins.
        training: the :class:`~hepjax.sbi.TrainingOptions` (keyword-only).

    NLE models vector data ``x (n, dx)`` (no embedding, no ensembles).
    """

    prior: Any = None
    num_chains: int = 4
    num_warmup: int = 500
    num_transforms: int = 5
    hidden_size: int = 64
    num_layers: int = 2
    num_bins: int = 8

    def __check_init__(self):
        for name in (
            "num_chains",
            "num_warmup",
            "num_transforms",
            "hidden_size",
            "num_layers",
            "num_bins",
        ):
            check_positive_int(name, getattr(self, name))
        check_prior(self.prior, ("log_prior", "sample_prior"), "NLE")

    def fit(
        self, key: PRNGKeyArray, theta: ArrayLike, x: ArrayLike, mask: ArrayLike | None = None
    ) -> "NLE":
        """Train the likelihood flow on ``theta (n, d)`` and ``x (n, dx)``.

        Args:
            key: PRNG key for the split, initialisation and batches.
            theta: ``(n, d)`` parameters drawn from the prior.
            x: ``(n, dx)`` simulations at ``theta`` (vectors: NLE takes no ensembles).
            mask: must be ``None`` (accepted for the common signature).

        Raises:
            ValueError: ensembles ``x`` or a ``mask`` (NLE models vectors), and
                the errors of :meth:`NPE.fit <hepjax.sbi.NPE.fit>`.
        """
        started = time.perf_counter()
        if mask is not None or getattr(x, "ndim", 2) >= 3:
            raise ValueError(
                "NLE models vector data x (n, dx); for ensembles use NPE, FMPE or NRE with a "
                "set embedding"
            )
        theta, x, _ = check_training_data(theta, x, None, self.training.nan_policy)
        theta_std, x_std = Standardizer.fit(theta), Standardizer.fit(x)
        data = {"theta": np.asarray(theta_std.forward(theta)), "x": np.asarray(x_std.forward(x))}
        k_init, k_train = jax.random.split(key)
        net = eqx.filter_jit(ConditionalSplineFlow)(
            x.shape[1],
            theta.shape[1],
            num_transforms=self.num_transforms,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_bins=self.num_bins,
            key=k_init,
        )
        net, history = train_estimator(k_train, net, _nle_loss, data, self.training, started)
        prior = self.prior if self.prior is not None else KDEPrior.fit(theta)
        return dataclasses.replace(
            self, net=net, theta_std=theta_std, x_std=x_std, history=history, prior=prior
        )

    def log_likelihood(self, theta: ArrayLike, x_obs: ArrayLike) -> Float[Array, "*n"]:
        """$\\log q(x_{obs} \\mid \\theta)$ for ``theta (n, d)`` (or one ``(d,)``)."""
        return self._at_observation("log_likelihood", _log_lik_batch, theta, x_obs, None)

    def relative_log_likelihood(
        self,
        theta: Float[ArrayLike, " d"],
        x: Float[ArrayLike, "..."],
        mask: ArrayLike | None = None,
    ) -> Float[Array, ""]:
        r"""$\log q(x \mid \theta)$ for one ``theta`` and one ``x`` (pure; ``c(x) = 0``).

        Args:
            theta: ``(d,)`` one parameter point.
            x: ``(dx,)`` one observation.
            mask: must be ``None`` (NLE models vectors).
        """
        self._require_fitted("relative_log_likelihood")
        if mask is not None:
            raise ValueError("mask is for ensembles; NLE models vector data x")
        theta = jnp.asarray(theta, jnp.float32)
        return _log_lik(self.net, self.theta_std, self.x_std, theta, jnp.asarray(x, jnp.float32))

    def sample(
        self, key: PRNGKeyArray, x_obs: ArrayLike, n: int, mask: ArrayLike | None = None
    ) -> Float[Array, "n d"]:
        """``n`` posterior samples by NUTS (``num_chains`` chains after ``num_warmup`` steps).

        Each chain starts at the best of 100 prior draws.

        Args:
            key: PRNG key of the chains.
            x_obs: ``(dx,)`` one observation.
            n: the number of samples, taken evenly from the chains.
            mask: must be ``None`` (NLE models vectors).
        """
        from numpyro.infer import MCMC, NUTS

        self._require_fitted("sample")
        x_obs, _ = self._observation(x_obs, mask)
        n = check_num_samples(n)
        net, theta_std, x_std, prior = self.net, self.theta_std, self.x_std, self.prior

        def potential(z):
            theta = theta_std.inverse(z)
            return -(_log_lik(net, theta_std, x_std, theta, x_obs) + prior.log_prior(theta))

        k_init, k_mcmc, k_perm = jax.random.split(key, 3)
        starts = prior.sample_prior(k_init, 100 * self.num_chains)
        energy = jax.vmap(lambda t: potential(theta_std.forward(t)))(starts)
        best = jnp.argsort(jnp.where(jnp.isfinite(energy), energy, jnp.inf))[: self.num_chains]
        mcmc = MCMC(
            NUTS(potential_fn=potential),
            num_warmup=self.num_warmup,
            num_samples=-(-n // self.num_chains),
            num_chains=self.num_chains,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(k_mcmc, init_params=theta_std.forward(starts[best]))
        z = mcmc.get_samples()
        return jax.random.permutation(k_perm, theta_std.inverse(z))[:n]

    def sample_batch(
        self, key: PRNGKeyArray, xs: ArrayLike, n: int, mask: ArrayLike | None = None
    ) -> Float[Array, "b n d"]:
        """``n`` posterior samples for each row of ``xs (b, dx)`` (one MCMC run each).

        Args:
            key: PRNG key of the chains.
            xs: ``(b, dx)`` observations.
            n: the number of samples per observation.
            mask: must be ``None`` (NLE models vectors).
        """
        self._require_fitted("sample_batch")
        xs, _ = self._observations(xs, mask)
        keys = jax.random.split(key, xs.shape[0])
        return jnp.stack([self.sample(k, x, n) for k, x in zip(keys, xs, strict=True)])


def _log_lik(net, theta_std, x_std, theta, x_obs):
    # density of x in original units: the z-scoring of x is a constant Jacobian
    x_z, theta_z = x_std.forward(x_obs), theta_std.forward(theta)
    return net.log_prob(x_z, theta_z) + x_std.log_det()


@eqx.filter_jit
def _log_lik_batch(net, theta_std, x_std, theta, x_obs, mask=None):
    # ``mask`` is always None: NLE models vector data, not ensembles
    return jax.vmap(lambda t: _log_lik(net, theta_std, x_std, t, x_obs))(theta)
