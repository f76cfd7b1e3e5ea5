r"""The single-copy interpreter: one run of the program with a handler at every draw.

:func:`interpret_single` evaluates the program once. Ordinary equations are
re-bound to JAX; each draw is handed to a :class:`DrawHandler`, which returns
the draw's output and updates a fixed-shape *state* threaded through every loop
carry. The score-function estimator accumulates $\sum_j\log p(x_j;\theta)$ in the
state, Gumbel-softmax straight-through replaces the sample by a relaxed one, and
enumeration forces the outcomes of a grid of joint worlds.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from jax import lax
from jax.extend.core import Jaxpr, jaxpr_as_fun

from .._distributions import DISTRIBUTIONS
from ._jaxpr import (
    Context,
    bind_equation,
    called_jaxpr,
    check_unbatched_draw,
    draw_distribution_name,
    equation_has_draw,
    jaxpr_has_draw,
    read_var,
)


@runtime_checkable
class DrawHandler(Protocol):
    """What an estimator does at each draw of the single-copy interpreter."""

    def draw(self, dist, key, params: list, aval, state, context: Context) -> tuple[Any, Any]:
        """Return ``(output, new_state)`` for one draw.

        Args:
            dist: the distribution's rules (``sample``, ``logprob``, ...).
            key: the draw's PRNG key.
            params: the draw's parameter arrays.
            aval: the abstract value (shape, dtype) the output must have.
            state: the threaded state before the draw.
            context: the enclosing loops (enumeration refuses draws in loops).
        """
        ...


def interpret_single(
    jaxpr: Jaxpr, consts, args, state, handler: DrawHandler, context: Context = Context()
):
    """Evaluate ``jaxpr`` once, threading ``state`` through ``handler.draw``.

    Returns:
        ``(outputs, state)``: the list of the jaxpr's outputs and the final state.
    """
    env = {}
    for var, x in zip(jaxpr.constvars, consts, strict=True):
        env[var] = x
    for var, x in zip(jaxpr.invars, args, strict=True):
        env[var] = x
    for eqn in jaxpr.eqns:
        invals = [read_var(env, var) for var in eqn.invars]
        name = draw_distribution_name(eqn)
        primitive = eqn.primitive.name
        if name is not None:
            check_unbatched_draw(name, invals[0])
            out, state = handler.draw(
                DISTRIBUTIONS[name], invals[0], invals[1:], eqn.outvars[0].aval, state, context
            )
            outs = [out]
        elif not equation_has_draw(eqn):
            outs = bind_equation(eqn, invals)
        elif primitive == "while":
            outs, state = _while(eqn, invals, state, handler, context)
        elif primitive == "scan":
            outs, state = _scan(eqn, invals, state, handler, context)
        elif primitive == "cond":
            outs, state = _cond(eqn, invals, state, handler, context)
        else:
            inner, inner_consts = called_jaxpr(eqn)
            outs, state = interpret_single(inner, inner_consts, invals, state, handler, context)
        for var, x in zip(eqn.outvars, outs, strict=True):
            env[var] = x
    return [read_var(env, var) for var in jaxpr.outvars], state


def _while(eqn, invals, state, handler, context):
    params = eqn.params
    cond_jaxpr, body_jaxpr = params["cond_jaxpr"], params["body_jaxpr"]
    num_cond_consts, num_body_consts = params["cond_nconsts"], params["body_nconsts"]
    cond_consts = invals[:num_cond_consts]
    body_consts = invals[num_cond_consts : num_cond_consts + num_body_consts]
    init = invals[num_cond_consts + num_body_consts :]
    if jaxpr_has_draw(cond_jaxpr.jaxpr):
        raise TypeError("hepjax.estimators cannot transform draws in the condition of a while_loop")
    inner = context.enter("while_loop")

    def cond_fun(carry_and_state):
        carry, _ = carry_and_state
        return jaxpr_as_fun(cond_jaxpr)(*cond_consts, *carry)[0]

    def body_fun(carry_and_state):
        carry, state = carry_and_state
        return interpret_single(
            body_jaxpr.jaxpr, body_jaxpr.consts, [*body_consts, *carry], state, handler, inner
        )

    return lax.while_loop(cond_fun, body_fun, (list(init), state))


def _scan(eqn, invals, state, handler, context):
    params = eqn.params
    num_consts, num_carry, body = params["num_consts"], params["num_carry"], params["jaxpr"]
    consts = invals[:num_consts]
    init = invals[num_consts : num_consts + num_carry]
    xs = invals[num_consts + num_carry :]
    inner = context.enter("scan")

    def step(carry_and_state, x):
        carry, state = carry_and_state
        outs, state = interpret_single(
            body.jaxpr, body.consts, [*consts, *carry, *x], state, handler, inner
        )
        return (outs[:num_carry], state), outs[num_carry:]

    (carry, state), ys = lax.scan(
        step,
        (list(init), state),
        list(xs),
        length=params["length"],
        reverse=params["reverse"],
        unroll=params["unroll"],
    )
    return [*carry, *ys], state


def _cond(eqn, invals, state, handler, context):
    branches = eqn.params["branches"]
    index, operands = invals[0], invals[1:]
    inner = context.enter("cond")

    def branch_fun(branch):
        return lambda ops, st: interpret_single(
            branch.jaxpr, branch.consts, ops, st, handler, inner
        )

    return lax.switch(index, [branch_fun(b) for b in branches], list(operands), state)
