r"""The interaction network: message passing on a padded directed graph.

An interaction network (Battaglia et al., "Interaction networks for learning
about objects, relations and physics", arXiv:1612.00222), in the
encode-process form used for track finding by Exa.TrkX (Ju et al.,
arXiv:2103.16701) and in the GNN + CKF chain of arXiv:2401.16016, encodes the
nodes and edges, $h_i = \phi_n(x_i)$ and $e_{ij} = \phi_e(x_{ij})$, then
repeats $K$ message-passing iterations with shared weights:

$$e_{ij} \leftarrow e_{ij} + \Phi_E\big([h_i, h_j, e_{ij}]\big),\qquad
  h_i \leftarrow h_i + \Phi_N\Big(\big[h_i, \textstyle\sum_{k \to i} e_{ki},
  \sum_{i \to k} e_{ik}\big]\Big),$$

with the messages from incoming and outgoing edges summed separately (the
graph is directed: edge $i \to j$ goes from its *sender* $i$ to its
*receiver* $j$). Every $\phi$ and $\Phi$ is an ``eqx.nn.MLP`` (SiLU, ``num_layers``
hidden layers of ``hidden_size``) followed by a layer norm on its output, as
in the encode-process-decode networks of Battaglia et al. 2018
(arXiv:1806.01261).

**Padding.** A graph is padded to fixed sizes: ``senders``, ``receivers``
``(E,)`` index the nodes, ``edge_mask`` ``(E,)`` marks the real edges and
``node_mask`` ``(N,)`` the real nodes. Padded edges are zeroed after every
update, so they send no messages whatever their features or end points, and
padded nodes are zeroed, so the outputs on the real part of the graph do not
depend on the padding, and one compiled function serves every graph of a
padded size. A batch of graphs is one disjoint graph (node indices offset per
graph) or a ``jax.vmap``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from .._core import check_positive_int

__all__ = ["InteractionNetwork"]


class _NormedMLP(eqx.Module):
    """``eqx.nn.MLP`` then a layer norm, applied row-wise to ``(n, in)``."""

    mlp: eqx.nn.MLP
    norm: eqx.nn.LayerNorm

    def __init__(self, in_size: int, out_size: int, hidden_size: int, num_layers: int, *, key):
        self.mlp = eqx.nn.MLP(
            in_size, out_size, hidden_size, num_layers, activation=jax.nn.silu, key=key
        )
        self.norm = eqx.nn.LayerNorm(out_size)

    def __call__(self, x: Float[Array, "n i"]) -> Float[Array, "n o"]:
        return jax.vmap(lambda row: self.norm(self.mlp(row)))(x)


class InteractionNetwork(eqx.Module):
    r"""Interaction network on one padded directed graph (see the module docstring).

    Args:
        node_features: size of the input node features $x_i$.
        edge_features: size of the input edge features $x_{ij}$.
        hidden_size: size of the node and edge latents and of the MLPs' hidden layers.
        num_layers: hidden layers per MLP.
        num_iterations: message-passing iterations $K$ (weights shared across them).
        key: PRNG key for the initialisation.

    Calling it on one graph returns the latents ``(h, e)``, ``(N, hidden_size)``
    and ``(E, hidden_size)``, zero on padding; a task adds its own decoder
    (e.g. an edge classifier on $[h_i, h_j, e_{ij}]$).
    """

    node_encoder: _NormedMLP
    edge_encoder: _NormedMLP
    edge_update: _NormedMLP
    node_update: _NormedMLP
    node_features: int = eqx.field(static=True)
    edge_features: int = eqx.field(static=True)
    num_iterations: int = eqx.field(static=True)

    def __init__(
        self,
        node_features: int,
        edge_features: int,
        *,
        hidden_size: int = 32,
        num_layers: int = 2,
        num_iterations: int = 4,
        key: PRNGKeyArray,
    ):
        node_features = check_positive_int("node_features", node_features)
        edge_features = check_positive_int("edge_features", edge_features)
        hidden_size = check_positive_int("hidden_size", hidden_size)
        num_layers = check_positive_int("num_layers", num_layers)
        num_iterations = check_positive_int("num_iterations", num_iterations)
        k1, k2, k3, k4 = jax.random.split(key, 4)
        h = hidden_size
        self.node_encoder = _NormedMLP(node_features, h, h, num_layers, key=k1)
        self.edge_encoder = _NormedMLP(edge_features, h, h, num_layers, key=k2)
        self.edge_update = _NormedMLP(3 * h, h, h, num_layers, key=k3)
        self.node_update = _NormedMLP(3 * h, h, h, num_layers, key=k4)
        self.node_features = node_features
        self.edge_features = edge_features
        self.num_iterations = num_iterations

    def __call__(
        self,
        nodes: Float[ArrayLike, "n fn"],
        edges: Float[ArrayLike, "e fe"],
        senders: Int[ArrayLike, " e"],
        receivers: Int[ArrayLike, " e"],
        *,
        node_mask: Bool[ArrayLike, " n"] | None = None,
        edge_mask: Bool[ArrayLike, " e"] | None = None,
    ) -> tuple[Float[Array, "n h"], Float[Array, "e h"]]:
        """Node and edge latents of one graph.

        Args:
            nodes: ``(N, node_features)`` node features.
            edges: ``(E, edge_features)`` edge features.
            senders: ``(E,)`` the node each edge leaves.
            receivers: ``(E,)`` the node each edge enters.
            node_mask: ``(N,)`` real nodes (default: all).
            edge_mask: ``(E,)`` real edges (default: all).
        """
        n, e = jnp.shape(nodes)[0], jnp.shape(edges)[0]
        if jnp.shape(nodes) != (n, self.node_features) or jnp.ndim(nodes) != 2:
            raise ValueError(
                f"nodes must have shape (N, {self.node_features}), got {jnp.shape(nodes)}"
            )
        if jnp.shape(edges) != (e, self.edge_features) or jnp.ndim(edges) != 2:
            raise ValueError(
                f"edges must have shape (E, {self.edge_features}), got {jnp.shape(edges)}"
            )
        for name, v in (("senders", senders), ("receivers", receivers), ("edge_mask", edge_mask)):
            if v is not None and jnp.shape(v) != (e,):
                raise ValueError(
                    f"{name} must have shape ({e},) (one per edge), got {jnp.shape(v)}"
                )
        if node_mask is not None and jnp.shape(node_mask) != (n,):
            raise ValueError(f"node_mask must have shape ({n},), got {jnp.shape(node_mask)}")
        dtype = jnp.result_type(float)
        nmask = (
            jnp.ones((n, 1), dtype) if node_mask is None else jnp.asarray(node_mask, dtype)[:, None]
        )
        emask = (
            jnp.ones((e, 1), dtype) if edge_mask is None else jnp.asarray(edge_mask, dtype)[:, None]
        )
        s, r = jnp.asarray(senders), jnp.asarray(receivers)
        h = self.node_encoder(jnp.asarray(nodes, dtype)) * nmask
        x = self.edge_encoder(jnp.asarray(edges, dtype)) * emask
        for _ in range(self.num_iterations):
            x = (x + self.edge_update(jnp.concatenate([h[s], h[r], x], -1))) * emask
            m_in = jax.ops.segment_sum(x, r, num_segments=n)
            m_out = jax.ops.segment_sum(x, s, num_segments=n)
            h = (h + self.node_update(jnp.concatenate([h, m_in, m_out], -1))) * nmask
        return h, x
