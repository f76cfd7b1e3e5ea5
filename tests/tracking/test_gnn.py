"""Tests of the GNN pipeline: module map, hit graphs, interaction network, candidates.

The fast tests use a small NumPy toy barrel (helices from the beam line through
four pixel cylinders, TrackML-like module ids); the slow ones use
:mod:`hepjax.sim.tracker`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.tracking import (
    ConnectedComponents,
    EdgeClassifier,
    EdgeClassifierResult,
    HitGraph,
    Walkthrough,
    build_graph,
    build_module_map,
    edge_loss,
    edge_metrics,
    edge_scores,
    graph_metrics,
    pad_graph,
    simulate_module_map,
    stack_graphs,
    track_candidates,
    tracking_efficiency,
    train_edge_classifier,
)

RADII = np.array([32.0, 72.0, 116.0, 172.0])
HALF = 400.0
N_PHI = [10, 22, 36, 54]
N_Z = 8


def _toy_event(seed, n_particles=40, n_noise=20, pt=(0.8, 10.0), z_sigma=30.0, bz=2.0):
    """TrackML tables of a toy pixel barrel (helices from (0, 0, z0), no material)."""
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("x", "y", "z", "layer", "pid")}
    parts = {k: [] for k in ("particle_id", "vx", "vy", "vz", "px", "py", "pz", "q", "nhits")}
    for p in range(1, n_particles + 1):
        ptp = rng.uniform(*pt)
        eta, phi0 = rng.uniform(-1.2, 1.2), rng.uniform(-np.pi, np.pi)
        q, z0 = rng.choice([-1, 1]), rng.normal(0, z_sigma)
        big_r = ptp / (0.299792458e-3 * bz)
        n = 0
        for layer, r in enumerate(RADII):
            if rng.random() > 0.97:  # hit inefficiency
                continue
            a = np.arcsin(r / (2 * big_r))
            phi = phi0 - q * a
            z = z0 + 2 * big_r * a * np.sinh(eta)
            if abs(z) > HALF:
                continue
            rows["x"].append(r * np.cos(phi) + rng.normal(0, 0.01))
            rows["y"].append(r * np.sin(phi) + rng.normal(0, 0.01))
            rows["z"].append(z + rng.normal(0, 0.05))
            rows["layer"].append(layer)
            rows["pid"].append(p)
            n += 1
        for k, v in zip(
            parts,
            (p, 0, 0, z0, ptp * np.cos(phi0), ptp * np.sin(phi0), ptp * np.sinh(eta), q, n),
            strict=True,
        ):
            parts[k].append(v)
    for _ in range(n_noise):
        layer = rng.integers(0, 4)
        phi = rng.uniform(-np.pi, np.pi)
        rows["x"].append(RADII[layer] * np.cos(phi))
        rows["y"].append(RADII[layer] * np.sin(phi))
        rows["z"].append(rng.uniform(-HALF, HALF))
        rows["layer"].append(layer)
        rows["pid"].append(0)
    x, y, z = (np.asarray(rows[k]) for k in ("x", "y", "z"))
    layer = np.asarray(rows["layer"])
    phi = np.arctan2(y, x)
    nphi = np.asarray(N_PHI)[layer]
    iphi = np.minimum(((phi + np.pi) / (2 * np.pi) * nphi).astype(int), nphi - 1)
    iz = np.clip(((z + HALF) / (2 * HALF) * N_Z).astype(int), 0, N_Z - 1)
    hit_id = np.arange(1, x.size + 1)
    hits = {
        "hit_id": hit_id,
        "x": x,
        "y": y,
        "z": z,
        "volume_id": np.full(x.size, 8),
        "layer_id": 2 * (layer + 1),
        "module_id": iz * nphi + iphi + 1,
    }
    truth = {"hit_id": hit_id, "particle_id": np.asarray(rows["pid"]), "tz": z}
    particles = {k: np.asarray(v) for k, v in parts.items()}
    return {"hits": hits, "truth": truth, "particles": particles}


@pytest.fixture(scope="module")
def toy_map_events():
    return [_toy_event(s, n_particles=1000, n_noise=0) for s in range(4)]


@pytest.fixture(scope="module")
def toy_map(toy_map_events):
    return build_module_map(toy_map_events, skip_missing=True)


def test_module_map_graph_on_toy(toy_map, toy_map_events):
    event = _toy_event(100)
    g = build_graph(event, toy_map)
    m = graph_metrics(g)
    assert m["efficiency"] > 0.95
    assert g.n_nodes % 256 == 0 and g.n_edges % 1024 == 0
    # labels agree with a direct enumeration of consecutive hits of each particle
    pid = dict(zip(event["truth"]["hit_id"], event["truth"]["particle_id"], strict=True))
    layer = dict(zip(event["hits"]["hit_id"], event["hits"]["layer_id"], strict=True))
    mask = np.asarray(g.edge_mask)
    hid = np.asarray(g.hit_id)
    s, r = hid[np.asarray(g.senders)[mask]], hid[np.asarray(g.receivers)[mask]]
    lay_of = {}
    for h, p in pid.items():
        if p:
            lay_of.setdefault(p, []).append(layer[h])
    expect = []
    for a, b in zip(s, r, strict=True):
        la = sorted(lay_of.get(pid[a], []))
        ok = pid[a] == pid[b] != 0 and la.index(layer[b]) == la.index(layer[a]) + 1
        expect.append(ok)
    np.testing.assert_array_equal(np.asarray(g.labels)[mask], expect)
    assert layer[s[0]] < layer[r[0]]  # edges point outwards
    assert int(g.n_true) == sum(len(v) - 1 for v in lay_of.values())
    # the cuts remove fake edges but no true one seen in training
    no_cuts = build_module_map(toy_map_events, cuts=False, skip_missing=True)
    g2 = build_graph(event, no_cuts)
    assert graph_metrics(g2)["n_edges"] > m["n_edges"]
    assert graph_metrics(g2)["efficiency"] == pytest.approx(m["efficiency"])


def test_skip_missing_connects_over_a_missed_layer():
    # two particles: hits on layers 2, 4, 6, 8; a test particle misses layer 4
    base = _toy_event(0, n_particles=300, n_noise=0)
    plain = build_module_map([base])
    skip = build_module_map([base], skip_missing=True)
    assert skip.n_pairs > plain.n_pairs
    event = _toy_event(7, n_particles=300, n_noise=0)
    assert (
        graph_metrics(build_graph(event, skip))["efficiency"]
        >= graph_metrics(build_graph(event, plain))["efficiency"]
    )


def _line_graph():
    """Two 4-hit chains (hit ids 1-4 and 5-8), a crossing edge 2 -> 7 and one padded edge."""
    senders = np.array([0, 1, 2, 4, 5, 6, 1, 0])
    receivers = np.array([1, 2, 3, 5, 6, 7, 6, 0])
    n, e = 10, senders.size
    nodes = np.zeros((n, 1), np.float32)
    nodes[:8, 0] = np.tile([0.2, 0.4, 0.6, 0.8], 2)
    return HitGraph(
        nodes=nodes,
        node_mask=np.arange(n) < 8,
        senders=senders.astype(np.int32),
        receivers=receivers.astype(np.int32),
        edges=np.zeros((e, 6), np.float32),
        edge_mask=np.arange(e) < 7,
        labels=np.array([1, 1, 1, 1, 1, 1, 0, 0], bool),
        hit_id=np.r_[np.arange(1, 9), -1, -1].astype(np.int32),
        n_true=np.asarray(6, np.int32),
    )


def test_track_candidates_constructed_graph():
    g = _line_graph()
    scores = np.array([0.9, 0.9, 0.9, 0.9, 0.8, 0.9, 0.85, 0.99])  # padded edge ignored
    comp = track_candidates(g, scores, method=ConnectedComponents(), min_hits=1)
    # the crossing edge merges both chains into one component
    assert len(comp) == 1 and sorted(comp[0].tolist()) == list(range(1, 9))
    walk = track_candidates(g, scores, method=Walkthrough())
    # greedy by score: hit 2 keeps 2 -> 3 (0.9), so the crossing 2 -> 7 (0.85) is refused
    # and hit 7 takes 6 -> 7 (0.8): both chains are recovered
    assert sorted(c.tolist() for c in walk) == [[1, 2, 3, 4], [5, 6, 7, 8]]
    # threshold: cutting the 0.8 edge 6 -> 7 leaves {5, 6} and {1, 2, 3, 4, 7, 8}
    cut = track_candidates(g, scores, threshold=0.82, method=ConnectedComponents(), min_hits=1)
    assert sorted(sorted(c.tolist()) for c in cut) == [[1, 2, 3, 4, 7, 8], [5, 6]]
    # truth labels as scores give the true tracks; min_hits drops short ones
    ideal = track_candidates(g, g.labels.astype(float))
    assert sorted(c.tolist() for c in ideal) == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert track_candidates(g, g.labels.astype(float), min_hits=5) == []
    # ordered inner to outer by the node radius feature
    assert ideal[0].tolist() == sorted(ideal[0].tolist())


def test_classifier_padding_and_batching_invariance():
    g = _line_graph()
    model = EdgeClassifier(hidden_size=8, num_iterations=2, num_layers=1, key=jax.random.key(0))
    logits = eqx.filter_jit(model)(g)
    assert logits.shape == (8,)
    # more padding, and a padded edge with nonsense features pointing at a real node
    big = pad_graph(g, 32, 20)
    edges, receivers = np.array(big.edges), np.array(big.receivers)
    edges[10], receivers[10] = 100.0, 3
    poisoned = eqx.tree_at(lambda x: (x.edges, x.receivers), big, (edges, receivers))
    # a stacked batch through edge_scores (vmap, padded again) agrees with the single graph
    batch = stack_graphs([g, poisoned])
    assert batch.n_nodes == 64 and batch.n_edges == 256
    scores = edge_scores(model, batch)
    assert scores.shape == (2, batch.n_edges)
    np.testing.assert_allclose(scores[0, :7], jax.nn.sigmoid(logits[:7]), rtol=1e-5)
    np.testing.assert_allclose(scores[1, :7], scores[0, :7], rtol=1e-6)
    assert float(jnp.abs(scores[:, 7:]).max()) == 0.0  # padding scores 0
    # the loss runs the batch as one disjoint graph: the same as the per-graph scores
    s, y, m = np.asarray(scores, np.float64), np.asarray(batch.labels), np.asarray(batch.edge_mask)
    s = np.where(m, s, 0.5)  # padding: left out below
    bce = -(2.0 * y * np.log(s) + (1 - y) * np.log1p(-s))
    expected = np.sum(np.where(m, bce, 0.0)) / m.sum()
    np.testing.assert_allclose(float(edge_loss(model, batch, pos_weight=2.0)), expected, rtol=1e-4)
    with pytest.raises(ValueError, match="one graph"):
        model(batch)


@pytest.mark.slow
def test_training_runs_and_learns_on_toy(toy_map):
    graphs = [build_graph(_toy_event(10 + s), toy_map) for s in range(6)]
    fit = train_edge_classifier(
        jax.random.key(1),
        graphs,
        hidden_size=16,
        num_iterations=2,
        steps=40,
        eval_every=10,
        patience=10,
    )
    assert isinstance(fit, EdgeClassifierResult)
    assert fit.validation_steps.tolist() == [10, 20, 30, 40] and fit.steps == 40
    assert not fit.stopped_early and fit.losses.shape == (40,)
    assert fit.validation_losses[-1] < fit.validation_losses[0]
    best = int(np.argmin(fit.validation_losses))
    assert fit.best_step == fit.validation_steps[best]
    assert fit.best_validation_loss == pytest.approx(fit.validation_losses[best])
    test = build_graph(_toy_event(99), toy_map)
    m = edge_metrics(test, edge_scores(fit.model, test))
    assert m["auc"] > 0.8


def test_gnn_bad_inputs(toy_map, no_jaxtyping):
    event = _toy_event(5)
    bad = {
        **event,
        "hits": {
            **event["hits"],
            "x": np.where(np.arange(event["hits"]["x"].size) == 3, np.nan, event["hits"]["x"]),
        },
    }
    with pytest.raises(ValueError, match="NaN"):
        build_graph(bad, toy_map)
    short = {**event, "truth": {k: v[:-1] for k, v in event["truth"].items()}}
    with pytest.raises(ValueError, match="do not match"):
        build_graph(short, toy_map)
    with pytest.raises(ValueError, match="'hits' table"):
        build_graph({"truth": event["truth"]}, toy_map)
    with pytest.raises(ValueError, match="more than n_nodes"):
        build_graph(event, toy_map, n_nodes=4)
    with pytest.raises(TypeError, match="ModuleMap"):
        build_graph(event, {"pairs": []})
    # an empty event is a graph with no real nodes or edges
    empty = {
        "hits": {k: v[:0] for k, v in event["hits"].items()},
        "truth": {k: v[:0] for k, v in event["truth"].items()},
    }
    g = build_graph(empty, toy_map)
    assert not np.any(g.node_mask) and not np.any(g.edge_mask)
    assert track_candidates(g, np.zeros(g.n_edges)) == []
    with pytest.raises(ValueError, match="no true segments"):
        build_module_map([empty])
    with pytest.raises(ValueError, match="non-empty sequence"):
        build_module_map([])
    # no truth: labels all False, n_true -1
    g = build_graph({"hits": event["hits"]}, toy_map, truth=False)
    assert not np.any(g.labels) and int(g.n_true) == -1
    with pytest.raises(ValueError, match="no true edges"):
        train_edge_classifier(jax.random.key(0), [g], steps=1)
    g = build_graph(event, toy_map)
    with pytest.raises(TypeError, match="method must be Walkthrough"):
        track_candidates(g, np.zeros(g.n_edges), method="dbscan")
    with pytest.raises(ValueError, match="scores must have shape"):
        track_candidates(g, np.zeros(3))
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        EdgeClassifier(hidden_size=0, key=jax.random.key(0))
    with pytest.raises(TypeError):
        train_edge_classifier(jax.random.key(0), g)
    with pytest.raises(ValueError, match="non-empty"):
        train_edge_classifier(jax.random.key(0), [])


# ---------------------------------------------------------------- on the tracker simulation


@pytest.fixture(scope="module")
def sim_events():
    from hepjax.sim import tracker

    geo = tracker.BarrelGeometry.default()

    def event(seed):
        k1, k2 = jax.random.split(jax.random.key(seed))
        parts = tracker.pileup_particles(k1, 200, geometry=geo)
        return tracker.simulate_event(k2, geo, parts, n_noise=200)

    return {
        "map": simulate_module_map(jax.random.key(7), geo),  # 80 000 tracks
        "train": [event(100 + s) for s in range(10)],
        "test": [event(200 + s) for s in range(2)],
    }


@pytest.mark.slow
def test_module_map_on_simulated_events(sim_events):
    mm = sim_events["map"]
    found = total = 0
    for e in sim_events["test"]:
        g = build_graph(e, mm)
        m = graph_metrics(g)
        assert m["efficiency"] > 0.95, m
        assert m["purity"] > 0.2, m
        # truth-labelled graph edges give candidates for nearly all pT > 1 GeV particles
        pixel = e.hits["volume_id"] == 8
        truth = {k: v[pixel] for k, v in e.truth.items()}
        cands = track_candidates(g, np.asarray(g.labels, float))
        s = tracking_efficiency(truth, e.particles, cands)
        found, total = found + s["n_matched_particles"], total + s["n_particles"]
    # about 98% expected; 4 binomial standard errors below for ~120 particles
    assert found / total > 0.92, (found, total)


@pytest.mark.slow
def test_classifier_learns_on_simulated_events(sim_events):
    mm = sim_events["map"]
    graphs = [build_graph(e, mm) for e in sim_events["train"]]
    fit = train_edge_classifier(jax.random.key(0), graphs, steps=200, eval_every=25, patience=4)
    test = stack_graphs([build_graph(e, mm) for e in sim_events["test"]])
    m = edge_metrics(test, edge_scores(fit.model, test))
    # a short run (200 steps on 8 events) already separates true edges well; the
    # example's longer training reaches AUC 0.998
    assert m["auc"] > 0.95, m
    assert m["efficiency"] > 0.85 and m["purity"] > 0.85, m
