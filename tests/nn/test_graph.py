"""Tests of hepjax.nn.InteractionNetwork: symmetries, padding, jit/vmap and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.nn import InteractionNetwork

N, E, FN, FE = 7, 12, 3, 2


@pytest.fixture(scope="module")
def net():
    return InteractionNetwork(
        FN, FE, hidden_size=8, num_layers=1, num_iterations=3, key=jax.random.key(0)
    )


@pytest.fixture(scope="module")
def graph():
    rng = np.random.default_rng(1)
    return (
        jnp.asarray(rng.normal(size=(N, FN)), jnp.float32),
        jnp.asarray(rng.normal(size=(E, FE)), jnp.float32),
        jnp.asarray(rng.integers(0, N, E), jnp.int32),
        jnp.asarray(rng.integers(0, N, E), jnp.int32),
    )


def test_node_permutation_equivariance(net, graph):
    nodes, edges, s, r = graph
    h, e = net(nodes, edges, s, r)
    assert h.shape == (N, 8) and e.shape == (E, 8)
    perm = np.random.default_rng(2).permutation(N)
    inv = np.argsort(perm)  # node perm[k] becomes node k
    h2, e2 = net(nodes[perm], edges, jnp.asarray(inv[s]), jnp.asarray(inv[r]))
    np.testing.assert_allclose(h2, h[perm], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e2, e, rtol=1e-5, atol=1e-6)
    # permuting the edges permutes the edge latents and leaves the nodes alone
    ep = np.random.default_rng(3).permutation(E)
    h3, e3 = net(nodes, edges[ep], s[ep], r[ep])
    np.testing.assert_allclose(h3, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e3, e[ep], rtol=1e-5, atol=1e-6)
    # the graph is directed: reversing every edge changes the node latents
    h4, _ = net(nodes, edges, r, s)
    assert float(jnp.abs(h4 - h).max()) > 1e-3


def test_padding_invariance(net, graph):
    nodes, edges, s, r = graph
    h, e = net(nodes, edges, s, r)
    # 5 padded nodes with garbage features; 6 padded edges with garbage features,
    # some pointing at real nodes, some at padded ones
    rng = np.random.default_rng(4)
    nodes_p = jnp.concatenate([nodes, 100 * jnp.ones((5, FN))])
    edges_p = jnp.concatenate([edges, jnp.asarray(rng.normal(size=(6, FE)) * 50, jnp.float32)])
    s_p = jnp.concatenate([s, jnp.array([0, 1, 2, 8, 9, 3])])
    r_p = jnp.concatenate([r, jnp.array([3, 4, 8, 0, 10, 11])])
    node_mask = jnp.arange(N + 5) < N
    edge_mask = jnp.arange(E + 6) < E
    hp, ep = net(nodes_p, edges_p, s_p, r_p, node_mask=node_mask, edge_mask=edge_mask)
    np.testing.assert_allclose(hp[:N], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ep[:E], e, rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(hp[N:]).max()) == 0.0 and float(jnp.abs(ep[E:]).max()) == 0.0


def test_jit_vmap_and_disjoint_union_agree(net, graph):
    nodes, edges, s, r = graph
    h, e = net(nodes, edges, s, r)
    hj, ej = eqx.filter_jit(net)(nodes, edges, s, r)
    np.testing.assert_allclose(hj, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ej, e, rtol=1e-5, atol=1e-6)
    # a batch of two graphs: vmap, and one disjoint graph with offset node indices
    nodes2 = jnp.stack([nodes, -nodes])
    edges2 = jnp.stack([edges, edges[::-1]])
    s2, r2 = jnp.stack([s, r]), jnp.stack([r, s])
    hv, ev = jax.jit(jax.vmap(net))(nodes2, edges2, s2, r2)
    for b in range(2):
        hb, eb = net(nodes2[b], edges2[b], s2[b], r2[b])
        np.testing.assert_allclose(hv[b], hb, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ev[b], eb, rtol=1e-5, atol=1e-6)
    offset = jnp.array([[0], [N]])
    hu, eu = net(
        nodes2.reshape(2 * N, FN),
        edges2.reshape(2 * E, FE),
        (s2 + offset).reshape(-1),
        (r2 + offset).reshape(-1),
    )
    np.testing.assert_allclose(hu.reshape(2, N, -1), hv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eu.reshape(2, E, -1), ev, rtol=1e-5, atol=1e-6)


def test_gradients_are_finite(net, graph):
    nodes, edges, s, r = graph
    grads = eqx.filter_grad(lambda m: jnp.sum(m(nodes, edges, s, r)[1] ** 2))(net)
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_array))
    assert leaves and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert any(float(jnp.abs(g).max()) > 0 for g in leaves)


def test_bad_inputs(net, graph, no_jaxtyping):
    nodes, edges, s, r = graph
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        InteractionNetwork(FN, FE, hidden_size=0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="num_iterations must be a positive int"):
        InteractionNetwork(FN, FE, num_iterations=1.5, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"nodes must have shape \(N, 3\)"):
        net(nodes[:, :2], edges, s, r)
    with pytest.raises(ValueError, match=r"receivers must have shape \(12,\)"):
        net(nodes, edges, s, r[:3])
    with pytest.raises(ValueError, match="node_mask must have shape"):
        net(nodes, edges, s, r, node_mask=jnp.ones(3, bool))
