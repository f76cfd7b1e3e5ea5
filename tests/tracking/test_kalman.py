"""Tests of the Kalman filter and RTS smoother (hepjax.tracking.kalman_fit, fit_tracks)."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from hepjax import tracking
from hepjax.sim import tracker

GEO = tracker.BarrelGeometry.default(efficiency=1.0)
N_GUN = 256  # one compiled simulation shape (with 40 noise hits, as in tests/sim/test_tracker.py)
N_FIT = 200  # one compiled fit shape for the non-slow tests
SEED_SIGMAS = dict(sigma_loc=0.1, sigma_z=1.0, sigma_phi=1e-3, sigma_theta=1e-3)


def _tracks(key, geometry, n_gun, n_fit, pt=(1.0, 10.0)):
    """Simulated truth tracks and truth-smeared starting parameters (consistent with cov0)."""
    k1, k2, k3 = jax.random.split(key, 3)
    parts = tracker.particle_gun(
        k1, n_gun, pt=pt, eta=(-1.5, 1.5), vertex_sigma=(0.01, 0.01, 20.0), geometry=geometry
    )
    ev = tracker.simulate_event(k2, geometry, parts, n_noise=40)  # shape shared with tests/sim
    with jax.enable_x64(True):
        ta = tracker.track_arrays(ev, geometry, min_hits=geometry.n_layers)
        ta = jax.tree.map(lambda a: a[:n_fit], ta)
        truth0 = ta.true_params[:, 0]
        # seed-like precision (the default initial_covariance is broader: the
        # extended filter then linearises far from the truth on the first layers)
        cov0 = jax.vmap(lambda p: tracking.initial_covariance(p, **SEED_SIGMAS))(truth0)
        noise = jax.random.normal(k3, truth0.shape, jnp.float64)
        p0 = truth0 + noise * jnp.sqrt(jax.vmap(jnp.diag)(cov0))
    assert ta.particle_id.shape == (n_fit,)
    return ta, p0, cov0


@pytest.fixture(scope="module")
def fitted():
    ta, p0, c0 = _tracks(jax.random.key(11), GEO, N_GUN, N_FIT)
    return ta, p0, c0, tracking.fit_tracks(ta, GEO, p0, c0)


def _pulls(ta, res, layer, smoothed=True):
    est, cov = (res.smoothed, res.smoothed_cov) if smoothed else (res.filtered, res.filtered_cov)
    with jax.enable_x64(True):
        r = GEO.radius.astype(jnp.float64)[layer]
        p = tracking.parameter_pulls(est[:, layer], cov[:, layer], ta.true_params[:, layer], r)
    return np.asarray(p)


def _check_pulls(p, width_tol=None, mean_tol=None):
    n = p.shape[0]
    mean, std = p.mean(0), p.std(0)
    se_mean, se_std = 1 / math.sqrt(n), 1 / math.sqrt(2 * n)
    assert np.all(np.abs(mean) < (mean_tol or 4 * se_mean)), mean
    assert np.all(np.abs(std - 1) < (width_tol or 4 * se_std)), std


def test_pulls_standard_normal(fitted):
    ta, _, _, res = fitted
    assert res.smoothed.dtype == jnp.float64
    assert not np.isnan(np.asarray(res.smoothed)).any()
    _check_pulls(_pulls(ta, res, 0))  # smoothed, innermost layer
    _check_pulls(_pulls(ta, res, 4))  # smoothed, a strip layer
    _check_pulls(_pulls(ta, res, GEO.n_layers - 1, smoothed=False))  # filtered, last layer


def test_chi2_distribution(fitted):
    """With a prior drawn from cov0, the filter chi2 is chi2(ndf + 5): check its mean."""
    _, _, _, res = fitted
    chi2 = np.asarray(res.chi2_total)
    dof = np.asarray(res.ndf) + 5
    assert np.all(dof == 4 * 2 + 6)
    assert abs(chi2.mean() - dof.mean()) < 4 * chi2.std() / math.sqrt(len(chi2))
    assert np.asarray(res.used).all() and not np.asarray(res.outlier).any()


def test_outlier_rejection(fitted):
    ta, p0, c0, res = fitted
    m = ta.measurements
    # move the hit on layer 2 (pixel) of the first 20 tracks by 1 mm (> 60 sigma)
    with jax.enable_x64(True):
        loc = m.loc.at[:20, 2, 0].add(1.0)
        bad = eqx.tree_at(lambda t: t.measurements.loc, ta, loc)
    out = tracking.fit_tracks(bad, GEO, p0, c0, chi2_cut=30.0)
    outlier = np.asarray(out.outlier)
    assert outlier[:20, 2].all()
    assert outlier.sum() <= 20 + 2  # a few false rejections at most (chi2 > 30 is rare)
    # the smoothed states of the damaged tracks agree with the clean fit within errors
    d = np.asarray(out.smoothed[:20, 0] - res.smoothed[:20, 0])
    sig = np.sqrt(np.asarray(jnp.diagonal(res.smoothed_cov[:20, 0], axis1=-2, axis2=-1)))
    assert np.all(np.abs(d) < 3 * sig)
    # without the cut the damaged hit pulls the fit
    assert np.asarray(out.chi2[:20, 2]).min() > 30.0


def test_kf_equals_least_squares_without_material():
    """No material, stiff tracks: the smoothed state on layer 0 is the least-squares solution."""
    geo = eqx.tree_at(lambda g: g.thickness, GEO, jnp.zeros(GEO.n_layers))
    ta, _, c0 = _tracks(jax.random.key(5), geo, N_GUN, N_FIT, pt=(20.0, 50.0))
    # Prior centred on the truth: the extended KF linearises there, so the comparison
    # tests the algebra (filter + smoother = batch least squares), not the linearisation.
    p0 = ta.true_params[:, 0]
    res = tracking.fit_tracks(ta, geo, p0, c0)
    with jax.enable_x64(True):
        radius = geo.radius.astype(jnp.float64)
        bz = geo.bz.astype(jnp.float64)

        @jax.jit
        def residuals(x0, meas, prior, prior_chol_inv):
            """Whitened residuals of all measurements and of the prior, x0 on layer 0."""

            def body(x, i):
                x = jnp.where(i == 0, x, tracker.transport(x, radius[i - 1], radius[i], bz)[0])
                m = jax.tree.map(lambda a: a[i], meas)
                c, s = jnp.cos(m.stereo), jnp.sin(m.stereo)
                d0 = radius[i] * tracker.wrap_angle((m.loc[0] - x[0]) / radius[i])
                d = jnp.stack([d0, m.loc[1] - x[1]])
                u = (c * d[0] + s * d[1]) / jnp.sqrt(m.cov[0, 0])
                v = (-s * d[0] + c * d[1]) / jnp.sqrt(m.cov[1, 1])
                return x, jnp.stack([u, jnp.where(m.is_2d, v, 0.0)])

            _, r = jax.lax.scan(body, x0, jnp.arange(radius.shape[0]))
            return jnp.concatenate([r.reshape(-1), prior_chol_inv @ (x0 - prior)])

        jac = jax.jit(jax.jacfwd(residuals))
        for t in range(3):
            meas = jax.tree.map(lambda a, t=t: a[t], ta.measurements)
            lc = jnp.linalg.inv(jnp.linalg.cholesky(c0[t]))
            args = (meas, p0[t], lc)
            fun = lambda x, args=args: np.asarray(residuals(jnp.asarray(x), *args))
            jfun = lambda x, args=args: np.asarray(jac(jnp.asarray(x), *args))
            sol = scipy.optimize.least_squares(fun, np.asarray(p0[t]), jac=jfun, xtol=1e-15)
            cov_ls = np.linalg.inv(jfun(sol.x).T @ jfun(sol.x))
            sig = np.sqrt(np.diag(cov_ls))
            assert np.all(np.abs(np.asarray(res.smoothed[t, 0]) - sol.x) < 1e-3 * sig)
            # covariances agree to 5e-3 of sigma_i sigma_j (the LS Jacobian is taken at
            # the solution, the filter's at its predictions: a tiny non-linearity)
            diff = (np.asarray(res.smoothed_cov[t, 0]) - cov_ls) / np.outer(sig, sig)
            assert np.abs(diff).max() < 5e-3
            assert abs(float(res.chi2_total[t]) - 2 * sol.cost) < 1e-2  # chi2 = 2 cost


def test_jit_vmap_agreement(fitted):
    ta, p0, c0, res = fitted
    with jax.enable_x64(True):
        one = jax.jit(lambda p, c, m: tracking.kalman_fit(p, c, m, GEO))
        t = 7
        single = one(p0[t], c0[t], jax.tree.map(lambda a: a[t], ta.measurements))
    np.testing.assert_allclose(single.smoothed, res.smoothed[t], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(single.smoothed_cov, res.smoothed_cov[t], rtol=1e-8, atol=1e-18)
    np.testing.assert_allclose(single.chi2_total, res.chi2_total[t], rtol=1e-10)


def test_strip_update_is_one_dimensional():
    """A 1D strip update: chi2 = r_u^2 / (h C h^T + sigma^2) and no change across the strip."""
    with jax.enable_x64(True):
        params = jnp.array([10.0, 20.0, 0.1, 1.2, 0.5])
        cov = jnp.diag(jnp.array([0.04, 1.0, 1e-4, 1e-4, 1e-3]))
        alpha, sigma = 0.3, 0.02
        meas = tracker.Measurements(
            loc=jnp.array([10.1, 20.5]),
            stereo=jnp.asarray(alpha),
            cov=jnp.array([[sigma**2, 0.0], [0.0, 1.0]]),
            is_2d=jnp.asarray(False),
            layer=jnp.asarray(5),
            hit_id=jnp.asarray(1),
            mask=jnp.asarray(True),
        )
        new, _, chi2, r = jax.jit(tracking.kalman_update)(params, cov, meas, jnp.asarray(260.0))
        h = jnp.array([math.cos(alpha), math.sin(alpha)])
        ru = h @ (meas.loc - params[:2])
        s = h @ cov[:2, :2] @ h + sigma**2
        np.testing.assert_allclose(chi2, ru**2 / s, rtol=1e-10)
        np.testing.assert_allclose(r, [ru, 0.0], atol=1e-12)
        # along the strip (v direction) the uncorrelated state does not move
        v = jnp.array([-math.sin(alpha), math.cos(alpha)])
        dv = v @ jnp.linalg.solve(cov[:2, :2], new[:2] - params[:2])
        np.testing.assert_allclose(dv, 0.0, atol=1e-9)
        np.testing.assert_allclose(
            tracking.measurement_chi2(params, cov, meas, jnp.asarray(260.0)), chi2, rtol=1e-10
        )


def _quality_setup(fitted, n=4):
    ta, p0, c0, _ = fitted
    meas = jax.tree.map(lambda a: a[:n], ta.measurements)

    def quality(geo):
        m = tracking.with_geometry_resolution(meas, geo)
        res = jax.vmap(lambda p, c, mm: tracking.kalman_fit(p, c, mm, geo))(p0[:n], c0[:n], m)
        # relative q/p resolution on layer 0 plus the mean chi2 per track
        sig = jnp.sqrt(res.smoothed_cov[:, 0, 4, 4]) / jnp.abs(res.smoothed[:, 0, 4])
        return jnp.mean(sig) * 100 + jnp.mean(res.chi2_total) * 1e-2

    geo = jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, GEO)
    return quality, geo


FIELDS = (("thickness", 6, 1e-5), ("radius", 3, 1e-3), ("sigma0", 5, 1e-6))


def _shift(geo, steps):
    for field, i, h in steps:
        geo = eqx.tree_at(lambda g, f=field: getattr(g, f), geo, getattr(geo, field).at[i].add(h))
    return geo


def test_gradient_of_one_filter_step():
    """Derivatives through material, prediction and update of one layer vs central differences."""
    with jax.enable_x64(True):
        params = jnp.array([5.0, 12.0, 0.15, 1.1, 0.4])
        cov = jnp.diag(jnp.array([1e-4, 2e-3, 1e-6, 1e-6, 1e-4]))
        meas = tracker.Measurements(
            loc=jnp.array([17.0, 30.0]),
            stereo=jnp.asarray(0.0),
            cov=jnp.eye(2) * 1e-4,
            is_2d=jnp.asarray(True),
            layer=jnp.asarray(1),
            hit_id=jnp.asarray(1),
            mask=jnp.asarray(True),
        )

        def step(x):  # x = (thickness of layer 0, radius of layer 1, sigma0 of layer 1)
            p, c, _ = tracking.add_material(params, cov, 32.0, x[0])
            p, c, _, _ = tracking.kalman_predict(p, c, 32.0, x[1], 2.0)
            m = eqx.tree_at(lambda m: m.cov, meas, jnp.diag(jnp.stack([x[2] ** 2, 0.05**2])))
            p, c, chi2, _ = tracking.kalman_update(p, c, m, x[1])
            return chi2 + 1e3 * jnp.sqrt(c[4, 4])

        x = jnp.array([0.01, 72.0, 0.015])
        # forward mode (compiles ~3x faster than reverse through jacfwd; the slow
        # tests check reverse mode through the whole fit)
        vg = jax.jit(lambda x: (step(x), jax.jacfwd(step)(x)))
        _, g = vg(x)
        for i, h in enumerate((1e-6, 1e-5, 1e-7)):
            e = jnp.zeros(3).at[i].set(h)
            fd = (vg(x + e)[0] - vg(x - e)[0]) / (2 * h)
            assert float(g[i]) != 0.0
            np.testing.assert_allclose(float(g[i]), float(fd), rtol=1e-5)


@pytest.mark.slow
def test_directional_derivative_wrt_detector(fitted):
    """Forward mode: d(fit quality) along (x/X0, radius, sigma) vs central differences."""
    with jax.enable_x64(True):
        quality, geo = _quality_setup(fitted)
        zero = jax.tree.map(lambda a: jnp.zeros_like(a) if eqx.is_inexact_array(a) else a, geo)
        weights = (1.0, -0.5, 2.0)  # a direction mixing the three kinds of parameter
        tangent = _shift(zero, [(f, i, w) for (f, i, _), w in zip(FIELDS, weights, strict=True)])
        jvp = eqx.filter_jit(lambda g, t: jax.jvp(quality, (g,), (t,)))
        _, deriv = jvp(geo, tangent)
        h = 1e-6
        step = [(f, i, w * h) for (f, i, _), w in zip(FIELDS, weights, strict=True)]
        back = [(f, i, -w * h) for (f, i, _), w in zip(FIELDS, weights, strict=True)]
        fd = (jvp(_shift(geo, step), tangent)[0] - jvp(_shift(geo, back), tangent)[0]) / (2 * h)
    assert float(deriv) != 0.0
    np.testing.assert_allclose(float(deriv), float(fd), rtol=1e-4)


@pytest.mark.slow
def test_gradient_wrt_detector_matches_finite_differences(fitted):
    """Reverse mode: d(fit quality)/d(material, radius, resolution) vs central differences."""
    with jax.enable_x64(True):
        quality, geo = _quality_setup(fitted)
        vg = eqx.filter_jit(eqx.filter_value_and_grad(quality))
        _, grad = vg(geo)
        for field, i, h in FIELDS:
            fd = (vg(_shift(geo, [(field, i, h)]))[0] - vg(_shift(geo, [(field, i, -h)]))[0]) / (
                2 * h
            )
            g = getattr(grad, field)[i]
            assert float(g) != 0.0
            np.testing.assert_allclose(float(g), float(fd), rtol=2e-4, err_msg=field)


def test_bad_inputs(fitted, no_jaxtyping):
    ta, p0, c0, _ = fitted
    with pytest.raises(ValueError, match=r"params0 must have shape \(200, 5\)"):
        tracking.fit_tracks(ta, GEO, p0[:10])
    with pytest.raises(ValueError, match=r"cov0 must have shape \(200, 5, 5\)"):
        tracking.fit_tracks(ta, GEO, p0, c0[:, :4])
    with pytest.raises(ValueError, match="iterations must be a positive int"):
        tracking.fit_tracks(ta, GEO, p0, iterations=0)
    with jax.enable_x64(True):
        nan = eqx.tree_at(
            lambda t: t.measurements.loc, ta, ta.measurements.loc.at[3, 2, 0].set(jnp.nan)
        )
        neg = eqx.tree_at(
            lambda t: t.measurements.cov, ta, ta.measurements.cov.at[4, 5, 0, 0].set(-1.0)
        )
    with pytest.raises(ValueError, match=r"non-finite positions \(first at index \[3, 2\]\)"):
        tracking.fit_tracks(nan, GEO, p0, c0)
    with pytest.raises(ValueError, match=r"not positive definite \(first at index \[4, 5\]\)"):
        tracking.fit_tracks(neg, GEO, p0, c0)
    with pytest.raises(TypeError, match="TrackArrays or Measurements"):
        tracking.fit_tracks(p0, GEO, p0)
    with pytest.raises(ValueError, match="one slot per layer"):
        tracking.kalman_fit(p0[0], c0[0], jax.tree.map(lambda a: a[0, :3], ta.measurements), GEO)
    with pytest.raises(TypeError, match="geometry must be a BarrelGeometry"):
        tracking.kalman_fit(p0[0], c0[0], jax.tree.map(lambda a: a[0], ta.measurements), None)


@pytest.mark.slow
def test_pulls_goal_of_issue_8():
    """Issue #8 goal: smoothed pulls with means within ±0.05 and widths within 1 ± 0.05.

    8000 tracks: the standard errors are 0.011 (mean) and 0.008 (width), so the
    tolerances are > 4 standard errors; the 4-sigma checks also pass.
    """
    ta, p0, c0 = _tracks(jax.random.key(2026), GEO, 8400, 8000)
    res = tracking.fit_tracks(ta, GEO, p0, c0)
    for layer in (0, 3, 6, GEO.n_layers - 1):
        p = _pulls(ta, res, layer)
        _check_pulls(p, width_tol=0.05, mean_tol=0.05)
        _check_pulls(p)
