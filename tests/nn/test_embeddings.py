"""Time and Fourier-feature embeddings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.nn import GaussianFourierFeatures, SinusoidalEmbedding


def test_sinusoidal_embedding_closed_form():
    emb = SinusoidalEmbedding(6, max_period=100.0, scale=2.0)
    t = 0.3
    freqs = 100.0 ** -(np.arange(3) / 2)
    expected = np.concatenate([np.sin(2 * t * freqs), np.cos(2 * t * freqs)])
    assert np.allclose(emb(t), expected, atol=1e-6)
    batched = jax.jit(jax.vmap(emb))(jnp.array([0.0, 0.3]))
    assert np.allclose(batched[1], expected, atol=1e-6)
    assert np.allclose(batched[0], [0, 0, 0, 1, 1, 1])


def test_gaussian_fourier_features(key):
    ff = GaussianFourierFeatures(2, 5, sigma=3.0, key=key)
    x = jnp.array([0.2, -0.4])
    angle = 2 * np.pi * np.asarray(ff.frequencies) @ np.asarray(x)
    assert np.allclose(ff(x), np.concatenate([np.sin(angle), np.cos(angle)]), atol=1e-5)
    # the frequencies are fixed: no gradient flows into them
    grads = jax.grad(lambda m: jnp.sum(m(x)))(ff)
    assert np.allclose(grads.frequencies, 0.0)
    scalar = GaussianFourierFeatures("scalar", 4, key=key)
    assert scalar(0.5).shape == (8,)


def test_embedding_errors(key, no_jaxtyping):
    with pytest.raises(ValueError, match="dim must be even"):
        SinusoidalEmbedding(5)
    with pytest.raises(ValueError, match="t must be a scalar"):
        SinusoidalEmbedding(4)(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"x must have shape \(2,\)"):
        GaussianFourierFeatures(2, 3, key=key)(jnp.zeros(3))
