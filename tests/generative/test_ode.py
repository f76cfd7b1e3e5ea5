"""ODE samplers: declared convergence orders, manifolds, masks and bad input."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from hepjax import generative as gen
from hepjax import manifolds

A = np.array([[-0.5, 2.0], [-1.0, -0.3]])
X0 = np.array([1.0, -0.5])


def linear(t, x, args):
    return jnp.asarray(A, x.dtype) @ x


@pytest.mark.parametrize(
    "solver, order",
    [(diffrax.Euler(), 1), (diffrax.Midpoint(), 2), (diffrax.Heun(), 2), (diffrax.Dopri5(), 5)],
    ids=["euler", "midpoint", "heun", "dopri5"],
)
def test_ode_solvers_converge_at_their_declared_order(solver, order, x64):
    exact = scipy.linalg.expm(A) @ X0
    steps = [4, 8, 16] if order == 5 else [16, 32, 64]
    run = jax.jit(
        lambda x0, n: gen.sample_ode(linear, x0, solver=solver, num_steps=n), static_argnums=1
    )
    errors = [np.linalg.norm(np.asarray(run(jnp.asarray(X0), n)) - exact) for n in steps]
    measured = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(type(solver).__name__, errors, measured)
    assert np.all(np.abs(measured - order) < 0.25), measured


def test_adaptive_dopri5_is_accurate_and_backwards_inverts(x64):
    x1 = gen.sample_ode(linear, X0, solver="dopri5", rtol=1e-10, atol=1e-10)
    assert np.allclose(x1, scipy.linalg.expm(A) @ X0, atol=1e-8)
    back = gen.sample_ode(
        linear, x1, solver=diffrax.Dopri5(), t0=1.0, t1=0.0, rtol=1e-10, atol=1e-10
    )
    assert np.allclose(back, X0, atol=1e-8)


def test_sampling_on_the_sphere_follows_a_rotation(key):
    """A rotation field x -> Ωx on S^2 in float32: the exact flow is expm(Ω) x."""
    S = manifolds.Sphere(2)
    omega = jnp.array([[0.0, -1.5, 0.3], [1.5, 0.0, -0.7], [-0.3, 0.7, 0.0]])
    x0 = jax.vmap(S.random_uniform)(jax.random.split(key, 8))
    # the field is given a radial component that the projection must remove
    field = lambda t, x, args: omega @ x + 3.0 * x
    x1 = jax.jit(jax.vmap(lambda x: gen.sample_ode(field, x, num_steps=50, manifold=S)))(x0)
    assert x1.dtype == jnp.float32
    assert np.allclose(jnp.linalg.norm(x1, axis=-1), 1.0, atol=1e-6)
    exact = x0 @ scipy.linalg.expm(np.asarray(omega)).T
    assert np.allclose(x1, exact, atol=2e-3)


def test_torus_sampling_wraps_and_padding_stays_put(key):
    T = manifolds.FlatTorus(1)
    x0 = jnp.array([[3.0], [0.0], [9.0]])
    mask = jnp.array([True, True, False])
    seen = {}

    def field(t, x, args):
        seen["args"] = sorted(args)
        return jnp.ones_like(x)

    x1 = gen.sample_ode(field, x0, solver="euler", num_steps=4, manifold=T, mask=mask)
    assert seen["args"] == ["mask"]
    assert np.allclose(x1[:2, 0], [4.0 - 2 * np.pi, 1.0], atol=1e-5)
    assert x1[2, 0] == 9.0  # padding is not moved (nor wrapped)


def test_jit_vmap_agree(key):
    x0 = jax.random.normal(key, (2, 2))
    one = [gen.sample_ode(linear, x, solver="midpoint", num_steps=10) for x in x0]
    many = jax.jit(jax.vmap(lambda x: gen.sample_ode(linear, x, solver="midpoint", num_steps=10)))
    assert np.allclose(many(x0), np.stack(one), atol=1e-6)


def test_bad_solvers_and_masks(no_jaxtyping):
    with pytest.raises(ValueError, match=r"solver must be one of \['bosh3', 'dopri5'"):
        gen.sample_ode(linear, X0, solver="rk45", num_steps=3)
    with pytest.raises(TypeError, match="solver must be a diffrax solver"):
        gen.sample_ode(linear, X0, solver=diffrax.ODETerm(linear), num_steps=3)
    with pytest.raises(ValueError, match="Euler has a fixed step: pass num_steps"):
        gen.sample_ode(linear, X0, solver="euler")
    with pytest.raises(ValueError, match="num_steps must be a positive int"):
        gen.sample_ode(linear, X0, solver="euler", num_steps=0)
    x = jnp.zeros((3, 2))
    with pytest.raises(ValueError, match=r"mask must have shape \(3,\) to match data"):
        gen.sample_ode(linear, x, num_steps=2, mask=jnp.ones(4, bool))
    with pytest.raises(ValueError, match="a set is all padding"):
        gen.sample_ode(linear, x, num_steps=2, mask=jnp.zeros(3, bool))
    with pytest.raises(ValueError, match=r"x0 must be a point \(3,\) or a set \(n, 3\) of Sphere"):
        gen.sample_ode(linear, X0, num_steps=2, manifold=manifolds.Sphere(2))
    with pytest.raises(ValueError, match="vector_field must return an array shaped like x"):
        gen.sample_ode(lambda t, x, a: x[:1], X0, num_steps=2)
