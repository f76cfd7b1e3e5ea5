r"""Variational estimators of the mutual information $I(X; Y)$ from samples.

Each estimator maximises a lower bound of $I(X;Y)$ over a *critic*
$T(x, y)$ on a training half of the pairs, then evaluates the bound on the
other half (Poole, Ozair, van den Oord, Alemi & Tucker, "On variational
bounds of mutual information", arXiv:1905.06922, the reference for all three
bounds below). With $S_{ij} = T(x_i, y_j)$ on $n$ held-out pairs (the
diagonal are samples of the joint $p(x, y)$, the off-diagonal of the product
of marginals $p(x)p(y)$):

* **MINE** (Belghazi et al., arXiv:1801.04062), the Donsker-Varadhan bound
  $I \ge \mathbb{E}_p[T] - \log \mathbb{E}_{p(x)p(y)}[e^T]$. Its minibatch
  gradient is biased by the logarithm of a minibatch mean; MINE replaces the
  denominator of $\nabla \log \mathbb{E}[e^T] = \nabla\mathbb{E}[e^T] /
  \mathbb{E}[e^T]$ by an exponential moving average $m \leftarrow \beta m +
  (1-\beta)\,\overline{e^T}$ (their Sec. 3.2).
* **NWJ** (Nguyen, Wainwright & Jordan 2010; "$f$-GAN KL"):
  $I \ge \mathbb{E}_p[T] - e^{-1}\mathbb{E}_{p(x)p(y)}[e^T]$, unbiased in
  minibatches, optimal at $T^* = 1 + \log p(x,y)/(p(x)p(y))$.
* **InfoNCE** (van den Oord, Li & Vinyals, arXiv:1807.03748):
  $I \ge \mathbb{E}\bigl[\frac1n\sum_i \log \frac{e^{S_{ii}}}{\frac1n\sum_j e^{S_{ij}}}\bigr]$,
  low variance but bounded by $\log n$: use it where $I$ is well below the
  logarithm of the evaluation batch.

The critic is *separable*, $T(x, y) = g(x)\cdot h(y)$ with two MLPs
(Poole et al. Sec. 4), so the $n\times n$ score matrix costs two network
passes. Training runs through :func:`hepjax.train.fit`.

The reported standard errors are those of the mean over the $n$ held-out
rows (for DV, the delta method on the logarithm). They measure the
evaluation noise, not the bias of a bound or of an under-trained critic.
"""

from __future__ import annotations

import abc
import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import as_2d_float, check_positive, check_positive_int

__all__ = [
    "MINE",
    "NWJ",
    "AbstractMIEstimator",
    "InfoNCE",
    "MutualInformationResult",
    "SeparableCritic",
    "mutual_information",
]


class MutualInformationResult(NamedTuple):
    """What :func:`mutual_information` returns; unpacks as ``estimate, error``.

    Attributes:
        estimate: the bound evaluated on the held-out pairs, in nats.
        error: its standard error over the held-out rows (module docstring).
    """

    estimate: float
    error: float


class SeparableCritic(eqx.Module):
    """$T(x, y) = g(x)\\cdot h(y)$ with two MLPs; ``scores(x, y)[i, j] = T(x_i, y_j)``.

    Args:
        x_size: dimension of $x$.
        y_size: dimension of $y$.
        hidden_size: width of the hidden layers.
        num_layers: hidden layers of each MLP.
        embed_size: dimension of $g$ and $h$.
        key: PRNG key (keyword-only).
    """

    g: eqx.nn.MLP
    h: eqx.nn.MLP

    def __init__(
        self,
        x_size: int,
        y_size: int,
        *,
        hidden_size: int = 64,
        num_layers: int = 2,
        embed_size: int = 32,
        key: PRNGKeyArray,
    ):
        kg, kh = jax.random.split(key)
        mlp = lambda size, k: eqx.nn.MLP(
            size, embed_size, hidden_size, num_layers, activation=jax.nn.silu, key=k
        )
        self.g = mlp(x_size, kg)
        self.h = mlp(y_size, kh)

    def scores(self, x: Float[Array, "n dx"], y: Float[Array, "n dy"]) -> Float[Array, "n n"]:
        """The score matrix $S_{ij} = g(x_i)\\cdot h(y_j)$."""
        return jax.vmap(self.g)(x) @ jax.vmap(self.h)(y).T


def _off_diagonal_mean(a: Array) -> Array:
    n = a.shape[0]
    return (jnp.sum(a) - jnp.trace(a)) / (n * (n - 1))


class AbstractMIEstimator(eqx.Module):
    """A variational bound of $I(X;Y)$ and how its critic is trained.

    Attributes:
        num_steps: optimiser steps of the critic.
        batch_size: pairs per training step.
        learning_rate: Adam's learning rate.
        hidden_size: width of the critic's MLPs.
        num_layers: hidden layers of each MLP.
        embed_size: dimension of the separable critic's embeddings.
        test_fraction: the fraction of the pairs held out to evaluate the bound.
    """

    num_steps: eqx.AbstractVar[int]
    batch_size: eqx.AbstractVar[int]
    learning_rate: eqx.AbstractVar[float]
    hidden_size: eqx.AbstractVar[int]
    num_layers: eqx.AbstractVar[int]
    embed_size: eqx.AbstractVar[int]
    test_fraction: eqx.AbstractVar[float]

    @abc.abstractmethod
    def bound(self, scores: Float[ArrayLike, "n n"]) -> tuple[Array, Array]:
        """``(estimate, standard error)`` of the bound from a score matrix
        $S_{ij} = T(x_i, y_j)$ (diagonal: joint pairs). Differentiable in ``scores``.
        """
        ...

    def training_loss(self, model, batch):
        """Minus the bound on one minibatch (the loss of :func:`hepjax.train.fit`)."""
        critic, x, y = model, batch[0], batch[1]
        return -self.bound(critic.scores(x, y))[0]

    def optimizer(self) -> optax.GradientTransformation:
        """The critic's optimiser."""
        return optax.adam(self.learning_rate)

    def initial_model(self, critic: SeparableCritic):
        """The model :func:`fit` trains (the critic, plus any state of the estimator)."""
        return critic

    def critic_of(self, model) -> SeparableCritic:
        """The critic inside the trained model."""
        return model


def _check_fields(est: AbstractMIEstimator) -> None:
    for name in ("num_steps", "batch_size", "hidden_size", "num_layers", "embed_size"):
        check_positive_int(name, getattr(est, name))
    if est.batch_size < 2:
        raise ValueError(f"batch_size must be at least 2, got {est.batch_size}")
    check_positive("learning_rate", est.learning_rate)
    if not 0.0 < est.test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {est.test_fraction}")


class InfoNCE(AbstractMIEstimator):
    """The InfoNCE bound (module docstring); bounded by $\\log n$ of the batch.

    The training fields (``num_steps``, ``batch_size``, ``learning_rate``,
    ``hidden_size``, ``num_layers``, ``embed_size``, ``test_fraction``) are those of
    :class:`AbstractMIEstimator`.
    """

    num_steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 1e-3
    hidden_size: int = 64
    num_layers: int = 2
    embed_size: int = 32
    test_fraction: float = 0.5

    def __check_init__(self):
        _check_fields(self)

    def bound(self, scores):
        s = jnp.asarray(scores)
        n = s.shape[0]
        terms = jnp.diagonal(s) - jax.nn.logsumexp(s, axis=1) + math.log(n)
        return jnp.mean(terms), jnp.std(terms) / math.sqrt(n)


class NWJ(AbstractMIEstimator):
    """The NWJ bound (module docstring).

    The training fields (``num_steps``, ``batch_size``, ``learning_rate``,
    ``hidden_size``, ``num_layers``, ``embed_size``, ``test_fraction``) are those of
    :class:`AbstractMIEstimator`.
    """

    num_steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 1e-3
    hidden_size: int = 64
    num_layers: int = 2
    embed_size: int = 32
    test_fraction: float = 0.5

    def __check_init__(self):
        _check_fields(self)

    def bound(self, scores):
        s = jnp.asarray(scores)
        n = s.shape[0]
        # exp(S_ij - 1) off the diagonal, averaged per row, in a stable form
        e = jnp.exp(s - 1.0) * (1.0 - jnp.eye(n, dtype=s.dtype))
        terms = jnp.diagonal(s) - jnp.sum(e, axis=1) / (n - 1)
        return jnp.mean(terms), jnp.std(terms) / math.sqrt(n)


class _MineModel(eqx.Module):
    critic: SeparableCritic
    average: Array  # the moving average m of E_q[e^T]


class MINE(AbstractMIEstimator):
    """MINE: the Donsker-Varadhan bound with a moving-average gradient (module docstring).

    The training fields (``num_steps``, ``batch_size``, ``learning_rate``,
    ``hidden_size``, ``num_layers``, ``embed_size``, ``test_fraction``) are those of
    :class:`AbstractMIEstimator`.

    Attributes:
        average_decay: $\\beta$ of the moving average $m$.
    """

    num_steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 1e-3
    hidden_size: int = 64
    num_layers: int = 2
    embed_size: int = 32
    test_fraction: float = 0.5
    average_decay: float = 0.99

    def __check_init__(self):
        _check_fields(self)
        if not 0.0 <= self.average_decay < 1.0:
            raise ValueError(f"average_decay must be in [0, 1), got {self.average_decay}")

    def bound(self, scores):
        s = jnp.asarray(scores)
        n = s.shape[0]
        off = 1.0 - jnp.eye(n, dtype=s.dtype)
        shift = jax.lax.stop_gradient(jnp.max(s))
        rows = jnp.sum(jnp.exp(s - shift) * off, axis=1) / (n - 1)
        mean_exp = jnp.mean(rows)
        joint = jnp.diagonal(s)
        estimate = jnp.mean(joint) - (jnp.log(mean_exp) + shift)
        var = jnp.var(joint) / n + jnp.var(rows) / (n * mean_exp**2)
        return estimate, jnp.sqrt(var)

    def initial_model(self, critic):
        return _MineModel(critic, jnp.ones((), jnp.float32))

    def critic_of(self, model):
        return model.critic

    def training_loss(self, model, batch):
        s = model.critic.scores(batch[0], batch[1])
        n = s.shape[0]
        joint = jnp.mean(jnp.diagonal(s))
        # E_q[e^T] on the batch, without a shift: the critic's scores stay O(10)
        batch_exp = _off_diagonal_mean(jnp.exp(jnp.minimum(s, 30.0)))
        m = model.average
        new_m = self.average_decay * jax.lax.stop_gradient(m) + (1.0 - self.average_decay) * (
            jax.lax.stop_gradient(batch_exp)
        )
        # gradient of log E[e^T] with the denominator replaced by the moving average
        loss = -(joint - batch_exp / new_m)
        # the moving average is a leaf trained by SGD with rate 1: the gradient of
        # this zero-valued term is m - new_m, so the update sets m <- new_m
        anchor = (m - jax.lax.stop_gradient(m)) * jax.lax.stop_gradient(m - new_m)
        del n
        return loss + anchor

    def optimizer(self):
        def labels(params):
            tree = jax.tree.map(lambda _: "critic", params)
            return eqx.tree_at(lambda t: t.average, tree, "average")

        return optax.multi_transform(
            {"critic": optax.adam(self.learning_rate), "average": optax.sgd(1.0)}, labels
        )


def _standardise(train: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return [((a - mean) / std).astype(np.float32) for a in (train, *arrays)]


def mutual_information(
    key: PRNGKeyArray,
    x: ArrayLike,
    y: ArrayLike,
    estimator: AbstractMIEstimator | None = None,
    *,
    eval_size: int = 4096,
) -> MutualInformationResult:
    r"""Estimate $I(X;Y)$ in nats from ``n`` paired samples.

    Trains a separable critic on a random ``1 - estimator.test_fraction`` of the
    pairs with :func:`hepjax.train.fit` and evaluates ``estimator``'s bound on
    the rest (module docstring). One-dimensional inputs are read as ``(n, 1)``.

    Args:
        key: PRNG key (split, permutation, critic initialisation, minibatches).
        x: samples of $X$, ``(n, dx)`` or ``(n,)``.
        y: samples of $Y$ paired with ``x``, ``(n, dy)`` or ``(n,)``.
        estimator: :class:`InfoNCE` (default), :class:`NWJ` or :class:`MINE`.
        eval_size: the held-out pairs are evaluated in blocks of this size (the
            score matrix of a block is ``eval_size**2``); the blocks' bounds are
            averaged and their standard errors combined. InfoNCE's ceiling is
            $\log$ of the block size.

    Returns:
        A :class:`MutualInformationResult` ``(estimate, error)``.

    Example:
        ```python
        estimate, error = design.mutual_information(key, x, y, estimator=design.NWJ())
        ```
    """
    from hepjax.train import fit

    if estimator is None:
        estimator = InfoNCE()
    if not isinstance(estimator, AbstractMIEstimator):
        raise TypeError(
            "estimator must be a hepjax.design MI estimator (InfoNCE(), NWJ(), MINE()), "
            f"got {type(estimator).__name__}"
        )
    xs = as_2d_float("x", x)
    ys = as_2d_float("y", y)
    if xs.shape[0] != ys.shape[0]:
        raise ValueError(f"x and y must pair up: got {xs.shape[0]} and {ys.shape[0]} samples")
    n = xs.shape[0]
    n_test = round(n * estimator.test_fraction)
    n_train = n - n_test
    if n_test < 2 or n_train < estimator.batch_size:
        raise ValueError(
            f"{n} samples are too few: need at least batch_size={estimator.batch_size} "
            f"for training and 2 held out (test_fraction={estimator.test_fraction})"
        )
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise ValueError("x and y must be finite")
    k_perm, k_init, k_fit = jax.random.split(key, 3)
    order = np.asarray(jax.random.permutation(k_perm, n))
    train, test = order[:n_train], order[n_train:]
    x_train, x_test = _standardise(xs[train], xs[test])
    y_train, y_test = _standardise(ys[train], ys[test])
    critic = SeparableCritic(
        xs.shape[1],
        ys.shape[1],
        hidden_size=estimator.hidden_size,
        num_layers=estimator.num_layers,
        embed_size=estimator.embed_size,
        key=k_init,
    )
    seed = int(jax.random.randint(k_fit, (), 0, 2**31 - 1))
    batch_size = estimator.batch_size

    def batches(step: int):
        idx = np.random.default_rng((seed, step)).choice(n_train, batch_size, replace=False)
        return x_train[idx], y_train[idx]

    result = fit(
        estimator.initial_model(critic),
        estimator.training_loss,
        estimator.optimizer(),
        batches,
        steps=estimator.num_steps,
        key=k_fit,
        steps_per_call=min(50, estimator.num_steps),
        progress=False,
    )
    trained = estimator.critic_of(result.model)
    eval_size = check_positive_int("eval_size", eval_size)
    num_blocks = max(1, n_test // eval_size)
    bounds = jax.jit(lambda x, y: estimator.bound(trained.scores(x, y)))
    values, errors = [], []
    for x_b, y_b in zip(
        np.array_split(x_test, num_blocks), np.array_split(y_test, num_blocks), strict=True
    ):
        v, e = bounds(jnp.asarray(x_b), jnp.asarray(y_b))
        values.append(float(v))
        errors.append(float(e))
    estimate = float(np.mean(values))
    error = float(np.sqrt(np.sum(np.square(errors))) / num_blocks)
    return MutualInformationResult(estimate, error)
