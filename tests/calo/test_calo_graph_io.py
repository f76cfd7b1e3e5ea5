"""Tests of hepjax.calo's cell graph (COCOA's kNN rules), jets and writers
(Phoenix JSON, ROOT, HDF5)."""

import functools
import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import calo
from hepjax.data import read_hdf5
from hepjax.nn import InteractionNetwork
from hepjax.sim import calo as sc

SMALL = sc.CaloGeometry.cocoa(scale=8)


@functools.partial(jax.jit, static_argnums=1)
def _event(key, geo):
    k = jax.random.split(key, 6)
    n_blobs, n_spots = 12, 3000
    eta0 = jax.random.uniform(k[0], (n_blobs,), minval=-2.5, maxval=2.5)
    phi0 = jax.random.uniform(k[1], (n_blobs,), minval=-math.pi, maxval=math.pi)
    which = jax.random.randint(k[2], (n_spots,), 0, n_blobs)
    eta = eta0[which] + 0.1 * jax.random.normal(k[3], (n_spots,))
    phi = phi0[which] + 0.1 * jax.random.normal(k[4], (n_spots,))
    layer = jax.random.randint(k[5], (n_spots,), 0, geo.n_layers)
    energy = 20.0 / (n_spots / n_blobs) * jax.random.exponential(k[0], (n_spots,))
    return sc.deposit_energy(k[1], geo, layer, eta, phi, energy, sampling=False)


@pytest.fixture(scope="module")
def event():
    cells = _event(jax.random.key(3), SMALL)
    clusters = jax.jit(lambda c: calo.topoclusters(SMALL, c, max_clusters=128))(cells)
    graph = jax.jit(lambda c, t: calo.cell_graph(SMALL, c, t, max_nodes=1024))(cells, clusters)
    return cells, clusters, graph


# -- the graph -----------------------------------------------------------------------------


def test_graph_nodes_are_the_clustered_cells(event):
    cells, clusters, g = event
    clustered = np.flatnonzero(np.asarray(clusters.cell_cluster) >= 0)
    n = int(g.n_nodes)
    assert n == clustered.size and 0 < n <= 1024
    assert np.array_equal(np.asarray(g.cell)[:n], clustered)
    assert np.all(g.node_mask[:n]) and not np.any(g.node_mask[n:])
    t = SMALL.cells()
    np.testing.assert_allclose(g.nodes[:n, 0], np.asarray(cells.energy)[clustered])
    np.testing.assert_allclose(g.nodes[:n, 2], t.eta[clustered])
    assert np.array_equal(np.asarray(g.cluster)[:n], np.asarray(clusters.cell_cluster)[clustered])


def test_graph_edges_are_cocoa_knn(event):
    """Every receiver has min(k, candidates) edges per kind, all within its dR limit and
    no farther than any candidate left out (the kNN property, robust to dR ties)."""
    _, _, g = event
    ks, ki = (8, 8, 8, 6, 6, 6), (1, 2, 2, 2, 2, 1)
    max_dr = (0.05, 0.07, 0.14, 0.30, 0.30, 0.60)
    n = int(g.n_nodes)
    eta = np.asarray(g.nodes[:n, 2], np.float64)
    phi = np.asarray(g.nodes[:n, 3], np.float64)
    layer = np.asarray(g.nodes[:n, 5]).astype(int)
    m = np.asarray(g.edge_mask)
    snd, rcv = np.asarray(g.senders)[m], np.asarray(g.receivers)[m]
    assert np.all(snd != rcv) and np.all(snd < n) and np.all(rcv < n)
    assert len(set(zip(snd.tolist(), rcv.tolist(), strict=True))) == snd.size  # no duplicates
    eps = 1e-5
    n_edges = 0
    for i in range(n):
        dphi = np.mod(phi - phi[i] + math.pi, 2 * math.pi) - math.pi
        dr = np.hypot(eta - eta[i], dphi)
        dl = np.abs(layer - layer[i])
        chosen = snd[rcv == i]
        for kind, k in (("same", ks[layer[i]]), ("inter", ki[layer[i]])):
            sel = (dl == 0) if kind == "same" else (dl == 1)
            cand = np.flatnonzero(sel & (np.arange(n) != i) & (dr <= max_dr[layer[i]] + eps))
            sure = np.flatnonzero(sel & (np.arange(n) != i) & (dr <= max_dr[layer[i]] - eps))
            got = [j for j in chosen if sel[j]]
            assert min(k, sure.size) <= len(got) <= min(k, cand.size), (i, kind)
            assert all(dr[j] <= max_dr[layer[i]] + eps for j in got)
            left = np.setdiff1d(cand, got)
            if got and left.size:
                assert max(dr[got]) <= min(dr[left]) + eps, (i, kind)
            n_edges += len(got)
    assert n_edges == snd.size > 0


def test_graph_on_a_hand_made_block():
    geo = sc.CaloGeometry(
        [
            sc.CaloLayer("E1", 16, 16, 5.0, "X0", ("lead",), (1.0,), 1.0),
            sc.CaloLayer("E2", 8, 8, 5.0, "X0", ("lead",), (1.0,), 1.0),
        ]
    )
    e = np.zeros(geo.n_cells, np.float32)
    for i in (4, 5, 6):
        for j in (4, 5, 6):
            e[int(geo.cell_id(0, i, j))] = 3.0
    e[int(geo.cell_id(0, 5, 5))] = 10.0
    e[int(geo.cell_id(1, 2, 2))] = 3.0  # contains (0, 4..5, 4..5)
    cells = sc.CellEnergies.from_energy(e)
    tc = jax.jit(calo.topoclusters, static_argnums=0)(geo, cells)
    limits = dict(same_layer_k=(4, 4), inter_layer_k=(1, 1), max_dr=(1.0, 1.0))
    g = jax.jit(lambda c, t: calo.cell_graph(geo, c, t, max_nodes=16, **limits))(cells, tc)
    node = {int(c): i for i, c in enumerate(np.asarray(g.cell)) if c < geo.n_cells}
    centre = node[int(geo.cell_id(0, 5, 5))]
    m = np.asarray(g.edge_mask) & (np.asarray(g.receivers) == centre)
    got = {int(np.asarray(g.cell)[s]) for s in np.asarray(g.senders)[m]}
    # the four edge-adjacent cells (d_eta = 0.375, d_phi = 0.393) and the coarser cell
    four = {int(geo.cell_id(0, i, j)) for i, j in ((4, 5), (6, 5), (5, 4), (5, 6))}
    assert got == four | {int(geo.cell_id(1, 2, 2))}
    with pytest.raises(ValueError, match="one entry per layer"):
        calo.cell_graph(geo, cells, tc, same_layer_k=(4, 4), inter_layer_k=(1, 1), max_dr=(1.0,))
    with pytest.raises(ValueError, match="must be given"):
        calo.cell_graph(geo, cells, tc)  # COCOA's defaults are for 6 layers


def test_interaction_network_runs_on_the_graph_and_ignores_padding(event, key):
    cells, clusters, g = event
    net = InteractionNetwork(6, 3, hidden_size=8, num_iterations=2, key=key)
    big = jax.jit(lambda c, t: calo.cell_graph(SMALL, c, t, max_nodes=1536))(cells, clusters)

    @eqx.filter_jit
    def run(net, x):
        return net(
            x.nodes, x.edges, x.senders, x.receivers, node_mask=x.node_mask, edge_mask=x.edge_mask
        )

    out = [run(net, x) for x in (g, big)]
    n = int(g.n_nodes)
    np.testing.assert_allclose(out[0][0][:n], out[1][0][:n], rtol=1e-4, atol=1e-5)
    assert np.all(np.asarray(out[1][0][n:]) == 0)


@pytest.mark.slow  # 9-14 s; in `make test-slow` (CI), to keep `make test` under 15 min
def test_track_edges_start_at_the_nearest_cell(event):
    cells, clusters, g = event
    t = SMALL.cells()
    target = int(np.asarray(g.cell)[0])
    lay = int(t.layer[target])
    tracks = np.zeros((2, 6, 2), np.float32)
    tracks[:, :, 0] = t.eta[target]
    tracks[:, :, 1] = t.phi[target]
    gt = calo.cell_graph(
        SMALL, cells, clusters, max_nodes=1024, tracks=tracks, track_mask=np.array([True, False])
    )
    m = np.asarray(gt.track_edge_mask)
    snd, rcv = np.asarray(gt.track_senders)[m], np.asarray(gt.track_receivers)[m]
    assert np.all(snd == 0)  # the masked track has no edges
    k = (4, 4, 4, 3, 3, 3)[lay]
    assert rcv[0] == 0 if lay == 0 else 0 in rcv
    assert np.sum(np.asarray(g.nodes)[rcv, 5] == lay) <= k


# -- jets ------------------------------------------------------------------------------------


def test_antikt_merges_within_r_and_separates_beyond():
    e = np.array([50.0, 30.0, 20.0])
    eta = np.array([0.0, 0.2, 1.5])
    phi = np.array([0.0, 0.1, -3.0])
    jets = calo.antikt_jets(e, eta, phi, max_jets=4)
    assert np.array_equal(jets.mask, [True, True, False, False])
    pt = e / np.cosh(eta)
    px, py = np.sum(pt[:2] * np.cos(phi[:2])), np.sum(pt[:2] * np.sin(phi[:2]))
    assert float(jets.pt[0]) == pytest.approx(math.hypot(px, py), rel=1e-5)
    assert float(jets.energy[0]) == pytest.approx(80.0, rel=1e-6)
    assert float(jets.pt[1]) == pytest.approx(pt[2], rel=1e-5)
    assert np.array_equal(jets.n_constituents[:2], [2, 1])
    assert float(jets.phi[1]) == pytest.approx(-3.0, abs=1e-5)


def test_cluster_jets_use_positive_clusters(event):
    _, clusters, _ = event
    jets = calo.cluster_jets(clusters, max_jets=32)
    pos = np.asarray(clusters.mask) & (np.asarray(clusters.energy) > 0)
    total_pt = np.sum(np.asarray(clusters.energy)[pos] / np.cosh(np.asarray(clusters.eta)[pos]))
    # every cluster ends in one jet: jet constituents add up, scalar pT bounds vector pT
    assert int(np.sum(jets.n_constituents)) == pos.sum()
    assert float(jnp.sum(jets.pt)) <= total_pt * (1 + 1e-5)


# -- writers --------------------------------------------------------------------------------


def test_write_phoenix_follows_the_format(event, tmp_path):
    cells, clusters, _ = event
    jets = calo.cluster_jets(clusters)
    tracks = [np.array([[0.0, 0.0, 0.0], [100.0, 50.0, 20.0]])]
    path = calo.write_phoenix(
        tmp_path / "event.json", SMALL, cells, clusters, {"topo": jets}, tracks
    )
    assert [p.name for p in tmp_path.iterdir()] == ["event.json"]  # no temporary left
    data = json.loads(path.read_text())
    ev = data["event_num_0"]
    assert set(ev) >= {"Tracks", "Jets", "CaloClusters", "Hits", "IrregularCaloCells"}
    cl = np.asarray(clusters.cell_cluster)
    cells_out = ev["IrregularCaloCells"]["cells"]
    assert len(cells_out) == np.sum(cl >= 0) == len(ev["Hits"]["centres"])
    first = cells_out[0]
    assert set(first) == {"layer", "energy", "vtx", "cluster", "color", "opacity"}
    c0 = int(np.flatnonzero(cl >= 0)[0])
    np.testing.assert_allclose(first["vtx"], SMALL.cell_vertices()[c0].reshape(-1), rtol=1e-6)
    assert first["energy"] == pytest.approx(1000 * float(cells.energy[c0]), rel=1e-6)  # MeV
    topo = ev["CaloClusters"]["topoclusters"]
    assert len(topo) == int(clusters.n_clusters)
    assert set(topo[0]) == {"energy", "eta", "phi"}
    assert set(ev["Jets"]["topo"][0]) == {"eta", "phi", "energy", "coneR"}
    assert ev["Tracks"]["tracks"][0]["pos"][1] == [100.0, 50.0, 20.0]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        calo.write_phoenix(tmp_path / "missing" / "e.json", SMALL, cells, clusters)
    with pytest.raises(ValueError, match="polyline"):
        calo.write_phoenix(tmp_path / "e.json", SMALL, cells, clusters, tracks=[np.zeros(3)])


def test_write_root_uses_cocoa_branches(event, tmp_path):
    uproot = pytest.importorskip("uproot")
    cells, clusters, g = event
    jets = calo.cluster_jets(clusters)
    evs = [dict(cells=cells, clusters=clusters, graph=g, topo_jets=jets)] * 2
    path = calo.write_root(tmp_path / "out.root", SMALL, evs)
    tree = uproot.open(path)["Out_Tree"]
    assert tree.num_entries == 2
    cl = np.asarray(clusters.cell_cluster)
    which = np.flatnonzero(cl >= 0)
    arr = tree.arrays(library="np", entry_stop=1)
    np.testing.assert_allclose(arr["cell_e"][0], 1000 * np.asarray(cells.energy)[which], rtol=1e-6)
    assert np.array_equal(arr["cell_topo_idx"][0], cl[which] + 1)  # COCOA counts from 1
    k = int(clusters.n_clusters)
    np.testing.assert_allclose(arr["topo_e"][0], 1000 * np.asarray(clusters.energy)[:k], rtol=1e-6)
    m = np.asarray(g.edge_mask)
    assert np.array_equal(arr["cell_to_cell_edge_start"][0], np.asarray(g.senders)[m])
    assert np.array_equal(arr["cell_to_cell_edge_end"][0], np.asarray(g.receivers)[m])
    for name in ("topo_bary_eta", "topo_bary_rho", "topo_jet_pt", "cell_layer", "cell_x"):
        assert name in tree.keys()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        calo.write_root(tmp_path / "no" / "out.root", SMALL, evs)


def test_write_hdf5_round_trip(event, tmp_path):
    cells, clusters, g = event
    path = calo.write_hdf5_events(
        tmp_path / "ev.h5", SMALL, [dict(cells=cells, clusters=clusters, graph=g)] * 3
    )
    schema = {"cell_energy": (SMALL.n_cells,), "cell_cluster": (SMALL.n_cells,)}
    schema |= {"graph_senders": (None,), "topo_energy": (None,)}
    data = read_hdf5(path, schema)
    assert data["cell_energy"].shape == (3, SMALL.n_cells)
    np.testing.assert_array_equal(data["cell_cluster"][1], clusters.cell_cluster)
    np.testing.assert_array_equal(data["graph_senders"][2], g.senders)
    np.testing.assert_allclose(data["topo_energy"][0], clusters.energy)
    import h5py

    with h5py.File(path) as f:
        geo = sc.CaloGeometry.from_dict(json.loads(f.attrs["geometry"]))
    assert geo == SMALL
