r"""A small convolutional encoder: one image to one feature vector.

``len(channels)`` blocks of a 3x3 convolution with stride 2 (each halves the
height and the width) and a SiLU, then a linear map of the flattened
features,

.. math::
    e(x) = W\,\mathrm{vec}\big(\sigma(\mathrm{conv}_K \cdots \sigma(\mathrm{conv}_1 x))\big) + b.

Use it alone on one image, or as the per-element ``encoder=`` of
:class:`~hepjax.nn.DeepSets` or :class:`~hepjax.nn.SetTransformer` for sets
of images, as in the strong-lensing case study of Heinrich et al. 2023
(arXiv:2306.12584), where a CNN per image feeds a set aggregator over the
ensemble.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core import check_positive_int


class CNNEncoder(eqx.Module):
    """Strided 3x3 convolutions and a linear head: one image to ``(out_features,)``.

    Args:
        image_shape: ``(h, w)`` or ``(c, h, w)`` of one image.
        out_features: size of the output.
        channels: output channels of the convolution blocks (each halves ``h`` and ``w``).
        key: PRNG key (keyword-only).

    Example:
        ```python
        import jax, jax.numpy as jnp
        from hepjax import nn

        cnn = nn.CNNEncoder((32, 32), 16, key=jax.random.key(0))
        cnn(jnp.zeros((32, 32))).shape  # (16,)
        sets = nn.DeepSets(16, 8, encoder=cnn, key=jax.random.key(1))
        sets(jnp.zeros((5, 32, 32)), jnp.ones(5, bool)).shape  # (8,): a set of 5 images
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
        image_shape = tuple(image_shape)
        if len(image_shape) not in (2, 3):
            raise ValueError(f"image_shape must be (h, w) or (c, h, w), got {image_shape!r}")
        image_shape = tuple(
            check_positive_int(f"image_shape[{i}]", s) for i, s in enumerate(image_shape)
        )
        self.out_features = check_positive_int("out_features", out_features)
        channels = tuple(channels)
        if not channels:
            raise ValueError("channels must be a non-empty tuple of positive ints, got ()")
        channels = tuple(check_positive_int(f"channels[{i}]", c) for i, c in enumerate(channels))
        keys = jax.random.split(key, len(channels) + 1)
        c_in = image_shape[0] if len(image_shape) == 3 else 1
        h, w = image_shape[-2:]
        convs = []
        for c_out, k in zip(channels, keys[:-1], strict=True):
            convs.append(eqx.nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, key=k))
            c_in, h, w = c_out, (h + 1) // 2, (w + 1) // 2
        self.convs = tuple(convs)
        self.head = eqx.nn.Linear(c_in * h * w, out_features, key=keys[-1])
        self.image_shape = image_shape

    def __call__(self, x: Float[Array, "..."]) -> Float[Array, " out"]:
        """Encode one image of shape ``image_shape``."""
        x = jnp.asarray(x)
        if tuple(x.shape) != self.image_shape:
            raise ValueError(
                f"CNNEncoder takes one image of shape {self.image_shape}, got {tuple(x.shape)} "
                "(batch with jax.vmap)"
            )
        h = x if x.ndim == 3 else x[None]
        for conv in self.convs:
            h = jax.nn.silu(conv(h))
        return self.head(h.reshape(-1))
