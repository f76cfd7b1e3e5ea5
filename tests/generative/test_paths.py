"""Paths: endpoints, and target velocities against central finite differences in t."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import generative as gen
from hepjax import manifolds

pytestmark = pytest.mark.usefixtures("x64")

GAUSSIAN = [gen.CondOT(), gen.CondOT(sigma_min=1e-2), gen.VP(), gen.VE(), gen.Cosine()]


def _fd_check(path, x0, x1, ts, h=1e-5):
    @jax.jit
    def compute(t):
        xt, ut = path.interpolate(x0, x1, t)
        fd = (path.interpolate(x0, x1, t + h)[0] - path.interpolate(x0, x1, t - h)[0]) / (2 * h)
        return xt, ut, fd

    for t in ts:
        _, ut, fd = compute(jnp.asarray(t))
        assert np.allclose(ut, fd, rtol=1e-6, atol=1e-6), (path, t, ut, fd)


@pytest.mark.parametrize("path", GAUSSIAN, ids=lambda p: repr(p))
def test_gaussian_paths_velocity_matches_finite_differences(path, key):
    k0, k1 = jax.random.split(key)
    x0 = jax.random.normal(k0, (5, 3))
    x1 = jax.random.normal(k1, (5, 3))
    _fd_check(path, x0, x1, [0.05, 0.3, 0.7, 0.95])
    a0, s0 = path.alpha_sigma(0.0)
    a1, s1 = path.alpha_sigma(1.0)
    # t = 1 is (close to) the data, t = 0 is (close to) the noise
    assert np.isclose(a1, 1.0) and float(s1) <= 0.011
    if not isinstance(path, gen.VE):
        assert float(a0) < 1e-2 and np.isclose(s0, 1.0, atol=1e-2)
    else:
        assert np.isclose(s0, 50.0)


def test_condot_closed_form(key):
    path = gen.CondOT(sigma_min=0.1)
    x0, x1 = jnp.array([1.0, -2.0]), jnp.array([3.0, 0.5])
    xt, ut = path.interpolate(x0, x1, 0.25)
    assert np.allclose(xt, 0.25 * x1 + (1 - 0.9 * 0.25) * x0)
    assert np.allclose(ut, x1 - 0.9 * x0)


@pytest.mark.parametrize(
    "M",
    [
        manifolds.Product(manifolds.Sphere(2), manifolds.FlatTorus(1), manifolds.Euclidean(3)),
        manifolds.Product(manifolds.Sphere(2), manifolds.Euclidean(1)),
    ],
    ids=["S2xT1xE3", "S2xE1"],
)
def test_geodesic_path_velocity_is_tangent_and_matches_finite_differences(M, key):
    path = gen.GeodesicPath(M)
    k0, k1 = jax.random.split(key)
    x0 = path.sample_base(k0, (4, M.ambient_dim))
    x1 = path.sample_base(k1, (4, M.ambient_dim))

    @jax.jit
    def compute(t, h=1e-5):
        xt, ut = path.interpolate(x0, x1, t)
        xp, xm = path.interpolate(x0, x1, t + h)[0], path.interpolate(x0, x1, t - h)[0]
        # central difference in the normal chart at x_t (log_{x_t}), exact to O(h^2)
        fd = (jax.vmap(M.logmap)(xt, xp) - jax.vmap(M.logmap)(xt, xm)) / (2 * h)
        speed = jnp.sqrt(path.sq_norm(xt, ut))
        closed = jax.vmap(M.logmap)(xt, x1) / (1 - t)  # Chen & Lipman's u_t(x | x1)
        return xt, ut, fd, speed, closed, path.project(xt, ut)

    d = jax.vmap(M.dist)(x0, x1)
    for t in (0.1, 0.5, 0.9):
        xt, ut, fd, speed, closed, proj = compute(jnp.asarray(t))
        assert np.allclose(ut, fd, atol=1e-6)
        assert np.allclose(ut, closed, atol=1e-8)
        assert np.allclose(proj, ut, atol=1e-12)  # tangent at x_t
        assert np.allclose(speed, d, atol=1e-8)  # constant metric speed d(x0, x1)
        assert bool(jnp.all(jax.vmap(M.belongs)(xt)))
    x_end = path.interpolate(x0, x1, 1.0)[0]
    assert np.allclose(jax.vmap(M.dist)(x_end, x1), 0.0, atol=1e-7)


def test_geodesic_path_on_euclidean_is_rectified_flow(key):
    k0, k1 = jax.random.split(key)
    x0, x1 = jax.random.normal(k0, (3,)), jax.random.normal(k1, (3,))
    a = gen.GeodesicPath(manifolds.Euclidean(3)).interpolate(x0, x1, 0.3)
    b = gen.CondOT().interpolate(x0, x1, 0.3)
    assert np.allclose(a[0], b[0]) and np.allclose(a[1], b[1])


def test_make_path_by_name_and_unknown_names(no_jaxtyping):
    assert gen.make_path("cond_ot", sigma_min=1e-4) == gen.CondOT(sigma_min=1e-4)
    assert isinstance(gen.make_path("cosine"), gen.Cosine)
    with pytest.raises(
        ValueError, match=r"path must be one of \['cond_ot', 'cosine', 've', 'vp'\]"
    ):
        gen.make_path("linear")
    with pytest.raises(ValueError, match="sigma_min must be in"):
        gen.CondOT(sigma_min=1.0)
    with pytest.raises(ValueError, match="sigma_max must exceed sigma_min"):
        gen.VE(sigma_min=2.0, sigma_max=1.0)
    with pytest.raises(TypeError, match="manifold must be a hepjax.manifolds manifold"):
        gen.GeodesicPath("sphere")
