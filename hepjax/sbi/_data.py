"""Input checks, NaN handling and z-scoring shared by the estimators."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


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


def check_training_data(theta, x, nan_policy: str) -> tuple[np.ndarray, np.ndarray]:
    """Check ``theta (n, d)`` and ``x (n, dx)``; drop or refuse rows with NaN/inf."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    theta = as_2d_float("theta", theta)
    x = as_2d_float("x", x)
    if theta.shape[0] != x.shape[0]:
        raise ValueError(
            f"theta and x must have one row per simulation, got {theta.shape[0]} rows of "
            f"theta and {x.shape[0]} rows of x"
        )
    bad = ~(np.isfinite(theta).all(axis=1) & np.isfinite(x).all(axis=1))
    n_bad = int(bad.sum())
    if n_bad:
        message = (
            f"{n_bad} of {theta.shape[0]} training rows have NaN or infinite values in theta or x"
        )
        if nan_policy == "raise":
            raise ValueError(f"{message}; clean them or use nan_policy='drop'")
        warnings.warn(f"{message}; dropping them (nan_policy='drop')", stacklevel=3)
        theta, x = theta[~bad], x[~bad]
    return theta, x


class Standardizer(eqx.Module):
    """Affine z-scoring ``(a - shift) / scale`` per column, fitted on the training data."""

    shift: Float[Array, " d"]
    scale: Float[Array, " d"]

    @classmethod
    def fit(cls, a: np.ndarray, min_scale: float = 1e-8) -> "Standardizer":
        shift = a.mean(axis=0)
        scale = np.maximum(a.std(axis=0), min_scale)
        return cls(jnp.asarray(shift, jnp.float32), jnp.asarray(scale, jnp.float32))

    def forward(self, a):
        return (a - jax.lax.stop_gradient(self.shift)) / jax.lax.stop_gradient(self.scale)

    def inverse(self, z):
        return z * jax.lax.stop_gradient(self.scale) + jax.lax.stop_gradient(self.shift)

    def log_det(self):
        """``log |d z / d a|`` of :meth:`forward` (per example)."""
        return -jnp.sum(jnp.log(self.scale))


def check_observation(x_obs, dim_x: int, who: str) -> Array:
    """One observation ``(dim_x,)`` (a ``(1, dim_x)`` row is accepted)."""
    if isinstance(x_obs, list | tuple):
        x_obs = np.asarray(x_obs)
    if not hasattr(x_obs, "shape"):
        raise TypeError(f"x_obs must be an array of shape ({dim_x},), got {type(x_obs).__name__}")
    if np.dtype(x_obs.dtype).kind not in "fiu" or np.dtype(x_obs.dtype) == np.bool_:
        raise TypeError(f"x_obs must hold real numbers, got dtype {x_obs.dtype}")
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


def check_observations(xs, dim_x: int, who: str) -> Array:
    """A batch of observations ``(m, dim_x)``."""
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
