"""EPiC layers, the EPiC network and the set vector fields."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hepjax.generative as hg
from hepjax.nn import EPiCLayer, EPiCNetwork, EPiCVectorField, TransformerVectorField

N, D = 7, 3


def _fields(key):
    k1, k2 = jax.random.split(key)
    return {
        "epic": EPiCVectorField(D, cond_dim=2, hidden_size=16, latent=4, num_layers=2, key=k1),
        "transformer": TransformerVectorField(
            D, cond_dim=2, hidden_size=16, num_heads=2, num_layers=2, key=k2
        ),
    }


@pytest.fixture(scope="module")
def fields():
    return _fields(jax.random.key(0))


@pytest.fixture(scope="module")
def inputs():
    kx, kc = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (N, D))
    mask = jnp.arange(N) < 5
    cond = jax.random.normal(kc, (2,))
    return x, mask, cond


@pytest.mark.parametrize("name", ["epic", "transformer"])
def test_field_is_permutation_equivariant(fields, inputs, name):
    field = fields[name]
    x, _, cond = inputs
    mask = jnp.ones(N, bool)
    perm = jax.random.permutation(jax.random.key(2), N)
    v = field(0.3, x, {"mask": mask, "cond": cond})
    v_perm = field(0.3, x[perm], {"mask": mask, "cond": cond})
    np.testing.assert_allclose(v_perm, v[perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["epic", "transformer"])
def test_padding_changes_nothing(fields, inputs, name):
    field = fields[name]
    x, mask, cond = inputs
    v = field(0.7, x, {"mask": mask, "cond": cond})
    # other padding content, and more padding rows
    x2 = x.at[~mask].set(1e3)
    v2 = field(0.7, x2, {"mask": mask, "cond": cond})
    x3 = jnp.concatenate([x, 5 * jnp.ones((4, D))])
    mask3 = jnp.concatenate([mask, jnp.zeros(4, bool)])
    v3 = field(0.7, x3, {"mask": mask3, "cond": cond})
    np.testing.assert_allclose(v2, v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v3[:N], v, rtol=1e-5, atol=1e-6)
    assert jnp.all(v[~mask] == 0) and jnp.all(v3[N:] == 0)
    # the real rows really depend on the real elements, the time and the conditioning
    assert not jnp.allclose(field(0.7, x.at[0].add(1.0), {"mask": mask, "cond": cond}), v)
    assert not jnp.allclose(field(0.2, x, {"mask": mask, "cond": cond}), v)
    assert not jnp.allclose(field(0.7, x, {"mask": mask, "cond": cond + 1.0}), v)


def test_epic_layer_pools_real_elements_only():
    layer = EPiCLayer(8, 3, key=jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (6, 8))
    g = jnp.ones(3)
    mask = jnp.array([True, True, True, False, False, False])
    y, h = layer(x, g, mask)
    y_short, h_short = layer(x[:3], g, mask[:3])
    np.testing.assert_allclose(h, h_short, rtol=1e-6)
    np.testing.assert_allclose(y[:3], y_short, rtol=1e-6)


def test_epic_network_jit_vmap_and_eager_agree(inputs):
    net = EPiCNetwork(
        D, 2, hidden_size=8, latent=3, num_layers=2, context_dim=1, key=jax.random.key(5)
    )
    x, mask, _ = inputs
    xs = jnp.stack([x, 2 * x])
    masks = jnp.stack([mask, jnp.ones(N, bool)])
    ctx = jnp.array([[0.1], [0.2]])
    batched = jax.jit(jax.vmap(lambda a, m, c: net(a, m, c)))(xs, masks, ctx)
    for i in range(2):
        np.testing.assert_allclose(batched[i], net(xs[i], masks[i], ctx[i]), rtol=1e-5, atol=1e-6)


def test_empty_set_gives_zeros_not_nan(fields):
    v = fields["epic"](0.5, jnp.ones((N, D)), {"mask": jnp.zeros(N, bool), "cond": jnp.ones(2)})
    assert jnp.all(v == 0)


@pytest.mark.slow  # 9-14 s; in `make test-slow` (CI), to keep `make test` under 15 min
@pytest.mark.parametrize("name", ["epic", pytest.param("transformer", marks=pytest.mark.slow)])
def test_fields_train_and_sample_through_generative(fields, inputs, name):
    field = fields[name]
    x, mask, cond = inputs
    x1 = jnp.stack([x, x + 1.0])
    masks = jnp.stack([mask, mask])
    conds = jnp.stack([cond, cond])
    loss, grads = eqx.filter_value_and_grad(
        lambda f: hg.flow_matching_loss(f, x1, key=jax.random.key(6), mask=masks, cond=conds)
    )(field)
    assert jnp.isfinite(loss)
    assert any(jnp.any(g != 0) for g in jax.tree.leaves(eqx.filter(grads, eqx.is_array)))
    sample = hg.sample_ode(field, x, mask=mask, cond=cond, solver="midpoint", num_steps=4)
    assert sample.shape == x.shape and jnp.all(sample[~mask] == x[~mask])


def test_bad_inputs_are_named(fields, inputs, no_jaxtyping):
    x, mask, cond = inputs
    field = fields["epic"]
    with pytest.raises(ValueError, match="mask"):
        field(0.1, x, {"mask": mask[:3], "cond": cond})
    with pytest.raises(ValueError, match=r"args\['cond'\] of shape \(2,\) is required"):
        field(0.1, x, {"mask": mask})
    with pytest.raises(ValueError, match=r"args\['cond'\]"):
        field(0.1, x, {"mask": mask, "cond": jnp.ones(3)})
    with pytest.raises(ValueError, match="t must be a scalar"):
        field(jnp.ones(2), x, {"mask": mask, "cond": cond})
    with pytest.raises(TypeError, match="args must be None or a dict"):
        field(0.1, x, (mask, cond))
    with pytest.raises(ValueError, match="x"):
        fields["transformer"](0.1, x[:, :2], {"mask": mask, "cond": cond})
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 2.5"):
        EPiCNetwork(3, 3, hidden_size=2.5, key=jax.random.key(0))
    with pytest.raises(ValueError, match="num_layers"):
        EPiCNetwork(3, 3, num_layers=0, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"context of shape \(2,\) is required"):
        EPiCNetwork(
            3, 3, hidden_size=4, latent=2, num_layers=1, context_dim=2, key=jax.random.key(0)
        )(x, mask)
