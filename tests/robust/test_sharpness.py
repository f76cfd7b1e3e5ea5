"""Lanczos eigenvalues against numpy.linalg.eigvalsh; the ascent curve; reduced Hessians."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hepjax import robust


def random_symmetric(rng, n, top):
    """A symmetric matrix with known eigenvalues: ``top`` well separated, the rest in [-1, 1]."""
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    values = np.concatenate([top, rng.uniform(-1, 1, n - len(top))])
    return (q * values) @ q.T, np.sort(values)[::-1]


@pytest.mark.parametrize("n", [40])
def test_lanczos_random_quadratic(key, rng, n):
    matrix, _ = random_symmetric(rng, n, np.array([9.0, 6.5, 4.0, 3.2, 2.5]))
    exact = np.linalg.eigvalsh(matrix)[::-1][:5]
    h = jnp.asarray(matrix, jnp.float32)
    # params as a pytree: the quadratic's vector split into a dict of two arrays
    params = {"u": jnp.ones(n // 2), "v": jnp.ones(n - n // 2)}

    def loss(p):
        z = jnp.concatenate([p["u"], p["v"]])
        return 0.5 * z @ h @ z

    eigs = robust.hessian_eigenvalues(key, loss, params, k=5)
    assert eigs.shape == (5,)
    np.testing.assert_allclose(eigs, exact, rtol=1e-4)
    assert bool(jnp.all(jnp.diff(eigs) <= 0))


def test_lanczos_few_iterations_converges_on_top(key, rng):
    """A 200-dim quadratic: 60 Lanczos steps find the well-separated top eigenvalues."""
    matrix, _ = random_symmetric(rng, 200, np.array([50.0, 30.0, 20.0]))
    h = jnp.asarray(matrix, jnp.float32)
    eigs = robust.hessian_eigenvalues(
        key, lambda z: 0.5 * z @ h @ z, jnp.zeros(200), k=3, num_iterations=60
    )
    np.testing.assert_allclose(eigs, [50.0, 30.0, 20.0], rtol=1e-4)


def test_lanczos_low_rank(key, rng):
    """A rank-3 Hessian exhausts the Krylov space after 3 steps; the rest are zeros."""
    u = rng.normal(size=(30, 3))
    h = jnp.asarray(u @ np.diag([5.0, 2.0, 1.0]) @ u.T, jnp.float32)
    exact = np.linalg.eigvalsh(np.asarray(h, np.float64))[::-1][:5]
    eigs = robust.hessian_eigenvalues(key, lambda z: 0.5 * z @ h @ z, jnp.zeros(30), k=5)
    np.testing.assert_allclose(eigs[:3], exact[:3], rtol=1e-4)
    np.testing.assert_allclose(eigs[3:], 0.0, atol=1e-4 * exact[0])


@pytest.fixture
def mlp_problem(key):
    km, kx, ky = jax.random.split(key, 3)
    model = eqx.nn.MLP(3, 1, width_size=5, depth=1, activation=jnp.tanh, key=km)
    x = jax.random.normal(kx, (16, 3))
    y = (jax.random.uniform(ky, (16,)) < 0.5).astype(jnp.float32)

    def loss(m, x=x, y=y):
        logits = jax.vmap(m)(x)[:, 0]
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y))

    return model, loss, x, y


@pytest.mark.slow  # compiles an MLP's Hessian-vector products: `make test-slow`
def test_lanczos_tiny_mlp_exact_hessian(key, mlp_problem):
    model, loss, _, _ = mlp_problem
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    exact_h = jax.hessian(lambda v: loss(eqx.combine(unravel(v), static)))(flat)
    exact = np.linalg.eigvalsh(np.asarray(exact_h, np.float64))[::-1][:5]
    # under jit (the eager call runs the same compiled Lanczos loop)
    jitted = eqx.filter_jit(
        lambda k, m: robust.hessian_eigenvalues(k, loss, m, k=5, num_iterations=flat.size)
    )
    np.testing.assert_allclose(jitted(key, model), exact, rtol=1e-4)


@pytest.mark.slow  # compiles an MLP's Hessian-vector products: `make test-slow`
def test_last_layer_and_input_hessians(key, mlp_problem):
    model, loss, x, y = mlp_problem
    last = model.layers[-1].weight
    exact_h = jax.hessian(lambda w: loss(eqx.tree_at(lambda m: m.layers[-1].weight, model, w)))(
        last
    )
    exact = np.linalg.eigvalsh(np.asarray(exact_h.reshape(last.size, last.size), np.float64))
    eigs = robust.subset_hessian_eigenvalues(key, loss, model, k=2)
    np.testing.assert_allclose(eigs, exact[::-1][:2], rtol=1e-4)

    def input_loss(m, x, y):
        return loss(m, x, y)

    xs = x[:2]
    exact_x = jax.hessian(lambda z: input_loss(model, z, y[:2]))(xs).reshape(6, 6)
    exact_x = np.linalg.eigvalsh(np.asarray(exact_x, np.float64))[::-1][:3]
    eigs_x = robust.input_hessian_eigenvalues(key, input_loss, model, xs, y[:2], k=3)
    np.testing.assert_allclose(eigs_x, exact_x, rtol=1e-4, atol=1e-6)


def test_ascent_curve_quadratic():
    """On L = |theta|^2 / 2 ascent moves radially: L_t = (r0 + t d)^2 / 2."""
    theta = jnp.array([0.6, 0.8])  # radius 1
    curve = robust.ascent_curve(lambda t: 0.5 * t @ t, theta, step_size=0.01, num_steps=50)
    r = 1.0 + 0.01 * np.arange(51)
    np.testing.assert_allclose(curve.losses, 0.5 * r**2, rtol=1e-5)
    np.testing.assert_allclose(curve.distances, 0.01 * np.arange(51), rtol=1e-6)
    assert float(curve.sharpness) == pytest.approx(0.5 * (1.5**2 - 1.0), rel=1e-5)
    # at a zero gradient the path stays put
    flat = robust.ascent_curve(lambda t: jnp.sum(t * 0.0), theta, num_steps=3)
    np.testing.assert_allclose(flat.increase, 0.0)


def test_bad_requests(key):
    with pytest.raises(ValueError, match=r"k=7 eigenvalues requested.*6 parameters"):
        robust.hessian_eigenvalues(key, lambda z: z @ z, jnp.zeros(6), k=7)
    with pytest.raises(ValueError, match="k must be a positive int"):
        robust.hessian_eigenvalues(key, lambda z: z @ z, jnp.zeros(6), k=0)
    with pytest.raises(ValueError, match="scalar"):
        robust.hessian_eigenvalues(key, lambda z: z * z, jnp.zeros(6), k=1)
    with pytest.raises(ValueError, match="step_size must be >= 0"):
        robust.ascent_curve(lambda z: z @ z, jnp.zeros(6), step_size=-0.01)
