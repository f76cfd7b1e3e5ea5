import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hepjax.generative as hg


def shift_field(t, x, args):
    """v = c: the flow moves every real element by c over t in [0, 1]."""
    return jnp.broadcast_to(args["cond"], x.shape)


def test_sample_ode_sets_in_chunks_match_one_by_one():
    mask = jnp.arange(5)[None] < jnp.array([[1], [3], [5], [2], [4]])
    cond = jnp.arange(10.0).reshape(5, 2)
    out = hg.sample_ode_sets(
        shift_field, jax.random.key(0), mask, features=2, cond=cond, chunk_size=2, progress=False
    )
    assert out.shape == (5, 5, 2) and jnp.all(out[~mask] == 0)
    # the noise is standard normal and the flow adds exactly cond
    noise = out - jnp.where(mask[..., None], cond[:, None], 0.0)
    assert abs(float(noise[mask].mean())) < 4 / np.sqrt(2 * int(mask.sum()))


def test_sample_sde_sets_with_exact_denoiser():
    # data = the point 1.0: the exact denoiser returns 1 wherever the set is real
    def denoiser(sigma, x, args):
        return jnp.where(args["mask"][:, None], 1.0, 0.0) * jnp.ones_like(x)

    mask = jnp.ones((3, 4), bool).at[0, 3].set(False)
    out = hg.sample_sde_sets(
        denoiser, jax.random.key(1), mask, features=1, sigmas=hg.karras_sigmas(8), progress=False
    )
    np.testing.assert_allclose(out[mask], 1.0, atol=1e-5)
    assert jnp.all(out[~mask] == 0)


def test_set_samplers_reject_empty_sets_and_bad_cond():
    mask = jnp.ones((2, 3), bool).at[1].set(False)
    with pytest.raises(ValueError, match="all-padding set"):
        hg.sample_ode_sets(shift_field, jax.random.key(0), mask, features=1, progress=False)
    with pytest.raises(ValueError, match="cond"):
        hg.sample_ode_sets(
            shift_field,
            jax.random.key(0),
            jnp.ones((2, 3), bool),
            features=1,
            cond=jnp.ones((3, 1)),
            progress=False,
        )
