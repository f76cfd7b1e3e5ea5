r"""Sharpness-aware minimisation (SAM) and sparse SAM as Optax transformations for ``fit``.

SAM (Foret et al., arXiv:2010.01412) minimises the loss at the worst point of a
ball of radius $\rho$ around the weights, to first order

.. math::
    \hat\epsilon = \rho\,\frac{g}{\|g\|},\qquad g = \nabla\mathcal{L}(\theta),\qquad
    \theta \leftarrow \theta - \eta\,\nabla\mathcal{L}(\theta + \hat\epsilon).

Both are built on :func:`optax.contrib.sam` in its transparent mode with a
synchronisation period of 2: one SAM update takes **two** calls of
:func:`hepjax.train.fit`'s step (the first moves to $\theta + \hat\epsilon$,
the second applies the outer optimizer at the cached $\theta$ with the gradient
found there), so ``fit(..., steps=2 * n)`` makes ``n`` SAM updates and the
losses at odd steps are those of the perturbed weights.

The ascent direction is normalised with a guard: a zero gradient gives a zero
perturbation instead of ``0/0``.

Sparse SAM (Mi et al., arXiv:2210.05177) perturbs only the fraction of
parameters with the largest empirical Fisher information
$F_i \approx \mathbb{E}[g_i^2]$, here an exponential moving average of the
squared gradients at the unperturbed weights:

.. math::
    \hat\epsilon = \rho\,\frac{m \odot g}{\|m \odot g\|},\qquad
    m_i = [F_i \ge F_{(k)}],\quad k = \lceil \text{fraction}\cdot n\rceil.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from .._core import check_positive


def _safe_normalize() -> optax.GradientTransformation:
    r"""$g / \|g\|$, and $0$ for a zero gradient (the zero-norm guard)."""

    def update(updates, state, params=None):
        del params
        norm = optax.tree.norm(updates)
        scale = jnp.where(norm > 0, 1.0 / jnp.where(norm > 0, norm, 1.0), 0.0)
        return jax.tree.map(lambda g: g * scale.astype(g.dtype), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


class FisherMaskState(NamedTuple):
    """The moving average of squared gradients of :func:`sparse_sam`."""

    fisher: optax.Params


def _fisher_mask(fraction: float, decay: float) -> optax.GradientTransformation:
    """Zero every update outside the top ``fraction`` of parameters by the EMA of ``g**2``."""

    def init(params):
        return FisherMaskState(jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params=None):
        del params
        fisher = jax.tree.map(lambda f, g: decay * f + (1 - decay) * g * g, state.fisher, updates)
        flat = jnp.concatenate([jnp.ravel(f) for f in jax.tree.leaves(fisher)])
        k = max(1, math.ceil(fraction * flat.size))
        threshold = jax.lax.top_k(flat, k)[0][-1]
        masked = jax.tree.map(lambda g, f: jnp.where(f >= threshold, g, 0.0), updates, fisher)
        return masked, FisherMaskState(fisher)

    return optax.GradientTransformation(init, update)


def sam(
    optimizer: optax.GradientTransformation, rho: float = 0.05
) -> optax.GradientTransformationExtraArgs:
    r"""SAM around ``optimizer``: :func:`optax.contrib.sam` with a guarded normalised ascent step.

    Args:
        optimizer: the outer optimizer, e.g. ``optax.adam(1e-3)``.
        rho: the radius $\rho$ of the weight perturbation (Foret et al.: 0.05), ``>= 0``.

    Returns:
        An Optax transformation; pass it to :func:`hepjax.train.fit` with twice
        the number of steps (see the module notes).
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {optimizer!r}")
    check_positive("rho", rho, allow_zero=True)
    adversary = optax.chain(_safe_normalize(), optax.sgd(rho))
    return optax.contrib.sam(optimizer, adversary, sync_period=2)


def sparse_sam(
    optimizer: optax.GradientTransformation,
    rho: float = 0.05,
    fraction: float = 0.5,
    *,
    fisher_decay: float = 0.9,
) -> optax.GradientTransformationExtraArgs:
    r"""Sparse SAM: only the top ``fraction`` of parameters by empirical Fisher are perturbed.

    Args:
        optimizer: the outer optimizer.
        rho: the radius of the (sparse) weight perturbation, ``>= 0``.
        fraction: the fraction of parameters perturbed, in ``(0, 1]`` (Mi et
            al. perturb 50%, i.e. sparsity 0.5).
        fisher_decay: decay of the moving average of squared gradients, in
            ``[0, 1)``; ``0`` ranks by the current gradient's magnitude.

    Returns:
        An Optax transformation for :func:`hepjax.train.fit` (two steps per update).
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {optimizer!r}")
    check_positive("rho", rho, allow_zero=True)
    check_positive("fraction", fraction)
    if fraction > 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if not 0.0 <= fisher_decay < 1.0:
        raise ValueError(f"fisher_decay must be in [0, 1), got {fisher_decay!r}")
    adversary = optax.chain(
        _fisher_mask(float(fraction), float(fisher_decay)), _safe_normalize(), optax.sgd(rho)
    )
    # keep the Fisher average across SAM updates (its other states are empty)
    return optax.contrib.sam(optimizer, adversary, sync_period=2, reset_state=False)
