"""Galaxy-galaxy strong lensing: a pure JAX image simulator.

::

    from hepjax.sim import lensing

    inst = lensing.Instrument()            # 32x32 pixels of 0.15", Gaussian PSF, noise
    params = jnp.array([1.0, 0.8, 0.3, 0.02, -0.01, 0.0, 0.0,     # lens: theta_E, q, phi,
                        0.1, -0.05, 0.2, 1.0, 0.8, 0.5, 1.0])     # shear, centre; source
    image = lensing.simulate(key, params, inst)                    # (32, 32)
    images = jax.vmap(lensing.simulate, (0, 0, None))(keys, params_batch, inst)

A singular isothermal ellipsoid with external shear deflects the light of an
elliptical Sérsic source (:func:`sie_deflection`, :func:`shear_deflection`,
:func:`sersic`); the image is ray traced on a supersampled grid, convolved with
a Gaussian PSF and given Gaussian noise. :data:`PARAM_NAMES` lists the order of
the 14 parameters. The hierarchical ensemble task built on it is
:class:`hepjax.sbi.tasks.LensingEnsemble`.
"""

from ._profiles import sersic as sersic
from ._profiles import sersic_b as sersic_b
from ._profiles import shear_deflection as shear_deflection
from ._profiles import sie_convergence as sie_convergence
from ._profiles import sie_deflection as sie_deflection
from ._simulate import NUM_PARAMS as NUM_PARAMS
from ._simulate import PARAM_NAMES as PARAM_NAMES
from ._simulate import Instrument as Instrument
from ._simulate import deflection as deflection
from ._simulate import gaussian_psf as gaussian_psf
from ._simulate import lensed_source as lensed_source
from ._simulate import pixel_grid as pixel_grid
from ._simulate import render as render
from ._simulate import simulate as simulate

__all__ = [
    "NUM_PARAMS",
    "PARAM_NAMES",
    "Instrument",
    "deflection",
    "gaussian_psf",
    "lensed_source",
    "pixel_grid",
    "render",
    "sersic",
    "sersic_b",
    "shear_deflection",
    "sie_convergence",
    "sie_deflection",
    "simulate",
]
