r"""Seeds for the Combinatorial Kalman Filter: one entry point, the seeder as a strategy.

A *seed* is a short, clean track stub in the inner pixel layers from which the
Combinatorial Kalman Filter (:func:`hepjax.tracking.ckf`) starts: its hits on
the pixel layers and a first estimate of the bound parameters
$(\ell_0 = R\phi_\text{pos}, \ell_1 = z, \phi, \theta, q/p)$ with a covariance.
:func:`seeds` makes them for one event; *how* is the seeder's choice (the
diffrax ``solver=`` pattern):

* :class:`~hepjax.tracking.TripletSeeder`: pixel triplets compatible with a
  helix from the beam line (ACTS's seed finder);
* :class:`~hepjax.tracking.CandidateSeeder`: pixel track candidates found by
  something else (a GNN's, or the truth's), as in arXiv:2401.16016.

Both start from the same helix estimate (:func:`estimate_parameters`). The
circle through three points in the transverse plane is computed in the
conformal plane ``u = x'/(x'^2+y'^2)``, ``v = y'/(x'^2+y'^2)`` of coordinates
``x'`` centred on the middle hit, where circles through the middle hit are
straight lines ``2 a u + 2 b v = 1`` (centre ``(a, b)``; Hansen & Tollefsrud /
ACTS). The impact parameter uses the power of the origin,
``d0 = (|m|^2 + 2 c.m) / (|c + m| + R)``, which is stable in float32 for radii
of tens of metres.

References: ACTS seed finder (Acts/Seeding/SeedFinder.hpp and
EstimateTrackParamsFromSeed.hpp); R. Frühwirth, A. Strandlie, *Pattern
Recognition, Tracking and Vertex Reconstruction in Particle Detectors*
(Springer 2021), ch. 7.
"""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

# radius [mm] = pT [GeV] / (C_LIGHT * Bz [T] * |q|)
C_LIGHT = 0.299792458e-3

__all__ = ["AbstractSeeder", "Seeds", "estimate_parameters", "seeds"]


class Seeds(eqx.Module):
    """A padded set of seeds: pixel hits per pixel layer and initial parameters.

    Attributes:
        hits: global hit index on each pixel layer, ``-1`` where the seed has no
            hit (a triplet fills three of the pixel layers; a candidate any number).
        params: bound parameters ``(loc0, loc1, phi, theta, q/p)`` at the cylinder of
            ``start_layer``.
        cov: their covariance.
        start_layer: the layer index of the first hit (where ``params`` live).
        mask: which rows are seeds (the rest is padding).
    """

    hits: Int[Array, "S P"]
    params: Float[Array, "S 5"]
    cov: Float[Array, "S 5 5"]
    start_layer: Int[Array, " S"]
    mask: Bool[Array, " S"]

    @property
    def num(self) -> int:
        return int(np.asarray(self.mask).sum())

    def compact(self, size: int | None = None) -> Seeds:
        """Host-side: keep only the valid seeds, padded to ``size`` (default: a
        power of two, to bound the number of CKF compilations)."""
        m = np.asarray(self.mask)
        idx = np.nonzero(m)[0]
        n = idx.size
        if size is None:
            size = max(8, 1 << max(0, (n - 1)).bit_length())
        if size < n:
            raise ValueError(f"size={size} is smaller than the number of seeds {n}")
        pad = size - n
        take = np.concatenate([idx, np.zeros(pad, np.int64)]).astype(np.int64)

        def g(a, fill):
            a = np.asarray(a)[take]
            if pad:
                a[n:] = fill
            return jnp.asarray(a)

        return Seeds(
            hits=g(self.hits, -1),
            params=g(self.params, 0.0),
            cov=g(self.cov, 0.0)
            + jnp.asarray((np.arange(size) >= n)[:, None, None]) * jnp.eye(5, dtype=self.cov.dtype),
            start_layer=g(self.start_layer, 0),
            mask=jnp.asarray(np.arange(size) < n),
        )


class AbstractSeeder(eqx.Module):
    """How :func:`seeds` finds the seeds of an event (a strategy object).

    Concrete seeders (:class:`~hepjax.tracking.TripletSeeder`,
    :class:`~hepjax.tracking.CandidateSeeder`) implement :meth:`seed_event`,
    and also offer a fixed-shape, jit-able ``seed_arrays`` on hit arrays.
    """

    @abc.abstractmethod
    def seed_event(self, event, geometry, *, dtype=None) -> Seeds:
        """The seeds of one :class:`~hepjax.sim.tracker.Event` (rows of its tables).

        Args:
            event: the :class:`~hepjax.sim.tracker.Event`.
            geometry: its :class:`~hepjax.sim.tracker.BarrelGeometry` (the field gives the
                curvature).
            dtype: float dtype of the parameters (default: JAX's default float).
        """


def seeds(event, geometry, seeder: AbstractSeeder | None = None, *, dtype=None) -> Seeds:
    """Seeds of one event for the CKF (:func:`hepjax.tracking.find_tracks`).

    Args:
        event: a :class:`~hepjax.sim.tracker.Event`.
        geometry: its :class:`~hepjax.sim.tracker.BarrelGeometry` (the pixel
            layers are those before the first strip layer; the field gives the
            curvature).
        seeder: the strategy, :class:`~hepjax.tracking.TripletSeeder` (the
            default, ``TripletSeeder()``) or
            :class:`~hepjax.tracking.CandidateSeeder` (pixel candidates of a
            GNN or of the truth).
        dtype: float dtype of the parameters (default: JAX's default float).

    Returns:
        Compacted :class:`Seeds` (valid rows first, padded to a power of two)
        whose hit indices are rows of the event's tables.
    """
    if seeder is None:
        from ._triplet_seeder import TripletSeeder

        seeder = TripletSeeder()
    if not isinstance(seeder, AbstractSeeder):
        raise TypeError(
            "seeder must be a seeder such as TripletSeeder() or CandidateSeeder(candidates), "
            f"got {type(seeder).__name__}"
        )
    return seeder.seed_event(event, geometry, dtype=dtype)


def _pixel_layers(geometry) -> int:
    strip = list(geometry.is_strip)
    return strip.index(True) if True in strip else len(strip)


def _bucket(n: int, lo: int = 16) -> int:
    """A capacity above ``n`` from a coarse ladder (bounds the number of compilations)."""
    return max(lo, 1 << max(0, n - 1).bit_length())


def _event_xyz(event, size: int, dtype) -> list[Array]:
    """The event's hit coordinates, padded with zeros to ``size`` rows."""
    pad = size - len(np.asarray(event.hits["x"]))
    return [
        jnp.asarray(np.pad(np.asarray(event.hits[c], float), (0, pad)), dtype)
        for c in ("x", "y", "z")
    ]


def _circle_mframe(b, m, t):
    """Circle through b, m, t (xy), in the frame centred on m.

    Returns the centre ``c`` (relative to m), the signed curvature ``kappa``
    (positive counterclockwise) and the impact parameter ``d0`` (>= 0) of the
    circle with respect to the origin of the global frame.
    """
    bp = b - m
    tp = t - m
    rb2 = jnp.sum(bp**2, -1)
    rt2 = jnp.sum(tp**2, -1)
    ub, vb = bp[..., 0] / rb2, bp[..., 1] / rb2
    ut, vt = tp[..., 0] / rt2, tp[..., 1] / rt2
    det = ub * vt - vb * ut
    det_safe = jnp.where(jnp.abs(det) < 1e-30, 1e-30, det)
    # 2a ub + 2b vb = 1 ; 2a ut + 2b vt = 1
    a = 0.5 * (vt - vb) / det_safe
    bb = 0.5 * (ub - ut) / det_safe
    c = jnp.stack([a, bb], -1)
    radius = jnp.sqrt(a**2 + bb**2)
    # orientation: cross((m-b), (t-m)) > 0 means counterclockwise
    cross = (-bp[..., 0]) * tp[..., 1] - (-bp[..., 1]) * tp[..., 0]
    kappa = jnp.sign(cross) / radius
    power = jnp.sum(m**2, -1) + 2 * jnp.sum(c * m, -1)
    d0 = jnp.abs(power) / (jnp.sqrt(jnp.sum((c + m) ** 2, -1)) + radius)
    return c, kappa, d0


def estimate_parameters(
    xyz_b: Float[Array, " 3"],
    xyz_m: Float[Array, " 3"],
    xyz_t: Float[Array, " 3"],
    *,
    bz: float,
    init_sigmas=(0.5, 0.5, 0.01, 0.01),
    init_sigma_qop_rel: float = 0.1,
    init_sigma_qopt: float = 0.1,
) -> tuple[Float[Array, " 5"], Float[Array, "5 5"]]:
    """Helix estimate of the bound parameters at the first of three hits.

    The circle through the three points in the transverse plane gives the radius
    ``R`` (so ``pT = 0.3 |Bz| R``), the charge (its sense of rotation: a positive
    charge turns clockwise for ``Bz > 0``) and the direction ``phi`` (its tangent
    at the first hit); ``cot(theta)`` is the slope of ``z`` against the
    transverse arc length ``s = 2 R asin(chord / 2R)`` between the first and the
    last hit.

    Args:
        xyz_b, xyz_m, xyz_t: the three space points, inside out [mm].
        bz: field [T].
        init_sigmas: initial standard deviations of ``(loc0, loc1, phi, theta)``.
        init_sigma_qop_rel: relative standard deviation of ``q/p``.
        init_sigma_qopt: absolute standard deviation of ``q/pT`` (added in quadrature).

    Returns:
        ``(params, cov)``: ``(loc0 = r_b phi_b, loc1 = z_b, phi, theta, q/p)`` on the
        cylinder through the first hit, and a diagonal covariance.
    """
    return _params_at(
        xyz_b,
        xyz_m,
        xyz_t,
        xyz_b,
        xyz_m,
        bz=bz,
        init_sigmas=init_sigmas,
        init_sigma_qop_rel=init_sigma_qop_rel,
        init_sigma_qopt=init_sigma_qopt,
    )


def _params_at(a, b, c, at, toward, *, bz, init_sigmas, init_sigma_qop_rel, init_sigma_qopt):
    """Helix through a, b, c (circle in x-y); parameters at ``at`` (one of them), moving
    towards ``toward``; cot(theta) from ``at`` to ``c`` over the arc length."""
    a2, b2, c2, at2 = a[:2], b[:2], c[:2], at[:2]
    cen, kappa, _ = _circle_mframe(a2, b2, c2)
    radius = 1.0 / jnp.abs(kappa)
    # tangent at `at`: perpendicular to (at - centre), oriented along the motion
    rel = (at2 - b2) - cen
    tang = jnp.stack([-rel[1], rel[0]])
    tang = tang * jnp.sign(jnp.sum(tang * (toward[:2] - at2)))
    phi = jnp.arctan2(tang[1], tang[0])
    chord = jnp.sqrt(jnp.sum((c2 - at2) ** 2))
    arc = 2 * radius * jnp.arcsin(jnp.clip(chord / (2 * radius), 0.0, 1.0))
    cot = (c[2] - at[2]) / arc
    theta = jnp.arctan2(1.0, cot)
    pt = C_LIGHT * abs(bz) * radius
    # counterclockwise (kappa > 0) is a negative charge for Bz > 0
    q = -jnp.sign(kappa) * math.copysign(1.0, bz)
    p = pt * jnp.sqrt(1 + cot**2)
    qop = q / p
    r_at = jnp.sqrt(jnp.sum(at2**2))
    params = jnp.stack([r_at * jnp.arctan2(at2[1], at2[0]), at[2], phi, theta, qop])
    s = jnp.asarray(init_sigmas, params.dtype)
    var_qop = (init_sigma_qop_rel * qop) ** 2 + (init_sigma_qopt * jnp.sin(theta)) ** 2
    var = jnp.concatenate([s**2, var_qop[None]])
    return params, jnp.diag(var)
