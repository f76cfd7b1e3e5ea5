r"""Deterministic minimisation of a smooth function of a few parameters.

:func:`minimize` runs an Optax solver with line search (L-BFGS by default) for a
fixed number of iterations inside one ``lax.scan``, so it compiles once and
``jax.vmap`` runs it from many starts at once (for example the grid of starts of
a Chinchilla fit, :func:`hepjax.scaling.fit_parametric`). It is the small sibling
of :func:`~hepjax.train.fit`: a full-batch objective, no data stream, no
checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import optax

from .._core import check_positive_int

__all__ = ["minimize"]


def minimize(
    fn: Callable,
    x0,
    *,
    iterations: int = 100,
    solver: optax.GradientTransformationExtraArgs | None = None,
):
    """Minimise ``fn(x) -> scalar`` from ``x0`` (any pytree) with ``iterations`` solver steps.

    Args:
        fn: the objective, a scalar function of a pytree like ``x0``.
        x0: the start.
        iterations: solver steps (each with its line search).
        solver: an Optax solver that takes ``value``, ``grad`` and ``value_fn``
            (default ``optax.lbfgs()``).

    Returns:
        ``(x, fn(x))`` at the last iterate. Pure and jit/vmap-compatible.
    """
    iterations = check_positive_int("iterations", iterations)
    solver = optax.lbfgs() if solver is None else solver
    value_and_grad = optax.value_and_grad_from_state(fn)

    def step(carry, _):
        x, state = carry
        value, grad = value_and_grad(x, state=state)
        updates, state = solver.update(grad, state, x, value=value, grad=grad, value_fn=fn)
        return (optax.apply_updates(x, updates), state), None

    (x, _), _ = jax.lax.scan(step, (x0, solver.init(x0)), None, length=iterations)
    return x, fn(x)
