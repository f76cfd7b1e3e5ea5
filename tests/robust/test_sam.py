"""SAM and sparse SAM: the hand-computed step on a quadratic, the zero-gradient guard, sparsity."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hepjax import robust, train

A = jnp.array([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.5]])
B = jnp.array([1.0, -2.0, 0.5])


def quadratic(theta, batch=None):
    return 0.5 * theta @ A @ theta - B @ theta


def grad(theta):
    return A @ theta - B


def test_sam_step_matches_hand_computed(key):
    """theta' = theta - lr grad(theta + rho g / |g|), after the two fit steps of one SAM update."""
    theta = jnp.array([0.3, -0.7, 1.2])
    lr, rho = 0.1, 0.05
    g = grad(theta)
    expected = theta - lr * grad(theta + rho * g / jnp.linalg.norm(g))
    opt = robust.sam(optax.sgd(lr), rho=rho)
    result = train.fit(theta, quadratic, opt, lambda s: np.zeros((1,)), steps=2, key=key)
    np.testing.assert_allclose(result.model, expected, rtol=1e-6)
    # two updates: the second repeats the rule from the first's result
    theta1 = expected
    g1 = grad(theta1)
    expected2 = theta1 - lr * grad(theta1 + rho * g1 / jnp.linalg.norm(g1))
    result = train.fit(theta, quadratic, opt, lambda s: np.zeros((1,)), steps=4, key=key)
    np.testing.assert_allclose(result.model, expected2, rtol=1e-5)


def test_sam_zero_gradient_guard():
    """At the minimum (g = 0) the perturbation is zero, not 0/0."""
    theta = jnp.linalg.solve(A, B)
    opt = robust.sam(optax.sgd(0.1), rho=0.05)
    state = opt.init(theta)
    zero = jnp.zeros(3)
    for _ in range(2):
        updates, state = opt.update(zero, state, theta)
        assert bool(jnp.all(jnp.isfinite(updates)))
        theta = optax.apply_updates(theta, updates)
    np.testing.assert_allclose(theta, jnp.linalg.solve(A, B), atol=1e-7)


def test_sparse_sam_perturbs_top_fraction():
    """fisher_decay=0 keeps the largest |g| entries; the ascent step is rho along them."""
    theta = {"a": jnp.zeros(4), "b": jnp.zeros(2)}
    g = {"a": jnp.array([0.1, -3.0, 0.2, 2.0]), "b": jnp.array([-0.05, 1.0])}
    opt = robust.sparse_sam(optax.sgd(0.1), rho=0.5, fraction=0.5, fisher_decay=0.0)
    updates, _ = opt.update(g, opt.init(theta), theta)
    kept = jnp.array([0.0, -3.0, 0.0, 2.0, 0.0, 1.0])
    expected = 0.5 * kept / jnp.linalg.norm(kept)
    flat = jnp.concatenate([updates["a"], updates["b"]])
    np.testing.assert_allclose(flat, expected, rtol=1e-6)


def test_sparse_sam_trains(key):
    theta = jnp.array([2.0, 2.0, 2.0])
    opt = robust.sparse_sam(optax.sgd(0.2), rho=0.01, fraction=0.34)
    result = train.fit(theta, quadratic, opt, lambda s: np.zeros((1,)), steps=200, key=key)
    np.testing.assert_allclose(result.model, jnp.linalg.solve(A, B), atol=2e-2)


def test_bad_arguments(no_jaxtyping):
    with pytest.raises(ValueError, match="rho must be finite and >= 0"):
        robust.sam(optax.sgd(0.1), rho=-1.0)
    with pytest.raises(ValueError, match="fraction must be in"):
        robust.sparse_sam(optax.sgd(0.1), fraction=1.5)
    with pytest.raises(TypeError, match="optimizer must be"):
        robust.sam("adam")
