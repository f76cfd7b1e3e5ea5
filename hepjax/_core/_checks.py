"""Input checks that fail early, at trace time, with a message naming the argument.

Each helper raises ``ValueError`` or ``TypeError`` that says which argument was
wrong, what was expected and what was received. They inspect only static
information (shapes, dtypes, Python values), so they are safe on tracers.
Value checks on traced arrays belong in ``eqx.error_if`` instead.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _shape_str(shape: Sequence[int | str | None]) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def check_shape(name: str, x: Any, expected: Sequence[int | str | None]) -> None:
    """Check ``x.shape`` against ``expected``; ``None`` or a str matches any size.

    Named dimensions (strings) must agree wherever the same name appears twice.

    Raises:
        ValueError: ``"<name> must have shape (*, 4), got (10, 3)"``.
    """
    shape = tuple(np.shape(x))
    ok = len(shape) == len(expected)
    bound: dict[str, int] = {}
    if ok:
        for got, want in zip(shape, expected, strict=True):
            if isinstance(want, str):
                if bound.setdefault(want, got) != got:
                    ok = False
            elif want is not None and got != want:
                ok = False
    if not ok:
        raise ValueError(f"{name} must have shape {_shape_str(expected)}, got {_shape_str(shape)}")


def check_ndim(name: str, x: Any, ndim: int) -> None:
    """Check that ``x`` has exactly ``ndim`` dimensions."""
    got = np.ndim(x)
    if got != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got {got} (shape {np.shape(x)})")


def check_dtype(name: str, x: Any, kind: str) -> None:
    """Check the dtype kind: ``"float"``, ``"int"``, ``"bool"`` or ``"number"``."""
    dtype = jnp.result_type(x)
    tests = {
        "float": jnp.issubdtype(dtype, jnp.floating),
        "int": jnp.issubdtype(dtype, jnp.integer),
        "bool": dtype == jnp.bool_,
        "number": jnp.issubdtype(dtype, jnp.number),
    }
    if kind not in tests:
        raise ValueError(f"kind must be one of {sorted(tests)}, got {kind!r}")
    if not tests[kind]:
        raise TypeError(f"{name} must have a {kind} dtype, got {dtype}")


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Check a static Python number is positive (or non-negative)."""
    if not isinstance(value, int | float | np.number) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    """Check ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices!r}, got {value!r}")


def check_same_leading_dim(name: str, arrays: dict[str, Any]) -> int:
    """Check all arrays share their leading dimension and return it."""
    sizes = {k: (np.shape(v)[0] if np.ndim(v) else None) for k, v in arrays.items()}
    if any(s is None for s in sizes.values()):
        scalars = [k for k, s in sizes.items() if s is None]
        raise ValueError(f"{name}: fields {scalars} are scalars; every field needs a leading axis")
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{k} has {s}" for k, s in sizes.items())
        raise ValueError(f"{name}: all fields must share the leading dimension, but {detail}")
    return next(iter(sizes.values()), 0)


def check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """Check a static Python ``int >= 1`` (``bool`` is refused) and return it as ``int``.

    Raises:
        ValueError: ``"<name> must be a positive int, got 0"``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be a positive int{extra}, got {value!r}")
    return int(value)


def is_concrete(x: Any) -> bool:
    """Whether ``x`` has a value now (not a tracer inside ``jit``/``vmap``/``grad``)."""
    return concrete_value(x) is not None


def concrete_value(x: Any) -> np.ndarray | None:
    """``x`` as a NumPy value, or ``None`` when it is traced."""
    import jax

    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _as_float32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32 if a.dtype.kind != "f" or a.dtype.itemsize < 4 else a.dtype)


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
    return _as_float32(a)
