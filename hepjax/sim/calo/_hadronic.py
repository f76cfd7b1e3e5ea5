r"""Hadronic showers: an electromagnetic core, a non-compensated hadronic part, fluctuations.

A hadron of available energy $E$ travels a depth $d$ drawn from an exponential
in nuclear interaction lengths (the interaction length of mesons is
``meson_length`` $\lambda_\text{int}$: their inelastic cross sections are smaller than
the nucleons'), ionising like a minimum-ionising particle until then. At the
first interaction its energy splits into

* an **electromagnetic part** $f_\text{em}E$ (from $\pi^0$ and $\eta$ decays),
  showered as one GFlash shower starting there (:mod:`._gflash`), and
* a **hadronic part** $(1-f_\text{em})E$, of which only a fraction $h/e$ is
  visible (non-compensation). Of the non-electromagnetic energy, nuclear
  binding energy is lost (about a third in iron, 40% or more in lead) and, in
  lead, much of the rest is carried by evaporation neutrons rather than
  ionising protons (Wigmans, *Calorimetry*, 2nd ed., Sec. 2.3 and 3.2; Gabriel
  et al., NIM A338 (1994) 336). COCOA's Geant4 counts every deposit in its
  homogeneous mixtures (no Birks quenching), so $h/e$ is that of raw deposits:
  ``h_over_e`` $= (0.47, 0.62)$ in the electromagnetic layers (68% lead by
  mass) and the hadronic layers (89% iron, with the scintillator's hydrogen
  turning some neutron energy into proton recoils). It fluctuates from shower
  to shower by a factor $\mathcal N(1, \sigma_h^2)$. These are estimates from
  the literature, not fits to COCOA.

**Electromagnetic fraction** (Groom, PDG Review "Passage of particles through
matter"/"Calorimetry", Sec. 34.9.1; Gabriel et al., NIM A338 (1994) 336):

$$\langle f_\text{em}\rangle = 1 - (E/E_0)^{k-1},\qquad k = 0.82,\quad
  E_0 = 1\ \text{GeV (mesons)},\ 2.6\ \text{GeV (baryons)},$$

drawn from a Beta distribution with that mean and standard deviation
``fem_sigma`` (the $\pi^0$ fraction of a pion shower fluctuates by about 0.1–0.15,
non-Gaussian and bounded by 0 and 1).

**Longitudinal profile** of the hadronic part, in $\lambda_\text{int}$ from the
first interaction: a Gamma density with its maximum at
$t_\max = 0.2\ln(E/\text{GeV}) + 0.7$ and an exponential tail of length
$\lambda_\text{att} = (E/\text{GeV})^{0.13}$ (PDG Sec. 34.9.2: shower maximum
and the 95% containment length $t_\max + 2.5\lambda_\text{att}$), i.e.
$\beta_h = 1/\lambda_\text{att}$, $\alpha_h = 1 + \beta_h t_\max$.

**Lateral profile** of the hadronic part: $f(r) = 2rR_h^2/(r^2+R_h^2)^2$ with
$R_h = \lambda_\text{int}/\sqrt{19}$, so that 95% of the energy lies within one
interaction length (PDG Sec. 34.9.2), much wider than the electromagnetic
core (a Molière radius).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

__all__ = ["HadronicShower", "em_fraction_mean", "hadronic_longitudinal_parameters"]


class HadronicShower(eqx.Module):
    """Parameters of the hadronic shower model (module docstring); all static.

    A strategy object for :func:`~hepjax.sim.calo.simulate_particles`
    (``hadronic=HadronicShower(...)``).

    Attributes:
        k, e0_meson, e0_baryon: Groom's $\\langle f_\\text{em}\\rangle$ (GeV).
        fem_sigma: standard deviation of $f_\\text{em}$.
        min_fem: the smallest mean $f_\\text{em}$ (below $E_0$ the formula
            turns negative).
        h_over_e: visible fraction of the hadronic part in the electromagnetic
            and hadronic layers.
        h_sigma: relative shower-to-shower spread of that fraction.
        tmax0, tmax1: $t_\\max = t_0 + t_1\\ln E$ ($\\lambda_\\text{int}$).
        att_exponent: $\\lambda_\\text{att} = E^{a}$ ($\\lambda_\\text{int}$).
        radius: $R_h$ in $\\lambda_\\text{int}$.
        meson_length: interaction length of mesons in units of $\\lambda_\\text{int}$.
        max_radius_quantile: radii are drawn up to this quantile of $f(r)$.
    """

    k: float = eqx.field(static=True, default=0.82)
    e0_meson: float = eqx.field(static=True, default=1.0)
    e0_baryon: float = eqx.field(static=True, default=2.6)
    fem_sigma: float = eqx.field(static=True, default=0.12)
    min_fem: float = eqx.field(static=True, default=0.05)
    h_over_e: tuple[float, float] = eqx.field(static=True, default=(0.47, 0.62))
    h_sigma: float = eqx.field(static=True, default=0.10)
    tmax0: float = eqx.field(static=True, default=0.7)
    tmax1: float = eqx.field(static=True, default=0.2)
    att_exponent: float = eqx.field(static=True, default=0.13)
    radius: float = eqx.field(static=True, default=1.0 / math.sqrt(19.0))
    meson_length: float = eqx.field(static=True, default=1.2)
    max_radius_quantile: float = eqx.field(static=True, default=0.99)


def em_fraction_mean(
    model: HadronicShower, energy: Float[ArrayLike, ...], baryon: ArrayLike = False
) -> Float[Array, ...]:
    """Groom's $\\langle f_\\text{em}\\rangle = 1 - (E/E_0)^{k-1}$, at least ``min_fem``."""
    e = jnp.maximum(jnp.asarray(energy, jnp.float32), 1e-3)
    e0 = jnp.where(jnp.asarray(baryon), model.e0_baryon, model.e0_meson)
    return jnp.clip(1.0 - (e / e0) ** (model.k - 1.0), model.min_fem, 0.95)


def sample_em_fraction(
    key: PRNGKeyArray, model: HadronicShower, energy: Float[ArrayLike, ""], baryon: ArrayLike
) -> Float[Array, ""]:
    """$f_\\text{em}$ from a Beta distribution with Groom's mean and ``fem_sigma``."""
    mu = em_fraction_mean(model, energy, baryon)
    var = jnp.minimum(model.fem_sigma**2, 0.8 * mu * (1 - mu))
    kappa = mu * (1 - mu) / var - 1.0
    return jax.random.beta(key, mu * kappa, (1 - mu) * kappa)


def hadronic_longitudinal_parameters(
    model: HadronicShower, energy: Float[ArrayLike, ...]
) -> tuple[Float[Array, ...], Float[Array, ...]]:
    """``(alpha_h, beta_h)`` of the hadronic part's Gamma profile in $\\lambda_\\text{int}$."""
    e = jnp.maximum(jnp.asarray(energy, jnp.float32), 0.1)
    t_max = model.tmax0 + model.tmax1 * jnp.log(e)
    beta = e ** (-model.att_exponent)
    return 1.0 + beta * t_max, beta
