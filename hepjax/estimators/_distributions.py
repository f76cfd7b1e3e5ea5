r"""Discrete sampling primitives and the per-distribution rules of every estimator.

A draw such as :func:`bernoulli` is an ordinary JAX function: called directly it
returns an exact sample (with a zero derivative). Internally it is a ``jax.jit``
call whose name starts with ``hje_draw__``, so it stays visible as one equation
in the program's jaxpr. :func:`hepjax.estimators.value_and_grad` finds these
equations and replaces them by the rules below:

* ``sample``: the exact sample, from the first of four sub-keys of the draw key;
* ``couple``: the sample under different parameters with common random numbers
  (inverse CDF with the same uniform, or superposition/thinning for Poisson and
  binomial), used to re-simulate the alternative path;
* ``propose``: one alternative outcome $y$ with a magnitude $m$ and a
  *surrogate* $s$ whose value is 0 and whose tangent is the derivative weight
  $w(\dot\theta)/m$ (see :mod:`hepjax.estimators._interpret._draw`);
* ``logprob``: $\log p(x;\theta)$ for the score function and for enumeration;
* ``straight_through``: an exact hard sample and a relaxed sample for GS-ST.

Derivative weights (arXiv:2210.08572, Arya et al., "Automatic differentiation of
programs with discrete randomness"). For a categorical law $\pi$ and an observed
outcome $x$, $\sum_{y\ne x}\dot\pi_y\,(f(y)-f(x))$ is unbiased for
$\frac{d}{d\theta}E f(X)$ because $\sum_y\dot\pi_y=0$. We keep a single
$y\ne x$ drawn with probability $\pi_y/(1-\pi_x)$, so the weight is
$(1-\pi_x)\,\dot\pi_y/\pi_y$ with magnitude $m=1-\pi_x$ (the probability that the
draw would have come out differently). For a Bernoulli this is the two-sided
rule $y=1-x$, $w=\pm\dot p$, which minimises $E[w^2]$ among the one-flip
estimators. Binomial draws use the same rule per trial ($x\to x\pm1$); Poisson
draws use $x\to x+1$ with $w=\dot\lambda$ (the Binomial limit); geometric draws
mix $x\to x-1$ (weight $\tfrac12\dot p\,x/(p(1-p))$) and $x\to x+1$ (weight
$-\tfrac12\dot p\,(x+1)/p$), each unbiased on its own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import betainc, gammaincc, gammaln
from jaxtyping import Array, ArrayLike

from hepjax._core import check_dtype

DRAW_PREFIX = "hje_draw__"

_WINDOW = 6  # half-width of the relaxed inverse-CDF window for count distributions


def _sg(x):
    return lax.stop_gradient(x) if jnp.issubdtype(x.dtype, jnp.inexact) else x


def typed_key(key):
    """Accept typed keys and raw ``uint32[2]`` keys."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(key)


def subkeys(key):
    """(primal uniform, coupling, proposal, reservoir coin) keys of one draw.

    The primal sample uses the draw key itself (one hash per draw in the plain
    program); the estimators' extra randomness is folded in from it.
    """
    key = typed_key(key)
    return (key, *(jax.random.fold_in(key, i) for i in (1, 2, 3)))


def _safe_div(a, b):
    ok = b > 0
    return jnp.where(ok, a / jnp.where(ok, b, 1), 0)


def _tangent(p):
    """Value 0, tangent equal to the tangent of ``p``."""
    return p - lax.stop_gradient(p)


def _uniform(key, shape, dtype):
    # (0, 1): safe for logs and logits.
    tiny = jnp.finfo(dtype).tiny
    return jax.random.uniform(key, shape, dtype, minval=tiny, maxval=1.0)


def _logit(u):
    return jnp.log(u) - jnp.log1p(-u)


class _Dist:
    name: str
    one_hot: bool = False

    def out_dtype(self, params):
        return params[-1].dtype

    def relaxed_cdf_window(self, ku, x, params, temperature):
        """Logistic relaxation of the inverse CDF around the sample ``x``.

        $X=\\sum_k 1\\{u\\ge F(k)\\}$; the relaxed value replaces each indicator
        in a window around $x$ by $\\sigma((\\mathrm{logit}\\,u-\\mathrm{logit}\\,F(k))/\\tau)$,
        with the uniform $u$ recovered from $x$ by the randomised probability
        integral transform. For a Bernoulli this is the binary concrete.
        """
        dtype = x.dtype
        eps = jnp.asarray(1e-6 if dtype == jnp.float32 else 1e-12, dtype)
        v = _uniform(jax.random.fold_in(ku, 7), x.shape, dtype)
        lo = _sg(self.cdf(x - 1, params))
        hi = _sg(self.cdf(x, params))
        u = jnp.clip(lo + v * (hi - lo), eps, 1 - eps)
        offsets = jnp.arange(-_WINDOW, _WINDOW + 1, dtype=dtype)
        k = x[..., None] + offsets
        valid = k >= 0
        fk = self.cdf(jnp.where(valid, k, 0), [p[..., None] for p in params])
        fk = jnp.clip(fk, eps, 1 - eps)
        terms = jax.nn.sigmoid((_logit(u)[..., None] - _logit(fk)) / temperature)
        below = jnp.maximum(x - _WINDOW, 0)
        return below + jnp.sum(jnp.where(valid, terms, 0), axis=-1)


class _Bernoulli(_Dist):
    name = "bernoulli"

    def sample(self, ku, p):
        u = _uniform(ku, p.shape, p.dtype)
        return (u < p).astype(p.dtype)

    def couple(self, ku, kaux, x, pp, pa):
        del kaux, x
        return self.sample(ku, pa[0])

    def propose(self, kc, x, params):
        (p,) = params
        ps = _sg(p)
        m = ps * (1 - ps)
        t = _tangent(p)
        s = _safe_div(jnp.where(x > 0.5, -t, t), m)
        return 1 - x, m, s

    def logprob(self, x, params):
        (p,) = params
        return jnp.where(x > 0.5, jnp.log(p), jnp.log1p(-p))

    def cdf(self, k, params):
        (p,) = params
        return jnp.where(k < 0, 0.0, jnp.where(k < 1, 1 - p, 1.0)).astype(p.dtype)

    def straight_through(self, ku, params, temperature):
        (p,) = params
        u = _uniform(ku, p.shape, p.dtype)
        eps = jnp.finfo(p.dtype).eps
        pc = jnp.clip(p, eps, 1 - eps)
        z = jnp.log(pc) - jnp.log1p(-pc) - _logit(u)
        return (z > 0).astype(p.dtype), jax.nn.sigmoid(z / temperature)

    def support(self, params, max_count):
        return 2


class _Categorical(_Dist):
    def __init__(self, one_hot):
        self.one_hot = one_hot
        self.name = "categorical_onehot" if one_hot else "categorical"

    def _index(self, ku, probs):
        u = _uniform(ku, probs.shape[:-1], probs.dtype)
        cdf = jnp.cumsum(probs, axis=-1)
        idx = jnp.sum(cdf < (u * cdf[..., -1])[..., None], axis=-1)
        return jnp.minimum(idx, probs.shape[-1] - 1).astype(jnp.int32)

    def _out(self, idx, probs):
        if self.one_hot:
            return jax.nn.one_hot(idx, probs.shape[-1], dtype=probs.dtype)
        return idx

    def _idx_of(self, x):
        return jnp.argmax(x, axis=-1).astype(jnp.int32) if self.one_hot else x

    def out_dtype(self, params):
        return params[0].dtype if self.one_hot else jnp.int32

    def sample(self, ku, probs):
        return self._out(self._index(ku, probs), probs)

    def couple(self, ku, kaux, x, pp, pa):
        del kaux, x
        return self.sample(ku, pa[0])

    def propose(self, kc, x, params):
        (probs,) = params
        ps = _sg(probs)
        k = probs.shape[-1]
        idx = self._idx_of(x)
        own = jnp.arange(k) == idx[..., None]
        mk = jnp.where(own, 0, ps * (1 - ps))
        logits = jnp.where(mk > 0, jnp.log(jnp.where(mk > 0, mk, 1)), -jnp.inf)
        m = jnp.sum(mk, axis=-1)
        safe_logits = jnp.where(m[..., None] > 0, logits, 0.0)
        # inverse CDF with one uniform per draw (cheaper than Gumbel noise per category)
        w = jnp.exp(safe_logits - jnp.max(safe_logits, axis=-1, keepdims=True))
        cdf = jnp.cumsum(w, axis=-1)
        uc = jax.random.uniform(kc, m.shape, ps.dtype)
        y = jnp.sum(cdf < (uc * cdf[..., -1])[..., None], axis=-1)
        y = jnp.minimum(y, k - 1).astype(jnp.int32)
        y = jnp.where(jnp.take_along_axis(mk, y[..., None], axis=-1)[..., 0] > 0, y, idx)
        t_y = jnp.take_along_axis(_tangent(probs), y[..., None], axis=-1)[..., 0]
        m_y = jnp.take_along_axis(mk, y[..., None], axis=-1)[..., 0]
        s = _safe_div(t_y, m_y)
        return self._out(y, probs), m, s

    def logprob(self, x, params):
        (probs,) = params
        idx = self._idx_of(x)
        return jnp.log(jnp.take_along_axis(probs, idx[..., None], axis=-1)[..., 0])

    def straight_through(self, ku, params, temperature):
        (probs,) = params
        if not self.one_hot:
            raise TypeError(
                "GumbelSoftmaxST needs a differentiable draw: use "
                "hje.categorical(key, probs, one_hot=True) instead of an integer index"
            )
        u = _uniform(ku, probs.shape, probs.dtype)
        tiny = jnp.finfo(probs.dtype).tiny
        z = jnp.log(jnp.maximum(probs, tiny)) - jnp.log(-jnp.log(u))
        hard = jax.nn.one_hot(jnp.argmax(z, axis=-1), probs.shape[-1], dtype=probs.dtype)
        return hard, jax.nn.softmax(z / temperature, axis=-1)

    def support(self, params, max_count):
        return params[0].shape[-1]


class _CountDist(_Dist):
    """Counts on {0, 1, ...}: a straight-through relaxation of the CDF window, and a
    support truncated at ``max_count`` for enumeration."""

    def straight_through(self, ku, params, temperature):
        x = self.sample(ku, *params)
        return x, self.relaxed_cdf_window(ku, x, params, temperature)

    def support(self, params, max_count):
        return max_count + 1


class _Binomial(_CountDist):
    name = "binomial"

    def sample(self, ku, n, p):
        return jax.random.binomial(ku, n, p, shape=p.shape, dtype=p.dtype)

    def couple(self, ku, kaux, x, pp, pa):
        (n, p), (na, pa_) = pp, pa
        k1, k2 = jax.random.split(kaux)
        up_p = _safe_div(pa_ - p, 1 - p)
        up = x + jax.random.binomial(k1, n - x, jnp.clip(up_p, 0, 1), dtype=p.dtype)
        down = jax.random.binomial(k1, x, jnp.clip(_safe_div(pa_, p), 0, 1), dtype=p.dtype)
        same = jnp.where(pa_ >= p, up, down)
        fresh = jax.random.binomial(k2, na, pa_, dtype=p.dtype)
        return jnp.where(na == n, same, fresh)

    def propose(self, kc, x, params):
        n, p = params
        ps = _sg(p)
        m_up = (n - x) * ps
        m_down = x * (1 - ps)
        m = m_up + m_down
        go_up = jax.random.uniform(kc, x.shape, x.dtype) * m < m_up
        t = _tangent(p)
        s = jnp.where(go_up, _safe_div(t, ps), -_safe_div(t, 1 - ps))
        return jnp.where(go_up, x + 1, x - 1), m, s

    def logprob(self, x, params):
        n, p = params
        ok = (x >= 0) & (x <= n)
        xs = jnp.where(ok, x, 0)
        lp = (
            gammaln(n + 1)
            - gammaln(xs + 1)
            - gammaln(n - xs + 1)
            + xs * jnp.log(p)
            + (n - xs) * jnp.log1p(-p)
        )
        # 0 * log(0) terms at p = 0 or 1:
        lp = jnp.where((p == 0) & (xs == 0), 0.0, lp)
        lp = jnp.where((p == 1) & (xs == n), 0.0, lp)
        return jnp.where(ok, lp, -jnp.inf)

    def cdf(self, k, params):
        n, p = params
        ok = (k >= 0) & (k < n)
        kk = jnp.where(ok, k, 0)
        val = betainc(jnp.where(ok, n - kk, 1.0), kk + 1, 1 - p)
        return jnp.where(k < 0, 0.0, jnp.where(k >= n, 1.0, val))


class _Poisson(_CountDist):
    name = "poisson"

    def sample(self, ku, rate):
        return jax.random.poisson(ku, rate, rate.shape).astype(rate.dtype)

    def couple(self, ku, kaux, x, pp, pa):
        (lam,), (lam_a,) = pp, pa
        more = x + jax.random.poisson(kaux, jnp.maximum(lam_a - lam, 0), x.shape).astype(x.dtype)
        ratio = jnp.clip(_safe_div(lam_a, lam), 0, 1)
        fewer = jax.random.binomial(kaux, x, ratio, dtype=x.dtype)
        return jnp.where(lam_a >= lam, more, fewer)

    def propose(self, kc, x, params):
        (lam,) = params
        m = _sg(lam)
        return x + 1, m, _safe_div(_tangent(lam), m)

    def logprob(self, x, params):
        (lam,) = params
        ok = x >= 0
        xs = jnp.where(ok, x, 0)
        lp = jnp.where(xs == 0, -lam, xs * jnp.log(lam) - lam - gammaln(xs + 1))
        return jnp.where(ok, lp, -jnp.inf)

    def cdf(self, k, params):
        (lam,) = params
        return jnp.where(k < 0, 0.0, gammaincc(jnp.maximum(k, 0) + 1, lam))


class _Geometric(_CountDist):
    """Number of failures before the first success, $P(k)=p(1-p)^k$."""

    name = "geometric"

    def sample(self, ku, p):
        u = _uniform(ku, p.shape, p.dtype)
        return jnp.floor(jnp.log(u) / jnp.log1p(-p)).astype(p.dtype)

    def couple(self, ku, kaux, x, pp, pa):
        del kaux, x
        return self.sample(ku, pa[0])

    def propose(self, kc, x, params):
        (p,) = params
        ps = _sg(p)
        m_down = _safe_div(x, 2 * (1 - ps))
        m_up = (x + 1) / 2
        m = m_down + m_up
        go_up = jax.random.uniform(kc, x.shape, x.dtype) * m < m_up
        t = _safe_div(_tangent(p), ps)
        return jnp.where(go_up, x + 1, x - 1), m, jnp.where(go_up, -t, t)

    def logprob(self, x, params):
        (p,) = params
        ok = x >= 0
        xs = jnp.where(ok, x, 0)
        lp = jnp.log(p) + jnp.where(xs > 0, xs * jnp.log1p(-p), 0.0)
        return jnp.where(ok, lp, -jnp.inf)

    def cdf(self, k, params):
        (p,) = params
        return jnp.where(k < 0, 0.0, 1 - jnp.exp((jnp.maximum(k, 0) + 1) * jnp.log1p(-p)))


DISTRIBUTIONS: dict[str, _Dist] = {
    d.name: d
    for d in (
        _Bernoulli(),
        _Categorical(False),
        _Categorical(True),
        _Binomial(),
        _Poisson(),
        _Geometric(),
    )
}


def _make_marker(dist: _Dist):
    def draw(key, *params):
        return _sg(dist.sample(typed_key(key), *params))

    draw.__name__ = draw.__qualname__ = DRAW_PREFIX + dist.name
    return jax.jit(draw)


_MARKERS = {name: _make_marker(d) for name, d in DISTRIBUTIONS.items()}


def _float_param(name: str, value, shape) -> Array:
    x = jnp.asarray(value)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        if jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_:
            x = x.astype(jnp.result_type(float))
        else:
            check_dtype(name, x, "float")
    if shape is not None:
        try:
            x = jnp.broadcast_to(x, shape)
        except ValueError as err:
            raise ValueError(f"{name} of shape {x.shape} does not broadcast to {shape}") from err
    return x


def _check_key(key):
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    is_typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    if not is_typed and not (key.dtype == jnp.uint32 and key.shape == (2,)):
        raise TypeError(
            f"key must be a PRNG key (jax.random.key) or a raw uint32[2] key, got "
            f"{key.dtype}{list(key.shape)}"
        )
    if is_typed and key.shape != ():
        raise ValueError(
            f"key must be a single key of shape (), got shape {key.shape}; split it and "
            "vmap over the keys instead"
        )
    return key


def bernoulli(key: ArrayLike, p: ArrayLike, shape: tuple[int, ...] | None = None) -> Array:
    r"""Exact Bernoulli draw(s) $x\in\{0,1\}$ with $P(x=1)=p$, as floats.

    Every hepjax estimator knows how to differentiate through this draw.

    Args:
        key: PRNG key of the draw.
        p: success probability in ``[0, 1]``; its gradient is what the estimators compute.
        shape: output shape (broadcast with ``p``); ``None`` draws one value per element of ``p``.
    """
    key = _check_key(key)
    return _MARKERS["bernoulli"](key, _float_param("p", p, shape))


def categorical(
    key: ArrayLike,
    probs: ArrayLike | None = None,
    *,
    logits: ArrayLike | None = None,
    one_hot: bool = False,
) -> Array:
    r"""Exact categorical draw over the last axis of ``probs`` (or ``logits``).

    Returns an ``int32`` index, or a float one-hot vector with ``one_hot=True``
    (needed by :class:`GumbelSoftmaxST`, whose gradient flows through the
    relaxed one-hot). ``probs`` are normalised here, so unnormalised weights
    such as reaction propensities may be passed.

    Args:
        key: PRNG key of the draw.
        probs: non-negative weights over the last axis (normalised here); give this or ``logits``.
        logits: unnormalised log-probabilities over the last axis, instead of ``probs``.
        one_hot: return a float one-hot vector over the last axis instead of an ``int32`` index.
    """
    key = _check_key(key)
    if (probs is None) == (logits is None):
        raise ValueError("categorical: pass exactly one of probs or logits")
    if probs is not None:
        w = _float_param("probs", probs, None)
        if w.ndim == 0:
            raise ValueError("probs must have at least one axis (the categories)")
        probs_n = w / jnp.sum(w, axis=-1, keepdims=True)
    else:
        lg = _float_param("logits", logits, None)
        if lg.ndim == 0:
            raise ValueError("logits must have at least one axis (the categories)")
        probs_n = jax.nn.softmax(lg, axis=-1)
    name = "categorical_onehot" if one_hot else "categorical"
    return _MARKERS[name](key, probs_n)


def binomial(
    key: ArrayLike, n: ArrayLike, p: ArrayLike, shape: tuple[int, ...] | None = None
) -> Array:
    r"""Exact binomial draw(s): successes in ``n`` trials of probability ``p`` (floats).

    Args:
        key: PRNG key of the draw.
        n: number of trials (a non-negative whole number, as a float or integer array).
        p: success probability of each trial, in ``[0, 1]``.
        shape: output shape (broadcast with ``n`` and ``p``); ``None`` uses their broadcast shape.
    """
    key = _check_key(key)
    p = _float_param("p", p, shape)
    n = _float_param("n", n, p.shape).astype(p.dtype)
    return _MARKERS["binomial"](key, n, p)


def poisson(key: ArrayLike, rate: ArrayLike, shape: tuple[int, ...] | None = None) -> Array:
    r"""Exact Poisson draw(s) with mean ``rate`` (floats).

    Args:
        key: PRNG key of the draw.
        rate: the mean $\lambda \ge 0$.
        shape: output shape (broadcast with ``rate``); ``None`` uses the shape of ``rate``.
    """
    key = _check_key(key)
    return _MARKERS["poisson"](key, _float_param("rate", rate, shape))


def geometric(key: ArrayLike, p: ArrayLike, shape: tuple[int, ...] | None = None) -> Array:
    r"""Exact geometric draw(s): failures before the first success, $P(k)=p(1-p)^k$.

    Args:
        key: PRNG key of the draw.
        p: success probability of each trial, in ``(0, 1]``.
        shape: output shape (broadcast with ``p``); ``None`` uses the shape of ``p``.
    """
    key = _check_key(key)
    return _MARKERS["geometric"](key, _float_param("p", p, shape))
