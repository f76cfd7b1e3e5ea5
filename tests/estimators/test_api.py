"""API behaviour: GS-ST limit, baselines, jit/vmap, dtypes, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import hepjax.estimators as hje

from ._stats import check_unbiased


def linear_bernoulli(key, p):
    return jnp.sum(hje.bernoulli(key, p, shape=(4,))) / 4.0


def test_gumbel_st_temperature_limit(key):
    # d/dp E[x] = 1. GS-ST is biased at finite temperature; for an objective
    # linear in the draws the bias vanishes as tau -> 0 while the variance grows.
    p = jnp.float32(0.3)
    stats = {}
    for tau in (2.0, 0.5, 0.05):
        f = hje.value_and_grad(
            linear_bernoulli,
            estimator=hje.GumbelSoftmaxST(tau),
            num_samples=8000,
            return_samples=True,
        )
        _, _, s = jax.jit(f)(key, p)
        g = np.asarray(s.grads)
        stats[tau] = (g.mean(), g.std() / np.sqrt(g.size), g.var())
    mean_hot, se_hot, _ = stats[2.0]
    assert abs(mean_hot - 1.0) > 8 * se_hot, stats  # clearly biased when hot
    mean_cold, se_cold, _ = stats[0.05]
    assert abs(mean_cold - 1.0) < 4 * se_cold, stats  # unbiased in the limit
    assert abs(stats[0.5][0] - 1) < abs(mean_hot - 1)
    assert stats[0.05][2] > 3 * stats[0.5][2]  # variance grows like 1/tau


def test_gumbel_st_categorical_one_hot_limit(key):
    def prog(key, w):
        x = hje.categorical(key, w, one_hot=True)
        return x @ jnp.array([0.0, 1.0, 3.0])

    w = jnp.array([0.2, 0.3, 0.5])
    exact = jax.grad(lambda w: (w / w.sum()) @ jnp.array([0.0, 1.0, 3.0]))(w)
    f = hje.value_and_grad(
        prog, estimator=hje.GumbelSoftmaxST(0.02), num_samples=20000, return_samples=True
    )
    _, _, s = jax.jit(f)(key, w)
    check_unbiased(s.grads, exact, label="gs-st tau->0")


@pytest.mark.parametrize("baseline", ["none", "batch_mean", "leave_one_out", "callable"])
def test_score_function_baselines(baseline, key):
    def prog(key, p):
        return 5.0 + hje.bernoulli(key, p)

    b = (lambda params: 5.0) if baseline == "callable" else baseline
    f = hje.value_and_grad(
        prog, estimator=hje.ScoreFunction(baseline=b), num_samples=4000, return_samples=True
    )
    _, _, s = jax.jit(f)(key, jnp.float32(0.4))
    check_unbiased(s.grads, 1.0, label=baseline)
    if baseline != "none":
        # a baseline near E f removes the large offset's variance
        f0 = hje.value_and_grad(
            prog,
            estimator=hje.ScoreFunction(baseline="none"),
            num_samples=4000,
            return_samples=True,
        )
        _, _, s0 = jax.jit(f0)(key, jnp.float32(0.4))
        assert float(jnp.var(s.grads)) < 0.2 * float(jnp.var(s0.grads))


@pytest.mark.slow  # default suite time budget: runs in make test-slow
def test_jit_eager_vmap_loop(key):
    def prog(key, theta):
        def body(c):
            n, k, _go = c
            k, sub = jax.random.split(k)
            x = hje.bernoulli(sub, theta["p"])
            return n + x * theta["w"], k, x > 0.5

        n, _, _ = lax.while_loop(lambda c: c[2], body, (0.0 * theta["w"], key, jnp.array(True)))
        return n

    theta = {"p": jnp.float32(0.4), "w": jnp.float32(2.0)}
    for est in (
        hje.AlternativePath(),
        hje.ScoreFunction(),
        hje.GumbelSoftmaxST(0.5),
        hje.FiniteDifference(),
    ):
        f = hje.value_and_grad(prog, estimator=est, num_samples=16)
        if isinstance(est, hje.AlternativePath | hje.ScoreFunction):
            # eager evaluation is slow (op by op), so only for two estimators
            v, g = f(key, theta)
            vj, gj = jax.jit(f)(key, theta)
            np.testing.assert_allclose(v, vj, rtol=1e-5)
            for k in theta:
                np.testing.assert_allclose(g[k], gj[k], rtol=1e-4, atol=1e-5)
        keys = jax.random.split(key, 2)
        vb, gb = jax.jit(jax.vmap(f, in_axes=(0, None)))(keys, theta)
        f_jit = jax.jit(f)
        for i, k in enumerate(keys):
            vi, gi = f_jit(k, theta)
            np.testing.assert_allclose(vb[i], vi, rtol=1e-5)
            for name in theta:
                np.testing.assert_allclose(gb[name][i], gi[name], rtol=1e-4, atol=1e-5)


def test_value_matches_plain_program(key):
    # The transformed program's forward pass is the plain program's sample.
    def prog(key, p):
        k1, k2 = jax.random.split(key)
        return hje.poisson(k1, 3 * p) + hje.geometric(k2, p)

    f = hje.value_and_grad(
        prog, estimator=hje.AlternativePath(), num_samples=5, return_samples=True
    )
    _, _, s = jax.jit(f)(key, jnp.float32(0.5))
    plain = jax.vmap(prog, in_axes=(0, None))(jax.random.split(key, 5), jnp.float32(0.5))
    np.testing.assert_array_equal(s.values, plain)


@pytest.mark.parametrize("dtype", [jnp.float32, pytest.param(jnp.float64, marks=pytest.mark.slow)])
def test_float32_and_float64(dtype, key):
    def prog(key, p):
        k1, k2 = jax.random.split(key)
        x = hje.binomial(k1, 3.0, p)
        return x + hje.bernoulli(k2, p) * x

    with jax.enable_x64(dtype == jnp.float64):
        p = jnp.asarray(0.4, dtype)
        for est in (hje.AlternativePath(), hje.ScoreFunction()):
            f = hje.value_and_grad(prog, estimator=est, num_samples=4000, return_samples=True)
            v, g, s = jax.jit(f)(key, p)
            assert v.dtype == dtype and g.dtype == dtype
            # E = 3p + p * 3p; dE/dp = 3 + 6p
            check_unbiased(s.grads, 3 + 6 * 0.4, label=f"{est} {dtype}")
        for est in (hje.GumbelSoftmaxST(0.5), hje.FiniteDifference()):
            f = hje.value_and_grad(linear_bernoulli, estimator=est, num_samples=8)
            v, g = jax.jit(f)(key, p)
            assert v.dtype == dtype and g.dtype == dtype and bool(jnp.isfinite(g))


def test_draws_outside_transform_are_exact_samples(key):
    x = jax.vmap(lambda k: hje.bernoulli(k, 0.3))(jax.random.split(key, 20000))
    check_unbiased(np.asarray(x), 0.3, label="bernoulli mean")
    g = jax.grad(lambda p: hje.bernoulli(key, p))(0.3)
    assert float(g) == 0.0
    raw = hje.poisson(jax.random.PRNGKey(0), 2.0)
    assert raw.shape == ()


# ----------------------------------------------------------------- bad input


def _prog(key, p):
    return hje.bernoulli(key, p)


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: hje.ScoreFunction(baseline="mean"), ValueError, "baseline must be one of"),
        (lambda: hje.GumbelSoftmaxST(temperature=0.0), ValueError, "temperature must be"),
        (lambda: hje.GumbelSoftmaxST(temperature=-1.0), ValueError, "temperature must be"),
        (lambda: hje.FiniteDifference(step=0.0), ValueError, "step must be"),
        (lambda: hje.value_and_grad(_prog, estimator="alt"), TypeError, "estimator must be"),
        (
            lambda: hje.value_and_grad(_prog, estimator=hje.AlternativePath(), num_samples=0),
            ValueError,
            "num_samples must be a positive int",
        ),
        (
            lambda: hje.value_and_grad(_prog, estimator=hje.ScoreFunction(), num_samples=1),
            ValueError,
            "leave_one_out.*num_samples >= 2",
        ),
        (lambda: hje.value_and_grad(3, estimator=hje.AlternativePath()), TypeError, "program"),
    ],
)
def test_bad_options(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_programs(key):
    def vector_out(key, p):
        return hje.bernoulli(key, p, shape=(3,))

    f = hje.value_and_grad(vector_out, estimator=hje.AlternativePath())
    with pytest.raises(TypeError, match="program must return one floating scalar"):
        f(key, jnp.float32(0.3))

    def index_draw(key, w):
        return hje.categorical(key, w).astype(jnp.float32)

    f = hje.value_and_grad(index_draw, estimator=hje.GumbelSoftmaxST(0.5))
    with pytest.raises(TypeError, match="one_hot=True"):
        f(key, jnp.ones(3))

    def looped(key, p):
        return lax.fori_loop(
            0, 3, lambda i, c: c + hje.bernoulli(jax.random.fold_in(key, i), p), 0.0
        )

    f = hje.value_and_grad(looped, estimator=hje.Enumeration())
    with pytest.raises(TypeError, match="Enumeration cannot enumerate draws inside `"):
        f(key, jnp.float32(0.3))

    def vmapped(key, p):
        return jnp.sum(jax.vmap(lambda k: hje.bernoulli(k, p))(jax.random.split(key, 3)))

    f = hje.value_and_grad(vmapped, estimator=hje.AlternativePath())
    with pytest.raises(TypeError, match="under a jax.vmap inside the program"):
        f(key, jnp.float32(0.3))

    with pytest.raises(TypeError, match="params leaves must be floating"):
        hje.value_and_grad(_prog, estimator=hje.AlternativePath())(key, jnp.int32(1))

    with pytest.raises(TypeError, match="key must be a PRNG key"):
        hje.bernoulli(jnp.zeros(3), 0.5)
    with pytest.raises(ValueError, match="exactly one of probs or logits"):
        hje.categorical(key)
