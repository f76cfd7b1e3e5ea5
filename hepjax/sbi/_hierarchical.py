r"""Hierarchical posterior estimation over event ensembles.

A hierarchical simulator draws global parameters $\theta \sim p(\theta)$
shared by an ensemble, local parameters $z_i \sim p(z \mid \theta)$ per event
and events $x_i \sim p(x \mid z_i, \theta)$, $i = 1, \dots, n$, with $n$
varying between ensembles (Heinrich, Mishra-Sharma, Pollard & Windischhofer
2023, "Hierarchical neural simulation-based inference over event ensembles",
arXiv:2306.12584). :class:`HierarchicalNPE` learns, amortised over ensembles
of any size,

- the **global posterior** $q(\theta \mid X)$, $X = \{x_i\}$, with any
  estimator of :mod:`hepjax.sbi` (NPE by default; NRE gives a ratio
  $\log r(\theta, X)$, a test statistic) on a permutation-invariant set
  embedding of the ensemble;
- the **local posterior** $q(z_i \mid x_i, \theta, s(X))$, a conditional
  spline flow whose context is the event, the global parameters and
  (``ensemble_context=True``) a set summary $s(X)$ of the whole ensemble,
  trained by maximum likelihood over all real events,

  .. math::
      \mathcal L = -\frac{\sum_b \sum_{i: m_{bi}} \log q(z_{bi} \mid x_{bi},
      \theta_b, s(X_b))}{\sum_b |m_b|}.

The local posterior given the ensemble alone marginalises the global
parameters, $q(z_i \mid X) = \int q(z_i \mid x_i, \theta, s(X))\,
q(\theta \mid X)\,d\theta$ (:meth:`HierarchicalNPE.sample_local` without
``theta``): the ensemble pins $\theta$ down, which sharpens every event's
local posterior compared with $p(z_i \mid x_i)$ from the event alone.

Ensembles are padded arrays ``x: (N, m, *event_shape)`` with a boolean
``mask: (N, m)`` of the real events (``mask=None``: padding events are all
NaN); local parameters ``z: (N, m, d_z)`` are ignored on padding events.
"""

import dataclasses
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_positive, check_positive_int
from ..data import Standardizer
from ..generative import ConditionalSplineFlow
from ..nn import DeepSets
from ._base import AbstractPosteriorEstimator, standardize_x, train_estimator
from ._data import (
    NotFittedError,
    as_2d_float,
    as_x_float,
    check_num_samples,
    masked_ensembles,
)
from ._npe import NPE


class LocalPosteriorNet(eqx.Module):
    """``q(z_i | x_i, theta, s(X))``: a spline flow with a per-event context.

    The context of event ``i`` is ``[encoder(x_i), theta, s(X)]`` (``s`` absent
    without ensemble context; ``encoder`` flattens the event by default).
    All inputs are z-scored; padding events are zero and masked out.
    """

    flow: ConditionalSplineFlow
    summary: eqx.Module | None
    encoder: eqx.Module | None

    def contexts(self, theta, x, mask) -> Array:
        """Per-event contexts ``(m, c)`` of one ensemble ``x (m, *event)`` with ``mask (m,)``."""
        if self.encoder is None:
            h = x.reshape(x.shape[0], -1)
        else:
            h = jax.vmap(self.encoder)(x)
        parts = [h, jnp.broadcast_to(theta, (x.shape[0], theta.shape[0]))]
        if self.summary is not None:
            s = self.summary(x, mask)
            parts.append(jnp.broadcast_to(s, (x.shape[0], s.shape[0])))
        return jnp.concatenate(parts, axis=1)

    def log_prob(self, theta, z, x, mask) -> Array:
        """Per-event ``log q(z_i | ...)`` ``(m,)`` of one ensemble (0 on padding)."""
        context = self.contexts(theta, x, mask)
        lp = jax.vmap(self.flow.log_prob)(z, context)
        return jnp.where(mask, lp, 0.0)


def _local_loss(net, batch, *, key=None):
    del key
    mask = batch["mask"]
    lp = jax.vmap(net.log_prob)(batch["theta"], batch["z"], batch["x"], mask)
    return -jnp.sum(lp) / jnp.maximum(jnp.sum(mask), 1)


def _check_z(z, x, mask) -> np.ndarray:
    z = np.asarray(z)
    if z.dtype == np.bool_ or z.dtype.kind not in "fiu":
        raise TypeError(f"z must hold real numbers (float or int), got dtype {z.dtype}")
    z = np.asarray(z, np.float32)
    if z.ndim == 2:
        z = z[..., None]
    if z.ndim != 3 or z.shape[:2] != x.shape[:2]:
        raise ValueError(
            f"z must have shape (N, m, d_z) (or (N, m) for one local parameter) matching x's "
            f"(N, m) = {x.shape[:2]}, got {z.shape}"
        )
    return np.where(mask[..., None], z, 0.0).astype(np.float32)


def _default_set_embedding(event_shape, out_features, key):
    if len(event_shape) != 1:
        raise ValueError(
            f"events of shape {event_shape} need an explicit set embedding with a per-event "
            "encoder, e.g. hepjax.nn.DeepSets(k, 16, encoder=cnn, key=key)"
        )
    return DeepSets(event_shape[0], out_features, key=key)


class HierarchicalNPE(AbstractPosteriorEstimator):
    """Global and local posteriors for hierarchical simulators over event ensembles.

    Sizes are inferred at :meth:`fit`; ``HierarchicalNPE()`` works with its
    defaults (a deep-set NPE for the global posterior, a deep-set summary in the
    local context).

    Args:
        global_estimator: the estimator of $q(\\theta \\mid X)$: any unfitted
            estimator of :mod:`hepjax.sbi` with an ``embedding`` field
            (:class:`~hepjax.sbi.NPE`, :class:`~hepjax.sbi.FMPE`,
            :class:`~hepjax.sbi.NRE`). Without an ``embedding`` it gets a
            :class:`~hepjax.nn.DeepSets` (for vector events). It
            trains with its own ``training`` options. ``None``: ``NPE()``.
        ensemble_context: condition the local posterior on a set summary $s(X)$
            of the whole ensemble (besides the event and $\\theta$).
        summary_embedding: the set embedding $s$, called as ``s(x, mask)``
            (``None``: a deep set built at fit).
        event_encoder: optional module mapping one (z-scored) event to a feature
            vector for the local context (``None``: the flattened event).
        summary_features: size of the default summary and global embeddings.
        num_transforms: coupling layers of the local spline flow.
        hidden_size: width of its conditioner MLPs (64, as for NPE).
        num_layers: hidden layers per conditioner.
        num_bins: spline bins.
        tail_bound: splines act on $[-B, B]$ of the z-scored local parameters.
        training: the :class:`~hepjax.sbi.TrainingOptions` of the local
            posterior (keyword-only); its ``batch_size`` counts ensembles.
        global_: the fitted global estimator (set by :meth:`fit`; keyword-only).
        z_std: the z-scoring of the local parameters fitted on the training data
            (set by :meth:`fit`; keyword-only).

    Example:
        ```python notest
        theta, z, x = task.simulate_with_local(key, 2000)  # x: (2000, m, d), NaN padding
        est = sbi.HierarchicalNPE().fit(key, theta, z, x)
        theta_post = est.sample(key, x_obs, 1000)  # q(theta | X)
        z_post = est.sample_local(key, x_obs, 1000)  # q(z_i | X), (1000, m, d_z)
        ```
    """

    global_estimator: Any = None
    ensemble_context: bool = True
    summary_embedding: Any = None
    event_encoder: Any = None
    summary_features: int = 16
    num_transforms: int = 4
    hidden_size: int = 64
    num_layers: int = 2
    num_bins: int = 8
    tail_bound: float = 5.0
    _: dataclasses.KW_ONLY
    global_: Any = None
    z_std: Any = None

    def __check_init__(self):
        glob = self.global_estimator
        if glob is not None and not all(
            callable(getattr(glob, m, None)) for m in ("fit", "sample", "sample_batch")
        ):
            raise TypeError(
                "global_estimator must be an sbi estimator such as sbi.NPE() (with fit, sample "
                f"and sample_batch), got {type(glob).__name__}"
            )
        if glob is not None and not hasattr(glob, "embedding"):
            raise TypeError(
                f"global_estimator must take an embedding= for ensembles (NPE, FMPE, NRE); "
                f"{type(glob).__name__} has none"
            )
        if glob is not None and getattr(glob, "is_fitted", False):
            raise ValueError("global_estimator must be unfitted: HierarchicalNPE.fit trains it")
        for name in ("summary_features", "num_transforms", "hidden_size", "num_layers", "num_bins"):
            check_positive_int(name, getattr(self, name))
        check_positive("tail_bound", self.tail_bound)

    def _require_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                "HierarchicalNPE is not fitted: call est = est.fit(key, theta, z, x) before " + what
            )

    def fit(
        self,
        key: PRNGKeyArray,
        theta: ArrayLike,
        z: ArrayLike,
        x: ArrayLike,
        mask: ArrayLike | None = None,
    ) -> "HierarchicalNPE":
        """Train on ensembles: ``theta (N, d)``, ``z (N, m, d_z)``, ``x (N, m, *event_shape)``.

        ``mask (N, m)`` marks the real events (``None``: events of ``x`` that
        are all NaN are padding); ``z`` is ignored on padding events. Ensembles
        with NaN or inf in real events are dropped (``nan_policy="drop"``, with
        a warning) or refused; an ensemble made entirely of padding is an error.
        The global estimator is trained first, then the local posterior;
        ``history`` is the local posterior's, ``global_.history`` the global one's.

        Args:
            key: PRNG key for both trainings.
            theta: ``(N, d)`` global parameters drawn from the prior.
            z: ``(N, m, d_z)`` the local parameters of each event.
            x: ``(N, m, *event_shape)`` the events of each ensemble.
            mask: ``(N, m)`` true on the real events.

        Raises:
            TypeError: non-numeric inputs.
            ValueError: wrong shapes, different numbers of rows, empty ensembles,
                ``z`` missing on a real event, or NaN rows with ``nan_policy="raise"``.
        """
        started = time.perf_counter()
        theta = as_2d_float("theta", theta)
        x = as_x_float("x", x)
        if x.ndim < 3:
            raise ValueError(
                "x must hold ensembles of shape (N, m, *event_shape) (with a mask or NaN "
                f"padding), got shape {x.shape}"
            )
        if theta.shape[0] != x.shape[0]:
            raise ValueError(
                f"theta and x must have one row per ensemble, got {theta.shape[0]} and {x.shape[0]}"
            )
        x, mask = masked_ensembles("x", x, mask)
        z = _check_z(z, x, mask)
        finite = lambda a: np.isfinite(a.reshape(a.shape[0], -1)).all(1)
        bad = ~(finite(theta) & finite(x) & finite(z))
        if bad.any():
            import warnings

            message = (
                f"{int(bad.sum())} of {theta.shape[0]} training ensembles have NaN or infinite "
                "values in theta, z or x (in real events)"
            )
            if self.training.nan_policy == "raise":
                raise ValueError(f"{message}; clean them or use nan_policy='drop'")
            warnings.warn(f"{message}; dropping them (nan_policy='drop')", stacklevel=2)
            theta, z, x, mask = theta[~bad], z[~bad], x[~bad], mask[~bad]

        event_shape = x.shape[2:]
        k_glob, k_sum, k_emb, k_flow, k_train = jax.random.split(key, 5)
        glob = self.global_estimator if self.global_estimator is not None else NPE()
        if glob.embedding is None:
            emb = _default_set_embedding(event_shape, self.summary_features, k_emb)
            glob = dataclasses.replace(glob, embedding=emb)
        glob = glob.fit(k_glob, theta, x, mask)

        theta_std, z_std, x_std = (
            Standardizer.fit(theta),
            Standardizer.fit(z, mask),
            Standardizer.fit(x, mask),
        )
        data = {
            "theta": np.asarray(theta_std.forward(theta)),
            "z": np.asarray(standardize_x(z_std, jnp.asarray(z), jnp.asarray(mask))),
            "x": np.asarray(standardize_x(x_std, jnp.asarray(x), jnp.asarray(mask))),
            "mask": mask,
        }
        summary = None
        if self.ensemble_context:
            summary = self.summary_embedding
            if summary is None:
                summary = _default_set_embedding(event_shape, self.summary_features, k_sum)
        net = _build_local(
            z.shape[2],
            theta.shape[1],
            x.shape[1:],
            summary,
            self.event_encoder,
            num_transforms=self.num_transforms,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_bins=self.num_bins,
            tail_bound=self.tail_bound,
            key=k_flow,
        )
        net, history = train_estimator(k_train, net, _local_loss, data, self.training, started)
        return dataclasses.replace(
            self,
            global_=glob,
            net=net,
            theta_std=theta_std,
            z_std=z_std,
            x_std=x_std,
            history=history,
        )

    # global posterior -------------------------------------------------------------

    def _global_method(self, name: str, what: str):
        self._require_fitted(name)
        method = getattr(self.global_, name, None)
        if method is None:
            raise TypeError(
                f"{name} needs a global estimator with {what}, e.g. "
                f"global_estimator=sbi.{'NRE' if name == 'log_ratio' else 'NPE'}(...); the "
                f"global {type(self.global_).__name__} has none"
            )
        return method

    def sample(
        self, key: PRNGKeyArray, x_obs: ArrayLike, n: int, mask: ArrayLike | None = None
    ) -> Float[Array, "n d"]:
        """``n`` samples of the global posterior $q(\\theta \\mid X_{obs})$.

        Args:
            key: PRNG key of the draw.
            x_obs: ``(m, *event_shape)`` one observed ensemble.
            n: the number of samples.
            mask: ``(m,)`` true on the real events (``None``: all-NaN events are padding).
        """
        self._require_fitted("sample")
        return self.global_.sample(key, x_obs, n, mask)

    def sample_batch(
        self, key: PRNGKeyArray, xs: ArrayLike, n: int, mask: ArrayLike | None = None
    ) -> Float[Array, "b n d"]:
        """``n`` global-posterior samples for each ensemble of ``xs (b, m, *event_shape)``.

        Args:
            key: PRNG key of the draws.
            xs: ``(b, m, *event_shape)`` observed ensembles.
            n: the number of samples per ensemble.
            mask: ``(b, m)`` true on the real events.
        """
        self._require_fitted("sample_batch")
        return self.global_.sample_batch(key, xs, n, mask)

    def log_prob(
        self, theta: ArrayLike, x_obs: ArrayLike, mask: ArrayLike | None = None
    ) -> Float[Array, "*n"]:
        """$\\log q(\\theta \\mid X_{obs})$ (global estimators with a density: NPE, FMPE).

        Args:
            theta: ``(d,)`` or ``(n, d)`` global parameter points.
            x_obs: ``(m, *event_shape)`` one observed ensemble.
            mask: ``(m,)`` true on the real events.
        """
        return self._global_method("log_prob", "a density log_prob")(theta, x_obs, mask)

    def log_ratio(
        self, theta: ArrayLike, x_obs: ArrayLike, mask: ArrayLike | None = None
    ) -> Float[Array, "*n"]:
        """$\\log r(\\theta, X_{obs})$ of a global :class:`~hepjax.sbi.NRE` (a test statistic).

        Args:
            theta: ``(d,)`` or ``(n, d)`` global parameter points.
            x_obs: ``(m, *event_shape)`` one observed ensemble.
            mask: ``(m,)`` true on the real events.
        """
        return self._global_method("log_ratio", "a ratio log_ratio")(theta, x_obs, mask)

    def relative_log_likelihood(
        self,
        theta: Float[ArrayLike, " d"],
        x: Float[ArrayLike, "m ..."],
        mask: ArrayLike | None = None,
    ) -> Float[Array, ""]:
        """The global estimator's log likelihood of the ensemble, up to a function of ``x``.

        Args:
            theta: ``(d,)`` one global parameter point.
            x: ``(m, *event_shape)`` one ensemble.
            mask: ``(m,)`` true on the real events.
        """
        self._require_fitted("relative_log_likelihood")
        return self.global_.relative_log_likelihood(theta, x, mask)

    # local posterior --------------------------------------------------------------

    def _check_theta(self, theta) -> Array:
        d = self.theta_std.shift.shape[0]
        theta = jnp.asarray(theta, jnp.float32)
        if theta.shape != (d,):
            raise ValueError(
                f"theta must be one global parameter vector of shape ({d},), got {theta.shape}"
            )
        return theta

    def sample_local(
        self,
        key: PRNGKeyArray,
        x_obs: ArrayLike,
        n: int,
        theta: ArrayLike | None = None,
        mask: ArrayLike | None = None,
    ) -> Float[Array, "n m dz"]:
        """``n`` joint samples of every event's local parameters, ``(n, m, d_z)``.

        With ``theta``, samples $q(z_i \\mid x_i, \\theta, s(X))$ at that global
        parameter; without, each sample first draws $\\theta$ from the global
        posterior, so the result is $q(z_i \\mid X)$. Padding events are NaN.

        Args:
            key: PRNG key of the draw.
            x_obs: ``(m, *event_shape)`` one observed ensemble.
            n: the number of joint samples.
            theta: ``(d,)`` a global parameter to condition on, or ``None`` to marginalise over the
                global posterior.
            mask: ``(m,)`` true on the real events.
        """
        self._require_fitted("sample_local")
        x_obs, mask = self._observation(x_obs, mask)
        n = check_num_samples(n)
        k_theta, k_z = jax.random.split(key)
        if theta is None:
            thetas = jnp.asarray(self.global_.sample(k_theta, x_obs, n, mask), jnp.float32)
        else:
            thetas = jnp.broadcast_to(self._check_theta(theta), (n, self.theta_std.shift.shape[0]))
        return _sample_local(
            self.net, self.theta_std, self.z_std, self.x_std, k_z, thetas, x_obs, mask
        )

    def log_prob_local(
        self, z: ArrayLike, x_obs: ArrayLike, theta: ArrayLike, mask: ArrayLike | None = None
    ) -> Float[Array, " m"]:
        """$\\log q(z_i \\mid x_i, \\theta, s(X))$ per event ``(m,)`` (NaN on padding).

        Args:
            z: ``(m, d_z)`` local parameters, one row per event.
            x_obs: ``(m, *event_shape)`` the observed ensemble.
            theta: ``(d,)`` the global parameter conditioned on.
            mask: ``(m,)`` true on the real events.
        """
        self._require_fitted("log_prob_local")
        x_obs, mask = self._observation(x_obs, mask)
        theta = self._check_theta(theta)
        dz = self.z_std.shift.shape[0]
        z = jnp.asarray(z, jnp.float32)
        if z.ndim == 1 and dz == 1:
            z = z[:, None]
        if z.shape != (x_obs.shape[0], dz):
            raise ValueError(f"z must have shape ({x_obs.shape[0]}, {dz}), got {z.shape}")
        z = jnp.where(mask[:, None], z, 0.0)
        return _log_prob_local(
            self.net, self.theta_std, self.z_std, self.x_std, z, x_obs, mask, theta
        )


@eqx.filter_jit
def _build_local(dz, dtheta, x_shape, summary, encoder, *, key, **flow_kwargs):
    x0 = jnp.zeros(x_shape, jnp.float32)
    mask0 = jnp.ones(x_shape[:1], bool)
    h = x0.reshape(x_shape[0], -1) if encoder is None else jax.vmap(encoder)(x0)
    context_dim = h.shape[1] + dtheta
    if summary is not None:
        context_dim += summary(x0, mask0).shape[0]
    flow = ConditionalSplineFlow(dz, context_dim, key=key, **flow_kwargs)
    return LocalPosteriorNet(flow, summary, encoder)


@eqx.filter_jit
def _sample_local(net, theta_std, z_std, x_std, key, thetas, x_obs, mask):
    x_z = standardize_x(x_std, x_obs, mask)
    m = x_obs.shape[0]

    def one(k, theta):
        context = net.contexts(theta_std.forward(theta), x_z, mask)
        keys = jax.random.split(k, m)
        z = jax.vmap(net.flow.sample)(keys, context)
        return jnp.where(mask[:, None], z_std.inverse(z), jnp.nan)

    return jax.vmap(one)(jax.random.split(key, thetas.shape[0]), thetas)


@eqx.filter_jit
def _log_prob_local(net, theta_std, z_std, x_std, z, x_obs, mask, theta):
    x_z = standardize_x(x_std, x_obs, mask)
    z_z = standardize_x(z_std, z, mask)
    lp = net.log_prob(theta_std.forward(theta), z_z, x_z, mask)
    return jnp.where(mask, lp + z_std.log_det(), jnp.nan)
