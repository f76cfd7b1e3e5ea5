r"""Many Kalman fits at once in float64, and the pulls of the fitted parameters.

:func:`fit_tracks` jits and vmaps :func:`hepjax.tracking.kalman_fit` over
tracks inside ``jax.enable_x64(True)`` (track fitting needs float64: the
covariances span ~16 orders of magnitude), optionally iterating from the
smoothed start; :func:`parameter_pulls` compares fitted parameters with the
truth.
"""

from __future__ import annotations

import functools
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._core import check_positive_int
from ..physics import MUON_MASS
from ..sim.tracker import BarrelGeometry, Measurements, TrackArrays, wrap_angle
from ._kalman import KalmanResult, kalman_fit
from ._kalman_steps import initial_covariance

__all__ = ["fit_tracks", "parameter_pulls"]


@functools.partial(eqx.filter_jit)
def _fit_batch(params0, cov0, meas, geometry, chi2_cut, smooth, mass):
    fit = lambda p, c, m: kalman_fit(p, c, m, geometry, chi2_cut=chi2_cut, smooth=smooth, mass=mass)
    return jax.vmap(fit)(params0, cov0, meas)


def _check_measurement_values(meas: Measurements) -> None:
    """Finite positions and positive-definite covariances where ``mask`` (concrete arrays)."""
    try:
        mask = np.asarray(meas.mask)
        loc, cov, two = np.asarray(meas.loc), np.asarray(meas.cov), np.asarray(meas.is_2d)
    except jax.errors.TracerArrayConversionError:
        return
    bad_loc = mask & ~np.all(np.isfinite(loc), axis=-1)
    if bad_loc.any():
        raise ValueError(
            f"measurements: {int(bad_loc.sum())} present measurement(s) with non-finite "
            f"positions (first at index {np.argwhere(bad_loc)[0].tolist()})"
        )
    with np.errstate(invalid="ignore"):
        det = cov[..., 0, 0] * cov[..., 1, 1] - cov[..., 0, 1] * cov[..., 1, 0]
        pd = (cov[..., 0, 0] > 0) & (~two | (det > 0))
    bad = mask & ~pd
    if bad.any():
        raise ValueError(
            f"measurements: {int(bad.sum())} covariance(s) not positive definite "
            f"(first at index {np.argwhere(bad)[0].tolist()}); drop them with "
            "hepjax.sim.tracker.validate_event(event, on_invalid='skip')"
        )


def fit_tracks(
    tracks: TrackArrays | Measurements,
    geometry: BarrelGeometry,
    params0: Float[ArrayLike, "n 5"],
    cov0: Float[ArrayLike, "n 5 5"] | None = None,
    *,
    chi2_cut: float = float("inf"),
    smooth: bool = True,
    mass: float = MUON_MASS,
    iterations: int = 1,
) -> KalmanResult:
    """Fit many tracks in float64 (jit + vmap inside ``jax.enable_x64(True)``).

    Args:
        tracks: :class:`~hepjax.sim.tracker.TrackArrays` (its ``measurements``
            are used) or :class:`~hepjax.sim.tracker.Measurements` of shape ``(n, L)``.
        geometry: the detector.
        params0: ``(n, 5)`` starting parameters predicted on layer 0 (from
            seeds, or smeared truth).
        cov0: ``(n, 5, 5)`` starting covariances; default :func:`initial_covariance`.
        chi2_cut, smooth, mass: as in :func:`~hepjax.tracking.kalman_fit`.
        iterations: number of passes. Each pass after the first restarts from
            the previous smoothed state on layer 0 with the same ``cov0``, so the
            filter linearises near the solution rather than at a rough seed. (The
            start is then centred on an estimate that already used the hits; with
            a broad ``cov0`` this double counting is negligible.)

    Returns:
        A batched :class:`KalmanResult` (leading axis ``n``) of float64 arrays.
    """
    meas = tracks.measurements if isinstance(tracks, TrackArrays) else tracks
    if not isinstance(meas, Measurements):
        raise TypeError(f"tracks must be TrackArrays or Measurements, got {type(tracks).__name__}")
    if meas.mask.ndim != 2 or meas.mask.shape[1] != geometry.n_layers:
        raise ValueError(
            f"measurements must have batch shape (n, {geometry.n_layers}), got {meas.mask.shape}"
        )
    _check_measurement_values(meas)
    n = meas.mask.shape[0]
    iterations = check_positive_int("iterations", iterations)
    if np.shape(params0) != (n, 5):
        raise ValueError(f"params0 must have shape ({n}, 5), got {np.shape(params0)}")
    with jax.enable_x64(True):
        as64 = lambda a: (
            jnp.asarray(a, jnp.float64) if jnp.issubdtype(jnp.result_type(a), jnp.floating) else a
        )
        meas = jax.tree.map(as64, meas)
        geo = jax.tree.map(as64, geometry)
        p0 = jnp.asarray(params0, jnp.float64)
        if cov0 is None:
            c0 = jax.vmap(initial_covariance)(p0)
        else:
            if np.shape(cov0) != (n, 5, 5):
                raise ValueError(f"cov0 must have shape ({n}, 5, 5), got {np.shape(cov0)}")
            c0 = jnp.asarray(cov0, jnp.float64)
        cut = jnp.asarray(chi2_cut, jnp.float64)  # traced: no recompilation per cut
        res = _fit_batch(p0, c0, meas, geo, cut, bool(smooth), float(mass))
        for _ in range(int(iterations) - 1):
            start = res.smoothed[:, 0] if smooth else res.filtered[:, 0]
            res = _fit_batch(start, c0, meas, geo, cut, bool(smooth), float(mass))
        return res


def parameter_pulls(
    estimate: Float[Array, "*b 5"],
    cov: Float[Array, "*b 5 5"],
    truth: Float[Array, "*b 5"],
    radius: Float[ArrayLike, "*r"],
) -> Float[Array, "*b 5"]:
    r"""Pulls $(\hat x_i - x_i)/\sqrt{C_{ii}}$ with $\ell_0$ and $\phi$ differences wrapped.

    ``radius`` is the radius of the surface of each state (broadcast against the batch).

    Args:
        estimate: ``(*b, 5)`` fitted bound parameters $(\ell_0, z, \phi, \theta, q/p)$.
        cov: ``(*b, 5, 5)`` their covariances.
        truth: ``(*b, 5)`` the true parameters on the same surfaces.
        radius: the radius of each state's surface in mm (broadcast against the batch), to wrap
            $\ell_0 = R\phi$.
    """
    radius = jnp.asarray(radius)
    d = estimate - truth
    d0 = radius * wrap_angle(d[..., 0] / radius)
    d = d.at[..., 0].set(d0).at[..., 2].set(wrap_angle(d[..., 2]))
    sig = jnp.sqrt(jnp.diagonal(cov, axis1=-2, axis2=-1))
    return d / sig


def _timed_fits_per_second(tracks, geometry, params0, repeats: int = 3) -> float:
    """Fits per second of :func:`fit_tracks` after compilation (benchmark helper)."""
    out = fit_tracks(tracks, geometry, params0)
    jax.block_until_ready(out)
    t0 = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fit_tracks(tracks, geometry, params0))
    dt = (time.perf_counter() - t0) / repeats
    return params0.shape[0] / dt
