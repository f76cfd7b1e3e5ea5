"""Private helpers: chunked evaluation over many jets, the fit wrapper's data, checks."""

import math
from functools import partial

import equinox as eqx
import jax
import numpy as np

from hepjax.data import ArrayDataset, Batches


@eqx.filter_jit
def vmap_method(obj, name: str, *arrays):
    """``jax.vmap(getattr(obj, name))(*arrays)``, compiled once per structure of ``obj``."""
    return jax.vmap(getattr(obj, name))(*arrays)


def map_chunks(fn, arrays: tuple, *, chunk: int = 1024) -> np.ndarray:
    """``fn`` (a batched, jittable function of the arrays) over chunks of the leading axis.

    The last chunk is padded by repeating its first row, so only two shapes compile.
    """
    total = arrays[0].shape[0]
    if total == 0:
        raise ValueError("no examples to evaluate")
    chunk = min(chunk, total)
    jitted = fn if isinstance(fn, partial) else eqx.filter_jit(fn)  # partials: pre-jitted
    out = []
    for start in range(0, total, chunk):
        part = [a[start : start + chunk] for a in arrays]
        size = part[0].shape[0]
        if size < chunk:
            part = [np.concatenate([p, np.repeat(p[:1], chunk - size, axis=0)]) for p in part]
        out.append(jax.tree.map(lambda r, s=size: np.asarray(r)[:s], jitted(*part)))
    return jax.tree.map(lambda *xs: np.concatenate(xs), *out)


def batches(arrays: dict, batch_size: int, key) -> Batches:
    """Shuffled batches for ``hepjax.train.fit``; the batch never exceeds the data."""
    size = min(batch_size, len(next(iter(arrays.values()))))
    return Batches(ArrayDataset(arrays), size, key=key)


def check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a float in (0, 1), got {type(value).__name__}")
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def check_count(name: str, value: int) -> int:
    """A static Python ``int >= 0``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)
