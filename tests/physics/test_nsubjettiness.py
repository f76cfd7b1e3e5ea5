import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hepjax.physics as hp


def _p4(pt, eta, phi):
    return hp.p4_from_ptetaphim(jnp.asarray(pt), jnp.asarray(eta), jnp.asarray(phi))


def test_kinematics_round_trip_and_mass():
    pt, eta, phi, m = 50.0, 0.7, -2.9, 10.0
    p = hp.p4_from_ptetaphim(jnp.array(pt), jnp.array(eta), jnp.array(phi), jnp.array(m))
    np.testing.assert_allclose(hp.pt_eta_phi_mass(p), [pt, eta, phi, m], rtol=1e-5)
    np.testing.assert_allclose(
        hp.delta_phi(jnp.array(3.0), jnp.array(-3.0)), 6.0 - 2 * np.pi, rtol=1e-5
    )
    # two massless back-to-back particles of energy E: m = 2E
    pair = _p4(jnp.array([100.0, 100.0]), jnp.zeros(2), jnp.array([0.0, np.pi]))
    np.testing.assert_allclose(hp.invariant_mass(pair.sum(0)), 200.0, rtol=1e-6)
    assert hp.pt_eta_phi_mass(jnp.zeros(4)).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_single_particle_has_zero_tau():
    p = _p4(jnp.array([100.0, 0.0]), jnp.array([0.3, 0.0]), jnp.array([0.1, 0.0]))
    tau = hp.nsubjettiness(p, jnp.array([True, False]), 3)
    np.testing.assert_array_equal(tau, 0.0)


def test_two_prongs_closed_form():
    # two particles of pT a, b at distance d: tau1 with the kT axis (their sum)
    # is (a * d_a + b * d_b) / (a + b) / R0, and tau2 = 0.
    a, b, d = 300.0, 100.0, 0.4
    p = _p4(jnp.array([a, b]), jnp.array([0.0, d]), jnp.zeros(2))
    tau = hp.nsubjettiness(p, jnp.ones(2, bool), 2, r0=1.0)
    y_axis = hp.rapidity(p.sum(0))
    expected = (a * abs(float(y_axis)) + b * abs(d - float(y_axis))) / (a + b)
    np.testing.assert_allclose(tau[0], expected, rtol=1e-4)
    assert float(tau[1]) == 0.0
    # about pT-weighted centroid: y_axis close to b d / (a + b) at small d
    assert abs(float(y_axis) - b * d / (a + b)) < 0.01


def test_two_prong_jet_has_small_tau21_and_padding_is_ignored(key):
    k1, k2 = jax.random.split(key)
    # two tight clusters 0.5 apart: tau21 ~ 0; one broad cluster: tau21 ~ O(1)
    eta = jnp.concatenate(
        [0.005 * jax.random.normal(k1, (8,)), 0.5 + 0.005 * jax.random.normal(k2, (8,))]
    )
    phi = 0.005 * jax.random.normal(k2, (16,))
    p = _p4(jnp.full(16, 20.0), eta, phi)
    tau = hp.nsubjettiness(p, jnp.ones(16, bool), 3)
    assert float(tau[1] / tau[0]) < 0.05
    padded = jnp.concatenate([p, jnp.zeros((5, 4))])
    mask = jnp.arange(21) < 16
    np.testing.assert_allclose(hp.nsubjettiness(padded, mask, 3), tau, rtol=1e-5, atol=1e-7)
    broad = _p4(jnp.full(16, 20.0), 0.3 * jax.random.normal(k1, (16,)), 0.3 * phi / 0.005)
    tb = hp.nsubjettiness(broad, jnp.ones(16, bool), 3)
    assert float(tb[1] / tb[0]) > 0.3


def test_jit_vmap_agree(key):
    p = _p4(
        10 + jax.random.uniform(key, (4, 12)) * 50,
        0.3 * jax.random.normal(key, (4, 12)),
        0.3 * jax.random.normal(jax.random.fold_in(key, 1), (4, 12)),
    )
    mask = jnp.ones((4, 12), bool)
    batched = jax.jit(jax.vmap(lambda x, m: hp.nsubjettiness(x, m, 3)))(p, mask)
    for i in range(4):
        np.testing.assert_allclose(batched[i], hp.nsubjettiness(p[i], mask[i], 3), rtol=1e-5)
    assert (np.diff(np.asarray(batched), axis=1) <= 1e-6).all()  # tau_N decreases with N


def test_bad_input():
    with pytest.raises(ValueError, match="max_axes must be a positive int"):
        hp.exclusive_kt_axes(jnp.zeros((3, 4)), jnp.ones(3, bool), 0)
    with pytest.raises((ValueError, TypeError), match="p4|shape"):
        hp.nsubjettiness(jnp.zeros((3, 3)), jnp.ones(3, bool))
