r"""Hierarchical tasks over event ensembles (Heinrich et al. 2023, arXiv:2306.12584).

A hierarchical task draws global parameters $\theta \sim p(\theta)$, a number
of events $n \sim \mathcal U\{n_{\min}, \dots, n_{\max}\}$, local parameters
$z_i \sim p(z \mid \theta)$ and events $x_i \sim p(x \mid z_i, \theta)$. An
observation is one ensemble padded to $n_{\max}$ events, the padding events
all NaN (``x: (n_max, d)``); ``simulate`` returns ``(theta, x)`` like every
task, ``simulate_with_local`` also the local parameters ``z: (N, n_max, d_z)``.

- ``hierarchical_gaussian``: the multivariate-normal conjugate hierarchy,
  $\theta \sim \mathcal N(\mu_0, \Sigma_0)$, $z_i \sim \mathcal N(\theta,
  \Sigma_z)$, $x_i \sim \mathcal N(z_i, \Sigma_x)$. With $\Sigma = \Sigma_z +
  \Sigma_x$ the events are i.i.d. $\mathcal N(\theta, \Sigma)$ given $\theta$,
  so the global posterior is Gaussian with precision
  $\Lambda_n = \Sigma_0^{-1} + n\Sigma^{-1}$ and mean
  $\Lambda_n^{-1}(\Sigma_0^{-1}\mu_0 + \Sigma^{-1}\sum_i x_i)$; the local
  posterior given $\theta$ has precision $P = \Sigma_z^{-1} + \Sigma_x^{-1}$
  and mean $P^{-1}(\Sigma_z^{-1}\theta + \Sigma_x^{-1}x_i)$, and given the
  ensemble it is Gaussian with mean $P^{-1}(\Sigma_z^{-1}\mu_n +
  \Sigma_x^{-1}x_i)$ and covariance $P^{-1} + P^{-1}\Sigma_z^{-1}\Sigma_n
  \Sigma_z^{-1}P^{-1}$.
- ``resonance_mixture``: the paper's particle-physics mixture, a narrow
  resonance over a falling background. Global $\theta = (f, m_S)$: the
  signal fraction $f \sim \mathcal U(0, f_{\max})$ and the resonance mass
  $m_S \sim \mathcal U(m_{\min}, m_{\max})$. Each event's local parameter is
  its true mass $z_i$: with probability $f$ a signal event,
  $z_i \sim \mathcal N(m_S, \Gamma^2)$, else background,
  $z_i \sim \mathrm{Exp}(\lambda)$; the detector measures
  $x_i = z_i + \mathcal N(0, \sigma^2)$. The event likelihood is
  $f\,\mathcal N(x; m_S, \Gamma^2 + \sigma^2) + (1 - f)\,\lambda
  e^{\lambda^2\sigma^2/2 - \lambda x}\,\Phi((x - \lambda\sigma^2)/\sigma)$
  (the exponentially modified Gaussian), the global reference posterior is
  numpyro's NUTS on it, and the local posterior given $\theta$ is an exact
  mixture of a Gaussian and a truncated Gaussian.
"""

import abc
import math
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ..._core import check_dtype, check_positive_int, check_shape, is_concrete
from ._base import AbstractTask, check_n, register


def nan_padded(a: Array, mask: Array) -> Array:
    """``a (..., m, *shape)`` with the events where ``mask (..., m)`` is false set to NaN."""
    keep = mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim))
    return jnp.where(keep, a, jnp.nan)


def zero_padded(a: Array, mask: Array) -> Array:
    """``a (..., m, *shape)`` with the events where ``mask (..., m)`` is false set to 0."""
    keep = mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim))
    return jnp.where(keep, a, 0)


class AbstractHierarchicalTask(AbstractTask):
    """A task whose observation is an ensemble of events sharing global parameters.

    Subclasses define the prior, the local prior ``sample_local(key, theta)``,
    the event simulator ``simulate_event(key, theta, z)``, and where tractable
    the event likelihood ``event_log_likelihood(theta, x_i)`` (local
    parameters marginalised) and the reference posteriors.

    An ensemble comes in two forms, padded to ``max_events`` events:

    - ``(x, mask)``: ``x: (max_events, *event_shape)`` with zero-filled
      padding and ``mask: (max_events,)`` true on the real events, the set
      convention of :mod:`hepjax.nn` (:meth:`simulate_ensembles`,
      :meth:`observation_ensemble`);
    - NaN-padded: one array whose padding events are all NaN
      (:meth:`simulator`, :meth:`simulate`, :meth:`simulate_with_local`,
      :meth:`observation`), which the estimators of :mod:`hepjax.sbi` also
      accept.

    The methods that take an observation (``log_likelihood``,
    ``check_observation`` and the reference posteriors) accept either: a NaN-padded
    ``x_obs``, or ``x_obs`` with its ``mask``.
    """

    min_events: eqx.AbstractVar[int]
    max_events: eqx.AbstractVar[int]

    @property
    @abc.abstractmethod
    def dim_z(self) -> int:
        """Number of local parameters per event."""

    @property
    @abc.abstractmethod
    def event_shape(self) -> tuple[int, ...]:
        """Shape of one event."""

    @property
    def dim_event(self) -> int:
        """Size of one (flattened) event."""
        return math.prod(self.event_shape)

    @property
    def dim_x(self) -> int:
        """Size of one (flattened) event (an observation is ``(max_events, *event_shape)``)."""
        return self.dim_event

    @abc.abstractmethod
    def sample_local(self, key: PRNGKeyArray, theta: Float[ArrayLike, " d"]) -> Float[Array, " dz"]:
        """One event's local parameters $z \\sim p(z \\mid \\theta)$."""

    @abc.abstractmethod
    def simulate_event(
        self, key: PRNGKeyArray, theta: Float[ArrayLike, " d"], z: Float[ArrayLike, " dz"]
    ) -> Float[Array, "..."]:
        """One event $x \\sim p(x \\mid z, \\theta)$ of shape ``event_shape``.

        Args:
            key: PRNG key of the draw.
            theta: ``(d,)`` the global parameters.
            z: ``(dz,)`` the event's local parameters.
        """

    def event_log_likelihood(
        self, theta: Float[ArrayLike, " d"], x: Float[ArrayLike, "..."]
    ) -> Float[Array, ""]:
        """$\\log p(x_i \\mid \\theta)$ of one event, local parameters marginalised."""
        raise NotImplementedError(f"task {self.name!r} has no tractable event likelihood")

    def reference_local_posterior(
        self,
        key: PRNGKeyArray,
        x_obs: Float[ArrayLike, "m ..."],
        n: int,
        theta: Float[ArrayLike, " d"] | None = None,
        *,
        mask: Bool[ArrayLike, " m"] | None = None,
    ) -> Float[Array, "n m dz"]:
        """``n`` joint samples of the true local posteriors of every event.

        Given ``theta``: $p(z_i \\mid x_i, \\theta)$; without: $p(z_i \\mid X)$
        (global parameters drawn from the reference posterior). Padding events
        are NaN.

        Args:
            key: PRNG key of the draw.
            x_obs: ``(m, *event_shape)`` one observed ensemble.
            n: the number of joint samples.
            theta: ``(d,)`` global parameters to condition on, or ``None`` to draw them from the
                reference posterior.
            mask: ``(m,)`` true on the real events (``None``: all-NaN events are padding).
        """
        raise NotImplementedError(f"task {self.name!r} has no reference local posterior")

    def __check_init__(self):
        for name in ("min_events", "max_events"):
            check_positive_int(name, getattr(self, name))
        if self.min_events > self.max_events:
            raise ValueError(
                f"min_events ({self.min_events}) must not exceed max_events ({self.max_events})"
            )

    def _check_num_events(self, num_events) -> int | None:
        if num_events is None:
            return None
        num_events = check_positive_int("num_events", num_events)
        if num_events > self.max_events:
            raise ValueError(
                f"num_events must be in [1, max_events={self.max_events}], got {num_events!r}"
            )
        return num_events

    def _simulate_one(self, key, theta, num_events=None):
        """Local parameters ``(m, dz)``, events ``(m, *event_shape)`` and the mask ``(m,)``.

        The padding events hold simulated values; the callers pad them.
        """
        k_n, k_z, k_x = jax.random.split(key, 3)
        m = self.max_events
        if num_events is None:
            num_events = jax.random.randint(k_n, (), self.min_events, self.max_events + 1)
        z = jax.vmap(self.sample_local, in_axes=(0, None))(jax.random.split(k_z, m), theta)
        x = jax.vmap(self.simulate_event, in_axes=(0, None, 0))(jax.random.split(k_x, m), theta, z)
        return z, x, jnp.arange(m) < num_events

    def _simulate_batch(self, key, n: int, num_events: int | None):
        """``n`` draws of ``(theta, z, x, mask)`` (padding events hold simulated values)."""
        return _simulate_hierarchical(self, key, n, num_events)

    def simulator(self, key, theta):
        """One ensemble ``(max_events, *event_shape)`` at ``theta`` (padding events NaN)."""
        _, x, mask = self._simulate_one(key, jnp.asarray(theta))
        return nan_padded(x, mask)

    def simulate_ensembles(
        self, key: PRNGKeyArray, n: int, num_events: int | None = None
    ) -> tuple[
        Float[Array, "n d"], Float[Array, "n m dz"], Float[Array, "n m ..."], Bool[Array, "n m"]
    ]:
        """``n`` prior draws, local parameters, ensembles and masks: ``(theta, z, x, mask)``.

        Padding events of ``z`` and ``x`` are zero-filled. ``num_events`` fixes
        the ensemble size (default: uniform in ``[min_events, max_events]``).

        Args:
            key: PRNG key of the draws.
            n: the number of ensembles.
            num_events: a fixed ensemble size ``m`` (default: uniform in ``[min_events,
                max_events]`` per ensemble).
        """
        n, num_events = check_n(n), self._check_num_events(num_events)
        theta, z, x, mask = self._simulate_batch(key, n, num_events)
        return theta, zero_padded(z, mask), zero_padded(x, mask), mask

    def simulate_with_local(
        self, key: PRNGKeyArray, n: int, num_events: int | None = None
    ) -> tuple[Float[Array, "n d"], Float[Array, "n m dz"], Float[Array, "n m ..."]]:
        """``n`` prior draws, their local parameters and ensembles (padding NaN).

        Args:
            key: PRNG key of the draws.
            n: the number of ensembles.
            num_events: a fixed ensemble size (default: uniform in ``[min_events, max_events]`` per
                ensemble).
        """
        n, num_events = check_n(n), self._check_num_events(num_events)
        theta, z, x, mask = self._simulate_batch(key, n, num_events)
        return theta, nan_padded(z, mask), nan_padded(x, mask)

    def simulate(self, key, n, num_events: int | None = None):
        """``n`` prior draws and their ensembles ``(n, max_events, *event_shape)`` (padding NaN).

        Args:
            key: PRNG key of the draws.
            n: the number of ensembles.
            num_events: a fixed ensemble size (default: uniform in ``[min_events, max_events]`` per
                ensemble).
        """
        theta, _, x = self.simulate_with_local(key, n, num_events)
        return theta, x

    def observation(self, key: PRNGKeyArray) -> tuple[Float[Array, " d"], Float[Array, "m ..."]]:
        """A true ``theta`` drawn from the prior and one observed ensemble (padding NaN)."""
        theta, x = self.simulate(key, 1)
        return theta[0], x[0]

    def observation_with_local(
        self, key: PRNGKeyArray
    ) -> tuple[Float[Array, " d"], Float[Array, "m dz"], Float[Array, "m ..."]]:
        """A true ``theta``, its local parameters and one observed ensemble (padding NaN)."""
        theta, z, x = self.simulate_with_local(key, 1)
        return theta[0], z[0], x[0]

    def observation_ensemble(
        self, key: PRNGKeyArray
    ) -> tuple[Float[Array, " d"], Float[Array, "m dz"], Float[Array, "m ..."], Bool[Array, " m"]]:
        """A true ``theta``, its local parameters, one observed ensemble and its mask."""
        theta, z, x, mask = self.simulate_ensembles(key, 1)
        return theta[0], z[0], x[0], mask[0]

    def log_likelihood(self, theta, x, mask=None):
        """$\\sum_{i \\in \\text{real}} \\log p(x_i \\mid \\theta)$ of one ensemble.

        The real events are ``mask``, or without it the events that are not all NaN.

        Args:
            theta: ``(d,)`` the global parameters.
            x: ``(m, *event_shape)`` one ensemble.
            mask: ``(m,)`` true on the real events (``None``: the events that are not all NaN).
        """
        x = jnp.asarray(x)
        if mask is None:
            mask = ~jnp.all(jnp.isnan(x.reshape(x.shape[0], -1)), axis=1)
        else:
            check_shape("mask", mask, x.shape[:1])
            mask = jnp.asarray(mask, bool)
        lp = jax.vmap(self.event_log_likelihood, in_axes=(None, 0))(theta, zero_padded(x, mask))
        return jnp.sum(jnp.where(mask, lp, 0.0))

    def check_observation(self, x_obs, mask=None) -> Array:
        """``x_obs`` as a NaN-padded ``(m, *event_shape)`` ensemble with at least one real event.

        With ``mask (m,)`` the events where it is false are padding, whatever they hold.
        """
        x_obs = jnp.asarray(x_obs)
        shape = tuple(self.event_shape)
        if x_obs.ndim == len(shape) + 2 and x_obs.shape[0] == 1:
            x_obs = x_obs[0]
            mask = None if mask is None else jnp.asarray(mask).reshape(-1)
        if x_obs.ndim != len(shape) + 1 or tuple(x_obs.shape[1:]) != shape:
            expected = ", ".join(["m", *(str(s) for s in shape)])
            raise ValueError(
                f"x_obs must be one ensemble of shape ({expected}) for task {self.name!r} "
                f"(padding events NaN, or pass mask=), got shape {x_obs.shape}"
            )
        if mask is not None:
            check_shape("mask", mask, x_obs.shape[:1])
            check_dtype("mask", mask, "bool")
            x_obs = nan_padded(x_obs, jnp.asarray(mask))
        if is_concrete(x_obs):
            flat = np.asarray(x_obs).reshape(x_obs.shape[0], -1)
            if np.isnan(flat).all(axis=1).all():
                raise ValueError(
                    "x_obs is an ensemble made entirely of padding (all events NaN or masked): "
                    "it needs at least one real event"
                )
        return x_obs


@eqx.filter_jit
def _simulate_hierarchical(task, key, n, num_events):
    k_prior, k_sim = jax.random.split(key)
    theta = task.sample_prior(k_prior, n)
    z, x, mask = jax.vmap(lambda k, t: task._simulate_one(k, t, num_events))(
        jax.random.split(k_sim, n), theta
    )
    return theta, z, x, mask


def _as_matrix(name: str, value, dim: int) -> np.ndarray:
    a = np.asarray(value, np.float64)
    if a.ndim == 0:
        a = a * np.eye(dim)
    elif a.ndim == 1:
        a = np.diag(a)
    if a.shape != (dim, dim):
        raise ValueError(
            f"{name} must be a scalar, a ({dim},) diagonal or ({dim}, {dim}), got {a.shape}"
        )
    if not np.allclose(a, a.T) or np.linalg.eigvalsh(a).min() <= 0:
        raise ValueError(f"{name} must be symmetric positive definite")
    return a


@register
class HierarchicalGaussian(AbstractHierarchicalTask):
    """The multivariate-normal conjugate hierarchy with analytic global and local posteriors.

    Args:
        dim: number of global parameters (= local parameters per event = event size).
        prior_cov: $\\Sigma_0$ (scalar, diagonal or full); the prior mean is 0.
        local_cov: $\\Sigma_z$, the scatter of the local parameters around $\\theta$.
        noise_cov: $\\Sigma_x$, the measurement noise of each event.
        min_events: the fewest events in an ensemble.
        max_events: the most events (ensemble sizes are uniform in between; the padded length).
    """

    name: ClassVar[str] = "hierarchical_gaussian"
    dim: int = 2
    prior_cov: Any = ((1.0, 0.5), (0.5, 1.0))
    local_cov: Any = 0.25
    noise_cov: Any = ((0.25, -0.1), (-0.1, 0.25))
    min_events: int = 10
    max_events: int = 50

    def __check_init__(self):
        check_positive_int("dim", self.dim)
        for name in ("prior_cov", "local_cov", "noise_cov"):
            _as_matrix(name, getattr(self, name), self.dim)

    @property
    def dim_theta(self) -> int:
        return self.dim

    @property
    def dim_z(self) -> int:
        return self.dim

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def _covs(self):
        return tuple(
            _as_matrix(name, getattr(self, name), self.dim)
            for name in ("prior_cov", "local_cov", "noise_cov")
        )

    def sample_prior(self, key, n):
        n = check_n(n)
        chol = np.linalg.cholesky(self._covs()[0]).astype(np.float32)
        return jax.random.normal(key, (n, self.dim)) @ chol.T

    def log_prior(self, theta):
        return jax.scipy.stats.multivariate_normal.logpdf(
            jnp.asarray(theta), jnp.zeros(self.dim), jnp.asarray(self._covs()[0], jnp.float32)
        )

    def sample_local(self, key, theta):
        chol = np.linalg.cholesky(self._covs()[1]).astype(np.float32)
        return jnp.asarray(theta) + chol @ jax.random.normal(key, (self.dim,))

    def simulate_event(self, key, theta, z):
        chol = np.linalg.cholesky(self._covs()[2]).astype(np.float32)
        return jnp.asarray(z) + chol @ jax.random.normal(key, (self.dim,))

    def event_log_likelihood(self, theta, x):
        _, cz, cx = self._covs()
        return jax.scipy.stats.multivariate_normal.logpdf(
            jnp.asarray(x), jnp.asarray(theta), jnp.asarray(cz + cx, jnp.float32)
        )

    def posterior_mean_cov(self, x_obs, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """The analytic global posterior mean and covariance (float64) given an ensemble."""
        x = np.asarray(self.check_observation(x_obs, mask), np.float64)
        x = x[~np.all(np.isnan(x), axis=1)]
        c0, cz, cx = self._covs()
        lam0, lam = np.linalg.inv(c0), np.linalg.inv(cz + cx)
        cov = np.linalg.inv(lam0 + x.shape[0] * lam)
        mean = cov @ (lam @ x.sum(0))
        return mean, cov

    def local_posterior_mean_cov(
        self, x_obs, theta=None, mask=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-event local posterior means ``(m, d)`` and the shared covariance ``(d, d)``.

        Given ``theta``: $p(z_i \\mid x_i, \\theta)$; ``theta=None``: $p(z_i \\mid X)$.
        Padding events get NaN means.

        Args:
            x_obs: ``(m, d)`` one observed ensemble.
            theta: ``(d,)`` global parameters to condition on, or ``None`` to marginalise over
                their posterior.
            mask: ``(m,)`` true on the real events (``None``: the events that are not all NaN).
        """
        x_obs = self.check_observation(x_obs, mask)
        x = np.asarray(x_obs, np.float64)
        _, cz, cx = self._covs()
        lz, lx = np.linalg.inv(cz), np.linalg.inv(cx)
        p_inv = np.linalg.inv(lz + lx)
        if theta is None:
            mu_n, cov_n = self.posterior_mean_cov(x_obs)
            cov = p_inv + p_inv @ lz @ cov_n @ lz @ p_inv
            centre = mu_n
        else:
            centre, cov = np.asarray(theta, np.float64), p_inv
        mean = (p_inv @ (lz @ centre[:, None] + lx @ x.T)).T
        return mean, cov

    def event_posterior_mean_cov(self, x_event) -> tuple[np.ndarray, np.ndarray]:
        """$p(z_i \\mid x_i)$ from the event alone (the non-hierarchical baseline)."""
        x = np.asarray(x_event, np.float64).reshape(self.dim)
        c0, cz, cx = self._covs()
        lam_z, lx = np.linalg.inv(c0 + cz), np.linalg.inv(cx)
        cov = np.linalg.inv(lam_z + lx)
        return cov @ (lx @ x), cov

    def reference_posterior(self, key, x_obs, n, *, mask=None):
        r"""``n`` exact samples of the Gaussian global posterior $p(\theta \mid X_{obs})$.

        Args:
            key: PRNG key of the draw.
            x_obs: ``(m, d)`` one observed ensemble.
            n: the number of samples.
            mask: ``(m,)`` true on the real events (``None``: the events that are not all NaN).
        """
        n = check_n(n)
        mean, cov = self.posterior_mean_cov(x_obs, mask)
        return jax.random.multivariate_normal(
            key, jnp.asarray(mean, jnp.float32), jnp.asarray(cov, jnp.float32), (n,)
        )

    def reference_local_posterior(self, key, x_obs, n, theta=None, *, mask=None):
        n = check_n(n)
        x_obs = self.check_observation(x_obs, mask)
        x = jnp.asarray(x_obs, jnp.float32)
        _, cz, cx = self._covs()
        lz, lx = np.linalg.inv(cz), np.linalg.inv(cx)
        p_inv = np.linalg.inv(lz + lx)
        k_t, k_z = jax.random.split(key)
        if theta is None:  # the events share the global uncertainty: theta | X, then z_i
            thetas = self.reference_posterior(k_t, x_obs, n)
        else:
            thetas = jnp.broadcast_to(jnp.asarray(theta, jnp.float32), (n, self.dim))
        a, b = (jnp.asarray(p_inv @ lam, jnp.float32) for lam in (lz, lx))
        means = (thetas @ a.T)[:, None, :] + (x @ b.T)[None]
        chol = jnp.asarray(np.linalg.cholesky(p_inv), jnp.float32)
        return means + jax.random.normal(k_z, (n, x.shape[0], self.dim)) @ chol.T


@register
class ResonanceMixture(AbstractHierarchicalTask):
    """A narrow resonance over a falling background across an ensemble of events.

    Args:
        max_signal_fraction: $f_{\\max}$ of the uniform prior on the signal fraction.
        mass_range: $(m_{\\min}, m_{\\max})$ of the uniform prior on the resonance mass.
        width: the resonance width $\\Gamma$ (true-mass scatter of signal events).
        background_slope: $\\lambda$ of the exponentially falling background.
        resolution: the detector resolution $\\sigma$.
        min_events: the fewest events in an ensemble.
        max_events: the most events (ensemble sizes are uniform in between; the padded length).
    """

    name: ClassVar[str] = "resonance_mixture"
    max_signal_fraction: float = 0.5
    mass_range: tuple[float, float] = (0.5, 3.0)
    width: float = 0.05
    background_slope: float = 1.0
    resolution: float = 0.2
    min_events: int = 50
    max_events: int = 100

    def __check_init__(self):
        if not 0 < self.max_signal_fraction <= 1:
            raise ValueError(
                f"max_signal_fraction must be in (0, 1], got {self.max_signal_fraction!r}"
            )
        lo, hi = self.mass_range
        if not lo < hi:
            raise ValueError(
                f"mass_range must be (low, high) with low < high, got {self.mass_range}"
            )
        for name in ("width", "background_slope", "resolution"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")

    @property
    def dim_theta(self) -> int:
        return 2

    @property
    def dim_z(self) -> int:
        return 1

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (1,)

    def _box(self):
        lo, hi = self.mass_range
        return jnp.array([0.0, lo]), jnp.array([self.max_signal_fraction, hi])

    def sample_prior(self, key, n):
        n = check_n(n)
        lo, hi = self._box()
        return jax.random.uniform(key, (n, 2), minval=lo, maxval=hi)

    def log_prior(self, theta):
        theta = jnp.asarray(theta)
        lo, hi = self._box()
        inside = jnp.all((theta >= lo) & (theta <= hi))
        return jnp.where(inside, -jnp.sum(jnp.log(hi - lo)), -jnp.inf)

    def sample_local(self, key, theta):
        theta = jnp.asarray(theta)
        k_s, k_sig, k_bkg = jax.random.split(key, 3)
        signal = jax.random.bernoulli(k_s, theta[0])
        m_sig = theta[1] + self.width * jax.random.normal(k_sig)
        m_bkg = jax.random.exponential(k_bkg) / self.background_slope
        return jnp.where(signal, m_sig, m_bkg)[None]

    def simulate_event(self, key, theta, z):
        return jnp.asarray(z) + self.resolution * jax.random.normal(key, (1,))

    def _log_components(self, theta, x):
        """``log f N(x; m_S, Γ²+σ²)`` and ``log (1-f) p_b(x)`` for one scalar ``x``."""
        theta = jnp.asarray(theta)
        f, m_s = theta[0], theta[1]
        lam, sig = self.background_slope, self.resolution
        s_tot = math.sqrt(self.width**2 + sig**2)
        log_sig = jnp.log(f) + jax.scipy.stats.norm.logpdf(x, m_s, s_tot)
        log_bkg = (
            jnp.log1p(-f)
            + math.log(lam)
            + 0.5 * lam**2 * sig**2
            - lam * x
            + jax.scipy.special.log_ndtr((x - lam * sig**2) / sig)
        )
        return log_sig, log_bkg

    def event_log_likelihood(self, theta, x):
        log_sig, log_bkg = self._log_components(theta, jnp.asarray(x).reshape(()))
        return jnp.logaddexp(log_sig, log_bkg)

    def signal_probability(self, theta, x_obs, mask=None) -> Float[Array, " m"]:
        """$P(\\text{signal} \\mid x_i, \\theta)$ per event (NaN on padding).

        Args:
            theta: ``(2,)`` the signal fraction $f$ and the resonance mass $m_S$.
            x_obs: ``(m, 1)`` one observed ensemble of masses.
            mask: ``(m,)`` true on the real events (``None``: the events that are not NaN).
        """
        x = self.check_observation(x_obs, mask)[:, 0]
        log_sig, log_bkg = jax.vmap(self._log_components, in_axes=(None, 0))(theta, x)
        return jax.nn.sigmoid(log_sig - log_bkg)

    def _local_given_theta(self, key, theta, x):
        """One draw of every event's true mass given ``theta`` (``x: (m,)``)."""
        lam, sig, gam = self.background_slope, self.resolution, self.width
        log_sig, log_bkg = jax.vmap(self._log_components, in_axes=(None, 0))(theta, x)
        k_c, k_s, k_b = jax.random.split(key, 3)
        signal = jax.random.bernoulli(k_c, jax.nn.sigmoid(log_sig - log_bkg))
        prec = 1 / gam**2 + 1 / sig**2
        mean_s = (theta[1] / gam**2 + x / sig**2) / prec
        z_s = mean_s + jax.random.normal(k_s, x.shape) / math.sqrt(prec)
        centre = x - lam * sig**2
        lower = (0.0 - centre) / sig
        z_b = centre + sig * jax.random.truncated_normal(k_b, lower, jnp.inf, x.shape)
        return jnp.where(signal, z_s, z_b)

    def reference_posterior(
        self,
        key,
        x_obs,
        n,
        *,
        num_chains: int = 16,
        num_warmup: int = 400,
        num_proposals: int = 50_000,
        mask=None,
    ):
        """NUTS on the exact likelihood, chains started from SIR draws of the prior.

        ``num_proposals`` prior draws are weighted by the likelihood and
        ``num_chains`` of them resampled as starting points (spread over the
        modes in proportion to their mass).

        Args:
            key: PRNG key of the proposals and the chains.
            x_obs: ``(m, 1)`` one observed ensemble of masses.
            n: the number of samples, taken evenly from the chains.
            num_chains: the number of NUTS chains.
            num_warmup: warm-up steps per chain.
            num_proposals: prior draws weighted by the likelihood to start the chains.
            mask: ``(m,)`` true on the real events (``None``: the events that are not NaN).
        """
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC, NUTS

        n = check_n(n)
        x_obs = jnp.asarray(self.check_observation(x_obs, mask), jnp.float32)
        lo, hi = self._box()

        def model():
            theta = numpyro.sample("theta", dist.Uniform(lo, hi).to_event(1))
            numpyro.factor("loglik", self.log_likelihood(theta, x_obs))

        k_prop, k_pick, k_mcmc, k_perm = jax.random.split(key, 4)
        proposals = self.sample_prior(k_prop, num_proposals)
        logw = jax.jit(jax.vmap(self.log_likelihood, in_axes=(0, None)))(proposals, x_obs)
        pick = jax.random.choice(k_pick, num_proposals, (num_chains,), p=jax.nn.softmax(logw))
        starts = jnp.clip(proposals[pick], lo + 1e-4 * (hi - lo), hi - 1e-4 * (hi - lo))
        unconstrained = jax.scipy.special.logit((starts - lo) / (hi - lo))
        mcmc = MCMC(
            NUTS(model),
            num_warmup=num_warmup,
            num_samples=-(-n // num_chains),
            num_chains=num_chains,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(k_mcmc, init_params={"theta": unconstrained})
        theta = mcmc.get_samples()["theta"]
        return jax.random.permutation(k_perm, theta)[:n]

    def reference_local_posterior(self, key, x_obs, n, theta=None, *, mask=None):
        n = check_n(n)
        x_obs = self.check_observation(x_obs, mask)
        x = jnp.asarray(x_obs, jnp.float32)[:, 0]
        real = ~jnp.isnan(x)
        x0 = jnp.where(real, x, 0.0)
        k_t, k_z = jax.random.split(key)
        if theta is None:
            thetas = self.reference_posterior(k_t, x_obs, n)
        else:
            thetas = jnp.broadcast_to(jnp.asarray(theta, jnp.float32), (n, 2))
        z = jax.jit(jax.vmap(self._local_given_theta, in_axes=(0, 0, None)))(
            jax.random.split(k_z, n), thetas, x0
        )
        return jnp.where(real, z, jnp.nan)[..., None]
