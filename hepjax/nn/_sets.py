r"""Set encoders: one padded set ``(x, mask)`` to one feature vector.

Both encoders map a set ``x: (n, in_features)`` with ``mask: (n,)`` (padding
rows hold any finite value) to ``(out_features,)`` numbers: logits when used
as a classifier, a summary when used as the embedding of an estimator (e.g.
the ``embedding=`` of the :mod:`hepjax.sbi` estimators over event ensembles).
They are exactly invariant to permutations of the real elements and to the
padding (its content and length): padded rows are replaced by zeros on entry
and then never reach the pooling.

- :class:`DeepSets`: $\rho\big(\bigoplus_{i: m_i} \phi(x_i)\big)$ (Zaheer et
  al. 2017, arXiv:1703.06114).
- :class:`SetTransformer`: masked self-attention blocks, then pooling by
  multi-head attention of a learned seed (PMA; Lee et al. 2019, "Set
  Transformer", arXiv:1810.00825).

With ``with_size=True`` the log size $\log|m|$ of the set is an input of
$\rho$ next to the pooled features, so a mean-pooled model still knows how
many elements there were (a posterior tightens with the number of events).
An optional per-element ``encoder`` (e.g. a :class:`~hepjax.nn.CNNEncoder`
on images) maps each element of ``x: (n, *element_shape)`` to
``(in_features,)`` first and is trained jointly (Heinrich et al. 2023,
arXiv:2306.12584, use deep sets and transformers over ensembles of images).
Batch with ``jax.vmap(model)(x, mask)``.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._core import (
    check_choice,
    check_dtype,
    check_positive_int,
    check_shape,
    masked_count,
    masked_mean,
    masked_sum,
)
from ._attention import check_set_inputs
from ._layers import check_heads, linear
from ._transformer import TransformerEncoder


def _elements(
    name: str, x: Array, mask: Array, encoder: Callable | None, in_features: int
) -> Float[Array, "n f"]:
    """Check one set, zero its padding and encode every element to ``(in_features,)``."""
    if encoder is None:
        check_set_inputs(x, mask, in_features)
        return jnp.where(mask[:, None], x, 0)
    check_dtype("x", x, "float")
    check_dtype("mask", mask, "bool")
    if np.ndim(x) < 2:
        raise ValueError(f"{name} takes one set x of shape (n, *element_shape), got {x.shape}")
    check_shape("mask", mask, (x.shape[0],))
    x = jnp.where(mask.reshape(mask.shape + (1,) * (x.ndim - 1)), x, 0)
    h = jax.vmap(encoder)(x)
    if h.ndim != 2 or h.shape[1] != in_features:
        raise ValueError(
            f"{name}: the encoder must map one element to ({in_features},) features, got "
            f"{h.shape[1:]}"
        )
    return h


def _head_input(pooled: Array, mask: Array, with_size: bool) -> Array:
    if not with_size:
        return pooled
    log_size = jnp.log(jnp.maximum(masked_count(mask), 1.0)).astype(pooled.dtype)
    return jnp.concatenate([pooled, log_size[None]])


class DeepSets(eqx.Module):
    r"""Deep Sets: $\rho\big(\bigoplus_{i: m_i} \phi(e(x_i))\ [, \log|m|]\big)$.

    $\phi$ and $\rho$ are ``eqx.nn.MLP``\ s with ``num_layers`` hidden layers
    of ``hidden_size`` units ($\phi$ ends with the activation too), $e$ the
    optional per-element ``encoder`` and $\bigoplus$ a masked mean
    (``pooling="mean"``) or sum (``"sum"``, the form of the Deep Sets
    theorem).

    Args:
        in_features: features per element (or the output size of ``encoder``).
        out_features: size of the output (logits or an embedding).
        hidden_size: width of $\phi$, of the pooled representation and of $\rho$.
        num_layers: hidden layers of $\phi$ and of $\rho$.
        pooling: ``"mean"`` or ``"sum"`` over the real elements.
        with_size: append $\log|m|$ to the pooled features.
        encoder: optional module mapping one element (any shape) to ``(in_features,)``.
        activation: the nonlinearity of the MLPs.
        key: PRNG key (keyword-only).

    Example:
        ```python
        import jax, jax.numpy as jnp
        from hepjax.nn import DeepSets

        model = DeepSets(3, 16, key=jax.random.key(0))
        x = jnp.ones((5, 3))
        mask = jnp.array([True, True, True, False, False])
        model(x, mask).shape  # (16,)
        ```
    """

    phi: eqx.nn.MLP
    rho: eqx.nn.MLP
    encoder: Callable | None
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    pooling: str = eqx.field(static=True)
    with_size: bool = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        hidden_size: int = 64,
        num_layers: int = 2,
        pooling: str = "mean",
        with_size: bool = True,
        encoder: Callable | None = None,
        activation: Callable = jax.nn.gelu,
        key: PRNGKeyArray,
    ):
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        hidden_size = check_positive_int("hidden_size", hidden_size)
        num_layers = check_positive_int("num_layers", num_layers)
        check_choice("pooling", pooling, ("mean", "sum"))
        kp, kr = jax.random.split(key)
        self.phi = eqx.nn.MLP(
            in_features,
            hidden_size,
            hidden_size,
            num_layers,
            activation,
            final_activation=activation,
            key=kp,
        )
        self.rho = eqx.nn.MLP(
            hidden_size + bool(with_size), out_features, hidden_size, num_layers, activation, key=kr
        )
        self.encoder = encoder
        self.pooling, self.with_size = pooling, bool(with_size)

    def __call__(
        self,
        x: Float[Array, "n ..."],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " out"]:
        """The output for one set (``mask`` true on the real elements); ``key`` is unused.

        Args:
            x: ``(n, ...)`` elements of the set, padded to ``n`` rows.
            mask: ``(n,)`` true on the real elements.
            key: unused; accepted so every set model has the same call signature.
        """
        del key
        h = _elements("DeepSets", x, mask, self.encoder, self.in_features)
        h = jax.vmap(self.phi)(h)
        pooled = (masked_mean if self.pooling == "mean" else masked_sum)(h, mask)
        return self.rho(_head_input(pooled, mask, self.with_size))


class SetTransformer(eqx.Module):
    r"""A set transformer: masked self-attention blocks, then attention pooling.

    $h = \mathrm{Enc}_m(W e(x_i) + b)$ is the pre-LN masked transformer
    encoder :class:`~hepjax.nn.TransformerEncoder` (``num_layers`` blocks of
    self-attention over the real elements), then pooling by multi-head
    attention (PMA, Lee et al. 2019, arXiv:1810.00825) of a learned seed
    $s$ over the real elements,

    $$
    p = \big[\mathrm{softmax}_{j: m_j}\big(s W_Q^{(k)} (h_j W_K^{(k)})^\top / \sqrt{d_k}\big)
        \, h W_V^{(k)}\big]_{k=1}^{H} W_O
    $$

    (``eqx.nn.MultiheadAttention`` with the mask on its keys), and the output
    is $\rho(p\ [, \log|m|])$ with $\rho$ a two-layer MLP. ``pooling="mean"``
    replaces the PMA by a masked mean. Padded elements get zero attention
    weight everywhere, so the output is invariant to the padding and to
    permutations.

    Args:
        in_features: features per element (or the output size of ``encoder``).
        out_features: size of the output.
        hidden_size: width of the encoder (and of the pooling and $\rho$).
        num_heads: attention heads (must divide ``hidden_size``).
        num_layers: encoder blocks.
        mlp_ratio: the encoder MLPs have ``mlp_ratio * hidden_size`` units.
        pooling: ``"attention"`` (PMA) or ``"mean"``.
        with_size: append $\log|m|$ to the pooled features.
        encoder: optional module mapping one element (any shape) to ``(in_features,)``.
        key: PRNG key (keyword-only).
    """

    embed: eqx.nn.Linear
    transformer: TransformerEncoder
    seed: Float[Array, "1 d"]
    pool: eqx.nn.MultiheadAttention
    rho: eqx.nn.MLP
    encoder: Callable | None
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    pooling: str = eqx.field(static=True)
    with_size: bool = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        hidden_size: int = 32,
        num_heads: int = 4,
        num_layers: int = 2,
        mlp_ratio: int = 2,
        pooling: str = "attention",
        with_size: bool = True,
        encoder: Callable | None = None,
        key: PRNGKeyArray,
    ):
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        hidden_size = check_positive_int("hidden_size", hidden_size)
        num_heads = check_positive_int("num_heads", num_heads)
        num_layers = check_positive_int("num_layers", num_layers)
        check_heads(hidden_size, num_heads)
        check_choice("pooling", pooling, ("attention", "mean"))
        ke, kt, ks, kp, kr = jax.random.split(key, 5)
        self.embed = eqx.nn.Linear(in_features, hidden_size, key=ke)
        self.transformer = TransformerEncoder(
            hidden_size, num_heads, num_layers, mlp_ratio=mlp_ratio, key=kt
        )
        self.seed = jax.random.normal(ks, (1, hidden_size)) / jnp.sqrt(hidden_size)
        self.pool = eqx.nn.MultiheadAttention(num_heads, hidden_size, key=kp)
        self.rho = eqx.nn.MLP(
            hidden_size + bool(with_size), out_features, hidden_size, 2, jax.nn.gelu, key=kr
        )
        self.encoder = encoder
        self.pooling, self.with_size = pooling, bool(with_size)

    def __call__(
        self,
        x: Float[Array, "n ..."],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " out"]:
        """The output for one set (``mask`` true on the real elements); ``key`` is unused.

        Args:
            x: ``(n, ...)`` elements of the set, padded to ``n`` rows.
            mask: ``(n,)`` true on the real elements.
            key: unused; accepted so every set model has the same call signature.
        """
        del key
        h = _elements("SetTransformer", x, mask, self.encoder, self.in_features)
        h = self.transformer(linear(self.embed, h), mask)
        if self.pooling == "mean":
            pooled = masked_mean(h, mask)
        else:
            pooled = self.pool(self.seed, h, h, mask[None, :])[0]
        return self.rho(_head_input(pooled, mask, self.with_size))
