r"""Pre-LayerNorm transformer encoder for padded particle sets.

One layer (pre-LN, Xiong et al. 2020, arXiv:2002.04745; the attention block of
Vaswani et al. 2017, arXiv:1706.03762):

$$
h = x + \mathrm{Drop}\big(\mathrm{MHA}_m(\mathrm{LN}_1(x))\big),\qquad
y = h + \mathrm{Drop}\big(W_2\,\mathrm{GELU}(W_1 \mathrm{LN}_2(h) + b_1) + b_2\big),
$$

with $\mathrm{MHA}_m$ the masked attention of
[`MaskedMultiheadAttention`][hepjax.nn.MaskedMultiheadAttention] and
$W_1 \in \mathbb{R}^{r d \times d}$ ($r$ = ``mlp_ratio``). Every operation
except the attention acts on each element separately, so the encoder is
permutation equivariant and its real rows are independent of the padding.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._core import check_positive_int
from ._attention import MaskedMultiheadAttention, check_set_inputs
from ._layers import (
    check_heads,
    check_rate,
    gelu,
    layer_norm,
    linear,
    split_key,
)


class TransformerEncoderLayer(eqx.Module):
    """One pre-LayerNorm encoder layer: masked self-attention, then a GELU MLP.

    Acts on one padded set ``x: (n, hidden_size)`` with ``mask: (n,)``.
    """

    norm1: eqx.nn.LayerNorm
    attention: MaskedMultiheadAttention
    norm2: eqx.nn.LayerNorm
    mlp_in: eqx.nn.Linear
    mlp_out: eqx.nn.Linear
    dropout: eqx.nn.Dropout
    hidden_size: int = eqx.field(static=True)
    num_heads: int = eqx.field(static=True)
    mlp_ratio: int = eqx.field(static=True)

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        *,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """Build the module (PRNG ``key`` is keyword-only).

        Args:
            hidden_size: feature width $d$.
            num_heads: attention heads; must divide ``hidden_size``.
            mlp_ratio: hidden width of the MLP is ``mlp_ratio * hidden_size``.
            dropout: dropout probability on attention weights and both residual branches.
            key: PRNG key for the initialisation (keyword-only).
        """
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("num_heads", num_heads)
        check_positive_int("mlp_ratio", mlp_ratio)
        check_heads(hidden_size, num_heads)
        check_rate("dropout", dropout)
        ka, k1, k2 = jax.random.split(key, 3)
        self.norm1 = eqx.nn.LayerNorm(hidden_size)
        self.attention = MaskedMultiheadAttention(hidden_size, num_heads, dropout=dropout, key=ka)
        self.norm2 = eqx.nn.LayerNorm(hidden_size)
        self.mlp_in = eqx.nn.Linear(hidden_size, mlp_ratio * hidden_size, key=k1)
        self.mlp_out = eqx.nn.Linear(mlp_ratio * hidden_size, hidden_size, key=k2)
        self.dropout = eqx.nn.Dropout(dropout)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio

    def __check_init__(self):
        check_heads(self.hidden_size, self.num_heads)
        if self.attention.hidden_size != self.hidden_size:
            raise ValueError(
                f"attention width {self.attention.hidden_size} != hidden_size {self.hidden_size}"
            )

    def __call__(
        self,
        x: Float[Array, "n d"],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, "n d"]:
        """Apply the layer; ``key`` is needed only when dropout is active.

        Args:
            x: ``(n, d)`` token features, padded to ``n`` rows.
            mask: ``(n,)`` true on the real tokens; padded tokens are never attended to.
            key: PRNG key for dropout, needed only when dropout is active.
        """
        check_set_inputs(x, mask, self.hidden_size)
        ka, k1, k2 = split_key(key, 3)
        h = x + self.dropout(self.attention(layer_norm(self.norm1, x), mask, key=ka), key=k1)
        z = linear(self.mlp_out, gelu(linear(self.mlp_in, layer_norm(self.norm2, h))))
        return h + self.dropout(z, key=k2)


class TransformerEncoder(eqx.Module):
    """A stack of pre-LN encoder layers followed by a final LayerNorm.

    Padded rows of the output are set to zero, so the whole output (not only
    its real rows) is invariant to the padding content.
    """

    layers: tuple[TransformerEncoderLayer, ...]
    norm: eqx.nn.LayerNorm
    hidden_size: int = eqx.field(static=True)

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        num_layers: int,
        *,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """Build the module (PRNG ``key`` is keyword-only).

        Args:
            hidden_size: feature width.
            num_heads: attention heads per layer; must divide ``hidden_size``.
            num_layers: number of encoder layers.
            mlp_ratio: MLP hidden width is ``mlp_ratio * hidden_size``.
            dropout: dropout probability inside every layer.
            key: PRNG key for the initialisation (keyword-only).
        """
        check_positive_int("num_layers", num_layers)
        keys = jax.random.split(key, num_layers)
        self.layers = tuple(
            TransformerEncoderLayer(
                hidden_size, num_heads, mlp_ratio=mlp_ratio, dropout=dropout, key=k
            )
            for k in keys
        )
        self.norm = eqx.nn.LayerNorm(hidden_size)
        self.hidden_size = hidden_size

    def __check_init__(self):
        if len(self.layers) == 0:
            raise ValueError("TransformerEncoder needs at least one layer")
        widths = {layer.hidden_size for layer in self.layers}
        if widths != {self.hidden_size}:
            raise ValueError(f"all layers must have hidden_size={self.hidden_size}, got {widths}")

    def __call__(
        self,
        x: Float[Array, "n d"],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, "n d"]:
        """Encode the set; padded output rows are zero.

        Args:
            x: ``(n, d)`` token features, padded to ``n`` rows.
            mask: ``(n,)`` true on the real tokens.
            key: PRNG key for dropout, needed only when dropout is active.
        """
        check_set_inputs(x, mask, self.hidden_size)
        for layer, k in zip(self.layers, split_key(key, len(self.layers)), strict=True):
            x = layer(x, mask, key=k)
        return jnp.where(mask[:, None], layer_norm(self.norm, x), 0.0)
