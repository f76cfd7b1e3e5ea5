r"""Kalman filter and Rauch-Tung-Striebel smoother on ACTS bound track parameters.

State on layer $k$ (a cylinder of radius $R_k$): $x=(\ell_0,\ell_1,\phi,\theta,q/p)$
with covariance $C$. One step of the extended Kalman filter (Frühwirth 1987):

* **Material** of the layer just left (thin scatterer, applied after its
  update, only where $|\ell_1|\le h$): the mean energy loss
  $x\mapsto E(x)$ with Jacobian $J_E$, and the Highland process noise
  $Q=\mathrm{diag}(0,0,\theta_0^2/\sin^2\theta,\theta_0^2,0)$,
  $C\mapsto J_E C J_E^\top+Q$ (:func:`add_material`).
* **Predict** to the next cylinder with the analytic helix,
  $x^-=f(x)$, $C^-=F C F^\top$, $F=\partial f/\partial x$ from ``jax.jacfwd``
  (:func:`predict`).
* **Update** with a measurement $m$ (:func:`update`): the residual
  $r=H_\ell\,(m-x_{0:2})$ ($\ell_0$ difference wrapped around the cylinder),
  $H_\ell=\mathrm{Rot}(\alpha)$ for a 2D pixel, its first row only for a 1D
  strip (the second row, residual and gain are masked to zero and
  $V_{vv}=1$, so one fixed-shape code path serves both), $S=HC^-H^\top+V$,
  $\chi^2=r^\top S^{-1}r$, $K=C^-H^\top S^{-1}$, $x^+=x^-+Kr$,
  $C^+=(1-KH)C^-(1-KH)^\top+KVK^\top$ (Joseph form). A measurement with
  $\chi^2>$ ``chi2_cut`` is an **outlier** and is not used.

The **RTS smoother** runs backwards with the full step Jacobian
$F_k=\partial x^-_{k+1}/\partial x^+_k$:
$G_k=C^+_kF_k^\top(C^-_{k+1})^{-1}$,
$x^s_k=x^+_k+G_k(x^s_{k+1}-x^-_{k+1})$,
$C^s_k=C^+_k+G_k(C^s_{k+1}-C^-_{k+1})G_k^\top$.

Everything is a pure function of fixed-shape arrays (one slot per layer,
masks for missing measurements), so ``jax.vmap`` fits many tracks at once and
``jax.grad`` differentiates fit quality (χ², smoothed covariances) with
respect to the :class:`~hepjax.sim.tracker.BarrelGeometry` (radii, material
$x/X_0$, resolutions via :func:`with_geometry_resolution`, field).

**Precision.** Track fitting needs float64 (covariances span ~16 orders of
magnitude). The convenience wrapper :func:`fit_tracks` runs inside
``jax.enable_x64(True)``; when calling :func:`kalman_fit` (or ``jax.grad`` of
it) directly, wrap the call in ``with jax.enable_x64(True):`` and pass float64
arrays. The global configuration is never changed.

References: R. Frühwirth, "Application of Kalman filtering to track and vertex
fitting", NIM A262 (1987) 444; H. Rauch, F. Tung, C. Striebel, AIAA J. 3
(1965) 1445; ACTS bound parameters and material handling, X. Ai et al.,
Comput. Softw. Big Sci. 6 (2022) 8.
"""

from __future__ import annotations

import functools
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float

from ..physics import MUON_MASS, highland
from ..sim.tracker import (
    BarrelGeometry,
    Measurements,
    TrackArrays,
    effective_thickness,
    energy_loss_qop,
    transport,
    wrap_angle,
)

__all__ = [
    "KalmanResult",
    "add_material",
    "fit_tracks",
    "initial_covariance",
    "kalman_fit",
    "measurement_chi2",
    "parameter_pulls",
    "predict",
    "update",
    "with_geometry_resolution",
]


# ---------------------------------------------------------------------------
# Building blocks (also used by track finding)
# ---------------------------------------------------------------------------


def predict(
    params: Float[Array, 5],
    cov: Float[Array, "5 5"],
    radius_from: Float[ArrayLike, ""],
    radius_to: Float[ArrayLike, ""],
    bz: Float[ArrayLike, ""],
) -> tuple[Float[Array, 5], Float[Array, "5 5"], Float[Array, "5 5"], Bool[Array, ""]]:
    r"""Transport parameters and covariance from one cylinder to the next.

    Returns:
        ``(params, cov, jacobian, reached)`` with $F$ = ``jax.jacfwd`` of
        :func:`hepjax.sim.tracker.transport` and $C^-=FCF^\top$; ``reached``
        is ``False`` when the helix cannot reach ``radius_to``.
    """

    def f(p):
        new, _, reached = transport(p, radius_from, radius_to, bz)
        return new, (new, reached)

    jac, (new, reached) = jax.jacfwd(f, has_aux=True)(params)
    new_cov = jac @ cov @ jac.T
    return new, 0.5 * (new_cov + new_cov.T), jac, reached


def _material_map(params, radius, thickness, mass):
    phi_pos = params[0] / radius
    t = effective_thickness(thickness, phi_pos, params[2], params[3])
    return params.at[4].set(energy_loss_qop(params[4], t, mass=mass)), t


def add_material(
    params: Float[Array, 5],
    cov: Float[Array, "5 5"],
    radius: Float[ArrayLike, ""],
    thickness: Float[ArrayLike, ""],
    *,
    mass: float = MUON_MASS,
) -> tuple[Float[Array, 5], Float[Array, "5 5"], Float[Array, "5 5"]]:
    r"""Energy loss and Highland process noise of a thin layer at the current state.

    Args:
        params, cov: state on the layer (after its update).
        radius: layer radius (for the incidence angle).
        thickness: $x/X_0$ at normal incidence.
        mass: particle mass (GeV).

    Returns:
        ``(params, cov, jacobian)``: $E(x)$, $J_E C J_E^\top + Q$, and $J_E$.
    """
    jac = jax.jacfwd(lambda p: _material_map(p, radius, thickness, mass)[0])(params)
    new, t = _material_map(params, radius, thickness, mass)
    theta0 = highland(jnp.abs(1.0 / params[4]), t, mass=mass)
    var = theta0**2
    sin_t = jnp.sin(params[3])
    q = jnp.zeros(5, params.dtype).at[2].set(var / sin_t**2).at[3].set(var)
    new_cov = jac @ cov @ jac.T + jnp.diag(q)
    return new, 0.5 * (new_cov + new_cov.T), jac


def _projection(meas: Measurements, dtype):
    """``(H (2, 5), V (2, 2))`` of one measurement (masked to 1D for strips)."""
    c, s = jnp.cos(meas.stereo), jnp.sin(meas.stereo)
    w = meas.is_2d.astype(dtype)
    h_loc = jnp.stack([jnp.stack([c, s]), jnp.stack([-s * w, c * w])]).astype(dtype)
    h = jnp.zeros((2, 5), dtype).at[:, :2].set(h_loc)
    v = meas.cov.astype(dtype)
    e00 = jnp.array([[1.0, 0.0], [0.0, 0.0]], dtype)
    e11 = jnp.array([[0.0, 0.0], [0.0, 1.0]], dtype)
    v = jnp.where(meas.is_2d, v, e00 * v[0, 0] + e11)
    return h, v


def _residual(params, meas: Measurements, radius):
    h, _ = _projection(meas, params.dtype)
    d0 = radius * wrap_angle((meas.loc[0] - params[0]) / radius)
    d = jnp.stack([d0, meas.loc[1] - params[1]])
    return h[:, :2] @ d


def update(
    params: Float[Array, 5],
    cov: Float[Array, "5 5"],
    meas: Measurements,
    radius: Float[ArrayLike, ""],
) -> tuple[Float[Array, 5], Float[Array, "5 5"], Float[Array, ""], Float[Array, 2]]:
    r"""Kalman update with one measurement (2D pixel or 1D strip, by ``meas.is_2d``).

    ``meas`` is a :class:`~hepjax.sim.tracker.Measurements` with an empty batch
    shape (one entry). ``meas.mask`` is ignored here (callers select).

    Returns:
        ``(params, cov, chi2, residual)`` with $\chi^2=r^\top S^{-1} r$ of the
        *predicted* residual $r$ (the second component is 0 for strips).
    """
    dtype = params.dtype
    h, v = _projection(meas, dtype)
    r = _residual(params, meas, radius)
    s = h @ cov @ h.T + v
    s_inv = jnp.linalg.inv(s)
    chi2 = r @ s_inv @ r
    k = cov @ h.T @ s_inv
    new = params + k @ r
    ikh = jnp.eye(5, dtype=dtype) - k @ h
    new_cov = ikh @ cov @ ikh.T + k @ v @ k.T
    return new, 0.5 * (new_cov + new_cov.T), chi2, r


def measurement_chi2(
    params: Float[Array, 5],
    cov: Float[Array, "5 5"],
    meas: Measurements,
    radius: Float[ArrayLike, ""],
) -> Float[Array, ""]:
    r"""$\chi^2=r^\top(HCH^\top+V)^{-1}r$ of a candidate measurement (1 or 2 d.o.f.)."""
    h, v = _projection(meas, params.dtype)
    r = _residual(params, meas, radius)
    s = h @ cov @ h.T + v
    return r @ jnp.linalg.solve(s, r)


def with_geometry_resolution(meas: Measurements, geometry: BarrelGeometry) -> Measurements:
    r"""Replace the measurement covariances by the geometry's resolutions (differentiable).

    Pixels get $\mathrm{diag}(\sigma_0^2,\sigma_1^2)$ and strips
    $\mathrm{diag}(\sigma_0^2, 1)$ of their layer, so gradients of fit quality
    flow into ``geometry.sigma0`` and ``geometry.sigma1``.
    """
    s0 = geometry.sigma0[meas.layer]
    s1 = geometry.sigma1[meas.layer]
    dtype = meas.cov.dtype
    v_vv = jnp.where(meas.is_2d, s1**2, 1.0)
    zero = jnp.zeros_like(s0)
    cov = jnp.stack([jnp.stack([s0**2, zero], -1), jnp.stack([zero, v_vv], -1)], -2)
    cov = jnp.where(meas.mask[..., None, None], cov.astype(dtype), meas.cov)
    return eqx.tree_at(lambda m: m.cov, meas, cov)


def initial_covariance(
    params: Float[Array, 5],
    *,
    sigma_loc: float = 1.0,
    sigma_z: float = 10.0,
    sigma_phi: float = 0.01,
    sigma_theta: float = 0.01,
    rel_sigma_qop: float = 0.1,
) -> Float[Array, "5 5"]:
    r"""A diagonal starting covariance: loosely constrained, relative $q/p$ width."""
    params = jnp.asarray(params)
    sig = jnp.stack(
        [
            jnp.asarray(sigma_loc, params.dtype),
            jnp.asarray(sigma_z, params.dtype),
            jnp.asarray(sigma_phi, params.dtype),
            jnp.asarray(sigma_theta, params.dtype),
            rel_sigma_qop * jnp.abs(params[4]),
        ]
    )
    return jnp.diag(sig**2)


# ---------------------------------------------------------------------------
# The filter and smoother
# ---------------------------------------------------------------------------


class KalmanResult(eqx.Module):
    """Output of :func:`kalman_fit` for one track over ``L`` layers (batch with ``vmap``).

    Attributes:
        predicted, predicted_cov: ``(L, 5)``, ``(L, 5, 5)`` before each update.
        filtered, filtered_cov: after each update (equal to predicted without one).
        smoothed, smoothed_cov: RTS-smoothed states (filtered if ``smooth=False``).
        chi2: ``(L,)`` predicted χ² of each measurement (0 where none).
        used: ``(L,)`` measurement present and accepted.
        outlier: ``(L,)`` measurement present and rejected by ``chi2_cut``.
        reached: ``(L,)`` the propagation reached the layer.
        chi2_total: sum of the used predicted χ² (the filter's χ², equal to
            the smoother's for a linear model). It includes the starting state as a
            prior: with an uninformative ``cov0`` it follows χ²(``ndf``); with a
            ``cov0`` that describes the start's error, χ²(``ndf`` + 5).
        ndf: number of degrees of freedom, (measured dimensions) − 5.
    """

    predicted: Float[Array, "l 5"]
    predicted_cov: Float[Array, "l 5 5"]
    filtered: Float[Array, "l 5"]
    filtered_cov: Float[Array, "l 5 5"]
    smoothed: Float[Array, "l 5"]
    smoothed_cov: Float[Array, "l 5 5"]
    chi2: Float[Array, " l"]
    used: Bool[Array, " l"]
    outlier: Bool[Array, " l"]
    reached: Bool[Array, " l"]
    chi2_total: Float[Array, ""]
    ndf: Float[Array, ""]


def _check_inputs(params0, cov0, meas, geometry):
    if not isinstance(geometry, BarrelGeometry):
        raise TypeError(f"geometry must be a BarrelGeometry, got {type(geometry).__name__}")
    if not isinstance(meas, Measurements):
        raise TypeError(f"meas must be hepjax.sim.tracker.Measurements, got {type(meas).__name__}")
    n = geometry.n_layers
    if meas.mask.shape != (n,):
        raise ValueError(
            f"meas must hold one slot per layer, batch shape ({n},), got {meas.mask.shape} "
            "(vmap over tracks)"
        )
    if jnp.shape(params0) != (5,):
        raise ValueError(f"params0 must have shape (5,), got {jnp.shape(params0)}")
    if jnp.shape(cov0) != (5, 5):
        raise ValueError(f"cov0 must have shape (5, 5), got {jnp.shape(cov0)}")


def kalman_fit(
    params0: Float[Array, 5],
    cov0: Float[Array, "5 5"],
    meas: Measurements,
    geometry: BarrelGeometry,
    *,
    chi2_cut: float | Float[Array, ""] = float("inf"),
    smooth: bool = True,
    mass: float = MUON_MASS,
) -> KalmanResult:
    r"""Fit one track: Kalman filter outwards through all layers, then the RTS smoother.

    Args:
        params0: starting parameters, *predicted* on layer 0 (radius ``geometry.radius[0]``).
        cov0: their covariance (e.g. :func:`initial_covariance`).
        meas: :class:`~hepjax.sim.tracker.Measurements` with batch shape ``(L,)``,
            one slot per layer (``mask`` False where none), e.g. a row of
            :func:`hepjax.sim.tracker.track_arrays`.
        geometry: the detector; its radii, material and field enter the model.
        chi2_cut: measurements with a larger predicted χ² are rejected as outliers.
        smooth: run the RTS smoother (else ``smoothed`` = ``filtered``).
        mass: particle hypothesis for the material effects.

    Returns:
        :class:`KalmanResult`. Pure and fixed-shape: ``jax.vmap`` over tracks
        (``in_axes=(0, 0, 0, None)``) and ``jax.grad`` with respect to the
        geometry. Use float64 (see the module docstring).
    """
    _check_inputs(params0, cov0, meas, geometry)
    dtype = jnp.result_type(params0, cov0, geometry.radius, meas.loc)
    radius = geometry.radius.astype(dtype)
    half_length = geometry.half_length.astype(dtype)
    thickness = geometry.thickness.astype(dtype)
    bz = geometry.bz.astype(dtype)
    params0 = jnp.asarray(params0, dtype)
    cov0 = jnp.asarray(cov0, dtype)
    eye = jnp.eye(5, dtype=dtype)

    def on_layer(pp, cp, reached, m, r, hl, thick):
        """Update with the layer's measurement, then add the layer's material."""
        pu, cu, chi2, _ = update(pp, cp, m, r)
        ok = m.mask & reached
        outlier = ok & (chi2 > chi2_cut)
        used = ok & ~outlier
        pf = jnp.where(used, pu, pp)
        cf = jnp.where(used, cu, cp)
        crossed = reached & (jnp.abs(pf[1]) <= hl)
        pm, cm, jac_e = add_material(pf, cf, r, thick, mass=mass)
        pm = jnp.where(crossed, pm, pf)
        cm = jnp.where(crossed, cm, cf)
        jac_e = jnp.where(crossed, jac_e, eye)
        return pf, cf, jnp.where(ok, chi2, 0.0), used, outlier, pm, cm, jac_e

    first = jnp.arange(radius.shape[0]) == 0
    # Layer 0 holds the starting state: its "prediction" (from a dummy radius,
    # finite and discarded) is replaced by params0, cov0.
    radius_prev = jnp.concatenate([0.5 * radius[:1], radius[:-1]])

    def step(carry, x):
        p, c, alive, j_prev = carry  # after the previous layer's material
        is_first, r_prev, r, hl, thick, m = x
        pp, cp, jac_f, reached = predict(p, c, r_prev, r, bz)
        pp = jnp.where(is_first, params0, pp)
        cp = jnp.where(is_first, cov0, cp)
        jac_f = jnp.where(is_first, eye, jac_f)
        reached = alive & (is_first | reached)
        pf, cf, chi2, used, outlier, pm, cm, jac_e = on_layer(pp, cp, reached, m, r, hl, thick)
        out = (pp, cp, pf, cf, jac_f @ j_prev, chi2, used, outlier, reached)
        return (pm, cm, reached, jac_e), out

    xs = (first, radius_prev, radius, half_length, thickness, meas)
    carry0 = (params0, cov0, jnp.asarray(True), eye)
    _, (pp, cp, pf, cf, jac, chi2, used, outlier, reached) = lax.scan(step, carry0, xs)

    if smooth:
        ps, cs = _rts(pp, cp, pf, cf, jac, reached)
    else:
        ps, cs = pf, cf
    dims = jnp.where(meas.is_2d, 2.0, 1.0)
    ndf = jnp.sum(jnp.where(used, dims, 0.0)) - 5.0
    return KalmanResult(
        predicted=pp,
        predicted_cov=cp,
        filtered=pf,
        filtered_cov=cf,
        smoothed=ps,
        smoothed_cov=cs,
        chi2=chi2,
        used=used,
        outlier=outlier,
        reached=reached,
        chi2_total=jnp.sum(jnp.where(used, chi2, 0.0)),
        ndf=ndf.astype(dtype),
    )


def _rts(pp, cp, pf, cf, jac, reached):
    """Backward RTS pass; ``jac[k+1]`` maps filtered ``k`` to predicted ``k+1``."""

    def back(carry, x):
        xs_next, cs_next = carry
        pf_k, cf_k, pp_n, cp_n, jac_n, reached_n = x
        gain = jnp.linalg.solve(cp_n, jac_n @ cf_k).T  # C_f F^T C_p^{-1}
        xs_k = pf_k + gain @ (xs_next - pp_n)
        cs_k = cf_k + gain @ (cs_next - cp_n) @ gain.T
        cs_k = 0.5 * (cs_k + cs_k.T)
        xs_k = jnp.where(reached_n, xs_k, pf_k)
        cs_k = jnp.where(reached_n, cs_k, cf_k)
        return (xs_k, cs_k), (xs_k, cs_k)

    last = (pf[-1], cf[-1])
    xs = (pf[:-1], cf[:-1], pp[1:], cp[1:], jac[1:], reached[1:])
    _, (ps, cs) = lax.scan(back, last, xs, reverse=True)
    ps = jnp.concatenate([ps, pf[-1:]])
    cs = jnp.concatenate([cs, cf[-1:]])
    return ps, cs


# ---------------------------------------------------------------------------
# Batched convenience and diagnostics
# ---------------------------------------------------------------------------


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
        chi2_cut, smooth, mass: as in :func:`kalman_fit`.
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
    if not isinstance(iterations, int | np.integer) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
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
