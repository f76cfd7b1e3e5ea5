r"""Closed-form lens deflections and source light profiles (angles in arcseconds).

The lens equation maps an image-plane position $\theta$ to the source plane,

.. math::
    \beta = \theta - \alpha(\theta),

and lensing conserves surface brightness: the lensed image is
$I(\theta) = S(\beta(\theta))$ for a source profile $S$.

- Singular isothermal ellipsoid (SIE), in the convention of Kormann, Schneider
  & Bartelmann 1994 (A&A 284, 285) and Keeton 2001 (astro-ph/0102341) with the
  Einstein radius normalised as in lenstronomy (Birrer & Amara 2018,
  arXiv:1803.09746): in the frame aligned with the major axis,
  $\kappa(x, y) = \theta_E / (2\sqrt{q x^2 + y^2 / q})$ and

  .. math::
      \alpha_x = \frac{\theta_E \sqrt q}{\sqrt{1 - q^2}}
          \arctan\frac{\sqrt{1 - q^2}\, x}{\psi}, \qquad
      \alpha_y = \frac{\theta_E \sqrt q}{\sqrt{1 - q^2}}
          \operatorname{artanh}\frac{\sqrt{1 - q^2}\, y}{\psi}, \qquad
      \psi = \sqrt{q^2 x^2 + y^2}.

  For $q \to 1$ this is the singular isothermal sphere, $\alpha = \theta_E\,\theta/|\theta|$.
- External shear $(\gamma_1, \gamma_2)$:
  $\alpha = (\gamma_1 x + \gamma_2 y,\ \gamma_2 x - \gamma_1 y)$.
- Elliptical Sérsic light (Sérsic 1963), $S = I_e \exp(-b_n[(R/r_e)^{1/n} - 1])$
  with $R = \sqrt{q x^2 + y^2 / q}$ in the source's frame and $b_n$ from the
  asymptotic series of Ciotti & Bertin 1999 (A&A 352, 447), so that $r_e$
  encloses half the light.
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

# Below this sqrt(1 - q^2) the SIE uses the series arctan(e u)/e = u (1 - e^2 u^2 / 3),
# which avoids 0/0 at q = 1 (the singular isothermal sphere).
_E_SERIES = 1e-3


def _rotate(x, y, phi):
    c, s = jnp.cos(phi), jnp.sin(phi)
    return c * x + s * y, -s * x + c * y


def _atan_over(e, u):
    """``arctan(e u) / e``, smooth through ``e = 0``."""
    e_safe = jnp.where(e < _E_SERIES, 1.0, e)
    return jnp.where(e < _E_SERIES, u * (1.0 - (e * u) ** 2 / 3.0), jnp.arctan(e_safe * u) / e_safe)


def _atanh_over(e, u):
    """``artanh(e u) / e``, smooth through ``e = 0``."""
    e_safe = jnp.where(e < _E_SERIES, 1.0, e)
    return jnp.where(
        e < _E_SERIES, u * (1.0 + (e * u) ** 2 / 3.0), jnp.arctanh(e_safe * u) / e_safe
    )


def sie_deflection(
    x: Float[ArrayLike, "*s"],
    y: Float[ArrayLike, "*s"],
    theta_e: Float[ArrayLike, "..."],
    q: Float[ArrayLike, "..."],
    phi: Float[ArrayLike, "..."] = 0.0,
    center_x: Float[ArrayLike, "..."] = 0.0,
    center_y: Float[ArrayLike, "..."] = 0.0,
) -> tuple[Float[Array, "*s"], Float[Array, "*s"]]:
    r"""Deflection $(\alpha_x, \alpha_y)$ of a singular isothermal ellipsoid at ``(x, y)``.

    Args:
        x: image-plane $x$ positions (arcsec), any shape.
        y: image-plane $y$ positions (arcsec), the shape of ``x``.
        theta_e: Einstein radius (arcsec).
        q: axis ratio in $(0, 1]$ (1: the singular isothermal sphere).
        phi: position angle of the major axis (radians, counter-clockwise from $x$).
        center_x: $x$ of the lens centre (arcsec).
        center_y: $y$ of the lens centre (arcsec).

    The deflection is finite everywhere (its magnitude is $\theta_E$ for the
    sphere); at the centre itself it is taken as 0.
    """
    x = jnp.asarray(x) - center_x
    y = jnp.asarray(y) - center_y
    xr, yr = _rotate(x, y, phi)
    e = jnp.sqrt(jnp.clip(1.0 - q**2, 0.0, None))
    psi = jnp.sqrt(q**2 * xr**2 + yr**2)
    psi_safe = jnp.where(psi > 0, psi, 1.0)
    scale = theta_e * jnp.sqrt(q)
    ax = jnp.where(psi > 0, scale * _atan_over(e, xr / psi_safe), 0.0)
    ay = jnp.where(psi > 0, scale * _atanh_over(e, yr / psi_safe), 0.0)
    return _rotate(ax, ay, -phi)


def sie_convergence(
    x: Float[ArrayLike, "*s"],
    y: Float[ArrayLike, "*s"],
    theta_e: Float[ArrayLike, "..."],
    q: Float[ArrayLike, "..."],
    phi: Float[ArrayLike, "..."] = 0.0,
    center_x: Float[ArrayLike, "..."] = 0.0,
    center_y: Float[ArrayLike, "..."] = 0.0,
) -> Float[Array, "*s"]:
    r"""Convergence $\kappa = \theta_E / (2\sqrt{q x'^2 + y'^2/q})$ of the SIE.

    Arguments as in :func:`sie_deflection`; ``inf`` at the centre.

    Args:
        x: image-plane $x$ positions (arcsec), any shape.
        y: image-plane $y$ positions (arcsec), the shape of ``x``.
        theta_e: Einstein radius (arcsec).
        q: axis ratio in $(0, 1]$.
        phi: position angle of the major axis (radians, counter-clockwise from $x$).
        center_x: $x$ of the lens centre (arcsec).
        center_y: $y$ of the lens centre (arcsec).
    """
    xr, yr = _rotate(jnp.asarray(x) - center_x, jnp.asarray(y) - center_y, phi)
    return theta_e / (2.0 * jnp.sqrt(q * xr**2 + yr**2 / q))


def shear_deflection(
    x: Float[ArrayLike, "*s"],
    y: Float[ArrayLike, "*s"],
    gamma1: Float[ArrayLike, "..."],
    gamma2: Float[ArrayLike, "..."],
) -> tuple[Float[Array, "*s"], Float[Array, "*s"]]:
    r"""Deflection of an external shear about the origin.

    $\alpha = (\gamma_1 x + \gamma_2 y,\ \gamma_2 x - \gamma_1 y)$.

    Args:
        x: image-plane $x$ positions (arcsec), any shape.
        y: image-plane $y$ positions (arcsec), the shape of ``x``.
        gamma1: the shear component $\gamma_1$.
        gamma2: the shear component $\gamma_2$.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    return gamma1 * x + gamma2 * y, gamma2 * x - gamma1 * y


def sersic_b(n: Float[ArrayLike, "*s"]) -> Float[Array, "*s"]:
    r"""Sérsic $b_n$, with $\gamma(2n, b_n) = \Gamma(2n)/2$ ($r_e$ encloses half the light).

    The asymptotic series of Ciotti & Bertin 1999 (good to $10^{-4}$ for $n \ge 0.5$).
    """
    n = jnp.asarray(n)
    return (
        2.0 * n
        - 1.0 / 3.0
        + 4.0 / (405.0 * n)
        + 46.0 / (25515.0 * n**2)
        + 131.0 / (1148175.0 * n**3)
        - 2194697.0 / (30690717750.0 * n**4)
    )


def sersic(
    x: Float[ArrayLike, "*s"],
    y: Float[ArrayLike, "*s"],
    amplitude: Float[ArrayLike, "..."],
    r_e: Float[ArrayLike, "..."],
    n: Float[ArrayLike, "..."],
    q: Float[ArrayLike, "..."] = 1.0,
    phi: Float[ArrayLike, "..."] = 0.0,
    center_x: Float[ArrayLike, "..."] = 0.0,
    center_y: Float[ArrayLike, "..."] = 0.0,
) -> Float[Array, "*s"]:
    r"""Elliptical Sérsic surface brightness at ``(x, y)``.

    $S = I_e \exp(-b_n[(R/r_e)^{1/n} - 1])$ with $R = \sqrt{q x'^2 + y'^2/q}$
    in the frame rotated by ``phi`` about the centre. ``amplitude`` is $I_e$,
    the surface brightness at the half-light radius. The total flux is
    $2\pi n\, r_e^2 I_e\, e^{b_n} \Gamma(2n) / b_n^{2n}$ (independent of ``q``).

    Args:
        x: $x$ positions (arcsec), any shape.
        y: $y$ positions (arcsec), the shape of ``x``.
        amplitude: $I_e$, the surface brightness at the half-light radius.
        r_e: the half-light radius $r_e$ (arcsec).
        n: the Sérsic index $n > 0$ (1 exponential, 4 de Vaucouleurs).
        q: axis ratio in $(0, 1]$.
        phi: position angle of the major axis (radians, counter-clockwise from $x$).
        center_x: $x$ of the centre (arcsec).
        center_y: $y$ of the centre (arcsec).
    """
    xr, yr = _rotate(jnp.asarray(x) - center_x, jnp.asarray(y) - center_y, phi)
    r = jnp.sqrt(q * xr**2 + yr**2 / q + 1e-12)
    b = sersic_b(n)
    return amplitude * jnp.exp(-b * ((r / r_e) ** (1.0 / n) - 1.0))
