r"""Preprocessing of padded particle sets for generative models, and a marginal baseline.

- :class:`Standardizer`: per-feature standardisation $(x - \mu)/s$ of
  vectors, or of padded sets with $\mu, s$ the mean and standard deviation
  over the *real* elements only (as EPiC-FM does before training,
  arXiv:2310.00049); padded rows become zero.
- :func:`split_jetnet`: JetNet-layout ``(N, n, 4)`` particle features into
  ``(N, n, 3)`` features and an ``(N, n)`` boolean mask; :func:`join_jetnet`
  puts generated features back into that layout.
- :func:`resample_particles`: the trivial generative baseline, every particle
  drawn independently from the pool of training particles.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import check_dtype, check_ndim, check_positive, check_shape


class Standardizer(eqx.Module):
    r"""Per-feature affine map $x \mapsto (x - \mu) / s$, fitted on the real elements only.

    One example is either a feature array (a vector ``(d,)``, or an image
    ``(h, w)``: ``set_ndim = 0``) or a padded set of such elements
    ``(n, *features)`` with a mask ``(n,)`` (``set_ndim = 1``). :meth:`fit`
    takes a batch of examples and pools the statistics over the examples and
    over the real elements of every set, so $\mu$ and $s$ have the shape of one
    element's features.

    **Floor.** $s = \max(\hat\sigma, s_{\min})$ with $\hat\sigma$ the
    (biased) standard deviation and $s_{\min}$ = ``min_scale`` = ``1e-6`` by
    default, so a constant feature maps to 0 instead of dividing by zero.

    The statistics are constants of the map (``jax.lax.stop_gradient``): a
    standardiser held inside a trained model stays fixed.

    Attributes:
        shift: $\mu$, the mean, with the shape of one element's features.
        scale: $s$, the floored standard deviation, the same shape, strictly positive.
        set_ndim: 1 if it was fitted on padded sets (``fit`` got a mask), else 0.
    """

    shift: Float[Array, "*f"]
    scale: Float[Array, "*f"]
    set_ndim: int = eqx.field(static=True, default=0)

    def __check_init__(self):
        if self.shift.shape != self.scale.shape:
            raise ValueError(
                f"shift and scale must have the same shape, got {self.shift.shape}, "
                f"{self.scale.shape}"
            )
        if self.set_ndim not in (0, 1):
            raise ValueError(f"set_ndim must be 0 or 1, got {self.set_ndim!r}")

    @classmethod
    def fit(
        cls,
        x: Float[ArrayLike, "..."],
        mask: Bool[ArrayLike, "..."] | None = None,
        *,
        min_scale: float = 1e-6,
    ) -> "Standardizer":
        r"""Mean and standard deviation of every feature over the real elements of ``x``.

        Args:
            x: a batch of vectors ``(N, d)`` (statistics per feature of the
                last axis, over all leading axes), or with ``mask`` padded sets
                ``(N, n, *features)``.
            mask: ``(N, n)``, true on the real elements; the features are the
                axes of ``x`` after the mask's.
            min_scale: the floor $s_{\min}$ on the scale.

        Raises:
            ValueError: ``mask`` not shaped like the leading axes of ``x``, or no
                real element at all.
        """
        check_positive("min_scale", min_scale)
        x = np.asarray(x)
        check_dtype("x", x, "number")
        if mask is None:
            if x.ndim < 1:
                raise ValueError(f"x must have a feature axis, got shape {x.shape}")
            rows, set_ndim = x.reshape(-1, x.shape[-1]), 0
        else:
            mask = np.asarray(mask)
            check_dtype("mask", mask, "bool")
            if mask.ndim != 2 or x.shape[:2] != mask.shape:
                raise ValueError(
                    f"mask must have shape (N, n), the leading axes of padded sets x of shape "
                    f"(N, n, *features), got mask {mask.shape} and x {x.shape}"
                )
            rows, set_ndim = x[mask], 1
        if rows.shape[0] == 0:
            raise ValueError("x has no real element: cannot fit a standardizer")
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        dtype = jax.dtypes.canonicalize_dtype(dtype)
        rows = rows.astype(np.float64)
        shift = rows.mean(axis=0)
        scale = np.maximum(rows.std(axis=0), min_scale)
        return cls(jnp.asarray(shift, dtype), jnp.asarray(scale, dtype), set_ndim)

    def _checked(self, name: str, x, mask) -> tuple[Array, Array | None]:
        x = jnp.asarray(x)
        f = self.shift.ndim
        if x.shape[x.ndim - f :] != self.shift.shape or x.ndim < f:
            raise ValueError(
                f"{name} must end with the feature shape {self.shift.shape}, got shape {x.shape}"
            )
        if mask is None:
            return x, None
        check_shape("mask", mask, x.shape[: x.ndim - f])
        check_dtype("mask", mask, "bool")
        mask = jnp.asarray(mask)
        return x, mask.reshape(mask.shape + (1,) * f)

    def _stats(self) -> tuple[Array, Array]:
        return jax.lax.stop_gradient(self.shift), jax.lax.stop_gradient(self.scale)

    def forward(self, x: Float[ArrayLike, "..."], mask=None) -> Float[Array, "..."]:
        """Standardise ``x`` (any leading axes); padded elements (``mask`` false) become 0."""
        x, keep = self._checked("x", x, mask)
        mean, std = self._stats()
        y = (x - mean) / std
        return y if keep is None else jnp.where(keep, y, 0)

    __call__ = forward

    def inverse(self, y: Float[ArrayLike, "..."], mask=None) -> Float[Array, "..."]:
        """Undo :meth:`forward`; padded elements (``mask`` false) become 0."""
        y, keep = self._checked("y", y, mask)
        mean, std = self._stats()
        x = y * std + mean
        return x if keep is None else jnp.where(keep, x, 0)

    def log_det(self, mask: Bool[ArrayLike, " n"] | None = None) -> Float[Array, ""]:
        r"""$\log|\det \partial\,\mathrm{forward} / \partial x|$ for one example.

        $-\sum_j \log s_j$ for one element; for one padded set, ``mask (n,)``,
        $-|m| \sum_j \log s_j$ (the map acts on its real elements).
        """
        per_element = -jnp.sum(jnp.log(self._stats()[1]))
        if mask is None:
            return per_element
        check_dtype("mask", mask, "bool")
        if np.ndim(mask) != 1:
            raise ValueError(f"mask must be the (n,) mask of one set, got shape {np.shape(mask)}")
        return jnp.sum(mask, dtype=per_element.dtype) * per_element


def split_jetnet(
    particle_features: Float[ArrayLike, "N n 4"], *, log_pt: bool = False
) -> tuple[Float[Array, "N n 3"], Bool[Array, "N n"]]:
    r"""``(etarel, phirel, ptrel)`` features and the boolean mask of JetNet-layout jets.

    With ``log_pt=True`` the third feature is $\log p_T^{rel}$ (0 on padding):
    a near-Gaussian coordinate for the steeply falling $p_T^{rel}$ spectrum,
    which :func:`join_jetnet` maps back with $\exp$, so generated
    $p_T^{rel}$ are positive by construction.
    """
    check_shape("particle_features", particle_features, (None, None, 4))
    pf = jnp.asarray(particle_features)
    x, mask = pf[..., :3], pf[..., 3] > 0.5
    if log_pt:
        pt = jnp.where(mask, x[..., 2], 1.0)
        if bool(jnp.any(pt <= 0)):
            raise ValueError("log_pt=True needs ptrel > 0 for every real particle")
        x = x.at[..., 2].set(jnp.where(mask, jnp.log(pt), 0.0))
    return x, mask


def join_jetnet(
    features: Float[ArrayLike, "N n 3"], mask: Bool[ArrayLike, "N n"], *, log_pt: bool = False
) -> np.ndarray:
    r"""JetNet-layout ``(N, n, 4)`` float32 jets from generated ``(etarel, phirel, ptrel)``.

    Padded slots are zeroed. With ``log_pt=True`` the third feature is
    $\log p_T^{rel}$ and is exponentiated (capped at $p_T^{rel} = 1$); otherwise a generated
    $p_T^{rel} < 0$ (outside the physical range) is clipped to 0.

    Args:
        features: ``(N, n, 3)`` generated ``(etarel, phirel, ptrel)`` (or $\log p_T^{rel}$ with
            ``log_pt``).
        mask: ``(N, n)`` true on the real particles.
        log_pt: the third feature is $\log p_T^{rel}$.
    """
    check_shape("features", features, (None, None, 3))
    check_shape("mask", mask, np.shape(features)[:2])
    x = np.array(features, np.float32)
    mask = np.asarray(mask, bool)
    x[..., 2] = np.exp(np.minimum(x[..., 2], 0.0)) if log_pt else np.maximum(x[..., 2], 0.0)
    return np.concatenate([x * mask[..., None], mask[..., None].astype(np.float32)], -1)


def resample_particles(
    key: PRNGKeyArray,
    particles: Float[ArrayLike, "N n d"],
    mask: Bool[ArrayLike, "N n"],
    target_mask: Bool[ArrayLike, "M m"],
    *,
    sort_by: int | None = 2,
) -> Float[Array, "M m d"]:
    """The independent-particle baseline: every real slot of ``target_mask`` gets a random
    real particle of ``particles``, drawn uniformly and independently with replacement.

    The pooled per-particle distribution is exactly the training one, but all
    correlations between particles of a jet (and so the jet mass) are lost:
    the floor a generative model has to beat on jet-level observables.

    Args:
        key: PRNG key.
        particles: training sets ``(N, n, d)``.
        mask: their real elements ``(N, n)``.
        target_mask: the multiplicities to fill, ``(M, m)``.
        sort_by: sort each generated set by this feature, descending (JetNet
            orders particles by $p_T^{rel}$, feature 2); ``None`` to keep draws.

    Returns:
        ``(M, m, d)`` sets, zero on padding.
    """
    particles = np.asarray(particles)
    check_ndim("particles", particles, 3)
    check_shape("mask", mask, particles.shape[:2])
    check_ndim("target_mask", target_mask, 2)
    pool = particles[np.asarray(mask, bool)]
    if len(pool) == 0:
        raise ValueError("mask has no real particle to resample from")
    target_mask = jnp.asarray(target_mask, bool)
    index = jax.random.randint(key, target_mask.shape, 0, len(pool))
    out = jnp.where(target_mask[..., None], jnp.asarray(pool)[index], 0.0)
    if sort_by is None:
        return out
    order = jnp.argsort(jnp.where(target_mask, -out[..., sort_by], jnp.inf), axis=-1)
    return jnp.take_along_axis(out, order[..., None], axis=1)
