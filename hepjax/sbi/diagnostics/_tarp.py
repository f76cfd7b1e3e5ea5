r"""Expected coverage with random reference points (TARP; Lemos et al. 2023, arXiv:2302.03026).

For test pairs $(\theta^*_i, x_i)$, posterior samples $\theta^{(l)}_i$ and a
random reference point $\theta^r_i$, the coverage level of the ball around
$\theta^r_i$ that just reaches $\theta^*_i$ is

.. math::
    f_i = \frac1L \sum_l \mathbf 1\big[\|\theta^{(l)}_i - \theta^r_i\|
    < \|\theta^*_i - \theta^r_i\|\big],

and the expected coverage probability at level $a$ is
$\mathrm{ECP}(a) = \frac1m \sum_i \mathbf 1[f_i < a]$. TARP shows
that $\mathrm{ECP}(a) = a$ for all $a$ is necessary and sufficient for the
posterior estimator to be exact (for reference points with full support).
Distances are computed after z-scoring with the spread of the true parameters.
"""

import numpy as np
from jaxtyping import ArrayLike, Float


def tarp(
    samples: Float[ArrayLike, "m l d"],
    theta: Float[ArrayLike, "m d"],
    *,
    references: Float[ArrayLike, "m d"] | None = None,
    seed: int = 0,
    num_levels: int = 51,
) -> tuple[np.ndarray, np.ndarray]:
    """TARP expected coverage curve.

    Args:
        samples: ``(m, L, d)`` posterior samples for ``m`` test observations
            (e.g. ``est.sample_batch(key, x_test, L)``).
        theta: ``(m, d)`` true parameters of the test observations.
        references: ``(m, d)`` reference points; default uniform draws over the
            bounding box of ``theta`` (in z-scored units).
        seed: NumPy seed of the default reference points.
        num_levels: number of credibility levels in ``[0, 1]``.

    Returns:
        ``(levels, ecp)``: the levels ``a`` and the expected coverage at each;
        a calibrated estimator has ``ecp`` close to ``levels``.
    """
    samples = np.asarray(samples, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if samples.ndim != 3 or theta.ndim != 2 or samples.shape[::2] != theta.shape:
        raise ValueError(
            f"samples must be (m, L, d) and theta (m, d) with the same m and d, got "
            f"{samples.shape} and {theta.shape}"
        )
    shift, scale = theta.mean(0), np.maximum(theta.std(0), 1e-12)
    samples, theta = (samples - shift) / scale, (theta - shift) / scale
    if references is None:
        rng = np.random.default_rng(seed)
        references = rng.uniform(theta.min(0), theta.max(0), size=theta.shape)
    else:
        references = (np.asarray(references, dtype=np.float64) - shift) / scale
        if references.shape != theta.shape:
            raise ValueError(f"references must have shape {theta.shape}, got {references.shape}")
    d_samples = np.linalg.norm(samples - references[:, None, :], axis=-1)
    d_true = np.linalg.norm(theta - references, axis=-1)
    f = np.mean(d_samples < d_true[:, None], axis=1)
    levels = np.linspace(0.0, 1.0, num_levels)
    ecp = np.mean(f[None, :] < levels[:, None], axis=1)
    return levels, ecp
