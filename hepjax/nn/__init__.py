"""Equinox models for padded particle sets ``x: (n, d)`` with ``mask: (n,)``.

Every model acts on one set and is invariant to the padding; batch with
``jax.vmap``. Attention never attends to padded elements.

- Set encoders ``(x, mask) -> (out_features,)``, for classifiers and for
  summaries of event ensembles: :class:`DeepSets`, :class:`SetTransformer`
  (attention blocks and attention pooling); both take an optional
  per-element ``encoder=``, e.g. :class:`CNNEncoder` for images.
- Classifiers: :class:`ParticleTransformer` (ParT: pair-feature attention
  biases from four-momenta, class-attention blocks; ``embed`` makes it a
  backbone), :class:`ParticleTransformerClassifier` (a simplified ParT),
  :class:`ParticleNet` (EdgeConv on kNN graphs).
- Set-to-set networks: :class:`TransformerEncoder`, :class:`EPiCNetwork`
  (EPiC layers with a global latent).
- Vector fields ``f(t, x, args)`` for ``hepjax.generative``:
  :class:`EPiCVectorField` (EPiC-FM) and :class:`TransformerVectorField`
  (PC-JeDi style).
- Embeddings: :class:`SinusoidalEmbedding`, :class:`GaussianFourierFeatures`.
"""

from ._attention import MaskedMultiheadAttention as MaskedMultiheadAttention
from ._classifiers import AbstractSetClassifier as AbstractSetClassifier
from ._classifiers import ParticleTransformerClassifier as ParticleTransformerClassifier
from ._cnn import CNNEncoder as CNNEncoder
from ._embeddings import GaussianFourierFeatures as GaussianFourierFeatures
from ._embeddings import SinusoidalEmbedding as SinusoidalEmbedding
from ._epic import EPiCLayer as EPiCLayer
from ._epic import EPiCNetwork as EPiCNetwork
from ._graph import InteractionNetwork as InteractionNetwork
from ._part import ParticleTransformer as ParticleTransformer
from ._particlenet import ParticleNet as ParticleNet
from ._particlenet import knn as knn
from ._sets import DeepSets as DeepSets
from ._sets import SetTransformer as SetTransformer
from ._transformer import TransformerEncoder as TransformerEncoder
from ._transformer import TransformerEncoderLayer as TransformerEncoderLayer
from ._vector_fields import EPiCVectorField as EPiCVectorField
from ._vector_fields import TransformerVectorField as TransformerVectorField

__all__ = [
    "AbstractSetClassifier",
    "CNNEncoder",
    "DeepSets",
    "EPiCLayer",
    "EPiCNetwork",
    "EPiCVectorField",
    "GaussianFourierFeatures",
    "InteractionNetwork",
    "MaskedMultiheadAttention",
    "ParticleNet",
    "ParticleTransformer",
    "ParticleTransformerClassifier",
    "SetTransformer",
    "SinusoidalEmbedding",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "TransformerVectorField",
    "knn",
]
