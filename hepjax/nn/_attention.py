r"""Masked multi-head self-attention over a padded set.

For a set $x \in \mathbb{R}^{n \times d}$ with mask $m \in \{0,1\}^n$ and $H$
heads of width $d_h = d/H$ (Vaswani et al. 2017, "Attention is all you need",
arXiv:1706.03762):

$$
[Q\,|\,K\,|\,V] = x W_{qkv}^\top + b_{qkv},\qquad
A^{(h)}_{ij} = \frac{m_j \exp\big(Q^{(h)}_i \cdot K^{(h)}_j/\sqrt{d_h}\big)}
                    {\sum_{l} m_l \exp\big(Q^{(h)}_i \cdot K^{(h)}_l/\sqrt{d_h}\big)},
$$
$$
\mathrm{MHA}(x)_i = \big[\textstyle\sum_j A^{(1)}_{ij} V^{(1)}_j \,|\, \dots \,|\,
                    \sum_j A^{(H)}_{ij} V^{(H)}_j\big] W_o^\top + b_o .
$$

Padded keys get exactly zero weight, so every real row of the output is
independent of the padding content and length, and permuting the real
elements permutes the output rows (permutation equivariance). Padded query
rows still produce (finite, meaningless) outputs; the encoder zeroes them.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._core import check_dtype, check_positive_int, check_shape, masked_softmax
from ._layers import check_heads, check_rate, linear


def check_set_inputs(x: Array, mask: Array, features: int, *, name: str = "x") -> None:
    """Trace-time checks shared by every set model: ``x: (n, features)``, ``mask: (n,)``."""
    check_shape(name, x, (None, features))
    check_dtype(name, x, "float")
    check_shape("mask", mask, (x.shape[0],))
    check_dtype("mask", mask, "bool")


class MaskedMultiheadAttention(eqx.Module):
    r"""Multi-head self-attention that never attends to padded elements.

    Acts on a single padded set ``x: (n, hidden_size)`` with ``mask: (n,)``; batch
    with ``jax.vmap``. The query, key and value projections are one fused
    ``(3 hidden_size, hidden_size)`` matrix, so each call is one GEMM for the
    projections, two batched GEMMs for the attention, and one for the output.

    Attributes:
        qkv: fused input projection ``Linear(hidden_size, 3 hidden_size)``; output
            columns are ``[Q | K | V]``, each split into ``num_heads`` heads.
        out: output projection ``Linear(hidden_size, hidden_size)``.
        dropout: dropout on the attention weights (inactive for ``p = 0`` or
            under ``eqx.nn.inference_mode``).
    """

    qkv: eqx.nn.Linear
    out: eqx.nn.Linear
    dropout: eqx.nn.Dropout
    hidden_size: int = eqx.field(static=True)
    num_heads: int = eqx.field(static=True)

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        *,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """Build the module (PRNG ``key`` is keyword-only).

        Args:
            hidden_size: feature width $d$ of the set elements.
            num_heads: number of heads $H$; must divide ``hidden_size``.
            dropout: dropout probability on the attention weights.
            key: PRNG key for the initialisation (keyword-only).
        """
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("num_heads", num_heads)
        check_heads(hidden_size, num_heads)
        check_rate("dropout", dropout)
        kqkv, kout = jax.random.split(key)
        self.qkv = eqx.nn.Linear(hidden_size, 3 * hidden_size, key=kqkv)
        self.out = eqx.nn.Linear(hidden_size, hidden_size, key=kout)
        self.dropout = eqx.nn.Dropout(dropout)
        self.hidden_size = hidden_size
        self.num_heads = num_heads

    def __check_init__(self):
        check_heads(self.hidden_size, self.num_heads)

    def _project(self, x: Float[Array, "n d"]) -> tuple[Array, Array, Array]:
        n = x.shape[0]
        dh = self.hidden_size // self.num_heads
        qkv = linear(self.qkv, x).reshape(n, 3, self.num_heads, dh)
        return qkv[:, 0], qkv[:, 1], qkv[:, 2]

    def _weights(
        self, q: Float[Array, "n h c"], k: Float[Array, "n h c"], mask: Bool[Array, " n"]
    ) -> Float[Array, "h n n"]:
        scale = 1.0 / math.sqrt(q.shape[-1])
        logits = jnp.einsum("qhc,khc->hqk", q * scale, k)
        return masked_softmax(logits, jnp.broadcast_to(mask, logits.shape))

    def attention_weights(
        self, x: Float[Array, "n d"], mask: Bool[Array, " n"]
    ) -> Float[Array, "h n n"]:
        """The attention matrices $A^{(h)}_{ij}$ (rows: queries, columns: keys).

        Columns of padded keys are exactly zero; each row sums to one over the
        real keys (all zeros if the set is empty).
        """
        check_set_inputs(x, mask, self.hidden_size)
        q, k, _ = self._project(x)
        return self._weights(q, k, mask)

    def __call__(
        self,
        x: Float[Array, "n d"],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, "n d"]:
        """Self-attention of the set ``x`` restricted to the keys where ``mask`` is true.

        Args:
            x: padded set, ``(n, hidden_size)``.
            mask: ``True`` for real elements, ``(n,)``.
            key: PRNG key for attention dropout; needed only when dropout is active.
        """
        check_set_inputs(x, mask, self.hidden_size)
        n = x.shape[0]
        q, k, v = self._project(x)
        w = self.dropout(self._weights(q, k, mask), key=key)
        o = jnp.einsum("hqk,khc->qhc", w, v).reshape(n, self.hidden_size)
        return linear(self.out, o)
