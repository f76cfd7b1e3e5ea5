r"""Maximum mean discrepancy with a Gaussian (RBF) kernel, unbiased.

For samples $x_{1..m} \sim P$, $y_{1..n} \sim Q$ and
$k(a, b) = \exp(-\|a - b\|^2 / 2h^2)$ (Gretton et al. 2012, JMLR 13, eq. 3),

.. math::
    \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)}\sum_{i \ne j} k(x_i, x_j)
    + \frac{1}{n(n-1)}\sum_{i \ne j} k(y_i, y_j)
    - \frac{2}{mn}\sum_{i, j} k(x_i, y_j),

an unbiased estimate of $\mathrm{MMD}^2(P, Q)$ (it can be negative when
$P = Q$). The bandwidth $h$ defaults to the median heuristic: the median
pairwise distance of the pooled sample (on at most 1000 points). The kernel
sums run in blocks, so memory stays $O(\text{block} \cdot (m + n))$.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float

from .._core import check_positive, check_positive_int


def median_bandwidth(x: Float[ArrayLike, "n d"], *, max_points: int = 1000, seed: int = 0) -> float:
    """The median pairwise Euclidean distance of (at most ``max_points`` of) ``x``.

    Args:
        x: ``(n, d)`` points.
        max_points: the number of points (drawn without replacement) the median is taken over, to
            bound the $O(n^2)$ cost.
        seed: seed of the NumPy generator that picks those points.
    """
    x = np.asarray(x, np.float64)
    if len(x) > max_points:
        x = x[np.random.default_rng(seed).choice(len(x), max_points, replace=False)]
    d2 = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(np.median(d2[iu])))


@functools.partial(jax.jit, static_argnums=(3,))
def _kernel_sum(a, b, h, block):
    """$\\sum_{i,j} k(a_i, b_j)$ in blocks of rows of ``a``."""
    n = a.shape[0]
    pad = (-n) % block
    a_p = jnp.pad(a, ((0, pad), (0, 0)))
    valid = jnp.pad(jnp.ones(n, bool), (0, pad))
    bb = jnp.sum(b * b, axis=1)

    def one(args):
        rows, ok = args
        d2 = jnp.sum(rows * rows, axis=1)[:, None] + bb[None, :] - 2 * rows @ b.T
        k = jnp.exp(-jnp.maximum(d2, 0.0) / (2 * h * h))
        return jnp.sum(jnp.where(ok[:, None], k, 0.0))

    parts = jax.lax.map(one, (a_p.reshape(-1, block, a.shape[1]), valid.reshape(-1, block)))
    return jnp.sum(parts)


def mmd_rbf(
    x: ArrayLike,
    y: ArrayLike,
    *,
    bandwidth: float | None = None,
    block: int = 512,
) -> float:
    r"""Unbiased $\widehat{\mathrm{MMD}}^2_u$ between samples ``x`` and ``y`` (RBF kernel).

    Args:
        x: ``(m, d)`` sample of $P$ (``m >= 2``).
        y: ``(n, d)`` sample of $Q$ (``n >= 2``).
        bandwidth: the kernel width $h$; default the median heuristic on the pooled sample.
        block: rows per block of the kernel sums.

    Returns:
        The estimate (a float; unbiased, so it may be slightly negative).

    Raises:
        ValueError: samples that are not 2-d, have different feature sizes or fewer than
            two rows, or a non-positive bandwidth.
    """
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must be (m, d) and (n, d) with the same d, got {x.shape} and {y.shape}"
        )
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"x and y need at least two rows each, got {len(x)} and {len(y)}")
    block = check_positive_int("block", block)
    if bandwidth is None:
        bandwidth = median_bandwidth(np.concatenate([x, y]))
    check_positive("bandwidth", bandwidth)
    m, n = len(x), len(y)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    h = jnp.float32(bandwidth)
    kxx = (_kernel_sum(xj, xj, h, block) - m) / (m * (m - 1))  # the diagonal is exp(0) = 1
    kyy = (_kernel_sum(yj, yj, h, block) - n) / (n * (n - 1))
    kxy = _kernel_sum(xj, yj, h, block) / (m * n)
    return float(kxx + kyy - 2 * kxy)
