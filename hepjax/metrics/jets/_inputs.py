"""Input checks shared by the jet metrics: JetNet-format jets and feature arrays."""

from typing import Any

import numpy as np

from hepjax._core import check_positive_int


def jets_and_mask(
    name: str, jets: Any, mask: Any = None, *, allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(features (N, n, 3) float64 with padding zeroed, mask (N, n) bool)``.

    ``jets`` is ``(N, n, 4)`` of ``(etarel, phirel, ptrel, mask)``; with an explicit
    ``mask`` of shape ``(N, n)`` (or ``(N, n, 1)``) it may be ``(N, n, 3)``, and the
    explicit mask is combined (logical and) with a fourth channel if there is one.
    """
    x = np.asarray(jets)
    if x.ndim != 3 or x.shape[-1] not in (3, 4):
        raise ValueError(
            f"{name} must have shape (N, n, 4) of (etarel, phirel, ptrel, mask), got {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must contain at least one jet and one slot, got {x.shape}")
    if x.shape[-1] == 4:
        m = x[..., 3] > 0.5
    elif mask is None:
        raise ValueError(
            f"{name} has 3 features per particle: pass its mask, or use the JetNet layout "
            "(N, n, 4) with the mask as the fourth feature"
        )
    else:
        m = np.ones(x.shape[:2], bool)
    if mask is not None:
        mk = np.asarray(mask)
        if mk.shape == (*x.shape[:2], 1):
            mk = mk[..., 0]
        if mk.shape != x.shape[:2]:
            raise ValueError(
                f"mask for {name} must have shape {x.shape[:2]} (or {(*x.shape[:2], 1)}), "
                f"got {mk.shape}"
            )
        m = m & mk.astype(bool)
    feats = x[..., :3].astype(np.float64)
    feats[~m] = 0.0
    if not np.isfinite(feats).all():
        raise ValueError(f"{name} has non-finite features on real particles")
    if not allow_empty:
        check_not_empty(name, m)
    return feats, m


def check_not_empty(name: str, m: np.ndarray) -> None:
    """Every jet of the ``(N, n)`` mask has a real particle."""
    empty = ~m.any(axis=1)
    if empty.any():
        raise ValueError(
            f"{name} has {int(empty.sum())} jet(s) with no real particle (all padding), "
            f"e.g. jet {int(np.argmax(empty))}; remove them or fix the mask"
        )


def features_2d(name: str, x: Any) -> np.ndarray:
    """A finite ``(N, d)`` float64 feature array with ``N >= 2``."""
    a = np.asarray(x)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, d) with N >= 2, got {a.shape}")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite")
    return a


def check_int_at_least(name: str, value: Any, minimum: int) -> int:
    """A positive int ``>= minimum`` (e.g. 2 samples for a variance)."""
    value = check_positive_int(name, value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def same_width(name1: str, a: np.ndarray, name2: str, b: np.ndarray) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{name1} and {name2} must have the same number of features, "
            f"got {a.shape[-1]} and {b.shape[-1]}"
        )
