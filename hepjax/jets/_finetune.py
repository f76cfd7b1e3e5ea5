r"""Fine-tuning a (pre-trained) backbone: heads, strategies, and the event-level head.

A classifier is the backbone followed by a head. Three strategies
(Golling et al. 2024, arXiv:2401.13537; Vigl, Hartman & Heinrich 2024,
arXiv:2401.13536):

- ``"frozen"``: the backbone is fixed (its gradient is stopped); only the head trains.
- ``"finetune"``: the head trains alone for the first ``freeze_steps`` steps,
  then the backbone joins with a smaller learning rate
  $\eta_{\rm backbone} = s\,\eta$ (``backbone_lr_scale`` $s$), through
  ``optax.multi_transform`` over the labels ``"backbone"`` and ``"head"``.
- ``"scratch"``: the same architecture, freshly initialised, trained end to end.

Heads (:class:`LinearHead`, :class:`MLPHead`, :class:`ClassAttentionHead`)
map the backbone's embeddings of one jet to logits; :class:`EventHead` is the
event-level head of arXiv:2401.13536, a deep set over the jets of an event,
$\mathrm{logits} = \rho\big(\sum_{j: m_j} \phi(r_j)\big)$, where the jet
representation $r_j$ is the latent vector, the latent vector plus high-level
features, or the backbone's own tagger score plus high-level features.
"""

import dataclasses
import functools
import math
from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from hepjax import train
from hepjax._core import check_positive, check_positive_int, masked_softmax

from ._data import Events, Jets, check_data, check_labels
from ._pretrain import PretrainResult, _check_backbone
from ._util import batches, map_chunks

STRATEGIES = ("frozen", "finetune", "scratch")
REPRESENTATIONS = ("latent", "latent+hl", "score+hl")


def _mlp(sizes, key) -> tuple[eqx.nn.Linear, ...]:
    keys = jax.random.split(key, len(sizes) - 1)
    pairs = zip(sizes[:-1], sizes[1:], keys, strict=True)
    return tuple(eqx.nn.Linear(a, b, key=k) for a, b, k in pairs)


def _apply(layers, x: Array) -> Array:
    for i, layer in enumerate(layers):
        x = x @ layer.weight.T + layer.bias
        if i < len(layers) - 1:
            x = jax.nn.gelu(x)
    return x


class _LinearHeadModule(eqx.Module):
    layer: eqx.nn.Linear

    def __call__(self, particles, jet, mask):
        return self.layer(jet)


class _MLPHeadModule(eqx.Module):
    layers: tuple[eqx.nn.Linear, ...]

    def __call__(self, particles, jet, mask):
        return _apply(self.layers, jet)


class _ClassAttentionModule(eqx.Module):
    query: Float[Array, " d"]
    kv: eqx.nn.Linear
    norm: eqx.nn.LayerNorm
    out: eqx.nn.Linear
    num_heads: int = eqx.field(static=True)

    def __call__(self, particles, jet, mask):
        n, d = particles.shape
        dh = d // self.num_heads
        kv = (particles @ self.kv.weight.T + self.kv.bias).reshape(n, 2, self.num_heads, dh)
        q = (self.query + jet).reshape(self.num_heads, dh)
        logits = jnp.einsum("hc,nhc->hn", q, kv[:, 0]) / math.sqrt(dh)
        w = masked_softmax(logits, jnp.broadcast_to(mask, logits.shape))
        pooled = jnp.einsum("hn,nhc->hc", w, kv[:, 1]).reshape(d)
        return self.out(self.norm(pooled + jet))


@dataclasses.dataclass(frozen=True)
class LinearHead:
    """A linear map of the jet embedding to ``num_classes`` logits (MPM's fine-tuning head)."""

    num_classes: int = 2

    def __post_init__(self):
        check_positive_int("num_classes", self.num_classes)

    def init(self, key: PRNGKeyArray, embed_size: int) -> eqx.Module:
        return _LinearHeadModule(eqx.nn.Linear(embed_size, self.num_classes, key=key))


@dataclasses.dataclass(frozen=True)
class MLPHead:
    """A GELU MLP ``embed_size -> hidden_size (x num_layers) -> num_classes`` on the jet.

    Attributes:
        num_classes: the number of logits.
        hidden_size: the width of the hidden layers.
        num_layers: the number of hidden layers.
    """

    num_classes: int = 2
    hidden_size: int = 128
    num_layers: int = 2

    def __post_init__(self):
        for name in ("num_classes", "hidden_size", "num_layers"):
            check_positive_int(name, getattr(self, name))

    def init(self, key: PRNGKeyArray, embed_size: int) -> eqx.Module:
        sizes = [embed_size] + [self.hidden_size] * self.num_layers + [self.num_classes]
        return _MLPHeadModule(_mlp(sizes, key))


@dataclasses.dataclass(frozen=True)
class ClassAttentionHead:
    """A learned query (plus the jet embedding) attends over the particles, then a linear map."""

    num_classes: int = 2
    num_heads: int = 4

    def __post_init__(self):
        check_positive_int("num_classes", self.num_classes)
        check_positive_int("num_heads", self.num_heads)

    def init(self, key: PRNGKeyArray, embed_size: int) -> eqx.Module:
        if embed_size % self.num_heads:
            raise ValueError(
                f"num_heads={self.num_heads} must divide the backbone's embed_size={embed_size}"
            )
        kq, kk, ko = jax.random.split(key, 3)
        return _ClassAttentionModule(
            0.02 * jax.random.normal(kq, (embed_size,)),
            eqx.nn.Linear(embed_size, 2 * embed_size, key=kk),
            eqx.nn.LayerNorm(embed_size),
            eqx.nn.Linear(embed_size, self.num_classes, key=ko),
            self.num_heads,
        )


@dataclasses.dataclass(frozen=True)
class EventHead:
    r"""The event-level deep set $\rho(\sum_j \phi(r_j))$ over the real jets of an event.

    Args:
        num_classes: logits.
        hidden_size: width of $\phi$ and $\rho$ (two GELU layers each).
        representation: the jet representation $r_j$: ``"latent"`` (the jet
            embedding), ``"latent+hl"`` (plus the data's ``high_level``
            features) or ``"score+hl"`` (the softmax of the backbone's own
            class-token head, plus the high-level features).
    """

    num_classes: int = 2
    hidden_size: int = 64
    representation: str = "latent"

    def __post_init__(self):
        check_positive_int("num_classes", self.num_classes)
        check_positive_int("hidden_size", self.hidden_size)
        if self.representation not in REPRESENTATIONS:
            raise ValueError(
                f"representation must be one of {REPRESENTATIONS}, got {self.representation!r}"
            )


@eqx.filter_jit
def _batched(model: Any, *arrays: Array) -> Array:
    """``vmap(model)`` compiled once per model structure (weights may differ)."""
    return jax.vmap(model)(*arrays)


def _stopped(backbone: Any) -> Any:
    params, static = eqx.partition(backbone, eqx.is_inexact_array)
    return eqx.combine(jax.lax.stop_gradient(params), static)


class JetClassifier(eqx.Module):
    """A backbone and a jet head: ``(x, four_momenta, mask) -> logits`` for one jet.

    Attributes:
        backbone: a model with ``embed(x, four_momenta, mask)`` (e.g.
            :class:`hepjax.nn.ParticleTransformer`).
        head: the initialised head (from :class:`LinearHead` and the like).
        frozen: stop gradients through the backbone (train the head only).
    """

    backbone: Any
    head: Any
    frozen: bool = eqx.field(static=True, default=False)

    def __call__(
        self,
        x: Float[Array, "n f"],
        four_momenta: Float[Array, "n 4"],
        mask: Bool[Array, " n"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " c"]:
        """The ``(C,)`` logits of one jet.

        Args:
            x: ``(n, F)`` particle features.
            four_momenta: ``(n, 4)`` particle four-momenta.
            mask: ``(n,)`` the real particles.
            key: PRNG key for dropout (``None``: inference).
        """
        backbone = _stopped(self.backbone) if self.frozen else self.backbone
        particles, jet = backbone.embed(x, four_momenta, mask, key=key)
        return self.head(particles, jet, mask)

    def logits_batch(self, data: Jets) -> np.ndarray:
        """Logits of every jet of ``data`` (evaluated in chunks)."""
        return map_chunks(partial(_batched, self), (data.x, data.four_momenta, data.mask))


class EventClassifier(eqx.Module):
    """A backbone applied to every jet of an event and the deep-set :class:`EventHead`.

    Attributes:
        backbone: a model with ``embed(x, four_momenta, mask)``, applied to every jet.
        phi: the per-jet MLP layers $\\phi$ of the deep set.
        rho: the MLP layers $\\rho$ on the summed $\\phi(r_j)$.
        representation: the jet representation $r_j$ (:class:`EventHead`).
        frozen: stop gradients through the backbone.
    """

    backbone: Any
    phi: tuple[eqx.nn.Linear, ...]
    rho: tuple[eqx.nn.Linear, ...]
    representation: str = eqx.field(static=True)
    frozen: bool = eqx.field(static=True, default=False)

    def __call__(
        self,
        x: Float[Array, "j n f"],
        four_momenta: Float[Array, "j n 4"],
        mask: Bool[Array, "j n"],
        jet_mask: Bool[Array, " j"],
        high_level: Float[Array, "j k"] | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " c"]:
        """The ``(C,)`` logits of one event of ``J`` (padded) jets.

        Args:
            x: ``(J, n, F)`` particle features per jet.
            four_momenta: ``(J, n, 4)`` particle four-momenta per jet.
            mask: ``(J, n)`` the real particles.
            jet_mask: ``(J,)`` the real jets.
            high_level: ``(J, K)`` high-level jet features (for the ``+hl`` representations).
            key: PRNG key for dropout (``None``: inference).
        """
        backbone = _stopped(self.backbone) if self.frozen else self.backbone
        # a padded jet gets one dummy real particle so that its (discarded) embedding is finite
        safe = mask | ((jnp.arange(mask.shape[1]) == 0)[None] & ~jet_mask[:, None])
        keys = None if key is None else jax.random.split(key, x.shape[0])
        embed = lambda a, b, c, k: backbone.embed(a, b, c, key=k)[1]
        jets = jax.vmap(embed)(x, four_momenta, safe, keys)
        if self.representation == "latent":
            r = jets
        else:
            if self.representation == "score+hl":
                jets = jax.nn.softmax(jets @ backbone.head.weight.T + backbone.head.bias)
            r = jnp.concatenate([jets, high_level], axis=-1)
        h = _apply(self.phi, r)
        pooled = jnp.sum(jnp.where(jet_mask[:, None], jax.nn.gelu(h), 0.0), axis=0)
        return _apply(self.rho, pooled)

    def logits_batch(self, data: Events) -> np.ndarray:
        """Logits of every event of ``data`` (evaluated in chunks)."""
        arrays = (data.x, data.four_momenta, data.mask, data.jet_mask)
        if self.representation != "latent":
            arrays = (*arrays, data.high_level)
        return map_chunks(partial(_batched, self), arrays, chunk=256)


@dataclasses.dataclass
class FinetuneResult:
    """What :func:`finetune` returns.

    Attributes:
        model: the trained :class:`JetClassifier` or :class:`EventClassifier`.
        strategy: ``"frozen"``, ``"finetune"`` or ``"scratch"``.
        losses: the training loss at every step.
        fit: the :class:`hepjax.train.FitResult`.
    """

    model: Any
    strategy: str
    losses: np.ndarray
    fit: train.FitResult

    def logits_batch(self, data: Jets | Events) -> np.ndarray:
        return self.model.logits_batch(data)


def _fresh(backbone: Any, key: PRNGKeyArray) -> Any:
    """A freshly initialised backbone of the same architecture."""
    if not hasattr(backbone, "config"):
        raise TypeError(
            f"strategy='scratch' needs a backbone with config() to rebuild it; "
            f"{type(backbone).__name__} has none"
        )
    return type(backbone)(**backbone.config(), key=key)


def _labels_of(params: Any) -> Any:
    def label(path, _):
        return "backbone" if getattr(path[0], "name", None) == "backbone" else "head"

    return jax.tree_util.tree_map_with_path(label, params)


@functools.lru_cache(maxsize=16)
def _loss(fields: tuple[str, ...]):
    """The mean cross-entropy over a batch of the inputs ``fields`` (one function object per
    ``fields``, so that :func:`hepjax.train.fit` reuses its compiled step across fine-tunes)."""

    def loss_fn(m, batch, *, key):
        keys = jax.random.split(key, batch["labels"].shape[0])
        inputs = [batch[f] for f in fields]
        logits = jax.vmap(lambda *a: m(*a[:-1], key=a[-1]))(*inputs, keys)
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"]).mean()

    return loss_fn


@functools.lru_cache(maxsize=16)
def _optimizer(
    strategy: str,
    learning_rate: float,
    weight_decay: float,
    backbone_lr_scale: float,
    freeze_steps: int,
) -> optax.GradientTransformation:
    """The strategy's optimiser (one object per setting, for the same reuse as :func:`_loss`)."""
    head_tx = optax.adamw(learning_rate, weight_decay=weight_decay)
    if strategy == "finetune":
        lr = optax.join_schedules(
            [
                optax.constant_schedule(0.0),
                optax.constant_schedule(learning_rate * backbone_lr_scale),
            ],
            [freeze_steps],
        )
        return optax.multi_transform(
            {"head": head_tx, "backbone": optax.adamw(lr, weight_decay=weight_decay)},
            _labels_of,
        )
    if strategy == "frozen":
        return optax.multi_transform({"head": head_tx, "backbone": optax.set_to_zero()}, _labels_of)
    return head_tx


def finetune(
    key: PRNGKeyArray,
    model: Any,
    labelled: Jets | Events,
    *,
    strategy: str = "finetune",
    head: LinearHead | MLPHead | ClassAttentionHead | EventHead = LinearHead(),
    steps: int,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    backbone_lr_scale: float = 0.1,
    freeze_steps: int | None = None,
    weight_decay: float = 1e-4,
    clip_norm: float | None = 1.0,
    steps_per_call: int = 1,
    progress: bool | None = None,
) -> FinetuneResult:
    """Train a classifier on ``labelled`` from a (pre-trained) backbone with a strategy.

    Args:
        key: PRNG key (head initialisation, the scratch backbone, shuffles, dropout).
        model: a :class:`PretrainResult` or a backbone (e.g. one loaded with
            :func:`load_backbone`).
        labelled: :class:`Jets` with labels (a jet head) or :class:`Events`
            with labels (needs ``head=EventHead(...)``).
        strategy: ``"frozen"``, ``"finetune"`` or ``"scratch"`` (see the module notes).
        head: a head spec: :class:`LinearHead`, :class:`MLPHead`,
            :class:`ClassAttentionHead` (jets) or :class:`EventHead` (events).
        steps: optimiser steps.
        batch_size: examples per step (at most the number of labelled examples).
        learning_rate: the head's (and the scratch model's) AdamW learning rate.
        backbone_lr_scale: the backbone's learning rate relative to the head's
            under ``"finetune"``.
        freeze_steps: steps with the backbone frozen before unfreezing under
            ``"finetune"`` (default ``steps // 5``).
        weight_decay, clip_norm: AdamW's decay; gradient clipping.
        steps_per_call, progress: passed to :func:`hepjax.train.fit`.
    """
    backbone = model.backbone if isinstance(model, PretrainResult) else model
    _check_backbone(backbone)
    check_data(labelled, "labelled", (Jets, Events))
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    steps = check_positive_int("steps", steps)
    check_positive("learning_rate", learning_rate)
    check_positive("backbone_lr_scale", backbone_lr_scale)
    is_events = isinstance(labelled, Events)
    if is_events != isinstance(head, EventHead):
        raise TypeError(
            "Events need head=EventHead(...), and Jets a jet head (LinearHead, MLPHead, "
            f"ClassAttentionHead); got {type(labelled).__name__} with {type(head).__name__}"
        )
    check_labels(labelled.labels, head.num_classes)
    if labelled.num_features != backbone.num_features:
        raise ValueError(
            f"labelled has {labelled.num_features} features per particle, the backbone "
            f"expects {backbone.num_features}"
        )
    if freeze_steps is None:
        freeze_steps = steps // 5
    if isinstance(freeze_steps, bool) or not isinstance(freeze_steps, int) or freeze_steps < 0:
        raise ValueError(f"freeze_steps must be a non-negative int, got {freeze_steps!r}")
    kh, ks, kb, kf = jax.random.split(key, 4)
    if strategy == "scratch":
        backbone = _fresh(backbone, ks)
    frozen = strategy == "frozen"
    d = backbone.embed_size
    if is_events:
        if head.representation != "latent" and labelled.high_level is None:
            raise ValueError(
                f"representation={head.representation!r} needs Events with high_level features"
            )
        k = 0 if head.representation == "latent" else labelled.high_level.shape[2]
        r = (backbone.num_classes if head.representation == "score+hl" else d) + k
        kp, kr = jax.random.split(kh)
        clf = EventClassifier(
            backbone,
            _mlp([r, head.hidden_size, head.hidden_size], kp),
            _mlp([head.hidden_size, head.hidden_size, head.num_classes], kr),
            head.representation,
            frozen,
        )
        fields = ["x", "four_momenta", "mask", "jet_mask"]
        if head.representation != "latent":
            fields.append("high_level")
    else:
        clf = JetClassifier(backbone, head.init(kh, d), frozen)
        fields = ["x", "four_momenta", "mask"]
    arrays = labelled.arrays()
    tx = _optimizer(strategy, learning_rate, weight_decay, backbone_lr_scale, freeze_steps)
    stream = batches({k: arrays[k] for k in [*fields, "labels"]}, batch_size, kb)
    result = train.fit(
        clf,
        _loss(tuple(fields)),
        tx,
        stream,
        steps=steps,
        key=kf,
        clip_norm=clip_norm,
        steps_per_call=steps_per_call,
        progress=progress,
    )
    return FinetuneResult(result.model, strategy, np.asarray(result.losses), result)
