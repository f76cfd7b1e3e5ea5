"""Helpers shared by the format readers: opening, dtype checks, atomic writes."""

import contextlib
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import numpy as np

HEP_EXTRA = "pip install 'hepjax[hep]'"


def import_hep(name: str):
    """Import an optional dependency of the ``hep`` extra, naming the extra if absent."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(f"{name} is needed for this format; install it with {HEP_EXTRA}") from err


def check_kind(path: Any, name: str, dtype: np.dtype, kinds: str, expected: str) -> None:
    """Raise ``TypeError`` unless ``dtype.kind`` is one of ``kinds``."""
    if np.dtype(dtype).kind not in kinds:
        raise TypeError(f"{path}: field {name!r} must have {expected} dtype, got {dtype}")


@contextlib.contextmanager
def reading(path: Any) -> Iterator[None]:
    """Turn low-level read errors of a damaged file into a ``ValueError`` naming it."""
    try:
        yield
    except OSError as err:
        raise ValueError(
            f"{path}: cannot read the file; is it truncated or corrupt? ({err})"
        ) from err


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yield a temporary path next to ``path``; rename it into place on success."""
    path = pathlib.Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def as_array(name: str, x: Any, ndim: int, dtype: Any = None) -> np.ndarray:
    """``np.asarray(x, dtype)`` with a check of the number of dimensions."""
    arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    return arr
