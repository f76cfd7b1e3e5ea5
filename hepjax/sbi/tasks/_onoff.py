r"""The on/off counting experiment: a signal strength with a nuisance background.

Two Poisson counts, the signal ("on") region and a signal-free control ("off")
region that measures the background,

.. math::
    n_{\rm on} \sim \mathrm{Poisson}(\mu s + \nu), \qquad
    n_{\rm off} \sim \mathrm{Poisson}(\tau \nu),

with the signal strength $\mu$ (parameter of interest), the expected
background $\nu$ in the on region (nuisance), the expected signal $s$ at
$\mu = 1$, and the off/on ratio $\tau$ of background expectations (the
relative size of the control region). This is the frequentist case study of
Heinrich et al. 2023 (arXiv:2306.12584); its classical treatment is Li & Ma
1983 (ApJ 272, 317) and Cousins, Linnemann & Tucker 2008 (arXiv:physics/0702156).

The profile likelihood is closed form: at fixed $\mu$ the conditional maximum
$\hat{\hat\nu}(\mu)$ is the positive root of
$(1 + \tau)\nu^2 + ((1 + \tau)\mu s - n_{\rm on} - n_{\rm off})\nu - n_{\rm off}\mu s = 0$,
and the global maximum on $\mu \ge 0$ is $\hat\mu = (n_{\rm on} - n_{\rm off}/\tau)/s$,
$\hat\nu = n_{\rm off}/\tau$ (or $\hat\mu = 0$, $\hat\nu = \hat{\hat\nu}(0)$
when that is negative). The test statistic is
$t_\mu = -2 \log [L(\mu, \hat{\hat\nu}(\mu)) / L(\hat\mu, \hat\nu)]$
(the $\tilde t_\mu$ of Cowan et al. 2011, arXiv:1007.1727).
"""

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._base import AbstractTask, check_n, register


def _poisson_logpmf(n, rate):
    return jax.scipy.special.xlogy(n, rate) - rate - jax.scipy.special.gammaln(n + 1.0)


@register
class OnOff(AbstractTask):
    r"""The on/off Poisson model with a uniform prior box (for training estimators).

    ``theta = (mu, nu)`` and ``x = (n_on, n_off)`` (float counts).

    Args:
        s: expected signal count in the on region at $\mu = 1$.
        tau: ratio of the background expectations off/on (control-region size).
        mu_max: the prior is $\mu \sim \mathcal U(0, \mu_{\max})$.
        nu_min, nu_max: the prior is $\nu \sim \mathcal U(\nu_{\min}, \nu_{\max})$.
    """

    name: ClassVar[str] = "on_off"
    s: float = 10.0
    tau: float = 1.0
    mu_max: float = 5.0
    nu_min: float = 20.0
    nu_max: float = 60.0

    def __check_init__(self):
        if not (self.s > 0 and self.tau > 0):
            raise ValueError(f"s and tau must be positive, got s={self.s!r}, tau={self.tau!r}")
        if not self.mu_max > 0:
            raise ValueError(f"mu_max must be positive, got {self.mu_max!r}")
        if not 0 <= self.nu_min < self.nu_max:
            raise ValueError(
                f"need 0 <= nu_min < nu_max, got nu_min={self.nu_min!r}, nu_max={self.nu_max!r}"
            )

    @property
    def dim_theta(self) -> int:
        return 2

    @property
    def dim_x(self) -> int:
        return 2

    def sample_prior(self, key, n):
        n = check_n(n)
        u = jax.random.uniform(key, (n, 2))
        lo = jnp.array([0.0, self.nu_min])
        hi = jnp.array([self.mu_max, self.nu_max])
        return lo + (hi - lo) * u

    def log_prior(self, theta):
        theta = jnp.asarray(theta)
        inside = (
            (theta[0] >= 0)
            & (theta[0] <= self.mu_max)
            & (theta[1] >= self.nu_min)
            & (theta[1] <= self.nu_max)
        )
        log_volume = math.log(self.mu_max * (self.nu_max - self.nu_min))
        return jnp.where(inside, -log_volume, -jnp.inf)

    def rates(self, theta: Float[ArrayLike, " 2"]) -> Float[Array, " 2"]:
        r"""Expected counts $(\mu s + \nu,\ \tau\nu)$."""
        theta = jnp.asarray(theta)
        return jnp.stack([theta[0] * self.s + theta[1], self.tau * theta[1]])

    def simulator(self, key, theta):
        return jax.random.poisson(key, self.rates(theta)).astype(jnp.float32)

    def log_likelihood(self, theta, x):
        return _poisson_logpmf(jnp.asarray(x), self.rates(theta)).sum()

    def profile_nu(self, mu: Float[ArrayLike, "..."], x: Float[ArrayLike, " 2"]) -> Array:
        r"""The conditional MLE $\hat{\hat\nu}(\mu)$ of the background (closed form)."""
        x = jnp.asarray(x, jnp.float32)
        n_on, n_off = x[0], x[1]
        a = 1.0 + self.tau
        b = n_on + n_off - a * jnp.asarray(mu) * self.s
        return (b + jnp.sqrt(b**2 + 4.0 * a * n_off * jnp.asarray(mu) * self.s)) / (2.0 * a)

    def mle(self, x: Float[ArrayLike, " 2"]) -> Float[Array, " 2"]:
        r"""The maximum-likelihood $(\hat\mu, \hat\nu)$ on $\mu \ge 0$ (closed form)."""
        x = jnp.asarray(x, jnp.float32)
        mu = (x[0] - x[1] / self.tau) / self.s
        nu = jnp.where(mu > 0, x[1] / self.tau, self.profile_nu(0.0, x))
        return jnp.stack([jnp.maximum(mu, 0.0), nu])

    def profile_likelihood_ratio(
        self, mu: Float[ArrayLike, "..."], x: Float[ArrayLike, " 2"]
    ) -> Array:
        r"""The exact $t_\mu = -2\log[L(\mu, \hat{\hat\nu}) / L(\hat\mu, \hat\nu)] \ge 0$."""
        x = jnp.asarray(x, jnp.float32)
        mu = jnp.asarray(mu, jnp.float32)
        nu = self.profile_nu(mu, x)
        ll = _poisson_logpmf(x[0], mu * self.s + nu) + _poisson_logpmf(x[1], self.tau * nu)
        best = self.log_likelihood(self.mle(x), x)
        return jnp.maximum(-2.0 * (ll - best), 0.0)

    def reference_posterior(self, key, x_obs, n, *, grid_size: int = 256):
        """Posterior samples from the exact likelihood on a ``grid_size``^2 grid over the prior.

        Cells are drawn in proportion to the posterior at their centres and
        the samples spread uniformly within the cell.

        Args:
            key: PRNG key of the draw.
            x_obs: ``(2,)`` the observed counts in the on and off regions.
            n: the number of samples.
            grid_size: grid points per parameter axis.
        """
        n = check_n(n)
        x_obs = self.check_observation(x_obs)
        mu = (np.arange(grid_size) + 0.5) / grid_size * self.mu_max
        dnu = (self.nu_max - self.nu_min) / grid_size
        nu = self.nu_min + (np.arange(grid_size) + 0.5) * dnu
        grid = jnp.asarray(np.stack(np.meshgrid(mu, nu, indexing="ij"), -1).reshape(-1, 2))
        logp = jax.jit(jax.vmap(self.log_likelihood, in_axes=(0, None)))(grid, x_obs)
        k_cell, k_jit = jax.random.split(key)
        # inverse-CDF draws: O(grid + n log grid) memory, unlike categorical's (n, grid) noise
        cell = jax.random.choice(k_cell, logp.shape[0], (n,), p=jax.nn.softmax(logp))
        jitter = jax.random.uniform(k_jit, (n, 2), minval=-0.5, maxval=0.5)
        return grid[cell] + jitter * jnp.array([self.mu_max / grid_size, dnu])
