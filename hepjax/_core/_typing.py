"""jaxtyping aliases shared across hepjax.

Shapes use jaxtyping's string syntax, e.g. ``Float[Array, "n d"]``. These
aliases name the recurring roles so that signatures read like the maths.
"""

from typing import TypeAlias

from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree, Scalar

KeyArray: TypeAlias = PRNGKeyArray
"""A JAX PRNG key (typed ``jax.random.key`` or raw ``uint32[2]``)."""

FloatScalar: TypeAlias = Float[Array, ""]
"""A 0-d floating array, e.g. a loss."""

SetFeatures: TypeAlias = Float[Array, "n d"]
"""Features of a padded set of ``n`` elements (particles), ``d`` features each."""

SetMask: TypeAlias = Bool[Array, " n"]
"""``True`` for the real elements of a padded set, ``False`` for padding."""

Params: TypeAlias = PyTree[Float[Array, "..."]]
"""A pytree of floating parameters."""

__all__ = [
    "Array",
    "ArrayLike",
    "Bool",
    "Float",
    "FloatScalar",
    "Int",
    "KeyArray",
    "Params",
    "PyTree",
    "Scalar",
    "SetFeatures",
    "SetMask",
]
