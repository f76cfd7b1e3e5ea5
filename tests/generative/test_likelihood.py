"""Log-likelihoods by the instantaneous change of variables against closed forms."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from hepjax import generative as gen
from hepjax import manifolds

A = np.array([[-0.4, 1.1], [-0.6, 0.3]])
B = np.array([0.5, -1.0])


def linear(t, x, args):
    return x @ jnp.asarray(A, x.dtype).T + jnp.asarray(B, x.dtype)


def gaussian_at_one():
    """x1 = e^A x0 + A^{-1}(e^A - I) b with x0 ~ N(0, I)."""
    ea = scipy.linalg.expm(A)
    mean = np.linalg.solve(A, (ea - np.eye(2)) @ B)
    return scipy.stats.multivariate_normal(mean, ea @ ea.T)


def test_linear_field_between_gaussians(key, x64):
    ref = gaussian_at_one()
    x1 = ref.rvs(size=5, random_state=0)
    ll = jax.vmap(lambda x: gen.log_likelihood(linear, x, rtol=1e-9, atol=1e-9))(x1)
    err = np.max(np.abs(np.asarray(ll) - ref.logpdf(x1)))
    print("linear Gaussian max |error|", err)
    assert err < 1e-7


def test_float32_likelihood(key):
    ref = gaussian_at_one()
    x1 = jnp.asarray(ref.rvs(size=3, random_state=1), jnp.float32)
    ll = jax.jit(jax.vmap(lambda x: gen.log_likelihood(linear, x, solver="heun", num_steps=64)))(x1)
    assert ll.dtype == jnp.float32
    assert np.allclose(ll, ref.logpdf(np.asarray(x1)), atol=2e-3)


POLE = np.array([0.0, 0.6, 0.8])


def sphere_field(t, x, args):
    """The constant field b; its tangent projection b - (x.b)x flows to the pole b."""
    return jnp.broadcast_to(jnp.asarray(POLE, x.dtype), x.shape)


def sphere_log_density(x1):
    """Uniform on S^2 pushed by dθ/dt = -sin θ for unit time: tan(θ/2) shrinks by e."""
    u1 = np.tan(np.arccos(np.clip(x1 @ POLE, -1, 1)) / 2)
    u0 = u1 * np.e
    return -np.log(4 * np.pi) + 2.0 + 2 * np.log1p(u1**2) - 2 * np.log1p(u0**2)


def torus_field(t, x, args):
    return -jnp.sin(x)


def torus_log_density(phi1):
    u1 = np.tan(phi1 / 2)
    u0 = u1 * np.e
    return -np.log(2 * np.pi) + 1.0 + np.log1p(u1**2) - np.log1p(u0**2)


@pytest.mark.slow  # default suite time budget: runs in make test-slow
def test_uniform_density_on_the_sphere_and_the_torus(key, x64):
    S, T = manifolds.Sphere(2), manifolds.FlatTorus(1)
    k1, k2 = jax.random.split(key)
    xs = jax.vmap(S.random_uniform)(jax.random.split(k1, 6))
    phis = jax.vmap(T.random_uniform)(jax.random.split(k2, 6))
    opts = dict(rtol=1e-9, atol=1e-9)
    ll_s = jax.vmap(lambda x: gen.log_likelihood(sphere_field, x, manifold=S, **opts))(xs)
    ll_t = jax.vmap(lambda x: gen.log_likelihood(torus_field, x, manifold=T, **opts))(phis)
    err_s = np.max(np.abs(ll_s - sphere_log_density(np.asarray(xs))))
    err_t = np.max(np.abs(ll_t - torus_log_density(np.asarray(phis[:, 0]))))
    print("sphere, torus max |error|", err_s, err_t)
    assert err_s < 1e-7 and err_t < 1e-7


def product_field(t, x, args):
    return jnp.concatenate([sphere_field(t, x[:3], args), torus_field(t, x[3:], args)])


def test_product_of_sphere_and_torus(key, x64):
    M = manifolds.Product(manifolds.Sphere(2), manifolds.FlatTorus(1))
    x = jax.vmap(M.random_uniform)(jax.random.split(key, 4))
    ll = jax.vmap(lambda p: gen.log_likelihood(product_field, p, manifold=M, rtol=1e-9, atol=1e-9))(
        x
    )
    ref = sphere_log_density(np.asarray(x[:, :3])) + torus_log_density(np.asarray(x[:, 3]))
    err = np.max(np.abs(ll - ref))
    print("product max |error|", err)
    assert err < 1e-7


@pytest.mark.slow
def test_hutchinson_is_unbiased(key, x64):
    M = manifolds.Product(manifolds.Sphere(2), manifolds.FlatTorus(1))
    x = M.random_uniform(key)
    opts = dict(manifold=M, solver=diffrax.Heun(), num_steps=16)
    exact = gen.log_likelihood(product_field, x, **opts)
    for noise in ("rademacher", "gaussian"):
        est = jax.jit(
            jax.vmap(
                lambda k, noise=noise: gen.log_likelihood(
                    product_field, x, divergence=gen.Hutchinson(1, noise), key=k, **opts
                )
            )
        )(jax.random.split(jax.random.fold_in(key, 1), 300))
        est = np.asarray(est)
        stderr = est.std(ddof=1) / np.sqrt(est.size)
        print(noise, "Hutchinson mean - exact", est.mean() - float(exact), "stderr", stderr)
        assert stderr > 0  # the estimator really is random here
        assert abs(est.mean() - float(exact)) < 4 * stderr


def test_masked_sets_padding_contributes_nothing(key, x64):
    ref = gaussian_at_one()
    real = ref.rvs(size=3, random_state=2)
    pad = np.concatenate([real, np.full((2, 2), 7.0)])
    mask = np.array([True, True, True, False, False])
    seen = {}

    def field(t, x, args):
        seen["mask"] = args["mask"].shape
        return linear(t, x, args)

    opts = dict(rtol=1e-9, atol=1e-9)
    ll = gen.log_likelihood(field, pad, mask=mask, **opts)
    assert seen["mask"] == (5,)
    assert np.isclose(ll, ref.logpdf(real).sum(), atol=1e-7)
    repadded = np.where(mask[:, None], pad, -3.0)
    other = gen.log_likelihood(field, repadded, mask=mask, **opts)
    assert np.isclose(other, ll, atol=1e-10)


def test_hutchinson_without_key_and_off_manifold_points(x64, no_jaxtyping):
    with pytest.raises(ValueError, match="needs a PRNG key"):
        gen.log_likelihood(linear, jnp.zeros(2), divergence=gen.Hutchinson())
    with pytest.raises(ValueError, match=r"x1 has points that are not on Sphere\(2\)"):
        gen.log_likelihood(sphere_field, jnp.array([1.0, 1.0, 0.0]), manifold=manifolds.Sphere(2))
    with pytest.raises(ValueError, match="num_probes must be a positive int"):
        gen.Hutchinson(0)
    with pytest.raises(ValueError, match=r"noise must be one of \['rademacher', 'gaussian'\]"):
        gen.Hutchinson(1, "uniform")


@pytest.mark.slow  # default suite time budget: runs in make test-slow
def test_masked_sets_on_the_sphere_with_zero_padding(key, x64):
    """Zero rows are not on the sphere; as padding they must not produce NaNs."""
    S = manifolds.Sphere(2)
    real = jax.vmap(S.random_uniform)(jax.random.split(key, 2))
    x = jnp.concatenate([real, jnp.zeros((2, 3))])
    mask = jnp.array([True, True, False, False])

    def field(t, x, args):
        return jnp.broadcast_to(jnp.asarray(POLE, x.dtype), x.shape)

    ll = gen.log_likelihood(field, x, manifold=S, mask=mask, solver="heun", num_steps=32)
    ref = sphere_log_density(np.asarray(real)).sum()
    assert np.isclose(ll, ref, atol=1e-3)
    grad = jax.grad(
        lambda s: gen.log_likelihood(
            lambda t, y, a: s * field(t, y, a), x, manifold=S, mask=mask, solver="heun", num_steps=8
        )
    )(1.0)
    assert np.isfinite(grad)
    moved = gen.sample_ode(field, x, manifold=S, mask=mask, num_steps=4)
    assert np.array_equal(moved[2:], x[2:]) and np.all(np.isfinite(moved))
