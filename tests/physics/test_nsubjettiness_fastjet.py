"""N-subjettiness against FastJet's exclusive-kT clustering (the KT_Axes choice)."""

import jax.numpy as jnp
import numpy as np
import pytest

import hepjax.physics as hp

fastjet = pytest.importorskip("fastjet", reason="needs the hep extra: pip install 'hepjax[hep]'")


def _tau_from_axes(pt, y, phi, axes, r0=1.0):
    ay = np.array([a.rap() for a in axes])
    aphi = np.array([a.phi_std() for a in axes])
    dphi = (phi[:, None] - aphi[None, :] + np.pi) % (2 * np.pi) - np.pi
    dr = np.sqrt((y[:, None] - ay[None, :]) ** 2 + dphi**2)
    return np.sum(pt * dr.min(axis=1)) / (np.sum(pt) * r0)


def test_matches_fastjet_exclusive_kt_axes(rng):
    jet_def = fastjet.JetDefinition(
        fastjet.kt_algorithm, fastjet.JetDefinition.max_allowable_R, fastjet.E_scheme
    )
    for _ in range(10):
        n = int(rng.integers(4, 25))
        pt = rng.exponential(50.0, n) + 1.0
        eta, phi = rng.normal(0, 0.3, n), rng.normal(0, 0.3, n)
        p4 = np.asarray(hp.p4_from_ptetaphim(jnp.asarray(pt), jnp.asarray(eta), jnp.asarray(phi)))
        pad = np.concatenate([p4, np.zeros((28 - n, 4), p4.dtype)])  # one shape, one compile
        mask = np.arange(28) < n
        ours = np.asarray(hp.nsubjettiness(jnp.asarray(pad), jnp.asarray(mask), 3, r0=0.8))
        cs = fastjet.ClusterSequence(
            [fastjet.PseudoJet(*map(float, (px, py, pz, e))) for e, px, py, pz in p4], jet_def
        )
        ref = [_tau_from_axes(pt, eta, phi, cs.exclusive_jets(k), r0=0.8) for k in (1, 2, 3)]
        np.testing.assert_allclose(ours, ref, rtol=2e-4, atol=1e-6)
