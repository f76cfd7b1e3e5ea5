import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.data import Standardizer, join_jetnet, resample_particles, split_jetnet


def test_standardizer_uses_real_elements_only(rng):
    x = rng.normal(3.0, 2.0, size=(50, 8, 3)).astype(np.float32)
    mask = rng.random((50, 8)) < 0.6
    x_pad = np.where(mask[..., None], x, 1e6).astype(np.float32)
    s = Standardizer.fit(x_pad, mask)
    assert s.set_ndim == 1 and s.shift.dtype == np.float32
    real = x[mask].astype(np.float64)
    np.testing.assert_allclose(s.shift, real.mean(0), rtol=1e-6)
    np.testing.assert_allclose(s.scale, real.std(0), rtol=1e-6)
    y = s(x_pad, mask)
    assert jnp.all(y[~mask] == 0)
    np.testing.assert_allclose(y[mask].mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y[mask].std(0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(s.inverse(y, mask)[mask], x[mask], rtol=1e-5, atol=1e-5)
    # without a mask the map is applied everywhere: the round trip is exact on every row
    np.testing.assert_allclose(s.inverse(s.forward(x)), x, rtol=1e-5, atol=1e-5)
    rows = Standardizer.fit(x[:, 0])  # plain rows, no mask
    assert rows.set_ndim == 0
    np.testing.assert_allclose(rows.shift, x[:, 0].astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(rows.scale, x[:, 0].astype(np.float64).std(0), rtol=1e-6)


def test_standardizer_of_sets_of_images(rng):
    """Per-pixel statistics over the real images of padded sets ``(N, n, h, w)``."""
    x = rng.normal(size=(20, 5, 4, 3)) * np.arange(1, 13).reshape(4, 3)
    mask = rng.random((20, 5)) < 0.5
    s = Standardizer.fit(np.where(mask[..., None, None], x, np.nan), mask)
    assert s.shift.shape == (4, 3)
    np.testing.assert_allclose(s.scale, x[mask].std(0), rtol=1e-5)
    np.testing.assert_allclose(s.forward(x[0, 0]), (x[0, 0] - s.shift) / s.scale, rtol=1e-5)


def test_standardizer_floor(rng):
    x = np.stack([rng.normal(size=100), np.full(100, 2.5)], -1)
    s = Standardizer.fit(x)
    assert float(s.scale[1]) == pytest.approx(1e-6)  # a constant feature: the floor
    np.testing.assert_allclose(s.forward(x)[:, 1], 0.0)
    assert float(Standardizer.fit(x, min_scale=0.5).scale[1]) == 0.5


def test_standardizer_log_det_against_jacobian(rng):
    x = rng.normal(1.0, 3.0, size=(40, 6, 2)).astype(np.float32)
    mask = np.arange(6) < rng.integers(1, 7, size=(40, 1))
    s = Standardizer.fit(x, mask)
    one = jnp.asarray(x[0, 0])
    jac = jax.jacobian(s.forward)(one)
    np.testing.assert_allclose(s.log_det(), jnp.linalg.slogdet(jac)[1], rtol=1e-5)
    # one padded set: the map on its real elements
    m = jnp.asarray(mask[3])
    real = jnp.asarray(x[3])[m]
    jac = jax.jacobian(lambda a: s.forward(a).reshape(-1))(real).reshape(real.size, real.size)
    np.testing.assert_allclose(s.log_det(m), jnp.linalg.slogdet(jac)[1], rtol=1e-5)


def test_standardizer_errors(no_jaxtyping):
    with pytest.raises(ValueError, match="no real element"):
        Standardizer.fit(jnp.ones((2, 3, 1)), jnp.zeros((2, 3), bool))
    with pytest.raises(ValueError, match=r"mask must have shape \(N, n\)"):
        Standardizer.fit(jnp.ones((2, 3, 1)), jnp.zeros((2, 4), bool))
    with pytest.raises(TypeError, match="mask must have a bool dtype"):
        Standardizer.fit(jnp.ones((2, 3, 1)), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="min_scale must be finite and > 0"):
        Standardizer.fit(jnp.ones((2, 3)), min_scale=0.0)
    s = Standardizer.fit(np.arange(6.0).reshape(3, 2))
    with pytest.raises(ValueError, match=r"x must end with the feature shape \(2,\)"):
        s.forward(jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"mask must have shape \(4\)"):
        s.forward(jnp.ones((4, 2)), jnp.ones(3, bool))


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
