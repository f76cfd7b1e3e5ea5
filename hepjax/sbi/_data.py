"""Input checks, NaN handling and z-scoring shared by the estimators."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..data import Standardizer


class NotFittedError(ValueError):
    """An estimator was asked to sample or evaluate before :meth:`fit`."""


NAN_POLICIES = ("drop", "raise")


def as_2d_float(name: str, a) -> np.ndarray:
    """``a`` as a ``(n, d)`` float array (a 1-d array is one column); wrong dtypes raise."""
    if isinstance(a, list | tuple):
        a = np.asarray(a)
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise TypeError(f"{name} must be an array of shape (n, d), got {type(a).__name__}")
    dtype = np.dtype(a.dtype) if not jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key) else None
    if dtype is None or dtype == np.bool_ or dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers (float or int), got dtype {a.dtype}")
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d) (one row per simulation), got {a.shape}")
    if a.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column, got shape {a.shape}")
    return a.astype(np.float32 if a.dtype.kind != "f" or a.dtype.itemsize < 4 else a.dtype)


def as_x_float(name: str, a) -> np.ndarray:
    """``x`` as ``(n, dx)`` vectors or ``(n, m, *event_shape)`` NaN-padded ensembles."""
    if isinstance(a, list | tuple):
        a = np.asarray(a)
    if hasattr(a, "ndim") and a.ndim >= 3:
        if np.dtype(a.dtype) == np.bool_ or np.dtype(a.dtype).kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers (float or int), got dtype {a.dtype}")
        a = np.asarray(a)
        if 0 in a.shape:
            raise ValueError(f"{name} must not have an empty axis, got shape {a.shape}")
        return a.astype(np.float32 if a.dtype.kind != "f" or a.dtype.itemsize < 4 else a.dtype)
    return as_2d_float(name, a)


def ensemble_padding(x: np.ndarray) -> np.ndarray:
    """``(N, m)``: which events of NaN-padded ensembles ``x (N, m, *event)`` are padding."""
    return np.isnan(x.reshape(x.shape[0], x.shape[1], -1)).all(axis=2)


def check_ensembles_not_empty(name: str, x: np.ndarray) -> np.ndarray:
    """The padding of ``x``; raise if an ensemble is made entirely of padding."""
    padding = ensemble_padding(x)
    empty = padding.all(axis=1)
    if empty.any():
        raise ValueError(
            f"{int(empty.sum())} of {x.shape[0]} ensembles in {name} are made entirely of "
            f"padding (all events NaN), e.g. row {int(np.argmax(empty))}: every ensemble needs "
            "at least one real event"
        )
    return padding


def check_training_data(theta, x, nan_policy: str) -> tuple[np.ndarray, np.ndarray]:
    """Check ``theta (n, d)`` and ``x (n, dx)`` (or ensembles ``x (n, m, *event)``).

    Rows with NaN/inf are dropped or refused; in ensembles, events that are all
    NaN are padding, and an ensemble made entirely of padding is an error.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    theta = as_2d_float("theta", theta)
    x = as_x_float("x", x)
    if theta.shape[0] != x.shape[0]:
        raise ValueError(
            f"theta and x must have one row per simulation, got {theta.shape[0]} rows of "
            f"theta and {x.shape[0]} rows of x"
        )
    if x.ndim >= 3:
        padding = check_ensembles_not_empty("x", x)
        keep = padding.reshape(padding.shape + (1,) * (x.ndim - 2))
        x_finite = np.isfinite(np.where(keep, 0.0, x)).reshape(x.shape[0], -1).all(axis=1)
    else:
        x_finite = np.isfinite(x).all(axis=1)
    bad = ~(np.isfinite(theta).all(axis=1) & x_finite)
    n_bad = int(bad.sum())
    if n_bad:
        message = (
            f"{n_bad} of {theta.shape[0]} training rows have NaN or infinite values in theta or x"
        )
        if x.ndim >= 3:
            message += " (outside whole-event padding)"
        if nan_policy == "raise":
            raise ValueError(f"{message}; clean them or use nan_policy='drop'")
        warnings.warn(f"{message}; dropping them (nan_policy='drop')", stacklevel=3)
        theta, x = theta[~bad], x[~bad]
    return theta, x


def fit_standardizer(a: np.ndarray) -> Standardizer:
    """The :class:`hepjax.data.Standardizer` of vectors ``(N, d)`` or of NaN-padded
    ensembles ``(N, m, *event)`` (statistics over the real events; padding stays NaN)."""
    if a.ndim >= 3:
        return Standardizer.fit(a, ~ensemble_padding(a))
    return Standardizer.fit(a)


def _event_shape(dim_x) -> tuple[int, ...] | None:
    """``None`` for vector data of size ``dim_x`` (an int), or the event shape of ensembles."""
    if isinstance(dim_x, Standardizer):
        return tuple(dim_x.shift.shape) if dim_x.set_ndim else None
    return None


def _size(dim_x) -> int:
    return dim_x.shift.shape[0] if isinstance(dim_x, Standardizer) else int(dim_x)


def _check_ensemble_observation(x_obs, event_shape, who: str) -> Array:
    shape = tuple(x_obs.shape)
    if len(shape) == len(event_shape) + 2 and shape[0] == 1:
        x_obs = x_obs[0]
    if x_obs.ndim != len(event_shape) + 1 or tuple(x_obs.shape[1:]) != event_shape:
        expected = ", ".join(["m"] + [str(s) for s in event_shape])
        raise ValueError(
            f"x_obs must be one ensemble of shape ({expected}) (any number m of events, "
            f"padding rows NaN) like the x that {who} was trained on, got shape {shape}"
        )
    if isinstance(x_obs, jax.core.Tracer):
        return jnp.asarray(x_obs, jnp.float32)
    a = np.asarray(x_obs, np.float32)
    padding = check_ensembles_not_empty("x_obs", a[None])[0]
    keep = padding.reshape(padding.shape + (1,) * len(event_shape))
    if not np.isfinite(np.where(keep, 0.0, a)).all():
        raise ValueError(
            "x_obs has NaN or infinite entries outside whole-event padding (a padding event "
            "must be NaN in every entry)"
        )
    return jnp.asarray(a)


def check_observation(x_obs, dim_x, who: str) -> Array:
    """One observation ``(dim_x,)`` (a ``(1, dim_x)`` row is accepted).

    ``dim_x`` is the size of ``x`` or the estimator's ``x`` :class:`Standardizer`;
    for an estimator trained on ensembles, ``x_obs`` is one NaN-padded ensemble
    ``(m, *event_shape)`` with any ``m``.
    """
    if isinstance(x_obs, list | tuple):
        x_obs = np.asarray(x_obs)
    event_shape = _event_shape(dim_x)
    dim_x = _size(dim_x)
    if not hasattr(x_obs, "shape"):
        raise TypeError(f"x_obs must be an array of shape ({dim_x},), got {type(x_obs).__name__}")
    if np.dtype(x_obs.dtype).kind not in "fiu" or np.dtype(x_obs.dtype) == np.bool_:
        raise TypeError(f"x_obs must hold real numbers, got dtype {x_obs.dtype}")
    if event_shape is not None:
        return _check_ensemble_observation(x_obs, event_shape, who)
    shape = tuple(x_obs.shape)
    if len(shape) == 2 and shape[0] == 1:
        x_obs = x_obs[0]
    if tuple(x_obs.shape) != (dim_x,):
        raise ValueError(
            f"x_obs must be one observation of shape ({dim_x},) like the x that {who} was "
            f"trained on, got shape {shape}"
        )
    x_obs = jnp.asarray(x_obs, jnp.float32)
    if isinstance(x_obs, jax.core.Tracer):
        return x_obs
    if not bool(jnp.all(jnp.isfinite(x_obs))):
        raise ValueError("x_obs has NaN or infinite entries")
    return x_obs


def check_observations(xs, dim_x, who: str) -> Array:
    """A batch of observations ``(m, dim_x)`` (or of NaN-padded ensembles ``(b, m, *event)``)."""
    event_shape = _event_shape(dim_x)
    dim_x = _size(dim_x)
    if event_shape is not None:
        xs = as_x_float("xs", xs)
        if xs.ndim != len(event_shape) + 2 or tuple(xs.shape[2:]) != event_shape:
            expected = ", ".join(["b", "m"] + [str(s) for s in event_shape])
            raise ValueError(
                f"xs must have shape ({expected}) (b ensembles of m events, padding rows NaN) "
                f"like the x that {who} was trained on, got {xs.shape}"
            )
        check_ensembles_not_empty("xs", xs)
        return jnp.asarray(xs, jnp.float32)
    xs = as_2d_float("xs", xs)
    if xs.shape[1] != dim_x:
        raise ValueError(
            f"xs must have shape (m, {dim_x}) like the x that {who} was trained on, got {xs.shape}"
        )
    return jnp.asarray(xs, jnp.float32)


def check_num_samples(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive int (number of samples), got {n!r}")
    return int(n)
