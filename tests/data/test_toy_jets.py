import jax
import numpy as np
import pytest

import hepjax.data as hd


@pytest.fixture(scope="module")
def jets():
    return hd.toy_quark_gluon(jax.random.key(0), 4000, max_particles=48)


def test_layout(jets):
    x, mask, y = jets.arrays["x"], jets.arrays["mask"], jets.arrays["y"]
    assert x.shape == (4000, 48, 3) and mask.shape == (4000, 48) and y.shape == (4000,)
    np.testing.assert_allclose(x[..., 2].sum(1), 1.0, rtol=1e-5)  # pT fractions sum to one
    assert np.all(x[~mask] == 0)
    assert np.all(np.diff(np.where(mask, x[..., 2], -1), axis=1) <= 0)  # sorted by pT
    assert np.all(mask[:, 0]) and np.all(np.diff(mask.astype(int), axis=1) <= 0)  # no holes
    axis = (x[..., :2] * x[..., 2:]).sum(1)  # pT-weighted axis at the origin
    np.testing.assert_allclose(axis, 0.0, atol=1e-5)


def test_class_physics(jets):
    """Gluon-like jets have more, and more widely spread, constituents."""
    x, mask, y = jets.arrays["x"], jets.arrays["mask"], jets.arrays["y"]
    n = mask.sum(1)
    girth = (np.hypot(x[..., 0], x[..., 1]) * x[..., 2]).sum(1)
    for value in (n, girth):
        q, g = value[y == 0], value[y == 1]
        se = np.sqrt(q.var() / q.size + g.var() / g.size)
        assert g.mean() - q.mean() > 10 * se
    # multiplicity = 1 + Poisson(mean): check the quark mean within 4 standard errors
    q = n[y == 0]
    assert abs(q.mean() - 17.0) < 4 * q.std() / np.sqrt(q.size)
    assert abs(y.mean() - 0.5) < 4 * np.sqrt(0.25 / y.size)


def test_deterministic_and_errors():
    a = hd.toy_quark_gluon(jax.random.key(3), 10)
    b = hd.toy_quark_gluon(jax.random.key(3), 10)
    np.testing.assert_array_equal(a.arrays["x"], b.arrays["x"])
    with pytest.raises(ValueError, match="num_jets must be a positive int"):
        hd.toy_quark_gluon(jax.random.key(0), 0)
    with pytest.raises(ValueError, match="gluon_fraction"):
        hd.toy_quark_gluon(jax.random.key(0), 5, gluon_fraction=2.0)
