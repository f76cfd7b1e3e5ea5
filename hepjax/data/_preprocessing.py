r"""Preprocessing of padded particle sets for generative models, and a marginal baseline.

- :class:`SetStandardizer`: per-feature standardisation $(x - \mu)/s$ with
  $\mu, s$ the mean and standard deviation over the *real* elements only, as
  EPiC-FM does before training (arXiv:2310.00049); padded rows stay zero.
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

from .._core import check_ndim, check_shape


def _as_mask(mask, x) -> Array:
    if mask is None:
        return jnp.ones(jnp.shape(x)[:-1], bool)
    check_shape("mask", mask, jnp.shape(x)[:-1])
    return jnp.asarray(mask, bool)


class SetStandardizer(eqx.Module):
    r"""Per-feature affine map $x \mapsto (x - \mu) / s$ fitted on the real elements.

    Works on padded sets ``(..., n, d)`` with a mask ``(..., n)`` and on plain
    feature rows ``(..., d)`` without one (e.g. jet-level conditioning).

    Attributes:
        mean: $\mu$, shape ``(d,)``.
        std: $s$, shape ``(d,)``, strictly positive.
    """

    mean: Float[Array, " d"]
    std: Float[Array, " d"]

    def __check_init__(self):
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(
                f"mean and std must both have shape (d,), got {self.mean.shape}, {self.std.shape}"
            )

    @classmethod
    def fit(
        cls,
        x: Float[ArrayLike, "... d"],
        mask: Bool[ArrayLike, "..."] | None = None,
        *,
        min_std: float = 1e-6,
    ) -> "SetStandardizer":
        """Mean and standard deviation of every feature over the real elements of ``x``.

        Raises:
            ValueError: ``mask`` not shaped like ``x`` without its last axis, or no
                real element at all.
        """
        x = jnp.asarray(x)
        mask = _as_mask(mask, x)
        count = jnp.sum(mask)
        if int(count) == 0:
            raise ValueError("mask has no real element: cannot fit a standardizer")
        w = mask[..., None].astype(x.dtype)
        flat_x, flat_w = x.reshape(-1, x.shape[-1]), w.reshape(-1, 1)
        mean = jnp.sum(flat_x * flat_w, 0) / count
        var = jnp.sum((flat_x - mean) ** 2 * flat_w, 0) / count
        return cls(mean, jnp.maximum(jnp.sqrt(var), min_std))

    def _checked(self, name: str, x) -> Array:
        x = jnp.asarray(x)
        if x.shape[-1:] != self.mean.shape:
            raise ValueError(
                f"{name} must have {self.mean.shape[0]} features on its last axis, "
                f"got shape {x.shape}"
            )
        return x

    def __call__(self, x: Float[ArrayLike, "... d"], mask=None) -> Float[Array, "... d"]:
        """Standardise; padded rows (``mask`` false) are set to zero."""
        x = self._checked("x", x)
        y = (x - self.mean) / self.std
        return y if mask is None else jnp.where(_as_mask(mask, x)[..., None], y, 0.0)

    def inverse(self, y: Float[ArrayLike, "... d"], mask=None) -> Float[Array, "... d"]:
        """Undo the standardisation; padded rows are set to zero."""
        y = self._checked("y", y)
        x = y * self.std + self.mean
        return x if mask is None else jnp.where(_as_mask(mask, y)[..., None], x, 0.0)


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
