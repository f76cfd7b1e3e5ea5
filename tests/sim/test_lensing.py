"""Strong-lensing simulator: deflection closed forms, surface brightness, PSF, noise, jit/vmap."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from hepjax.sim import lensing

P0 = dict(
    theta_e=1.0,
    q=0.7,
    phi=0.4,
    gamma1=0.03,
    gamma2=-0.02,
    lens_x=0.05,
    lens_y=-0.1,
    src_x=0.1,
    src_y=-0.05,
    src_r_e=0.25,
    src_n=1.5,
    src_q=0.8,
    src_phi=0.5,
    src_amp=1.0,
)


def params(**kw):
    p = {**P0, **kw}
    return jnp.array([p[name] for name in lensing.PARAM_NAMES], jnp.float32)


def test_sis_limit_has_deflection_theta_e(rng):
    x, y = rng.uniform(-2, 2, (2, 200))
    for q in (1.0, 1.0 - 1e-8, 1.0 - 1e-4):
        ax, ay = lensing.sie_deflection(x, y, 1.3, q, 0.7)
        np.testing.assert_allclose(np.hypot(ax, ay), 1.3, rtol=2e-4)
        # radial: parallel to the position
        np.testing.assert_allclose(ax * y - ay * x, 0.0, atol=5e-4)


def test_sie_series_is_continuous_at_threshold(rng):
    x, y = rng.uniform(-2, 2, (2, 50))
    # sqrt(1 - q^2) just below and above the series threshold 1e-3
    qa, qb = np.sqrt(1 - 0.999e-3**2), np.sqrt(1 - 1.001e-3**2)
    a = np.stack(lensing.sie_deflection(x, y, 1.0, qa, 0.2))
    b = np.stack(lensing.sie_deflection(x, y, 1.0, qb, 0.2))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_sie_divergence_is_twice_convergence_and_curl_free():
    def alpha(pt, q):
        return jnp.stack(lensing.sie_deflection(pt[0], pt[1], 1.2, q, 0.6, 0.1, -0.2))

    pts = jnp.array([[0.9, 0.3], [-0.5, 1.1], [0.2, -0.7], [1.5, 1.5]] * 2, jnp.float32)
    qs = jnp.repeat(jnp.array([0.4, 0.75]), 4)
    jac = jax.jit(jax.vmap(jax.jacfwd(alpha)))(pts, qs)
    div = jac[:, 0, 0] + jac[:, 1, 1]
    kappa = lensing.sie_convergence(pts[:, 0], pts[:, 1], 1.2, qs, 0.6, 0.1, -0.2)
    np.testing.assert_allclose(div, 2 * kappa, rtol=1e-4)
    np.testing.assert_allclose(jac[:, 0, 1], jac[:, 1, 0], atol=1e-5)


def test_sie_mean_convergence_inside_einstein_radius_is_one():
    # the normalisation: for q < 1 the area where kappa > 1/2 is an ellipse of area pi theta_E^2,
    # and the mean convergence inside the critical curve of the SIS is 1; here check the SIE's
    # kappa = 1/2 contour encloses the area pi theta_E^2 (q x^2 + y^2 / q = theta_E^2)
    n = 1601
    c = np.linspace(-3, 3, n)
    x, y = np.meshgrid(c, c)
    kappa = np.asarray(lensing.sie_convergence(x, y, 1.1, 0.5, 0.3))
    area = (kappa > 0.5).sum() * (c[1] - c[0]) ** 2
    np.testing.assert_allclose(area, np.pi * 1.1**2, rtol=5e-3)


def test_shear_jacobian():
    f = jax.jit(
        jax.jacfwd(lambda pt: jnp.stack(lensing.shear_deflection(pt[0], pt[1], 0.05, -0.03)))
    )
    jac = f(jnp.array([0.3, -1.0]))
    np.testing.assert_allclose(jac, [[0.05, -0.03], [-0.03, -0.05]], atol=1e-7)


@pytest.mark.parametrize("n", [0.5, 1.0, 2.0, 4.0])
def test_sersic_b_encloses_half_the_light(n):
    b = float(lensing.sersic_b(n))
    np.testing.assert_allclose(scipy.special.gammainc(2 * n, b), 0.5, atol=2e-4)


def test_sersic_total_flux_closed_form():
    amp, r_e, n, q = 2.0, 0.3, 1.5, 0.6
    c = np.linspace(-6, 6, 2401)
    x, y = np.meshgrid(c, c)
    img = np.asarray(lensing.sersic(x, y, amp, r_e, n, q, 0.7, 0.1, -0.2), np.float64)
    flux = img.sum() * (c[1] - c[0]) ** 2
    b = float(lensing.sersic_b(n))
    exact = 2 * np.pi * n * r_e**2 * amp * np.exp(b) * scipy.special.gamma(2 * n) / b ** (2 * n)
    np.testing.assert_allclose(flux, exact, rtol=2e-3)


def test_surface_brightness_is_conserved():
    # SIS without shear, point-like source position beta on the x axis: the two images sit at
    # theta = beta + theta_E and beta - theta_E along the axis and both see the source centre
    beta, te = 0.3, 1.0
    x, y = (a.ravel() for a in lensing.pixel_grid(lensing.Instrument(num_pix=8)))
    x = jnp.concatenate([jnp.array([beta + te, beta - te]), x])
    y = jnp.concatenate([jnp.zeros(2), y])

    @jax.jit
    def both(p):
        ax, ay = lensing.deflection(p, x, y)
        traced = lensing.sersic(x - ax, y - ay, 1.0, 0.25, 1.5, 0.8, 0.5, 0.1, -0.05)
        return lensing.lensed_source(p, x, y), traced

    p = params(q=1.0, gamma1=0.0, gamma2=0.0, lens_x=0.0, lens_y=0.0, src_x=beta, src_y=0.0)
    vals, _ = both(p.at[lensing.PARAM_NAMES.index("theta_e")].set(te))
    peak = lensing.sersic(0.0, 0.0, 1.0, 0.25, 1.5)
    np.testing.assert_allclose(vals[:2], peak, rtol=1e-5)
    # in general: the image is the source evaluated at the ray-traced positions
    image, traced = both(params())
    np.testing.assert_allclose(image, traced, rtol=1e-5)
    # no lens: the image is the source
    image, _ = both(params(theta_e=0.0, gamma1=0.0, gamma2=0.0))
    np.testing.assert_allclose(
        image, lensing.sersic(x, y, 1.0, 0.25, 1.5, 0.8, 0.5, 0.1, -0.05), rtol=1e-5
    )


def test_psf_is_normalised_with_the_right_width():
    inst = lensing.Instrument(psf_fwhm=0.4, pixel_scale=0.1)
    k = np.asarray(lensing.gaussian_psf(inst), np.float64)
    assert k.shape[0] % 2 == 1 and k.shape[0] == k.shape[1]
    np.testing.assert_allclose(k.sum(), 1.0, rtol=1e-6)
    # second moment of the kernel: sigma = FWHM / (2 sqrt(2 ln 2)), in pixels
    c = np.arange(k.shape[0]) - k.shape[0] // 2
    sigma = 0.4 / (2 * np.sqrt(2 * np.log(2))) / 0.1
    np.testing.assert_allclose((k.sum(0) * c**2).sum(), sigma**2, rtol=2e-2)
    # convolution keeps the flux of a compact image away from the edges
    img = jnp.zeros((32, 32)).at[16, 15].set(1.0).at[14, 17].set(2.0)
    blurred = jax.scipy.signal.convolve2d(img, jnp.asarray(k, jnp.float32), mode="same")
    np.testing.assert_allclose(float(blurred.sum()), 3.0, rtol=1e-5)


@pytest.mark.slow
def test_noise_level(key):
    inst = lensing.Instrument(noise_sigma=0.1)
    p = params()
    simulate = jax.jit(lensing.simulate, static_argnums=2)
    render = jax.jit(lensing.render, static_argnums=1)
    resid = np.asarray(simulate(key, p, inst) - render(p, inst)).ravel()
    n = resid.size
    se = 0.1**2 * np.sqrt(2.0 / n)
    assert abs(resid.var() - 0.01) < 4 * se
    # with an exposure, bright pixels are noisier
    inst = lensing.Instrument(noise_sigma=0.0, exposure=100.0)
    img = render(p, inst)
    resid = simulate(key, p, inst) - img
    z = np.asarray(resid / jnp.sqrt(jnp.clip(img, 1e-12) / 100.0))[np.asarray(img) > 0.05]
    assert abs(z.var() - 1.0) < 4 * np.sqrt(2.0 / z.size)


def test_jit_vmap(key):
    inst = lensing.Instrument(num_pix=8, pixel_scale=0.5, supersample=1)
    keys = jax.random.split(key, 3)
    ps = jnp.stack([params(theta_e=t) for t in (0.6, 1.0, 1.5)])
    batched = jax.jit(jax.vmap(lensing.simulate, (0, 0, None)), static_argnums=2)(keys, ps, inst)
    assert batched.shape == (3, 8, 8) and batched.dtype == jnp.float32
    one = jax.jit(lensing.simulate, static_argnums=2)
    for i in (0, 2):
        np.testing.assert_allclose(batched[i], one(keys[i], ps[i], inst), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_full_size_render_and_grad(key):
    inst = lensing.Instrument()
    image = jax.jit(lensing.simulate, static_argnums=2)(key, params(), inst)
    assert image.shape == (32, 32) and bool(jnp.all(jnp.isfinite(image)))
    g = jax.jit(jax.grad(lambda p: lensing.render(p, inst).sum()))(params())
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0


def test_bad_input(key):
    with pytest.raises(ValueError, match=r"params must have shape \(14,\)"):
        lensing.simulate(key, jnp.zeros(13))
    with pytest.raises(TypeError, match="float array"):
        lensing.render(jnp.zeros(14, jnp.int32))
    with pytest.raises(eqx.EquinoxRuntimeError, match="0 < q <= 1"):
        lensing.simulate(key, params(q=1.5))
    with pytest.raises(ValueError, match="num_pix must be a positive int"):
        lensing.Instrument(num_pix=0)
    with pytest.raises(ValueError, match="exposure must be positive"):
        lensing.Instrument(exposure=-1.0)
