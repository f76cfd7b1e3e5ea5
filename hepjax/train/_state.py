"""Splitting a model into trainable arrays and the rest, for Equinox and Flax NNX.

The training loop works on a plain pytree of trainable arrays; a
:class:`ModelAdapter` knows how to split a user's model into that pytree and
how to rebuild the model from it inside ``jit``.

- Equinox: ``eqx.partition(model, eqx.is_inexact_array)``; the static part
  (activation functions, integer buffers) is closed over.
- Flax NNX: ``nnx.split(model, nnx.Param, ...)``; only ``nnx.Param`` variables
  are trained. Other state (batch statistics, ``nnx.Rngs`` counters) is held
  constant: pass randomness through the loss function's ``key`` instead.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx


@dataclasses.dataclass(frozen=True)
class ModelAdapter:
    """How to rebuild a model from its trainable arrays."""

    kind: str
    rebuild: Callable[[Any], Any]


def _is_nnx_module(model: Any) -> bool:
    try:
        from flax import nnx
    except ImportError:  # flax is a core dependency, but stay robust
        return False
    return isinstance(model, nnx.Module)


def split_model(model: Any) -> tuple[Any, ModelAdapter]:
    """Return ``(params, adapter)`` with ``adapter.rebuild(params)`` equal to ``model``."""
    if _is_nnx_module(model):
        from flax import nnx

        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        return params, ModelAdapter("nnx", lambda p: nnx.merge(graphdef, p, rest))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    if not any(eqx.is_inexact_array(leaf) for leaf in _leaves(params)):
        raise ValueError(
            "model has no floating-point arrays to train; pass an Equinox module "
            "(or any pytree of arrays) or a Flax NNX module"
        )
    return params, ModelAdapter("equinox", lambda p: eqx.combine(p, static))


def _leaves(tree: Any) -> list:
    import jax

    return jax.tree.leaves(tree)
