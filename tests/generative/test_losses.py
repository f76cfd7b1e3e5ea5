"""Flow-matching losses: closed forms, masks, conditioning and Riemannian projection."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import generative as gen
from hepjax import manifolds


def point_mass_field(target):
    """The exact marginal CondOT (sigma_min = 0) field when all data sit at ``target``."""
    return lambda t, x, args: (target - x) / (1.0 - t)


def test_zero_field_loss_matches_closed_form(key, x64):
    """With v = 0, E||u_t||^2 = E||x1 - (1 - s) x0||^2 = ||x1||^2 + (1 - s)^2 d."""
    x1 = jnp.array([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]])
    path = gen.CondOT(sigma_min=0.2)
    zero = lambda t, x, args: jnp.zeros_like(x)
    losses = jax.jit(jax.vmap(lambda k: gen.flow_matching_loss(zero, x1, key=k, path=path)))(
        jax.random.split(key, 4000)
    )
    exact = np.mean(np.sum(np.asarray(x1) ** 2, -1)) + 0.8**2 * 3
    stderr = losses.std(ddof=1) / np.sqrt(losses.size)
    assert abs(losses.mean() - exact) < 4 * stderr


def test_exact_field_has_zero_loss_and_padding_is_ignored(key):
    target = jnp.array([0.5, -1.0])
    x1 = jnp.tile(target, (3, 4, 1))
    mask = jnp.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], bool)
    x1 = jnp.where(mask[..., None], x1, 123.0)  # garbage in the padding
    exact = point_mass_field(target)

    def field(t, x, args):
        v = exact(t, x, args)
        return jnp.where(args["mask"][:, None], v, 1e6)  # garbage output on padding

    loss = gen.flow_matching_loss(field, x1, key=key, mask=mask, t_max=0.99)
    assert float(loss) < 1e-8
    # a constant error c per coordinate on every real element gives exactly c^2 d,
    # whatever the number of real elements: the loss is normalised by real elements
    shifted = lambda t, x, args: field(t, x, args) + 0.5
    for m in (mask, mask.at[0, 1].set(False)):
        val = gen.flow_matching_loss(shifted, x1, key=key, mask=m, t_max=0.99)
        assert np.isclose(val, 0.5**2 * 2, rtol=1e-4)


def test_conditioning_is_routed_per_example(key):
    cond = jnp.array([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]])
    x1 = cond  # each example's data is its own conditioning vector
    field = lambda t, x, args: (args["cond"] - x) / (1.0 - t)
    assert float(gen.flow_matching_loss(field, x1, key=key, cond=cond, t_max=0.99)) < 1e-8
    shuffled = cond[::-1]
    assert float(gen.flow_matching_loss(field, x1, key=key, cond=shuffled, t_max=0.99)) > 0.1


def test_riemannian_loss_projects_and_uses_the_metric(key, x64):
    S = manifolds.Sphere(2)
    p = jnp.array([0.0, 0.6, 0.8])
    x1 = jnp.tile(p, (6, 1))

    def exact(t, x, args):  # u_t(x | p) = log_x(p) / (1 - t), plus a normal component
        return S.logmap(x, p) / (1.0 - t) + 5.0 * x

    loss, same = jax.jit(
        lambda x1: (
            gen.riemannian_flow_matching_loss(exact, x1, S, key=key, t_max=0.99),
            gen.flow_matching_loss(exact, x1, key=key, path=S, t_max=0.99),
        )
    )(x1)
    assert float(loss) < 1e-12
    assert np.isclose(same, loss)
    # the zero field's loss is E||u_t||^2 = E d(x0, p)^2 with x0 uniform on S^2:
    # E θ^2 = (π^2 - 4) / 2 for the polar angle θ of a uniform point
    zero = lambda t, x, args: jnp.zeros_like(x)
    losses = jax.jit(jax.vmap(lambda k: gen.riemannian_flow_matching_loss(zero, x1, S, key=k)))(
        jax.random.split(key, 2000)
    )
    stderr = losses.std(ddof=1) / np.sqrt(losses.size)
    assert abs(losses.mean() - (np.pi**2 - 4) / 2) < 4 * stderr


@pytest.mark.slow  # 9-14 s; in `make test-slow` (CI), to keep `make test` under 15 min
def test_riemannian_loss_on_padded_sets_of_the_product(key):
    M = manifolds.Product(manifolds.Sphere(2), manifolds.Euclidean(1))
    p = jnp.array([1.0, 0.0, 0.0, 2.0])
    x1 = jnp.tile(p, (2, 3, 1))
    mask = jnp.array([[True, True, False], [True, False, False]])
    x1 = jnp.where(mask[..., None], x1, 0.0)  # zero padding is not on the sphere: ignored

    def field(t, x, args):
        return jax.vmap(lambda y: M.logmap(y, p))(x) / (1.0 - t)

    loss = gen.flow_matching_loss(
        field, x1, key=key, path=gen.GeodesicPath(M), mask=mask, t_max=0.9
    )
    grads = jax.grad(
        lambda s: gen.flow_matching_loss(
            lambda t, x, a: s * field(t, x, a), x1, key=key, path=M, mask=mask, t_max=0.9
        )
    )(1.0)
    assert float(loss) < 1e-8
    assert np.isfinite(grads)


def test_float32_training_step_is_finite(key):
    import equinox as eqx

    mlp = eqx.nn.MLP(3, 2, 16, 2, key=key)
    field = lambda m: lambda t, x, args: m(jnp.append(x, t))
    x1 = jax.random.normal(key, (8, 2))
    loss, grads = eqx.filter_value_and_grad(
        lambda m: gen.flow_matching_loss(field(m), x1, key=key, path="cond_ot")
    )(mlp)
    assert loss.dtype == jnp.float32 and np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(eqx.filter(grads, eqx.is_array)))


def test_bad_inputs_raise_clear_errors(key, no_jaxtyping):
    field = lambda t, x, args: x
    x1 = jnp.zeros((4, 3, 2))
    mask = jnp.ones((4, 3), bool)
    with pytest.raises(ValueError, match=r"mask must have shape \(4, 3\) to match data"):
        gen.flow_matching_loss(field, x1, key=key, mask=jnp.ones((4, 2), bool))
    with pytest.raises(TypeError, match="mask must have a bool dtype"):
        gen.flow_matching_loss(field, x1, key=key, mask=jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="a set is all padding"):
        gen.flow_matching_loss(field, x1, key=key, mask=mask.at[2].set(False))
    with pytest.raises(ValueError, match=r"cond must have one row per example \(4\)"):
        gen.flow_matching_loss(field, x1, key=key, mask=mask, cond=jnp.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"path must be one of"):
        gen.flow_matching_loss(field, x1, key=key, path="rectified")
    with pytest.raises(ValueError, match="x1 must be a batch"):
        gen.flow_matching_loss(field, jnp.zeros(3), key=key)
    with pytest.raises(ValueError, match="need 0 <= t_min < t_max <= 1"):
        gen.flow_matching_loss(field, x1, key=key, t_min=0.5, t_max=0.5)
    with pytest.raises(ValueError, match="vector_field must return an array shaped like"):
        gen.flow_matching_loss(lambda t, x, a: x[..., :1], x1, key=key)
    with pytest.raises(ValueError, match=r"x1 has points that are not on Sphere\(2\)"):
        gen.riemannian_flow_matching_loss(field, jnp.ones((4, 3)), manifolds.Sphere(2), key=key)


def test_traced_all_padding_set_raises_at_runtime(key):
    field = lambda t, x, args: x
    x1 = jnp.zeros((2, 3, 2))
    loss = jax.jit(lambda m: gen.flow_matching_loss(field, x1, key=key, mask=m))
    assert np.isfinite(loss(jnp.ones((2, 3), bool)))
    with pytest.raises(Exception, match="a set is all padding"):
        jax.block_until_ready(loss(jnp.array([[True, False, False], [False, False, False]])))
