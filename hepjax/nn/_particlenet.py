r"""ParticleNet: EdgeConv on k-nearest-neighbour graphs of a padded particle set.

Qu & Gouskos, "ParticleNet: Jet Tagging via Particle Clouds",
arXiv:1902.08570. Each EdgeConv block builds the kNN graph of the real
particles (the first block in the $(\eta, \phi)$ plane, later blocks in the
feature space of the previous block), computes an edge function of
$(x_i, x_j - x_i)$ for each neighbour $j$, averages it over the neighbours
and adds a linear shortcut.
"""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from .._core import check_positive_int, masked_mean
from ._classifiers import AbstractSetClassifier, _mlp
from ._layers import check_rate, layer_norm, linear, split_key


def knn(
    points: Float[Array, "n d"], mask: Bool[Array, " n"], k: int
) -> tuple[Int[Array, "n k"], Bool[Array, "n k"]]:
    r"""The ``k`` nearest real neighbours of every element of a padded set.

    Distances are Euclidean, $d_{ij} = \lVert p_i - p_j\rVert$; an element is
    never its own neighbour and padded elements are never neighbours. When a
    set has fewer than ``k + 1`` real elements the missing neighbours are
    marked invalid (their index is arbitrary). Ties are broken by the lower
    index.

    Args:
        points: coordinates of the ``n`` elements.
        mask: ``True`` for real elements.
        k: number of neighbours (``k < n``).

    Returns:
        ``(indices, valid)``, both ``(n, k)``, sorted by increasing distance.
        Rows of padded elements are all invalid.
    """
    n = points.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, n - 1] = [1, {n - 1}], got {k}")
    sq = jnp.sum(points * points, axis=-1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * points @ points.T
    allowed = mask[None, :] & ~jnp.eye(n, dtype=bool)
    d2 = jnp.where(allowed, jnp.maximum(d2, 0.0), jnp.inf)
    neg, idx = jax.lax.top_k(-d2, k)
    valid = jnp.isfinite(neg) & mask[:, None]
    return idx, valid


class _EdgeConv(eqx.Module):
    mlp: tuple[eqx.nn.Linear, ...]
    shortcut: eqx.nn.Linear
    norms: tuple[eqx.nn.LayerNorm, ...]
    k: int = eqx.field(static=True)

    def __init__(self, in_features: int, channels: Sequence[int], k: int, *, key: PRNGKeyArray):
        km, ks = jax.random.split(key)
        self.mlp = _mlp([2 * in_features, *channels], km)
        self.shortcut = eqx.nn.Linear(in_features, channels[-1], key=ks)
        self.norms = tuple(eqx.nn.LayerNorm(c) for c in channels)
        self.k = k

    def __call__(self, h: Array, coords: Array, mask: Array) -> Array:
        n, c = h.shape
        idx, valid = knn(coords, mask, self.k)
        centre = jnp.broadcast_to(h[:, None, :], (n, self.k, c))
        e = jnp.concatenate([centre, h[idx] - centre], axis=-1).reshape(n * self.k, 2 * c)
        for layer, norm in zip(self.mlp, self.norms, strict=True):
            e = jax.nn.relu(layer_norm(norm, linear(layer, e)))
        e = e.reshape(n, self.k, -1)
        count = jnp.maximum(jnp.sum(valid, axis=1, keepdims=True), 1)
        agg = jnp.sum(jnp.where(valid[..., None], e, 0.0), axis=1) / count
        out = jax.nn.relu(agg + linear(self.shortcut, h))
        return jnp.where(mask[:, None], out, 0.0)


def _check_channels(channels: object) -> tuple[tuple[int, ...], ...]:
    if not isinstance(channels, Sequence) or len(channels) == 0:
        raise ValueError("channels must be a non-empty sequence of per-block channel sequences")
    out = []
    for i, block in enumerate(channels):
        if not isinstance(block, Sequence) or len(block) == 0:
            raise ValueError(f"channels[{i}] must be a non-empty sequence of ints, got {block!r}")
        for j, c in enumerate(block):
            check_positive_int(f"channels[{i}][{j}]", c)
        out.append(tuple(block))
    return tuple(out)


class ParticleNet(AbstractSetClassifier):
    r"""ParticleNet jet classifier (Qu & Gouskos 2019, arXiv:1902.08570).

    For block $b$ with input features $h^{(b)}$ and graph coordinates
    $c^{(b)}$ (the $(\eta, \phi)$ columns of $x$ for $b = 0$, $h^{(b)}$
    itself afterwards), each real particle $i$ gets

    $$
    h^{(b+1)}_i = \mathrm{ReLU}\Big(\frac{1}{|N_k(i)|}\sum_{j \in N_k(i)}
    \mathrm{MLP}_b\big(h^{(b)}_i,\, h^{(b)}_j - h^{(b)}_i\big) + W_b h^{(b)}_i\Big),
    $$

    with $N_k(i)$ the ``k`` nearest *real* neighbours of $i$ in $c^{(b)}$
    (see [`knn`][hepjax.nn.knn]) and $\mathrm{MLP}_b$ three
    linear + norm + ReLU layers. The head is a masked global average over the
    real particles, a ``hidden_size`` ReLU layer with dropout, and a linear layer
    to ``num_classes`` logits.

    Padded particles are never neighbours, their rows are zeroed after every
    block, and the pooling ignores them, so the logits are exactly invariant
    to the padding and to permutations of the real particles.

    Differences from the paper: BatchNorm is replaced by a per-particle layer
    norm (a single set stays a pure function with no running statistics),
    and a set with fewer than ``k + 1`` real particles averages over the
    neighbours it has. The defaults are the paper's full model
    (``k=16``, channels ``(64,)*3, (128,)*3, (256,)*3``, ``hidden_size=256``,
    dropout 0.1); ParticleNet-Lite is ``k=7``,
    ``channels=((32, 32, 32), (64, 64, 64))``, ``hidden_size=128``.

    Example:
        ```python
        import jax, jax.numpy as jnp
        from hepjax.nn import ParticleNet

        model = ParticleNet(3, 2, k=4, channels=((16, 16), (32, 32)), hidden_size=32,
                            key=jax.random.key(0))
        x = jnp.ones((8, 16, 3))
        mask = jnp.arange(16) < jnp.arange(6, 14)[:, None]
        logits = jax.vmap(model)(x, mask)  # (8, 2)
        ```
    """

    blocks: tuple[_EdgeConv, ...]
    fc: eqx.nn.Linear
    out: eqx.nn.Linear
    dropout: eqx.nn.Dropout
    in_features: int = eqx.field(static=True)
    num_classes: int = eqx.field(static=True)
    k: int = eqx.field(static=True)
    coords: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        k: int = 16,
        channels: Sequence[Sequence[int]] = ((64, 64, 64), (128, 128, 128), (256, 256, 256)),
        hidden_size: int = 256,
        dropout: float = 0.1,
        coords: Sequence[int] = (0, 1),
        key: PRNGKeyArray,
    ):
        """Build the module (PRNG ``key`` is keyword-only).

        Args:
            in_features: features per particle.
            num_classes: number of logits returned.
            k: neighbours per particle in every EdgeConv block.
            channels: one sequence of MLP widths per EdgeConv block.
            hidden_size: width of the hidden layer of the head.
            dropout: dropout before the output layer (0 disables it).
            coords: columns of ``x`` spanning the first block's graph
                (default $(\\eta, \\phi)$ = columns 0 and 1 of JetNet features).
            key: PRNG key for the initialisation (keyword-only).
        """
        check_positive_int("in_features", in_features)
        check_positive_int("num_classes", num_classes)
        check_positive_int("k", k)
        check_positive_int("hidden_size", hidden_size)
        check_rate("dropout", dropout)
        blocks_channels = _check_channels(channels)
        coords = tuple(coords)
        if len(coords) == 0 or any(
            not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < in_features
            for c in coords
        ):
            raise ValueError(f"coords must be column indices in [0, {in_features}), got {coords}")
        keys = jax.random.split(key, len(blocks_channels) + 2)
        blocks = []
        width = in_features
        for block_channels, bk in zip(blocks_channels, keys[:-2], strict=True):
            blocks.append(_EdgeConv(width, block_channels, k, key=bk))
            width = block_channels[-1]
        self.blocks = tuple(blocks)
        self.fc = eqx.nn.Linear(width, hidden_size, key=keys[-2])
        self.out = eqx.nn.Linear(hidden_size, num_classes, key=keys[-1])
        self.dropout = eqx.nn.Dropout(dropout)
        self.in_features = in_features
        self.num_classes = num_classes
        self.k = k
        self.coords = coords

    def __check_init__(self):
        if self.out.out_features != self.num_classes:
            raise ValueError("output width does not match num_classes")
        if self.blocks[0].shortcut.in_features != self.in_features:
            raise ValueError("first block input width does not match in_features")

    def embed(self, x: Float[Array, "n f"], mask: Bool[Array, " n"]) -> Float[Array, "n c"]:
        """Per-particle features after the last EdgeConv block (padded rows are 0)."""
        self._check_inputs(x, mask)
        n = x.shape[0]
        if n <= self.k:
            raise ValueError(f"x must have more than k={self.k} rows (slots), got {n}")
        h = jnp.where(mask[:, None], x, 0.0)
        c = h[:, jnp.asarray(self.coords)]
        for block in self.blocks:
            h = block(h, c, mask)
            c = h
        return h

    def __call__(
        self,
        x: Float[Array, "n f"],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " c"]:
        r"""Logits for one set; ``key`` is needed only when dropout is active.

        Args:
            x: ``(n, f)`` per-particle features; the columns ``coords`` (default the first
                two, e.g. $\Delta\eta$, $\Delta\phi$) span the first block's kNN graph.
            mask: ``(n,)`` true on the real particles; padded ones are never neighbours.
            key: PRNG key for dropout (``None`` at inference).
        """
        (kd,) = split_key(key, 1)
        pooled = masked_mean(self.embed(x, mask), mask)
        hidden = jax.nn.relu(linear(self.fc, pooled[None]))[0]
        return self.out(self.dropout(hidden, key=kd))
