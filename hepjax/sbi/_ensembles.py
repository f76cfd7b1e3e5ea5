r"""NaN-padded ensembles, for users who have them: the mask of one ensemble and padding.

Inside :mod:`hepjax.sbi` an ensemble is ``(x, mask)``, the set convention of
:mod:`hepjax.nn`. Users may instead pass NaN-padded ensembles, one array
``x: (m, *event_shape)`` (or ``(N, m, *event_shape)``) whose padding events
are all NaN; the estimators convert them at their boundary (``mask=None``).
:func:`ensemble_mask` is that conversion for one ensemble and
:func:`pad_ensembles` stacks ragged ensembles into the NaN-padded form.
"""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._core import pad_sets


def ensemble_mask(x: Float[ArrayLike, "m ..."]) -> Bool[Array, " m"]:
    """The real events of one NaN-padded ensemble: the events that are not all NaN."""
    x = jnp.asarray(x)
    if x.ndim < 2:
        raise ValueError(
            f"an ensemble must have shape (m, *event_shape), e.g. (m, d), got shape {x.shape}"
        )
    return ~jnp.all(jnp.isnan(x.reshape(x.shape[0], -1)), axis=1)


def pad_ensembles(sets, max_size: int | None = None) -> np.ndarray:
    """Stack a ragged list of ensembles ``(m_i, *event_shape)`` into ``(b, m, *event_shape)``.

    Padding events are NaN (:func:`hepjax._core.pad_sets` with ``fill=nan``).
    Every ensemble needs at least one event; ``max_size`` (default: the
    largest ``m_i``) must not be smaller than any ``m_i``.
    """
    if len(sets) == 0:
        raise ValueError("sets must contain at least one ensemble")
    arrays = [np.asarray(s, dtype=np.float32) for s in sets]
    for i, a in enumerate(arrays):
        if a.ndim < 2:
            raise ValueError(f"sets[{i}] must have shape (m_i, *event_shape), got {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"sets[{i}] is an empty ensemble: every ensemble needs an event")
        if a.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(
                f"sets[{i}] has events of shape {a.shape[1:]}, sets[0] {arrays[0].shape[1:]}"
            )
    event_shape = arrays[0].shape[1:]
    x, _ = pad_sets([a.reshape(a.shape[0], -1) for a in arrays], max_size, fill=np.nan)
    return x.reshape(x.shape[:2] + event_shape)
