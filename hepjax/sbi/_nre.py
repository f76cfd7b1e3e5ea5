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
KDE is close to the prior). The classifier output is a learned log likelihood
up to a function of $x$ (``relative_log_likelihood``), a test statistic for
:mod:`hepjax.sbi.frequentist`.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_choice, check_positive_int
from ._base import (
    AbstractPosteriorEstimator,
    ConditionedNet,
    KDEPrior,
    batch_contexts,
    check_prior,
    observation_context,
)
from ._data import check_num_samples, traced_observation

LOSSES = ("binary", "balanced", "contrastive")


class RatioClassifier(eqx.Module):
    """An MLP ``d(theta, c)`` on z-scored parameters and the context ``c`` of the data."""

    mlp: eqx.nn.MLP

    def __init__(self, dim, context_dim, *, hidden_size, num_layers, key):
        self.mlp = eqx.nn.MLP(
            dim + context_dim, "scalar", hidden_size, num_layers, activation=jax.nn.silu, key=key
        )

    def __call__(self, theta, context):
        return self.mlp(jnp.concatenate([theta, context]))


def _nre_loss(loss: str, num_classes: int, gamma: float):
    def loss_fn(net, batch, *, key):
        theta = batch["theta"]
        b = theta.shape[0]
        context = batch_contexts(net, batch)
        logit = net.body
        joint = jax.vmap(logit)(theta, context)
        if loss == "contrastive":
            k = min(num_classes, b)
            # row i: its own theta first, then k - 1 others of the batch
            shifts = jax.random.choice(key, jnp.arange(1, b), (k - 1,), replace=False)
            idx = (jnp.arange(b)[:, None] + jnp.concatenate([jnp.zeros(1, int), shifts])) % b
            logits = jax.vmap(lambda th, c: jax.vmap(logit, in_axes=(0, None))(th, c))(
                theta[idx], context
            )
            return jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[:, 0])
        perm = jax.random.permutation(key, b)
        marginal = jax.vmap(logit)(theta[perm], context)
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
        hidden_size: width of the classifier MLP (128, like FMPE's single MLP).
        num_layers: hidden layers of the MLP.
        embedding: optional Equinox module mapping one z-scored ``x`` to
            features (a set embedding ``embedding(x, mask)`` for ensembles).
        training: the :class:`~hepjax.sbi.TrainingOptions` (keyword-only).
    """

    loss: str = "binary"
    num_classes: int = 10
    balance_weight: float = 100.0
    prior: Any = None
    num_proposals: int = 50
    hidden_size: int = 128
    num_layers: int = 3
    embedding: Any = None

    def __check_init__(self):
        check_choice("loss", self.loss, LOSSES)
        for name in ("num_classes", "hidden_size", "num_layers", "num_proposals"):
            check_positive_int(name, getattr(self, name))
        if self.loss == "contrastive" and self.num_classes < 2:
            raise ValueError(f"contrastive NRE needs num_classes >= 2, got {self.num_classes}")
        check_prior(self.prior, ("sample_prior",), "NRE")

    def fit(
        self, key: PRNGKeyArray, theta: ArrayLike, x: ArrayLike, mask: ArrayLike | None = None
    ) -> "NRE":
        """Train the classifier on ``theta (n, d)`` and ``x (n, dx)`` (or ensembles, ``mask``).

        Args:
            key: PRNG key for the split, initialisation, batches and the contrasting pairs.
            theta: ``(n, d)`` parameters drawn from the prior.
            x: ``(n, dx)`` simulations at ``theta``, or ensembles ``(n, m, *event_shape)``.
            mask: ``(n, m)`` true on the real events of ensembles.
        """
        build = lambda dim, context_dim, k: _make_classifier(
            dim,
            context_dim,
            self.embedding,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            key=k,
        )
        loss_fn = _nre_loss(self.loss, self.num_classes, self.balance_weight)
        # without a prior, a KDE of the training parameters stands in for it
        prior = self.prior
        fitted = lambda theta: {"prior": prior if prior is not None else KDEPrior.fit(theta)}
        return self._fit_conditioned(key, theta, x, mask, build, loss_fn, fitted)

    def log_ratio(
        self, theta: ArrayLike, x_obs: ArrayLike, mask: ArrayLike | None = None
    ) -> Float[Array, "*n"]:
        """The classifier output $d(\\theta, x_{obs}) \\approx \\log r$ for ``theta (n, d)``.

        Args:
            theta: ``(d,)`` or ``(n, d)`` parameter points.
            x_obs: one observation (or an ensemble).
            mask: ``(m,)`` true on the real events of an ensemble ``x_obs``.
        """
        return self._at_observation("log_ratio", _log_ratio, theta, x_obs, mask)

    def relative_log_likelihood(
        self,
        theta: Float[ArrayLike, " d"],
        x: Float[ArrayLike, "..."],
        mask: ArrayLike | None = None,
    ) -> Float[Array, ""]:
        r"""$d(\theta, x) \approx \log p(x \mid \theta) - \log p(x)$ for one ``theta`` (pure).

        Binary and balanced NRE learn $\log r$ itself; the contrastive loss
        learns it up to a function of $x$, which cancels in likelihood ratios too.

        Args:
            theta: ``(d,)`` one parameter point.
            x: one observation (or an ensemble).
            mask: ``(m,)`` true on the real events of an ensemble ``x``.
        """
        self._require_fitted("relative_log_likelihood")
        x, mask = traced_observation(x, mask, self.x_std)
        context = observation_context(self.net, self.x_std, x, mask)
        return self.net.body(self.theta_std.forward(jnp.asarray(theta, jnp.float32)), context)

    def sample(
        self, key: PRNGKeyArray, x_obs: ArrayLike, n: int, mask: ArrayLike | None = None
    ) -> Float[Array, "n d"]:
        """``n`` posterior samples by SIR with ``num_proposals * n`` prior proposals.

        Args:
            key: PRNG key of the proposals and the resampling.
            x_obs: one observation (or an ensemble).
            n: the number of samples.
            mask: ``(m,)`` true on the real events of an ensemble ``x_obs``.
        """
        self._require_fitted("sample")
        x_obs, mask = self._observation(x_obs, mask)
        n = check_num_samples(n)
        return _sir(
            self.net,
            self.theta_std,
            self.x_std,
            self.prior,
            key,
            x_obs,
            mask,
            n,
            self.num_proposals,
        )

    def sample_batch(
        self, key: PRNGKeyArray, xs: ArrayLike, n: int, mask: ArrayLike | None = None
    ) -> Float[Array, "b n d"]:
        """``n`` posterior samples for each row of ``xs (b, dx)`` (or ensembles with ``mask``).

        Args:
            key: PRNG key of the proposals and the resampling.
            xs: ``(b, dx)`` observations, or ensembles ``(b, m, *event_shape)``.
            n: the number of samples per observation.
            mask: ``(b, m)`` true on the real events of ensembles.
        """
        self._require_fitted("sample_batch")
        xs, mask = self._observations(xs, mask)
        n = check_num_samples(n)
        keys = jax.random.split(key, xs.shape[0])
        masks = [None] * xs.shape[0] if mask is None else mask
        return jnp.stack(
            [
                _sir(
                    self.net, self.theta_std, self.x_std, self.prior, k, x, m, n, self.num_proposals
                )
                for k, x, m in zip(keys, xs, masks, strict=True)
            ]
        )


@eqx.filter_jit
def _make_classifier(dim, context_dim, embedding, *, key, **kwargs):
    return ConditionedNet(embedding, RatioClassifier(dim, context_dim, key=key, **kwargs))


@eqx.filter_jit
def _log_ratio(net, theta_std, x_std, theta, x_obs, mask):
    context = observation_context(net, x_std, x_obs, mask)
    return jax.vmap(net.body, in_axes=(0, None))(theta_std.forward(theta), context)


@eqx.filter_jit
def _sir(net, theta_std, x_std, prior, key, x_obs, mask, n, num_proposals):
    k_prop, k_pick = jax.random.split(key)
    proposals = prior.sample_prior(k_prop, n * num_proposals)
    logw = _log_ratio(net, theta_std, x_std, proposals, x_obs, mask)
    if hasattr(prior, "log_prior") and not getattr(prior, "full_support", False):
        # proposals outside the support get no weight
        inside = jnp.isfinite(jax.vmap(prior.log_prior)(proposals))
        logw = jnp.where(inside, logw, -jnp.inf)
    # inverse-CDF resampling: O(M + n log M) memory, unlike categorical's (n, M) noise
    idx = jax.random.choice(k_pick, logw.shape[0], (n,), p=jax.nn.softmax(logw))
    return proposals[idx]
