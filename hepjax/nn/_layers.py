"""Private building blocks that act on a whole set at once.

Equinox's ``Linear`` and ``LayerNorm`` act on one vector; here they are applied
to every row of an ``(n, d)`` set with one matrix product instead of a
``vmap``, so that a batch of sets lowers to a single large GEMM per layer.
The parameters stay ordinary ``eqx.nn.Linear``/``eqx.nn.LayerNorm`` leaves
(weight ``(out, in)``, PyTorch's ``nn.Linear`` layout and default
initialisation ``U(-1/sqrt(in), 1/sqrt(in))``).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def linear(layer: eqx.nn.Linear, x: Float[Array, "n i"]) -> Float[Array, "n o"]:
    """Apply ``layer`` to every row: $x W^\\top + b$."""
    y = x @ layer.weight.T
    return y if layer.bias is None else y + layer.bias


def layer_norm(
    layer: eqx.nn.LayerNorm, x: Float[Array, "n d"], *, eps: float = 1e-5
) -> Float[Array, "n d"]:
    r"""Per-element layer norm over the feature axis (Ba et al. 2016).

    $\mathrm{LN}(x)_i = \gamma \odot (x_i - \mu_i)/\sqrt{\sigma_i^2 + \epsilon} + \beta$
    with $\mu_i, \sigma_i^2$ the mean and variance of row $i$. Each row is
    normalised on its own, so padded rows never mix with real ones.
    """
    mu = jnp.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    var = jnp.mean(xc * xc, axis=-1, keepdims=True)
    y = xc * jax.lax.rsqrt(var + eps)
    if layer.weight is not None:
        y = y * layer.weight
    if layer.bias is not None:
        y = y + layer.bias
    return y


def gelu(x: Array) -> Array:
    """Exact (erf) GELU, as PyTorch's default ``nn.GELU()``."""
    return jax.nn.gelu(x, approximate=False)


def check_rate(name: str, value: object) -> None:
    """A dropout probability in ``[0, 1)``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__}")
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def check_heads(hidden_size: int, num_heads: int) -> None:
    """The width ``hidden_size`` must split evenly into ``num_heads`` heads."""
    if hidden_size % num_heads != 0:
        raise ValueError(
            f"hidden_size must be divisible by num_heads, got hidden_size={hidden_size}, "
            f"num_heads={num_heads}"
        )


def split_key(key: jax.Array | None, num: int) -> tuple[jax.Array | None, ...]:
    """Split ``key`` into ``num`` keys, or ``num`` ``None`` if there is no key."""
    if key is None:
        return (None,) * num
    return tuple(jax.random.split(key, num))
