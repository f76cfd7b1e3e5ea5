import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.data import SetStandardizer, join_jetnet, resample_particles, split_jetnet


def test_standardizer_uses_real_elements_only(rng):
    x = rng.normal(3.0, 2.0, size=(50, 8, 3))
    mask = rng.random((50, 8)) < 0.6
    x_pad = np.where(mask[..., None], x, 1e6)
    s = SetStandardizer.fit(x_pad, mask)
    np.testing.assert_allclose(s.mean, x[mask].mean(0), rtol=1e-5)
    np.testing.assert_allclose(s.std, x[mask].std(0), rtol=1e-5)
    y = s(x_pad, mask)
    assert jnp.all(y[~mask] == 0)
    np.testing.assert_allclose(y[mask].mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(s.inverse(y, mask)[mask], x[mask], rtol=1e-5, atol=1e-5)
    rows = SetStandardizer.fit(x[:, 0])  # plain rows, no mask
    np.testing.assert_allclose(rows.mean, x[:, 0].mean(0), rtol=1e-5)


def test_standardizer_errors():
    with pytest.raises(ValueError, match="no real element"):
        SetStandardizer.fit(jnp.ones((2, 3, 1)), jnp.zeros((2, 3), bool))
    with pytest.raises(ValueError, match="mask"):
        SetStandardizer.fit(jnp.ones((2, 3, 1)), jnp.zeros((2, 4), bool))


def test_split_jetnet():
    pf = jnp.zeros((2, 3, 4)).at[:, 0].set(jnp.array([0.1, 0.2, 0.9, 1.0]))
    x, mask = split_jetnet(pf)
    assert x.shape == (2, 3, 3) and mask.tolist() == [[True, False, False]] * 2


def test_resampled_particles_keep_the_pooled_marginal(rng):
    x = rng.normal(size=(400, 10, 3)).astype(np.float32)
    mask = np.arange(10)[None] < rng.integers(1, 11, size=(400, 1))
    out = resample_particles(jax.random.key(0), x, mask, mask)
    assert jnp.all(out[~mask] == 0)
    # every generated particle is a training particle, and sets are sorted by feature 2
    pool = {tuple(p) for p in np.round(x[mask], 5)}
    assert all(tuple(p) in pool for p in np.round(np.asarray(out[mask]), 5))
    real = np.where(mask, np.asarray(out[..., 2]), -np.inf)
    assert np.all(np.diff(real, axis=1)[mask[:, 1:]] <= 0)
    # pooled means agree within 4 standard errors
    a, b = x[mask][:, 0], np.asarray(out[mask][:, 0])
    assert abs(a.mean() - b.mean()) < 4 * np.sqrt(a.var() / len(a) + b.var() / len(b))


def test_join_jetnet_inverts_split_and_clips_ptrel():
    pf = np.zeros((1, 3, 4), np.float32)
    pf[0, :2] = [[0.1, 0.2, 0.7, 1.0], [0.0, -0.1, 0.3, 1.0]]
    x, mask = split_jetnet(pf)
    np.testing.assert_array_equal(join_jetnet(x, mask), pf)
    negative = np.asarray(x).copy()
    negative[0, 1, 2] = -0.2
    negative[0, 2] = 9.0  # padding content is dropped
    out = join_jetnet(negative, mask)
    assert out[0, 1, 2] == 0.0 and np.all(out[0, 2] == 0)


def test_log_pt_round_trip():
    pf = np.zeros((1, 3, 4), np.float32)
    pf[0, :2] = [[0.1, 0.2, 0.7, 1.0], [0.0, -0.1, 0.3, 1.0]]
    x, mask = split_jetnet(pf, log_pt=True)
    np.testing.assert_allclose(x[0, :2, 2], np.log([0.7, 0.3]), rtol=1e-6)
    assert x[0, 2, 2] == 0  # padding stays zero
    np.testing.assert_allclose(join_jetnet(x, mask, log_pt=True), pf, rtol=1e-6)
    pf[0, 0, 2] = 0.0
    with pytest.raises(ValueError, match="ptrel > 0"):
        split_jetnet(pf, log_pt=True)
