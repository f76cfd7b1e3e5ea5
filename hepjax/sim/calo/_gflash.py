r"""Electromagnetic showers by the GFlash parametrisation (Grindhammer & Peters).

Sources: G. Grindhammer, S. Peters, "The parameterized simulation of
electromagnetic showers in homogeneous and sampling calorimeters",
hep-ex/0001020 (1993), Sec. 2–3 (homogeneous media); G. Grindhammer,
M. Rudowicz, S. Peters, NIM A290 (1990) 469; the coefficients as in Geant4's
``GVFlashHomoShowerTuning``. COCOA's calorimeter layers are homogeneous
mixtures in Geant4 (the sampling is emulated afterwards), so the *homogeneous*
parametrisation applies, with GFlash's effective $Z$ and critical energy of the
mixture (:mod:`._media`).

**Longitudinal profile.** With $y = E/E_c$ and $t$ the depth in radiation
lengths from the shower's start, the energy profile of one shower is a Gamma
density

$$\frac{1}{E}\frac{dE}{dt} = \frac{(\beta t)^{\alpha-1}\beta e^{-\beta t}}{\Gamma(\alpha)},\qquad
  \langle t\rangle = \frac{\alpha}{\beta},\qquad T = \frac{\alpha-1}{\beta}\ (\text{maximum}),$$

whose parameters fluctuate from shower to shower: $(\ln T, \ln\alpha)$ is a
correlated Gaussian with (hep-ex/0001020 eqs. 5–8)

$$\langle\ln T\rangle = \ln(\ln y + t_1),\quad
  \langle\ln\alpha\rangle = \ln\bigl(a_1 + (a_2 + a_3/Z)\ln y\bigr),$$
$$\sigma_{\ln T} = (s_1 + s_2\ln y)^{-1},\quad
  \sigma_{\ln\alpha} = (r_1 + r_2\ln y)^{-1},\quad
  \rho(\ln T, \ln\alpha) = \rho_1 + \rho_2\ln y,$$

$t_1 = -0.812$, $a_{1,2,3} = 0.81, 0.458, 2.26$, $s_{1,2} = -1.4, 1.26$,
$r_{1,2} = -0.58, 0.86$, $\rho_{1,2} = 0.705, -0.023$. Sampled as
$\ln T = \langle\ln T\rangle + \sigma_{\ln T}(c_+ g_1 + c_- g_2)$,
$\ln\alpha = \langle\ln\alpha\rangle + \sigma_{\ln\alpha}(c_+ g_1 - c_- g_2)$,
$c_\pm = \sqrt{(1\pm\rho)/2}$, $g_{1,2}\sim\mathcal N(0,1)$ (Geant4's
``GFlashHomoShowerParameterisation::GenerateEnergyProfile``). The formulae are
fits above about 1 GeV; below, $\ln y$ is held at ``min_log_y`` (a shower of a
few hundred MeV is a few cells anyway) and $\alpha \ge 1.05$.

**Radial profile** at depth $t$, in Molière radii, with $\tau = t/T$
(the individual shower's maximum; hep-ex/0001020 eqs. 10–13):

$$f(r) = p\,\frac{2rR_C^2}{(r^2+R_C^2)^2} + (1-p)\,\frac{2rR_T^2}{(r^2+R_T^2)^2},$$
$$R_C = z_1 + z_2\tau,\ z_1 = 0.0251 + 0.00319\ln E,\ z_2 = 0.1162 - 0.000381 Z;$$
$$R_T = k_1\bigl(e^{k_3(\tau-k_2)} + e^{k_4(\tau-k_2)}\bigr),\ k_1 = 0.659 - 0.00309Z,\
  k_2 = 0.645,\ k_3 = -2.59,\ k_4 = 0.3585 + 0.0412\ln E;$$
$$p = p_1 \exp\Bigl(\frac{p_2-\tau}{p_3} - e^{(p_2-\tau)/p_3}\Bigr),\
  p_1 = 2.632 - 0.00094Z,\ p_2 = 0.401 + 0.00187Z,\ p_3 = 1.313 - 0.0686\ln E,$$

$E$ in GeV. Each component's cumulative is $r^2/(r^2+R^2)$, so a radius is
$R\sqrt{v/(1-v)}$ with $v$ uniform (capped at ``max_radius_quantile``).

**Spots.** A shower is ``n`` equal-energy spots with depths drawn from its own
Gamma profile, radii from the radial profile at their depth, and uniform
azimuths (GFlash draws its spot *count* from a second Gamma profile and gives
each spot the energy of its depth bin; equal energies conserve the energy
spot by spot and need no binning).

**Photons** convert after a depth $c$ drawn from an exponential of mean
$9/7\,X_0$ (the pair-production length; Geant4's ``GenerateExponential``);
the pair's two showers, each softer than one electron of the photon's
energy, develop earlier than that electron's would, so the photon follows the
electron profile from $\max(c - \delta, 0)$ with $\delta$ = ``pair_offset``.

**Which medium.** A shower uses $Z$ and $E_c$ of the medium it *starts* in
(:func:`~hepjax.sim.calo.simulate_particles`): a shower starting in the iron in
front of COCOA's calorimeter develops, in radiation lengths, like one in iron
(higher $E_c$: fewer, shorter-lived particles, and more energy per $X_0$ lost
by ionisation) even after it enters the Pb/LAr mixture.

**Tuning** against hepjax's own transport Monte Carlo (:mod:`hepjax.sim.transport`,
1 MeV cut), the reference here since Geant4 cannot run; the checks are the slow
tests ``test_gflash_*_transport`` of ``tests/sim/test_calo_showers.py``.

* GFlash's coefficients are *unchanged*: the mean depth $\langle t\rangle$ of
  electron showers in COCOA's Pb/LAr mixture is 6.52 ± 0.07 $X_0$ (transport,
  2 GeV, 128 showers) against 6.56 (GFlash), and 8.24 ± 0.15 against 7.90 at
  8 GeV; 10 GeV electrons deposit 7.7 ± 0.4% and 25.9 ± 1.1% of their energy
  in the first 2.7 and 4.7 $X_0$ of iron (transport) against 7.0% and 27%
  (GFlash with iron's $Z$ and $E_c$, as used here; 4.7% and 20% with the
  mixture's, which is why a shower takes its starting medium's).
* ``pair_offset`` $\delta = 0.7\,X_0$ is *tuned*: it makes the mean depth of
  photon showers exceed the electrons' by
  $\tfrac{9}{7}e^{-7\delta/9} = 0.75\,X_0$, the transport's 0.75 ± 0.13 $X_0$
  at 2 GeV in the mixture; 10 GeV photons then deposit 4.4% and 20% in 2.7 and
  4.7 $X_0$ of iron (transport: 5.4 ± 0.6% and 22 ± 2%).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

__all__ = [
    "GFlash",
    "em_longitudinal_parameters",
    "em_radial_parameters",
    "gamma_profile_fraction",
    "sample_em_profile",
    "sample_em_spots",
]


class GFlash(eqx.Module):
    """The coefficients of the GFlash EM parametrisation (module docstring).

    A strategy object for :func:`~hepjax.sim.calo.simulate_particles`
    (``em=GFlash(...)``); all fields are static numbers. Below $y = E/E_c$ and
    $Z$ is the medium's effective atomic number.

    Attributes:
        t1: $t_1$ of $\\langle\\ln T\\rangle = \\ln(\\ln y + t_1)$ (shower maximum $T$, $X_0$).
        a1, a2, a3: $\\langle\\ln\\alpha\\rangle = \\ln(a_1 + (a_2 + a_3/Z)\\ln y)$.
        sig_t1, sig_t2: $\\sigma_{\\ln T} = (s_1 + s_2\\ln y)^{-1}$.
        sig_a1, sig_a2: $\\sigma_{\\ln\\alpha} = (r_1 + r_2\\ln y)^{-1}$.
        rho1, rho2: their correlation $\\rho = \\rho_1 + \\rho_2\\ln y$ (clipped to $[-1, 1]$).
        rc1, rc2, rc3, rc4: the core radius $R_C = (rc_1 + rc_2\\ln E) + (rc_3 + rc_4 Z)\\tau$,
            Molière radii.
        rt1, rt2, rt3, rt4, rt5, rt6: the tail radius $R_T$, Molière radii
            (:func:`em_radial_parameters`).
        wc1, wc2, wc3, wc4, wc5, wc6: the core weight $p(\\tau)$
            (:func:`em_radial_parameters`).
        conversion_length: mean photon conversion depth, $X_0$ ($9/7$).
        pair_offset: $\\delta$, $X_0$, subtracted from a photon's conversion depth
            (tuned, module docstring).
        min_log_y: the smallest $\\ln y$ used (lower energies are held there).
        min_alpha: the smallest profile shape $\\alpha$ sampled.
        max_radius_quantile: the cap on the uniform $v$ of the radial sampling.
        fluctuate: sample GFlash's correlated profile fluctuations (``False``: the
            average profile).
    """

    t1: float = eqx.field(static=True, default=-0.812)
    a1: float = eqx.field(static=True, default=0.81)
    a2: float = eqx.field(static=True, default=0.458)
    a3: float = eqx.field(static=True, default=2.26)
    sig_t1: float = eqx.field(static=True, default=-1.4)
    sig_t2: float = eqx.field(static=True, default=1.26)
    sig_a1: float = eqx.field(static=True, default=-0.58)
    sig_a2: float = eqx.field(static=True, default=0.86)
    rho1: float = eqx.field(static=True, default=0.705)
    rho2: float = eqx.field(static=True, default=-0.023)
    rc1: float = eqx.field(static=True, default=0.0251)
    rc2: float = eqx.field(static=True, default=0.00319)
    rc3: float = eqx.field(static=True, default=0.1162)
    rc4: float = eqx.field(static=True, default=-0.000381)
    rt1: float = eqx.field(static=True, default=0.659)
    rt2: float = eqx.field(static=True, default=-0.00309)
    rt3: float = eqx.field(static=True, default=0.645)
    rt4: float = eqx.field(static=True, default=-2.59)
    rt5: float = eqx.field(static=True, default=0.3585)
    rt6: float = eqx.field(static=True, default=0.0412)
    wc1: float = eqx.field(static=True, default=2.632)
    wc2: float = eqx.field(static=True, default=-0.00094)
    wc3: float = eqx.field(static=True, default=0.401)
    wc4: float = eqx.field(static=True, default=0.00187)
    wc5: float = eqx.field(static=True, default=1.313)
    wc6: float = eqx.field(static=True, default=-0.0686)
    conversion_length: float = eqx.field(static=True, default=9.0 / 7.0)
    pair_offset: float = eqx.field(static=True, default=0.7)
    min_log_y: float = eqx.field(static=True, default=2.5)
    min_alpha: float = eqx.field(static=True, default=1.05)
    max_radius_quantile: float = eqx.field(static=True, default=0.995)
    fluctuate: bool = eqx.field(static=True, default=True)


def _log_y(model: GFlash, energy, critical_energy):
    y = jnp.asarray(energy, jnp.float32) / jnp.asarray(critical_energy, jnp.float32)
    return jnp.maximum(jnp.log(jnp.maximum(y, 1e-30)), model.min_log_y)


def em_longitudinal_parameters(
    model: GFlash,
    energy: Float[ArrayLike, ...],
    z_eff: Float[ArrayLike, ...],
    critical_energy: Float[ArrayLike, ...],
) -> tuple[Array, Array, Array, Array, Array]:
    """$(\\langle\\ln T\\rangle, \\langle\\ln\\alpha\\rangle, \\sigma_{\\ln T},
    \\sigma_{\\ln\\alpha}, \\rho)$ of a shower of ``energy`` (GeV) in a medium of
    effective ``z_eff`` and ``critical_energy`` (GeV); module docstring.

    Args:
        model: the GFlash parameters.
        energy: shower energy, GeV.
        z_eff: effective atomic number of the medium.
        critical_energy: the medium's critical energy, GeV.
    """
    ly = _log_y(model, energy, critical_energy)
    z = jnp.asarray(z_eff, jnp.float32)
    mean_ln_t = jnp.log(ly + model.t1)
    mean_ln_a = jnp.log(model.a1 + (model.a2 + model.a3 / z) * ly)
    sig_t = 1.0 / (model.sig_t1 + model.sig_t2 * ly)
    sig_a = 1.0 / (model.sig_a1 + model.sig_a2 * ly)
    rho = jnp.clip(model.rho1 + model.rho2 * ly, -1.0, 1.0)
    return mean_ln_t, mean_ln_a, sig_t, sig_a, rho


def sample_em_profile(
    key: PRNGKeyArray,
    model: GFlash,
    energy: Float[ArrayLike, ""],
    z_eff: Float[ArrayLike, ""],
    critical_energy: Float[ArrayLike, ""],
) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
    """``(T, alpha, beta)`` of one shower, with GFlash's correlated fluctuations.

    With ``model.fluctuate=False`` the average profile
    $T = e^{\\langle\\ln T\\rangle}$, $\\alpha = e^{\\langle\\ln\\alpha\\rangle}$.

    Args:
        key: PRNG key (unused without fluctuations).
        model: the GFlash parameters.
        energy: shower energy, GeV.
        z_eff: effective atomic number of the medium.
        critical_energy: the medium's critical energy, GeV.
    """
    m_t, m_a, s_t, s_a, rho = em_longitudinal_parameters(model, energy, z_eff, critical_energy)
    if model.fluctuate:
        g1, g2 = jax.random.normal(key, (2,), jnp.float32)
        cp, cm = jnp.sqrt((1 + rho) / 2), jnp.sqrt((1 - rho) / 2)
        ln_t = m_t + s_t * (cp * g1 + cm * g2)
        ln_a = m_a + s_a * (cp * g1 - cm * g2)
    else:
        ln_t, ln_a = m_t, m_a
    t_max = jnp.exp(ln_t)
    alpha = jnp.maximum(jnp.exp(ln_a), model.min_alpha)
    return t_max, alpha, (alpha - 1.0) / t_max


def gamma_profile_fraction(
    t: Float[ArrayLike, ...], alpha: Float[ArrayLike, ...], beta: Float[ArrayLike, ...]
) -> Float[Array, ...]:
    """The fraction of a Gamma profile's energy deposited before depth ``t``:
    the regularised incomplete gamma function $P(\\alpha, \\beta t)$.

    Args:
        t: depth, radiation lengths $X_0$ (negative depths count as 0).
        alpha: the profile's shape parameter $\\alpha$ (broadcasts with ``t``).
        beta: its rate $\\beta$, per $X_0$ (broadcasts with ``t``).
    """
    t = jnp.maximum(jnp.asarray(t, jnp.float32), 0.0)
    return jax.scipy.special.gammainc(jnp.asarray(alpha), jnp.asarray(beta) * t)


def em_radial_parameters(
    model: GFlash,
    energy: Float[ArrayLike, ...],
    z_eff: Float[ArrayLike, ...],
    tau: Float[ArrayLike, ...],
) -> tuple[Array, Array, Array]:
    """``(R_C, R_T, p)`` in Molière radii at ``tau`` $= t/T$ (module docstring).

    Args:
        model: the GFlash parameters.
        energy: shower energy, GeV.
        z_eff: effective atomic number of the medium.
        tau: depth in units of the shower maximum $T$ (broadcasts with ``energy``).
    """
    ln_e = jnp.log(jnp.maximum(jnp.asarray(energy, jnp.float32), 1e-3))
    z = jnp.asarray(z_eff, jnp.float32)
    tau = jnp.asarray(tau, jnp.float32)
    z1 = model.rc1 + model.rc2 * ln_e
    z2 = model.rc3 + model.rc4 * z
    r_core = z1 + z2 * tau
    k1 = model.rt1 + model.rt2 * z
    k4 = model.rt5 + model.rt6 * ln_e
    r_tail = k1 * (jnp.exp(model.rt4 * (tau - model.rt3)) + jnp.exp(k4 * (tau - model.rt3)))
    p1 = model.wc1 + model.wc2 * z
    p2 = model.wc3 + model.wc4 * z
    p3 = model.wc5 + model.wc6 * ln_e
    u = (p2 - tau) / p3
    p = jnp.clip(p1 * jnp.exp(u - jnp.exp(u)), 0.0, 1.0)
    return r_core, r_tail, p


def sample_em_spots(
    key: PRNGKeyArray,
    model: GFlash,
    energy: Float[ArrayLike, ""],
    z_eff: Float[ArrayLike, ""],
    critical_energy: Float[ArrayLike, ""],
    n: int,
) -> tuple[Float[Array, " n"], Float[Array, " n"], Float[Array, " n"], Float[Array, " 3"]]:
    """``n`` spots of one EM shower: depth $t$ ($X_0$ from the start), radius $r$
    (Molière radii), azimuth $\\psi$, and the profile ``(T, alpha, beta)``.

    Each spot carries ``energy / n``.

    Args:
        key: PRNG key.
        model: the GFlash parameters.
        energy: shower energy, GeV.
        z_eff: effective atomic number of the medium.
        critical_energy: the medium's critical energy, GeV.
        n: the number of spots (static).
    """
    k_prof, k_t, k_c, k_r, k_psi = jax.random.split(key, 5)
    t_max, alpha, beta = sample_em_profile(k_prof, model, energy, z_eff, critical_energy)
    t = jax.random.gamma(k_t, alpha, (n,), jnp.float32) / beta
    r_core, r_tail, p = em_radial_parameters(model, energy, z_eff, t / t_max)
    core = jax.random.uniform(k_c, (n,)) < p
    v = jax.random.uniform(k_r, (n,), maxval=model.max_radius_quantile)
    r = jnp.where(core, r_core, r_tail) * jnp.sqrt(v / (1.0 - v))
    psi = jax.random.uniform(k_psi, (n,), maxval=2 * math.pi)
    return t, r, psi, jnp.stack([t_max, alpha, beta])
