r"""Flow-matching losses for points and padded sets, Euclidean or Riemannian.

For a batch of data $x_1^{(b)}$ (points ``(b, d)`` or padded sets
``(b, n, d)`` with a mask), each example gets its own time
$t \sim \mathcal U(t_{\min}, t_{\max})$ and base sample $x_0$, and

.. math::
    \mathcal L = \frac{1}{N_{\text{real}}} \sum_{b} \sum_{i\ \text{real}}
    \big\| P_{x_t}\,v_\theta(t, x_t)_i - u_t(x_0, x_1)_i \big\|^2_{x_t},

where the sum runs over the real elements only (padding contributes
nothing) and $N_{\text{real}}$ counts them (the batch size for plain points).
The vector field has diffrax's signature ``vector_field(t, x, args)`` on one
example, with ``args = {"mask": mask_b, "cond": cond_b}`` (keys present only
when given). With a :class:`GeodesicPath` this is Riemannian flow matching
(Chen & Lipman 2023, arXiv:2302.03660): $P_{x_t}$ projects the output onto the
tangent space and the norm is the manifold's metric.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import is_concrete
from ..manifolds import AbstractManifold
from ._checks import check_batch, check_cond, check_mask, make_args
from ._paths import AbstractPath, CondOT, GeodesicPath, resolve_path


def _check_times(t_min: float, t_max: float) -> None:
    if not 0.0 <= t_min < t_max <= 1.0:
        raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min!r}, t_max={t_max!r}")


def check_on_manifold(manifold: AbstractManifold, x: Array, mask, name: str) -> Array:
    """Check every real row of ``x`` (``(..., d)``) is a point of ``manifold``."""
    d = manifold.ambient_dim
    if np.shape(x)[-1] != d:
        raise ValueError(
            f"{name} must have points of {manifold!r} ({d} coordinates) on its last axis, "
            f"got shape {np.shape(x)}"
        )
    flat = jnp.reshape(x, (-1, d))
    ok = jax.vmap(manifold.belongs)(flat).reshape(np.shape(x)[:-1])
    if mask is not None:
        ok = ok | ~mask
    message = f"{name} has points that are not on {manifold!r}"
    if is_concrete(ok):
        if not bool(jnp.all(ok)):
            raise ValueError(message)
        return x
    return eqx.error_if(x, ~jnp.all(ok), message)


def sample_path(
    path: AbstractPath,
    x1: Array,
    key: PRNGKeyArray,
    mask,
    t_min: float,
    t_max: float,
):
    """Draw ``t``, ``x0`` and return ``(t, x_t, u_t)`` for a batch ``x1``; padding is neutral."""
    b = x1.shape[0]
    k_t, k_0 = jax.random.split(key)
    t = jax.random.uniform(k_t, (b,), dtype=x1.dtype, minval=t_min, maxval=t_max)
    x0 = jax.vmap(lambda k: path.sample_base(k, x1.shape[1:]))(jax.random.split(k_0, b))
    x0 = x0.astype(x1.dtype)
    if mask is not None:  # padded rows: x1 := x0, so x_t = x0 and u_t = 0 there
        x1 = jnp.where(mask[..., None], x1, x0)
    xt, ut = jax.vmap(path.interpolate)(x0, x1, t)
    return t, xt, ut


def masked_mean_norm(sq: Array, mask) -> Array:
    """Mean of per-element squared norms over the real elements."""
    if mask is None:
        return jnp.mean(sq)
    total = jnp.sum(jnp.where(mask, sq, 0.0))
    return total / jnp.sum(mask).astype(sq.dtype)


def call_field(field: Callable, t, x, args, name: str = "vector_field"):
    """``vmap`` a single-example field over the batch and check its output shape."""
    out = jax.vmap(field)(t, x, args)
    if np.shape(out) != np.shape(x):
        raise ValueError(
            f"{name} must return an array shaped like its input x {np.shape(x)[1:]}, "
            f"got {np.shape(out)[1:]}"
        )
    return out


def flow_matching_loss(
    vector_field: Callable,
    x1: Float[ArrayLike, "b ..."],
    *,
    key: PRNGKeyArray,
    path: AbstractPath | AbstractManifold | str = CondOT(),
    mask: Bool[ArrayLike, "..."] | None = None,
    cond: Any = None,
    t_min: float = 0.0,
    t_max: float = 1.0,
) -> Float[Array, ""]:
    r"""Conditional flow matching on a batch of points or padded sets.

    Lipman et al. 2022 (arXiv:2210.02747); with a :class:`GeodesicPath` (or a
    manifold, which is shorthand for it) Riemannian flow matching (Chen &
    Lipman 2023, arXiv:2302.03660).

    Args:
        vector_field: ``vector_field(t, x, args) -> v`` on one example, ``v``
            shaped like ``x``; ``args`` is ``{"mask": ..., "cond": ...}``.
        x1: data, ``(b, d)`` points or ``(b, n, d)`` padded sets.
        key: PRNG key for the times and base samples.
        path: a path object (``CondOT(sigma_min=1e-4)``, ``VP()``,
            ``GeodesicPath(M)``, ...), a manifold, or a schedule name
            (``"cond_ot"``, ``"vp"``, ``"ve"``, ``"cosine"``).
        mask: ``(b, n)`` booleans for sets; padded elements contribute nothing.
        cond: per-example conditioning, a pytree with leading axis ``b``.
        t_min: lower end of the training times.
        t_max: upper end of the training times (use ``< 1`` for ``VP``).

    Returns:
        The mean squared metric norm of the velocity error per real element.

    Raises:
        ValueError: a mask of the wrong shape, an all-padding set, conditioning
            without one row per example, an unknown path name, or data off the
            path's manifold.
    """
    path = resolve_path(path)
    _check_times(t_min, t_max)
    x1 = check_batch("x1", x1)
    mask = check_mask(mask, x1.shape, batched=True)
    cond = check_cond(cond, x1.shape[0])
    if isinstance(path, GeodesicPath):
        x1 = check_on_manifold(path.manifold, x1, mask, "x1")
    t, xt, ut = sample_path(path, x1, key, mask, t_min, t_max)
    v = call_field(vector_field, t, xt, make_args(mask, cond))
    v = jax.vmap(path.project)(xt, v)
    return masked_mean_norm(jax.vmap(path.sq_norm)(xt, v - ut), mask)


def riemannian_flow_matching_loss(
    vector_field: Callable,
    x1: Float[ArrayLike, "b ..."],
    manifold: AbstractManifold,
    *,
    key: PRNGKeyArray,
    mask: Bool[ArrayLike, "..."] | None = None,
    cond: Any = None,
    t_min: float = 0.0,
    t_max: float = 1.0,
) -> Float[Array, ""]:
    r"""Riemannian flow matching on ``manifold`` with the geodesic path.

    $\mathcal L = \mathbb E\,\|P_{x_t} v_\theta(t, x_t) - \dot x_t\|^2_{g}$ with
    $x_t = \exp_{x_0}(t\log_{x_0}x_1)$, $x_0$ from the manifold's base (Chen &
    Lipman 2023, arXiv:2302.03660). The same as :func:`flow_matching_loss`
    with ``path=GeodesicPath(manifold)``.

    Args:
        vector_field: ``vector_field(t, x, args) -> v`` on one example.
        x1: data points ``(b, d)`` or sets ``(b, n, d)`` of ``manifold``.
        manifold: the manifold.
        key: PRNG key.
        mask: ``(b, n)`` booleans for sets.
        cond: per-example conditioning with leading axis ``b``.
        t_min: lower end of the training times.
        t_max: upper end of the training times.

    Returns:
        The mean squared metric norm of the velocity error per real element.
    """
    return flow_matching_loss(
        vector_field,
        x1,
        key=key,
        path=GeodesicPath(manifold),
        mask=mask,
        cond=cond,
        t_min=t_min,
        t_max=t_max,
    )
