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
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..generative import ConditionalSplineFlow
from ._data import check_num_samples, check_observation
from ._npe import AbstractPosteriorEstimator, _prepare
from ._nre import KDEPrior
from ._training import check_training_options


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
        hidden_features: width of the conditioner MLPs.
        num_bins: spline bins.
        batch_size: training batch size.
        learning_rate: Adam learning rate.
        max_steps: upper limit on optimizer steps.
        validation_fraction: fraction held out for early stopping.
        patience: epochs without a better validation loss before stopping.
        clip_norm: gradient clipping (global norm), or ``None``.
        nan_policy: ``"drop"`` (with a warning) or ``"raise"`` on NaN/inf rows.
        progress: show a progress bar (default: when stderr is a terminal).
    """

    prior: Any = None
    num_chains: int = 4
    num_warmup: int = 500
    num_transforms: int = 5
    hidden_features: int = 64
    num_bins: int = 8
    batch_size: int = 200
    learning_rate: float = 1e-3
    max_steps: int = 20_000
    validation_fraction: float = 0.1
    patience: int = 20
    clip_norm: float | None = 5.0
    nan_policy: str = "drop"
    progress: bool | None = eqx.field(default=None, static=True)
    net: Any = None
    theta_std: Any = None
    x_std: Any = None
    history: Any = None

    def __check_init__(self):
        for name in ("num_chains", "num_warmup", "num_transforms", "hidden_features", "num_bins"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.prior is not None and not (
            hasattr(self.prior, "log_prior") and hasattr(self.prior, "sample_prior")
        ):
            raise TypeError(
                "prior must be a task or an object with log_prior(theta) and "
                f"sample_prior(key, n), got {type(self.prior).__name__}"
            )
        if self.nan_policy not in ("drop", "raise"):
            raise ValueError(f"nan_policy must be 'drop' or 'raise', got {self.nan_policy!r}")
        check_training_options(
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            max_steps=self.max_steps,
            validation_fraction=self.validation_fraction,
            patience=self.patience,
        )

    def fit(self, key: PRNGKeyArray, theta: ArrayLike, x: ArrayLike) -> "NLE":
        """Train the likelihood flow on ``theta (n, d)`` and ``x (n, dx)``."""
        started = time.perf_counter()
        theta, x, theta_std, x_std, data, _ = _prepare(key, theta, x, self.nan_policy, None)
        k_init, k_train = jax.random.split(key)
        net = eqx.filter_jit(ConditionalSplineFlow)(
            x.shape[1],
            theta.shape[1],
            num_layers=self.num_transforms,
            hidden_size=self.hidden_features,
            num_bins=self.num_bins,
            key=k_init,
        )
        net, history = self._train(k_train, net, _nle_loss, data, started)
        prior = self.prior if self.prior is not None else KDEPrior.fit(theta)
        return dataclasses.replace(
            self, net=net, theta_std=theta_std, x_std=x_std, history=history, prior=prior
        )

    def log_likelihood(self, theta: ArrayLike, x_obs: ArrayLike) -> Float[Array, "*n"]:
        """$\\log q(x_{obs} \\mid \\theta)$ for ``theta (n, d)`` (or one ``(d,)``)."""
        self._require_fitted("log_likelihood")
        x_obs = check_observation(x_obs, self.x_std, "NLE")
        theta = jnp.asarray(theta, jnp.float32)
        single = theta.ndim == 1
        out = jax.vmap(lambda t: _log_lik(self.net, self.theta_std, self.x_std, t, x_obs))(
            jnp.atleast_2d(theta)
        )
        return out[0] if single else out

    def sample(self, key: PRNGKeyArray, x_obs: ArrayLike, n: int) -> Float[Array, "n d"]:
        """``n`` posterior samples by NUTS (``num_chains`` chains after ``num_warmup`` steps)."""
        from numpyro.infer import MCMC, NUTS

        self._require_fitted("sample")
        x_obs = check_observation(x_obs, self.x_std, "NLE")
        n = check_num_samples(n)
        net, theta_std, x_std, prior = self.net, self.theta_std, self.x_std, self.prior

        def potential(z):
            theta = theta_std.inverse(z)
            return -(_log_lik(net, theta_std, x_std, theta, x_obs) + prior.log_prior(theta))

        k_init, k_mcmc, k_perm = jax.random.split(key, 3)
        # start each chain at the best of 100 prior draws
        starts = prior.sample_prior(k_init, 100 * self.num_chains)
        energy = jax.vmap(lambda t: potential(theta_std.forward(t)))(starts)
        best = jnp.argsort(jnp.where(jnp.isfinite(energy), energy, jnp.inf))[: self.num_chains]
        init = theta_std.forward(starts[best])
        per_chain = -(-n // self.num_chains)
        mcmc = MCMC(
            NUTS(potential_fn=potential),
            num_warmup=self.num_warmup,
            num_samples=per_chain,
            num_chains=self.num_chains,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(k_mcmc, init_params=init)
        z = mcmc.get_samples()
        return jax.random.permutation(k_perm, theta_std.inverse(z))[:n]

    def sample_batch(self, key: PRNGKeyArray, xs: ArrayLike, n: int) -> Float[Array, "m n d"]:
        """``n`` posterior samples for each row of ``xs (m, dx)`` (one MCMC run each)."""
        from ._data import check_observations

        self._require_fitted("sample_batch")
        xs = check_observations(xs, self.x_std, "NLE")
        keys = jax.random.split(key, xs.shape[0])
        return jnp.stack([self.sample(k, x, n) for k, x in zip(keys, xs, strict=True)])


def _log_lik(net, theta_std, x_std, theta, x_obs):
    # density of x in original units: the z-scoring of x is a constant Jacobian
    return net.log_prob(x_std.forward(x_obs), theta_std.forward(theta)) + x_std.log_det()
