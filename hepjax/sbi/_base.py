r"""The estimator base: training options, the training run, and the public protocol.

Every estimator of :mod:`hepjax.sbi` is an Equinox module that holds its
hyperparameters as fields and, once fitted, the trained network, the z-scoring
of $\theta$ and $x$ and a :class:`TrainingResult`. They share

- one :class:`TrainingOptions` module (the ``training=`` field: optimizer,
  batch size, step budget, validation split, early stopping, clipping, NaN
  handling, progress bar), documented and validated here once;
- one training run (:func:`train_estimator`): a held-out validation split,
  :func:`hepjax.train.fit` with :class:`hepjax.train.EarlyStopping` (the model
  of the best validation loss is kept) and whole epochs per compiled call
  (``steps_per_call``);
- one public protocol, so that the diagnostics and :mod:`hepjax.sbi.frequentist`
  work with any estimator that has the method they need (no ``isinstance``):

  =============================================  ==================================
  method                                         estimators
  =============================================  ==================================
  ``fit(key, theta, x, mask=None)``              all (HierarchicalNPE: ``theta, z, x``)
  ``sample(key, x_obs, n, mask=None)``           all
  ``sample_batch(key, xs, n, mask=None)``        all
  ``log_prob(theta, x_obs, mask=None)``          NPE, FMPE, HierarchicalNPE (global NPE/FMPE)
  ``log_likelihood(theta, x_obs)``               NLE
  ``log_ratio(theta, x_obs, mask=None)``         NRE, HierarchicalNPE (global NRE)
  ``relative_log_likelihood(theta, x, mask)``    all: $\log p(x \mid \theta) + c(x)$
  =============================================  ==================================

``relative_log_likelihood`` is the learned log likelihood up to an additive
function $c(x)$ of the data alone, for one parameter vector and one
observation, pure (jit- and vmap-able): all that a likelihood-ratio test
statistic needs (:func:`hepjax.sbi.frequentist.learned_log_likelihood`).

**Ensembles** are padded arrays ``x: (N, m, *event_shape)`` with a boolean
``mask: (N, m)`` of the real events, the convention of :mod:`hepjax.nn`. For
users with NaN-padded ensembles (padding events all NaN), the mask is derived
once at the boundary (``mask=None``); inside, padding events are zero-filled
and set embeddings are called as ``embedding(x, mask)``.
"""

import abc
import dataclasses
import math
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import check_choice, check_positive_int
from ..data import Batches, Standardizer
from ..train import EarlyStopping, fit
from ._data import (
    NAN_POLICIES,
    NotFittedError,
    check_num_samples,
    check_observation,
    check_observations,
    check_parameters,
    check_training_data,
    traced_observation,
)

_CALL_BYTES = 64 * 2**20  # training batches shipped per compiled call, at most


class TrainingOptions(eqx.Module):
    r"""How an estimator is trained: one set of options, and defaults, for every estimator.

    Training minimises the estimator's loss with ``optimizer`` on minibatches
    of the simulations, holds out a fraction of them, evaluates the loss on
    the held-out rows after every epoch (with a fixed key, so a stochastic
    loss is compared fairly), stops after ``patience`` epochs without a lower
    validation loss and returns the model of the best epoch (Papamakarios et
    al. 2019 and the ``sbi`` package train this way). Epochs run as one
    compiled call each (``lax.scan`` over the steps), so the host syncs once
    per epoch: the small networks of SBI take about a millisecond per step.

    Attributes:
        optimizer: any ``optax.GradientTransformation`` (default Adam with
            learning rate $10^{-3}$, the default of sbi and sbibm).
        batch_size: simulations per optimizer step (capped at the number of
            training rows).
        max_steps: upper limit on optimizer steps.
        validation_fraction: fraction of the simulations held out for early
            stopping, in $(0, 1)$.
        patience: epochs without a better validation loss before stopping
            (20, as the ``sbi`` package does for every estimator).
        clip_norm: clip the gradient to this global norm, or ``None``.
        nan_policy: what to do with simulations with NaN or infinite values
            (outside the padding of ensembles): ``"drop"`` them with a warning
            saying how many, or ``"raise"`` a ValueError.
        progress: show a progress bar (default: when stderr is a terminal).

    Example:
        ```python notest
        training = sbi.TrainingOptions(optimizer=optax.adamw(3e-4), max_steps=5000)
        est = sbi.NPE(training=training).fit(key, theta, x)
        ```
    """

    optimizer: optax.GradientTransformation = eqx.field(default=optax.adam(1e-3), static=True)
    batch_size: int = 200
    max_steps: int = 20_000
    validation_fraction: float = 0.1
    patience: int = 20
    clip_norm: float | None = 5.0
    nan_policy: str = "drop"
    progress: bool | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        if not isinstance(self.optimizer, optax.GradientTransformation):
            raise TypeError(
                "optimizer must be an optax.GradientTransformation (e.g. optax.adam(1e-3)), "
                f"got {type(self.optimizer).__name__}"
            )
        for name in ("batch_size", "max_steps", "patience"):
            check_positive_int(name, getattr(self, name))
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, float | int) or not 0.0 < vf < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {vf!r}")
        if self.clip_norm is not None and not (
            isinstance(self.clip_norm, float | int)
            and math.isfinite(self.clip_norm)
            and self.clip_norm > 0
        ):
            raise ValueError(f"clip_norm must be a positive number or None, got {self.clip_norm!r}")
        check_choice("nan_policy", self.nan_policy, NAN_POLICIES)


class TrainingResult(eqx.Module):
    """What training an estimator returned, kept on the fitted estimator as ``history``.

    Attributes:
        best_step: the optimizer step of the kept (best-validation) model
            (``None`` if no validation loss was finite: the last model is kept).
        best_validation_loss: its validation loss.
        validation_steps: steps at which the validation loss was evaluated (one per epoch).
        validation_losses: the validation loss at each of them.
        train_losses: the training loss at every optimizer step.
        num_steps: optimizer steps run.
        stopped_early: whether early stopping ended training before ``max_steps``.
        num_train: simulations trained on.
        num_val: simulations held out for validation.
        seconds: wall time of ``fit`` (preparation, compilation and training).
    """

    best_step: int | None
    best_validation_loss: float
    validation_steps: np.ndarray
    validation_losses: np.ndarray
    train_losses: np.ndarray
    num_steps: int
    stopped_early: bool
    num_train: int
    num_val: int
    seconds: float


def _num_rows(data: dict) -> int:
    return next(iter(data.values())).shape[0]


def train_estimator(
    key: PRNGKeyArray,
    model: Any,
    loss_fn,
    data: dict[str, np.ndarray],
    options: TrainingOptions,
    started: float,
) -> tuple[Any, TrainingResult]:
    """Train ``model`` on ``data`` (a dict of ``(n, ...)`` arrays) with ``options``.

    ``loss_fn(model, batch, *, key)`` is the mean loss of a batch. A fraction
    of the rows is held out, :func:`hepjax.train.fit` runs with early stopping
    on their loss (evaluated once per epoch) and whole epochs per compiled
    call (fewer steps per call when an epoch's batches would exceed 64 MiB,
    e.g. image ensembles), and the model of the best epoch is returned with
    its :class:`TrainingResult` (``seconds`` counts from ``started``).

    Raises:
        ValueError: too few rows for the validation split.
        hepjax.train.NonFiniteLossError: a non-finite loss or gradient.
    """
    n = _num_rows(data)
    n_val = max(1, round(options.validation_fraction * n))
    if n - n_val < 2:
        raise ValueError(
            f"need at least {n_val + 2} simulations (after dropping bad rows) to train with "
            f"validation_fraction={options.validation_fraction}, got {n}"
        )
    k_split, k_batches, k_val, k_fit = jax.random.split(key, 4)
    perm = np.asarray(jax.random.permutation(k_split, n))
    val = {k: jnp.asarray(v[perm[:n_val]]) for k, v in data.items()}
    train_rows = {k: np.asarray(v[perm[n_val:]]) for k, v in data.items()}
    n_train = n - n_val
    batch_size = min(options.batch_size, n_train)
    steps_per_epoch = max(1, n_train // batch_size)
    row_bytes = sum(v[0].nbytes for v in train_rows.values())
    per_call = max(1, _CALL_BYTES // max(1, row_bytes * batch_size))
    calls_per_epoch = -(-steps_per_epoch // per_call)
    steps_per_call = steps_per_epoch // calls_per_epoch
    result = fit(
        model,
        loss_fn,
        options.optimizer,
        Batches(train_rows, batch_size, key=k_batches),
        steps=options.max_steps,
        key=k_fit,
        early_stopping=EarlyStopping(
            val, patience=options.patience, every=steps_per_call * calls_per_epoch, key=k_val
        ),
        steps_per_call=min(steps_per_call, options.max_steps),
        clip_norm=options.clip_norm,
        progress=options.progress,
    )
    history = TrainingResult(
        best_step=None if result.best_step is None else int(result.best_step),
        best_validation_loss=float(result.best_validation_loss),
        validation_steps=np.asarray(result.validation_steps),
        validation_losses=np.asarray(result.validation_losses),
        train_losses=np.asarray(result.losses),
        num_steps=int(result.step),
        stopped_early=bool(result.stopped_early),
        num_train=n_train,
        num_val=n_val,
        seconds=time.perf_counter() - started,
    )
    return result.model, history


class KDEPrior(eqx.Module):
    """A Gaussian KDE of the training parameters (Scott's bandwidth), when no prior is given.

    A stand-in prior with ``sample_prior(key, n)`` and ``log_prior(theta)``
    (:func:`jax.scipy.stats.gaussian_kde`); its support is all of
    $\\mathbb R^d$, so sampling-importance-resampling from it needs no support check.
    """

    kde: jax.scipy.stats.gaussian_kde
    full_support: bool = eqx.field(default=True, static=True)

    @classmethod
    def fit(cls, theta: np.ndarray) -> "KDEPrior":
        return cls(jax.scipy.stats.gaussian_kde(jnp.asarray(theta, jnp.float32).T))

    def sample_prior(self, key: PRNGKeyArray, n: int) -> Float[Array, "n d"]:
        return self.kde.resample(key, (n,)).T

    def log_prior(self, theta: Float[Array, " d"]) -> Float[Array, ""]:
        return self.kde.logpdf(theta[:, None])[0]


def check_prior(prior, needs: tuple[str, ...], who: str) -> None:
    """A ``prior=`` must be a task or an object with the methods ``needs``."""
    if prior is not None and not all(callable(getattr(prior, m, None)) for m in needs):
        wanted = " and ".join(
            {"log_prior": "log_prior(theta)", "sample_prior": "sample_prior(key, n)"}[m]
            for m in needs
        )
        raise TypeError(
            f"{who}: prior must be a task or an object with {wanted}, got {type(prior).__name__}"
        )


class ConditionedNet(eqx.Module):
    """A network conditioned on the context $c = e(x)$ of an (optionally embedded) observation.

    ``embedding`` maps one z-scored observation to a feature vector (``None``:
    the vector itself); set embeddings of ensembles are called as
    ``embedding(x, mask)``. ``body`` is the flow, vector field or classifier.
    """

    embedding: Any
    body: Any

    def sample_z(self, key: PRNGKeyArray, context: Float[Array, " c"], n: int) -> Array:
        """``n`` z-scored samples ``(n, d)`` of the body's density given one context."""
        keys = jax.random.split(key, n)
        return jax.vmap(self.body.sample, in_axes=(0, None))(keys, context)

    def log_prob_z(self, theta_z: Float[Array, " d"], context: Float[Array, " c"]) -> Array:
        """The body's log density of one z-scored ``theta_z`` given one context."""
        return self.body.log_prob(theta_z, context)

    def context(
        self, x: Float[Array, "..."], mask: Bool[Array, " m"] | None = None
    ) -> Float[Array, " c"]:
        if self.embedding is None:
            out = x
        elif mask is None:
            out = self.embedding(x)
        else:
            out = self.embedding(x, mask)
        if jnp.ndim(out) != 1:
            raise ValueError(
                "the embedding must map one observation to a 1-d feature vector, got shape "
                f"{jnp.shape(out)}"
            )
        return out


def batch_contexts(net: ConditionedNet, batch: dict) -> Array:
    """Contexts ``(b, c)`` of a training batch (with its ``"mask"`` for ensembles)."""
    if "mask" in batch:
        return jax.vmap(net.context)(batch["x"], batch["mask"])
    return jax.vmap(net.context)(batch["x"])


def context_size(embedding, x: np.ndarray, mask: np.ndarray | None) -> int:
    """The size of the context that ``embedding`` makes of one row of ``x`` (by tracing only)."""
    net = ConditionedNet(embedding, None)
    x0 = jax.ShapeDtypeStruct(x.shape[1:], jnp.float32)
    if mask is None:
        return eqx.filter_eval_shape(net.context, x0).shape[0]
    m0 = jax.ShapeDtypeStruct(mask.shape[1:], jnp.bool_)
    return eqx.filter_eval_shape(net.context, x0, m0).shape[0]


def prepare_training_data(theta, x, mask, options: TrainingOptions, embedding):
    """Checked, z-scored training data (a dict for the training run) and the context size."""
    theta, x, mask = check_training_data(theta, x, mask, options.nan_policy)
    if x.ndim >= 3 and embedding is None:
        raise ValueError(
            f"x holds ensembles of shape {x.shape} (simulations, events, *event_shape): it "
            "needs a set embedding, e.g. embedding=hepjax.nn.DeepSets(num_features, 16, "
            "key=key)"
        )
    theta_std, x_std = Standardizer.fit(theta), Standardizer.fit(x, mask)
    x_z = np.asarray(x_std.forward(x))
    data = {"theta": np.asarray(theta_std.forward(theta)), "x": x_z}
    if mask is not None:
        keep = mask.reshape(mask.shape + (1,) * (x.ndim - 2))
        data["x"] = np.where(keep, x_z, 0.0).astype(np.float32)
        data["mask"] = mask
    return theta, theta_std, x_std, data, context_size(embedding, x, mask)


class AbstractPosteriorEstimator(eqx.Module):
    r"""An amortised posterior estimator: ``fit`` on simulations, then ``sample`` per observation.

    The base of :class:`~hepjax.sbi.NPE`, :class:`~hepjax.sbi.FMPE`,
    :class:`~hepjax.sbi.NRE`, :class:`~hepjax.sbi.NLE` and
    :class:`~hepjax.sbi.HierarchicalNPE` (each final). All of them take the
    keyword-only fields

    Attributes:
        training: the :class:`TrainingOptions`.
        net: the trained network (``None`` until :meth:`fit`).
        theta_std: the z-scoring of $\theta$ fitted on the training data.
        x_std: the z-scoring of $x$.
        history: the :class:`TrainingResult` of :meth:`fit`.

    and expose the protocol of :mod:`hepjax.sbi` (``fit``, ``sample``,
    ``sample_batch``, ``relative_log_likelihood``, and ``log_prob``,
    ``log_likelihood`` or ``log_ratio`` where they have one).
    """

    _: dataclasses.KW_ONLY
    training: TrainingOptions = TrainingOptions()
    net: Any = None
    theta_std: Any = None
    x_std: Any = None
    history: TrainingResult | None = None

    def __check_init__(self):
        if not isinstance(self.training, TrainingOptions):
            raise TypeError(
                "training must be sbi.TrainingOptions(...), got " + type(self.training).__name__
            )

    @abc.abstractmethod
    def fit(self, key: PRNGKeyArray, theta: ArrayLike, *args, **kwargs):
        """Train on simulations and return the fitted estimator (``self`` is unchanged)."""

    @abc.abstractmethod
    def sample(
        self, key: PRNGKeyArray, x_obs: ArrayLike, n: int, mask: ArrayLike | None = None
    ) -> Float[Array, "n d"]:
        """``n`` posterior samples for one observation ``x_obs``.

        Args:
            key: PRNG key of the draw.
            x_obs: one observation, of the simulator's output shape (or an ensemble ``(m,
                *event_shape)``).
            n: the number of samples.
            mask: ``(m,)`` true on the real events of an ensemble ``x_obs`` (``None``: all-NaN
                events are padding).
        """

    @abc.abstractmethod
    def relative_log_likelihood(
        self,
        theta: Float[ArrayLike, " d"],
        x: Float[ArrayLike, "..."],
        mask: ArrayLike | None = None,
    ) -> Float[Array, ""]:
        r"""$\log p(x \mid \theta) + c(x)$ for one ``theta`` and one observation (pure).

        Args:
            theta: ``(d,)`` one parameter point.
            x: one observation (or an ensemble ``(m, *event_shape)``).
            mask: ``(m,)`` true on the real events of an ensemble ``x``.
        """

    @property
    def is_fitted(self) -> bool:
        return self.net is not None

    def _require_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted: call est = est.fit(key, theta, x) "
                f"before {what}"
            )

    def _fit_conditioned(self, key, theta, x, mask, build, loss_fn, fitted=None):
        """The ``fit`` of an estimator whose network is conditioned on (embedded) ``x``.

        Checks and z-scores the data, builds the network with
        ``build(dim_theta, context_dim, key)``, trains it with ``loss_fn`` and
        returns the fitted copy, with the extra fields ``fitted(theta)`` (a dict)
        of the checked training parameters.
        """
        started = time.perf_counter()
        theta, theta_std, x_std, data, context_dim = prepare_training_data(
            theta, x, mask, self.training, self.embedding
        )
        k_init, k_train = jax.random.split(key)
        net = build(theta.shape[1], context_dim, k_init)
        net, history = train_estimator(k_train, net, loss_fn, data, self.training, started)
        extra = {} if fitted is None else fitted(theta)
        return dataclasses.replace(
            self, net=net, theta_std=theta_std, x_std=x_std, history=history, **extra
        )

    def _observation(self, x_obs, mask) -> tuple[Array, Array | None]:
        return check_observation(x_obs, mask, self.x_std, type(self).__name__)

    def _observations(self, xs, mask) -> tuple[Array, Array | None]:
        return check_observations(xs, mask, self.x_std, type(self).__name__)

    def _parameters(self, theta) -> tuple[Array, bool]:
        return check_parameters(theta, self.theta_std.shift.shape[0])

    def _at_observation(self, what: str, batch_fn, theta, x_obs, mask) -> Array:
        """``batch_fn(net, theta_std, x_std, theta (n, d), x_obs, mask) -> (n,)`` at one
        checked observation, for ``theta (n, d)`` or one ``(d,)`` (then a scalar)."""
        self._require_fitted(what)
        x_obs, mask = self._observation(x_obs, mask)
        theta, single = self._parameters(theta)
        out = batch_fn(self.net, self.theta_std, self.x_std, theta, x_obs, mask)
        return out[0] if single else out


class AbstractFlowPosterior(AbstractPosteriorEstimator):
    r"""A posterior estimator that samples $\theta$ directly from a learned density.

    The fitted ``net`` is a :class:`ConditionedNet` whose body has
    ``sample(key, context)`` and ``log_prob(theta_z, context)`` on z-scored
    parameters (as :class:`hepjax.generative.ConditionalSplineFlow`). This base
    adds sampling with an optional ``prior`` (leakage outside its support is
    rejected and redrawn), batched sampling, ``log_prob`` in the original units
    and the relative log likelihood $\log q(\theta \mid x) - \log p(\theta)$.
    """

    prior: eqx.AbstractVar[Any]

    def sample(
        self, key: PRNGKeyArray, x_obs: ArrayLike, n: int, mask: ArrayLike | None = None
    ) -> Float[Array, "n d"]:
        r"""``n`` samples of $q(\theta \mid x_{obs})$ (inside the prior's support with ``prior``).

        ``x_obs`` is one observation ``(dx,)``, or one ensemble ``(m, *event_shape)``
        with its ``mask (m,)`` (``None``: events that are all NaN are padding).
        """
        self._require_fitted("sample")
        x_obs, mask = self._observation(x_obs, mask)
        n = check_num_samples(n)
        draw = lambda k: _draw(self.net, self.theta_std, self.x_std, k, x_obs, mask, n)
        if self.prior is None:
            return draw(key)
        kept, have = [], 0
        for _ in range(100):
            key, sub = jax.random.split(key)
            s = draw(sub)
            inside = np.asarray(jnp.isfinite(_log_prior_batch(self.prior, s)))
            kept.append(np.asarray(s)[inside])
            have += int(inside.sum())
            if have >= n:
                return jnp.asarray(np.concatenate(kept)[:n])
        raise ValueError(
            f"fewer than {n} of {100 * n} {type(self).__name__} samples fell inside the "
            "prior's support: the estimator puts (almost) no mass there for this x_obs"
        )

    def sample_batch(
        self, key: PRNGKeyArray, xs: ArrayLike, n: int, mask: ArrayLike | None = None
    ) -> Float[Array, "b n d"]:
        """``n`` samples for each of the ``b`` observations ``xs (b, dx)`` (or ensembles).

        The prior's support is not enforced here (one compiled call for all
        observations); use :meth:`sample` per observation for that.
        """
        self._require_fitted("sample_batch")
        xs, mask = self._observations(xs, mask)
        n = check_num_samples(n)
        keys = jax.random.split(key, xs.shape[0])
        return _draw_batch(self.net, self.theta_std, self.x_std, keys, xs, mask, n)

    def log_prob(
        self, theta: ArrayLike, x_obs: ArrayLike, mask: ArrayLike | None = None
    ) -> Float[Array, "*n"]:
        r"""$\log q(\theta \mid x_{obs})$ for parameters ``theta (n, d)`` (or one ``(d,)``)."""
        return self._at_observation("log_prob", _log_prob_batch, theta, x_obs, mask)

    def relative_log_likelihood(
        self,
        theta: Float[ArrayLike, " d"],
        x: Float[ArrayLike, "..."],
        mask: ArrayLike | None = None,
    ) -> Float[Array, ""]:
        r"""$\log q(\theta \mid x) - \log p(\theta)$: the log likelihood up to a function of $x$.

        By Bayes' theorem $\log p(\theta \mid x) - \log p(\theta) = \log p(x \mid
        \theta) - \log p(x)$. Without a ``prior`` the prior is taken as flat
        (then this is $\log q(\theta \mid x)$); outside the prior's support it
        is $-\infty$. One ``theta (d,)`` and one observation (an ensemble with
        its ``mask``, or NaN padding); pure (no value checks), so ``jax.vmap``
        and ``jax.jit`` apply.
        """
        self._require_fitted("relative_log_likelihood")
        theta = jnp.asarray(theta, jnp.float32)
        x, mask = traced_observation(x, mask, self.x_std)
        lq = _log_prob_one(self.net, self.theta_std, self.x_std, theta, x, mask)
        if self.prior is None:
            return lq
        lp = self.prior.log_prior(theta)
        return jnp.where(jnp.isfinite(lp), lq - lp, -jnp.inf)


def standardize_x(x_std, x, mask):
    """z-scored ``x``; padding events of an ensemble stay zero."""
    z = x_std.forward(x)
    if mask is None:
        return z
    keep = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    return jnp.where(keep, z, 0.0)


def observation_context(net, x_std, x, mask):
    """The context of one observation (z-scored, then embedded)."""
    return net.context(standardize_x(x_std, x, mask), mask)


@eqx.filter_jit
def _draw(net, theta_std, x_std, key, x_obs, mask, n):
    context = observation_context(net, x_std, x_obs, mask)
    return theta_std.inverse(net.sample_z(key, context, n))


@eqx.filter_jit
def _draw_batch(net, theta_std, x_std, keys, xs, mask, n):
    def one(args):
        k, x, m = args
        return theta_std.inverse(net.sample_z(k, observation_context(net, x_std, x, m), n))

    return jax.lax.map(one, (keys, xs, mask))


@eqx.filter_jit
def _log_prob_one(net, theta_std, x_std, theta, x, mask):
    context = observation_context(net, x_std, x, mask)
    return net.log_prob_z(theta_std.forward(theta), context) + theta_std.log_det()


@eqx.filter_jit
def _log_prob_batch(net, theta_std, x_std, theta, x_obs, mask):
    context = observation_context(net, x_std, x_obs, mask)
    lp = jax.vmap(lambda t: net.log_prob_z(theta_std.forward(t), context))(theta)
    return lp + theta_std.log_det()


@eqx.filter_jit
def _log_prior_batch(prior, theta):
    return jax.vmap(prior.log_prior)(theta)
