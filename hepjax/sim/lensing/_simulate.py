r"""Galaxy-galaxy strong-lensing images: ray tracing, PSF convolution and noise.

One image is rendered as

1. pixel centres $\theta$ (with ``supersample``$^2$ sub-pixels each) are traced
   to the source plane, $\beta = \theta - \alpha_{\rm SIE}(\theta) - \alpha_\gamma(\theta)$;
2. the Sérsic source is evaluated there (surface brightness is conserved) and
   the sub-pixels are averaged;
3. the image is convolved with a normalised Gaussian PSF;
4. Gaussian noise with variance $\sigma_{\rm bkg}^2 + \max(I, 0)/t_{\rm exp}$ is
   added (background plus the source's shot noise in the Gaussian limit; no
   shot noise when ``exposure`` is ``None``).

The setting follows the lensing case study of Heinrich et al. 2023
(arXiv:2306.12584, after Brehmer et al. 2019, arXiv:1909.02005) at 32x32 pixels.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Shaped

from hepjax._core import check_positive_int

from ._profiles import sersic, shear_deflection, sie_deflection

PARAM_NAMES: tuple[str, ...] = (
    "theta_e",
    "q",
    "phi",
    "gamma1",
    "gamma2",
    "lens_x",
    "lens_y",
    "src_x",
    "src_y",
    "src_r_e",
    "src_n",
    "src_q",
    "src_phi",
    "src_amp",
)
"""Order of the entries of a parameter vector ``params (14,)``:

- ``theta_e`` Einstein radius (arcsec), ``q`` lens axis ratio in $(0, 1]$,
  ``phi`` lens position angle (rad), ``gamma1``, ``gamma2`` external shear,
  ``lens_x``, ``lens_y`` lens centre (arcsec);
- ``src_x``, ``src_y`` source centre (arcsec), ``src_r_e`` half-light radius
  (arcsec), ``src_n`` Sérsic index, ``src_q`` source axis ratio, ``src_phi``
  source position angle (rad), ``src_amp`` surface brightness at ``src_r_e``.
"""

NUM_PARAMS = len(PARAM_NAMES)


class Instrument(eqx.Module):
    """The observation: pixel grid, PSF and noise (all static configuration).

    Args:
        num_pix: image side in pixels (images are ``(num_pix, num_pix)``).
        pixel_scale: pixel size (arcsec).
        psf_fwhm: full width at half maximum of the Gaussian PSF (arcsec); 0: no PSF.
        noise_sigma: background noise standard deviation per pixel.
        exposure: exposure time scaling the source's shot noise
            (variance ``image / exposure``), or ``None`` for background noise only.
        supersample: sub-pixels per pixel side for the ray tracing.
    """

    num_pix: int = eqx.field(default=32, static=True)
    pixel_scale: float = eqx.field(default=0.15, static=True)
    psf_fwhm: float = eqx.field(default=0.25, static=True)
    noise_sigma: float = eqx.field(default=0.05, static=True)
    exposure: float | None = eqx.field(default=None, static=True)
    supersample: int = eqx.field(default=2, static=True)

    def __check_init__(self):
        for name in ("num_pix", "supersample"):
            check_positive_int(name, getattr(self, name))
        if not self.pixel_scale > 0:
            raise ValueError(f"pixel_scale must be positive, got {self.pixel_scale!r}")
        if not self.psf_fwhm >= 0:
            raise ValueError(f"psf_fwhm must be >= 0, got {self.psf_fwhm!r}")
        if not self.noise_sigma >= 0:
            raise ValueError(f"noise_sigma must be >= 0, got {self.noise_sigma!r}")
        if self.exposure is not None and not self.exposure > 0:
            raise ValueError(f"exposure must be positive or None, got {self.exposure!r}")

    @property
    def field_of_view(self) -> float:
        """Side of the image (arcsec)."""
        return self.num_pix * self.pixel_scale


def pixel_grid(
    instrument: Instrument, supersample: int = 1
) -> tuple[Float[Array, "m m"], Float[Array, "m m"]]:
    """Coordinates ``(x, y)`` of the (sub-)pixel centres, ``m = num_pix * supersample``.

    Rows run along $y$ and columns along $x$ (``image[i, j]`` is at ``(x[i, j], y[i, j])``);
    the image centre is the origin.
    """
    m = instrument.num_pix * supersample
    step = instrument.pixel_scale / supersample
    c = (np.arange(m) - (m - 1) / 2.0) * step
    x, y = np.meshgrid(c, c)
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)


def gaussian_psf(instrument: Instrument) -> Float[Array, "k k"]:
    """The normalised Gaussian PSF kernel on the pixel grid (odd side, out to 3 sigma)."""
    sigma = instrument.psf_fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0))) / instrument.pixel_scale
    half = max(1, math.ceil(3.0 * sigma))
    c = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-0.5 * (c / max(sigma, 1e-12)) ** 2)
    kernel = np.outer(g, g)
    return jnp.asarray(kernel / kernel.sum(), jnp.float32)


def _check_params(params) -> Array:
    params = jnp.asarray(params)
    if params.shape != (NUM_PARAMS,):
        raise ValueError(
            f"params must have shape ({NUM_PARAMS},) in the order of PARAM_NAMES, got "
            f"{params.shape}; batch with jax.vmap"
        )
    if not jnp.issubdtype(params.dtype, jnp.floating):
        raise TypeError(f"params must be a float array, got dtype {params.dtype}")
    p = dict(zip(PARAM_NAMES, params, strict=True))
    bad = (
        (p["q"] <= 0)
        | (p["q"] > 1)
        | (p["theta_e"] < 0)
        | (p["src_r_e"] <= 0)
        | (p["src_n"] <= 0)
        | (p["src_q"] <= 0)
    )
    return eqx.error_if(
        params,
        bad,
        "lensing params out of range: need 0 < q <= 1, theta_e >= 0, src_r_e > 0, src_n > 0, "
        "src_q > 0",
    )


def deflection(
    params: Shaped[ArrayLike, " p"], x: Float[ArrayLike, "*s"], y: Float[ArrayLike, "*s"]
) -> tuple[Float[Array, "*s"], Float[Array, "*s"]]:
    r"""Total deflection $\alpha_{\rm SIE} + \alpha_\gamma$ at ``(x, y)``.

    The shear acts about the lens centre.

    Args:
        params: ``(14,)`` lens and source parameters in :data:`PARAM_NAMES` order.
        x: image-plane $x$ positions (arcsec), any shape.
        y: image-plane $y$ positions (arcsec), the shape of ``x``.
    """
    p = dict(zip(PARAM_NAMES, _check_params(params), strict=True))
    ax, ay = sie_deflection(x, y, p["theta_e"], p["q"], p["phi"], p["lens_x"], p["lens_y"])
    sx, sy = shear_deflection(
        jnp.asarray(x) - p["lens_x"], jnp.asarray(y) - p["lens_y"], p["gamma1"], p["gamma2"]
    )
    return ax + sx, ay + sy


def lensed_source(
    params: Shaped[ArrayLike, " p"], x: Float[ArrayLike, "*s"], y: Float[ArrayLike, "*s"]
) -> Float[Array, "*s"]:
    r"""Surface brightness of the lensed source at image positions: $S(\theta - \alpha(\theta))$.

    Args:
        params: ``(14,)`` lens and source parameters in :data:`PARAM_NAMES` order.
        x: image-plane $x$ positions (arcsec), any shape.
        y: image-plane $y$ positions (arcsec), the shape of ``x``.
    """
    params = _check_params(params)
    p = dict(zip(PARAM_NAMES, params, strict=True))
    ax, ay = deflection(params, x, y)
    return sersic(
        jnp.asarray(x) - ax,
        jnp.asarray(y) - ay,
        p["src_amp"],
        p["src_r_e"],
        p["src_n"],
        p["src_q"],
        p["src_phi"],
        p["src_x"],
        p["src_y"],
    )


def render(
    params: Shaped[ArrayLike, " p"], instrument: Instrument = Instrument()
) -> Float[Array, "n n"]:
    """The noiseless, PSF-convolved image ``(num_pix, num_pix)`` of one lens system."""
    s = instrument.supersample
    x, y = pixel_grid(instrument, s)
    fine = lensed_source(_check_params(params).astype(jnp.float32), x, y)
    n = instrument.num_pix
    image = fine.reshape(n, s, n, s).mean(axis=(1, 3))
    if instrument.psf_fwhm > 0:
        image = jax.scipy.signal.convolve2d(image, gaussian_psf(instrument), mode="same")
    return image


def simulate(
    key: PRNGKeyArray, params: Shaped[ArrayLike, " p"], instrument: Instrument = Instrument()
) -> Float[Array, "n n"]:
    """One noisy lens image ``(num_pix, num_pix)``: :func:`render` plus Gaussian noise.

    Pure: batch with ``jax.vmap(simulate, (0, 0, None))(keys, params, instrument)``.

    Args:
        key: PRNG key of the pixel noise.
        params: ``(14,)`` lens and source parameters in :data:`PARAM_NAMES` order.
        instrument: pixel grid, PSF and noise level (default: 32x32 pixels of 0.15 arcsec).

    Raises:
        ValueError: ``params`` not of shape ``(14,)`` (at trace time).
        TypeError: ``params`` not a float array.
        equinox.EquinoxRuntimeError: parameters out of range (``q`` outside
            ``(0, 1]``, negative ``theta_e``, non-positive source radius or index).
    """
    image = render(params, instrument)
    var = jnp.full_like(image, instrument.noise_sigma**2)
    if instrument.exposure is not None:
        var = var + jnp.clip(image, 0.0, None) / instrument.exposure
    return image + jnp.sqrt(var) * jax.random.normal(key, image.shape, image.dtype)
