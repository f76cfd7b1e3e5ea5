"""Input checks shared by the losses, samplers and likelihoods of hepjax.generative."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._core import check_dtype, is_concrete


def check_mask(mask, x_shape: tuple[int, ...], *, batched: bool, name: str = "mask"):
    """Check ``mask`` against data of shape ``x_shape`` and that no set is all padding.

    With ``batched`` the data is ``(b, n, ...)`` and the mask ``(b, n)``;
    otherwise ``(n, ...)`` and ``(n,)``. Returns the mask as a bool array,
    wrapped in ``eqx.error_if`` when its values are traced.
    """
    if mask is None:
        return None
    lead = 2 if batched else 1
    want = tuple(x_shape[:lead])
    if len(x_shape) < lead + 1:
        kind = "(b, n, d)" if batched else "(n, d)"
        raise ValueError(f"{name} was given, so the data must be padded sets of shape {kind}")
    if tuple(np.shape(mask)) != want:
        raise ValueError(
            f"{name} must have shape {want} to match data of shape {tuple(x_shape)}, "
            f"got {tuple(np.shape(mask))}"
        )
    check_dtype(name, mask, "bool")
    mask = jnp.asarray(mask)
    empty = ~jnp.any(mask, axis=-1)
    message = f"{name}: a set is all padding (no real elements); drop empty sets first"
    if is_concrete(empty):
        if bool(jnp.any(empty)):
            idx = np.flatnonzero(np.atleast_1d(np.asarray(empty)))
            raise ValueError(f"{message} (set index {idx.tolist()[:5]})")
        return mask
    return eqx.error_if(mask, jnp.any(empty), message)


def check_cond(cond, batch: int | None, *, name: str = "cond"):
    """Check conditioning has one row per example (``batch``), or is a single example."""
    if cond is None:
        return None
    leaves = jax.tree.leaves(cond)
    if batch is not None:
        for leaf in leaves:
            if np.ndim(leaf) == 0 or np.shape(leaf)[0] != batch:
                raise ValueError(
                    f"{name} must have one row per example ({batch}), got shape {np.shape(leaf)}"
                )
    return cond


def make_args(mask, cond) -> dict:
    """The ``args`` dict passed to vector fields: ``{"mask": ..., "cond": ...}`` when given."""
    args = {}
    if mask is not None:
        args["mask"] = mask
    if cond is not None:
        args["cond"] = cond
    return args


def check_batch(name: str, x, min_ndim: int = 2):
    if np.ndim(x) < min_ndim:
        raise ValueError(
            f"{name} must be a batch with a leading example axis (ndim >= {min_ndim}), "
            f"got shape {np.shape(x)}"
        )
    return jnp.asarray(x)
