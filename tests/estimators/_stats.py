"""Statistical assertions shared by the estimator and simulator tests."""

import jax
import numpy as np


def check_unbiased(samples, exact, *, sigmas=4.0, label=""):
    """|mean - exact| < sigmas * stderr, componentwise, stderr from the samples."""
    leaves_s = jax.tree_util.tree_leaves(samples)
    leaves_e = jax.tree_util.tree_leaves(exact)
    assert len(leaves_s) == len(leaves_e)
    for s, e in zip(leaves_s, leaves_e, strict=True):
        s = np.asarray(s, np.float64)
        e = np.asarray(e, np.float64)
        n = s.shape[0]
        mean = s.mean(axis=0)
        se = s.std(axis=0, ddof=1) / np.sqrt(n)
        tol = sigmas * se + 1e-6 * (1 + np.abs(e))
        assert np.all(np.abs(mean - e) < tol), (
            f"{label}: mean {mean} vs exact {e}, |diff| {np.abs(mean - e)} >= {sigmas} se {se}"
        )
    return True
