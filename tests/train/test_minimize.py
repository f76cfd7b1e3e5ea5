import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.train import minimize


def test_minimize_finds_the_rosenbrock_minimum_from_many_starts():
    def rosenbrock(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    starts = jnp.array([[-1.2, 1.0], [0.0, 0.0], [2.0, -1.0]])
    x, value = jax.jit(jax.vmap(lambda s: minimize(rosenbrock, s, iterations=200)))(starts)
    np.testing.assert_allclose(x, np.ones((3, 2)), atol=1e-3)
    assert float(value.max()) < 1e-6


def test_minimize_takes_pytrees_and_checks_iterations():
    target = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(3.0)}

    def fn(p):
        return sum(jnp.sum((p[k] - target[k]) ** 2) for k in p)

    x, value = minimize(fn, jax.tree.map(jnp.zeros_like, target), iterations=20)
    np.testing.assert_allclose(x["a"], target["a"], atol=1e-5)
    assert float(value) < 1e-8
    with pytest.raises(ValueError, match="iterations"):
        minimize(fn, target, iterations=0)
