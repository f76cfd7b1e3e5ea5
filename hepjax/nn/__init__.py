"""Equinox models for padded particle sets ``x: (n, d)`` with ``mask: (n,)``.

Every model acts on one set and is invariant to the padding; batch with
``jax.vmap``. Attention never attends to padded elements.
"""

from ._attention import MaskedMultiheadAttention as MaskedMultiheadAttention
from ._classifiers import AbstractSetClassifier as AbstractSetClassifier
from ._classifiers import DeepSets as DeepSets
from ._classifiers import ParticleTransformerClassifier as ParticleTransformerClassifier
from ._embeddings import GaussianFourierFeatures as GaussianFourierFeatures
from ._embeddings import SinusoidalEmbedding as SinusoidalEmbedding
from ._transformer import TransformerEncoder as TransformerEncoder
from ._transformer import TransformerEncoderLayer as TransformerEncoderLayer

__all__ = [
    "AbstractSetClassifier",
    "DeepSets",
    "GaussianFourierFeatures",
    "MaskedMultiheadAttention",
    "ParticleTransformerClassifier",
    "SinusoidalEmbedding",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]
