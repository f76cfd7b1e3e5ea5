r"""Benchmark tasks of sbibm (Lueckmann et al. 2021, arXiv:2101.04653) in JAX.

Each task is a prior $p(\theta)$ and a simulator $x \sim p(x \mid \theta)$, with
the same definitions as sbibm, and a reference posterior sampler:

- ``gaussian_linear``: $\theta \sim \mathcal N(0, 0.1\,I_{10})$,
  $x \mid \theta \sim \mathcal N(\theta, 0.1\,I_{10})$. The posterior is
  Gaussian, $\mathcal N(\Sigma\,\Sigma_x^{-1} x_o,\ \Sigma)$ with
  $\Sigma = (\Sigma_0^{-1} + \Sigma_x^{-1})^{-1} = 0.05\,I$.
- ``two_moons``: $\theta \sim \mathcal U([-1, 1]^2)$, $a \sim \mathcal U(-\pi/2,
  \pi/2)$, $r \sim \mathcal N(0.1, 0.01^2)$,
  $x = (r\cos a + 0.25,\ r \sin a) + (-|z_0|,\ z_1)$ with $z = R(-\pi/4)\,\theta$.
  The posterior is sampled exactly by inverting the simulator (sbibm's
  construction, with the draws that cannot have produced ``x_obs`` rejected).
- ``slcp``: $\theta \sim \mathcal U([-3, 3]^5)$, four i.i.d. draws of a 2-d
  Gaussian with mean $(\theta_1, \theta_2)$, scales $s_1 = \theta_3^2$,
  $s_2 = \theta_4^2$ and correlation $\tanh \theta_5$, flattened to ``x`` of
  size 8. The reference posterior runs numpyro's NUTS on the exact likelihood
  and symmetrises the result over the signs of $\theta_3$ and $\theta_4$ (the
  likelihood and prior are invariant under them, so the four modes get equal
  mass).
"""

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..._core import check_positive_int
from ._base import AbstractTask, check_n, register


@register
class GaussianLinear(AbstractTask):
    """sbibm's ``gaussian_linear``: a Gaussian prior and a Gaussian simulator around ``theta``.

    Args:
        dim: number of parameters (and data dimensions).
        prior_scale: prior variance per dimension (sbibm's ``prior_scale``, used
            as the covariance ``prior_scale * I``).
        simulator_scale: noise variance per dimension.
    """

    name: ClassVar[str] = "gaussian_linear"
    dim: int = 10
    prior_scale: float = 0.1
    simulator_scale: float = 0.1

    def __check_init__(self):
        check_positive_int("dim", self.dim)
        if not (self.prior_scale > 0 and self.simulator_scale > 0):
            raise ValueError("prior_scale and simulator_scale must be positive")

    @property
    def dim_theta(self) -> int:
        return self.dim

    @property
    def dim_x(self) -> int:
        return self.dim

    def sample_prior(self, key, n):
        n = check_n(n)
        return math.sqrt(self.prior_scale) * jax.random.normal(key, (n, self.dim))

    def log_prior(self, theta):
        return jax.scipy.stats.norm.logpdf(theta, 0.0, math.sqrt(self.prior_scale)).sum()

    def simulator(self, key, theta):
        theta = jnp.asarray(theta)
        return theta + math.sqrt(self.simulator_scale) * jax.random.normal(key, theta.shape)

    def log_likelihood(self, theta, x):
        return jax.scipy.stats.norm.logpdf(x, theta, math.sqrt(self.simulator_scale)).sum()

    def posterior_mean_cov(
        self, x_obs: Float[ArrayLike, " dx"]
    ) -> tuple[Float[Array, " d"], Float[Array, "d d"]]:
        """The analytic posterior mean and covariance given ``x_obs``."""
        x_obs = self.check_observation(x_obs)
        var = 1.0 / (1.0 / self.prior_scale + 1.0 / self.simulator_scale)
        mean = var / self.simulator_scale * x_obs
        return mean, var * jnp.eye(self.dim, dtype=mean.dtype)

    def reference_posterior(self, key, x_obs, n):
        n = check_n(n)
        mean, cov = self.posterior_mean_cov(x_obs)
        return mean + jnp.sqrt(jnp.diag(cov)) * jax.random.normal(key, (n, self.dim))


_ROT = math.cos(math.pi / 4)


@register
class TwoMoons(AbstractTask):
    """sbibm's ``two_moons``: a bimodal, crescent-shaped posterior in 2-d."""

    name: ClassVar[str] = "two_moons"

    @property
    def dim_theta(self) -> int:
        return 2

    @property
    def dim_x(self) -> int:
        return 2

    def sample_prior(self, key, n):
        n = check_n(n)
        return jax.random.uniform(key, (n, 2), minval=-1.0, maxval=1.0)

    def log_prior(self, theta):
        theta = jnp.asarray(theta)
        inside = jnp.all(jnp.abs(theta) <= 1.0)
        return jnp.where(inside, -2.0 * math.log(2.0), -jnp.inf)

    @staticmethod
    def _moon(key, shape=()):
        k_a, k_r = jax.random.split(key)
        a = jax.random.uniform(k_a, shape, minval=-math.pi / 2, maxval=math.pi / 2)
        r = 0.1 + 0.01 * jax.random.normal(k_r, shape)
        return jnp.stack([r * jnp.cos(a) + 0.25, r * jnp.sin(a)], axis=-1)

    @staticmethod
    def _z(theta):
        # z = R(-pi/4) theta
        return jnp.stack(
            [_ROT * (theta[..., 0] + theta[..., 1]), _ROT * (theta[..., 1] - theta[..., 0])], -1
        )

    def simulator(self, key, theta):
        z = self._z(jnp.asarray(theta))
        return self._moon(key) + jnp.stack([-jnp.abs(z[0]), z[1]])

    def log_likelihood(self, theta, x):
        z = self._z(jnp.asarray(theta))
        p = jnp.asarray(x) - jnp.stack([-jnp.abs(z[0]), z[1]])
        u, v = p[0] - 0.25, p[1]
        r = jnp.sqrt(u**2 + v**2)
        # density of (r, a) -> point: Jacobian 1/r; a uniform over an interval of length pi
        logp = jax.scipy.stats.norm.logpdf(r, 0.1, 0.01) - jnp.log(r) - math.log(math.pi)
        return jnp.where(u > 0, logp, -jnp.inf)

    def reference_posterior(self, key, x_obs, n):
        n = check_n(n)
        x_obs = self.check_observation(x_obs)
        out, have, batch = [], 0, max(4 * n, 1024)
        for _ in range(1000):
            key, k_moon, k_sign = jax.random.split(key, 3)
            p = self._moon(k_moon, (batch,))
            abs_z0 = p[:, 0] - x_obs[0]
            z1 = x_obs[1] - p[:, 1]
            sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, (batch,)), 1.0, -1.0)
            z0 = sign * abs_z0
            theta = jnp.stack([_ROT * (z0 - z1), _ROT * (z0 + z1)], -1)  # R(+pi/4) z
            ok = np.asarray((abs_z0 >= 0) & jnp.all(jnp.abs(theta) <= 1.0, axis=-1))
            out.append(np.asarray(theta)[ok])
            have += int(ok.sum())
            if have >= n:
                return jnp.asarray(np.concatenate(out)[:n])
        raise ValueError(
            f"x_obs={np.asarray(x_obs).tolist()} has (almost) no posterior mass inside the "
            "prior: rejection sampling of the reference posterior failed"
        )


@register
class SLCP(AbstractTask):
    """sbibm's ``slcp``: simple likelihood, complex (four-mode) posterior in 5-d."""

    name: ClassVar[str] = "slcp"
    num_data: int = 4

    @property
    def dim_theta(self) -> int:
        return 5

    @property
    def dim_x(self) -> int:
        return 2 * self.num_data

    def sample_prior(self, key, n):
        n = check_n(n)
        return jax.random.uniform(key, (n, 5), minval=-3.0, maxval=3.0)

    def log_prior(self, theta):
        theta = jnp.asarray(theta)
        inside = jnp.all(jnp.abs(theta) <= 3.0)
        return jnp.where(inside, -5.0 * math.log(6.0), -jnp.inf)

    @staticmethod
    def _mean_chol(theta):
        theta = jnp.asarray(theta)
        s1, s2, rho = theta[2] ** 2, theta[3] ** 2, jnp.tanh(theta[4])
        eps = 1e-6  # sbibm adds this to the diagonal
        cov = jnp.array([[s1**2 + eps, rho * s1 * s2], [rho * s1 * s2, s2**2 + eps]])
        return theta[:2], cov

    def simulator(self, key, theta):
        mean, cov = self._mean_chol(theta)
        draws = jax.random.multivariate_normal(key, mean, cov, (self.num_data,))
        return draws.reshape(-1)

    def log_likelihood(self, theta, x):
        mean, cov = self._mean_chol(theta)
        pts = jnp.asarray(x).reshape(self.num_data, 2)
        return jax.scipy.stats.multivariate_normal.logpdf(pts, mean, cov).sum()

    def reference_posterior(
        self,
        key,
        x_obs,
        n,
        *,
        num_chains: int = 64,
        num_warmup: int = 500,
        num_proposals: int = 200_000,
    ):
        """NUTS on the exact likelihood, started from SIR draws, sign-symmetrised.

        ``num_proposals`` prior draws are weighted by the likelihood and
        ``num_chains`` of them resampled as the chains' starting points, so the
        chains are spread over the modes in proportion to their mass; each
        chain then runs NUTS. The result is symmetrised over the signs of
        ``theta[2]`` and ``theta[3]``.

        Args:
            key: PRNG key of the proposals and the chains.
            x_obs: ``(8,)`` one observation (four 2D points).
            n: the number of samples, taken evenly from the chains.
            num_chains: the number of NUTS chains.
            num_warmup: warm-up steps per chain.
            num_proposals: prior draws weighted by the likelihood to start the chains.
        """
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC, NUTS

        n = check_n(n)
        x_obs = self.check_observation(x_obs)

        def model():
            theta = numpyro.sample("theta", dist.Uniform(-3.0, 3.0).expand([5]).to_event(1))
            numpyro.factor("loglik", self.log_likelihood(theta, x_obs))

        per_chain = -(-n // num_chains)
        k_prop, k_pick, k_mcmc, k_flip, k_perm = jax.random.split(key, 5)
        proposals = self.sample_prior(k_prop, num_proposals)
        logw = jax.jit(jax.vmap(self.log_likelihood, in_axes=(0, None)))(proposals, x_obs)
        pick = jax.random.choice(k_pick, num_proposals, (num_chains,), p=jax.nn.softmax(logw))
        starts = proposals[pick]
        # numpyro's Uniform(-3, 3) is sampled in unconstrained (logit) coordinates
        starts = jnp.clip(starts, -3.0 + 1e-4, 3.0 - 1e-4)
        mcmc = MCMC(
            NUTS(model),
            num_warmup=num_warmup,
            num_samples=per_chain,
            num_chains=num_chains,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(k_mcmc, init_params={"theta": jnp.arctanh(starts / 3.0) * 2.0})
        theta = mcmc.get_samples()["theta"]
        signs = jnp.where(jax.random.bernoulli(k_flip, 0.5, (theta.shape[0], 2)), 1.0, -1.0)
        theta = theta.at[:, 2:4].multiply(signs)
        return jax.random.permutation(k_perm, theta)[:n]
