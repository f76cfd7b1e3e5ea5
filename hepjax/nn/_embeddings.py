r"""Time and Fourier-feature embeddings for vector fields and denoisers.

- :class:`SinusoidalEmbedding`: the fixed transformer/DDPM embedding of a
  scalar (Vaswani et al. 2017; Ho et al. 2020),
  $[\sin(\omega_k s t), \cos(\omega_k s t)]_k$ with geometric frequencies
  $\omega_k = P^{-k/(K-1)}$, $k = 0..K-1$.
- :class:`GaussianFourierFeatures`: random Fourier features
  $[\sin 2\pi Bx, \cos 2\pi Bx]$ with fixed $B \sim \mathcal N(0, \sigma^2)$
  (Tancik et al. 2020, arXiv:2006.10739; used for noise levels by Song et al.
  2021). $B$ is held fixed: gradients do not flow into it.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_positive_int


class SinusoidalEmbedding(eqx.Module):
    r"""Sinusoidal embedding of a scalar time or noise level into ``dim`` features.

    Attributes:
        dim: the output size, an even number.
        max_period: $P$, the ratio of the fastest to the slowest frequency.
        scale: $s$, multiplies the input (e.g. ``1000`` for $t \in [0, 1]$
            with transformer-sized models; the default suits small MLPs).
    """

    dim: int = eqx.field(static=True)
    max_period: float = eqx.field(default=100.0, static=True)
    scale: float = eqx.field(default=1.0, static=True)

    def __check_init__(self):
        check_positive_int("dim", self.dim)
        if self.dim % 2:
            raise ValueError(f"dim must be even, got {self.dim}")
        if not self.max_period > 1:
            raise ValueError(f"max_period must be > 1, got {self.max_period!r}")

    def __call__(self, t: Float[ArrayLike, ""]) -> Float[Array, " dim"]:
        """Embed one scalar ``t``."""
        t = jnp.asarray(t)
        if t.ndim != 0:
            raise ValueError(f"t must be a scalar (vmap for batches), got shape {t.shape}")
        half = self.dim // 2
        k = jnp.arange(half, dtype=t.dtype if jnp.issubdtype(t.dtype, jnp.floating) else None)
        freqs = jnp.exp(-math.log(self.max_period) * k / max(half - 1, 1))
        angle = self.scale * t * freqs
        return jnp.concatenate([jnp.sin(angle), jnp.cos(angle)])


class GaussianFourierFeatures(eqx.Module):
    r"""Random Fourier features $[\sin 2\pi Bx, \cos 2\pi Bx]$ of a vector (or scalar) input.

    Args:
        in_features: the input size, or ``"scalar"`` for a 0-d input.
        num_frequencies: the number of rows of $B$ (the output has twice as many features).
        sigma: the standard deviation of $B$'s entries.
        key: PRNG key for $B$.
    """

    frequencies: Float[Array, "m i"]
    scalar: bool = eqx.field(static=True)

    def __init__(
        self,
        in_features: int | str,
        num_frequencies: int,
        *,
        sigma: float = 1.0,
        key: PRNGKeyArray,
    ):
        self.scalar = in_features == "scalar"
        size = 1 if self.scalar else in_features
        check_positive_int("in_features", size)
        check_positive_int("num_frequencies", num_frequencies)
        self.frequencies = sigma * jax.random.normal(key, (num_frequencies, size))

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, " f"]:
        """Embed one input, ``()`` if ``in_features="scalar"`` else ``(in_features,)``."""
        x = jnp.asarray(x)
        x = x[None] if self.scalar else x
        if x.shape != (self.frequencies.shape[1],):
            raise ValueError(f"x must have shape ({self.frequencies.shape[1]},), got {x.shape}")
        angle = 2 * jnp.pi * (jax.lax.stop_gradient(self.frequencies) @ x)
        return jnp.concatenate([jnp.sin(angle), jnp.cos(angle)])
