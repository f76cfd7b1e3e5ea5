"""ParT pair features against closed forms for massless and massive particles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.physics import PAIR_EPS, p4_from_ptetaphim, pair_features


def test_two_massless_particles_closed_form():
    # massless: rapidity = eta; m^2 = 2 pt1 pt2 (cosh(d eta) - cos(d phi))
    pt = np.array([100.0, 40.0])
    eta = np.array([0.3, -0.2])
    phi = np.array([0.1, 0.5])
    u = np.asarray(pair_features(p4_from_ptetaphim(pt, eta, phi)))
    delta = np.hypot(0.5, 0.4)
    m2 = 2 * 100 * 40 * (np.cosh(0.5) - np.cos(0.4))
    want = [np.log(40 * delta), np.log(40 / 140), np.log(delta), np.log(m2)]
    np.testing.assert_allclose(u[0, 1], want, rtol=1e-5)
    np.testing.assert_allclose(u[1, 0], want, rtol=1e-5)  # symmetric


def test_massive_pair_and_phi_wrap():
    # rapidity of massive particles, and a pair across phi = pi
    pt, eta, phi, m = (
        np.array([50.0, 20.0]),
        np.array([1.0, 0.5]),
        np.array([3.0, -3.0]),
        np.array([5.0, 1.0]),
    )
    p4 = np.asarray(p4_from_ptetaphim(pt, eta, phi, m), np.float64)
    y = 0.5 * np.log((p4[:, 0] + p4[:, 3]) / (p4[:, 0] - p4[:, 3]))
    dphi = 6.0 - 2 * np.pi  # wrapped
    delta = np.hypot(y[0] - y[1], dphi)
    s = p4[0] + p4[1]
    m2 = s[0] ** 2 - np.sum(s[1:] ** 2)
    want = [np.log(20 * delta), np.log(20 / 70), np.log(delta), np.log(m2)]
    np.testing.assert_allclose(np.asarray(pair_features(p4))[0, 1], want, rtol=1e-4)


def test_clamps_at_eps_for_collinear_and_zero_particles():
    p4 = p4_from_ptetaphim(jnp.array([10.0, 10.0, 0.0]), jnp.zeros(3), jnp.zeros(3))
    u = np.asarray(pair_features(p4))
    ln_eps = np.log(np.float32(PAIR_EPS))
    # two identical massless particles: Delta = 0 and m^2 = 0
    np.testing.assert_allclose(u[0, 1, [0, 2, 3]], ln_eps, rtol=1e-6)
    np.testing.assert_allclose(u[0, 1, 1], np.log(0.5), rtol=1e-6)
    # a zero (padded) particle: every feature finite, z clamped
    assert np.isfinite(u).all()
    np.testing.assert_allclose(u[2, 2], ln_eps, rtol=1e-6)


def test_jit_vmap_and_bad_shape():
    p4 = p4_from_ptetaphim(
        jnp.array([[30.0, 20.0, 5.0]] * 2), jnp.zeros((2, 3)), jnp.array([[0.0, 0.2, 0.4]] * 2)
    )
    a = jax.vmap(pair_features)(p4)
    b = jax.jit(pair_features)(p4[0])
    np.testing.assert_allclose(a[0], b, rtol=1e-6)
    with pytest.raises((TypeError, ValueError), match="p4"):
        pair_features(jnp.zeros((3, 3)))
