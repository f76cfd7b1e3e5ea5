r"""Helpers for variable-size sets stored as padded arrays with a boolean mask.

A set of :math:`n_i \le n` elements with :math:`d` features is stored as
``x: Float[Array, "n d"]`` and ``mask: Bool[Array, "n"]``. Every reduction here
ignores the padded rows exactly, so results are invariant to the padding
content and to the padded length :math:`n`.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from ._checks import check_ndim


def pad_sets(
    sets: Sequence[ArrayLike], max_size: int | None = None, *, fill: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Pad a ragged list of ``(n_i, d)`` sets to ``x: (b, n, d)`` and ``mask: (b, n)``.

    Args:
        sets: one array per set, each of shape ``(n_i, d)`` with the same ``d``.
        max_size: padded length ``n``; defaults to the largest ``n_i``. Sets
            longer than ``max_size`` raise rather than being silently truncated.
        fill: the value written into padded rows.

    Returns:
        ``(x, mask)`` as NumPy arrays (they are data, not traced values).
    """
    if len(sets) == 0:
        raise ValueError("sets must contain at least one set")
    arrays = [np.asarray(s) for s in sets]
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise ValueError(f"sets[{i}] must have shape (n_i, d), got {a.shape}")
    d = arrays[0].shape[1]
    for i, a in enumerate(arrays):
        if a.shape[1] != d:
            raise ValueError(f"sets[{i}] has {a.shape[1]} features, but sets[0] has {d}")
    longest = max(a.shape[0] for a in arrays)
    n = longest if max_size is None else int(max_size)
    if longest > n:
        raise ValueError(f"max_size={n} is smaller than the largest set ({longest} elements)")
    dtype = np.result_type(*arrays)
    x = np.full((len(arrays), n, d), fill, dtype=dtype)
    mask = np.zeros((len(arrays), n), dtype=bool)
    for i, a in enumerate(arrays):
        x[i, : a.shape[0]] = a
        mask[i, : a.shape[0]] = True
    return x, mask


def _expand(mask: Bool[ArrayLike, " n"], x: ArrayLike) -> Array:
    check_ndim("mask", mask, 1)
    if mask.shape[0] != x.shape[0]:
        raise ValueError(
            f"mask has length {mask.shape[0]} but x has {x.shape[0]} elements on axis 0"
        )
    return jnp.asarray(mask).reshape(mask.shape + (1,) * (np.ndim(x) - 1))


def masked_sum(x: Float[ArrayLike, " n *d"], mask: Bool[ArrayLike, " n"]) -> Float[Array, " *d"]:
    r"""$\sum_{i: m_i} x_i$ over the set axis (axis 0)."""
    return jnp.sum(jnp.where(_expand(mask, x), x, 0), axis=0)


def masked_count(mask: Bool[ArrayLike, " n"]) -> Float[Array, ""]:
    """Number of real elements, as a float."""
    return jnp.sum(mask, dtype=jnp.result_type(float))


def masked_mean(x: Float[ArrayLike, " n *d"], mask: Bool[ArrayLike, " n"]) -> Float[Array, " *d"]:
    r"""$\frac{1}{|m|}\sum_{i: m_i} x_i$; an empty set gives 0, not NaN."""
    count = jnp.maximum(masked_count(mask), 1.0)
    total = masked_sum(x, mask)
    return total / count.astype(total.dtype)


def masked_softmax(
    logits: Float[ArrayLike, "*b n"], mask: Bool[ArrayLike, "..."], axis: int = -1
) -> Float[Array, "*b n"]:
    r"""Softmax over the entries where ``mask`` is true; masked entries get 0.

    $\mathrm{softmax}(z)_i = m_i e^{z_i - c} / \sum_j m_j e^{z_j - c}$ with the
    masked maximum $c$ for stability. A fully masked row returns all zeros.
    """
    logits, mask = jnp.asarray(logits), jnp.asarray(mask)
    try:
        broadcast = np.broadcast_shapes(logits.shape, mask.shape)
    except ValueError:
        broadcast = None
    if broadcast != logits.shape:
        raise ValueError(
            f"mask of shape {mask.shape} does not broadcast to logits of shape {logits.shape}"
        )
    neg = jnp.finfo(logits.dtype).min
    z = jnp.where(mask, logits, neg)
    c = jax.lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    e = jnp.where(mask, jnp.exp(z - c), 0)
    total = jnp.sum(e, axis=axis, keepdims=True)
    return e / jnp.where(total > 0, total, 1)


def masked_layer_norm(
    x: Float[ArrayLike, "n d"],
    mask: Bool[ArrayLike, " n"],
    *,
    eps: float = 1e-5,
) -> Float[Array, "n d"]:
    r"""Normalise features with statistics over the real elements of the set.

    $\mu = \mathrm{mean}_{i: m_i, j}\, x_{ij}$ and
    $\sigma^2 = \mathrm{mean}_{i: m_i, j} (x_{ij}-\mu)^2$ are pooled over the
    real elements and all features, and $(x - \mu)/\sqrt{\sigma^2 + \epsilon}$
    is returned with padded rows set to 0. This is set-level normalisation;
    for per-element layer norm use ``equinox.nn.LayerNorm`` under ``vmap``.
    """
    check_ndim("x", x, 2)
    x = jnp.asarray(x)
    m = _expand(mask, x)
    count = jnp.maximum(masked_count(mask), 1.0) * x.shape[1]
    mu = jnp.sum(jnp.where(m, x, 0)) / count
    var = jnp.sum(jnp.where(m, (x - mu) ** 2, 0)) / count
    return jnp.where(m, (x - mu) * jax.lax.rsqrt(var + eps), 0)
