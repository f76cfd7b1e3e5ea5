"""Transformer encoder and set classifiers: invariances, jit/vmap agreement, errors, learning.

DeepSets and SetTransformer as classifiers run through the same checks here;
their own features (encoders, pooling, the set size) are tested in test_sets.py.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hepjax.nn import (
    AbstractSetClassifier,
    DeepSets,
    ParticleTransformerClassifier,
    SetTransformer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

F = 4


def _transformer(key, **kw):
    cfg = dict(hidden_size=8, num_heads=2, num_layers=2)
    return ParticleTransformerClassifier(F, 3, **{**cfg, **kw}, key=key)


def _deepsets(key, **kw):
    return DeepSets(F, 3, hidden_size=8, **kw, key=key)


def _deepsets_sum(key):
    return _deepsets(key, pooling="sum", with_size=False)


def _set_transformer(key):
    return SetTransformer(F, 3, hidden_size=8, num_heads=2, num_layers=1, key=key)


MODELS = [_transformer, _deepsets, _deepsets_sum, _set_transformer]


@eqx.filter_jit
def _call(model, x, mask, key=None):
    """One shared jitted call, so tests with equal shapes reuse compilations."""
    return model(x, mask, key=key)


def _set(rng, n_real, n_pad, scale=1e3):
    x = rng.normal(size=(n_real, F)).astype(np.float32)
    garbage = (scale * rng.normal(size=(n_pad, F))).astype(np.float32)
    mask = np.arange(n_real + n_pad) < n_real
    return jnp.asarray(x), jnp.asarray(np.concatenate([x, garbage])), jnp.asarray(mask)


@pytest.mark.parametrize("make", MODELS)
def test_padding_invariance(make, key, rng):
    model = make(key)
    x, _, _ = _set(rng, 7, 0)
    ref = _call(model, x, jnp.ones(7, bool))
    for n_pad in (1, 25):
        _, xp, mask = _set(rng, 0, n_pad)
        xp, mask = jnp.concatenate([x, xp]), jnp.concatenate([jnp.ones(7, bool), mask])
        np.testing.assert_allclose(_call(model, xp, mask), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", MODELS)
def test_permutation_invariance(make, key, rng):
    model = make(key)
    _, xp, mask = _set(rng, 8, 5)
    perm = rng.permutation(13)
    np.testing.assert_allclose(
        _call(model, xp[perm], mask[perm]), _call(model, xp, mask), rtol=1e-5, atol=1e-5
    )


def test_encoder_equivariance_and_zero_padding(key, rng):
    enc = TransformerEncoder(8, 2, 2, key=key)
    x = jnp.asarray(rng.normal(size=(10, 8)), jnp.float32)
    mask = jnp.asarray(np.arange(10) < 6)
    out = enc(x, mask)
    assert np.all(np.asarray(out)[6:] == 0.0)
    perm = rng.permutation(10)
    np.testing.assert_allclose(enc(x[perm], mask[perm]), out[perm], rtol=1e-5, atol=1e-5)
    layer = TransformerEncoderLayer(8, 2, key=key)
    out_l = layer(x, mask)
    np.testing.assert_allclose(
        layer(x[perm], mask[perm])[np.asarray(mask[perm])],
        out_l[perm][np.asarray(mask[perm])],
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("make", MODELS)
def test_jit_vmap_agree_with_eager_loop(make, key, rng):
    model = make(key)
    x = jnp.asarray(rng.normal(size=(3, 9, F)), jnp.float32)
    mask = jnp.arange(9) < jnp.array([[1], [9], [4]])
    loop = jnp.stack([model(x[i], mask[i]) for i in range(3)])
    np.testing.assert_allclose(jax.vmap(model)(x, mask), loop, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jax.jit(jax.vmap(model))(x, mask), loop, rtol=1e-5, atol=1e-5)


def test_transformer_dropout_needs_key_and_inference_mode(key, rng):
    k_init, k_drop = jax.random.split(key)
    model = _transformer(k_init, dropout=0.2)
    assert isinstance(model, AbstractSetClassifier)
    _, xp, mask = _set(rng, 5, 3, scale=1.0)
    with pytest.raises(RuntimeError, match="requires a key"):
        model(xp, mask)
    a = _call(model, xp, mask, k_drop)
    b = _call(eqx.nn.inference_mode(model), xp, mask)
    assert a.shape == b.shape == (3,)
    assert not np.allclose(a, b)


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize(
    ("x_shape", "mask", "exc", "match"),
    [
        ((10, 5), np.ones(10, bool), ValueError, r"x must have shape \(\*, 4\), got \(10, 5\)"),
        ((10,), np.ones(10, bool), ValueError, r"x must have shape \(\*, 4\), got \(10\)"),
        ((10, 4), np.ones(9, bool), ValueError, r"mask must have shape \(10\), got \(9\)"),
        ((10, 4), np.ones(10, np.float32), TypeError, "mask must have a bool dtype"),
    ],
)
def test_call_errors(make, key, x_shape, mask, exc, match, no_jaxtyping):
    model = make(key)
    x = jnp.zeros(x_shape, jnp.float32)
    with pytest.raises(exc, match=match):
        model(x, jnp.asarray(mask))
    with pytest.raises(exc, match=match):
        eqx.filter_jit(model)(x, jnp.asarray(mask))


def test_call_errors_with_jaxtyping_hook(key):
    model = _transformer(key)
    with pytest.raises((TypeError, ValueError), match="mask"):
        model(jnp.zeros((10, F)), jnp.ones(9, bool))


@pytest.mark.parametrize(
    ("build", "exc", "match"),
    [
        (
            lambda k: _transformer(k, hidden_size=10, num_heads=4),
            ValueError,
            "divisible by num_heads",
        ),
        (lambda k: _transformer(k, num_layers=0), ValueError, "num_layers must be a positive int"),
        (lambda k: _transformer(k, dropout=-0.1), ValueError, r"dropout must be in \[0, 1\)"),
        (lambda k: _transformer(k, mlp_ratio=1.5), ValueError, "mlp_ratio must be a positive int"),
        (lambda k: _deepsets(k, pooling="max"), ValueError, "pooling must be one of"),
        (lambda k: DeepSets(0, 2, key=k), ValueError, "in_features must be a positive int, got 0"),
    ],
)
def test_constructor_errors(key, build, exc, match, no_jaxtyping):
    with pytest.raises(exc, match=match):
        build(key)


def test_abstract_base_cannot_be_instantiated():
    with pytest.raises(TypeError):
        AbstractSetClassifier()


def _separable_data(key, size, n=12):
    """Class 1 particles have feature 0 ~ N(+1, 1), class 0 ~ N(-1, 1); 3..n particles."""
    k_y, k_x, k_n, k_pad = jax.random.split(key, 4)
    y = jax.random.bernoulli(k_y, 0.5, (size,)).astype(jnp.int32)
    x = jax.random.normal(k_x, (size, n, F))
    x = x.at[:, :, 0].add(2.0 * y[:, None] - 1.0)
    count = jax.random.randint(k_n, (size,), 3, n + 1)
    mask = jnp.arange(n) < count[:, None]
    # Garbage in the padding that, if leaked, would flip the label.
    pad = 50.0 * (1.0 - 2.0 * y[:, None, None]) * jnp.ones((size, n, F))
    x = jnp.where(mask[:, :, None], x, pad + jax.random.normal(k_pad, x.shape))
    return x, mask, y


@pytest.mark.parametrize(
    "make",
    [
        lambda k: ParticleTransformerClassifier(
            F, 2, hidden_size=16, num_heads=2, num_layers=1, key=k
        ),
        lambda k: DeepSets(F, 2, hidden_size=16, key=k),
    ],
    ids=["transformer", "deepsets"],
)
def test_tiny_model_learns_separable_problem(make, key):
    k_model, k_train, k_test = jax.random.split(key, 3)
    model = make(k_model)
    x, mask, y = _separable_data(k_train, 512)
    xt, mt, yt = _separable_data(k_test, 512)
    opt = optax.adam(3e-3)
    state = opt.init(eqx.filter(model, eqx.is_array))

    def loss_fn(m, xb, mb, yb):
        logits = jax.vmap(m)(xb, mb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @eqx.filter_jit
    def step(m, s, i):
        idx = (i * 64 + jnp.arange(64)) % 512
        grads = eqx.filter_grad(loss_fn)(m, x[idx], mask[idx], y[idx])
        updates, s = opt.update(grads, s, m)
        return eqx.apply_updates(m, updates), s

    @eqx.filter_jit
    def accuracy(m):
        return jnp.mean(jnp.argmax(jax.vmap(m)(xt, mt), -1) == yt)

    assert accuracy(model) < 0.8  # untrained: the threshold below is not free
    for i in range(200):
        model, state = step(model, state, jnp.asarray(i))
    # Bayes accuracy is > 0.97 (mean of >= 3 particles, separation 2 sigma each).
    assert accuracy(model) > 0.92
