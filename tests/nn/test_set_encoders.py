"""Set encoders (DeepSets, SetTransformer) and the CNN encoder: invariances, shapes, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import nn

# (sum pooling and both as classifiers also run through tests/nn/test_nn_models.py)
ENCODERS = {
    "deepsets": lambda k: nn.DeepSets(3, 4, hidden_size=8, key=k),
    "set_transformer": lambda k: nn.SetTransformer(
        3, 4, hidden_size=8, num_heads=2, num_layers=1, key=k
    ),
}


@eqx.filter_jit
def _variants(model, x, perm, junk):
    """Outputs for x with junk padding (appended, permuted, interleaved) and a smaller set."""
    n = x.shape[0]
    variants = jnp.stack(
        [
            jnp.concatenate([x, junk]),
            jnp.concatenate([x[perm], junk]),
            jnp.concatenate([junk[:2], x[:4], junk[2:], x[4:]]),
            jnp.concatenate([x[:3], junk, junk]),
        ]
    )
    real, pad = jnp.ones(n, bool), jnp.zeros(4, bool)
    masks = jnp.stack(
        [
            jnp.concatenate([real, pad]),
            jnp.concatenate([real, pad]),
            jnp.concatenate([pad[:2], real[:4], pad[2:], real[4:]]),
            jnp.arange(n + 4) < 3,
        ]
    )
    grads = eqx.filter_grad(lambda m: jnp.sum(m(variants[0], masks[0]) ** 2))(model)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    return jax.vmap(model)(variants, masks), model(x, real), finite


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_invariant_to_permutation_and_padding(name, key):
    k_init, k_x, k_perm, k_junk = jax.random.split(key, 4)
    model = ENCODERS[name](k_init)
    x = jax.random.normal(k_x, (7, 3))
    perm = jax.random.permutation(k_perm, 7)
    junk = 1e3 * jax.random.normal(k_junk, (4, 3))
    out, unpadded, grads_finite = _variants(model, x, perm, junk)
    assert out.shape == (4, 4)
    ref = out[0]
    np.testing.assert_allclose(unpadded, ref, atol=1e-5)  # no padding at all
    np.testing.assert_allclose(out[1], ref, atol=1e-5)  # permuted
    np.testing.assert_allclose(out[2], ref, atol=1e-4)  # padding interleaved
    assert bool(grads_finite)  # the junk does not leak into the gradients
    # a different set (its first 3 elements) gives another output
    assert float(jnp.max(jnp.abs(out[3] - ref))) > 1e-4


def test_with_size_makes_a_mean_pooled_model_see_the_set_size(key):
    """A set repeated twice has the same mean; only log|m| tells the two apart."""
    x = jax.random.normal(key, (3, 3))
    twice = jnp.concatenate([x, x])
    call = eqx.filter_jit(lambda m, a: m(a, jnp.ones(a.shape[0], bool)))
    for with_size, differs in ((True, True), (False, False)):
        model = nn.DeepSets(3, 2, hidden_size=8, with_size=with_size, key=key)
        a, b = call(model, x), call(model, twice)
        assert bool(jnp.max(jnp.abs(a - b)) > 1e-4) is differs


@pytest.mark.slow  # 9-14 s; in `make test-slow` (CI), to keep `make test` under 15 min
def test_jit_and_vmap_agree_with_a_loop(key):
    k_init, k_x = jax.random.split(key)
    x = jax.random.normal(k_x, (3, 6, 3))
    mask = jnp.arange(6) < jnp.array([[1], [6], [4]])
    for make in ENCODERS.values():
        model = make(k_init)
        one = eqx.filter_jit(lambda m, a, b: m(a, b))
        loop = jnp.stack([one(model, x[i], mask[i]) for i in range(3)])
        np.testing.assert_allclose(jax.vmap(model)(x, mask), loop, rtol=1e-5, atol=1e-5)


def test_set_of_images_with_a_cnn_encoder(key):
    k1, k2, k3 = jax.random.split(key, 3)
    cnn = nn.CNNEncoder((8, 8), 8, channels=(2, 4), key=k1)
    images = jax.random.normal(k3, (4, 8, 8))
    assert cnn(images[0]).shape == (8,)
    junk = jnp.full((2, 8, 8), 1e4)
    mask = jnp.array([True] * 4 + [False] * 2)
    # (SetTransformer runs its elements through the same encoder path)
    model = nn.DeepSets(8, 5, hidden_size=8, encoder=cnn, key=k2)
    both = eqx.filter_jit(lambda m, a, b: jax.vmap(m)(a, b))(
        model,
        jnp.stack([jnp.concatenate([images, junk]), jnp.concatenate([junk, images[::-1]])]),
        jnp.stack([mask, mask[::-1]]),
    )
    assert both.shape == (2, 5)
    np.testing.assert_allclose(both[0], both[1], atol=1e-5)
    # a channel axis
    rgb = nn.CNNEncoder((3, 9, 7), 4, channels=(2,), key=k1)
    assert rgb(jnp.ones((3, 9, 7))).shape == (4,)


def test_errors(key, no_jaxtyping):
    with pytest.raises(ValueError, match="hidden_size must be divisible by num_heads"):
        nn.SetTransformer(2, 4, hidden_size=10, num_heads=4, key=key)
    with pytest.raises(ValueError, match="pooling must be one of"):
        nn.DeepSets(2, 4, pooling="max", key=key)
    with pytest.raises(ValueError, match="out_features must be a positive int, got 0"):
        nn.DeepSets(2, 0, key=key)
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        nn.SetTransformer(2, 4, num_layers=0, key=key)
    model = nn.DeepSets(2, 4, hidden_size=8, key=key)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 2\), got \(3, 5, 2\)"):
        model(jnp.ones((3, 5, 2)), jnp.ones(3, bool))
    with pytest.raises(ValueError, match=r"mask must have shape \(3\), got \(4\)"):
        model(jnp.ones((3, 2)), jnp.ones(4, bool))
    with pytest.raises(TypeError, match="mask must have a bool dtype"):
        model(jnp.ones((3, 2)), jnp.ones(3))
    cnn = nn.CNNEncoder((8, 8), 6, channels=(2,), key=key)
    wrong = nn.DeepSets(5, 4, encoder=cnn, key=key)
    with pytest.raises(ValueError, match=r"the encoder must map one element to \(5,\) features"):
        wrong(jnp.ones((3, 8, 8)), jnp.ones(3, bool))
    with pytest.raises(ValueError, match=r"CNNEncoder takes one image of shape \(8, 8\)"):
        cnn(jnp.ones((16, 16)))
    with pytest.raises(ValueError, match="image_shape must be"):
        nn.CNNEncoder((16,), 8, key=key)
    with pytest.raises(ValueError, match="channels must be a non-empty tuple"):
        nn.CNNEncoder((16, 16), 8, channels=(), key=key)
    with pytest.raises(ValueError, match=r"channels\[1\] must be a positive int"):
        nn.CNNEncoder((16, 16), 8, channels=(4, 0), key=key)
