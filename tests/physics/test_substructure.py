"""D2, kt splitting scales and SoftDrop against FastJet and the definitions.

fjcontrib (EnergyCorrelator, SoftDrop) is not on PyPI and EnergyFlow needs NumPy < 2 (through
`wasserstein`), so D2 is checked against its definition summed over distinct triples in
float64, and SoftDrop against a declustering of FastJet's own Cambridge/Aachen tree.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hepjax.physics as hp

SLOTS = 48  # one padded shape for every jet: one compilation per function


def _three_prong_jet(rng, n):
    """A boosted three-prong jet (pT ~ 500 GeV) with soft wide-angle particles around it."""
    centres = rng.normal(0.0, 0.25, (3, 2))
    prong = rng.integers(0, 3, n)
    eta = centres[prong, 0] + rng.normal(0, 0.05, n)
    phi = centres[prong, 1] + rng.normal(0, 0.05, n)
    soft = rng.random(n) < 0.3
    eta, phi = (
        np.where(soft, rng.uniform(-0.8, 0.8, n), eta),
        np.where(soft, rng.uniform(-0.8, 0.8, n), phi),
    )
    pt = np.where(soft, rng.exponential(2.0, n), rng.exponential(30.0, n)) + 0.5
    p4 = np.asarray(hp.p4_from_ptetaphim(pt, eta, phi, 0.14), np.float64)
    padded = np.zeros((SLOTS, 4))
    padded[:n] = p4
    order = rng.permutation(SLOTS)  # padding anywhere, not only at the end
    return padded[order], (np.arange(SLOTS) < n)[order]


def _jets(count, seed=0):
    rng = np.random.default_rng(seed)
    return [_three_prong_jet(rng, int(rng.integers(5, SLOTS - 4))) for _ in range(count)]


def _ptyphi(p4):
    pt = np.hypot(p4[:, 1], p4[:, 2])
    y = 0.5 * np.log((p4[:, 0] + p4[:, 3]) / (p4[:, 0] - p4[:, 3]))
    return pt, y, np.arctan2(p4[:, 2], p4[:, 1])


def _brute_force_ecf(p4, beta):
    pt, y, phi = _ptyphi(p4)
    z = pt / pt.sum()

    def theta(i, j):
        dphi = (phi[i] - phi[j] + np.pi) % (2 * np.pi) - np.pi
        return ((y[i] - y[j]) ** 2 + dphi**2) ** (beta / 2)

    n = len(z)
    e2 = sum(z[i] * z[j] * theta(i, j) for i, j in itertools.combinations(range(n), 2))
    e3 = sum(
        z[i] * z[j] * z[k] * theta(i, j) * theta(j, k) * theta(i, k)
        for i, j, k in itertools.combinations(range(n), 3)
    )
    return e2, e3


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_energy_correlators_and_d2_match_the_definition(beta):
    for p4, mask in _jets(4, seed=int(beta)):
        e2, e3 = hp.energy_correlators(jnp.asarray(p4, jnp.float32), mask, beta=beta)
        ref2, ref3 = _brute_force_ecf(p4[mask], beta)
        np.testing.assert_allclose([e2, e3], [ref2, ref3], rtol=1e-4)
        d2 = hp.d2(jnp.asarray(p4, jnp.float32), mask, beta=beta)
        np.testing.assert_allclose(d2, ref3 / ref2**3, rtol=1e-4)


def test_d2_separates_two_prong_from_one_prong():
    rng = np.random.default_rng(5)
    pt = rng.exponential(20.0, 30) + 1.0
    one = hp.p4_from_ptetaphim(pt, rng.normal(0, 0.05, 30), rng.normal(0, 0.05, 30))
    centre = np.where(np.arange(30) < 15, -0.3, 0.3)
    two = hp.p4_from_ptetaphim(pt, centre + rng.normal(0, 0.03, 30), rng.normal(0, 0.03, 30))
    mask = np.ones(30, bool)
    assert hp.d2(two, mask) < 0.5 * hp.d2(one, mask)


def _fastjet_inputs(fastjet, p4):
    particles = []
    for i, (e, px, py, pz) in enumerate(p4):
        particle = fastjet.PseudoJet(float(px), float(py), float(pz), float(e))
        particle.set_user_index(i)
        particles.append(particle)
    return particles


@pytest.mark.slow  # over 6 s: `make test-slow` keeps the default suite in 15 min
def test_kt_splitting_scales_match_fastjet():
    fastjet = pytest.importorskip(
        "fastjet", reason="needs the hep extra: pip install 'hepjax[hep]'"
    )
    radius = 10.0  # every constituent ends in one jet: no beam merges
    jet_def = fastjet.JetDefinition(fastjet.kt_algorithm, radius, fastjet.E_scheme)
    jets = _jets(12, seed=7)
    p4s = jnp.asarray(np.stack([j[0] for j in jets]), jnp.float32)
    ours = np.asarray(
        jax.vmap(lambda p, m: hp.kt_splitting_scales(p, m, 2))(p4s, np.stack([j[1] for j in jets]))
    )
    for (p4, mask), scales in zip(jets, ours, strict=True):
        cs = fastjet.ClusterSequence(_fastjet_inputs(fastjet, p4[mask]), jet_def)
        (jet,) = cs.inclusive_jets()
        ref = [radius * np.sqrt(cs.exclusive_subdmerge(jet, k)) for k in (1, 2)]
        np.testing.assert_allclose(scales, ref, rtol=1e-4)
    few = hp.kt_splitting_scales(
        jnp.asarray(jets[0][0], jnp.float32)[:2], np.array([True, False]), 2
    )
    np.testing.assert_array_equal(few, [0.0, 0.0])  # at most k constituents: 0, as FastJet


def _fastjet_soft_drop(fastjet, p4, z_cut, beta, r0):
    """SoftDrop by hand on FastJet's C/A tree (fjcontrib is not on PyPI)."""
    cs = fastjet.ClusterSequence(
        _fastjet_inputs(fastjet, p4), fastjet.JetDefinition(fastjet.cambridge_algorithm, 10.0)
    )
    (jet,) = cs.inclusive_jets()
    while True:
        a, b = fastjet.PseudoJet(), fastjet.PseudoJet()
        if not jet.has_parents(a, b):
            break
        z = min(a.pt(), b.pt()) / (a.pt() + b.pt())
        if z > z_cut * (a.delta_R(b) / r0) ** beta:
            break
        jet = a if a.pt() > b.pt() else b
    # the constituents while the cluster sequence is alive
    return sorted(c.user_index() for c in jet.constituents()), jet.m()


@pytest.mark.parametrize(("z_cut", "beta"), [(0.1, 0.0), (0.05, 2.0)])
def test_soft_drop_matches_fastjet_declustering(z_cut, beta):
    fastjet = pytest.importorskip(
        "fastjet", reason="needs the hep extra: pip install 'hepjax[hep]'"
    )
    jets = _jets(12, seed=11)
    p4s = jnp.asarray(np.stack([j[0] for j in jets]), jnp.float32)
    masks = np.stack([j[1] for j in jets])
    groomed = jax.vmap(lambda p, m: hp.soft_drop(p, m, z_cut=z_cut, beta=beta, r0=1.0))(p4s, masks)
    dropped_any = False
    for i, (p4, mask) in enumerate(jets):
        ref_ids, ref_mass = _fastjet_soft_drop(fastjet, p4[mask], z_cut, beta, 1.0)
        kept = np.flatnonzero(np.asarray(groomed.kept[i])[mask])  # positions among real ones
        assert kept.tolist() == ref_ids
        np.testing.assert_allclose(hp.invariant_mass(groomed.p4[i]), ref_mass, rtol=1e-4)
        dropped_any |= len(ref_ids) < mask.sum()
    assert dropped_any  # the grooming did something on these jets


def test_soft_drop_edge_cases_and_bad_input(no_jaxtyping):
    p4 = jnp.asarray(
        hp.p4_from_ptetaphim(jnp.array([50.0, 1.0]), jnp.array([0.0, 0.5]), jnp.zeros(2))
    )
    one = hp.soft_drop(p4, np.array([True, False]))
    np.testing.assert_allclose(one.p4, p4[0])
    empty = hp.soft_drop(p4, np.array([False, False]))
    np.testing.assert_array_equal(empty.p4, 0.0)
    assert not bool(empty.kept.any())
    # a soft wide particle is dropped: z = 1/51 < 0.1
    assert hp.soft_drop(p4, np.array([True, True])).kept.tolist() == [True, False]
    with pytest.raises(ValueError, match="z_cut"):
        hp.soft_drop(p4, np.ones(2, bool), z_cut=1.5)
    with pytest.raises(ValueError, match="beta"):
        hp.soft_drop(p4, np.ones(2, bool), beta=-1.0)
    with pytest.raises(ValueError, match="p4 must have shape"):
        hp.d2(p4[:, :3], np.ones(2, bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        hp.kt_splitting_scales(p4, np.ones(3, bool))
    with pytest.raises(ValueError, match="max_n"):
        hp.kt_splitting_scales(p4, np.ones(2, bool), 0)
    with pytest.raises(ValueError, match="algorithm"):
        hp.merge_history(p4, np.ones(2, bool), "antikt")
