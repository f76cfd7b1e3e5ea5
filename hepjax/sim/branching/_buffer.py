r"""Fixed-capacity particle buffers: masks, spawning children into free slots, checks.

A buffer of capacity $C$ holds per-particle arrays with a leading axis $C$ and
a boolean ``alive`` mask. Dropping a particle clears its mask bit; creating one
writes it into the lowest free slot. When more children are requested than
there are free slots, the extra children are *not* written and the count of
lost children is returned, so the caller can raise an ``overflow`` flag (never a
silent drop). Every operation is fixed-shape, so it runs inside ``while_loop``
and under the estimators' coupled primal/alternative interpretation.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Bool, Int

from hepjax._core import check_positive, concrete_value


def spawn(
    alive: Bool[Array, " c"], parents: Bool[Array, " c"], children: dict
) -> tuple[Bool[Array, " c"], dict[str, Array], Int[Array, ""]]:
    """Write one child per ``parents`` slot into the free slots of the buffer.

    Args:
        alive: ``(C,)`` occupancy mask before the children are added.
        parents: ``(C,)`` which slots produce one child each.
        children: ``{name: (child_values, buffer)}``; both with leading axis
            ``C``, row ``i`` of ``child_values`` is the child of slot ``i``.

    Returns:
        ``(alive, buffers, lost)``: the new mask, the updated buffers (same keys
        as ``children``) and the number of children that found no free slot.
    """
    # Gathers only (scatters are slow on CPU, and more so under vmap): free slot
    # j, the r-th free slot, receives the child of the r-th parent, found by a
    # binary search in the running count of parents.
    cap = alive.shape[0]
    free = ~alive
    n_par = jnp.cumsum(parents.astype(jnp.int32))
    total = n_par[-1]
    rank = jnp.cumsum(free.astype(jnp.int32)) - 1
    gets = free & (rank < total)
    src = jnp.clip(jnp.searchsorted(n_par, rank + 1, side="left"), 0, cap - 1)
    lost = jnp.maximum(total - jnp.sum(free).astype(jnp.int32), 0)
    out = {}
    for name, (child, buf) in children.items():
        g = gets.reshape((cap,) + (1,) * (buf.ndim - 1))
        out[name] = jnp.where(g, child[src], buf)
    return alive | gets, out, lost


def append_rows(
    store: Array, count: Int[Array, ""], rows: Array, mask: Bool[Array, " c"]
) -> tuple[Array, Int[Array, ""]]:
    """Append the masked ``rows`` to ``store`` after its first ``count`` rows.

    Rows beyond the store's length are dropped; the returned count keeps
    counting them, so ``count > len(store)`` reports the truncation.
    """
    cap = store.shape[0]
    n_mask = jnp.cumsum(mask.astype(jnp.int32))
    k = n_mask[-1]
    pos = jnp.arange(cap) - count  # rank of the new row that lands in each store row
    new = (pos >= 0) & (pos < k)
    src = jnp.clip(jnp.searchsorted(n_mask, pos + 1, side="left"), 0, rows.shape[0] - 1)
    g = new.reshape((cap,) + (1,) * (store.ndim - 1))
    return jnp.where(g, rows[src], store), count + k


def growth_schedule(capacity: int) -> list[int]:
    """Buffer sizes 2, 4, 8, ... below ``capacity``, then ``capacity`` itself."""
    sizes, c = [], 2
    while c < capacity:
        sizes.append(c)
        c *= 2
    return [*sizes, capacity]


def grow(arrays, capacity: int):
    """Pad per-slot arrays (leading axis) with empty slots up to ``capacity``."""
    out = []
    for a in arrays:
        pad = [(0, capacity - a.shape[0])] + [(0, 0)] * (a.ndim - 1)
        out.append(jnp.pad(a, pad))
    return tuple(out)


def check_number(name: str, value, *, allow_zero: bool = False) -> None:
    """A static positive number; traced values are checked by the caller at run time."""
    v = concrete_value(value)
    if v is None:
        return
    if v.shape != ():
        raise ValueError(f"{name} must be a scalar, got shape {v.shape}")
    check_positive(name, float(v), allow_zero=allow_zero)


def float_dtype(*xs):
    dt = jnp.result_type(*xs)
    return dt if jnp.issubdtype(dt, jnp.floating) else jnp.result_type(float)
