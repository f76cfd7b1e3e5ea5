r"""Embedding networks for the ``embedding=`` option of the SBI estimators.

An embedding $e(x)$ maps one (z-scored) observation to a feature vector that
conditions the posterior, likelihood-ratio or vector-field network; it is
trained jointly with that network.

- :class:`MLPEmbedding`: an MLP for vector observations ``x: (dx,)``.
- :class:`DeepSetEmbedding`: a permutation-invariant deep set over an
  ensemble (Zaheer et al. 2017, arXiv:1703.06114),
  $e(X) = \rho\big(\tfrac1{|m|}\sum_{i: m_i} \phi(x_i),\ \log |m|\big)$.
- :class:`SetTransformerEmbedding`: a masked transformer encoder over the
  ensemble (:class:`hepjax.nn.TransformerEncoder`) pooled by multi-head
  attention with a learned seed (Lee et al. 2019, "Set Transformer",
  arXiv:1810.00825), $e(X) = \rho(\mathrm{PMA}(\mathrm{Enc}_m(W x)),\ \log|m|)$.

**Ensembles.** An observation made of events is a padded array
``x: (n, *event_shape)`` (``event_shape = (d,)`` for feature vectors,
``(h, w)`` for images, ...). Padded events are rows of NaN: this is how the
mask travels through ``fit``/``sample`` of :class:`~hepjax.sbi.NPE`,
:class:`~hepjax.sbi.FMPE` and :class:`~hepjax.sbi.NRE` with a training set
``x: (N, n, *event_shape)``, so the estimators need no extra argument. Called
directly, the set embeddings also take an explicit boolean mask,
``emb(x, mask)`` (the convention of :mod:`hepjax.nn`); without one the mask is
``~all(isnan(x_i))``. Both set embeddings are exactly invariant to
permutations of the real events and to the padding (content and length), and
an ensemble made entirely of padding is an error. The log ensemble size is
an input of $\rho$, so posteriors can tighten with the number of events.
An optional per-event ``encoder`` (e.g. a CNN on images) maps each event to
``in_features`` numbers before the set network (Heinrich et al. 2023,
arXiv:2306.12584, use deep sets and transformers over event ensembles).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import check_choice, masked_count, masked_mean, masked_softmax, masked_sum
from ..nn import TransformerEncoder

EMPTY_ENSEMBLE = "the ensemble is made entirely of padding (no real event): nothing to embed"


def _check_size(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def ensemble_mask(x: Float[ArrayLike, "n ..."]) -> Bool[Array, " n"]:
    """The real events of a NaN-padded ensemble: events that are not all NaN."""
    x = jnp.asarray(x)
    if x.ndim < 2:
        raise ValueError(
            f"an ensemble must have shape (n, *event_shape), e.g. (n, d), got shape {x.shape}"
        )
    return ~jnp.all(jnp.isnan(x.reshape(x.shape[0], -1)), axis=1)


def _set_inputs(x, mask, event_ndim, name) -> tuple[Array, Array]:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name}: x must be a float array, got dtype {x.dtype}")
    if x.ndim != 1 + event_ndim:
        raise ValueError(
            f"{name} takes one ensemble of shape (n, *event_shape) with {event_ndim} event "
            f"dimension(s), got shape {x.shape} (batch with jax.vmap)"
        )
    if mask is None:
        mask = ensemble_mask(x)
    else:
        mask = jnp.asarray(mask)
        if mask.shape != x.shape[:1] or mask.dtype != jnp.bool_:
            raise ValueError(
                f"{name}: mask must be a bool array of shape ({x.shape[0]},), got "
                f"{mask.dtype}{tuple(mask.shape)}"
            )
    if not isinstance(mask, jax.core.Tracer) and not bool(jnp.any(mask)):
        raise ValueError(f"{name}: {EMPTY_ENSEMBLE}")
    keep = mask.reshape(mask.shape + (1,) * event_ndim)
    return jnp.where(keep, x, 0.0), mask


def _encode(encoder, x, in_features, name):
    if encoder is None:
        return x.reshape(x.shape[0], -1)
    h = jax.vmap(encoder)(x)
    if h.ndim != 2 or h.shape[1] != in_features:
        raise ValueError(
            f"{name}: the encoder must map one event to ({in_features},) features, got "
            f"{h.shape[1:]}"
        )
    return h


def _finish(rho, pooled, mask):
    count = masked_count(mask)
    out = rho(jnp.concatenate([pooled, jnp.log(jnp.maximum(count, 1.0))[None]]))
    return eqx.error_if(out, count == 0, EMPTY_ENSEMBLE)


class MLPEmbedding(eqx.Module):
    """An MLP embedding of one vector observation ``x: (in_features,) -> (out_features,)``.

    Args:
        in_features: size of ``x``.
        out_features: size of the embedding.
        width: hidden width.
        depth: hidden layers.
        key: PRNG key (keyword-only).
    """

    mlp: eqx.nn.MLP
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        width: int = 64,
        depth: int = 2,
        key: PRNGKeyArray,
    ):
        for name, value in (
            ("in_features", in_features),
            ("out_features", out_features),
            ("width", width),
            ("depth", depth),
        ):
            _check_size(name, value)
        self.mlp = eqx.nn.MLP(in_features, out_features, width, depth, jax.nn.silu, key=key)
        self.in_features, self.out_features = in_features, out_features

    def __call__(self, x: Float[Array, " dx"]) -> Float[Array, " e"]:
        x = jnp.asarray(x)
        if x.shape != (self.in_features,):
            raise ValueError(
                f"MLPEmbedding takes one observation of shape ({self.in_features},), got "
                f"{x.shape}; for ensembles use DeepSetEmbedding or SetTransformerEmbedding"
            )
        return self.mlp(x)


class DeepSetEmbedding(eqx.Module):
    r"""A deep set over an ensemble: $\rho(\mathrm{pool}_{i: m_i} \phi(x_i), \log|m|)$.

    Args:
        in_features: features per event (the size of one flattened event, or
            the output size of ``encoder``).
        out_features: size of the embedding.
        width: width of $\phi$ (and of the pooled representation) and $\rho$.
        phi_depth: hidden layers of $\phi$.
        rho_depth: hidden layers of $\rho$.
        pooling: ``"mean"`` (default; the log size is a separate input) or ``"sum"``.
        encoder: optional module mapping one event (any shape) to ``(in_features,)``,
            trained jointly (e.g. a CNN on images).
        event_ndim: dimensions of one event (1 for feature vectors, 2 for images).
        key: PRNG key (keyword-only).

    Example:
        ```python
        import jax, jax.numpy as jnp
        from hepjax import sbi

        emb = sbi.DeepSetEmbedding(2, 16, key=jax.random.key(0))
        x = jnp.ones((5, 2)).at[3:].set(jnp.nan)  # 3 events, 2 padding rows
        emb(x).shape  # (16,)
        ```
    """

    phi: eqx.nn.MLP
    rho: eqx.nn.MLP
    encoder: eqx.Module | None
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    pooling: str = eqx.field(static=True)
    event_ndim: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        width: int = 64,
        phi_depth: int = 2,
        rho_depth: int = 2,
        pooling: str = "mean",
        encoder: eqx.Module | None = None,
        event_ndim: int = 1,
        key: PRNGKeyArray,
    ):
        for name, value in (
            ("in_features", in_features),
            ("out_features", out_features),
            ("width", width),
            ("phi_depth", phi_depth),
            ("rho_depth", rho_depth),
            ("event_ndim", event_ndim),
        ):
            _check_size(name, value)
        check_choice("pooling", pooling, ("mean", "sum"))
        kp, kr = jax.random.split(key)
        self.phi = eqx.nn.MLP(in_features, width, width, phi_depth, jax.nn.silu, key=kp)
        self.rho = eqx.nn.MLP(width + 1, out_features, width, rho_depth, jax.nn.silu, key=kr)
        self.encoder = encoder
        self.in_features, self.out_features = in_features, out_features
        self.pooling, self.event_ndim = pooling, event_ndim

    def __call__(
        self, x: Float[ArrayLike, "n ..."], mask: Bool[ArrayLike, " n"] | None = None
    ) -> Float[Array, " e"]:
        """Embed one ensemble ``x: (n, *event_shape)`` (NaN rows or ``mask`` mark padding)."""
        x, mask = _set_inputs(x, mask, self.event_ndim, "DeepSetEmbedding")
        h = _encode(self.encoder, x, self.in_features, "DeepSetEmbedding")
        if h.shape[1] != self.in_features:
            raise ValueError(
                f"DeepSetEmbedding expects events with {self.in_features} features, got "
                f"{h.shape[1]}"
            )
        h = jax.nn.silu(jax.vmap(self.phi)(h))
        pooled = (masked_mean if self.pooling == "mean" else masked_sum)(h, mask)
        return _finish(self.rho, pooled, mask)


class SetTransformerEmbedding(eqx.Module):
    r"""A masked set transformer over an ensemble, pooled by attention to a learned seed.

    $h = \mathrm{Enc}_m(W x_i + b)$ (pre-LN masked self-attention,
    :class:`hepjax.nn.TransformerEncoder`), then pooling by multi-head
    attention (PMA) of a learned seed $s$ over the real events,
    $p = \mathrm{softmax}_m\big((s W_Q)(h W_K)^\top/\sqrt{d_h}\big)\, h W_V$
    per head, and $e = \rho(p, \log|m|)$. Padded events get zero attention
    weight, so the output is invariant to the padding and to permutations.

    Args:
        in_features: features per event (or the output size of ``encoder``).
        out_features: size of the embedding.
        d_model: width of the encoder.
        num_heads: attention heads (must divide ``d_model``).
        num_layers: encoder layers.
        mlp_ratio: encoder MLP width is ``mlp_ratio * d_model``.
        pooling: ``"attention"`` (PMA, default) or ``"mean"``.
        encoder: optional per-event module to ``(in_features,)``.
        event_ndim: dimensions of one event.
        key: PRNG key (keyword-only).
    """

    embed: eqx.nn.Linear
    transformer: TransformerEncoder
    seed: Float[Array, " d"]
    pool_qkv: eqx.nn.Linear
    rho: eqx.nn.MLP
    encoder: eqx.Module | None
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    num_heads: int = eqx.field(static=True)
    pooling: str = eqx.field(static=True)
    event_ndim: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        d_model: int = 32,
        num_heads: int = 4,
        num_layers: int = 2,
        mlp_ratio: int = 2,
        pooling: str = "attention",
        encoder: eqx.Module | None = None,
        event_ndim: int = 1,
        key: PRNGKeyArray,
    ):
        for name, value in (
            ("in_features", in_features),
            ("out_features", out_features),
            ("d_model", d_model),
            ("num_heads", num_heads),
            ("num_layers", num_layers),
            ("mlp_ratio", mlp_ratio),
            ("event_ndim", event_ndim),
        ):
            _check_size(name, value)
        check_choice("pooling", pooling, ("attention", "mean"))
        if d_model % num_heads:
            raise ValueError(
                f"num_heads must divide d_model, got d_model={d_model}, num_heads={num_heads}"
            )
        ke, kt, ks, kp, kr = jax.random.split(key, 5)
        self.embed = eqx.nn.Linear(in_features, d_model, key=ke)
        self.transformer = TransformerEncoder(
            d_model, num_heads, num_layers, mlp_ratio=mlp_ratio, key=kt
        )
        self.seed = jax.random.normal(ks, (d_model,)) / jnp.sqrt(d_model)
        self.pool_qkv = eqx.nn.Linear(d_model, 3 * d_model, key=kp)
        self.rho = eqx.nn.MLP(d_model + 1, out_features, d_model, 2, jax.nn.silu, key=kr)
        self.encoder = encoder
        self.in_features, self.out_features = in_features, out_features
        self.num_heads, self.pooling, self.event_ndim = num_heads, pooling, event_ndim

    def __call__(
        self, x: Float[ArrayLike, "n ..."], mask: Bool[ArrayLike, " n"] | None = None
    ) -> Float[Array, " e"]:
        """Embed one ensemble ``x: (n, *event_shape)`` (NaN rows or ``mask`` mark padding)."""
        x, mask = _set_inputs(x, mask, self.event_ndim, "SetTransformerEmbedding")
        h = _encode(self.encoder, x, self.in_features, "SetTransformerEmbedding")
        if h.shape[1] != self.in_features:
            raise ValueError(
                f"SetTransformerEmbedding expects events with {self.in_features} features, "
                f"got {h.shape[1]}"
            )
        h = h @ self.embed.weight.T + self.embed.bias
        h = self.transformer(h, mask)
        if self.pooling == "mean":
            pooled = masked_mean(h, mask)
        else:
            d = h.shape[1]
            dh = d // self.num_heads
            w, b = self.pool_qkv.weight, self.pool_qkv.bias
            q = (w[:d] @ self.seed + b[:d]).reshape(self.num_heads, dh)
            k = (h @ w[d : 2 * d].T + b[d : 2 * d]).reshape(-1, self.num_heads, dh)
            v = (h @ w[2 * d :].T + b[2 * d :]).reshape(-1, self.num_heads, dh)
            logits = jnp.einsum("hc,nhc->hn", q, k) / jnp.sqrt(dh)
            att = masked_softmax(logits, mask[None, :])
            pooled = jnp.einsum("hn,nhc->hc", att, v).reshape(d)
        return _finish(self.rho, pooled, mask)


def pad_ensembles(sets, max_size: int | None = None) -> np.ndarray:
    """Stack a ragged list of ensembles ``(n_i, *event_shape)`` into ``(b, n, *event_shape)``.

    Padding events are NaN, the convention of the estimators' ``x``. Every
    ensemble needs at least one event; ``max_size`` (default: the largest
    ``n_i``) must not be smaller than any ``n_i``.
    """
    if len(sets) == 0:
        raise ValueError("sets must contain at least one ensemble")
    arrays = [np.asarray(s, dtype=np.float32) for s in sets]
    for i, a in enumerate(arrays):
        if a.ndim < 2:
            raise ValueError(f"sets[{i}] must have shape (n_i, *event_shape), got {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"sets[{i}] is an empty ensemble: every ensemble needs an event")
        if a.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(
                f"sets[{i}] has events of shape {a.shape[1:]}, sets[0] {arrays[0].shape[1:]}"
            )
    longest = max(a.shape[0] for a in arrays)
    n = longest if max_size is None else int(max_size)
    if longest > n:
        raise ValueError(f"max_size={n} is smaller than the largest ensemble ({longest} events)")
    out = np.full((len(arrays), n, *arrays[0].shape[1:]), np.nan, np.float32)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return out
