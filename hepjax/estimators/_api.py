r"""Gradient estimators as program transforms: ``value_and_grad(program, estimator=...)``.

A *program* is a pure function ``program(key, params) -> scalar`` whose discrete
randomness comes from :func:`hepjax.estimators.bernoulli`,
:func:`~hepjax.estimators.categorical`, :func:`~hepjax.estimators.binomial`,
:func:`~hepjax.estimators.poisson` and :func:`~hepjax.estimators.geometric`.
Continuous randomness (uniforms, normals, exponential waiting times written as
``-log(u)/rate``) keeps its ordinary pathwise derivative. The program needs no
estimator state; the estimator is chosen by argument, as diffrax's ``adjoint=``:

>>> f = hje.value_and_grad(program, estimator=hje.AlternativePath(), num_samples=100)
>>> value, grad = f(key, params)

The program may contain ``lax.while_loop``, ``lax.scan``, ``lax.cond`` and
nested ``jit``. Gradients are taken in forward mode (``jax.jacfwd``), which is
what differentiates through ``while_loop``; the cost grows with the number of
parameters, which suits kinetic rate constants (a handful of scalars).

The estimators (arXiv:2604.02121 compares the first three on the Gillespie
algorithm; arXiv:2210.08572 introduces the alternative-path weights):

* :class:`AlternativePath` — unbiased; pathwise part plus one pruned, coupled
  alternative trajectory per sample.
* :class:`ScoreFunction` — unbiased; REINFORCE/DiCE with a baseline.
* :class:`GumbelSoftmaxST` — biased; exact forward sample, relaxed backward.
* :class:`FiniteDifference` — central differences with common random numbers
  (biased by $O(h^2)$ in smooth programs, high variance in discrete ones).
* :class:`Enumeration` — exact, for tiny straight-line programs (an oracle).
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from hepjax._core import check_choice, check_positive, check_positive_int

from ._distributions import subkeys
from ._interpret import (
    Context,
    PairedValue,
    Reservoir,
    effective_alternative,
    interpret_pair,
    interpret_single,
)


class Samples(eqx.Module):
    """Per-sample values ``(N,)`` and gradients (the structure of params, leading ``N``)."""

    values: Float[Array, " n"]
    grads: Any


class AbstractEstimator(eqx.Module):
    """Base of the gradient estimators; subclasses are strategy objects."""

    @abc.abstractmethod
    def _estimate(self, program, keys, params):
        """Return per-sample ``(values (N,), grads with leading N)``."""


def _trace(program, key, params):
    closed = jax.make_jaxpr(program)(key, params)
    outs = closed.out_avals
    if len(outs) != 1 or outs[0].shape != () or not jnp.issubdtype(outs[0].dtype, jnp.floating):
        got = ", ".join(f"{a.dtype}{list(a.shape)}" for a in outs)
        raise TypeError(f"program must return one floating scalar, got ({got})")
    return closed


def _flat_params(params):
    leaves, treedef = jax.tree_util.tree_flatten(params)
    if not leaves:
        raise ValueError("params must contain at least one floating array")
    for i, leaf in enumerate(leaves):
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            raise TypeError(
                f"params leaves must be floating arrays; leaf {i} has dtype {jnp.result_type(leaf)}"
            )
    return leaves, treedef


def _state_dtype(params):
    leaves = jax.tree_util.tree_leaves(params)
    return jnp.result_type(*leaves)


class AlternativePath(AbstractEstimator):
    r"""Stochastic-derivative estimator with one pruned alternative path.

    Each sample runs the primal program and, in lockstep, one coupled
    alternative program that differs at a single discrete draw, chosen among all
    draws with probability proportional to the magnitude $m_i$ of its derivative
    weight (reservoir pruning, as the pruned stochastic triples of
    arXiv:2210.08572 and StochasticAD.jl). After the fork the alternative re-uses
    the primal's random numbers. The estimate

    $$\hat g=\nabla_\theta f\big|_\text{pathwise}+W\,\frac{w_i(\dot\theta)}{m_i}
    \bigl(f(\text{alt})-f(\text{primal})\bigr),\qquad W=\sum_i m_i,$$

    is unbiased for $\nabla_\theta E[f]$ for any positive magnitudes. Cost: about
    twice the forward program plus forward-mode tangents. The alternative lives
    in fixed-shape state, so the estimator works inside ``while_loop`` and
    ``scan``.

    Args:
        pruning: how the magnitudes $m_i$ are chosen. ``"probability"``: the
            probability that the draw comes out differently ($p(1-p)$ for a
            Bernoulli, the rate for a Poisson), independent of $\theta$'s
            direction. ``"derivative"``: $m_i=\sum_k|w_{ik}|$, the size of the
            draw's derivative weight along each parameter $k$, as the pruned
            stochastic triples of StochasticAD.jl; draws whose law does not move
            with $\theta$ are then never kept, which lowers the variance when
            most draws do not depend on the parameters (e.g. the detector-edge
            sensitivity of the showers of arXiv:2308.16680). It evaluates the
            parameter-dependent part of the program once more per parameter
            (finite-difference *shadow* lanes with relative step
            ``shadow_step``), so prefer it for a few parameters.
        shadow_step: relative step of the shadow lanes (only steers the
            pruning; the weights stay exact, so it cannot bias the estimate).
    """

    pruning: str = "probability"
    shadow_step: float = 1e-3

    def __check_init__(self):
        check_choice("pruning", self.pruning, _PRUNING)
        check_positive("shadow_step", self.shadow_step)

    def _shadow(self, leaves, dtype):
        """Shadow lanes (P, *shape) per leaf and the (P,) steps, or ``(None, None)``."""
        if self.pruning != "derivative":
            return [None] * len(leaves), None
        sizes = [int(np.size(x)) for x in leaves]
        flat = jnp.concatenate([jnp.ravel(lax.stop_gradient(jnp.asarray(x))) for x in leaves])
        steps = (self.shadow_step * jnp.maximum(jnp.abs(flat), 1)).astype(dtype)
        eye = jnp.eye(flat.shape[0], dtype=dtype) * steps[:, None]
        lanes, i = [], 0
        for x, n in zip(leaves, sizes, strict=True):
            x = lax.stop_gradient(jnp.asarray(x))
            shift = eye[:, i : i + n].reshape((flat.shape[0], *jnp.shape(x))).astype(x.dtype)
            lanes.append(x[None] + shift)
            i += n
        return lanes, steps

    def _estimate(self, program, keys, params):
        closed = _trace(program, keys[0], params)
        leaves, treedef = _flat_params(params)
        dtype = _state_dtype(params)

        def surrogate(leaves, key):
            lanes, steps = self._shadow(leaves, dtype)
            args = [PairedValue(key)] + [
                PairedValue(x, depends_on_params=True, shadow=lanes_x)
                for x, lanes_x in zip(leaves, lanes, strict=True)
            ]
            outs, reservoir = interpret_pair(
                closed.jaxpr,
                closed.consts,
                args,
                Reservoir.empty(dtype),
                Context(shadow_step=steps),
            )
            out = outs[0]
            f_primal = out.primal
            f_alt = lax.stop_gradient(effective_alternative(out, reservoir.fork))
            delta = (f_alt - lax.stop_gradient(f_primal)).astype(dtype)
            total = lax.stop_gradient(reservoir.total_magnitude)
            loss = f_primal.astype(dtype) + total * reservoir.surrogate * delta
            return loss, f_primal

        def one(key):
            grads, value = jax.jacfwd(surrogate, has_aux=True)(leaves, key)
            return value, grads

        values, grads = jax.vmap(one)(keys)
        return values, jax.tree_util.tree_unflatten(treedef, grads)


_BASELINES = ("none", "batch_mean", "leave_one_out")
_PRUNING = ("probability", "derivative")


class ScoreFunction(AbstractEstimator):
    r"""Score-function (REINFORCE) estimator with a DiCE-style surrogate.

    Per sample $\hat g_i=\nabla f_i\big|_\text{pathwise}+(f_i-b_i)\,
    \nabla_\theta\sum_j\log p(x_j;\theta)$, where the sum runs over every
    discrete draw of the program (threaded through loops as state). This is the
    gradient of DiCE's surrogate $f+\bot(f-b)\,(L-\bot L)$, $L=\sum_j\log p$.

    Args:
        baseline: ``"none"``; ``"batch_mean"`` ($b=\bar f$, biased by $O(1/N)$);
            ``"leave_one_out"`` ($b_i=\frac{1}{N-1}\sum_{j\ne i}f_j$, unbiased,
            needs ``num_samples >= 2``); or a callable ``baseline(params) ->
            scalar`` (unbiased; it must not depend on the sample).
    """

    baseline: Any = "leave_one_out"

    def __check_init__(self):
        if not callable(self.baseline):
            check_choice("baseline", self.baseline, _BASELINES)

    def _estimate(self, program, keys, params):
        closed = _trace(program, keys[0], params)
        leaves, treedef = _flat_params(params)
        dtype = _state_dtype(params)
        handler = _ScoreHandler()

        def parts(leaves, key):
            outs, logp = interpret_single(
                closed.jaxpr, closed.consts, [key, *leaves], jnp.zeros((), dtype), handler
            )
            return (outs[0].astype(dtype), logp), outs[0]

        def one(key):
            (g_f, g_l), value = jax.jacfwd(parts, has_aux=True)(leaves, key)
            return value, g_f, g_l

        values, g_f, g_l = jax.vmap(one)(keys)
        n = values.shape[0]
        f = lax.stop_gradient(values).astype(dtype)
        if callable(self.baseline):
            b = jnp.broadcast_to(
                lax.stop_gradient(jnp.asarray(self.baseline(params), dtype)), f.shape
            )
        elif self.baseline == "none":
            b = jnp.zeros_like(f)
        elif self.baseline == "batch_mean":
            b = jnp.broadcast_to(jnp.mean(f), f.shape)
        else:
            if n < 2:
                raise ValueError("ScoreFunction(baseline='leave_one_out') needs num_samples >= 2")
            b = (jnp.sum(f) - f) / (n - 1)
        adv = f - b

        def combine(gf, gl):
            a = adv.reshape((n,) + (1,) * (gl.ndim - 1)).astype(gl.dtype)
            return gf + a * gl

        grads = [combine(a, c) for a, c in zip(g_f, g_l, strict=True)]
        return values, jax.tree_util.tree_unflatten(treedef, grads)


class _ScoreHandler:
    def draw(self, dist, key, params, aval, state, context):
        ku = subkeys(key)[0]
        x = lax.stop_gradient(dist.sample(ku, *params)).astype(aval.dtype)
        lp = jnp.sum(dist.logprob(x, params))
        return x, state + lp.astype(state.dtype)


class GumbelSoftmaxST(AbstractEstimator):
    r"""Gumbel-softmax straight-through: exact forward sample, relaxed backward pass.

    Each draw returns $x=h+r-\bot(r)$ with the exact sample $h$ and a relaxed
    sample $r$ at temperature $\tau$: the Gumbel-softmax
    $r=\mathrm{softmax}((\log\pi+g)/\tau)$ for one-hot categoricals (Jang et al.
    2017; Maddison et al. 2017), the binary concrete for Bernoulli draws, and
    the logistic relaxation of the inverse CDF for binomial, Poisson and
    geometric draws. The estimator is biased; for an objective linear in the
    draws the bias vanishes as $\tau\to0$ while the variance grows like
    $1/\tau$. Integer categorical indices have no relaxation (use
    ``one_hot=True``).
    """

    temperature: float = 1.0

    def __check_init__(self):
        check_positive("temperature", self.temperature)

    def _estimate(self, program, keys, params):
        closed = _trace(program, keys[0], params)
        leaves, treedef = _flat_params(params)
        handler = _STHandler(self.temperature)

        def fn(leaves, key):
            outs, _ = interpret_single(closed.jaxpr, closed.consts, [key, *leaves], (), handler)
            return outs[0], lax.stop_gradient(outs[0])

        def one(key):
            grads, value = jax.jacfwd(fn, has_aux=True)(leaves, key)
            return value, grads

        values, grads = jax.vmap(one)(keys)
        return values, jax.tree_util.tree_unflatten(treedef, grads)


class _STHandler:
    def __init__(self, temperature):
        self.temperature = temperature

    def draw(self, dist, key, params, aval, state, context):
        ku = subkeys(key)[0]
        hard, relaxed = dist.straight_through(ku, params, jnp.asarray(self.temperature))
        hard = lax.stop_gradient(hard)
        out = hard + relaxed - lax.stop_gradient(relaxed)
        return out.astype(aval.dtype), state


class FiniteDifference(AbstractEstimator):
    r"""Central finite differences with common random numbers (an oracle).

    $\hat g_k=\bigl(f(\theta+h_k e_k;\omega)-f(\theta-h_k e_k;\omega)\bigr)/(2h_k)$
    with the same key $\omega$ on both sides, $h_k=\text{step}\cdot|\theta_k|$
    when ``relative`` (and $\theta_k\ne0$), else ``step``. For discrete
    programs each sample is unbiased for the finite difference of $E f$, hence
    biased by $O(h^2)$ for $\nabla E f$, with variance growing like $1/h$.
    """

    step: float = 1e-2
    relative: bool = True

    def __check_init__(self):
        check_positive("step", self.step)

    def _estimate(self, program, keys, params):
        leaves, treedef = _flat_params(params)
        sizes = [int(np.size(x)) for x in leaves]
        shapes = [jnp.shape(x) for x in leaves]
        theta = jnp.concatenate([jnp.ravel(jnp.asarray(x)) for x in leaves])
        dtype = theta.dtype
        if self.relative:
            h = jnp.where(theta != 0, self.step * jnp.abs(theta), self.step).astype(dtype)
        else:
            h = jnp.full_like(theta, self.step)

        def unflat(vec):
            out, i = [], 0
            for n, shape, leaf in zip(sizes, shapes, leaves, strict=True):
                out.append(vec[i : i + n].reshape(shape).astype(jnp.result_type(leaf)))
                i += n
            return jax.tree_util.tree_unflatten(treedef, out)

        eye = jnp.eye(theta.shape[0], dtype=dtype)

        def one(key):
            value = program(key, unflat(theta))

            def side(e):
                plus = program(key, unflat(theta + e * h))
                minus = program(key, unflat(theta - e * h))
                return (plus - minus) / (2 * jnp.sum(e * h))

            g = jax.vmap(side)(eye)
            return value, g

        values, g = jax.vmap(one)(keys)
        grads, i = [], 0
        for n, shape in zip(sizes, shapes, strict=True):
            grads.append(g[:, i : i + n].reshape((g.shape[0], *shape)))
            i += n
        return values, jax.tree_util.tree_unflatten(treedef, grads)


class Enumeration(AbstractEstimator):
    r"""Exact $E f$ and $\nabla E f$ by enumerating every joint outcome (an oracle).

    Only for tiny straight-line programs: draws may not sit inside loops or
    ``cond``, and the number of joint outcomes must be at most ``max_worlds``.
    Count distributions are truncated at ``max_count`` (the neglected tail
    probability is the caller's responsibility). All samples are identical.
    """

    max_count: int = 30
    max_worlds: int = 1 << 16

    def __check_init__(self):
        check_positive("max_count", self.max_count)
        check_positive("max_worlds", self.max_worlds)

    def _sites(self, closed, key, params):
        handler = _CollectHandler(self.max_count)
        leaves, _ = _flat_params(params)
        jax.eval_shape(
            lambda k, lv: interpret_single(closed.jaxpr, closed.consts, [k, *lv], (), handler)[0],
            key,
            leaves,
        )
        return handler.sites

    def _estimate(self, program, keys, params):
        closed = _trace(program, keys[0], params)
        leaves, treedef = _flat_params(params)
        dtype = _state_dtype(params)
        sites = self._sites(closed, keys[0], params)
        counts = [k for s in sites for k in [s[1]] * s[2]]
        n_worlds = int(np.prod(counts)) if counts else 1
        if n_worlds > self.max_worlds:
            raise ValueError(
                f"Enumeration: the program has {n_worlds} joint outcomes, more than "
                f"max_worlds={self.max_worlds}"
            )
        grid = np.array(list(itertools.product(*[range(c) for c in counts])), dtype=np.int32)
        grid = grid.reshape(n_worlds, len(counts))

        def expectation(leaves):
            def world(row):
                handler = _ForcedHandler(row)
                outs, logp = interpret_single(
                    closed.jaxpr, closed.consts, [keys[0], *leaves], jnp.zeros((), dtype), handler
                )
                return outs[0].astype(dtype), logp

            f, logp = jax.vmap(world)(jnp.asarray(grid))
            w = jnp.exp(logp)
            return jnp.sum(jnp.where(w > 0, w * f, 0.0))

        value, g = jax.value_and_grad(expectation)(leaves)
        n = keys.shape[0]
        values = jnp.broadcast_to(value, (n,))
        grads = [jnp.broadcast_to(x, (n, *x.shape)) for x in g]
        return values, jax.tree_util.tree_unflatten(treedef, grads)


class _CollectHandler:
    def __init__(self, max_count):
        self.max_count = max_count
        self.sites = []

    def draw(self, dist, key, params, aval, state, context):
        if context.loops:
            raise TypeError(
                f"Enumeration cannot enumerate draws inside `{context.loops[-1]}`; "
                "use it on straight-line programs"
            )
        size = int(np.prod(aval.shape[:-1] if dist.one_hot else aval.shape))
        self.sites.append((dist, dist.support(params, self.max_count), size))
        return jnp.zeros(aval.shape, aval.dtype), state


class _ForcedHandler:
    def __init__(self, row):
        self.row = row
        self.offset = 0

    def draw(self, dist, key, params, aval, state, context):
        shape = aval.shape[:-1] if dist.one_hot else aval.shape
        size = int(np.prod(shape))
        idx = self.row[self.offset : self.offset + size].reshape(shape)
        self.offset += size
        if dist.one_hot:
            x = jax.nn.one_hot(idx, aval.shape[-1], dtype=aval.dtype)
        else:
            x = idx.astype(aval.dtype)
        lp = jnp.sum(dist.logprob(x, params))
        return x, state + lp.astype(state.dtype)


def value_and_grad(program, *, estimator, num_samples=1, return_samples=False) -> Callable:
    r"""Turn ``program(key, params) -> scalar`` into a gradient estimator.

    Args:
        program: a pure JAX function of a PRNG key and a pytree of floating
            parameters, returning one floating scalar. Its discrete draws must use
            the hepjax sampling primitives.
        estimator: an :class:`AlternativePath`, :class:`ScoreFunction`,
            :class:`GumbelSoftmaxST`, :class:`FiniteDifference` or
            :class:`Enumeration` instance.
        num_samples: Monte Carlo samples $N$ per call (independent keys split
            from ``key``).
        return_samples: also return a :class:`Samples` with the per-sample
            values and gradients, e.g. to measure the estimator's variance.

    Returns:
        ``f(key, params) -> (value, grad)`` (or ``(value, grad, samples)``), where
        ``value`` is the sample mean of the program and ``grad`` the mean gradient
        estimate, with the structure of ``params``. ``f`` is a pure function and
        composes with ``jax.jit`` and ``jax.vmap``.
    """
    if not callable(program):
        raise TypeError(f"program must be callable, got {type(program).__name__}")
    if not isinstance(estimator, AbstractEstimator):
        raise TypeError(
            "estimator must be a hepjax.estimators estimator such as AlternativePath(), "
            f"got {type(estimator).__name__}"
        )
    num_samples = check_positive_int("num_samples", num_samples)
    if (
        isinstance(estimator, ScoreFunction)
        and estimator.baseline == "leave_one_out"
        and num_samples < 2
    ):
        raise ValueError("ScoreFunction(baseline='leave_one_out') needs num_samples >= 2")

    def f(key, params):
        keys = jax.random.split(key, num_samples)
        values, grads = estimator._estimate(program, keys, params)
        value = jnp.mean(values)
        grad = jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), grads)
        if return_samples:
            return value, grad, Samples(values, grads)
        return value, grad

    return f
