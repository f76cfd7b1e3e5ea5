r"""Flow-matching posterior estimation (FMPE).

A vector field $v_\phi(t, \theta_t, x)$ is regressed on the conditional
optimal-transport velocity between a standard-normal $\theta_0$ and the
simulated parameters $\theta_1$ (Dax et al. 2023, arXiv:2305.17161),

.. math::
    \mathcal L(\phi) = \mathbb E_{t, \theta_0, (\theta_1, x)}
    \big\| v_\phi(t, \theta_t, x) - u_t(\theta_0, \theta_1) \big\|^2,

with $\theta_t = (1 - (1-\sigma_{\min})t)\,\theta_0 + t\,\theta_1$
(:class:`hepjax.generative.CondOT`).
Posterior samples integrate $\dot\theta = v_\phi(t, \theta, x_{obs})$ from
$t = 0$ to $1$ (:func:`hepjax.generative.sample_ode`). Parameters and data are
z-scored inside the estimator.
"""

import dataclasses
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..generative import CondOT, flow_matching_loss, sample_ode
from ._context import embed
from ._data import check_num_samples, check_observation
from ._npe import AbstractPosteriorEstimator, _prepare, _sample_one
from ._training import check_training_options


class ConditionalVectorField(eqx.Module):
    """An MLP vector field ``v(t, theta, args)`` with ``args["cond"]`` the (z-scored) data."""

    mlp: eqx.nn.MLP
    embedding: eqx.Module
    num_frequencies: int = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        context_dim: int,
        *,
        embedding: eqx.Module | None = None,
        hidden_features: int = 128,
        depth: int = 4,
        num_frequencies: int = 4,
        key: PRNGKeyArray,
    ):
        self.embedding = eqx.nn.Identity() if embedding is None else embedding
        self.num_frequencies = num_frequencies
        size = 1 + 2 * num_frequencies + dim + context_dim
        self.mlp = eqx.nn.MLP(size, dim, hidden_features, depth, activation=jax.nn.silu, key=key)

    def __call__(self, t, theta: Float[Array, " d"], args) -> Float[Array, " d"]:
        t = jnp.asarray(t, theta.dtype)
        freqs = jnp.pi * 2.0 ** jnp.arange(self.num_frequencies, dtype=theta.dtype)
        time_features = jnp.concatenate([t[None], jnp.sin(freqs * t), jnp.cos(freqs * t)])
        context = embed(self.embedding, args["cond"])
        return self.mlp(jnp.concatenate([time_features, theta, context]))


def _fmpe_loss(field, batch, *, key):
    return flow_matching_loss(field, batch["theta"], key=key, cond=batch["x"], path=CondOT())


@eqx.filter_jit
def _make_field(*args, **kwargs):
    return ConditionalVectorField(*args, **kwargs)


class FMPE(AbstractPosteriorEstimator):
    """Flow-matching posterior estimation with an MLP vector field conditioned on ``x``.

    Args:
        hidden_features: width of the vector-field MLP.
        depth: hidden layers of the MLP.
        embedding: optional Equinox module mapping one z-scored ``x`` to features.
        num_steps: fixed midpoint steps of the sampling ODE (``None``: adaptive Dopri5).
        batch_size: training batch size.
        learning_rate: Adam learning rate.
        max_steps: upper limit on optimizer steps.
        validation_fraction: fraction of simulations held out for early stopping.
        patience: stop after this many epochs without a better validation loss.
        clip_norm: gradient clipping (global norm), or ``None``.
        nan_policy: ``"drop"`` (with a warning) or ``"raise"`` on NaN/inf rows.
        progress: show a progress bar (default: when stderr is a terminal).
    """

    hidden_features: int = 128
    depth: int = 4
    embedding: Any = None
    num_steps: int | None = 50
    batch_size: int = 200
    learning_rate: float = 1e-3
    max_steps: int = 20_000
    validation_fraction: float = 0.1
    patience: int = 30
    clip_norm: float | None = 5.0
    nan_policy: str = "drop"
    progress: bool | None = eqx.field(default=None, static=True)
    net: Any = None
    theta_std: Any = None
    x_std: Any = None
    history: Any = None

    def __check_init__(self):
        for name in ("hidden_features", "depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.num_steps is not None and (
            not isinstance(self.num_steps, int) or self.num_steps < 1
        ):
            raise ValueError(f"num_steps must be a positive int or None, got {self.num_steps!r}")
        if self.nan_policy not in ("drop", "raise"):
            raise ValueError(f"nan_policy must be 'drop' or 'raise', got {self.nan_policy!r}")
        check_training_options(
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            max_steps=self.max_steps,
            validation_fraction=self.validation_fraction,
            patience=self.patience,
        )

    def fit(self, key: PRNGKeyArray, theta: ArrayLike, x: ArrayLike) -> "FMPE":
        """Train on ``theta (n, d)`` and ``x (n, dx)``; returns the fitted estimator."""
        started = time.perf_counter()
        theta, x, theta_std, x_std, data, context_dim = _prepare(
            key, theta, x, self.nan_policy, self.embedding
        )
        k_init, k_train = jax.random.split(key)
        field = _make_field(
            theta.shape[1],
            context_dim,
            embedding=self.embedding,
            hidden_features=self.hidden_features,
            depth=self.depth,
            key=k_init,
        )
        field, history = self._train(k_train, field, _fmpe_loss, data, started)
        return dataclasses.replace(
            self, net=field, theta_std=theta_std, x_std=x_std, history=history
        )

    def _sampler_options(self) -> tuple:
        return (self.num_steps,)

    @staticmethod
    def _sample_z(net, key, x_z, n, options):
        (num_steps,) = options
        dim = net.mlp.out_size
        solver = "midpoint" if num_steps is not None else "dopri5"

        def one(k):
            x0 = jax.random.normal(k, (dim,))
            return sample_ode(net, x0, cond=x_z, solver=solver, num_steps=num_steps)

        return jax.vmap(one)(jax.random.split(key, n))

    def sample(self, key: PRNGKeyArray, x_obs: ArrayLike, n: int) -> Float[Array, "n d"]:
        """``n`` posterior samples for ``x_obs``, by integrating the learned flow."""
        self._require_fitted("sample")
        x_obs = check_observation(x_obs, self.x_std, "FMPE")
        n = check_num_samples(n)
        return _sample_one(
            FMPE._sample_z, self.net, self.theta_std, self.x_std, key, x_obs, n, (self.num_steps,)
        )
