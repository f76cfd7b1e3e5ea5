"""Input checks at the boundary of the estimators: shapes, dtypes, NaN rows, ensemble masks.

Ensembles travel as ``(x, mask)`` inside :mod:`hepjax.sbi`: ``x: (N, m, *event_shape)``
with padding events zero-filled and ``mask: (N, m)`` the real events. A user
who passes ``mask=None`` with an ensemble has NaN padding (events that are all
NaN): it is converted to a mask here, once, and never reaches a network.
"""

import warnings

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._core import as_2d_float, check_positive_int, is_concrete
from ..data import Standardizer


class NotFittedError(ValueError):
    """An estimator was asked to sample or evaluate before :meth:`fit`."""


NAN_POLICIES = ("drop", "raise")


def _float(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32 if a.dtype.kind != "f" or a.dtype.itemsize < 4 else a.dtype)


def as_x_float(name: str, a) -> np.ndarray:
    """``x`` as ``(n, dx)`` vectors or ``(n, m, *event_shape)`` ensembles."""
    if isinstance(a, list | tuple):
        a = np.asarray(a)
    if hasattr(a, "ndim") and a.ndim >= 3:
        if np.dtype(a.dtype) == np.bool_ or np.dtype(a.dtype).kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers (float or int), got dtype {a.dtype}")
        a = np.asarray(a)
        if 0 in a.shape:
            raise ValueError(f"{name} must not have an empty axis, got shape {a.shape}")
        return _float(a)
    return as_2d_float(name, a)


def nan_padding_mask(x: np.ndarray) -> np.ndarray:
    """``(N, m)``: the real events of NaN-padded ensembles ``x (N, m, *event)`` (not all NaN)."""
    return ~np.isnan(x.reshape(x.shape[0], x.shape[1], -1)).all(axis=2)


def masked_ensembles(name: str, x: np.ndarray, mask) -> tuple[np.ndarray, np.ndarray]:
    """Ensembles ``x (N, m, *event)`` as ``(x, mask)``, padding zero-filled.

    ``mask=None``: events that are all NaN are padding. An explicit mask must
    be a bool array ``(N, m)``; the content of its padding events is ignored.
    An ensemble made entirely of padding is an error.
    """
    mask_name = "mask" if name == "x" else f"mask of {name}"
    if mask is None:
        mask = nan_padding_mask(x)
    else:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape != x.shape[:2]:
            raise ValueError(
                f"{mask_name} must be a bool array of shape {x.shape[:2]} (the real events "
                f"of {name}), got {mask.dtype}{mask.shape}"
            )
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ValueError(
            f"{int(empty.sum())} of {x.shape[0]} ensembles in {name} are made entirely of "
            f"padding (no real event), e.g. row {int(np.argmax(empty))}: every ensemble needs "
            "at least one real event"
        )
    keep = mask.reshape(mask.shape + (1,) * (x.ndim - 2))
    return np.where(keep, x, 0.0).astype(x.dtype), mask


def check_training_data(
    theta, x, mask, nan_policy: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check ``theta (n, d)`` and ``x (n, dx)``, or ensembles ``x (n, m, *event)`` with ``mask``.

    Returns ``(theta, x, mask)`` (``mask`` is ``None`` for vectors). Rows with
    NaN/inf (in real events) are dropped with a warning or refused.
    """
    theta = as_2d_float("theta", theta)
    x = as_x_float("x", x)
    if theta.shape[0] != x.shape[0]:
        raise ValueError(
            f"theta and x must have one row per simulation, got {theta.shape[0]} rows of "
            f"theta and {x.shape[0]} rows of x"
        )
    if x.ndim >= 3:
        x, mask = masked_ensembles("x", x, mask)
    elif mask is not None:
        raise ValueError(
            f"mask is for ensembles x (n, m, *event_shape); x has shape {x.shape} (vectors)"
        )
    bad = ~(np.isfinite(theta).all(axis=1) & np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1))
    n_bad = int(bad.sum())
    if n_bad:
        message = (
            f"{n_bad} of {theta.shape[0]} training rows have NaN or infinite values in theta or x"
        )
        if x.ndim >= 3:
            message += " (in real events)"
        if nan_policy == "raise":
            raise ValueError(f"{message}; clean them or use nan_policy='drop'")
        warnings.warn(f"{message}; dropping them (nan_policy='drop')", stacklevel=3)
        theta, x = theta[~bad], x[~bad]
        mask = None if mask is None else mask[~bad]
    return theta, x, mask


def _event_shape(x_std: Standardizer) -> tuple[int, ...] | None:
    """``None`` for vector data, or the event shape of ensembles."""
    return tuple(x_std.shift.shape) if x_std.set_ndim else None


def _check_real(name: str, x_obs) -> None:
    if isinstance(x_obs, list | tuple):
        x_obs = np.asarray(x_obs)
    if not hasattr(x_obs, "shape") or not hasattr(x_obs, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x_obs).__name__}")
    if np.dtype(x_obs.dtype).kind not in "fiu" or np.dtype(x_obs.dtype) == np.bool_:
        raise TypeError(f"{name} must hold real numbers, got dtype {x_obs.dtype}")


def check_observation(x_obs, mask, x_std: Standardizer, who: str) -> tuple[Array, Array | None]:
    """One observation ``(dx,)`` (a ``(1, dx)`` row is accepted), or one ensemble with its mask.

    For an estimator trained on ensembles, ``x_obs`` is one ensemble
    ``(m, *event_shape)`` with any ``m``, and ``mask (m,)`` its real events
    (``None``: NaN padding). Returns ``(x_obs, mask)``, padding zero-filled.
    """
    if isinstance(x_obs, list | tuple):
        x_obs = np.asarray(x_obs)
    _check_real("x_obs", x_obs)
    event_shape = _event_shape(x_std)
    shape = tuple(x_obs.shape)
    if event_shape is None:
        if mask is not None:
            raise ValueError(f"mask is for ensembles; {who} was trained on vectors x")
        dim_x = x_std.shift.shape[0]
        if len(shape) == 2 and shape[0] == 1:
            x_obs = x_obs[0]
        if tuple(x_obs.shape) != (dim_x,):
            raise ValueError(
                f"x_obs must be one observation of shape ({dim_x},) like the x that {who} "
                f"was trained on, got shape {shape}"
            )
        x_obs = jnp.asarray(x_obs, jnp.float32)
        if is_concrete(x_obs) and not bool(jnp.all(jnp.isfinite(x_obs))):
            raise ValueError("x_obs has NaN or infinite entries")
        return x_obs, None
    if len(shape) == len(event_shape) + 2 and shape[0] == 1:
        x_obs = x_obs[0]
        mask = None if mask is None else jnp.asarray(mask).reshape(-1)
    if x_obs.ndim != len(event_shape) + 1 or tuple(x_obs.shape[1:]) != event_shape:
        expected = ", ".join(["m"] + [str(s) for s in event_shape])
        raise ValueError(
            f"x_obs must be one ensemble of shape ({expected}) (any number m of events) like "
            f"the x that {who} was trained on, got shape {shape}"
        )
    if not (is_concrete(x_obs) and (mask is None or is_concrete(mask))):
        return traced_observation(x_obs, mask, x_std)
    x, m = masked_ensembles("x_obs", np.asarray(x_obs, np.float32)[None], _batch_mask(mask))
    if not np.isfinite(x).all():
        raise ValueError(
            "x_obs has NaN or infinite entries in real events (NaN padding must be NaN in "
            "every entry of the event, or pass mask=)"
        )
    return jnp.asarray(x[0]), jnp.asarray(m[0])


def _batch_mask(mask):
    return None if mask is None else np.asarray(mask)[None]


def traced_observation(x, mask, x_std: Standardizer) -> tuple[Array, Array | None]:
    """``(x, mask)`` of one observation without value checks (works under ``jit``/``vmap``)."""
    x = jnp.asarray(x, jnp.float32)
    if not x_std.set_ndim:
        return x, None
    if mask is None:
        mask = ~jnp.all(jnp.isnan(x.reshape(x.shape[0], -1)), axis=1)
    mask = jnp.asarray(mask)
    if mask.shape != x.shape[:1] or mask.dtype != jnp.bool_:
        raise ValueError(
            f"mask must be a bool array of shape ({x.shape[0]},), got {mask.dtype}{mask.shape}"
        )
    keep = mask.reshape(mask.shape + (1,) * (x.ndim - 1))
    return jnp.where(keep, x, 0.0), mask


def check_observations(xs, mask, x_std: Standardizer, who: str) -> tuple[Array, Array | None]:
    """A batch of observations ``(b, dx)``, or ensembles ``(b, m, *event)`` with ``mask (b, m)``."""
    event_shape = _event_shape(x_std)
    if event_shape is not None:
        xs = as_x_float("xs", xs)
        if xs.ndim != len(event_shape) + 2 or tuple(xs.shape[2:]) != event_shape:
            expected = ", ".join(["b", "m"] + [str(s) for s in event_shape])
            raise ValueError(
                f"xs must have shape ({expected}) (b ensembles of m events) like the x that "
                f"{who} was trained on, got {xs.shape}"
            )
        xs, mask = masked_ensembles("xs", xs, mask)
        if not np.isfinite(xs).all():
            raise ValueError("xs has NaN or infinite entries in real events")
        return jnp.asarray(xs), jnp.asarray(mask)
    if mask is not None:
        raise ValueError(f"mask is for ensembles; {who} was trained on vectors x")
    xs = as_2d_float("xs", xs)
    dim_x = x_std.shift.shape[0]
    if xs.shape[1] != dim_x:
        raise ValueError(
            f"xs must have shape (b, {dim_x}) like the x that {who} was trained on, got {xs.shape}"
        )
    if not np.isfinite(xs).all():
        raise ValueError("xs has NaN or infinite entries")
    return jnp.asarray(xs, jnp.float32), None


def check_parameters(theta, d: int) -> tuple[Array, bool]:
    """``theta`` as ``(n, d)`` (one ``(d,)`` is accepted), and whether it was one vector."""
    if isinstance(theta, list | tuple):
        theta = np.asarray(theta)
    _check_real("theta", theta)
    theta = jnp.asarray(theta, jnp.float32)
    single = theta.ndim == 1
    theta = theta[None] if single else theta
    if theta.ndim != 2 or theta.shape[1] != d:
        shape = theta.shape[1:] if single else theta.shape
        raise ValueError(f"theta must have shape (n, {d}) or ({d},), got {shape}")
    return theta, single


def check_num_samples(n, name: str = "n") -> int:
    """The number of samples: a positive int."""
    return check_positive_int(name, n)
