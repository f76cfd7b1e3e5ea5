"""ParticleTransformer: padding invariance, permutations, jit/vmap, pair biases, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.nn import ParticleTransformer
from hepjax.physics import p4_from_ptetaphim

F = 3


def _model(key, **kw):
    cfg = dict(embed_size=16, num_heads=2, num_layers=2, num_class_layers=1, num_classes=3)
    return ParticleTransformer(F, **{**cfg, **kw}, key=key)


def _jet(rng, n_real, n_pad, scale=1e3):
    x = rng.normal(size=(n_real, F)).astype(np.float32)
    pt = rng.uniform(1, 50, n_real)
    p4 = np.asarray(p4_from_ptetaphim(pt, rng.normal(0, 0.3, n_real), rng.normal(0, 0.3, n_real)))
    xg = (scale * rng.normal(size=(n_pad, F))).astype(np.float32)
    pg = (scale * np.abs(rng.normal(size=(n_pad, 4)))).astype(np.float32)
    mask = np.arange(n_real + n_pad) < n_real
    return (
        jnp.asarray(x),
        jnp.asarray(p4.astype(np.float32)),
        jnp.asarray(np.concatenate([x, xg])),
        jnp.asarray(np.concatenate([p4, pg]).astype(np.float32)),
        jnp.asarray(mask),
    )


@eqx.filter_jit
def _embed(model, x, p4, mask):
    return model.embed(x, p4, mask)


def test_masked_particles_never_change_the_output(key, rng):
    model = _model(key)
    x, p4, xp, p4p, mask = _jet(rng, 6, 5)
    parts, jet = _embed(model, x, p4, jnp.ones(6, bool))
    parts_p, jet_p = _embed(model, xp, p4p, mask)
    np.testing.assert_allclose(jet_p, jet, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(parts_p[:6], parts, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(parts_p[6:], 0.0)
    # NaN in padded rows does not leak either
    xn = xp.at[7].set(jnp.nan)
    np.testing.assert_allclose(_embed(model, xn, p4p, mask)[1], jet, rtol=1e-5, atol=1e-5)


def test_permutation(key, rng):
    model = _model(key)
    x, p4, *_ = _jet(rng, 7, 0)
    perm = rng.permutation(7)
    parts, jet = _embed(model, x, p4, jnp.ones(7, bool))
    parts2, jet2 = _embed(model, x[perm], p4[perm], jnp.ones(7, bool))
    np.testing.assert_allclose(jet2, jet, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(parts2, parts[perm], rtol=1e-5, atol=1e-5)


def test_jit_vmap_agree_and_pairs_matter(key, rng):
    model = _model(key)
    x, p4, *_ = _jet(rng, 5, 0)
    mask = jnp.ones(5, bool)
    eager = model(x, p4, mask)
    batched = jax.jit(jax.vmap(model))(
        jnp.stack([x, x]), jnp.stack([p4, p4]), jnp.stack([mask] * 2)
    )
    assert eager.shape == (3,)
    np.testing.assert_allclose(batched[1], eager, rtol=1e-5, atol=1e-5)
    # the four-momenta enter through the pair biases only
    moved = model(x, p4 * 2.0, mask)
    assert not np.allclose(moved, eager, atol=1e-6)
    plain = _model(key, use_pairs=False)
    np.testing.assert_allclose(plain(x, p4 * 2.0, mask), plain(x, p4, mask), rtol=1e-6)


def test_bad_input(key):
    model = _model(key)
    x, p4, mask = jnp.zeros((4, F)), jnp.ones((4, 4)), jnp.ones(4, bool)
    with pytest.raises((TypeError, ValueError), match="mask"):
        model.embed(x, p4, jnp.ones(5, bool))
    with pytest.raises((TypeError, ValueError), match="four_momenta"):
        model.embed(x, jnp.ones((4, 3)), mask)
    with pytest.raises(ValueError, match="no real particles"):
        model.embed(x, p4, jnp.zeros(4, bool))
    with pytest.raises(ValueError, match="num_heads"):
        ParticleTransformer(F, embed_size=10, num_heads=3, key=key)
    with pytest.raises(ValueError, match="num_class_layers"):
        ParticleTransformer(F, num_class_layers=0, key=key)


def test_pair_bias_and_its_gradient_equal_the_dense_computation(key, rng):
    """The MLP runs on the pairs i <= j only, with a hand-written derivative of the unpacking:
    both must equal the MLP on all n^2 pairs (the features are symmetric)."""
    from hepjax.nn._layers import gelu, linear
    from hepjax.physics import pair_features

    model = _model(key)
    _, _, _, p4, mask = _jet(rng, 7, 3)

    def dense(m, p4, mask):
        n = p4.shape[0]
        p = jnp.where(mask[:, None], p4, 0.0)
        u = pair_features(p).reshape(n * n, 4) * m.pair_scale + m.pair_shift
        for i, layer in enumerate(m.pair_layers):
            u = linear(layer, u)
            u = gelu(u) if i < len(m.pair_layers) - 1 else u
        return jnp.transpose(u.reshape(n, n, m.num_heads), (2, 0, 1))

    np.testing.assert_allclose(model.pair_bias(p4, mask), dense(model, p4, mask), atol=1e-6)
    weights = jnp.asarray(rng.normal(size=(model.num_heads, 10, 10)).astype(np.float32))

    def grads(fn):
        loss = lambda m: jnp.sum(weights * fn(m, p4, mask))
        return jax.tree.leaves(eqx.filter_grad(loss)(model))

    for a, b in zip(grads(type(model).pair_bias), grads(dense), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
