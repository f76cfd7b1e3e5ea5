"""Tests of tracking seeding: the helix estimate, seeds() with TripletSeeder and CandidateSeeder."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.sim import tracker
from hepjax.tracking import (
    CandidateSeeder,
    Seeds,
    TripletSeeder,
    estimate_parameters,
    seeds,
)

GEO = tracker.BarrelGeometry.default()
_propagate = jax.jit(tracker.propagate_to_cylinder)
_estimate = jax.jit(estimate_parameters, static_argnames="bz")


def _helix_points(pt, eta, phi, q, z0=0.0, radii=(32.0, 72.0, 116.0)):
    """Exact helix crossings (no material, no smearing) with hepjax.sim.tracker."""
    p = jnp.array([pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)])
    phi0, theta, qop = tracker.momentum_to_angles(p, q)
    pos = jnp.array([0.0, 0.0, z0])
    out = []
    phis = []
    for r in radii:
        new, new_phi, _, reached = _propagate(pos, phi0, theta, qop, r, 2.0)
        assert bool(reached)
        out.append(new)
        phis.append(new_phi)
    return out, phis, theta, qop


@pytest.mark.parametrize(
    "pt,eta,phi,q", [(1.0, 0.3, 0.5, 1.0), (7.0, -1.8, -2.9, -1.0), (2.5, 1.2, 3.1, 1.0)]
)
def test_estimate_parameters_exact_helix(pt, eta, phi, q):
    # three points on an exact helix from the beam line: the circle and the
    # r-z line are exact, so the estimate recovers the truth up to rounding
    with jax.enable_x64(True):
        pts, phis, theta, qop = _helix_points(pt, eta, phi, q, z0=12.0)
        params, cov = _estimate(*pts, bz=2.0)
        r0 = 32.0
        assert params[0] == pytest.approx(r0 * math.atan2(pts[0][1], pts[0][0]), abs=1e-9)
        assert params[1] == pytest.approx(float(pts[0][2]), abs=1e-9)
        assert params[2] == pytest.approx(float(phis[0]), abs=1e-7)
        assert params[3] == pytest.approx(float(theta), abs=1e-7)
        assert params[4] == pytest.approx(float(qop), rel=1e-6)
        assert np.all(np.linalg.eigvalsh(np.asarray(cov)) > 0)


def _gun_event(key, n=20, noise=0):
    k1, k2 = jax.random.split(key)
    parts = tracker.particle_gun(
        k1, n, pt=(1.0, 10.0), eta=(-2.0, 2.0), vertex_sigma=(0.0, 0.0, 30.0)
    )
    return tracker.simulate_event(k2, GEO, parts, n_noise=noise)


def _purity(event, seeds):
    pid = np.asarray(event.truth["particle_id"])
    rows = np.asarray(seeds.hits)[np.asarray(seeds.mask)]
    owners = [set(pid[r[r >= 0]].tolist()) for r in rows]
    return owners


@pytest.mark.slow
def test_triplet_seeds_muon_gun(key):
    event = _gun_event(key, n=30)
    found = seeds(event, GEO)  # TripletSeeder() by default
    assert isinstance(found, Seeds)
    assert found.num == seeds(event, GEO, TripletSeeder()).num
    owners = _purity(event, found)
    # every seed is a true triplet, and every muon with >= 3 pixel hits is seeded once
    assert all(len(o) == 1 and 0 not in o for o in owners)
    pid = np.asarray(event.truth["particle_id"])
    layer = np.asarray(event.measurements["layer"])
    seedable = {p for p in np.unique(pid) if np.sum((pid == p) & (layer < 4)) >= 3}
    seeded = [next(iter(o)) for o in owners]
    assert set(seeded) == seedable
    assert len(seeded) == len(set(seeded))  # deduplicated: one seed per muon
    # the estimate points the right way: charge and direction of the truth
    parts = event.particles
    mask = np.asarray(found.mask)
    for row, prm in zip(np.asarray(found.hits)[mask], np.asarray(found.params)[mask], strict=True):
        i = int(pid[row[row >= 0][0]]) - 1
        assert np.sign(prm[4]) == parts["q"][i]
        pz, pt = parts["pz"][i], math.hypot(parts["px"][i], parts["py"][i])
        assert prm[3] == pytest.approx(math.atan2(pt, pz), abs=0.01)


@pytest.mark.slow
def test_deduplication_keeps_one_seed_per_track(key):
    event = _gun_event(key, n=10)
    n_dedup = seeds(event, GEO, TripletSeeder()).num
    n_all = seeds(event, GEO, TripletSeeder(deduplicate=False)).num
    # a muon with hits on all 4 pixel layers gives all 4 layer triples
    assert n_all > n_dedup
    assert n_all <= 4 * n_dedup


@pytest.mark.slow
def test_triplet_seeder_rejects_noise_only(key):
    # uniformly random pixel hits give (almost) no triplets pointing to the beam line
    k1, k2 = jax.random.split(key)
    n = 40
    layer = jnp.repeat(jnp.arange(4), n // 4)
    r = jnp.array([32.0, 72.0, 116.0, 172.0])[layer]
    phi = jax.random.uniform(k1, (n,), minval=-math.pi, maxval=math.pi)
    z = jax.random.uniform(k2, (n,), minval=-700, maxval=700)
    found = TripletSeeder().seed_arrays(
        r * jnp.cos(phi), r * jnp.sin(phi), z, layer, bz=2.0, num_layers=4, max_hits_per_layer=16
    )
    assert int(found.mask.sum()) <= 1


def test_candidate_seeder_masks_short_candidates():
    pts, *_ = _helix_points(3.0, 0.5, 1.0, 1.0, radii=(32.0, 72.0, 116.0, 172.0))
    xyz = jnp.stack(pts)
    cands = jnp.array([[0, 1, 2, 3], [0, -1, 2, 3], [0, 1, -1, -1], [2, -1, -1, -1]])
    f = jax.jit(CandidateSeeder().seed_arrays, static_argnames="bz")
    found = f(cands, xyz[:, 0], xyz[:, 1], xyz[:, 2], bz=2.0)
    # one hit is never enough; two hits use the beam line as the third point
    assert np.asarray(found.mask).tolist() == [True, True, True, False]
    np.testing.assert_array_equal(np.asarray(found.start_layer)[:3], [0, 0, 0])
    # all good candidates estimate the same helix (the track comes from z = 0)
    np.testing.assert_allclose(found.params[0], found.params[1], rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(found.params[0], found.params[2], rtol=2e-2, atol=2e-2)
    g = jax.jit(CandidateSeeder(min_hits=3).seed_arrays, static_argnames="bz")
    strict = g(cands, xyz[:, 0], xyz[:, 1], xyz[:, 2], bz=2.0)
    assert np.asarray(strict.mask).tolist() == [True, True, False, False]


@pytest.mark.slow
def test_candidate_seeder_from_hit_ids(key):
    event = _gun_event(key, n=5)
    pid = np.asarray(event.truth["particle_id"])
    layer = np.asarray(event.measurements["layer"])
    hid = np.asarray(event.hits["hit_id"])
    cands = [hid[(pid == p) & (layer < 4)] for p in range(1, 6)]
    found = seeds(event, GEO, CandidateSeeder(cands))
    assert found.num == sum(len(c) >= 2 for c in cands)
    with pytest.raises(ValueError, match="not in the event"):
        seeds(event, GEO, CandidateSeeder([np.array([hid.max() + 10])]))


def test_bad_input(no_jaxtyping):
    x = jnp.zeros(5)
    triplets = TripletSeeder()
    with pytest.raises(ValueError, match="same length"):
        triplets.seed_arrays(
            x, x, jnp.zeros(4), jnp.zeros(5, int), bz=2.0, num_layers=4, max_hits_per_layer=8
        )
    with pytest.raises(ValueError, match="num_layers"):
        triplets.seed_arrays(x, x, x, jnp.zeros(5, int), bz=2.0, num_layers=2, max_hits_per_layer=8)
    with pytest.raises(ValueError, match="min_pt"):
        TripletSeeder(min_pt=-1.0)
    with pytest.raises(ValueError, match="window must be a positive int"):
        TripletSeeder(window=0)
    with pytest.raises(ValueError, match="layer_triples"):
        TripletSeeder(layer_triples=((2, 1, 3),))
    with pytest.raises(ValueError, match="min_hits"):
        CandidateSeeder(min_hits=1)
    with pytest.raises(ValueError, match="candidates"):
        CandidateSeeder().seed_arrays(jnp.zeros(3, int), x, x, x, bz=2.0)
    with pytest.raises(TypeError, match="candidates must be a sequence"):
        CandidateSeeder("123")
    with pytest.raises(TypeError, match="seeder must be a seeder"):
        seeds(None, GEO, "triplets")


@pytest.mark.slow
def test_nan_hits_are_ignored():
    pts, *_ = _helix_points(3.0, 0.5, 1.0, 1.0, radii=(32.0, 72.0, 116.0, 172.0))
    xyz = np.asarray(jnp.stack(pts))
    xyz = np.concatenate([xyz, [[np.nan, 1.0, 2.0]]])
    layer = jnp.array([0, 1, 2, 3, 1])
    x, y, z = (jnp.asarray(xyz[:, i]) for i in range(3))
    found = TripletSeeder().seed_arrays(x, y, z, layer, bz=2.0, num_layers=4, max_hits_per_layer=8)
    assert int(found.mask.sum()) == 1
    assert np.all(np.isfinite(np.asarray(found.params)))
