r"""The Galton-Watson branching process with a fixed-capacity population buffer.

Generation $n+1$ consists of the children of the $Z_n$ individuals of
generation $n$; each has an independent number of children with mean $m$:
Poisson($m$), or Binomial($N$, $m/N$). With $Z_0=z_0$,
$E[Z_n]=z_0\,m^n$ and $\partial_m E[Z_n]=n\,z_0\,m^{n-1}$ (Harris, *The
Theory of Branching Processes*, 1963), exact references for gradient
estimators. Each individual draws its own offspring count with a
:mod:`hepjax.estimators` primitive, so the alternative path of a changed count
has one more or one fewer individual in every later generation.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float

import hepjax.estimators as hje
from hepjax._core import check_choice, check_positive_int, concrete_value

from ._buffer import float_dtype

OFFSPRING = ("poisson", "binomial")


class GaltonWatson(eqx.Module):
    """Result of :func:`galton_watson` (batch with ``jax.vmap``).

    Attributes:
        sizes: ``(n_generations + 1,)`` population of each generation (floats
            with integer values), starting with $Z_0$.
        overflow: ``True`` if a generation had more individuals than
            ``capacity``; from then on only ``capacity`` of them reproduce and
            the later sizes are lower bounds.
    """

    sizes: Float[Array, " g"]
    overflow: Bool[Array, ""]


def galton_watson(
    key: ArrayLike,
    m: Float[ArrayLike, ""],
    n_generations: int,
    *,
    capacity: int,
    offspring: str = "poisson",
    max_offspring: int = 4,
    initial: int = 1,
) -> GaltonWatson:
    r"""Simulate ``n_generations`` of a Galton-Watson process with offspring mean ``m``.

    Args:
        key: a PRNG key.
        m: the offspring mean (differentiable).
        n_generations: number of generations after the first (static).
        capacity: the most individuals one generation can hold (static,
            ``>= initial``).
        offspring: ``"poisson"`` (Poisson($m$) children) or ``"binomial"``
            (Binomial(``max_offspring``, $m/N$) children, needs $m\le N$).
        max_offspring: $N$ for binomial offspring.
        initial: $Z_0$.

    Returns:
        A :class:`GaltonWatson` with ``sizes`` $(Z_0,\dots,Z_n)$ and ``overflow``.
    """
    check_choice("offspring", offspring, OFFSPRING)
    check_positive_int("n_generations", n_generations)
    check_positive_int("initial", initial)
    check_positive_int("max_offspring", max_offspring)
    check_positive_int("capacity", capacity)
    if capacity < initial:
        raise ValueError(
            f"capacity={capacity} is too small for the start state of initial={initial} individuals"
        )
    m = jnp.asarray(m)
    if m.shape != ():
        raise ValueError(f"m must be a scalar (the offspring mean), got shape {m.shape}")
    m = m.astype(float_dtype(m))
    mv = concrete_value(m)
    if mv is not None and offspring == "binomial" and not 0 <= float(mv) <= max_offspring:
        raise ValueError(
            f"m must be in [0, max_offspring={max_offspring}] so that the binomial "
            f"probability m/N is in [0, 1], got {float(mv)}"
        )
    if mv is not None and not (float(mv) >= 0 and np.isfinite(mv)):
        raise ValueError(f"m must be a finite offspring mean >= 0, got {float(mv)}")
    dtype = m.dtype
    slots = jnp.arange(capacity)

    def gen(carry, g):
        z, over = carry
        mask = (slots < z).astype(dtype)
        k = jax.random.fold_in(key, g)
        if offspring == "poisson":
            kids = hje.poisson(k, m * mask)
        else:
            kids = hje.binomial(k, max_offspring * mask, m / max_offspring * mask)
        total = jnp.sum(kids)
        over = over | (total > capacity)
        z_next = jnp.minimum(total, capacity)
        return (z_next, over), total

    z0 = jnp.asarray(initial, dtype)
    (_, over), totals = lax.scan(gen, (z0, jnp.zeros((), bool)), jnp.arange(n_generations))
    return GaltonWatson(jnp.concatenate([z0[None], totals]), over)
