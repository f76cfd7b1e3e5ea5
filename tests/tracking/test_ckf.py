"""Tests of the Combinatorial Kalman Filter, the ambiguity resolution and find_tracks."""

import importlib.util
import json
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.sim import tracker
from hepjax.tracking import (
    CandidateSeeder,
    CKFConfig,
    Tracks,
    ckf,
    event_measurements,
    find_tracks,
    resolve_ambiguities,
    seeds,
    tracking_efficiency,
)

GEO = tracker.BarrelGeometry.default()
# one small configuration shared by the fast tests (one compilation)
CFG = CKFConfig(beam=4, max_per_surface=2, max_holes=1, window=8, min_hits=5)
HOLE1, HOLE2, CLONED = 1, 2, 3  # particle ids with one gap, two gaps, cloned hits
CLONE_LAYER = 7


def _event_tables(event):
    return {
        k: {c: np.asarray(v) for c, v in getattr(event, k).items()}
        for k in ("hits", "truth", "particles", "measurements")
    }


def _edit(event):
    """Remove hits to make holes and add two clones of one hit (K-branch test)."""
    t = _event_tables(event)
    pid, layer = t["truth"]["particle_id"], t["measurements"]["layer"]
    drop = ((pid == HOLE1) & (layer == 5)) | ((pid == HOLE2) & np.isin(layer, (5, 6)))
    keep = ~drop
    tabs = {k: {c: v[keep] for c, v in t[k].items()} for k in ("hits", "truth", "measurements")}
    src = np.flatnonzero(
        (tabs["truth"]["particle_id"] == CLONED) & (tabs["measurements"]["layer"] == CLONE_LAYER)
    )
    assert src.size == 1
    j = src[0]
    sig = np.sqrt(tabs["measurements"]["var_u"][j])
    alpha = tabs["measurements"]["stereo"][j]
    new_id = tabs["hits"]["hit_id"].max() + 1 + np.arange(2)
    for k, shift in enumerate((0.4 * sig, -0.4 * sig)):
        for name in ("hits", "truth", "measurements"):
            tab = tabs[name]
            for c in tab:
                val = tab[c][j]
                if c == "hit_id":
                    val = new_id[k]
                elif c == "particle_id":
                    val = 0
                elif c == "loc0":
                    val = val + shift * np.cos(alpha)
                elif c == "loc1":
                    val = val + shift * np.sin(alpha)
                tab[c] = np.append(tab[c], val)
    return tracker.Event(
        hits=tabs["hits"],
        truth=tabs["truth"],
        particles=t["particles"],
        measurements=tabs["measurements"],
    )


@pytest.fixture(scope="module")
def gun():
    k1, k2 = jax.random.split(jax.random.key(88))
    parts = tracker.particle_gun(
        k1, 12, pt=(2.0, 10.0), eta=(-1.0, 1.0), vertex_sigma=(0.0, 0.0, 30.0)
    )
    geo = tracker.BarrelGeometry.default(efficiency=1.0)
    event = _edit(tracker.simulate_event(k2, geo, parts))
    found = seeds(event, geo)
    meas = event_measurements(event, size=512)
    run = eqx.filter_jit(
        lambda s, m, g: ckf(s, m, g, config=CFG, max_hits_per_layer=32, all_branches=True)
    )
    branches = run(found, meas, geo)
    return event, found, branches


def _best(branches, n_seeds, beam):
    """The best branch per seed, as ckf(all_branches=False) picks it."""
    nh = np.asarray(branches.n_hits).reshape(n_seeds, beam)
    ho = np.asarray(branches.n_holes).reshape(n_seeds, beam)
    ok = np.asarray(branches.mask).reshape(n_seeds, beam)
    score = np.where(ok, nh * 1e4 - ho * 1e2, -np.inf)
    b = np.argmax(score, 1)
    rows = np.arange(n_seeds) * beam + b
    return rows[ok[np.arange(n_seeds), b]]


@pytest.mark.slow
def test_muon_gun_all_found(gun):
    event, found, branches = gun
    rows = _best(branches, found.hits.shape[0], CFG.beam)
    pid = np.asarray(event.truth["particle_id"])
    hits = np.asarray(branches.hits)[rows]
    owners = []
    for h in hits:
        p, n = np.unique(pid[h[h >= 0]], return_counts=True)
        owners.append(p[np.argmax(n)])
        if p[np.argmax(n)] not in (HOLE2, CLONED):
            assert len(p) == 1  # pure
    assert sorted(set(owners)) == list(range(1, 13))
    # untouched muons get all 10 layers
    for h, o in zip(hits, owners, strict=True):
        if o not in (HOLE1, HOLE2, CLONED):
            assert np.sum(h >= 0) == 10


def _track_of(event, branches, found, particle):
    pid = np.asarray(event.truth["particle_id"])
    rows = _best(branches, found.hits.shape[0], CFG.beam)
    for r in rows:
        h = np.asarray(branches.hits)[r]
        if pid[h[0]] == particle:
            return r, h
    raise AssertionError(f"no track for particle {particle}")


@pytest.mark.slow
def test_holes_counted_and_max_holes_stops(gun):
    event, found, branches = gun
    r, h = _track_of(event, branches, found, HOLE1)
    assert int(branches.n_holes[r]) == 1
    assert np.asarray(h >= 0).tolist() == [True] * 5 + [False] + [True] * 4
    # two consecutive holes with max_holes=1: the branch stops after layer 4 (trimmed)
    r, h = _track_of(event, branches, found, HOLE2)
    assert np.asarray(h >= 0).tolist() == [True] * 5 + [False] * 5
    assert int(branches.n_holes[r]) == 1
    assert int(branches.last_layer[r]) == 4


@pytest.mark.slow
def test_at_most_k_measurements_branch_per_surface(gun):
    event, _, branches = gun
    pid = np.asarray(event.truth["particle_id"])
    beam = CFG.beam
    hits = np.asarray(branches.hits).reshape(-1, beam, 10)
    alive = np.asarray(branches.mask).reshape(-1, beam)
    for s in range(hits.shape[0]):
        if not alive[s].any() or pid[hits[s, alive[s].argmax(), 0]] != CLONED:
            continue
        on_layer = {int(h[CLONE_LAYER]) for h, a in zip(hits[s], alive[s], strict=True) if a}
        # three compatible measurements (the hit and two clones), K = 2 branches
        assert len(on_layer) == CFG.max_per_surface
        return
    raise AssertionError("the cloned particle was not found")


def _tracks(hit_rows, n_hits=None, chi2=None):
    hits = jnp.asarray(hit_rows, jnp.int32)
    t = hits.shape[0]
    n = jnp.sum(hits >= 0, 1) if n_hits is None else jnp.asarray(n_hits)
    return Tracks(
        hits=hits,
        params=jnp.zeros((t, 5)),
        cov=jnp.broadcast_to(jnp.eye(5), (t, 5, 5)),
        last_layer=jnp.zeros(t, jnp.int32),
        n_hits=n.astype(jnp.int32),
        n_holes=jnp.zeros(t, jnp.int32),
        chi2=jnp.zeros(t) if chi2 is None else jnp.asarray(chi2, jnp.float32),
        mask=jnp.ones(t, bool),
    )


def test_ambiguity_resolution_constructed_case():
    rows = [
        [0, 1, 2, 3, 4, 5],  # A
        [0, 1, 2, 3, 4, 5],  # exact duplicate of A (larger chi2: dropped)
        [0, 1, 2, 13, -1, -1],  # shares 3 hits with A, shorter: dropped
        [20, 21, 22, 23, 5, 24],  # shares 1 hit with A: allowed with max_shared=1
        [30, 31, 32, 33, 34, 35],  # disjoint
    ]
    out = resolve_ambiguities(_tracks(rows, chi2=[5.0, 9.0, 1.0, 1.0, 1.0]), 64, max_shared=1)
    assert np.asarray(out.mask).tolist() == [True, False, False, True, True]
    strict = resolve_ambiguities(_tracks(rows, chi2=[5.0, 9.0, 1.0, 1.0, 1.0]), 64, max_shared=0)
    kept = np.asarray(strict.mask)
    assert kept[4] and not kept[1] and not kept[2] and (kept[0] != kept[3])
    # the result has no hit shared beyond max_shared
    used = np.asarray(rows)[kept]
    _, counts = np.unique(used[used >= 0], return_counts=True)
    assert np.all(counts == 1)


def test_ambiguity_resolution_is_invariant_to_padding_rows():
    rows = [[0, 1, 2, 3], [0, 1, 2, 3], [-1, -1, -1, -1]]
    t = _tracks(rows, chi2=[1.0, 2.0, 0.0])
    t = eqx.tree_at(lambda x: x.mask, t, jnp.array([True, True, False]))
    out = resolve_ambiguities(t, 16)
    assert np.asarray(out.mask).tolist() == [True, False, False]


def _tiny_event(n=3):
    """A hand-made event of ``n`` pixel hits on layers 0..n-1 (no simulation)."""
    r = np.asarray(GEO.radius)[:n]
    phi = np.full(n, 0.3)
    z = np.linspace(1.0, 5.0, n)
    ids = np.arange(1, n + 1)
    zeros, ones = np.zeros(n), np.ones(n, np.int64)
    hits = dict(
        hit_id=ids,
        x=r * np.cos(phi),
        y=r * np.sin(phi),
        z=z,
        volume_id=8 * ones,
        layer_id=2 * (np.arange(n) + 1),
        module_id=ones,
    )
    truth = dict(
        hit_id=ids,
        particle_id=ones,
        tx=hits["x"],
        ty=hits["y"],
        tz=z,
        tpx=ones * 1.0,
        tpy=zeros,
        tpz=zeros,
        weight=ones / n,
    )
    particles = dict(
        particle_id=np.array([1]),
        vx=np.zeros(1),
        vy=np.zeros(1),
        vz=np.zeros(1),
        px=np.ones(1),
        py=np.zeros(1),
        pz=np.zeros(1),
        q=np.ones(1, np.int64),
        nhits=np.array([n]),
    )
    meas = dict(
        hit_id=ids,
        layer=np.arange(n),
        loc0=r * phi,
        loc1=z,
        stereo=zeros,
        var_u=np.full(n, 0.015**2),
        var_v=np.full(n, 0.05**2),
        cov_uv=zeros,
        ndim=2 * ones,
    )
    return tracker.Event(hits=hits, truth=truth, particles=particles, measurements=meas)


def test_bad_input():
    event = _tiny_event()
    meas = event_measurements(event)
    one = seeds(event, GEO, CandidateSeeder([event.hits["hit_id"]]))
    assert one.num == 1
    with pytest.raises(TypeError, match="seeds"):
        ckf(object(), meas, GEO, max_hits_per_layer=32)
    with pytest.raises(TypeError, match="meas"):
        ckf(one, object(), GEO, max_hits_per_layer=32)
    with pytest.raises(ValueError, match="window"):
        ckf(one, meas, GEO, config=CKFConfig(window=64), max_hits_per_layer=32)
    with pytest.raises(ValueError, match="chi2_cut"):
        CKFConfig(chi2_cut=-1.0)
    with pytest.raises(ValueError, match="max_per_surface"):
        CKFConfig(max_per_surface=5, window=4)
    with pytest.raises(ValueError, match="beam"):
        CKFConfig(beam=0)
    with pytest.raises(ValueError, match="max_shared"):
        resolve_ambiguities(_tracks([[0, 1]]), 4, max_shared=-1)
    with pytest.raises(ValueError, match="size"):
        event_measurements(event, size=2)
    with pytest.raises(ValueError, match="not in the event"):
        seeds(event, GEO, CandidateSeeder([np.array([99])]))


def test_nan_and_non_positive_definite_measurements_are_masked():
    event = _tiny_event()
    tabs = _event_tables(event)
    m = dict(tabs["measurements"])
    m["loc0"] = m["loc0"].copy()
    m["loc0"][0] = np.nan
    m["var_u"] = m["var_u"].copy()
    m["var_u"][1] = -1.0
    bad = tracker.Event(
        hits=tabs["hits"], truth=tabs["truth"], particles=tabs["particles"], measurements=m
    )
    mask = np.asarray(event_measurements(bad, size=8).mask)
    assert mask.tolist() == [False, False, True] + [False] * 5


@pytest.mark.slow
def test_find_tracks_muon_gun_efficiency():
    # the goal: single muons, pT > 1 GeV, no noise: efficiency >= 99%
    found = total = 0
    for ev_key in jax.random.split(jax.random.key(5), 3):
        k1, k2 = jax.random.split(ev_key)
        parts = tracker.particle_gun(
            k1, 100, pt=(1.0, 10.0), eta=(-2.0, 2.0), vertex_sigma=(0.0, 0.0, 50.0)
        )
        event = tracker.simulate_event(k2, GEO, parts)
        cands, _ = find_tracks(event, GEO, seeds(event, GEO))
        eff = tracking_efficiency(
            event.truth, event.particles, cands, double_majority=True, min_hits=7
        )
        found += eff["n_matched_particles"]
        total += eff["n_particles"]
        assert eff["fake_rate"] == 0.0
        assert eff["duplicate_rate"] == 0.0
        # truth pixel candidates + CKF find the same muons
        pid = np.asarray(event.truth["particle_id"])
        layer = np.asarray(event.measurements["layer"])
        hid = np.asarray(event.hits["hit_id"])
        truth = [hid[(pid == p) & (layer < 4)] for p in np.unique(pid[pid > 0])]
        cands_t, _ = find_tracks(event, GEO, seeds(event, GEO, CandidateSeeder(truth)))
        eff_t = tracking_efficiency(
            event.truth, event.particles, cands_t, double_majority=True, min_hits=7
        )
        assert eff_t["efficiency"] >= eff["efficiency"] - 0.02
    assert found / total >= 0.99


@pytest.mark.slow
def test_example_runs_at_tiny_size(tmp_path, monkeypatch):
    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "gnn_ckf_tracking.py"
    spec = importlib.util.spec_from_file_location("gnn_ckf_tracking_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    tiny = dict(
        n_train=3,
        n_test=2,
        n_particles=40,
        n_noise=40,
        steps=40,
        map_tracks=2000,
        gun_events=1,
        gun_particles=20,
    )
    monkeypatch.setitem(mod.SCALES, "small", tiny)
    from hepjax.cli._registry import Example, run_example

    metrics = run_example(Example("gnn_ckf_tracking", "", mod.run), scale="small", out=tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())  # flattened to dotted keys
    assert {key.split(".")[0] for key in saved} == {"ckf", "gnn", "gnn_ckf", "truth_ckf", "pulls"}
    for c in ("ckf", "gnn", "gnn_ckf", "truth_ckf"):
        for k in ("efficiency", "fake_rate", "duplicate_rate", "trackml_score"):
            assert 0.0 <= saved[f"{c}.{k}"] <= 1.0
    for param in ("loc0", "loc1", "phi", "theta", "qop"):
        assert {f"pulls.{param}.mean", f"pulls.{param}.width"} <= set(saved)
    assert metrics["truth_ckf.efficiency"] >= 0.9
    for name in ("efficiency_vs_pt.png", "efficiency_vs_eta.png", "table.md", "details.json"):
        assert (tmp_path / name).exists()
