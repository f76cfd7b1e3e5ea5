"""ParticleNet: kNN against brute force, invariances, padding, jit/vmap, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.nn import AbstractSetClassifier, ParticleNet, knn

F = 4


def _model(key, **kw):
    cfg = dict(k=3, channels=((8, 8), (12, 12)), hidden_size=8, dropout=0.0)
    return ParticleNet(F, 3, **{**cfg, **kw}, key=key)


@eqx.filter_jit
def _call(model, x, mask, key=None):
    return model(x, mask, key=key)


@eqx.filter_jit
def _embed(model, x, mask):
    return model.embed(x, mask)


def _knn_numpy(points, mask, k):
    n = len(points)
    d = ((points[:, None] - points[None]) ** 2).sum(-1)
    out = []
    for i in range(n):
        cand = [j for j in range(n) if j != i and mask[j]]
        cand.sort(key=lambda j: (d[i, j], j))
        out.append(cand[:k] if mask[i] else [])
    return out


@pytest.mark.parametrize("n_real", [1, 3, 9])
def test_knn_matches_brute_force(rng, n_real):
    n, k = 12, 4
    pts = rng.normal(size=(n, 2)).astype(np.float32)
    mask = np.zeros(n, bool)
    mask[rng.choice(n, n_real, replace=False)] = True
    idx, valid = jax.jit(knn, static_argnums=2)(jnp.asarray(pts), jnp.asarray(mask), k)
    idx, valid = np.asarray(idx), np.asarray(valid)
    ref = _knn_numpy(pts.astype(np.float64), mask, k)
    for i in range(n):
        got = list(idx[i][valid[i]])
        assert got == ref[i], (i, got, ref[i])
        assert valid[i].sum() == len(ref[i])


def test_knn_rejects_k(rng):
    pts, mask = jnp.zeros((5, 2)), jnp.ones(5, bool)
    with pytest.raises(ValueError, match="k must be in"):
        knn(pts, mask, 5)


def test_is_set_classifier(key):
    assert isinstance(_model(key), AbstractSetClassifier)


def test_padding_and_permutation_invariance(key, rng):
    model = _model(key)
    x = jnp.asarray(rng.normal(size=(7, F)), jnp.float32)
    ref = _call(model, jnp.concatenate([x, jnp.zeros((1, F))]), jnp.arange(8) < 7)
    garbage = jnp.asarray(1e3 * rng.normal(size=(9, F)), jnp.float32)
    xp = jnp.concatenate([x, garbage])
    mask = jnp.arange(16) < 7
    np.testing.assert_allclose(_call(model, xp, mask), ref, rtol=1e-5, atol=1e-5)
    perm = rng.permutation(16)
    np.testing.assert_allclose(_call(model, xp[perm], mask[perm]), ref, rtol=1e-5, atol=1e-5)


def test_embedding_is_equivariant_and_zero_on_padding(key, rng):
    model = _model(key)
    x = jnp.asarray(rng.normal(size=(10, F)), jnp.float32)
    mask = jnp.arange(10) < 6
    h = _embed(model, x, mask)
    assert h.shape == (10, 12)
    assert np.all(np.asarray(h)[6:] == 0.0)
    perm = rng.permutation(10)
    np.testing.assert_allclose(_embed(model, x[perm], mask[perm]), h[perm], rtol=1e-5, atol=1e-5)


def test_few_particles_and_vmap_matches_loop(key, rng):
    model = _model(key)
    x = jnp.asarray(rng.normal(size=(3, 10, F)), jnp.float32)
    mask = jnp.arange(10) < jnp.asarray([1, 2, 10])[:, None]  # fewer than k + 1 real particles
    batched = eqx.filter_jit(eqx.filter_vmap(_call.__wrapped__, in_axes=(None, 0, 0)))(
        model, x, mask
    )
    assert np.all(np.isfinite(np.asarray(batched)))
    for i in range(3):
        np.testing.assert_allclose(batched[i], _call(model, x[i], mask[i]), rtol=1e-5, atol=1e-5)


def test_first_graph_uses_eta_phi_only(key, rng):
    """The first block's graph is built from the (eta, phi) columns, not the other features."""
    model = _model(key, channels=((8,),), k=1)
    pts = np.array([[0, 0], [0.1, 0], [1, 0], [1.1, 0]], np.float32)
    feats = np.concatenate([pts, 100 * rng.normal(size=(4, 2)).astype(np.float32)], axis=1)
    mask = jnp.ones(4, bool)
    h = _embed(model, jnp.asarray(feats), mask)
    # With k=1 each particle's output depends only on itself and its (eta, phi) partner
    # (0<->1, 2<->3): changing particle 3's other features leaves rows 0 and 1 unchanged.
    feats2 = feats.copy()
    feats2[3, 2:] += 50.0
    h2 = _embed(model, jnp.asarray(feats2), mask)
    np.testing.assert_allclose(h2[:2], h[:2], rtol=1e-6)
    assert not np.allclose(h2[2:], h[2:])


def test_dropout_needs_key_in_training(key, rng):
    model = ParticleNet(F, 2, k=2, channels=((4,),), hidden_size=4, dropout=0.5, key=key)
    x, mask = jnp.ones((5, F)), jnp.ones(5, bool)
    out = _call(model, x, mask, jax.random.key(1))
    assert out.shape == (2,)
    inf = eqx.nn.inference_mode(model)
    np.testing.assert_allclose(_call(inf, x, mask), _call(inf, x, mask))


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        (dict(k=0), ValueError, "k must be"),
        (dict(k=2.0), ValueError, "k must be a positive int, got 2.0"),
        (dict(channels=()), ValueError, "channels must be a non-empty"),
        (dict(channels=((8, 0),)), ValueError, r"channels\[0\]\[1\]"),
        (dict(channels=(8,)), ValueError, r"channels\[0\] must be"),
        (dict(coords=(0, 4)), ValueError, "coords must be column indices"),
        (dict(dropout=1.0), ValueError, "dropout must be in"),
        (dict(hidden_size=0), ValueError, "hidden_size must be"),
    ],
)
def test_constructor_errors(key, no_jaxtyping, kw, exc, match):
    with pytest.raises(exc, match=match):
        _model(key, **kw)


def test_call_errors(key, no_jaxtyping):
    model = _model(key)
    with pytest.raises(ValueError, match="mask"):
        model(jnp.ones((6, F)), jnp.ones(5, bool))
    with pytest.raises(ValueError, match="x"):
        model(jnp.ones((6, F + 1)), jnp.ones(6, bool))
    with pytest.raises(ValueError, match="more than k=3 rows"):
        model(jnp.ones((3, F)), jnp.ones(3, bool))
