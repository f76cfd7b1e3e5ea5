"""Unbiasedness of the estimators against enumeration and closed forms.

Every program here is small enough that Enumeration gives the exact gradient;
closed forms check Enumeration itself. Unbiased estimators must agree within
4 standard errors estimated from their own per-sample gradients.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import hepjax.estimators as hje

from ._stats import check_unbiased

N = 4000


def prog_bernoulli(key, theta):
    k1, k2 = jax.random.split(key)
    x = hje.bernoulli(k1, theta["p"])
    y = hje.bernoulli(k2, 0.5 * theta["p"] + theta["q"] * x)
    return x + 2.0 * y + x * y


def exact_bernoulli(theta):
    p, q = theta["p"], theta["q"]
    # E = p + 2 E[y] + E[x y] with E[y] = 0.5 p + q p.
    return p + 2 * (0.5 * p + q * p) + p * (0.5 * p + q)


def prog_categorical(key, theta):
    k1, k2 = jax.random.split(key)
    probs = jax.nn.softmax(jnp.array([0.0, theta["p"], theta["q"]]))
    i = hje.categorical(k1, probs)
    table = jnp.array([1.0, -2.0, 3.0])
    y = hje.bernoulli(k2, jnp.array([0.2, 0.5, 0.9])[i] * theta["p"])
    return table[i] + y * (i + 1.0) ** 2


def exact_categorical(theta):
    probs = jax.nn.softmax(jnp.array([0.0, theta["p"], theta["q"]]))
    rho = jnp.array([0.2, 0.5, 0.9]) * theta["p"]
    return jnp.sum(probs * (jnp.array([1.0, -2.0, 3.0]) + rho * jnp.array([1.0, 4.0, 9.0])))


def prog_onehot(key, theta):
    probs = jnp.array([theta["p"], theta["q"], 1.0])
    x = hje.categorical(key, probs, one_hot=True)
    return (x @ jnp.array([1.0, 2.0, 4.0])) ** 2


def exact_onehot(theta):
    w = jnp.array([theta["p"], theta["q"], 1.0])
    return jnp.sum(w / jnp.sum(w) * jnp.array([1.0, 4.0, 16.0]))


def prog_binomial(key, theta):
    x = hje.binomial(key, 4.0, theta["p"] * theta["q"])
    return x**2 + jnp.sin(x)


def exact_binomial(theta):
    p = theta["p"] * theta["q"]
    k = jnp.arange(5.0)
    comb = jnp.array([1.0, 4.0, 6.0, 4.0, 1.0])
    pmf = comb * p**k * (1 - p) ** (4 - k)
    return jnp.sum(pmf * (k**2 + jnp.sin(k)))


def prog_poisson(key, theta):
    x = hje.poisson(key, theta["p"] + theta["q"])
    return x**2


def exact_poisson(theta):
    lam = theta["p"] + theta["q"]
    return lam + lam**2


def prog_geometric(key, theta):
    x = hje.geometric(key, theta["p"])
    return x**2 + theta["q"] * x


def exact_geometric(theta):
    p = theta["p"]
    mean = (1 - p) / p
    second = (1 - p) * (2 - p) / p**2
    return second + theta["q"] * mean


CASES = {
    "bernoulli": (prog_bernoulli, exact_bernoulli, {"p": 0.3, "q": 0.4}),
    "categorical": (prog_categorical, exact_categorical, {"p": 0.5, "q": -0.3}),
    "categorical_onehot": (prog_onehot, exact_onehot, {"p": 0.7, "q": 1.5}),
    "binomial": (prog_binomial, exact_binomial, {"p": 0.8, "q": 0.5}),
    "poisson": (prog_poisson, exact_poisson, {"p": 1.0, "q": 0.5}),
    "geometric": (prog_geometric, exact_geometric, {"p": 0.6, "q": 0.5}),
}


def _params(raw):
    return {k: jnp.float32(v) for k, v in raw.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_enumeration_matches_closed_form(name, key):
    prog, exact, raw = CASES[name]
    theta = _params(raw)
    f = hje.value_and_grad(prog, estimator=hje.Enumeration(max_count=40), num_samples=1)
    value, grad = f(key, theta)
    np.testing.assert_allclose(value, exact(theta), rtol=2e-4, atol=1e-5)
    want = jax.grad(exact)(theta)
    for k in theta:
        np.testing.assert_allclose(grad[k], want[k], rtol=2e-3, atol=1e-4)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(
    "estimator",
    [hje.AlternativePath(), hje.AlternativePath(pruning="derivative"), hje.ScoreFunction()],
    ids=["altpath", "altpath-deriv", "score"],
)
def test_unbiased_against_exact(name, estimator, key):
    prog, exact, raw = CASES[name]
    theta = _params(raw)
    f = jax.jit(hje.value_and_grad(prog, estimator=estimator, num_samples=N, return_samples=True))
    _value, grad, samples = f(key, theta)
    check_unbiased(samples.values, exact(theta), label=f"{name} value")
    check_unbiased(samples.grads, jax.grad(exact)(theta), label=f"{name} grad")
    # the returned gradient is the sample mean
    for k in theta:
        np.testing.assert_allclose(grad[k], jnp.mean(samples.grads[k]), rtol=1e-5, atol=1e-6)


def test_finite_difference_exact_for_quadratic_mean(key):
    # E f = lam + lam^2 is quadratic, so central differences have no bias.
    theta = _params(CASES["poisson"][2])
    f = hje.value_and_grad(
        prog_poisson, estimator=hje.FiniteDifference(step=0.05), num_samples=N, return_samples=True
    )
    _, _, samples = jax.jit(f)(key, theta)
    check_unbiased(samples.grads, jax.grad(exact_poisson)(theta), label="fd")


# ----------------------------------------------------------------- control flow


def prog_while(key, p):
    """Successes before the first failure: E N = p / (1 - p)."""

    def cond(c):
        return c[2]

    def body(c):
        n, k, _ = c
        k, sub = jax.random.split(k)
        x = hje.bernoulli(sub, p)
        return n + x, k, x > 0.5

    n, _, _ = lax.while_loop(cond, body, (jnp.zeros((), p.dtype), key, jnp.array(True)))
    return n + 0.1 * n**2


def exact_while(p):
    # N ~ Geometric failures with success prob (1-p): E N = p/(1-p), E N^2 = p(1+p)/(1-p)^2
    return p / (1 - p) + 0.1 * p * (1 + p) / (1 - p) ** 2


def prog_scan(key, theta):
    c = jnp.array([0.5, 1.0, 1.5, 0.25])

    def step(total, xs):
        k, ci = xs
        x = hje.bernoulli(k, ci * theta)
        return total + x, x

    total, xs = lax.scan(step, jnp.zeros((), theta.dtype), (jax.random.split(key, 4), c))
    return total**2 + xs[0]


def exact_scan(theta):
    p = jnp.array([0.5, 1.0, 1.5, 0.25]) * theta
    mean = jnp.sum(p)
    var = jnp.sum(p * (1 - p))
    return var + mean**2 + p[0]


def prog_cond(key, theta):
    k1, k2 = jax.random.split(key)
    x = hje.bernoulli(k1, theta)
    y = lax.cond(
        x > 0.5,
        lambda k: hje.poisson(k, 2.0 * theta),
        lambda k: 3.0 * hje.bernoulli(k, 1.0 - theta),
        k2,
    )
    return y**2 + x


def exact_cond(theta):
    lam = 2 * theta
    return theta * (lam + lam**2) + (1 - theta) * 9 * (1 - theta) + theta


CONTROL = {
    "while_loop": (prog_while, exact_while, 0.45),
    "scan": (prog_scan, exact_scan, 0.4),
    "cond": (prog_cond, exact_cond, 0.35),
}


@pytest.mark.parametrize("name", sorted(CONTROL))
@pytest.mark.parametrize(
    "estimator",
    [hje.AlternativePath(), hje.AlternativePath(pruning="derivative"), hje.ScoreFunction()],
    ids=["altpath", "altpath-deriv", "score"],
)
def test_unbiased_inside_control_flow(name, estimator, key):
    prog, exact, theta = CONTROL[name]
    theta = jnp.float32(theta)
    f = jax.jit(hje.value_and_grad(prog, estimator=estimator, num_samples=N, return_samples=True))
    _, _, samples = f(key, theta)
    check_unbiased(samples.values, exact(theta), label=f"{name} value")
    check_unbiased(samples.grads, jax.grad(exact)(theta), label=f"{name} grad")


def test_altpath_beats_score_function_variance(key):
    # A smooth objective of many draws: the alternative path's coupled
    # difference is far less noisy than the score function's.
    def prog(key, p):
        x = hje.bernoulli(key, p, shape=(32,))
        return jnp.sum(x) / 32.0

    p = jnp.float32(0.3)
    var = {}
    for name, est in {"alt": hje.AlternativePath(), "score": hje.ScoreFunction()}.items():
        f = jax.jit(hje.value_and_grad(prog, estimator=est, num_samples=2000, return_samples=True))
        _, _, s = f(key, p)
        check_unbiased(s.grads, 1.0, label=name)
        var[name] = float(jnp.var(s.grads))
    assert var["alt"] < 0.5 * var["score"], var


def test_derivative_pruning_ignores_draws_that_do_not_move(key):
    # Two draws depend on p, thirty do not: pruning by probability wastes most
    # of its picks on the thirty (weight 0); pruning by derivative never does.
    def prog(key, p):
        probs = jnp.concatenate([jnp.full(2, p), jnp.full(30, 0.5, p.dtype)])
        x = hje.bernoulli(key, probs)
        return jnp.sum(x) ** 2 / 32.0

    p = jnp.float32(0.3)
    exact = jax.grad(lambda p: (2 * p * (1 - p) + 30 * 0.25 + (2 * p + 15.0) ** 2) / 32.0)(p)
    var = {}
    for pruning in ("probability", "derivative"):
        est = hje.AlternativePath(pruning=pruning)
        f = jax.jit(hje.value_and_grad(prog, estimator=est, num_samples=2000, return_samples=True))
        _, _, s = f(key, p)
        check_unbiased(s.grads, exact, label=pruning)
        var[pruning] = float(jnp.var(s.grads))
    assert var["derivative"] < 0.5 * var["probability"], var


def test_pruning_option_is_checked():
    with pytest.raises(ValueError, match="pruning must be one of"):
        hje.AlternativePath(pruning="sometimes")
    with pytest.raises(ValueError, match="shadow_step must be finite and > 0"):
        hje.AlternativePath(pruning="derivative", shadow_step=0.0)
