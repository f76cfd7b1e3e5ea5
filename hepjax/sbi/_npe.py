r"""Neural posterior estimation (NPE).

A conditional density $q_\phi(\theta \mid x)$ is fitted to pairs
$(\theta_i, x_i)$ drawn from the prior and the simulator by maximum likelihood,

.. math::
    \mathcal L(\phi) = -\frac1N \sum_i \log q_\phi(\theta_i \mid x_i),

whose minimiser is the posterior $p(\theta \mid x)$ for every $x$ at once
(amortised: no retraining per observation). Papamakarios & Murray 2016
(arXiv:1605.06376); Greenberg et al. 2019 (arXiv:1905.07488). Here
$q_\phi$ is a conditional neural spline flow
(:class:`hepjax.generative.ConditionalSplineFlow`) on
z-scored $\theta$ and $x$.
"""

import abc
import dataclasses
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..generative import ConditionalSplineFlow
from ._context import EmbeddedFlow, embed
from ._data import (
    NotFittedError,
    check_num_samples,
    check_observation,
    check_observations,
    check_training_data,
    fit_standardizer,
)
from ._training import check_training_options, train


class AbstractPosteriorEstimator(eqx.Module):
    """An amortised posterior estimator: ``fit`` on simulations, then ``sample`` per observation.

    Subclasses hold their hyperparameters as fields and, once fitted, the
    trained network (``net``), the z-scoring of ``theta`` and ``x``, and the
    training ``history``.
    """

    @abc.abstractmethod
    def fit(
        self, key: PRNGKeyArray, theta: ArrayLike, x: ArrayLike
    ) -> "AbstractPosteriorEstimator":
        """Train on simulations and return the fitted estimator (``self`` is unchanged)."""

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, x_obs: ArrayLike, n: int) -> Float[Array, "n d"]:
        """``n`` posterior samples for one observation ``x_obs``."""

    @property
    def is_fitted(self) -> bool:
        return getattr(self, "net", None) is not None

    def _require_fitted(self, what: str) -> None:
        if not self.is_fitted:
            name = type(self).__name__
            raise NotFittedError(
                f"{name} is not fitted: call est = est.fit(key, theta, x) before {what}"
            )

    def _train(self, key: PRNGKeyArray, net, loss_fn, data, started: float) -> tuple[Any, dict]:
        """Train ``net`` with this estimator's shared training options.

        Returns the trained network and its history, whose ``"seconds"`` is the
        wall time since ``started`` (the start of ``fit``).
        """
        net, history = train(
            key,
            net,
            loss_fn,
            data,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            max_steps=self.max_steps,
            validation_fraction=self.validation_fraction,
            patience=self.patience,
            clip_norm=self.clip_norm,
            progress=self.progress,
        )
        history["seconds"] = time.perf_counter() - started
        return net, history

    def sample_batch(self, key: PRNGKeyArray, xs: ArrayLike, n: int) -> Float[Array, "m n d"]:
        """``n`` posterior samples for each of the ``m`` observations ``xs (m, dx)``."""
        self._require_fitted("sample_batch")
        xs = check_observations(xs, self.x_std, type(self).__name__)
        n = check_num_samples(n)
        keys = jax.random.split(key, xs.shape[0])
        return _sample_batch(
            type(self)._sample_z,
            self.net,
            self.theta_std,
            self.x_std,
            keys,
            xs,
            n,
            self._sampler_options(),
        )

    def _sampler_options(self) -> tuple:
        return ()


@eqx.filter_jit
def _sample_batch(sample_z, net, theta_std, x_std, keys, xs, n, options):
    def one(k, x):
        return theta_std.inverse(sample_z(net, k, x_std.forward(x), n, options))

    return jax.lax.map(lambda a: one(*a), (keys, xs))


def _npe_loss(net, batch, *, key=None):
    del key
    return -jnp.mean(jax.vmap(net.log_prob)(batch["theta"], batch["x"]))


def _prepare(key, theta, x, nan_policy, embedding):
    theta, x = check_training_data(theta, x, nan_policy)
    theta_std, x_std = fit_standardizer(theta), fit_standardizer(x)
    data = {"theta": np.asarray(theta_std.forward(theta)), "x": np.asarray(x_std.forward(x))}
    context_dim = x.shape[1]
    if x.ndim >= 3 and embedding is None:
        raise ValueError(
            f"x holds ensembles of shape {x.shape} (simulations, events, *event_shape): it "
            "needs a set embedding, e.g. embedding=hepjax.nn.DeepSets(num_features, 16, "
            "key=key) (NLE models vector x only)"
        )
    if embedding is not None:
        out = eqx.filter_eval_shape(embed, embedding, jnp.zeros(x.shape[1:], jnp.float32))
        context_dim = out.shape[0]
    return theta, x, theta_std, x_std, data, context_dim


class NPE(AbstractPosteriorEstimator):
    """Neural posterior estimation with a conditional neural spline flow.

    Sizes are inferred at :meth:`fit`; ``NPE()`` works with its defaults.

    Args:
        num_transforms: number of coupling layers.
        hidden_features: width of the conditioner MLPs.
        depth: hidden layers per conditioner.
        num_bins: spline bins per dimension.
        tail_bound: splines act on $[-B, B]$ of the z-scored parameters (identity outside).
        embedding: optional Equinox module mapping one z-scored ``x`` to a
            feature vector, trained jointly with the flow (``None``: identity).
        batch_size: training batch size.
        learning_rate: Adam learning rate.
        max_steps: upper limit on optimizer steps.
        validation_fraction: fraction of simulations held out for early stopping.
        patience: stop after this many epochs without a better validation loss.
        clip_norm: gradient clipping (global norm), or ``None``.
        nan_policy: ``"drop"`` rows of ``theta``/``x`` with NaN or inf (with a
            warning saying how many) or ``"raise"`` a ValueError.
        progress: show a progress bar (default: when stderr is a terminal).
        prior: optional prior (a task, or an object with ``log_prior(theta)``):
            samples outside its support are rejected and redrawn (the flow's
            leakage out of a bounded prior).

    Example:
        ```python notest
        est = sbi.NPE().fit(key, theta, x)
        samples = est.sample(key, x_obs, 1000)
        ```
    """

    num_transforms: int = 5
    hidden_features: int = 64
    depth: int = 2
    num_bins: int = 8
    tail_bound: float = 5.0
    embedding: Any = None
    batch_size: int = 200
    learning_rate: float = 1e-3
    max_steps: int = 20_000
    validation_fraction: float = 0.1
    patience: int = 20
    clip_norm: float | None = 5.0
    nan_policy: str = "drop"
    progress: bool | None = eqx.field(default=None, static=True)
    prior: Any = None
    net: Any = None
    theta_std: Any = None
    x_std: Any = None
    history: Any = None

    def __check_init__(self):
        if self.prior is not None and not hasattr(self.prior, "log_prior"):
            raise TypeError(
                f"prior must be a task or an object with log_prior(theta), got "
                f"{type(self.prior).__name__}"
            )
        for name in ("num_transforms", "hidden_features", "depth", "num_bins"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not self.tail_bound > 0:
            raise ValueError(f"tail_bound must be positive, got {self.tail_bound!r}")
        if self.nan_policy not in ("drop", "raise"):
            raise ValueError(f"nan_policy must be 'drop' or 'raise', got {self.nan_policy!r}")
        check_training_options(
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            max_steps=self.max_steps,
            validation_fraction=self.validation_fraction,
            patience=self.patience,
        )

    def fit(self, key: PRNGKeyArray, theta: ArrayLike, x: ArrayLike) -> "NPE":
        """Train on ``theta (n, d)`` and ``x (n, dx)``; returns the fitted estimator.

        Raises:
            TypeError: non-numeric or boolean ``theta``/``x``.
            ValueError: wrong shapes, different numbers of rows, too few
                simulations, or NaN rows with ``nan_policy="raise"``.
        """
        started = time.perf_counter()
        theta, x, theta_std, x_std, data, context_dim = _prepare(
            key, theta, x, self.nan_policy, self.embedding
        )
        k_init, k_train = jax.random.split(key)
        net = _make_flow(
            theta.shape[1],
            context_dim,
            embedding=self.embedding,
            num_transforms=self.num_transforms,
            hidden_features=self.hidden_features,
            depth=self.depth,
            num_bins=self.num_bins,
            tail_bound=self.tail_bound,
            key=k_init,
        )
        net, history = self._train(k_train, net, _npe_loss, data, started)
        return dataclasses.replace(self, net=net, theta_std=theta_std, x_std=x_std, history=history)

    @staticmethod
    def _sample_z(net, key, x_z, n, options):
        context = net.context(x_z)
        return jax.vmap(net.sample_given_context, in_axes=(0, None))(
            jax.random.split(key, n), context
        )

    def sample(self, key: PRNGKeyArray, x_obs: ArrayLike, n: int) -> Float[Array, "n d"]:
        """``n`` samples of $q(\\theta \\mid x_{obs})$."""
        self._require_fitted("sample")
        x_obs = check_observation(x_obs, self.x_std, "NPE")
        n = check_num_samples(n)
        draw = lambda k: _sample_one(
            NPE._sample_z, self.net, self.theta_std, self.x_std, k, x_obs, n, ()
        )
        if self.prior is None:
            return draw(key)
        kept, have = [], 0
        for _ in range(100):
            key, sub = jax.random.split(key)
            s = draw(sub)
            inside = np.asarray(jnp.isfinite(_log_prior(self.prior, s)))
            kept.append(np.asarray(s)[inside])
            have += int(inside.sum())
            if have >= n:
                return jnp.asarray(np.concatenate(kept)[:n])
        raise ValueError(
            f"fewer than {n} of {100 * n} NPE samples fell inside the prior's support: "
            "the estimator puts (almost) no mass there for this x_obs"
        )

    def log_prob(self, theta: ArrayLike, x_obs: ArrayLike) -> Float[Array, "*n"]:
        """$\\log q(\\theta \\mid x_{obs})$ for parameters ``theta (n, d)`` (or one ``(d,)``)."""
        self._require_fitted("log_prob")
        x_obs = check_observation(x_obs, self.x_std, "NPE")
        theta = jnp.asarray(theta, jnp.float32)
        single = theta.ndim == 1
        theta = theta[None] if single else theta
        d = self.theta_std.shift.shape[0]
        if theta.ndim != 2 or theta.shape[1] != d:
            raise ValueError(f"theta must have shape (n, {d}) or ({d},), got {theta.shape}")
        out = _npe_log_prob(self.net, self.theta_std, self.x_std, theta, x_obs)
        return out[0] if single else out


@eqx.filter_jit
def _log_prior(prior, theta):
    return jax.vmap(prior.log_prior)(theta)


@eqx.filter_jit
def _make_flow(dim, context_dim, *, embedding, num_transforms, hidden_features, depth, **kwargs):
    # one compilation instead of one per eager initialiser
    flow = ConditionalSplineFlow(
        dim,
        context_dim,
        hidden_size=hidden_features,
        num_layers=num_transforms,
        conditioner_depth=depth,
        **kwargs,
    )
    return EmbeddedFlow(flow, eqx.nn.Identity() if embedding is None else embedding)


@eqx.filter_jit
def _sample_one(sample_z, net, theta_std, x_std, key, x_obs, n, options):
    return theta_std.inverse(sample_z(net, key, x_std.forward(x_obs), n, options))


@eqx.filter_jit
def _npe_log_prob(net, theta_std, x_std, theta, x_obs):
    context = net.context(x_std.forward(x_obs))
    lp = jax.vmap(net.log_prob_given_context, in_axes=(0, None))(theta_std.forward(theta), context)
    return lp + theta_std.log_det()
