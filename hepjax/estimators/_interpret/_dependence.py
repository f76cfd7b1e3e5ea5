"""Dependence analysis: which values carry a pathwise tangent from the parameters.

The alternative-path interpreter needs to know, before it runs a loop, which
carries depend on the parameters (only those get shadow lanes, and only draws
with a parameter-dependent law propose alternatives). Discrete draws cut the
dependence: their derivative is carried by the estimator's weights, not by
tangents. Loops are analysed to a fixed point over their carries.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.extend.core import Jaxpr, Literal

from ._jaxpr import called_jaxpr, draw_distribution_name, equation_has_draw, sub_jaxprs


def parameter_dependence(jaxpr: Jaxpr, inputs_depend: list[bool]) -> list[bool]:
    """For each output of ``jaxpr``, whether it carries a tangent from the parameters.

    Args:
        jaxpr: the program (or a loop body, a branch).
        inputs_depend: one flag per input variable of ``jaxpr``.
    """
    env = {}
    for var in jaxpr.constvars:
        env[var] = False
    for var, depends in zip(jaxpr.invars, inputs_depend, strict=True):
        env[var] = bool(depends)

    def depends_of(var) -> bool:
        return False if isinstance(var, Literal) else env[var]

    for eqn in jaxpr.eqns:
        ins = [depends_of(var) for var in eqn.invars]
        primitive = eqn.primitive.name
        if draw_distribution_name(eqn) is not None:
            outs = [False] * len(eqn.outvars)
        elif primitive == "while":
            outs = while_dependence(eqn.params, ins)
        elif primitive == "scan":
            outs = scan_dependence(eqn.params, ins)
        elif primitive == "cond":
            per_branch = [parameter_dependence(b.jaxpr, ins[1:]) for b in eqn.params["branches"]]
            outs = [any(column) for column in zip(*per_branch, strict=True)]
        elif any(True for _ in sub_jaxprs(eqn)) and equation_has_draw(eqn):
            inner, _ = called_jaxpr(eqn)
            outs = parameter_dependence(inner, ins)
        else:
            outs = [any(ins)] * len(eqn.outvars)
        for var, depends in zip(eqn.outvars, outs, strict=True):
            env[var] = bool(depends) and jnp.issubdtype(var.aval.dtype, jnp.inexact)
    return [depends_of(var) for var in jaxpr.outvars]


def while_dependence(params: dict, inputs_depend: list[bool]) -> list[bool]:
    """Dependence of the carries of a ``while_loop`` equation, iterated to a fixed point."""
    num_cond_consts, num_body_consts = params["cond_nconsts"], params["body_nconsts"]
    consts = list(inputs_depend[num_cond_consts : num_cond_consts + num_body_consts])
    carry = list(inputs_depend[num_cond_consts + num_body_consts :])
    while True:
        new = parameter_dependence(params["body_jaxpr"].jaxpr, [*consts, *carry])
        merged = [bool(a or b) for a, b in zip(carry, new, strict=True)]
        if merged == carry:
            return carry
        carry = merged


def scan_dependence(params: dict, inputs_depend: list[bool]) -> list[bool]:
    """Dependence of the carries and stacked outputs of a ``scan`` equation (fixed point)."""
    num_consts, num_carry = params["num_consts"], params["num_carry"]
    consts = list(inputs_depend[:num_consts])
    carry = list(inputs_depend[num_consts : num_consts + num_carry])
    xs = list(inputs_depend[num_consts + num_carry :])
    while True:
        new = parameter_dependence(params["jaxpr"].jaxpr, [*consts, *carry, *xs])
        merged = [bool(a or b) for a, b in zip(carry, new[:num_carry], strict=True)]
        if merged == carry:
            return [*carry, *new[num_carry:]]
        carry = merged
