r"""Jaxpr interpreters that turn a program with discrete draws into an estimator.

The program is traced once with :func:`jax.make_jaxpr`. Draws appear as ``jit``
equations named ``hje_draw__<distribution>``. Two interpreters then evaluate
the jaxpr with JAX operations, recursing into the sub-jaxprs of ``while``,
``scan``, ``cond`` and nested ``jit`` calls, so the result can itself be jitted,
vmapped and forward-differentiated:

* :func:`interp_single` evaluates one copy of the program and threads a
  fixed-shape *state* (for example an accumulated log-probability) through
  every loop carry. Draws are handled by a handler object.
* :func:`interp_pair` evaluates the primal program and one coupled *alternative*
  program in lockstep, for the alternative-path estimator.

Alternative path (stochastic triples, arXiv:2210.08572, with pruning). Every
value is a :class:`V` with a primal ``p``, an optional alternative ``a`` and a
``tag``. At each primal draw $i$ an alternative outcome $y_i$ is proposed with
magnitude $m_i$ and normalised weight $s_i=w_i(\dot\theta)/m_i$. A reservoir
keeps one of them, draw $i$ replacing the current one with probability
$m_i/\sum_{j\le i}m_j$; accepting increments a fork counter $F$ and the draw's
alternative output becomes $y_i$. A value's alternative is only valid while its
tag equals $F$; otherwise the alternative trajectory has been reset to the
primal and the effective alternative is the primal. This makes the reset free
and keeps all state fixed-shape, so it works inside ``while_loop`` and
``scan``. At the end
$$\hat g = \nabla_{\text{path}} f + W\,\dot s\,\bigl(f(\text{alt})-f(\text{primal})\bigr),
\qquad W=\sum_i m_i,$$
whose expectation over the reservoir is $\sum_i w_i\,(f(\text{alt}_i)-f)$, the
unbiased stochastic-derivative estimate. Inside a ``while_loop`` the two copies
run in masked lockstep until both stop; primal draws on masked iterations
propose nothing.

Derivative-proportional pruning. The magnitudes $m_i$ may be any positive
numbers wherever $w_i\ne0$ without biasing the estimate, but its variance is
smallest when $m_i\propto|w_i|$: a draw whose probabilities do not move with
$\theta$ should never be kept. Its weight $w_i(\dot\theta)$ is only known as a
tangent, which cannot steer a primal decision inside forward mode. So, with
``shadow`` enabled, every parameter-dependent value also carries a *shadow*
``h`` with a leading axis of the $P$ parameter directions: the same computation
at $\theta+\epsilon_k e_k$ along the primal's discrete path. At a draw the
finite differences of the shadow give the parameter tangents, the exact
weights $w_{ik}$ of the proposal are evaluated with them (``jax.jvp`` of the
proposal rule), and $m_i=\sum_k|w_{ik}|+\eta\,m^\text{prob}_i$ (a small
floor keeps $m_i>0$ where a finite difference underflows). The weight that
enters the estimate remains the exact tangent, so the shadow only steers the
pruning and cannot bias it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import ClosedJaxpr, Jaxpr, Literal, jaxpr_as_fun

from ._distributions import DISTRIBUTIONS, DRAW_PREFIX, subkeys

_CALL_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def draw_name(eqn) -> str | None:
    if eqn.primitive.name in ("jit", "pjit"):
        name = str(eqn.params.get("name", ""))
        if name.startswith(DRAW_PREFIX):
            return name[len(DRAW_PREFIX) :]
    return None


def _as_jaxprs(value):
    if isinstance(value, ClosedJaxpr):
        yield value.jaxpr
    elif isinstance(value, Jaxpr):
        yield value
    elif isinstance(value, tuple | list):
        for v in value:
            yield from _as_jaxprs(v)


def subjaxprs(eqn):
    for value in eqn.params.values():
        yield from _as_jaxprs(value)


_CONTAINS: dict[int, tuple[Jaxpr, bool]] = {}


def contains_draw(jaxpr: Jaxpr) -> bool:
    hit = _CONTAINS.get(id(jaxpr))
    if hit is not None and hit[0] is jaxpr:
        return hit[1]
    found = any(
        draw_name(e) is not None or any(contains_draw(j) for j in subjaxprs(e)) for e in jaxpr.eqns
    )
    if len(_CONTAINS) > 4096:
        _CONTAINS.clear()
    _CONTAINS[id(jaxpr)] = (jaxpr, found)
    return found


def eqn_contains_draw(eqn) -> bool:
    return draw_name(eqn) is not None or any(contains_draw(j) for j in subjaxprs(eqn))


def bind(eqn, invals):
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


def _closed(eqn):
    for name in _CALL_PARAMS:
        value = eqn.params.get(name)
        if isinstance(value, ClosedJaxpr):
            return value.jaxpr, list(value.consts)
        if isinstance(value, Jaxpr):
            return value, []
    raise TypeError(
        f"hepjax.estimators cannot transform discrete draws inside `{eqn.primitive.name}`"
    )


def _read(env, v):
    return v.val if isinstance(v, Literal) else env[v]


def _inexact(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _sg(x):
    return lax.stop_gradient(x) if _inexact(x) else x


@dataclasses.dataclass(frozen=True)
class Ctx:
    """Interpretation context: the loops we are inside and the primal mask."""

    loops: tuple[str, ...] = ()
    active: object = True  # True, or a traced bool: is the primal copy live here?
    shadow_step: object = None  # (P,) finite-difference steps of the shadow lanes, or None

    def enter(self, loop: str, active=None) -> Ctx:
        act = self.active if active is None else _and(self.active, active)
        return Ctx((*self.loops, loop), act, self.shadow_step)


def _and(a, b):
    if a is True:
        return b
    if b is True:
        return a
    return jnp.logical_and(a, b)


def _batch_check(name, key):
    k = key
    batch = k.shape if jnp.issubdtype(k.dtype, jax.dtypes.prng_key) else k.shape[:-1]
    if batch != ():
        raise TypeError(
            f"hepjax.estimators: the draw hje.{name.split('_')[0]} is under a jax.vmap "
            "inside the program; pass arrays of parameters to one draw instead "
            "(vmap outside value_and_grad is fine)"
        )


# ---------------------------------------------------------------- single copy


def interp_single(jaxpr: Jaxpr, consts, args, state, handler, ctx: Ctx = Ctx()):
    """Evaluate ``jaxpr`` once, threading ``state`` through ``handler.draw``."""
    env = {}
    for v, x in zip(jaxpr.constvars, consts, strict=True):
        env[v] = x
    for v, x in zip(jaxpr.invars, args, strict=True):
        env[v] = x
    for eqn in jaxpr.eqns:
        invals = [_read(env, v) for v in eqn.invars]
        name = draw_name(eqn)
        prim = eqn.primitive.name
        if name is not None:
            _batch_check(name, invals[0])
            out, state = handler.draw(
                DISTRIBUTIONS[name], invals[0], invals[1:], eqn.outvars[0].aval, state, ctx
            )
            outs = [out]
        elif not eqn_contains_draw(eqn):
            outs = bind(eqn, invals)
        elif prim == "while":
            outs, state = _single_while(eqn, invals, state, handler, ctx)
        elif prim == "scan":
            outs, state = _single_scan(eqn, invals, state, handler, ctx)
        elif prim == "cond":
            outs, state = _single_cond(eqn, invals, state, handler, ctx)
        else:
            inner, inner_consts = _closed(eqn)
            outs, state = interp_single(inner, inner_consts, invals, state, handler, ctx)
        for v, x in zip(eqn.outvars, outs, strict=True):
            env[v] = x
    return [_read(env, v) for v in jaxpr.outvars], state


def _single_while(eqn, invals, state, handler, ctx):
    p = eqn.params
    cj, bj = p["cond_jaxpr"], p["body_jaxpr"]
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, init = invals[:nc], invals[nc : nc + nb], invals[nc + nb :]
    if contains_draw(cj.jaxpr):
        raise TypeError("hepjax.estimators cannot transform draws in the condition of a while_loop")
    inner = ctx.enter("while_loop")

    def cond_fun(c):
        return jaxpr_as_fun(cj)(*cconsts, *c[0])[0]

    def body_fun(c):
        outs, st = interp_single(bj.jaxpr, bj.consts, [*bconsts, *c[0]], c[1], handler, inner)
        return outs, st

    carry, state = lax.while_loop(cond_fun, body_fun, (list(init), state))
    return carry, state


def _single_scan(eqn, invals, state, handler, ctx):
    p = eqn.params
    nc, ncar, j = p["num_consts"], p["num_carry"], p["jaxpr"]
    consts, init, xs = invals[:nc], invals[nc : nc + ncar], invals[nc + ncar :]
    inner = ctx.enter("scan")

    def f(c, x):
        outs, st = interp_single(j.jaxpr, j.consts, [*consts, *c[0], *x], c[1], handler, inner)
        return (outs[:ncar], st), outs[ncar:]

    (carry, state), ys = lax.scan(
        f,
        (list(init), state),
        list(xs),
        length=p["length"],
        reverse=p["reverse"],
        unroll=p["unroll"],
    )
    return [*carry, *ys], state


def _single_cond(eqn, invals, state, handler, ctx):
    branches = eqn.params["branches"]
    index, ops = invals[0], invals[1:]
    inner = ctx.enter("cond")

    def make(b):
        return lambda o, st: interp_single(b.jaxpr, b.consts, o, st, handler, inner)

    outs, state = lax.switch(index, [make(b) for b in branches], list(ops), state)
    return outs, state


# ---------------------------------------------------------------- dependence analysis


def dep_analysis(jaxpr: Jaxpr, in_deps) -> list[bool]:
    """Which outputs carry a (pathwise) tangent from the parameters.

    Discrete draws cut the dependence: their derivative is carried by the
    estimator's weights, not by tangents.
    """
    env = {}
    for v in jaxpr.constvars:
        env[v] = False
    for v, d in zip(jaxpr.invars, in_deps, strict=True):
        env[v] = bool(d)

    def rd(v):
        return False if isinstance(v, Literal) else env[v]

    for eqn in jaxpr.eqns:
        ins = [rd(v) for v in eqn.invars]
        prim = eqn.primitive.name
        if draw_name(eqn) is not None:
            outs = [False] * len(eqn.outvars)
        elif prim == "while":
            outs = while_deps(eqn.params, ins)
        elif prim == "scan":
            outs = scan_deps(eqn.params, ins)
        elif prim == "cond":
            per = [dep_analysis(b.jaxpr, ins[1:]) for b in eqn.params["branches"]]
            outs = [any(col) for col in zip(*per, strict=True)]
        elif any(True for _ in subjaxprs(eqn)) and eqn_contains_draw(eqn):
            inner, _ = _closed(eqn)
            outs = dep_analysis(inner, ins)
        else:
            outs = [any(ins)] * len(eqn.outvars)
        for v, d in zip(eqn.outvars, outs, strict=True):
            env[v] = bool(d) and jnp.issubdtype(v.aval.dtype, jnp.inexact)
    return [rd(v) for v in jaxpr.outvars]


def while_deps(p, ins):
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    consts, carry = list(ins[nc : nc + nb]), list(ins[nc + nb :])
    while True:
        new = dep_analysis(p["body_jaxpr"].jaxpr, [*consts, *carry])
        merged = [bool(a or b) for a, b in zip(carry, new, strict=True)]
        if merged == carry:
            return carry
        carry = merged


def scan_deps(p, ins):
    nc, ncar = p["num_consts"], p["num_carry"]
    consts, carry, xs = list(ins[:nc]), list(ins[nc : nc + ncar]), list(ins[nc + ncar :])
    while True:
        new = dep_analysis(p["jaxpr"].jaxpr, [*consts, *carry, *xs])
        merged = [bool(a or b) for a, b in zip(carry, new[:ncar], strict=True)]
        if merged == carry:
            return [*carry, *new[ncar:]]
        carry = merged


# ---------------------------------------------------------------- primal + alternative


class V:
    """An interpreted value: primal, optional alternative, tag, tangent flag, shadow."""

    __slots__ = ("a", "dep", "h", "p", "tag")

    def __init__(self, p, a=None, tag=None, dep=False, h=None):
        self.p, self.a, self.tag, self.dep, self.h = p, a, tag, dep, h


def shadow_of(v: V, n):
    """The shadow lanes ``(P, ...)`` of ``v`` (the primal repeated if it has none)."""
    if v.h is not None:
        return v.h
    p = _sg(v.p)
    return jnp.broadcast_to(p, (n, *jnp.shape(p)))


def _bind_shadow(eqn, invals, n):
    """Evaluate ``eqn`` on the shadow lanes of its inputs (vmapped over P)."""
    axes = [0 if v.h is not None else None for v in invals]
    args = [v.h if v.h is not None else v.p for v in invals]
    return jax.vmap(lambda *xs: bind(eqn, list(xs)), in_axes=axes)(*args)


def _shadow_n(ctx):
    return None if ctx.shadow_step is None else ctx.shadow_step.shape[0]


class PairState:
    """Reservoir state: fork counter ``F``, total magnitude ``W``, surrogate ``s``."""

    @staticmethod
    def init(dtype):
        return (jnp.zeros((), jnp.int32), jnp.zeros((), dtype), jnp.zeros((), dtype))


def eff(v: V, fork):
    """The effective alternative of ``v`` under the current fork counter."""
    if v.a is None:
        return v.p
    return jnp.where(v.tag == fork, v.a, v.p)


def interp_pair(jaxpr: Jaxpr, consts, args, state, ctx: Ctx = Ctx()):
    env = {}
    for v, x in zip(jaxpr.constvars, consts, strict=True):
        env[v] = V(x)
    for v, x in zip(jaxpr.invars, args, strict=True):
        env[v] = x

    def rd(v):
        return V(v.val) if isinstance(v, Literal) else env[v]

    for eqn in jaxpr.eqns:
        invals = [rd(v) for v in eqn.invars]
        name = draw_name(eqn)
        prim = eqn.primitive.name
        if name is not None:
            _batch_check(name, invals[0].p)
            out, state = _pair_draw(DISTRIBUTIONS[name], invals, eqn.outvars[0].aval, state, ctx)
            outs = [out]
        elif not eqn_contains_draw(eqn):
            outs = _pair_generic(eqn, invals, state, ctx)
        elif prim == "while":
            outs, state = _pair_while(eqn, invals, state, ctx)
        elif prim == "scan":
            outs, state = _pair_scan(eqn, invals, state, ctx)
        elif prim == "cond":
            outs, state = _pair_cond(eqn, invals, state, ctx)
        else:
            inner, inner_consts = _closed(eqn)
            outs, state = interp_pair(inner, inner_consts, invals, state, ctx)
        for v, x in zip(eqn.outvars, outs, strict=True):
            env[v] = x
    return [rd(v) for v in jaxpr.outvars], state


def _pair_generic(eqn, invals, state, ctx):
    fork = state[0]
    outs_p = bind(eqn, [v.p for v in invals])
    dep = any(v.dep for v in invals)
    n = _shadow_n(ctx)
    if n is not None and dep and any(v.h is not None for v in invals):
        shadows = _bind_shadow(eqn, invals, n)
        outs_h = [h if _inexact(o) else None for o, h in zip(outs_p, shadows, strict=True)]
    else:
        outs_h = [None] * len(outs_p)
    if all(v.a is None for v in invals):
        return [
            V(o, None, None, dep and _inexact(o), h) for o, h in zip(outs_p, outs_h, strict=True)
        ]
    outs_a = bind(eqn, [_sg(eff(v, fork)) for v in invals])
    return [
        V(o, a, fork, dep and _inexact(o), h)
        for o, a, h in zip(outs_p, outs_a, outs_h, strict=True)
    ]


def _pair_draw(dist, invals, aval, state, ctx):
    fork, total, surrogate = state
    key, params = invals[0], invals[1:]
    ku, kaux, kc, kcoin = subkeys(key.p)
    pp = [v.p for v in params]
    x = _sg(dist.sample(ku, *pp)).astype(aval.dtype)
    perturbed = any(v.a is not None for v in params) or key.a is not None
    if perturbed:
        # The alternative copy draws with its own key (under masked lockstep the
        # two keys differ once one copy has stopped) and common random numbers.
        pa = [_sg(eff(v, fork)) for v in params]
        pps = [_sg(p) for p in pp]
        if key.a is None:
            ku_a, kaux_a, x_base = ku, kaux, x
        else:
            ku_a, kaux_a, _, _ = subkeys(eff(key, fork))
            x_base = dist.sample(ku_a, *pps).astype(aval.dtype)
        xa = dist.couple(ku_a, kaux_a, x_base, pps, pa).astype(aval.dtype)
    else:
        xa = x
    if not any(v.dep for v in params):
        if not perturbed:
            return V(x), state
        return V(x, xa, fork), state
    y, m, s = dist.propose(kc, x, pp)
    n = _shadow_n(ctx)
    if n is not None and any(v.h is not None for v in params):
        m, s = _derivative_magnitude(dist, kc, x, pp, params, m, s, n, ctx.shadow_step)
    # uniforms for the element choice and the reservoir coin, in one call
    u_elem, coin = jax.random.uniform(kcoin, (2,), total.dtype)
    # One candidate element of a multi-element draw, chosen proportional to m.
    elem = m.shape
    mflat = _sg(m).reshape(-1).astype(total.dtype)
    big_m = jnp.sum(mflat)
    if ctx.active is not True:
        big_m = jnp.where(ctx.active, big_m, 0)
    cdf = jnp.cumsum(mflat)
    u = u_elem * big_m
    e = jnp.minimum(jnp.sum(cdf <= u), mflat.shape[0] - 1)
    sel = (jnp.arange(mflat.shape[0]) == e).reshape(elem)
    s_sel = jnp.sum(jnp.where(sel, s, 0)).astype(total.dtype)
    if dist.one_hot:
        sel = sel[..., None]
    alt_y = jnp.where(sel, y.astype(aval.dtype), x)
    new_total = total + big_m
    accept = coin * new_total < big_m
    new_fork = fork + accept.astype(jnp.int32)
    new_s = jnp.where(accept, s_sel, surrogate)
    out_a = jnp.where(accept, alt_y, xa)
    return V(x, out_a, new_fork), (new_fork, new_total, new_s)


_FLOOR = 1e-3  # relative floor of the derivative magnitudes (keeps m > 0 where w != 0)


def _derivative_magnitude(dist, kc, x, pp, params, m, s, n, steps):
    """Pruning magnitudes ``m_i = sum_k |w_ik|`` from the shadow lanes' finite differences.

    ``s`` keeps its exact tangent: ``s_new = s * m / m_new`` has value 0 and
    tangent ``w / m_new``.
    """
    pps = [_sg(p) for p in pp]
    tans = []
    for p, v in zip(pps, params, strict=True):
        if v.h is None or not _inexact(p):
            tans.append(jnp.zeros((n, *jnp.shape(p)), jnp.result_type(p)) if _inexact(p) else None)
        else:
            step = steps.reshape((n,) + (1,) * jnp.ndim(p)).astype(jnp.result_type(p))
            tans.append(_sg(v.h - p) / step)
    idx = [i for i, t in enumerate(tans) if t is not None]

    def weight(*ts):
        def s_of(*ps):
            full = list(pps)
            for i, q in zip(idx, ps, strict=True):
                full[i] = q
            return dist.propose(kc, x, full)[2]

        return jax.jvp(s_of, tuple(pps[i] for i in idx), ts)[1]

    w_over_m = jax.vmap(weight)(*[tans[i] for i in idx])  # (P, ...) = w_k / m
    ms = _sg(m)
    mag = jnp.sum(jnp.abs(w_over_m), axis=0) * ms
    m_new = mag + _FLOOR * ms
    ok = m_new > 0
    ratio = jnp.where(ok, ms / jnp.where(ok, m_new, 1), 0)
    return m_new, s * ratio


def _eval_cond(cj, consts, carry):
    if contains_draw(cj.jaxpr):
        raise TypeError("hepjax.estimators cannot transform draws in the condition of a while_loop")
    return jaxpr_as_fun(cj)(*consts, *carry)[0]


def _pair_while(eqn, invals, state, ctx):
    p = eqn.params
    cj, bj = p["cond_jaxpr"], p["body_jaxpr"]
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, init = invals[:nc], invals[nc : nc + nb], invals[nc + nb :]
    fork0 = state[0]
    carry_dep = while_deps(p, [v.dep for v in invals])
    n = _shadow_n(ctx)
    # Both copies get their own carry: under masked lockstep they diverge even
    # where the values are unperturbed (e.g. the PRNG key once one copy stops).
    cp_consts = [v.p for v in cconsts]

    def cond_fun(c):
        cp, ca, _, st = c
        ca_consts = [eff(v, st[0]) for v in cconsts]
        return _eval_cond(cj, cp_consts, cp) | _eval_cond(cj, ca_consts, ca)

    def body_fun(c):
        cp, ca, ch, st = c
        fork = st[0]
        ok_p = _eval_cond(cj, cp_consts, cp)
        ok_a = _eval_cond(cj, [eff(v, fork) for v in cconsts], ca)
        carry = [V(x, a, fork, d, h) for x, a, d, h in zip(cp, ca, carry_dep, ch, strict=True)]
        outs, st2 = interp_pair(
            bj.jaxpr, bj.consts, [*bconsts, *carry], st, ctx.enter("while_loop", ok_p)
        )
        forked = st2[0] != fork
        new_p = [jnp.where(ok_p, o.p, x) for o, x in zip(outs, cp, strict=True)]
        keep_a = ok_a | forked
        new_a = [jnp.where(keep_a, _sg(eff(o, st2[0])), a) for o, a in zip(outs, ca, strict=True)]
        new_h = [
            None if h is None else jnp.where(ok_p, shadow_of(o, n), h)
            for o, h in zip(outs, ch, strict=True)
        ]
        return new_p, new_a, new_h, st2

    init_p = [v.p for v in init]
    init_a = [eff(v, fork0) for v in init]
    if not any(v.a is not None for v in init):
        init_a = list(init_p)
    # Keep the tangent only on the primal copy.
    init_a = [_sg(a) for a in init_a]
    init_h = [
        shadow_of(v, n) if n is not None and d and _inexact(v.p) else None
        for v, d in zip(init, carry_dep, strict=True)
    ]
    cp, ca, ch, state = lax.while_loop(cond_fun, body_fun, (init_p, init_a, init_h, state))
    return [
        V(x, a, state[0], d, h) for x, a, d, h in zip(cp, ca, carry_dep, ch, strict=True)
    ], state


def _pair_scan(eqn, invals, state, ctx):
    p = eqn.params
    nc, ncar, j = p["num_consts"], p["num_carry"], p["jaxpr"]
    consts, init, xs = invals[:nc], invals[nc : nc + ncar], invals[nc + ncar :]
    fork0 = state[0]
    all_deps = scan_deps(p, [v.dep for v in invals])
    carry_dep, ys_dep = all_deps[:ncar], all_deps[ncar:]
    xs_pert = [v.a is not None for v in xs]
    xs_p = [v.p for v in xs]
    xs_a = [_sg(eff(v, fork0)) if pert else None for v, pert in zip(xs, xs_pert, strict=True)]
    xs_tag = fork0
    n = _shadow_n(ctx)
    # shadow lanes of the scanned inputs, scan axis first: (L, P, ...)
    xs_h = [None if v.h is None else jnp.moveaxis(v.h, 0, 1) for v in xs]

    def f(c, x):
        cp, ca, ch, st = c
        fork = st[0]
        xp, xa, xh = x
        carry = [V(a, b, fork, d, h) for a, b, d, h in zip(cp, ca, carry_dep, ch, strict=True)]
        xv = [
            V(a, b, xs_tag, v.dep, h) if b is not None else V(a, None, None, v.dep, h)
            for a, b, v, h in zip(xp, xa, xs, xh, strict=True)
        ]
        outs, st2 = interp_pair(j.jaxpr, j.consts, [*consts, *carry, *xv], st, ctx.enter("scan"))
        f2 = st2[0]
        new_p = [o.p for o in outs[:ncar]]
        new_a = [_sg(eff(o, f2)) for o in outs[:ncar]]
        new_h = [
            None if h is None else shadow_of(o, n) for o, h in zip(outs[:ncar], ch, strict=True)
        ]
        ys = [
            (o.p, _sg(eff(o, f2)), f2, shadow_of(o, n) if n is not None and d else None)
            for o, d in zip(outs[ncar:], ys_dep, strict=True)
        ]
        return (new_p, new_a, new_h, st2), ys

    init_p = [v.p for v in init]
    init_a = [_sg(eff(v, fork0)) for v in init]
    init_h = [
        shadow_of(v, n) if n is not None and d and _inexact(v.p) else None
        for v, d in zip(init, carry_dep, strict=True)
    ]
    (cp, ca, ch, state), ys = lax.scan(
        f,
        (init_p, init_a, init_h, state),
        (xs_p, xs_a, xs_h),
        length=p["length"],
        reverse=p["reverse"],
        unroll=p["unroll"],
    )
    fork = state[0]
    outs = [V(x, a, fork, d, h) for x, a, d, h in zip(cp, ca, carry_dep, ch, strict=True)]
    for (yp, ya, tags, yh), d in zip(ys, ys_dep, strict=True):
        t = tags.reshape(tags.shape + (1,) * (yp.ndim - 1))
        h = None if yh is None or not _inexact(yp) else jnp.moveaxis(yh, 1, 0)
        outs.append(V(yp, jnp.where(t == fork, ya, yp), fork, d, h))
    return outs, state


def _pair_cond(eqn, invals, state, ctx):
    branches = eqn.params["branches"]
    index, ops = invals[0], invals[1:]
    deps = [dep_analysis(b.jaxpr, [v.dep for v in ops]) for b in branches]
    out_dep = [any(col) for col in zip(*deps, strict=True)]
    results = []
    for k, b in enumerate(branches):
        outs, state = interp_pair(b.jaxpr, b.consts, ops, state, ctx.enter("cond", index.p == k))
        results.append(outs)
    fork = state[0]
    idx_p = jnp.clip(index.p, 0, len(branches) - 1)
    idx_a = jnp.clip(eff(index, fork), 0, len(branches) - 1)
    n = _shadow_n(ctx)
    outs = []
    for i, d in enumerate(out_dep):
        ps = [r[i].p for r in results]
        as_ = [_sg(eff(r[i], fork)) for r in results]
        h = None
        if n is not None and d and _inexact(ps[0]) and any(r[i].h is not None for r in results):
            h = lax.select_n(idx_p, *[shadow_of(r[i], n) for r in results])
        outs.append(V(lax.select_n(idx_p, *ps), lax.select_n(idx_a, *as_), fork, d, h))
    return outs, state
