r"""The set-classifier interface and a particle transformer.

A set classifier maps one padded set ``x: (n, in_features)`` with ``mask: (n,)``
to ``num_classes`` logits, is invariant to permutations of the real elements,
and ignores the padded rows exactly (content and length). (The set encoders
:class:`~hepjax.nn.DeepSets` and :class:`~hepjax.nn.SetTransformer` serve as
classifiers too, with ``out_features`` logits.) Batch with
``jax.vmap(model)(x, mask)``; train with e.g.
``optax.softmax_cross_entropy_with_integer_labels``.
"""

import abc

import equinox as eqx
import jax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._core import check_positive_int, masked_mean
from ._attention import check_set_inputs
from ._layers import check_rate, gelu, linear, split_key
from ._transformer import TransformerEncoder


class AbstractSetClassifier(eqx.Module):
    """A model ``(x: (n, in_features), mask: (n,)) -> logits: (num_classes,)``.

    Subclasses implement ``__call__``; the input checks are shared here.
    """

    in_features: eqx.AbstractVar[int]
    num_classes: eqx.AbstractVar[int]

    def _check_inputs(self, x: Array, mask: Array) -> None:
        check_set_inputs(x, mask, self.in_features)

    @abc.abstractmethod
    def __call__(
        self,
        x: Float[Array, "n f"],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " c"]:
        """Logits of the set ``x`` (real elements where ``mask`` is true).

        Args:
            x: ``(n, f)`` features of the set's elements, padded to ``n`` rows.
            mask: ``(n,)`` true on the real elements; the logits do not depend on the padded rows.
            key: PRNG key for dropout, needed only when dropout is active (training).
        """


def _mlp(sizes: list[int], key: PRNGKeyArray) -> tuple[eqx.nn.Linear, ...]:
    keys = jax.random.split(key, len(sizes) - 1)
    return tuple(
        eqx.nn.Linear(a, b, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
    )


def _apply_mlp(layers: tuple[eqx.nn.Linear, ...], x: Array) -> Array:
    """Linear layers with GELU between them (none after the last)."""
    for i, layer in enumerate(layers):
        x = linear(layer, x)
        if i < len(layers) - 1:
            x = gelu(x)
    return x


class ParticleTransformerClassifier(AbstractSetClassifier):
    r"""Transformer classifier for particle sets (a simplified ParT).

    $$
    e_i = \mathrm{MLP}_{\mathrm{embed}}(x_i),\quad
    h = \mathrm{Encoder}_m(e),\quad
    \bar h = \frac{1}{|m|}\sum_{i: m_i} h_i,\quad
    \mathrm{logits} = \mathrm{MLP}_{\mathrm{head}}(\bar h),
    $$

    with the pre-LN masked encoder of
    [`TransformerEncoder`][hepjax.nn.TransformerEncoder], two-layer GELU MLPs
    ``in_features -> hidden_size -> hidden_size`` (embedding) and
    ``hidden_size -> hidden_size -> num_classes`` (head), and masked mean pooling.

    Compared with the Particle Transformer (Qu, Li & Qian 2022,
    arXiv:2202.03772) this omits the pairwise interaction features and the
    class-attention blocks: the particle-attention stack is the same kind of
    masked pre-LN encoder, and pooling is a masked mean.

    Example:
        ```python
        import jax, jax.numpy as jnp
        from hepjax.nn import ParticleTransformerClassifier

        model = ParticleTransformerClassifier(
            4, 2, hidden_size=32, num_heads=4, num_layers=2, key=jax.random.key(0)
        )
        x = jnp.ones((8, 16, 4))
        mask = jnp.arange(16) < jnp.arange(1, 9)[:, None]
        logits = jax.vmap(model)(x, mask)  # (8, 2)
        ```
    """

    embed: tuple[eqx.nn.Linear, ...]
    encoder: TransformerEncoder
    head: tuple[eqx.nn.Linear, ...]
    dropout: eqx.nn.Dropout
    in_features: int = eqx.field(static=True)
    num_classes: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        hidden_size: int = 128,
        num_heads: int = 8,
        num_layers: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """Build the module (PRNG ``key`` is keyword-only).

        Args:
            in_features: features per particle.
            num_classes: number of logits returned.
            hidden_size: width of the embedding and the encoder.
            num_heads: attention heads; must divide ``hidden_size``.
            num_layers: encoder layers.
            mlp_ratio: encoder MLP hidden width is ``mlp_ratio * hidden_size``.
            dropout: dropout in the encoder and before the head (0 disables it).
            key: PRNG key for the initialisation (keyword-only).
        """
        check_positive_int("in_features", in_features)
        check_positive_int("num_classes", num_classes)
        check_positive_int("hidden_size", hidden_size)
        check_rate("dropout", dropout)
        ke, kt, kh = jax.random.split(key, 3)
        self.embed = _mlp([in_features, hidden_size, hidden_size], ke)
        self.encoder = TransformerEncoder(
            hidden_size, num_heads, num_layers, mlp_ratio=mlp_ratio, dropout=dropout, key=kt
        )
        self.head = _mlp([hidden_size, hidden_size, num_classes], kh)
        self.dropout = eqx.nn.Dropout(dropout)
        self.in_features = in_features
        self.num_classes = num_classes
        self.hidden_size = hidden_size

    def __check_init__(self):
        if self.encoder.hidden_size != self.hidden_size:
            raise ValueError(
                f"encoder width {self.encoder.hidden_size} != hidden_size {self.hidden_size}"
            )
        if self.embed[0].in_features != self.in_features:
            raise ValueError("embedding input width does not match in_features")
        if self.head[-1].out_features != self.num_classes:
            raise ValueError("head output width does not match num_classes")

    def __call__(
        self,
        x: Float[Array, "n f"],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " c"]:
        """Logits for one set; ``key`` is needed only when dropout is active.

        Args:
            x: ``(n, f)`` per-particle features, padded to ``n`` rows.
            mask: ``(n,)`` true on the real particles.
            key: PRNG key for dropout (``None`` at inference).
        """
        self._check_inputs(x, mask)
        kt, kd = split_key(key, 2)
        h = self.encoder(_apply_mlp(self.embed, x), mask, key=kt)
        pooled = masked_mean(h, mask)
        return _apply_mlp(self.head, self.dropout(pooled, key=kd)[None])[0]
