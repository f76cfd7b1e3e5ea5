r"""A small convolutional embedding for images (e.g. one lens image of an ensemble).

``CNNEmbedding`` maps one image ``(h, w)`` (or ``(c, h, w)``) to a feature
vector: ``len(channels)`` blocks of a 3x3 convolution with stride 2 and a
SiLU, then a linear map of the flattened features,

.. math::
    e(x) = W\,\mathrm{vec}\big(\sigma(\mathrm{conv}_K \cdots \sigma(\mathrm{conv}_1 x))\big) + b.

Use it alone as the ``embedding=`` of an estimator whose observation is one
image, or as the per-event ``encoder=`` of
:class:`~hepjax.sbi.DeepSetEmbedding` / :class:`~hepjax.sbi.SetTransformerEmbedding`
(``event_ndim=2``) for ensembles of images, as in the strong-lensing case study
of Heinrich et al. 2023 (arXiv:2306.12584), where a CNN per image feeds a set
aggregator over the ensemble.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class CNNEmbedding(eqx.Module):
    """Strided 3x3 convolutions and a linear head: one image to ``(out_features,)``.

    Args:
        image_shape: ``(h, w)`` or ``(c, h, w)`` of one image.
        out_features: size of the embedding.
        channels: output channels of the convolution blocks (each halves ``h`` and ``w``).
        key: PRNG key (keyword-only).

    Example:
        ```python
        import jax, jax.numpy as jnp
        from hepjax import sbi

        cnn = sbi.CNNEmbedding((32, 32), 16, key=jax.random.key(0))
        cnn(jnp.zeros((32, 32))).shape  # (16,)
        emb = sbi.DeepSetEmbedding(16, 8, encoder=cnn, event_ndim=2, key=jax.random.key(1))
        emb(jnp.zeros((5, 32, 32))).shape  # (8,): an ensemble of 5 images
        ```
    """

    convs: tuple[eqx.nn.Conv2d, ...]
    head: eqx.nn.Linear
    image_shape: tuple[int, ...] = eqx.field(static=True)
    out_features: int = eqx.field(static=True)

    def __init__(
        self,
        image_shape: tuple[int, ...],
        out_features: int,
        *,
        channels: tuple[int, ...] = (8, 16, 32),
        key: PRNGKeyArray,
    ):
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) not in (2, 3) or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (h, w) or (c, h, w), got {image_shape!r}")
        if isinstance(out_features, bool) or not isinstance(out_features, int) or out_features < 1:
            raise ValueError(f"out_features must be a positive int, got {out_features!r}")
        channels = tuple(channels)
        if not channels or any(
            isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels
        ):
            raise ValueError(
                f"channels must be a non-empty tuple of positive ints, got {channels!r}"
            )
        keys = jax.random.split(key, len(channels) + 1)
        c_in = image_shape[0] if len(image_shape) == 3 else 1
        h, w = image_shape[-2:]
        convs = []
        for c_out, k in zip(channels, keys[:-1], strict=True):
            convs.append(eqx.nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, key=k))
            c_in, h, w = c_out, (h + 1) // 2, (w + 1) // 2
        self.convs = tuple(convs)
        self.head = eqx.nn.Linear(c_in * h * w, out_features, key=keys[-1])
        self.image_shape, self.out_features = image_shape, out_features

    def __call__(self, x: Float[Array, "..."]) -> Float[Array, " e"]:
        """Embed one image of shape ``image_shape``."""
        x = jnp.asarray(x)
        if tuple(x.shape) != self.image_shape:
            raise ValueError(
                f"CNNEmbedding takes one image of shape {self.image_shape}, got {tuple(x.shape)} "
                "(batch with jax.vmap)"
            )
        h = x if x.ndim == 3 else x[None]
        for conv in self.convs:
            h = jax.nn.silu(conv(h))
        return self.head(h.reshape(-1))
