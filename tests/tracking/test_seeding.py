"""Tests of hepjax.tracking._seeding: helix estimate, triplet seeds, candidate seeds."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.sim import tracker
from hepjax.tracking import (
    SeedConfig,
    candidate_seeds,
    estimate_parameters,
    find_seeds,
    seeds_from_candidates,
    triplet_seeds,
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
    seeds = triplet_seeds(event, GEO)
    owners = _purity(event, seeds)
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
    mask = np.asarray(seeds.mask)
    for row, prm in zip(np.asarray(seeds.hits)[mask], np.asarray(seeds.params)[mask], strict=True):
        i = int(pid[row[row >= 0][0]]) - 1
        assert np.sign(prm[4]) == parts["q"][i]
        pz, pt = parts["pz"][i], math.hypot(parts["px"][i], parts["py"][i])
        assert prm[3] == pytest.approx(math.atan2(pt, pz), abs=0.01)


@pytest.mark.slow
def test_deduplication_keeps_one_seed_per_track(key):
    event = _gun_event(key, n=10)
    n_dedup = triplet_seeds(event, GEO).num
    n_all = triplet_seeds(event, GEO, config=SeedConfig(deduplicate=False)).num
    # a muon with hits on all 4 pixel layers gives all 4 layer triples
    assert n_all > n_dedup
    assert n_all <= 4 * n_dedup


@pytest.mark.slow
def test_find_seeds_rejects_noise_only(key):
    # uniformly random pixel hits give (almost) no triplets pointing to the beam line
    k1, k2 = jax.random.split(key)
    n = 40
    layer = jnp.repeat(jnp.arange(4), n // 4)
    r = jnp.array([32.0, 72.0, 116.0, 172.0])[layer]
    phi = jax.random.uniform(k1, (n,), minval=-math.pi, maxval=math.pi)
    z = jax.random.uniform(k2, (n,), minval=-700, maxval=700)
    seeds = find_seeds(
        r * jnp.cos(phi), r * jnp.sin(phi), z, layer, num_layers=4, max_hits_per_layer=16
    )
    assert int(seeds.mask.sum()) <= 1


def test_seeds_from_candidates_masks_short_candidates():
    pts, *_ = _helix_points(3.0, 0.5, 1.0, 1.0, radii=(32.0, 72.0, 116.0, 172.0))
    xyz = jnp.stack(pts)
    cands = jnp.array([[0, 1, 2, 3], [0, -1, 2, 3], [0, 1, -1, -1], [2, -1, -1, -1]])
    f = jax.jit(seeds_from_candidates, static_argnames=("bz", "min_hits"))
    seeds = f(cands, xyz[:, 0], xyz[:, 1], xyz[:, 2], bz=2.0)
    # one hit is never enough; two hits use the beam line as the third point
    assert np.asarray(seeds.mask).tolist() == [True, True, True, False]
    np.testing.assert_array_equal(np.asarray(seeds.start_layer)[:3], [0, 0, 0])
    # all good candidates estimate the same helix (the track comes from z = 0)
    np.testing.assert_allclose(seeds.params[0], seeds.params[1], rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(seeds.params[0], seeds.params[2], rtol=2e-2, atol=2e-2)
    strict = f(cands, xyz[:, 0], xyz[:, 1], xyz[:, 2], bz=2.0, min_hits=3)
    assert np.asarray(strict.mask).tolist() == [True, True, False, False]


@pytest.mark.slow
def test_candidate_seeds_from_hit_ids(key):
    event = _gun_event(key, n=5)
    pid = np.asarray(event.truth["particle_id"])
    layer = np.asarray(event.measurements["layer"])
    hid = np.asarray(event.hits["hit_id"])
    cands = [hid[(pid == p) & (layer < 4)] for p in range(1, 6)]
    seeds = candidate_seeds(event, GEO, cands)
    assert seeds.num == sum(len(c) >= 2 for c in cands)
    with pytest.raises(ValueError, match="not in the event"):
        candidate_seeds(event, GEO, [np.array([hid.max() + 10])])


def test_bad_input():
    x = jnp.zeros(5)
    # mismatched lengths: jaxtyping's shape check (under the test suite) or our ValueError
    with pytest.raises((ValueError, TypeError), match="same length|N"):
        find_seeds(x, x, jnp.zeros(4), jnp.zeros(5, int), num_layers=4, max_hits_per_layer=8)
    with pytest.raises(ValueError, match="num_layers"):
        find_seeds(x, x, x, jnp.zeros(5, int), num_layers=2, max_hits_per_layer=8)
    with pytest.raises(ValueError, match="min_pt"):
        SeedConfig(min_pt=-1.0)
    with pytest.raises(ValueError, match="window"):
        SeedConfig(window=0)
    with pytest.raises(ValueError, match="layer_triples"):
        SeedConfig(layer_triples=((2, 1, 3),))
    with pytest.raises(ValueError, match="min_hits"):
        seeds_from_candidates(jnp.zeros((3, 4), int), x, x, x, bz=2.0, min_hits=1)
    with pytest.raises((ValueError, TypeError), match="candidates"):
        seeds_from_candidates(jnp.zeros(3, int), x, x, x, bz=2.0)


@pytest.mark.slow
def test_nan_hits_are_ignored():
    pts, *_ = _helix_points(3.0, 0.5, 1.0, 1.0, radii=(32.0, 72.0, 116.0, 172.0))
    xyz = np.asarray(jnp.stack(pts))
    xyz = np.concatenate([xyz, [[np.nan, 1.0, 2.0]]])
    layer = jnp.array([0, 1, 2, 3, 1])
    x, y, z = (jnp.asarray(xyz[:, i]) for i in range(3))
    seeds = find_seeds(x, y, z, layer, num_layers=4, max_hits_per_layer=8)
    assert int(seeds.mask.sum()) == 1
    assert np.all(np.isfinite(np.asarray(seeds.params)))
