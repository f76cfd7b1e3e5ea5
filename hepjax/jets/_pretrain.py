r"""Masked pre-training of a jet backbone: masked particle modelling and its tokeniser-free variant.

**Masking rule** (Golling et al. 2024, arXiv:2401.13537): in each jet with
$n_r$ real particles, $k = \max(1, \mathrm{round}(f\,n_r))$ of them, chosen
uniformly at random, are masked ($f$ = ``mask_fraction``, 0.3 in MPM). A
masked particle's features are replaced by a learned mask token and its
four-momentum by zero, so that neither its features nor its pair features
(which a Particle Transformer computes from four-momenta) reveal it. The
backbone then embeds the jet, an optional decoder (a small
:class:`hepjax.nn.TransformerEncoder`, the "stronger decoder" of the
follow-up) refines the per-particle embeddings, and a linear output predicts
the masked particles:

- :class:`MaskedTokens` (MPM): the cross-entropy of the masked particles'
  tokens $t_i$ from a fitted tokeniser (:class:`VQVAETokenizer` or
  :class:`KMeansTokenizer`), averaged over the masked particles,
  $\mathcal{L} = -\frac{1}{|M|}\sum_{i \in M} \log p_\theta(t_i \mid x_{\setminus M})$.
- :class:`MaskedFeatures` (tokeniser-free, Leigh et al. 2024,
  arXiv:2409.12589): the Huber loss of the masked particles' standardised
  features plus, when the data carry particle identities, the cross-entropy
  of the identity class,
  $\mathcal{L} = \frac{1}{|M|}\sum_{i \in M}\big[\sum_f
  \mathrm{Huber}_\delta(\hat x_{if} - \tilde x_{if}) - w \log p_\theta(\mathrm{id}_i)\big]$.

Training runs through :func:`hepjax.train.fit` (AdamW, gradient clipping).
"""

import dataclasses
from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from hepjax import train
from hepjax._core import check_positive, check_positive_int
from hepjax.nn import TransformerEncoder

from ._data import Jets, check_data
from ._tokenizers import KMeansTokenizer, VQVAETokenizer
from ._util import batches, check_count, check_fraction, map_chunks, vmap_method


def choose_masked(
    key: PRNGKeyArray, mask: Bool[Array, " n"], mask_fraction: float
) -> Bool[Array, " n"]:
    r"""Which real particles to mask: $\max(1, \mathrm{round}(f n_r))$ of them, uniformly.

    Args:
        key: PRNG key.
        mask: ``(N,)`` the real particles.
        mask_fraction: the fraction $f$ of the $n_r$ real particles to mask.
    """
    count = jnp.sum(mask)
    k = jnp.maximum(1, jnp.round(mask_fraction * count)).astype(jnp.int32)
    scores = jnp.where(mask, jax.random.uniform(key, mask.shape), 2.0)
    rank = jnp.argsort(jnp.argsort(scores))
    return (rank < k) & mask


def _check_backbone(backbone: Any) -> None:
    for attr in ("embed", "embed_size", "num_features"):
        if not hasattr(backbone, attr):
            raise TypeError(
                "backbone must be a model with embed(x, four_momenta, mask) -> (particles, jet), "
                "embed_size and num_features (e.g. hepjax.nn.ParticleTransformer); "
                f"it lacks {attr!r}"
            )


@dataclasses.dataclass(frozen=True)
class MaskedTokens:
    """MPM's objective: predict the tokens of the masked particles.

    Args:
        tokenizer: a fitted :class:`VQVAETokenizer` or :class:`KMeansTokenizer`.
        mask_fraction: fraction of real particles masked, in (0, 1) (MPM: 0.3).
        decoder_layers: transformer layers between the backbone and the output (0: none).
    """

    tokenizer: VQVAETokenizer | KMeansTokenizer
    mask_fraction: float = 0.3
    decoder_layers: int = 0

    def __post_init__(self):
        if not isinstance(self.tokenizer, VQVAETokenizer | KMeansTokenizer):
            raise TypeError(
                "tokenizer must be a fitted VQVAETokenizer or KMeansTokenizer, got "
                f"{type(self.tokenizer).__name__}"
            )
        if (
            getattr(self.tokenizer, "net", None) is None
            and getattr(self.tokenizer, "codebook", None) is None
        ):
            raise ValueError("tokenizer is not fitted: call tokenizer.fit(key, x, mask) first")
        check_fraction("mask_fraction", self.mask_fraction)
        check_count("decoder_layers", self.decoder_layers)

    def outputs(self, embed_size: int, key: PRNGKeyArray) -> eqx.nn.Linear:
        return eqx.nn.Linear(embed_size, self.tokenizer.num_codes, key=key)

    def targets(self, data: Jets) -> dict[str, np.ndarray]:
        tok = self.tokenizer
        ids = map_chunks(partial(vmap_method, tok, "encode"), (data.x, data.mask))
        return {"tokens": ids.astype(np.int32)}

    def loss(self, out: eqx.nn.Linear, h: Array, batch: dict, masked: Array) -> Array:
        """The summed token cross-entropy of one jet's masked particles.

        Args:
            out: the output layers (from :meth:`outputs`).
            h: ``(N, D)`` per-particle hidden states of one jet.
            batch: that jet's targets (from :meth:`targets`).
            masked: ``(N,)`` the masked particles, the only ones scored.
        """
        logits = h @ out.weight.T + out.bias
        t = jnp.maximum(batch["tokens"], 0)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, t)
        return jnp.sum(jnp.where(masked, ce, 0.0))


class _FeatureOutputs(eqx.Module):
    regression: eqx.nn.Linear
    identity: eqx.nn.Linear | None


@dataclasses.dataclass(frozen=True)
class MaskedFeatures:
    """The tokeniser-free objective: Huber regression of the masked features + identity CE.

    Args:
        mask_fraction: fraction of real particles masked, in (0, 1) (the follow-up: 0.4).
        num_identities: particle-identity classes (0: no identity term; the
            data's ``identity`` field then is not needed).
        huber_delta: the Huber loss's $\\delta$ (on standardised features).
        identity_weight: the weight $w$ of the identity cross-entropy.
        decoder_layers: transformer layers between the backbone and the
            outputs (0: none; the follow-up uses a stronger decoder).
    """

    mask_fraction: float = 0.4
    num_identities: int = 0
    huber_delta: float = 1.0
    identity_weight: float = 1.0
    decoder_layers: int = 0

    def __post_init__(self):
        check_fraction("mask_fraction", self.mask_fraction)
        check_count("num_identities", self.num_identities)
        check_positive("huber_delta", self.huber_delta)
        check_positive("identity_weight", self.identity_weight, allow_zero=True)
        check_count("decoder_layers", self.decoder_layers)

    def outputs(self, embed_size: int, key: PRNGKeyArray, num_features: int) -> _FeatureOutputs:
        """The output layers: a feature regression and, if any, an identity classifier.

        Args:
            embed_size: the width $D$ of the hidden states.
            key: PRNG key for the initialisation.
            num_features: the per-particle features $F$ to regress.
        """
        kr, ki = jax.random.split(key)
        ident = None
        if self.num_identities:
            ident = eqx.nn.Linear(embed_size, self.num_identities, key=ki)
        return _FeatureOutputs(eqx.nn.Linear(embed_size, num_features, key=kr), ident)

    def targets(self, data: Jets) -> dict[str, np.ndarray]:
        pts = data.x[data.mask]
        mean, std = pts.mean(0), np.where(pts.std(0) > 0, pts.std(0), 1.0)
        out = {"target": np.where(data.mask[..., None], (data.x - mean) / std, 0.0)}
        out["target"] = out["target"].astype(np.float32)
        if self.num_identities:
            if data.identity is None:
                raise ValueError(
                    "MaskedFeatures(num_identities>0) needs data with an identity field"
                )
            if data.identity.max() >= self.num_identities or data.identity[data.mask].min() < 0:
                raise ValueError(
                    f"identity must be in [0, num_identities={self.num_identities}) "
                    "on real particles"
                )
            out["identity"] = data.identity
        return out

    def loss(self, out: _FeatureOutputs, h: Array, batch: dict, masked: Array) -> Array:
        """The summed Huber (+ weighted identity cross-entropy) of one jet's masked particles.

        Args:
            out: the output layers (from :meth:`outputs`).
            h: ``(N, D)`` per-particle hidden states of one jet.
            batch: that jet's targets (from :meth:`targets`).
            masked: ``(N,)`` the masked particles, the only ones scored.
        """
        pred = h @ out.regression.weight.T + out.regression.bias
        per = jnp.sum(optax.huber_loss(pred, batch["target"], delta=self.huber_delta), -1)
        if out.identity is not None:
            logits = h @ out.identity.weight.T + out.identity.bias
            ident = jnp.maximum(batch["identity"], 0)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, ident)
            per = per + self.identity_weight * ce
        return jnp.sum(jnp.where(masked, per, 0.0))


class MaskedModel(eqx.Module):
    """The backbone with what masked pre-training adds: mask token, decoder, outputs.

    Attributes:
        backbone: the pre-trained model (e.g. a :class:`hepjax.nn.ParticleTransformer`).
        mask_token: ``(F,)`` learnt features that replace those of masked particles.
        decoder: transformer layers after the backbone, or ``None``.
        outputs: the objective's output layers (its ``outputs``).
    """

    backbone: Any
    mask_token: Float[Array, " f"]
    decoder: TransformerEncoder | None
    outputs: Any

    def hidden(
        self,
        x: Float[Array, "n f"],
        four_momenta: Float[Array, "n 4"],
        mask: Bool[Array, " n"],
        masked: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, "n d"]:
        """Per-particle embeddings of a jet whose ``masked`` particles are hidden.

        Args:
            x: ``(N, F)`` particle features.
            four_momenta: ``(N, 4)`` four-momenta (zeroed for masked particles).
            mask: ``(N,)`` the real particles.
            masked: ``(N,)`` the particles to hide.
            key: PRNG key for dropout (``None``: inference).
        """
        x = jnp.where(masked[:, None], self.mask_token, x)
        p4 = jnp.where(masked[:, None], 0.0, four_momenta)
        h, _ = self.backbone.embed(x, p4, mask, key=key)
        if self.decoder is not None:
            h = self.decoder(h, mask)
        return h


@dataclasses.dataclass
class PretrainResult:
    """What :func:`pretrain` returns.

    Attributes:
        backbone: the pre-trained backbone (pass it, or this result, to :func:`finetune`).
        model: the backbone with its mask token, decoder and outputs.
        objective: the objective it was trained with.
        losses: the training loss at every step.
        fit: the :class:`hepjax.train.FitResult`.
    """

    backbone: Any
    model: MaskedModel
    objective: Any
    losses: np.ndarray
    fit: train.FitResult


def masked_loss(model: MaskedModel, objective, batch: dict, key: PRNGKeyArray) -> Array:
    """The objective's loss on a batch, averaged over the masked particles of all jets."""
    num = batch["x"].shape[0]
    kmask, kdrop = jax.random.split(key)
    masked = jax.vmap(lambda k, m: choose_masked(k, m, objective.mask_fraction))(
        jax.random.split(kmask, num), batch["mask"]
    )
    h = jax.vmap(lambda x, p, m, mk, k: model.hidden(x, p, m, mk, key=k))(
        batch["x"], batch["four_momenta"], batch["mask"], masked, jax.random.split(kdrop, num)
    )
    per_jet = {k: v for k, v in batch.items() if k not in ("x", "four_momenta", "mask")}
    totals = jax.vmap(lambda hh, b, mk: objective.loss(model.outputs, hh, b, mk))(
        h, per_jet, masked
    )
    return jnp.sum(totals) / jnp.maximum(jnp.sum(masked), 1)


def pretrain(
    key: PRNGKeyArray,
    backbone: Any,
    data: Jets,
    *,
    objective: MaskedTokens | MaskedFeatures,
    steps: int,
    batch_size: int = 128,
    learning_rate: float = 5e-4,
    weight_decay: float = 1e-4,
    clip_norm: float | None = 1.0,
    steps_per_call: int = 1,
    progress: bool | None = None,
) -> PretrainResult:
    """Pre-train ``backbone`` on the unlabelled jets ``data`` with a masked objective.

    Args:
        key: PRNG key (initialisation of the added parts, masks, shuffles).
        backbone: e.g. :class:`hepjax.nn.ParticleTransformer`: anything with
            ``embed(x, four_momenta, mask, *, key) -> (particles (n, d), jet (d,))``,
            ``embed_size`` and ``num_features``.
        data: the pre-training pool (:class:`Jets`; labels are ignored).
        objective: :class:`MaskedTokens` or :class:`MaskedFeatures`.
        steps: optimiser steps.
        batch_size: jets per step (at most the pool size).
        learning_rate, weight_decay: AdamW's.
        clip_norm: gradient clipping (``None``: none).
        steps_per_call: steps per compiled call of :func:`hepjax.train.fit`.
        progress: show the progress bar.
    """
    _check_backbone(backbone)
    check_data(data, "data")
    if not isinstance(objective, MaskedTokens | MaskedFeatures):
        raise TypeError(
            f"objective must be MaskedTokens or MaskedFeatures, got {type(objective).__name__}"
        )
    steps = check_positive_int("steps", steps)
    if data.num_features != backbone.num_features:
        raise ValueError(
            f"data has {data.num_features} features per particle, the backbone expects "
            f"{backbone.num_features}"
        )
    ko, kd, kb, kf = jax.random.split(key, 4)
    d = backbone.embed_size
    if isinstance(objective, MaskedFeatures):
        outputs = objective.outputs(d, ko, data.num_features)
    else:
        outputs = objective.outputs(d, ko)
    decoder = None
    if objective.decoder_layers:
        heads = backbone.num_heads if hasattr(backbone, "num_heads") else 1
        decoder = TransformerEncoder(d, heads, objective.decoder_layers, key=kd)
    model = MaskedModel(backbone, jnp.zeros(data.num_features, jnp.float32), decoder, outputs)
    arrays = {
        "x": data.x,
        "four_momenta": data.four_momenta,
        "mask": data.mask,
        **objective.targets(data),
    }
    stream = batches(arrays, batch_size, kb)
    optimizer = optax.adamw(learning_rate, weight_decay=weight_decay)
    result = train.fit(
        model,
        lambda m, b, *, key: masked_loss(m, objective, b, key),
        optimizer,
        stream,
        steps=steps,
        key=kf,
        clip_norm=clip_norm,
        steps_per_call=steps_per_call,
        progress=progress,
    )
    return PretrainResult(
        result.model.backbone, result.model, objective, np.asarray(result.losses), result
    )


@eqx.filter_jit
def _masked_counts(model: MaskedModel, fraction: float, k, x, p, m, t) -> Array:
    k = jax.random.wrap_key_data(k)
    masked = jax.vmap(lambda kk, mm: choose_masked(kk, mm, fraction))(k, m)
    h = jax.vmap(model.hidden)(x, p, m, masked)
    pred = jnp.argmax(h @ model.outputs.weight.T + model.outputs.bias, -1)
    return jnp.stack([jnp.sum((pred == t) & masked, -1), jnp.sum(masked, -1)], -1)


def masked_accuracy(
    key: PRNGKeyArray, result: PretrainResult, data: Jets, *, chunk: int = 512
) -> float:
    """Fraction of masked particles whose token (``MaskedTokens``) is predicted exactly.

    Args:
        key: PRNG key for the choice of masked particles.
        result: a :class:`PretrainResult` of a :class:`MaskedTokens` objective.
        data: the jets to score.
        chunk: jets per batch.
    """
    obj = result.objective
    if not isinstance(obj, MaskedTokens):
        raise TypeError("masked_accuracy needs a result pre-trained with MaskedTokens")
    tokens = obj.targets(data)["tokens"]
    keys = np.asarray(jax.random.key_data(jax.random.split(key, len(data))))
    fn = partial(_masked_counts, result.model, obj.mask_fraction)
    counts = map_chunks(fn, (keys, data.x, data.four_momenta, data.mask, tokens), chunk=chunk)
    total = counts.sum(0)
    return float(total[0] / max(total[1], 1))
