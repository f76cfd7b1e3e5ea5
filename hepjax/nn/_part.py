r"""The Particle Transformer (ParT) of Qu, Li & Qian 2022, arXiv:2202.03772.

For one jet of $n$ particles with features $x_i$, four-momenta $p_i$ and mask
$m_i$:

1. **Particle embedding** (three ``LayerNorm -> Linear -> GELU`` layers, widths
   $d, 4d, d$ with $d$ = ``embed_size``): $h^{(0)}_i = \mathrm{MLP}(x_i)$.
2. **Interaction embedding**: the pair features
   $u_{ij} = (\ln k_T, \ln z, \ln\Delta, \ln m^2)$ of
   [`pair_features`][hepjax.physics.pair_features], a learned per-feature
   affine map (in place of ParT's input BatchNorm, so the model has no
   running statistics), then a pointwise MLP ``4 -> 64 -> 64 -> 64 -> H``
   with GELU: $U_{ij} \in \mathbb{R}^H$, one bias per head. The features are
   symmetric, $u_{ij} = u_{ji}$, so the MLP runs on the $n(n+1)/2$ pairs
   $i \le j$ only, as the reference's ``PairEmbed`` does.
3. **Particle attention blocks** ($L$ = ``num_layers``), pre-LN with ParT's
   extra norms:
   $$
   a = h + \mathrm{LN}\big(\mathrm{P\text{-}MHA}(\mathrm{LN}(h), U)\big),\qquad
   h' = a + W_2\,\mathrm{LN}\big(\mathrm{GELU}(W_1\,\mathrm{LN}(a))\big),
   $$
   where P-MHA adds $U^{(h)}_{ij}$ to the attention logits of head $h$:
   $\mathrm{softmax}_j\big(Q_i\cdot K_j/\sqrt{d_h} + U^{(h)}_{ij}\big)$ over
   the real keys $j$.
4. **Class attention blocks** (``num_class_layers``): a learned class token
   $c$ attends to $[c, h_1, \dots, h_n]$ (no pair bias), with the same block
   structure, CaiT-style (Touvron et al. 2021, arXiv:2103.17239).
5. **Head**: $\mathrm{logits} = W\,\mathrm{LN}(c)$.

Padded particles are never attended to, their pair biases are masked with
them, and their output rows are zero, so the jet embedding and the real rows
are exactly independent of the padding (content and length).
Reference code: jet-universe/particle_transformer
(``networks/ParticleTransformer``, ``weaver/nn/model/ParticleTransformer.py``);
this is an independent implementation. Differences: LayerNorm-free affine
input normalisation of the pair features instead of BatchNorm, the class-block
query is the normalised class token, and dropout defaults to 0.
"""

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._core import check_dtype, check_positive_int, check_shape, is_concrete, masked_softmax
from ..physics import pair_features
from ._attention import MaskedMultiheadAttention, check_set_inputs
from ._layers import check_heads, check_rate, gelu, layer_norm, linear, split_key


def _attend(
    attention: MaskedMultiheadAttention,
    queries: Float[Array, "q d"],
    inputs: Float[Array, "n d"],
    mask: Bool[Array, " n"],
    bias: Float[Array, "h q n"] | None,
    key: PRNGKeyArray | None,
) -> Float[Array, "q d"]:
    """Multi-head attention of ``queries`` over ``inputs`` with an additive logit bias."""
    d, heads = attention.hidden_size, attention.num_heads
    dh = d // heads
    w = attention.qkv.weight
    b = attention.qkv.bias
    q = (queries @ w[:d].T + b[:d]).reshape(queries.shape[0], heads, dh)
    kv = (inputs @ w[d:].T + b[d:]).reshape(inputs.shape[0], 2, heads, dh)
    k, v = kv[:, 0], kv[:, 1]
    logits = jnp.einsum("qhc,khc->hqk", q * (1.0 / math.sqrt(dh)), k)
    if bias is not None:
        logits = logits + bias
    weights = masked_softmax(logits, jnp.broadcast_to(mask, logits.shape))
    weights = attention.dropout(weights, key=key)
    out = jnp.einsum("hqk,khc->qhc", weights, v).reshape(queries.shape[0], d)
    return linear(attention.out, out)


@functools.cache
def _symmetric_unpack(n: int):
    """``u: (n(n+1)/2, H)`` on the pairs ``i <= j`` (``np.triu_indices``) -> ``(n, n, H)``.

    A gather; its derivative is written out: the cotangent $G$ of the full
    matrix maps to $G_{ij} + G_{ji}$ on each pair $i < j$ and $G_{ii}$ on the
    diagonal, a transpose and a gather, where JAX's own derivative of the
    gather is a scatter-add (slower on CPUs: the ParT training step is about
    10% faster this way).
    """
    rows, cols = np.triu_indices(n)
    index = np.zeros((n, n), np.int32)
    index[rows, cols] = index[cols, rows] = np.arange(rows.size, dtype=np.int32)
    half_on_diagonal = np.where(rows == cols, 0.5, 1.0).astype(np.float32)[:, None]

    @jax.custom_vjp
    def unpack(u):
        return u[index]

    def forward(u):
        return u[index], None

    def backward(_, g):
        return ((g + jnp.swapaxes(g, 0, 1))[rows, cols] * half_on_diagonal.astype(g.dtype),)

    unpack.defvjp(forward, backward)
    return unpack


class _Block(eqx.Module):
    """One ParT block (particle or class attention); see the module notes."""

    pre_attn_norm: eqx.nn.LayerNorm
    attention: MaskedMultiheadAttention
    post_attn_norm: eqx.nn.LayerNorm
    pre_fc_norm: eqx.nn.LayerNorm
    fc1: eqx.nn.Linear
    post_fc_norm: eqx.nn.LayerNorm
    fc2: eqx.nn.Linear
    dropout: eqx.nn.Dropout

    def __init__(self, size: int, num_heads: int, ratio: int, dropout: float, *, key):
        ka, k1, k2 = jax.random.split(key, 3)
        self.pre_attn_norm = eqx.nn.LayerNorm(size)
        self.attention = MaskedMultiheadAttention(size, num_heads, dropout=dropout, key=ka)
        self.post_attn_norm = eqx.nn.LayerNorm(size)
        self.pre_fc_norm = eqx.nn.LayerNorm(size)
        self.fc1 = eqx.nn.Linear(size, ratio * size, key=k1)
        self.post_fc_norm = eqx.nn.LayerNorm(ratio * size)
        self.fc2 = eqx.nn.Linear(ratio * size, size, key=k2)
        self.dropout = eqx.nn.Dropout(dropout)

    def _ffn(self, a: Array, key) -> Array:
        z = gelu(linear(self.fc1, layer_norm(self.pre_fc_norm, a)))
        return a + self.dropout(linear(self.fc2, layer_norm(self.post_fc_norm, z)), key=key)

    def particles(self, h: Array, mask: Array, bias: Array, key) -> Array:
        ka, kd, kf = split_key(key, 3)
        u = layer_norm(self.pre_attn_norm, h)
        a = _attend(self.attention, u, u, mask, bias, ka)
        a = h + self.dropout(layer_norm(self.post_attn_norm, a), key=kd)
        return self._ffn(a, kf)

    def cls(self, c: Array, h: Array, mask: Array, key) -> Array:
        ka, kd, kf = split_key(key, 3)
        u = layer_norm(self.pre_attn_norm, jnp.concatenate([c[None], h], axis=0))
        keys = jnp.concatenate([jnp.ones((1,), bool), mask])
        a = _attend(self.attention, u[:1], u, keys, None, ka)[0]
        a = c + self.dropout(layer_norm(self.post_attn_norm, a[None]), key=kd)[0]
        return self._ffn(a[None], kf)[0]


class ParticleTransformer(eqx.Module):
    r"""The Particle Transformer: particle attention with pairwise interaction biases.

    Acts on one jet: particle features ``x: (n, num_features)``, their
    four-momenta ``four_momenta: (n, 4)`` as $(E, p_x, p_y, p_z)$ in GeV (the
    pair features are computed from them inside the model) and ``mask: (n,)``.
    Batch with ``jax.vmap``. [`embed`][hepjax.nn.ParticleTransformer.embed]
    returns per-particle and per-jet embeddings for use as a backbone; calling
    the model returns class logits from the class token. The defaults are
    ParT's published sizes (embed 128, 8 heads, 8 particle blocks, 2 class
    blocks). See the module notes for the equations.

    Example:
        ```python
        import jax, jax.numpy as jnp
        from hepjax.nn import ParticleTransformer

        model = ParticleTransformer(
            num_features=3, embed_size=16, num_heads=2, num_layers=2, num_class_layers=1,
            num_classes=2, key=jax.random.key(0),
        )
        x = jnp.ones((10, 3))
        p4 = jnp.tile(jnp.array([10.0, 6.0, 0.0, 8.0]), (10, 1))
        mask = jnp.arange(10) < 7
        particles, jet = model.embed(x, p4, mask)  # (10, 16), (16,)
        logits = model(x, p4, mask)  # (2,)
        ```
    """

    embed_norms: tuple[eqx.nn.LayerNorm, ...]
    embed_layers: tuple[eqx.nn.Linear, ...]
    pair_scale: Float[Array, " 4"]
    pair_shift: Float[Array, " 4"]
    pair_layers: tuple[eqx.nn.Linear, ...]
    blocks: tuple[_Block, ...]
    class_blocks: tuple[_Block, ...]
    cls_token: Float[Array, " d"]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    num_features: int = eqx.field(static=True)
    embed_size: int = eqx.field(static=True)
    num_heads: int = eqx.field(static=True)
    num_layers: int = eqx.field(static=True)
    num_class_layers: int = eqx.field(static=True)
    num_classes: int = eqx.field(static=True)
    use_pairs: bool = eqx.field(static=True)
    pair_hidden_size: int = eqx.field(static=True)
    mlp_ratio: int = eqx.field(static=True)
    dropout: float = eqx.field(static=True)

    def __init__(
        self,
        num_features: int,
        *,
        embed_size: int = 128,
        num_heads: int = 8,
        num_layers: int = 8,
        num_class_layers: int = 2,
        num_classes: int = 10,
        pair_hidden_size: int = 64,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        use_pairs: bool = True,
        key: PRNGKeyArray,
    ):
        """Build the model (PRNG ``key`` is keyword-only).

        Args:
            num_features: features per particle.
            embed_size: width $d$ of the particle and class embeddings.
            num_heads: attention heads; must divide ``embed_size``.
            num_layers: particle attention blocks.
            num_class_layers: class attention blocks.
            num_classes: logits of the class-token head (JetClass: 10).
            pair_hidden_size: width of the pair-feature MLP (ParT: 64).
            mlp_ratio: the blocks' MLP width is ``mlp_ratio * embed_size``.
            dropout: dropout in the blocks (ParT trains with 0.1).
            use_pairs: add the pair-feature biases (``False`` gives ParT's
                "plain transformer" ablation).
            key: PRNG key for the initialisation (keyword-only).
        """
        for name, value in (
            ("num_features", num_features),
            ("embed_size", embed_size),
            ("num_heads", num_heads),
            ("num_layers", num_layers),
            ("num_class_layers", num_class_layers),
            ("num_classes", num_classes),
            ("pair_hidden_size", pair_hidden_size),
            ("mlp_ratio", mlp_ratio),
        ):
            check_positive_int(name, value)
        check_heads(embed_size, num_heads)
        check_rate("dropout", dropout)
        ke, kp, kb, kc, kt, kh = jax.random.split(key, 6)
        widths = (num_features, embed_size, mlp_ratio * embed_size, embed_size)
        self.embed_norms = tuple(eqx.nn.LayerNorm(w) for w in widths[:-1])
        self.embed_layers = tuple(
            eqx.nn.Linear(a, b, key=k)
            for a, b, k in zip(widths[:-1], widths[1:], jax.random.split(ke, 3), strict=True)
        )
        # ln-features span about +-20 (ln 1e-8 = -18.4): start at a quarter of that range.
        self.pair_scale = jnp.full((4,), 0.25, jnp.float32)
        self.pair_shift = jnp.zeros((4,), jnp.float32)
        pw = (4, pair_hidden_size, pair_hidden_size, pair_hidden_size, num_heads)
        self.pair_layers = tuple(
            eqx.nn.Linear(a, b, key=k)
            for a, b, k in zip(pw[:-1], pw[1:], jax.random.split(kp, 4), strict=True)
        )
        self.blocks = tuple(
            _Block(embed_size, num_heads, mlp_ratio, dropout, key=k)
            for k in jax.random.split(kb, num_layers)
        )
        self.class_blocks = tuple(
            _Block(embed_size, num_heads, mlp_ratio, dropout, key=k)
            for k in jax.random.split(kc, num_class_layers)
        )
        self.cls_token = 0.02 * jax.random.truncated_normal(kt, -2.0, 2.0, (embed_size,))
        self.norm = eqx.nn.LayerNorm(embed_size)
        self.head = eqx.nn.Linear(embed_size, num_classes, key=kh)
        self.num_features = num_features
        self.embed_size = embed_size
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.num_class_layers = num_class_layers
        self.num_classes = num_classes
        self.use_pairs = use_pairs
        self.pair_hidden_size = pair_hidden_size
        self.mlp_ratio = mlp_ratio
        self.dropout = dropout

    def config(self) -> dict:
        """The constructor arguments (without the key): ``ParticleTransformer(**config, key=k)``
        builds a freshly initialised model of the same architecture."""
        return dict(
            num_features=self.num_features,
            embed_size=self.embed_size,
            num_heads=self.num_heads,
            num_layers=self.num_layers,
            num_class_layers=self.num_class_layers,
            num_classes=self.num_classes,
            pair_hidden_size=self.pair_hidden_size,
            mlp_ratio=self.mlp_ratio,
            dropout=self.dropout,
            use_pairs=self.use_pairs,
        )

    def __check_init__(self):
        check_heads(self.embed_size, self.num_heads)
        if len(self.blocks) != self.num_layers or len(self.class_blocks) != self.num_class_layers:
            raise ValueError("the number of blocks does not match num_layers/num_class_layers")
        if self.head.out_features != self.num_classes:
            raise ValueError("head output width does not match num_classes")

    def _check(self, x: Array, four_momenta: Array, mask: Array) -> None:
        check_set_inputs(x, mask, self.num_features)
        check_shape("four_momenta", four_momenta, (x.shape[0], 4))
        check_dtype("four_momenta", four_momenta, "float")
        if is_concrete(mask) and not bool(jnp.any(mask)):
            raise ValueError("mask has no real particles: a jet needs at least one")

    def pair_bias(
        self, four_momenta: Float[Array, "n 4"], mask: Bool[Array, " n"]
    ) -> Float[Array, "h n n"]:
        r"""The per-head attention biases $U^{(h)}_{ij}$ (zero without ``use_pairs``)."""
        n = four_momenta.shape[0]
        if not self.use_pairs:
            return jnp.zeros((self.num_heads, n, n), four_momenta.dtype)
        p4 = jnp.where(mask[:, None], four_momenta, 0.0)
        # The four pair features are symmetric in (i, j): the MLP runs on the upper
        # triangle, diagonal included (n(n+1)/2 pairs instead of n^2, as ParT's
        # PairEmbed does), and the full matrix gathers from it.
        rows, cols = np.triu_indices(n)
        u = pair_features(p4)[rows, cols] * self.pair_scale + self.pair_shift
        for i, layer in enumerate(self.pair_layers):
            u = linear(layer, u)
            if i < len(self.pair_layers) - 1:
                u = gelu(u)
        return jnp.transpose(_symmetric_unpack(n)(u), (2, 0, 1))

    def embed(
        self,
        x: Float[Array, "n f"],
        four_momenta: Float[Array, "n 4"],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Float[Array, "n d"], Float[Array, " d"]]:
        """Per-particle embeddings (padded rows zero) and the jet embedding (the class token).

        Both pass through the final LayerNorm. ``key`` is needed only when
        dropout is active.

        Args:
            x: ``(n, F)`` particle features.
            four_momenta: ``(n, 4)`` particle four-momenta ``(E, px, py, pz)``, for the
                pair features.
            mask: ``(n,)`` the real particles (padded rows are ignored).
            key: PRNG key for dropout (``None``: inference).
        """
        self._check(x, four_momenta, mask)
        kb, kc = split_key(key, 2)
        h = jnp.where(mask[:, None], x, 0.0)
        for norm, layer in zip(self.embed_norms, self.embed_layers, strict=True):
            h = gelu(linear(layer, layer_norm(norm, h)))
        bias = self.pair_bias(four_momenta, mask)
        for block, k in zip(self.blocks, split_key(kb, self.num_layers), strict=True):
            h = block.particles(h, mask, bias, k)
        c = self.cls_token
        for block, k in zip(self.class_blocks, split_key(kc, self.num_class_layers), strict=True):
            c = block.cls(c, h, mask, k)
        particles = jnp.where(mask[:, None], layer_norm(self.norm, h), 0.0)
        jet = layer_norm(self.norm, c[None])[0]
        return particles, jet

    def __call__(
        self,
        x: Float[Array, "n f"],
        four_momenta: Float[Array, "n 4"],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " c"]:
        """Class logits of one jet from the class token.

        Args:
            x: ``(n, F)`` particle features.
            four_momenta: ``(n, 4)`` particle four-momenta ``(E, px, py, pz)``, for the
                pair features.
            mask: ``(n,)`` the real particles (padded rows are ignored).
            key: PRNG key for dropout (``None``: inference).
        """
        _, jet = self.embed(x, four_momenta, mask, key=key)
        return linear(self.head, jet[None])[0]
