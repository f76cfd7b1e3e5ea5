"""MaskedMultiheadAttention: exact reference, masking, padding and permutation properties."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.nn import MaskedMultiheadAttention

D, H = 16, 4


def _reference(attn, x):
    """Attention over an unpadded set in float64 NumPy, head by head."""
    x = np.asarray(x, np.float64)
    w_qkv = np.asarray(attn.qkv.weight, np.float64)
    b_qkv = np.asarray(attn.qkv.bias, np.float64)
    qkv = x @ w_qkv.T + b_qkv
    q, k, v = np.split(qkv, 3, axis=1)
    dh = D // H
    heads = []
    for h in range(H):
        sl = slice(h * dh, (h + 1) * dh)
        s = q[:, sl] @ k[:, sl].T / np.sqrt(dh)
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        heads.append(a @ v[:, sl])
    o = np.concatenate(heads, axis=1)
    return o @ np.asarray(attn.out.weight, np.float64).T + np.asarray(attn.out.bias)


@pytest.fixture
def attn(key):
    return MaskedMultiheadAttention(D, H, key=key)


def _padded(rng, n_real, n_pad, scale=1e3):
    """A real set plus padding rows filled with large garbage."""
    x = rng.normal(size=(n_real, D)).astype(np.float32)
    garbage = (scale * rng.normal(size=(n_pad, D))).astype(np.float32)
    xp = np.concatenate([x, garbage])
    mask = np.arange(n_real + n_pad) < n_real
    return jnp.asarray(x), jnp.asarray(xp), jnp.asarray(mask)


def test_matches_reference(attn, rng):
    x, _, _ = _padded(rng, 7, 0)
    out = attn(x, jnp.ones(7, bool))
    np.testing.assert_allclose(out, _reference(attn, x), rtol=1e-5, atol=1e-5)


def test_weights_zero_on_padding_and_normalised(attn, rng):
    _, xp, mask = _padded(rng, 5, 4)
    w = attn.attention_weights(xp, mask)
    assert w.shape == (H, 9, 9)
    assert np.all(np.asarray(w)[:, :, 5:] == 0.0)  # exactly zero, not just small
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("n_pad", [1, 6, 20])
def test_padding_invariance(attn, rng, n_pad):
    x, xp, mask = _padded(rng, 6, n_pad)
    ref = attn(x, jnp.ones(6, bool))
    out = attn(xp, mask)
    np.testing.assert_allclose(out[:6], ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:6], _reference(attn, x), rtol=1e-5, atol=1e-5)


def test_real_rows_have_zero_gradient_wrt_padding(attn, rng):
    _, xp, mask = _padded(rng, 4, 3, scale=1.0)
    g = jax.grad(lambda z: jnp.sum(attn(z, mask)[:4] ** 2))(xp)
    assert np.all(np.asarray(g)[4:] == 0.0)
    assert np.any(np.asarray(g)[:4] != 0.0)


def test_permutation_equivariance(attn, rng):
    # Permute real and padded rows together (padding ends up interleaved).
    _, xp, mask = _padded(rng, 6, 4)
    perm = rng.permutation(10)
    out = attn(xp, mask)
    out_perm = attn(xp[perm], mask[perm])
    real = np.asarray(mask[perm])
    np.testing.assert_allclose(out_perm[real], out[perm][real], rtol=1e-5, atol=1e-5)


def test_empty_set_is_finite(attn, rng):
    _, xp, _ = _padded(rng, 0, 5)
    mask = jnp.zeros(5, bool)
    assert np.all(np.asarray(attn.attention_weights(xp, mask)) == 0.0)
    assert np.all(np.isfinite(attn(xp, mask)))


def test_jit_and_vmap_agree(attn, rng):
    x = jnp.asarray(rng.normal(size=(3, 8, D)), jnp.float32)
    mask = jnp.arange(8) < jnp.array([[2], [8], [5]])
    eager = jnp.stack([attn(x[i], mask[i]) for i in range(3)])
    np.testing.assert_allclose(jax.vmap(attn)(x, mask), eager, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jax.jit(jax.vmap(attn))(x, mask), eager, rtol=1e-5, atol=1e-5)
    for i in range(3):
        np.testing.assert_allclose(eqx.filter_jit(attn)(x[i], mask[i]), eager[i], atol=1e-5)


def test_dropout(key, rng):
    k_init, k_drop = jax.random.split(key)
    attn = MaskedMultiheadAttention(D, H, dropout=0.5, key=k_init)
    _, xp, mask = _padded(rng, 6, 2, scale=1.0)
    with pytest.raises(RuntimeError, match="requires a key"):
        attn(xp, mask)
    det = eqx.nn.inference_mode(attn)(xp, mask)
    plain = eqx.tree_at(lambda m: m.dropout, attn, eqx.nn.Dropout(0.0))(xp, mask)
    np.testing.assert_allclose(det, plain, rtol=1e-6)
    assert not np.allclose(attn(xp, mask, key=k_drop)[:6], det[:6])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (
            dict(hidden_size=10, num_heads=4),
            ValueError,
            "hidden_size must be divisible by num_heads",
        ),
        (dict(hidden_size=0, num_heads=1), ValueError, "hidden_size must be a positive int, got 0"),
        (dict(hidden_size=8, num_heads=2.0), ValueError, "num_heads must be a positive int"),
        (dict(hidden_size=8, num_heads=2, dropout=1.0), ValueError, r"dropout must be in \[0, 1\)"),
    ],
)
def test_constructor_errors(key, kwargs, exc, match, no_jaxtyping):
    with pytest.raises(exc, match=match):
        MaskedMultiheadAttention(**kwargs, key=key)
