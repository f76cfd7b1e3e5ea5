r"""The conditioning side of the estimators: embeddings of observations and ensembles.

An embedding $e(x)$ maps one (z-scored) observation to the feature vector that
conditions the posterior, likelihood-ratio or vector-field network; it is
trained jointly with that network. Any Equinox module works: ``eqx.nn.MLP``
for vector observations, and for **ensembles** of events the set encoders of
:mod:`hepjax.nn` (:class:`~hepjax.nn.DeepSets`,
:class:`~hepjax.nn.SetTransformer`, with a per-event
``encoder=`` such as :class:`~hepjax.nn.CNNEncoder` for images), which take
the ``(x, mask)`` form of a set.

This module is where the estimators' NaN-padded ensembles meet that form. An
ensemble is an array ``x: (m, *event_shape)`` whose padding events are all
NaN, so that a training set ``x: (N, m, *event_shape)`` travels through
``fit``/``sample`` without an extra argument; :func:`embed` turns it into
``(x, mask)`` (padding rows zeroed) before calling a set encoder, and an
ensemble made entirely of padding is an error.
"""

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import is_concrete, pad_sets
from ..generative import ConditionalSplineFlow

EMPTY_ENSEMBLE = "the ensemble is made entirely of padding (no real event): nothing to embed"


def ensemble_mask(x: Float[ArrayLike, "m ..."]) -> Bool[Array, " m"]:
    """The real events of one NaN-padded ensemble: the events that are not all NaN."""
    x = jnp.asarray(x)
    if x.ndim < 2:
        raise ValueError(
            f"an ensemble must have shape (m, *event_shape), e.g. (m, d), got shape {x.shape}"
        )
    return ~jnp.all(jnp.isnan(x.reshape(x.shape[0], -1)), axis=1)


def pad_ensembles(sets, max_size: int | None = None) -> np.ndarray:
    """Stack a ragged list of ensembles ``(m_i, *event_shape)`` into ``(b, m, *event_shape)``.

    Padding events are NaN, the convention of the estimators' ``x``
    (:func:`hepjax._core.pad_sets` with ``fill=nan``). Every ensemble needs
    at least one event; ``max_size`` (default: the largest ``m_i``) must not
    be smaller than any ``m_i``.
    """
    if len(sets) == 0:
        raise ValueError("sets must contain at least one ensemble")
    arrays = [np.asarray(s, dtype=np.float32) for s in sets]
    for i, a in enumerate(arrays):
        if a.ndim < 2:
            raise ValueError(f"sets[{i}] must have shape (m_i, *event_shape), got {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"sets[{i}] is an empty ensemble: every ensemble needs an event")
        if a.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(
                f"sets[{i}] has events of shape {a.shape[1:]}, sets[0] {arrays[0].shape[1:]}"
            )
    event_shape = arrays[0].shape[1:]
    x, _ = pad_sets([a.reshape(a.shape[0], -1) for a in arrays], max_size, fill=np.nan)
    return x.reshape(x.shape[:2] + event_shape)


def embed(embedding: Callable, x: Float[ArrayLike, "..."]) -> Float[Array, " e"]:
    """The feature vector of one observation: ``embedding(x)``, or for a NaN-padded
    ensemble ``(m, *event_shape)`` the set encoder's ``embedding(x, mask)``."""
    x = jnp.asarray(x)
    if x.ndim >= 2:
        mask = ensemble_mask(x)
        if is_concrete(mask) and not bool(jnp.any(mask)):
            raise ValueError(EMPTY_ENSEMBLE)
        keep = mask.reshape(mask.shape + (1,) * (x.ndim - 1))
        out = embedding(jnp.where(keep, x, 0.0), mask)
        out = eqx.error_if(out, ~jnp.any(mask), EMPTY_ENSEMBLE)
    else:
        out = embedding(x)
    if jnp.ndim(out) != 1:
        raise ValueError(
            f"the embedding must map one observation to a 1-d feature vector, got shape "
            f"{jnp.shape(out)}"
        )
    return out


class EmbeddedFlow(eqx.Module):
    r"""$q(\theta \mid x)$: a :class:`~hepjax.generative.ConditionalSplineFlow` on the
    context $c = e(x)$ of an embedding trained jointly with it."""

    flow: ConditionalSplineFlow
    embedding: Callable

    def context(self, x: Float[ArrayLike, "..."]) -> Float[Array, " c"]:
        return embed(self.embedding, x)

    def log_prob(self, theta: Float[Array, " d"], x: Float[ArrayLike, "..."]) -> Float[Array, ""]:
        """``log q(theta | x)`` for one pair."""
        return self.flow.log_prob(theta, self.context(x))

    def log_prob_given_context(
        self, theta: Float[Array, " d"], context: Float[Array, " c"]
    ) -> Float[Array, ""]:
        return self.flow.log_prob(theta, context)

    def sample_given_context(
        self, key: PRNGKeyArray, context: Float[Array, " c"]
    ) -> Float[Array, " d"]:
        return self.flow.sample(key, context)
