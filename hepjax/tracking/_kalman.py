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
  (:func:`kalman_predict`).
* **Update** with a measurement $m$ (:func:`kalman_update`): the residual
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

The building blocks (:func:`kalman_predict`, :func:`kalman_update`,
:func:`add_material`, also used by the CKF) are in this module's companion
``_kalman_steps``; the batched float64 wrapper :func:`~hepjax.tracking.fit_tracks`
and the pulls are in ``_fit_tracks``.

**Precision.** Track fitting needs float64 (covariances span ~16 orders of
magnitude). The convenience wrapper :func:`~hepjax.tracking.fit_tracks` runs inside
``jax.enable_x64(True)``; when calling :func:`kalman_fit` (or ``jax.grad`` of
it) directly, wrap the call in ``with jax.enable_x64(True):`` and pass float64
arrays. The global configuration is never changed.

References: R. Frühwirth, "Application of Kalman filtering to track and vertex
fitting", NIM A262 (1987) 444; H. Rauch, F. Tung, C. Striebel, AIAA J. 3
(1965) 1445; ACTS bound parameters and material handling, X. Ai et al.,
Comput. Softw. Big Sci. 6 (2022) 8.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float

from ..physics import MUON_MASS
from ..sim.tracker import BarrelGeometry, Measurements
from ._kalman_steps import add_material, kalman_predict, kalman_update

__all__ = ["KalmanResult", "kalman_fit"]


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
        pu, cu, chi2, _ = kalman_update(pp, cp, m, r)
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
        pp, cp, jac_f, reached = kalman_predict(p, c, r_prev, r, bz)
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
