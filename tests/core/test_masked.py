import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax._core import (
    masked_layer_norm,
    masked_mean,
    masked_softmax,
    masked_sum,
    pad_sets,
)


def test_pad_sets_round_trip(rng):
    sets = [rng.normal(size=(n, 3)) for n in (2, 5, 1)]
    x, mask = pad_sets(sets, max_size=6, fill=-7.0)
    assert x.shape == (3, 6, 3) and mask.shape == (3, 6)
    for i, s in enumerate(sets):
        np.testing.assert_array_equal(x[i][mask[i]], s)
        assert np.all(x[i][~mask[i]] == -7.0)


def test_pad_sets_errors(rng):
    with pytest.raises(ValueError, match="max_size=2 is smaller than the largest set"):
        pad_sets([np.zeros((3, 2))], max_size=2)
    with pytest.raises(ValueError, match=r"sets\[1\] has 3 features, but sets\[0\] has 2"):
        pad_sets([np.zeros((3, 2)), np.zeros((1, 3))])
    with pytest.raises(ValueError, match=r"sets\[0\] must have shape \(n_i, d\)"):
        pad_sets([np.zeros(3)])
    with pytest.raises(ValueError, match="at least one set"):
        pad_sets([])


def _with_garbage_padding(x, mask, extra, rng):
    pad = rng.normal(size=(extra, *x.shape[1:])) * 1e3
    return np.concatenate([x, pad]), np.concatenate([mask, np.zeros(extra, bool)])


@pytest.mark.parametrize("fn", [masked_sum, masked_mean, masked_layer_norm])
def test_reductions_ignore_padding(fn, rng):
    x = rng.normal(size=(5, 3)).astype(np.float32)
    mask = np.array([True, True, False, True, False])
    x2, mask2 = _with_garbage_padding(x, mask, 4, rng)
    a, b = fn(jnp.asarray(x), jnp.asarray(mask)), fn(jnp.asarray(x2), jnp.asarray(mask2))
    if fn is masked_layer_norm:
        a, b = a[mask], b[:5][mask]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_reduction_values(rng):
    x = rng.normal(size=(6, 2))
    mask = np.array([1, 0, 1, 1, 0, 0], bool)
    np.testing.assert_allclose(masked_sum(x, mask), x[mask].sum(0), rtol=1e-6)
    np.testing.assert_allclose(masked_mean(x, mask), x[mask].mean(0), rtol=1e-6)
    assert np.all(masked_mean(x, np.zeros(6, bool)) == 0)
    normed = masked_layer_norm(jnp.asarray(x), jnp.asarray(mask))
    assert abs(float(normed[mask].mean())) < 1e-6
    assert float(normed[mask].std()) == pytest.approx(1.0, rel=1e-3)
    assert np.all(np.asarray(normed)[~mask] == 0)


def test_masked_softmax(rng):
    logits = jnp.asarray(rng.normal(size=(3, 5)))
    mask = jnp.asarray(rng.random((3, 5)) < 0.6).at[:, 0].set(True).at[2].set(False)
    p = masked_softmax(logits, mask)
    np.testing.assert_allclose(p[:2].sum(-1), 1.0, rtol=1e-6)
    assert np.all(np.asarray(p)[~np.asarray(mask)] == 0)
    assert np.all(np.asarray(p[2]) == 0)  # a fully masked row gives zeros, not NaN
    row = np.asarray(logits[0])[np.asarray(mask[0])]
    np.testing.assert_allclose(p[0][mask[0]], np.exp(row) / np.exp(row).sum(), rtol=1e-6)
    grads = jax.grad(lambda z: masked_softmax(z, mask)[0, 0])(logits)
    assert np.all(np.isfinite(grads))


def unchecked(fn):
    """The function without the jaxtyping wrapper the test run adds, to test our messages."""
    return getattr(fn, "__wrapped__", fn)


def test_masked_softmax_rejects_mask_that_does_not_broadcast():
    with pytest.raises(ValueError, match="does not broadcast"):
        masked_softmax(jnp.zeros((3, 5)), jnp.ones((4,), bool))


def test_mask_length_mismatch():
    with pytest.raises(ValueError, match="mask has length 3 but x has 4"):
        unchecked(masked_sum)(jnp.zeros((4, 2)), jnp.ones(3, bool))


def test_jit_and_vmap_agree(rng):
    x = jnp.asarray(rng.normal(size=(4, 6, 3)))
    mask = jnp.asarray(rng.random((4, 6)) < 0.7)
    eager = np.stack([masked_mean(x[i], mask[i]) for i in range(4)])
    np.testing.assert_allclose(jax.jit(jax.vmap(masked_mean))(x, mask), eager, rtol=1e-6)
