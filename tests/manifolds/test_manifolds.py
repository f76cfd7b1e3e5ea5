"""Manifold identities, closed forms, gradients, sampling and bad input, in float64."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from hepjax import manifolds

pytestmark = pytest.mark.usefixtures("x64")

N = 64


def contract():
    return manifolds.Product(manifolds.Sphere(2), manifolds.FlatTorus(1), manifolds.Euclidean(3))


def all_manifolds():
    # the contract's product covers Sphere(2), FlatTorus(1) and Euclidean(3) at once
    return [manifolds.Sphere(4), contract()]


IDS = ["S4", "S2xT1xE3"]


def points(M, key, n=N):
    return jax.vmap(M.random_base)(jax.random.split(key, n))


def tangents(M, x, key, scale=1.0):
    u = scale * jax.random.normal(key, x.shape, x.dtype)
    return jax.vmap(M.proju)(x, u)


@pytest.mark.parametrize("M", all_manifolds(), ids=IDS)
def test_exp_log_roundtrip_and_distance(M, key):
    kx, ky = jax.random.split(key)
    x, y = points(M, kx), points(M, ky)

    @jax.jit
    @jax.vmap
    def compute(x, y):
        u = M.logmap(x, y)
        back = M.expmap(x, u)
        return dict(
            log_back=M.logmap(back, y),
            dist_back=M.dist(back, y),
            norm=M.norm(x, u),
            dist=M.dist(x, y),
            dist_yx=M.dist(y, x),
            dist_xx=M.dist(x, x),
            u=u,
            pu=M.proju(x, u),
        )

    r = compute(x, y)
    assert np.allclose(r["log_back"], 0.0, atol=1e-10)  # the same point (mod 2π)
    assert np.allclose(r["dist_back"], 0.0, atol=1e-7)
    # |log_x y| = d(x, y), and the log is tangent at x
    assert np.allclose(r["norm"], r["dist"], atol=1e-10)
    assert np.allclose(r["pu"], r["u"], atol=1e-12)
    # symmetry and the identity
    assert np.allclose(r["dist"], r["dist_yx"], atol=1e-10)
    assert np.allclose(r["dist_xx"], 0.0)


def test_contract_point_is_seven_numbers(key):
    M = contract()
    assert M.ambient_dim == 7 and M.dim == 6
    x = M.random_base(key)
    assert x.shape == (7,)
    assert np.isclose(np.linalg.norm(x[:3]), 1.0)
    assert -np.pi <= x[3] < np.pi
    y = M.projx(jnp.array([0.0, 3.0, 4.0, 7.0, 1.0, 2.0, 3.0]))
    assert np.allclose(y, [0.0, 0.6, 0.8, 7.0 - 2 * np.pi, 1.0, 2.0, 3.0])
    for fn in (M.expmap, M.logmap, M.proju):
        assert fn(x, y - x).shape == (7,)
    assert M.dist(x, y).shape == ()


def test_distances_match_closed_forms(key):
    M = contract()
    kx, ky = jax.random.split(key)
    a, b = points(M, kx), points(M, ky)
    d = np.asarray(jax.jit(jax.vmap(M.dist))(a, b))
    a, b = np.asarray(a), np.asarray(b)
    sphere = np.arccos(np.clip(np.sum(a[:, :3] * b[:, :3], -1), -1, 1))
    dphi = np.abs(a[:, 3] - b[:, 3])
    torus = np.minimum(dphi, 2 * np.pi - dphi)
    flat = np.linalg.norm(a[:, 4:] - b[:, 4:], axis=-1)
    assert np.allclose(d, np.sqrt(sphere**2 + torus**2 + flat**2), atol=1e-7)
    S, T = manifolds.Sphere(2), manifolds.FlatTorus(1)
    assert np.isclose(S.dist(a[0, :3], -a[0, :3]), np.pi)
    assert np.isclose(T.dist(jnp.array([3.0]), jnp.array([-3.0])), 2 * np.pi - 6.0)
    assert np.isclose(T.dist(jnp.array([0.1]), jnp.array([0.1 + 4 * np.pi])), 0.0, atol=1e-12)


def test_sphere_expmap_closed_form():
    S = manifolds.Sphere(2)
    x = jnp.array([1.0, 0.0, 0.0])
    u = jnp.array([0.0, 0.5 * np.pi, 0.0])
    assert np.allclose(S.expmap(x, u), [0.0, 1.0, 0.0], atol=1e-12)
    assert np.allclose(S.expmap(x, 2 * u), [-1.0, 0.0, 0.0], atol=1e-12)
    assert np.allclose(S.logmap(x, jnp.array([0.0, 0.0, 1.0])), [0.0, 0.0, 0.5 * np.pi])


@pytest.mark.parametrize("M", all_manifolds(), ids=IDS)
def test_projections_land_on_manifold_and_tangent_space(M, key):
    kx, ku, kw = jax.random.split(key, 3)
    raw = 2.0 * jax.random.normal(kx, (N, M.ambient_dim))
    noise = jax.random.normal(ku, raw.shape)
    w = jax.random.normal(kw, raw.shape)

    @jax.jit
    @jax.vmap
    def compute(raw, noise, w):
        x = M.projx(raw)
        u = M.proju(x, noise)
        # a curve exp_x(s u) starts at x with velocity u
        vel = jax.jvp(lambda s: M.expmap(x, s * u), (0.0,), (1.0,))[1]
        return dict(
            x=x,
            on=M.belongs(x, 1e-12),
            xx=M.projx(x),
            u=u,
            uu=M.proju(x, u),
            vel=vel,
            resid_dot_u=jnp.dot(w - M.proju(x, w), u),
            x_dot_u=jnp.dot(x, u),
        )

    r = compute(raw, noise, w)
    assert bool(jnp.all(r["on"]))
    assert np.allclose(r["xx"], r["x"], atol=1e-12)  # idempotent
    assert np.allclose(r["uu"], r["u"], atol=1e-12)  # idempotent
    assert np.allclose(r["vel"], r["u"], atol=1e-10)
    # orthogonal projection: w - P w is orthogonal to every tangent vector
    assert np.allclose(r["resid_dot_u"], 0.0, atol=1e-10)
    sphere = r["x"][:, :3] if M.ambient_dim == 7 else r["x"]
    assert np.allclose(jnp.sum(sphere * r["u"][:, : sphere.shape[1]], -1), 0.0, atol=1e-12)


@pytest.mark.parametrize("M", all_manifolds(), ids=IDS)
def test_geodesic_endpoints_and_constant_speed(M, key):
    kx, ky = jax.random.split(key)
    x, y = points(M, kx, 16), points(M, ky, 16)
    ts = jnp.array([0.1, 0.5, 0.9])

    @jax.jit
    @jax.vmap
    def compute(a, b):
        def at(t):
            g, dg = jax.jvp(lambda s: M.geodesic(a, b, s), (t,), (1.0,))
            return M.norm(g, dg), M.dist(a, g)

        speed, d_mid = jax.vmap(at)(ts)
        return dict(
            start=M.dist(M.geodesic(a, b, 0.0), a),
            end=M.dist(M.geodesic(a, b, 1.0), b),
            d=M.dist(a, b),
            speed=speed,
            d_mid=d_mid,
        )

    r = compute(x, y)
    assert np.allclose(r["start"], 0.0, atol=1e-7)
    assert np.allclose(r["end"], 0.0, atol=1e-7)
    assert np.allclose(r["speed"], r["d"][:, None], atol=1e-8)  # constant speed d(x, y)
    # the geodesic splits the distance in proportion t : 1 - t
    assert np.allclose(r["d_mid"], ts * r["d"][:, None], atol=1e-8)


@pytest.mark.parametrize("M", all_manifolds(), ids=IDS)
def test_gradients_are_finite_at_coincident_points(M, key):
    x = M.random_base(key)

    @jax.jit
    def compute(x):
        return dict(
            dist=jax.grad(M.dist, argnums=(0, 1))(x, x),
            log=jax.grad(lambda a, b: jnp.sum(M.logmap(a, b)), argnums=(0, 1))(x, x),
            exp=jax.grad(lambda u: jnp.sum(M.expmap(x, u)))(jnp.zeros_like(x)),
            # d log_x(y) / dy at y = x is the tangent projection
            jac=jax.jacfwd(M.logmap, argnums=1)(x, x),
            proj=jax.vmap(lambda e: M.proju(x, e))(jnp.eye(M.ambient_dim)).T,
        )

    r = compute(x)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(r))
    assert np.allclose(r["jac"], r["proj"], atol=1e-10)


def test_sphere_is_stable_near_antipodes(key):
    S = manifolds.Sphere(2)
    x = S.random_uniform(key)

    @jax.jit
    @jax.vmap
    def compute(eps):
        y = S.projx(-x + eps * jnp.array([1.0, -2.0, 0.5]))
        u = S.logmap(x, y)
        return dict(
            u=u,
            norm=S.norm(x, u),
            dist=S.dist(x, y),
            back=S.dist(S.expmap(x, u), y),
            grad=jax.grad(lambda a: S.dist(a, y))(x),
            grad_log=jax.grad(lambda b: jnp.sum(S.logmap(x, b)))(y),
        )

    r = compute(jnp.array([0.0, 1e-12, 1e-6]))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(r))
    assert np.allclose(r["norm"], r["dist"], atol=1e-6)
    assert np.allclose(r["dist"], np.pi, atol=1e-5)
    assert np.allclose(r["back"], 0.0, atol=1e-5)


def test_float32_stays_on_sphere(key):
    with jax.enable_x64(False):  # this module runs in float64; this test checks float32
        S = manifolds.Sphere(2)
        x = S.random_uniform(key)
        assert x.dtype == jnp.float32
        u = 0.01 * jnp.array([1.0, 0.5, -0.3], dtype=jnp.float32)

        def step(y, _):
            return S.expmap(y, S.proju(y, u)), None

        y, _ = jax.lax.scan(step, x, None, length=2000)
        assert abs(float(jnp.linalg.norm(y)) - 1.0) < 1e-6


def test_log_volumes():
    assert np.isclose(manifolds.Sphere(1).log_volume(), np.log(2 * np.pi))
    assert np.isclose(manifolds.Sphere(2).log_volume(), np.log(4 * np.pi))
    n = 5
    assert np.isclose(
        manifolds.Sphere(n).log_volume(),
        np.log(2) + (n + 1) / 2 * np.log(np.pi) - scipy.special.gammaln((n + 1) / 2),
    )
    assert np.isclose(manifolds.FlatTorus(3).log_volume(), 3 * np.log(2 * np.pi))
    P = manifolds.Product(manifolds.Sphere(2), manifolds.FlatTorus(1))
    assert np.isclose(P.log_volume(), np.log(4 * np.pi) + np.log(2 * np.pi))
    with pytest.raises(ValueError, match="not compact"):
        contract().log_volume()
    with pytest.raises(ValueError, match="not compact"):
        manifolds.Euclidean(2).random_uniform(jax.random.key(0))


def _moment_check(samples, exact):
    """|mean - exact| < 4 standard errors, per column."""
    mean = samples.mean(0)
    stderr = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    assert np.all(np.abs(mean - exact) < 4 * stderr), (mean, exact, stderr)


def test_uniform_sampling_moments(key):
    n = 20000
    k1, k2, k3 = jax.random.split(key, 3)
    S = manifolds.Sphere(2)
    x = np.asarray(jax.vmap(S.random_uniform)(jax.random.split(k1, n)))
    assert np.allclose(np.linalg.norm(x, axis=-1), 1.0)
    _moment_check(x, np.zeros(3))  # E[x] = 0
    _moment_check(x**2, np.full(3, 1 / 3))  # E[x_i^2] = 1/(n+1)
    _moment_check(np.abs(x[:, 2:3]), np.array([0.5]))  # Archimedes: |z| ~ U(0, 1)
    T = manifolds.FlatTorus(2)
    a = np.asarray(jax.vmap(T.random_uniform)(jax.random.split(k2, n)))
    assert a.min() >= -np.pi and a.max() < np.pi
    _moment_check(np.cos(a), np.zeros(2))
    _moment_check(a**2, np.full(2, np.pi**2 / 3))
    P = manifolds.Product(manifolds.Sphere(2), manifolds.FlatTorus(1))
    p = np.asarray(jax.vmap(P.random_uniform)(jax.random.split(k3, n)))
    _moment_check(p[:, :3] ** 2, np.full(3, 1 / 3))
    _moment_check(p[:, 3:] ** 2, np.array([np.pi**2 / 3]))
    # the sphere and torus parts are independent: E[z * phi] = 0
    _moment_check(p[:, 2:3] * p[:, 3:4], np.zeros(1))


def test_base_log_prob_integrates_to_one_on_the_circle():
    S = manifolds.Sphere(1)
    assert np.isclose(float(S.base_log_prob(jnp.array([1.0, 0.0]))), -math.log(2 * math.pi))
    E = manifolds.Euclidean(2)
    x = jnp.array([0.3, -1.2])
    ref = scipy.stats.multivariate_normal(np.zeros(2)).logpdf(np.asarray(x))
    assert np.isclose(E.base_log_prob(x), ref)
    M = manifolds.Product(manifolds.Sphere(2), manifolds.Euclidean(1))
    y = jnp.array([0.0, 0.0, 1.0, 0.5])
    assert np.isclose(M.base_log_prob(y), -np.log(4 * np.pi) + scipy.stats.norm.logpdf(0.5))


@pytest.mark.parametrize("M", all_manifolds(), ids=IDS)
def test_jit_and_vmap_agree_with_loops(M, key):
    kx, ky = jax.random.split(key)
    x, y = points(M, kx, 3), points(M, ky, 3)
    batched = jax.jit(jax.vmap(lambda a, b: M.expmap(a, M.logmap(a, b))))(x, y)
    looped = [M.expmap(a, M.logmap(a, b)) for a, b in zip(x, y, strict=True)]
    assert np.allclose(batched, np.stack(looped), atol=1e-12)
    d = jax.jit(jax.vmap(M.dist))(x, y)
    assert np.allclose(d, [M.dist(a, b) for a, b in zip(x, y, strict=True)], atol=1e-12)


def test_bad_points_raise_naming_the_argument(key, no_jaxtyping):
    M = contract()
    x = M.random_base(key)
    with pytest.raises(ValueError, match=r"u must be a single point .* shape \(7,\), got shape"):
        M.expmap(x, jnp.zeros(6))
    with pytest.raises(ValueError, match=r"y must be a single point"):
        M.logmap(x, jnp.zeros((2, 7)))
    off = x.at[0].add(0.5)
    with pytest.raises(ValueError, match=r"x1 is not a point of Product\(Sphere\(2\)"):
        M.check_point(off, name="x1")
    assert np.allclose(M.check_point(x), x)
    with pytest.raises(ValueError, match="dim must be a positive int, got 0"):
        manifolds.Sphere(0)
    with pytest.raises(ValueError, match="dim must be a positive int, got 2.0"):
        manifolds.FlatTorus(2.0)
    with pytest.raises(ValueError, match="at least one factor"):
        manifolds.Product()
    with pytest.raises(TypeError, match=r"factors\[1\] must be a hepjax.manifolds manifold"):
        manifolds.Product(manifolds.Sphere(2), 3)
    with pytest.raises(ValueError, match="not a point of Sphere"):
        manifolds.Sphere(2).check_point(jnp.full(3, jnp.nan))


def test_traced_points_off_the_manifold_raise_at_runtime(key):
    S = manifolds.Sphere(2)
    check = jax.jit(lambda x: S.check_point(x, name="x0"))
    x = S.random_uniform(key)
    assert np.allclose(check(x), x)
    with pytest.raises(Exception, match="x0 is not a point of Sphere"):
        jax.block_until_ready(check(2.0 * x))
