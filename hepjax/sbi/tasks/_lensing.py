r"""Strong-lensing ensembles: global population parameters shared by many lenses.

The astrophysics case study of Heinrich et al. 2023 (arXiv:2306.12584): an
ensemble of galaxy-galaxy strong lenses, each imaged on 32x32 pixels by
:func:`hepjax.sim.lensing.simulate`, shares global population parameters
$\theta = (\mu_E, \sigma_E)$, the mean and scatter of the Einstein radius.
Each lens $i$ has its own local parameters $z_i$ (the 14 of
:data:`hepjax.sim.lensing.PARAM_NAMES`):

- $\theta_{E,i} \sim \mathcal N(\mu_E, \sigma_E^2)$ truncated to
  $[\theta_{E,\min}, \theta_{E,\max}]$ (the only local parameter that
  depends on $\theta$);
- lens axis ratio $q \sim \mathcal U(0.6, 1)$, angle $\phi \sim \mathcal U(0, \pi)$,
  shear $\gamma_{1,2} \sim \mathcal N(0, 0.03^2)$, centre $\sim \mathcal N(0, 0.05^2)$;
- Sérsic source: centre $\sim \mathcal U(-0.25, 0.25)^2$, $r_e \sim \mathcal U(0.15, 0.35)$,
  $n \sim \mathcal U(0.8, 2)$, $q_s \sim \mathcal U(0.6, 1)$, $\phi_s \sim \mathcal U(0, \pi)$,
  amplitude $\sim \mathcal U(0.8, 1.5)$.

The prior is $\mu_E \sim \mathcal U(0.8, 1.5)$, $\sigma_E \sim \mathcal U(0.05, 0.3)$
(arcsec). An observation is an ensemble of ``n`` images padded to
``max_events``: ``x: (max_events, 32, 32)`` with a mask ``(max_events,)``
(:meth:`~LensingEnsemble.simulate_ensembles`), or with NaN padding images
(:meth:`~LensingEnsemble.simulate`). The image
likelihood is intractable, but the *oracle* posterior of $\theta$ given the
true Einstein radii, $p(\theta \mid \{\theta_{E,i}\})$, is a 2-d integral
(:meth:`LensingEnsemble.oracle_posterior`); it bounds from below what any
estimator can reach from the images.
"""

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ..._core import check_shape
from ...sim import lensing
from ._base import check_n, register
from ._hierarchical import AbstractHierarchicalTask


@register
class LensingEnsemble(AbstractHierarchicalTask):
    r"""Hierarchical strong-lensing task: ``theta = (mu_E, sigma_E)``, ensembles of images.

    Args:
        min_events, max_events: ensemble sizes are uniform in ``[min_events, max_events]``.
        instrument: the :class:`hepjax.sim.lensing.Instrument` (32x32 pixels by default).
        mu_range, sigma_range: uniform prior ranges of $\mu_E$ and $\sigma_E$.
        theta_e_range: truncation of the local Einstein radii.
    """

    name: ClassVar[str] = "lensing_ensemble"
    min_events: int = 1
    max_events: int = 16
    instrument: lensing.Instrument = lensing.Instrument()
    mu_range: tuple[float, float] = (0.8, 1.5)
    sigma_range: tuple[float, float] = (0.05, 0.3)
    theta_e_range: tuple[float, float] = (0.3, 2.0)

    def __check_init__(self):
        for name in ("mu_range", "sigma_range", "theta_e_range"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise ValueError(f"{name} must be (low, high) with low < high, got {(lo, hi)}")
        if self.sigma_range[0] <= 0 or self.theta_e_range[0] < 0:
            raise ValueError("sigma_range must be positive and theta_e_range non-negative")

    @property
    def dim_theta(self) -> int:
        return 2

    @property
    def dim_z(self) -> int:
        return lensing.NUM_PARAMS

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.instrument.num_pix, self.instrument.num_pix)

    def sample_prior(self, key: PRNGKeyArray, n: int) -> Float[Array, "n 2"]:
        n = check_n(n)
        lo = jnp.array([self.mu_range[0], self.sigma_range[0]])
        hi = jnp.array([self.mu_range[1], self.sigma_range[1]])
        return lo + (hi - lo) * jax.random.uniform(key, (n, 2))

    def log_prior(self, theta: Float[ArrayLike, " 2"]) -> Float[Array, ""]:
        theta = jnp.asarray(theta)
        (a, b), (c, d) = self.mu_range, self.sigma_range
        inside = (theta[0] >= a) & (theta[0] <= b) & (theta[1] >= c) & (theta[1] <= d)
        return jnp.where(inside, -math.log((b - a) * (d - c)), -jnp.inf)

    def sample_local(self, key: PRNGKeyArray, theta: Float[ArrayLike, " 2"]) -> Float[Array, " 14"]:
        """One lens's parameters ``z`` (order of :data:`hepjax.sim.lensing.PARAM_NAMES`)."""
        theta = jnp.asarray(theta)
        ks = jax.random.split(key, 6)
        lo, hi = self.theta_e_range
        mu, sigma = theta[0], theta[1]
        eps = jax.random.truncated_normal(ks[0], (lo - mu) / sigma, (hi - mu) / sigma)
        u = jax.random.uniform(ks[1], (9,))
        g = jax.random.normal(ks[2], (4,))
        return jnp.stack(
            [
                mu + sigma * eps,  # theta_e
                0.6 + 0.4 * u[0],  # q
                math.pi * u[1],  # phi
                0.03 * g[0],  # gamma1
                0.03 * g[1],  # gamma2
                0.05 * g[2],  # lens_x
                0.05 * g[3],  # lens_y
                -0.25 + 0.5 * u[2],  # src_x
                -0.25 + 0.5 * u[3],  # src_y
                0.15 + 0.2 * u[4],  # src_r_e
                0.8 + 1.2 * u[5],  # src_n
                0.6 + 0.4 * u[6],  # src_q
                math.pi * u[7],  # src_phi
                0.8 + 0.7 * u[8],  # src_amp
            ]
        )

    def simulate_event(
        self, key: PRNGKeyArray, theta: Float[ArrayLike, " 2"], z: Float[ArrayLike, " 14"]
    ) -> Float[Array, "h w"]:
        r"""One image of a lens with parameters ``z``.

        Args:
            key: PRNG key of the image noise.
            theta: ``(2,)`` the population parameters $(\mu_E, \sigma_E)$ of the Einstein radii.
            z: ``(14,)`` the lens and source parameters of this image, in
                ``hepjax.sim.lensing.PARAM_NAMES`` order.
        """
        del theta
        return lensing.simulate(key, z, self.instrument)

    def _simulate_batch(self, key, n, num_events):
        # fixed-size chunks: one compilation serves every n
        chunks = -(-n // _CHUNK)
        parts = [
            _simulate_lensing(self, k, _CHUNK, num_events) for k in jax.random.split(key, chunks)
        ]
        return tuple(jnp.concatenate([p[i] for p in parts])[:n] for i in range(4))

    def local_log_likelihood(
        self,
        theta: Float[ArrayLike, " 2"],
        theta_e: Float[ArrayLike, " m"],
        mask: Bool[ArrayLike, " m"] | None = None,
    ) -> Float[Array, ""]:
        r"""$\sum_i \log p(\theta_{E,i} \mid \mu_E, \sigma_E)$ over the real lenses.

        The real lenses are ``mask``, or without it the non-NaN entries of ``theta_e``.

        Args:
            theta: ``(2,)`` the population parameters $(\mu_E, \sigma_E)$.
            theta_e: ``(m,)`` the Einstein radii of the lenses, in arcsec.
            mask: ``(m,)`` true on the real lenses (``None``: the non-NaN entries of ``theta_e``).
        """
        theta = jnp.asarray(theta)
        theta_e = jnp.asarray(theta_e)
        real = ~jnp.isnan(theta_e) if mask is None else jnp.asarray(mask, bool)
        lo, hi = self.theta_e_range
        mu, sigma = theta[0], theta[1]
        norm = jax.scipy.stats.norm
        log_z = jnp.log(norm.cdf((hi - mu) / sigma) - norm.cdf((lo - mu) / sigma))
        lp = norm.logpdf(jnp.where(real, theta_e, mu), mu, sigma) - log_z
        return jnp.sum(jnp.where(real, lp, 0.0))

    def oracle_posterior(
        self,
        key: PRNGKeyArray,
        theta_e: Float[ArrayLike, " m"],
        n: int,
        *,
        mask: Bool[ArrayLike, " m"] | None = None,
        grid_size: int = 200,
    ) -> Float[Array, "n 2"]:
        r"""Samples of $p(\theta \mid \{\theta_{E,i}\})$ given the true Einstein radii.

        ``theta_e`` holds one Einstein radius per lens (padding: NaN, or where
        ``mask`` is false). The
        posterior is evaluated on a ``grid_size``^2 grid over the prior box, cells drawn in
        proportion to the posterior and samples spread uniformly in the cell.

        Args:
            key: PRNG key of the draw.
            theta_e: ``(m,)`` the true Einstein radii, in arcsec.
            n: the number of samples.
            mask: ``(m,)`` true on the real lenses.
            grid_size: grid points per parameter axis.
        """
        n = check_n(n)
        (a, b), (c, d) = self.mu_range, self.sigma_range
        mu = a + (np.arange(grid_size) + 0.5) / grid_size * (b - a)
        sg = c + (np.arange(grid_size) + 0.5) / grid_size * (d - c)
        grid = jnp.asarray(np.stack(np.meshgrid(mu, sg, indexing="ij"), -1).reshape(-1, 2))
        cell_size = jnp.array([(b - a) / grid_size, (d - c) / grid_size])
        theta_e = jnp.asarray(theta_e)
        if mask is not None:
            check_shape("mask", mask, theta_e.shape)
            theta_e = jnp.where(jnp.asarray(mask, bool), theta_e, jnp.nan)
        return _oracle_sample(self, key, grid, cell_size, theta_e, n)


_CHUNK = 128


@eqx.filter_jit
def _oracle_sample(task, key, grid, cell_size, theta_e, n):
    logp = jax.vmap(task.local_log_likelihood, in_axes=(0, None))(grid, theta_e)
    k_cell, k_jit = jax.random.split(key)
    cell = jax.random.choice(k_cell, logp.shape[0], (n,), p=jax.nn.softmax(logp))
    jitter = jax.random.uniform(k_jit, (n, 2), minval=-0.5, maxval=0.5)
    return grid[cell] + jitter * cell_size


@eqx.filter_jit
def _simulate_lensing(task, key, n, num_events):
    k_prior, k_sim = jax.random.split(key)
    theta = task.sample_prior(k_prior, n)
    z, x, mask = jax.vmap(lambda k, t: task._simulate_one(k, t, num_events))(
        jax.random.split(k_sim, n), theta
    )
    return theta, z, x, mask
