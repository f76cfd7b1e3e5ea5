r"""Neural ratio estimation (NRE): binary, balanced and contrastive.

A classifier $d_\phi(\theta, x)$ learns the ratio
$r(\theta, x) = p(\theta \mid x) / p(\theta) = p(x \mid \theta) / p(x)$:

- ``"binary"`` (NRE-A, Hermans et al. 2020, arXiv:1903.04057): logistic
  regression of joint pairs $(\theta_i, x_i)$ against marginal pairs
  $(\theta_{\pi(i)}, x_i)$; at the optimum $d = \log r$.
- ``"balanced"`` (BNRE, Delaunoy et al. 2022, arXiv:2208.13624): the binary loss
  plus $\lambda\,(\mathbb E_{\text{joint}}\sigma(d) + \mathbb E_{\text{marg}}\sigma(d) - 1)^2$,
  which favours conservative (wider) posteriors.
- ``"contrastive"`` (NRE-B, Durkan et al. 2020, arXiv:2002.03712): each $x_i$ is
  scored against its own $\theta_i$ and $K - 1$ other parameters of the batch,
  with cross-entropy on which one is true; $d = \log r + c(x)$.

Posterior samples come from sampling-importance-resampling (SIR): ``M``
proposals from the prior are weighted by $e^{d}$ and ``n`` of them resampled.
The prior is ``prior=`` (a task or anything with ``sample_prior(key, n)``);
without one, a Gaussian kernel density estimate of the training parameters
stands in for it (proposals from the KDE, weights $e^{d}$, which assumes the
KDE is close to the prior).
"""

import dataclasses
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..data import Standardizer
from ._context import embed
from ._data import check_num_samples, check_observation
from ._npe import AbstractPosteriorEstimator, _prepare
from ._training import check_training_options

LOSSES = ("binary", "balanced", "contrastive")


class RatioClassifier(eqx.Module):
    """An MLP ``d(theta, x)`` on z-scored parameters and (embedded) data."""

    mlp: eqx.nn.MLP
    embedding: eqx.Module

    def __init__(self, dim, context_dim, *, embedding, hidden_features, depth, key):
        self.embedding = eqx.nn.Identity() if embedding is None else embedding
        self.mlp = eqx.nn.MLP(
            dim + context_dim, "scalar", hidden_features, depth, activation=jax.nn.silu, key=key
        )

    def context(self, x):
        return embed(self.embedding, x)

    def logit_given_context(self, theta, context):
        return self.mlp(jnp.concatenate([theta, context]))


class KDEPrior(eqx.Module):
    """A Gaussian KDE of parameter samples (Scott's bandwidth), used when no prior is given."""

    points: Float[Array, "n d"]
    bandwidth: Float[Array, " d"]

    @classmethod
    def fit(cls, theta: np.ndarray) -> "KDEPrior":
        n, d = theta.shape
        factor = n ** (-1.0 / (d + 4))
        bw = np.maximum(theta.std(0), 1e-8) * factor
        return cls(jnp.asarray(theta, jnp.float32), jnp.asarray(bw, jnp.float32))

    def sample_prior(self, key, n):
        k_i, k_e = jax.random.split(key)
        idx = jax.random.randint(k_i, (n,), 0, self.points.shape[0])
        return self.points[idx] + self.bandwidth * jax.random.normal(k_e, (n, self.points.shape[1]))

    def log_prior(self, theta):
        z = (theta - self.points) / self.bandwidth
        logk = jax.scipy.stats.norm.logpdf(z).sum(-1) - jnp.sum(jnp.log(self.bandwidth))
        return jax.scipy.special.logsumexp(logk) - jnp.log(self.points.shape[0])


def _nre_loss(loss: str, num_classes: int, gamma: float):
    def loss_fn(net, batch, *, key):
        theta, x = batch["theta"], batch["x"]
        b = theta.shape[0]
        context = jax.vmap(net.context)(x)
        joint = jax.vmap(net.logit_given_context)(theta, context)
        if loss == "contrastive":
            k = min(num_classes, b)
            # row i: its own theta first, then k - 1 others of the batch
            shifts = jax.random.choice(key, jnp.arange(1, b), (k - 1,), replace=False)
            idx = (jnp.arange(b)[:, None] + jnp.concatenate([jnp.zeros(1, int), shifts])) % b
            logits = jax.vmap(
                lambda th, c: jax.vmap(net.logit_given_context, in_axes=(0, None))(th, c)
            )(theta[idx], context)
            return jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[:, 0])
        perm = jax.random.permutation(key, b)
        marginal = jax.vmap(net.logit_given_context)(theta[perm], context)
        value = jnp.mean(jax.nn.softplus(-joint)) + jnp.mean(jax.nn.softplus(marginal))
        if loss == "balanced":
            balance = jnp.mean(jax.nn.sigmoid(joint)) + jnp.mean(jax.nn.sigmoid(marginal)) - 1.0
            value = value + gamma * balance**2
        return value

    return loss_fn


class NRE(AbstractPosteriorEstimator):
    """Neural ratio estimation with posterior sampling by sampling-importance-resampling.

    Args:
        loss: ``"binary"`` (NRE-A), ``"balanced"`` (BNRE) or ``"contrastive"`` (NRE-B).
        num_classes: contrastive classes ``K`` (one true, ``K - 1`` marginal).
        balance_weight: $\\lambda$ of the balanced loss.
        prior: the prior for sampling: a task, or any object with
            ``sample_prior(key, n)``; ``None`` uses a KDE of the training parameters.
        num_proposals: SIR proposals per posterior sample.
        hidden_features: width of the classifier MLP.
        depth: hidden layers of the MLP.
        embedding: optional Equinox module mapping one z-scored ``x`` to features.
        batch_size: training batch size.
        learning_rate: Adam learning rate.
        max_steps: upper limit on optimizer steps.
        validation_fraction: fraction held out for early stopping.
        patience: epochs without a better validation loss before stopping.
        clip_norm: gradient clipping (global norm), or ``None``.
        nan_policy: ``"drop"`` (with a warning) or ``"raise"`` on NaN/inf rows.
        progress: show a progress bar (default: when stderr is a terminal).
    """

    loss: str = "binary"
    num_classes: int = 10
    balance_weight: float = 100.0
    prior: Any = None
    num_proposals: int = 50
    hidden_features: int = 128
    depth: int = 3
    embedding: Any = None
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
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("num_classes", "hidden_features", "depth", "num_proposals"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.loss == "contrastive" and self.num_classes < 2:
            raise ValueError(f"contrastive NRE needs num_classes >= 2, got {self.num_classes}")
        if self.prior is not None and not hasattr(self.prior, "sample_prior"):
            raise TypeError(
                "prior must be a task or an object with sample_prior(key, n), got "
                f"{type(self.prior).__name__}"
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

    def fit(self, key: PRNGKeyArray, theta: ArrayLike, x: ArrayLike) -> "NRE":
        """Train the classifier on ``theta (n, d)`` and ``x (n, dx)``."""
        started = time.perf_counter()
        theta, x, theta_std, x_std, data, context_dim = _prepare(
            key, theta, x, self.nan_policy, self.embedding
        )
        k_init, k_train = jax.random.split(key)
        net = eqx.filter_jit(RatioClassifier)(
            theta.shape[1],
            context_dim,
            embedding=self.embedding,
            hidden_features=self.hidden_features,
            depth=self.depth,
            key=k_init,
        )
        loss_fn = _nre_loss(self.loss, self.num_classes, self.balance_weight)
        net, history = self._train(k_train, net, loss_fn, data, started)
        prior = self.prior if self.prior is not None else KDEPrior.fit(theta)
        return dataclasses.replace(
            self, net=net, theta_std=theta_std, x_std=x_std, history=history, prior=prior
        )

    def log_ratio(self, theta: ArrayLike, x_obs: ArrayLike) -> Float[Array, "*n"]:
        """The classifier output $d(\\theta, x_{obs}) \\approx \\log r$ for ``theta (n, d)``."""
        self._require_fitted("log_ratio")
        x_obs = check_observation(x_obs, self.x_std, "NRE")
        theta = jnp.asarray(theta, jnp.float32)
        single = theta.ndim == 1
        out = _log_ratio(self.net, self.theta_std, self.x_std, jnp.atleast_2d(theta), x_obs)
        return out[0] if single else out

    def sample(self, key: PRNGKeyArray, x_obs: ArrayLike, n: int) -> Float[Array, "n d"]:
        """``n`` posterior samples by SIR with ``num_proposals * n`` prior proposals."""
        self._require_fitted("sample")
        x_obs = check_observation(x_obs, self.x_std, "NRE")
        n = check_num_samples(n)
        return _sir(
            self.net, self.theta_std, self.x_std, self.prior, key, x_obs, n, self.num_proposals
        )

    def sample_batch(self, key: PRNGKeyArray, xs: ArrayLike, n: int) -> Float[Array, "m n d"]:
        """``n`` posterior samples for each row of ``xs (m, dx)``."""
        self._require_fitted("sample_batch")
        from ._data import check_observations

        xs = check_observations(xs, self.x_std, "NRE")
        n = check_num_samples(n)
        keys = jax.random.split(key, xs.shape[0])
        return jnp.stack(
            [
                _sir(self.net, self.theta_std, self.x_std, self.prior, k, x, n, self.num_proposals)
                for k, x in zip(keys, xs, strict=True)
            ]
        )


@eqx.filter_jit
def _log_ratio(net, theta_std: Standardizer, x_std: Standardizer, theta, x_obs):
    context = net.context(x_std.forward(x_obs))
    return jax.vmap(net.logit_given_context, in_axes=(0, None))(theta_std.forward(theta), context)


@eqx.filter_jit
def _sir(net, theta_std, x_std, prior, key, x_obs, n, num_proposals):
    k_prop, k_pick = jax.random.split(key)
    proposals = prior.sample_prior(k_prop, n * num_proposals)
    logw = _log_ratio(net, theta_std, x_std, proposals, x_obs)
    if hasattr(prior, "log_prior"):  # proposals outside the support get no weight
        inside = jnp.isfinite(jax.vmap(prior.log_prior)(proposals))
        logw = jnp.where(inside, logw, -jnp.inf)
    # inverse-CDF resampling: O(M + n log M) memory, unlike categorical's (n, M) noise
    idx = jax.random.choice(k_pick, logw.shape[0], (n,), p=jax.nn.softmax(logw))
    return proposals[idx]
