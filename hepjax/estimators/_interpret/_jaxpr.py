"""Reading a traced program: where its draws are, binding equations, the context.

Both interpreters walk a :class:`jax.extend.core.Jaxpr` equation by equation.
This module holds what they share: recognising a draw equation (a ``jit`` call
named ``hje_draw__<distribution>``), finding the sub-jaxprs of control flow,
re-binding an ordinary equation to JAX, and the :class:`Context` that records
which loops the interpreter is inside and whether the primal copy is live.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import ClosedJaxpr, Jaxpr, Literal, jaxpr_as_fun

from .._distributions import DRAW_PREFIX

# Parameter names under which call-like primitives (jit, custom_jvp, ...) keep their body.
_CALL_PARAM_NAMES = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def draw_distribution_name(eqn) -> str | None:
    """The distribution name of a draw equation (``"bernoulli"``...), else ``None``."""
    if eqn.primitive.name in ("jit", "pjit"):
        name = str(eqn.params.get("name", ""))
        if name.startswith(DRAW_PREFIX):
            return name[len(DRAW_PREFIX) :]
    return None


def _jaxprs_in(param_value) -> Iterator[Jaxpr]:
    if isinstance(param_value, ClosedJaxpr):
        yield param_value.jaxpr
    elif isinstance(param_value, Jaxpr):
        yield param_value
    elif isinstance(param_value, tuple | list):
        for item in param_value:
            yield from _jaxprs_in(item)


def sub_jaxprs(eqn) -> Iterator[Jaxpr]:
    """Every jaxpr nested in the parameters of ``eqn`` (loop bodies, branches, calls)."""
    for param_value in eqn.params.values():
        yield from _jaxprs_in(param_value)


# id(jaxpr) -> (jaxpr, has a draw); the jaxpr is kept so that a recycled id cannot alias.
_HAS_DRAW_CACHE: dict[int, tuple[Jaxpr, bool]] = {}
_HAS_DRAW_CACHE_SIZE = 4096


def jaxpr_has_draw(jaxpr: Jaxpr) -> bool:
    """Whether ``jaxpr`` contains a draw, at any depth (memoised per jaxpr object)."""
    cached = _HAS_DRAW_CACHE.get(id(jaxpr))
    if cached is not None and cached[0] is jaxpr:
        return cached[1]
    found = any(equation_has_draw(eqn) for eqn in jaxpr.eqns)
    if len(_HAS_DRAW_CACHE) > _HAS_DRAW_CACHE_SIZE:
        _HAS_DRAW_CACHE.clear()
    _HAS_DRAW_CACHE[id(jaxpr)] = (jaxpr, found)
    return found


def equation_has_draw(eqn) -> bool:
    """Whether ``eqn`` is a draw or contains one in a sub-jaxpr."""
    return draw_distribution_name(eqn) is not None or any(
        jaxpr_has_draw(inner) for inner in sub_jaxprs(eqn)
    )


def bind_equation(eqn, invals: list) -> list:
    """Evaluate an ordinary equation on ``invals`` with JAX; always returns a list."""
    params = eqn.primitive.get_bind_params(eqn.params)
    if isinstance(params, tuple):  # older JAX: (subfuns, params)
        subfuns, params = params
    else:
        subfuns = []
    ctx = getattr(eqn, "ctx", None)
    if ctx is not None:
        with ctx.manager:
            out = eqn.primitive.bind(*subfuns, *invals, **params)
    else:
        out = eqn.primitive.bind(*subfuns, *invals, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


def called_jaxpr(eqn) -> tuple[Jaxpr, list]:
    """The body and constants of a call-like equation (nested ``jit``, ``custom_jvp``...).

    Raises:
        TypeError: naming the primitive, when it has no body the interpreters can enter.
    """
    for name in _CALL_PARAM_NAMES:
        value = eqn.params.get(name)
        if isinstance(value, ClosedJaxpr):
            return value.jaxpr, list(value.consts)
        if isinstance(value, Jaxpr):
            return value, []
    raise TypeError(
        f"hepjax.estimators cannot transform discrete draws inside `{eqn.primitive.name}`"
    )


def read_var(env: dict, var) -> Any:
    """The value of a jaxpr variable in ``env``, or the literal's value."""
    return var.val if isinstance(var, Literal) else env[var]


def is_inexact(x) -> bool:
    """Whether ``x`` has a floating or complex dtype (so it can carry a tangent)."""
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def stop_gradient_inexact(x):
    """``lax.stop_gradient`` on inexact values; integers and booleans pass through."""
    return lax.stop_gradient(x) if is_inexact(x) else x


def logical_and(a, b):
    """``a & b`` where either may be the static ``True`` (which then folds away)."""
    if a is True:
        return b
    if b is True:
        return a
    return jnp.logical_and(a, b)


@dataclasses.dataclass(frozen=True)
class Context:
    """Where the interpreter is.

    Attributes:
        loops: names of the enclosing control-flow constructs, outermost first
            (``"while_loop"``, ``"scan"``, ``"cond"``).
        primal_active: ``True``, or a traced bool: whether the primal copy is
            live here (false on the masked iterations of a lockstep
            ``while_loop`` and in the untaken branches of a ``cond``).
        shadow_step: the ``(P,)`` finite-difference steps of the shadow lanes
            (derivative pruning), or ``None`` when there are no shadow lanes.
    """

    loops: tuple[str, ...] = ()
    primal_active: Any = True
    shadow_step: Any = None

    @property
    def num_shadow_lanes(self) -> int | None:
        """``P``, the number of shadow lanes, or ``None`` without them."""
        return None if self.shadow_step is None else self.shadow_step.shape[0]

    def enter(self, loop: str, primal_active=None) -> Context:
        """The context inside ``loop``, where the primal is live only if also ``primal_active``."""
        active = (
            self.primal_active
            if primal_active is None
            else logical_and(self.primal_active, primal_active)
        )
        return Context((*self.loops, loop), active, self.shadow_step)


def check_unbatched_draw(name: str, key) -> None:
    """Refuse a draw whose key is batched, i.e. a draw under a ``vmap`` inside the program."""
    batch = key.shape if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key.shape[:-1]
    if batch != ():
        raise TypeError(
            f"hepjax.estimators: the draw hje.{name.split('_')[0]} is under a jax.vmap "
            "inside the program; pass arrays of parameters to one draw instead "
            "(vmap outside value_and_grad is fine)"
        )


def while_condition(cond_jaxpr: ClosedJaxpr, consts: list, carry: list):
    """Evaluate the condition of a ``while_loop`` (which may not contain draws)."""
    if jaxpr_has_draw(cond_jaxpr.jaxpr):
        raise TypeError("hepjax.estimators cannot transform draws in the condition of a while_loop")
    return jaxpr_as_fun(cond_jaxpr)(*consts, *carry)[0]
