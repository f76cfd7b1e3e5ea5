r"""The paired interpreter: the primal program and its alternative, in lockstep.

:func:`interpret_pair` evaluates the program on :class:`~._values.PairedValue`
records: each ordinary equation runs on the primals, on the effective
alternatives (when any input has one) and on the shadow lanes (when derivative
pruning is on); each draw goes through :func:`~._draw.reservoir_draw`.

Control flow keeps both copies in fixed-shape state:

* ``while_loop``: each copy keeps its own carry and the loop runs while either
  copy's condition holds (masked lockstep, as ``vmap`` of a ``while_loop``
  does). An iteration updates the primal carry only where the primal is live
  and the alternative carry where the alternative is live or has just forked.
* ``scan``: the carries of both copies are scanned together; stacked outputs
  record the fork tag of every step, so an alternative made before a later fork
  reads as the primal.
* ``cond``: every branch is interpreted (the primal is live only in the taken
  one) and the outputs are selected by the primal and alternative indices.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax
from jax.extend.core import Jaxpr, Literal

from .._distributions import DISTRIBUTIONS
from ._dependence import parameter_dependence, scan_dependence, while_dependence
from ._draw import reservoir_draw
from ._jaxpr import (
    Context,
    bind_equation,
    called_jaxpr,
    check_unbatched_draw,
    draw_distribution_name,
    equation_has_draw,
    is_inexact,
    stop_gradient_inexact,
    while_condition,
)
from ._values import (
    PairedValue,
    Reservoir,
    bind_on_shadow_lanes,
    effective_alternative,
    shadow_lanes,
)


def interpret_pair(
    jaxpr: Jaxpr,
    consts,
    args: list[PairedValue],
    reservoir: Reservoir,
    context: Context = Context(),
) -> tuple[list[PairedValue], Reservoir]:
    """Evaluate ``jaxpr`` on paired values, threading the reservoir through every draw."""
    env = {}
    for var, x in zip(jaxpr.constvars, consts, strict=True):
        env[var] = PairedValue(x)
    for var, x in zip(jaxpr.invars, args, strict=True):
        env[var] = x

    def read(var) -> PairedValue:
        return PairedValue(var.val) if isinstance(var, Literal) else env[var]

    for eqn in jaxpr.eqns:
        invals = [read(var) for var in eqn.invars]
        name = draw_distribution_name(eqn)
        primitive = eqn.primitive.name
        if name is not None:
            check_unbatched_draw(name, invals[0].primal)
            out, reservoir = reservoir_draw(
                DISTRIBUTIONS[name], invals, eqn.outvars[0].aval, reservoir, context
            )
            outs = [out]
        elif not equation_has_draw(eqn):
            outs = _ordinary(eqn, invals, reservoir, context)
        elif primitive == "while":
            outs, reservoir = _while(eqn, invals, reservoir, context)
        elif primitive == "scan":
            outs, reservoir = _scan(eqn, invals, reservoir, context)
        elif primitive == "cond":
            outs, reservoir = _cond(eqn, invals, reservoir, context)
        else:
            inner, inner_consts = called_jaxpr(eqn)
            outs, reservoir = interpret_pair(inner, inner_consts, invals, reservoir, context)
        for var, x in zip(eqn.outvars, outs, strict=True):
            env[var] = x
    return [read(var) for var in jaxpr.outvars], reservoir


def _ordinary(eqn, invals: list[PairedValue], reservoir: Reservoir, context: Context):
    """An equation without draws: primal, alternative (if any) and shadow lanes (if any)."""
    fork = reservoir.fork
    outs_primal = bind_equation(eqn, [v.primal for v in invals])
    depends = any(v.depends_on_params for v in invals)
    if (
        context.num_shadow_lanes is not None
        and depends
        and any(v.shadow is not None for v in invals)
    ):
        shadows = bind_on_shadow_lanes(eqn, invals)
        outs_shadow = [
            s if is_inexact(o) else None for o, s in zip(outs_primal, shadows, strict=True)
        ]
    else:
        outs_shadow = [None] * len(outs_primal)
    if all(v.alternative is None for v in invals):
        return [
            PairedValue(o, None, None, depends and is_inexact(o), s)
            for o, s in zip(outs_primal, outs_shadow, strict=True)
        ]
    outs_alt = bind_equation(
        eqn, [stop_gradient_inexact(effective_alternative(v, fork)) for v in invals]
    )
    return [
        PairedValue(o, a, fork, depends and is_inexact(o), s)
        for o, a, s in zip(outs_primal, outs_alt, outs_shadow, strict=True)
    ]


def _while(eqn, invals: list[PairedValue], reservoir: Reservoir, context: Context):
    params = eqn.params
    cond_jaxpr, body_jaxpr = params["cond_jaxpr"], params["body_jaxpr"]
    num_cond_consts, num_body_consts = params["cond_nconsts"], params["body_nconsts"]
    cond_consts = invals[:num_cond_consts]
    body_consts = invals[num_cond_consts : num_cond_consts + num_body_consts]
    init = invals[num_cond_consts + num_body_consts :]
    fork_before = reservoir.fork
    carry_depends = while_dependence(params, [v.depends_on_params for v in invals])
    num_lanes = context.num_shadow_lanes
    # Both copies get their own carry: under masked lockstep they diverge even
    # where the values are unperturbed (e.g. the PRNG key once one copy stops).
    cond_consts_primal = [v.primal for v in cond_consts]

    def cond_consts_alt(fork):
        return [effective_alternative(v, fork) for v in cond_consts]

    def cond_fun(loop_state):
        carry_primal, carry_alt, _, res = loop_state
        primal_live = while_condition(cond_jaxpr, cond_consts_primal, carry_primal)
        alt_live = while_condition(cond_jaxpr, cond_consts_alt(res.fork), carry_alt)
        return primal_live | alt_live

    def body_fun(loop_state):
        carry_primal, carry_alt, carry_shadow, res = loop_state
        fork = res.fork
        primal_live = while_condition(cond_jaxpr, cond_consts_primal, carry_primal)
        alt_live = while_condition(cond_jaxpr, cond_consts_alt(fork), carry_alt)
        carry = [
            PairedValue(p, a, fork, d, s)
            for p, a, d, s in zip(carry_primal, carry_alt, carry_depends, carry_shadow, strict=True)
        ]
        outs, new_res = interpret_pair(
            body_jaxpr.jaxpr,
            body_jaxpr.consts,
            [*body_consts, *carry],
            res,
            context.enter("while_loop", primal_live),
        )
        forked = new_res.fork != fork
        new_primal = [
            jnp.where(primal_live, o.primal, p) for o, p in zip(outs, carry_primal, strict=True)
        ]
        keep_alt = alt_live | forked
        new_alt = [
            jnp.where(keep_alt, stop_gradient_inexact(effective_alternative(o, new_res.fork)), a)
            for o, a in zip(outs, carry_alt, strict=True)
        ]
        new_shadow = [
            None if s is None else jnp.where(primal_live, shadow_lanes(o, num_lanes), s)
            for o, s in zip(outs, carry_shadow, strict=True)
        ]
        return new_primal, new_alt, new_shadow, new_res

    init_primal = [v.primal for v in init]
    if any(v.alternative is not None for v in init):
        init_alt = [effective_alternative(v, fork_before) for v in init]
    else:
        init_alt = list(init_primal)
    # Keep the tangent only on the primal copy.
    init_alt = [stop_gradient_inexact(a) for a in init_alt]
    init_shadow = [
        shadow_lanes(v, num_lanes) if num_lanes is not None and d and is_inexact(v.primal) else None
        for v, d in zip(init, carry_depends, strict=True)
    ]
    carry_primal, carry_alt, carry_shadow, reservoir = lax.while_loop(
        cond_fun, body_fun, (init_primal, init_alt, init_shadow, reservoir)
    )
    outs = [
        PairedValue(p, a, reservoir.fork, d, s)
        for p, a, d, s in zip(carry_primal, carry_alt, carry_depends, carry_shadow, strict=True)
    ]
    return outs, reservoir


def _scan(eqn, invals: list[PairedValue], reservoir: Reservoir, context: Context):
    params = eqn.params
    num_consts, num_carry, body = params["num_consts"], params["num_carry"], params["jaxpr"]
    consts = invals[:num_consts]
    init = invals[num_consts : num_consts + num_carry]
    xs = invals[num_consts + num_carry :]
    fork_before = reservoir.fork
    depends = scan_dependence(params, [v.depends_on_params for v in invals])
    carry_depends, ys_depends = depends[:num_carry], depends[num_carry:]
    xs_primal = [v.primal for v in xs]
    xs_alt = [
        stop_gradient_inexact(effective_alternative(v, fork_before))
        if v.alternative is not None
        else None
        for v in xs
    ]
    num_lanes = context.num_shadow_lanes
    # shadow lanes of the scanned inputs, scan axis first: (L, P, ...)
    xs_shadow = [None if v.shadow is None else jnp.moveaxis(v.shadow, 0, 1) for v in xs]

    def step(scan_state, x):
        carry_primal, carry_alt, carry_shadow, res = scan_state
        fork = res.fork
        x_primal, x_alt, x_shadow = x
        carry = [
            PairedValue(p, a, fork, d, s)
            for p, a, d, s in zip(carry_primal, carry_alt, carry_depends, carry_shadow, strict=True)
        ]
        x_values = [
            PairedValue(p, a, fork_before, v.depends_on_params, s)
            if a is not None
            else PairedValue(p, None, None, v.depends_on_params, s)
            for p, a, v, s in zip(x_primal, x_alt, xs, x_shadow, strict=True)
        ]
        outs, new_res = interpret_pair(
            body.jaxpr, body.consts, [*consts, *carry, *x_values], res, context.enter("scan")
        )
        new_fork = new_res.fork
        new_primal = [o.primal for o in outs[:num_carry]]
        new_alt = [
            stop_gradient_inexact(effective_alternative(o, new_fork)) for o in outs[:num_carry]
        ]
        new_shadow = [
            None if s is None else shadow_lanes(o, num_lanes)
            for o, s in zip(outs[:num_carry], carry_shadow, strict=True)
        ]
        ys = [
            (
                o.primal,
                stop_gradient_inexact(effective_alternative(o, new_fork)),
                new_fork,
                shadow_lanes(o, num_lanes) if num_lanes is not None and d else None,
            )
            for o, d in zip(outs[num_carry:], ys_depends, strict=True)
        ]
        return (new_primal, new_alt, new_shadow, new_res), ys

    init_primal = [v.primal for v in init]
    init_alt = [stop_gradient_inexact(effective_alternative(v, fork_before)) for v in init]
    init_shadow = [
        shadow_lanes(v, num_lanes) if num_lanes is not None and d and is_inexact(v.primal) else None
        for v, d in zip(init, carry_depends, strict=True)
    ]
    (carry_primal, carry_alt, carry_shadow, reservoir), ys = lax.scan(
        step,
        (init_primal, init_alt, init_shadow, reservoir),
        (xs_primal, xs_alt, xs_shadow),
        length=params["length"],
        reverse=params["reverse"],
        unroll=params["unroll"],
    )
    fork = reservoir.fork
    outs = [
        PairedValue(p, a, fork, d, s)
        for p, a, d, s in zip(carry_primal, carry_alt, carry_depends, carry_shadow, strict=True)
    ]
    for (y_primal, y_alt, y_forks, y_shadow), d in zip(ys, ys_depends, strict=True):
        # an alternative made before a later fork is stale: it reads as the primal
        tags = y_forks.reshape(y_forks.shape + (1,) * (y_primal.ndim - 1))
        shadow = (
            None if y_shadow is None or not is_inexact(y_primal) else jnp.moveaxis(y_shadow, 1, 0)
        )
        outs.append(
            PairedValue(y_primal, jnp.where(tags == fork, y_alt, y_primal), fork, d, shadow)
        )
    return outs, reservoir


def _cond(eqn, invals: list[PairedValue], reservoir: Reservoir, context: Context):
    branches = eqn.params["branches"]
    index, operands = invals[0], invals[1:]
    per_branch = [
        parameter_dependence(b.jaxpr, [v.depends_on_params for v in operands]) for b in branches
    ]
    out_depends = [any(column) for column in zip(*per_branch, strict=True)]
    results = []
    for k, branch in enumerate(branches):
        outs, reservoir = interpret_pair(
            branch.jaxpr,
            branch.consts,
            operands,
            reservoir,
            context.enter("cond", index.primal == k),
        )
        results.append(outs)
    fork = reservoir.fork
    index_primal = jnp.clip(index.primal, 0, len(branches) - 1)
    index_alt = jnp.clip(effective_alternative(index, fork), 0, len(branches) - 1)
    num_lanes = context.num_shadow_lanes
    outs = []
    for i, d in enumerate(out_depends):
        primals = [r[i].primal for r in results]
        alts = [stop_gradient_inexact(effective_alternative(r[i], fork)) for r in results]
        shadow = None
        if (
            num_lanes is not None
            and d
            and is_inexact(primals[0])
            and any(r[i].shadow is not None for r in results)
        ):
            shadow = lax.select_n(index_primal, *[shadow_lanes(r[i], num_lanes) for r in results])
        outs.append(
            PairedValue(
                lax.select_n(index_primal, *primals),
                lax.select_n(index_alt, *alts),
                fork,
                d,
                shadow,
            )
        )
    return outs, reservoir
