r"""Probability paths for flow matching, as strategy objects.

A conditional path interpolates between a base sample $x_0$ (noise, $t = 0$)
and a data sample $x_1$ ($t = 1$). Each path gives the point $x_t$ and the
conditional target velocity $u_t = \frac{d}{dt} x_t$ that flow matching
regresses (Lipman et al. 2022, arXiv:2210.02747):

.. math::
    \mathcal L_{\mathrm{CFM}} = \mathbb E_{t, x_0, x_1}\,\| v_\theta(t, x_t) - u_t \|^2 .

Gaussian paths are affine, $x_t = \alpha_t x_1 + \sigma_t x_0$ with
$x_0 \sim \mathcal N(0, I)$ and $u_t = \dot\alpha_t x_1 + \dot\sigma_t x_0$:

- :class:`CondOT`: $\alpha_t = t$, $\sigma_t = 1 - (1 - \sigma_{\min}) t$
  (Lipman et al. 2022, Eq. 20);
- :class:`VP`: the variance-preserving schedule of Song et al. 2021 (arXiv:2011.13456),
  $\alpha_t = e^{-T(1-t)/2}$, $\sigma_t = \sqrt{1 - \alpha_t^2}$,
  $T(s) = \beta_{\min} s + \tfrac12 s^2 (\beta_{\max} - \beta_{\min})$;
- :class:`VE`: variance exploding, $\alpha_t = 1$,
  $\sigma_t = \sigma_{\min} (\sigma_{\max}/\sigma_{\min})^{1-t}$;
- :class:`Cosine`: $\alpha_t = \sin(\pi t / 2)$, $\sigma_t = \cos(\pi t / 2)$.

:class:`GeodesicPath` is the Riemannian path of Chen & Lipman 2023
(arXiv:2302.03660): $x_t = \exp_{x_0}(t \log_{x_0} x_1)$, with $x_0$ from the
manifold's base distribution and $u_t = \dot x_t$, a tangent vector at $x_t$
(equal to $\log_{x_t}(x_1)/(1-t)$).
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_choice, check_positive
from ..manifolds import AbstractManifold

_In = Float[ArrayLike, "..."]
_Out = Float[Array, "..."]


class AbstractPath(eqx.Module):
    """A conditional probability path: ``x_t`` and its velocity ``u_t`` given ``(x0, x1)``.

    Paths act on one example of any shape (a point ``(d,)`` or a set ``(n, d)``,
    whose rows are points); batch with ``jax.vmap``.
    """

    @abc.abstractmethod
    def sample_base(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Float[Array, "..."]:
        """Draw $x_0$ of the given shape from the path's base distribution."""

    @abc.abstractmethod
    def sample_prior(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Float[Array, "..."]:
        """Draw a starting point for sampling at $t = 0$ (the $t = 0$ marginal of the path)."""

    @abc.abstractmethod
    def interpolate(
        self, x0: Float[ArrayLike, "..."], x1: Float[ArrayLike, "..."], t: Float[ArrayLike, ""]
    ) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
        """Return ``(x_t, u_t)``: the point on the path at time ``t`` and its velocity.

        Args:
            x0: the base (noise) sample at $t = 0$, of the data's shape.
            x1: the data sample at $t = 1$, of the same shape.
            t: time in ``[0, 1]`` (a scalar).
        """

    @abc.abstractmethod
    def project(self, x: _In, v: _In) -> _Out:
        """Project a model output ``v`` at ``x`` onto the tangent space (identity in R^n)."""

    @abc.abstractmethod
    def sq_norm(self, x: _In, v: _In) -> _Out:
        """Squared metric norm of ``v`` at ``x``, one value per point (per row of a set)."""

    @property
    @abc.abstractmethod
    def manifold(self) -> AbstractManifold | None:
        """The manifold of the path, or ``None`` for flat $\\mathbb R^n$."""


class AbstractGaussianPath(AbstractPath):
    r"""An affine Gaussian path $x_t = \alpha_t x_1 + \sigma_t x_0$, $x_0 \sim \mathcal N(0, I)$."""

    @abc.abstractmethod
    def alpha_sigma(self, t: Float[ArrayLike, ""]) -> tuple[Float[Array, ""], Float[Array, ""]]:
        r"""The schedule $(\alpha_t, \sigma_t)$."""

    def alpha_sigma_derivatives(
        self, t: Float[ArrayLike, ""]
    ) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        r"""$(\alpha_t, \sigma_t, \dot\alpha_t, \dot\sigma_t)$, the derivatives by forward-mode AD.

        Args:
            t: the time in $[0, 1]$.

        Returns:
            The schedule and its time derivatives.
        """
        t = jnp.asarray(t, dtype=jnp.result_type(t, float))
        (a, s), (da, ds) = jax.jvp(self.alpha_sigma, (t,), (jnp.ones_like(t),))
        return a, s, da, ds

    def sample_base(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Float[Array, "..."]:
        return jax.random.normal(key, shape)

    def sample_prior(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Float[Array, "..."]:
        r"""$\sigma_0\,\mathcal N(0, I)$: the $t = 0$ marginal when $\alpha_0 \approx 0$.

        Args:
            key: PRNG key.
            shape: the shape of one example.

        Returns:
            The starting point of ODE sampling.
        """
        _, s = self.alpha_sigma(jnp.zeros(()))
        return s * jax.random.normal(key, shape)

    def interpolate(
        self, x0: Float[ArrayLike, "..."], x1: Float[ArrayLike, "..."], t: Float[ArrayLike, ""]
    ) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
        x0, x1 = jnp.asarray(x0), jnp.asarray(x1)
        if x0.shape != x1.shape:
            raise ValueError(f"x0 and x1 must have the same shape, got {x0.shape} and {x1.shape}")
        a, s, da, ds = self.alpha_sigma_derivatives(jnp.asarray(t, x1.dtype))
        return a * x1 + s * x0, da * x1 + ds * x0

    def project(self, x: _In, v: _In) -> _Out:
        return jnp.asarray(v)

    def sq_norm(self, x: _In, v: _In) -> _Out:
        v = jnp.asarray(v)
        return jnp.sum(v * v, axis=-1)

    @property
    def manifold(self) -> AbstractManifold | None:
        return None


class CondOT(AbstractGaussianPath):
    r"""Conditional optimal transport: $x_t = t x_1 + (1 - (1-\sigma_{\min}) t) x_0$.

    $u_t = x_1 - (1 - \sigma_{\min}) x_0$ (Lipman et al. 2022, arXiv:2210.02747;
    with $\sigma_{\min} = 0$ it is rectified flow).

    Attributes:
        sigma_min: width of the data end of the path, in $[0, 1)$.
    """

    sigma_min: float = 0.0

    def __check_init__(self):
        check_positive("sigma_min", self.sigma_min, allow_zero=True)
        if self.sigma_min >= 1:
            raise ValueError(f"sigma_min must be in [0, 1), got {self.sigma_min!r}")

    def alpha_sigma(self, t: Float[ArrayLike, ""]) -> tuple[Float[Array, ""], Float[Array, ""]]:
        t = jnp.asarray(t)
        return t, 1.0 - (1.0 - self.sigma_min) * t


class VP(AbstractGaussianPath):
    r"""Variance-preserving path (Song et al. 2021; Lipman et al. 2022, Eq. 19).

    $\alpha_t = e^{-T(1-t)/2}$, $\sigma_t = \sqrt{1 - \alpha_t^2}$ with
    $T(s) = \beta_{\min}s + \tfrac12 s^2(\beta_{\max} - \beta_{\min})$.
    $\sigma_1 = 0$, so $t = 1$ is excluded from training times by ``t_max``
    in the losses.

    Attributes:
        beta_min: the noise rate at the data end.
        beta_max: the noise rate at the noise end.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __check_init__(self):
        check_positive("beta_min", self.beta_min, allow_zero=True)
        check_positive("beta_max", self.beta_max)

    def alpha_sigma(self, t: Float[ArrayLike, ""]) -> tuple[Float[Array, ""], Float[Array, ""]]:
        s = 1.0 - jnp.asarray(t)
        big_t = self.beta_min * s + 0.5 * s**2 * (self.beta_max - self.beta_min)
        alpha = jnp.exp(-0.5 * big_t)
        # sqrt(1 - exp(-T)) via expm1 for accuracy near the data end.
        return alpha, jnp.sqrt(-jnp.expm1(-big_t))


class VE(AbstractGaussianPath):
    r"""Variance-exploding path: $\alpha_t = 1$,
    $\sigma_t = \sigma_{\min}(\sigma_{\max}/\sigma_{\min})^{1-t}$.

    $x_t = x_1 + \sigma_t x_0$ with $x_0 \sim \mathcal N(0, I)$ (Song et al.
    2021; Lipman et al. 2022, Eq. 18). Sampling starts from
    :meth:`sample_prior`, $\sigma_{\max}\,\mathcal N(0, I)$.

    Attributes:
        sigma_min: noise at the data end.
        sigma_max: noise at the noise end.
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def __check_init__(self):
        check_positive("sigma_min", self.sigma_min)
        check_positive("sigma_max", self.sigma_max)
        if self.sigma_max <= self.sigma_min:
            raise ValueError(
                f"sigma_max must exceed sigma_min, got {self.sigma_max!r} <= {self.sigma_min!r}"
            )

    def alpha_sigma(self, t: Float[ArrayLike, ""]) -> tuple[Float[Array, ""], Float[Array, ""]]:
        t = jnp.asarray(t)
        log_ratio = math.log(self.sigma_max / self.sigma_min)
        return jnp.ones_like(t), self.sigma_min * jnp.exp((1.0 - t) * log_ratio)


class Cosine(AbstractGaussianPath):
    r"""Cosine schedule: $\alpha_t = \sin(\pi t/2)$, $\sigma_t = \cos(\pi t/2)$.

    It preserves the variance of unit-variance data: $\alpha_t^2 + \sigma_t^2 = 1$.
    """

    def alpha_sigma(self, t: Float[ArrayLike, ""]) -> tuple[Float[Array, ""], Float[Array, ""]]:
        t = jnp.asarray(t)
        return jnp.sin(0.5 * jnp.pi * t), jnp.cos(0.5 * jnp.pi * t)


class GeodesicPath(AbstractPath):
    r"""The geodesic path on a manifold (Chen & Lipman 2023, arXiv:2302.03660).

    $x_t = \exp_{x_0}(t\,\log_{x_0} x_1)$ with $x_0$ from the manifold's base
    distribution (uniform on compact manifolds, standard normal on
    Euclidean factors). The target $u_t = \frac{d}{dt}x_t$ is computed exactly
    by forward-mode differentiation in $t$; it lies in $T_{x_t}\mathcal M$ and
    has constant metric norm $d(x_0, x_1)$. On ``Euclidean(d)`` this is
    ``CondOT(sigma_min=0)`` with a standard-normal base.

    Sets ``(n, d)`` are handled row by row (each row a point).

    Args:
        manifold: any :class:`hepjax.manifolds.AbstractManifold`.
    """

    space: AbstractManifold

    def __init__(self, manifold: AbstractManifold):
        if not isinstance(manifold, AbstractManifold):
            raise TypeError(
                f"manifold must be a hepjax.manifolds manifold, got {type(manifold).__name__}"
            )
        self.space = manifold

    @property
    def manifold(self) -> AbstractManifold:
        return self.space

    def _rows(self, fn, *arrays):
        arrays = [jnp.asarray(a) for a in arrays]
        if arrays[0].ndim == 1:
            return fn(*arrays)
        if arrays[0].ndim == 2:
            return jax.vmap(fn)(*arrays)
        raise ValueError(
            f"points of {self.space!r} must have shape (d,) or (n, d), got {arrays[0].shape}"
        )

    def sample_base(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Float[Array, "..."]:
        d = self.space.ambient_dim
        if len(shape) not in (1, 2) or shape[-1] != d:
            raise ValueError(f"points of {self.space!r} need shape ({d},) or (n, {d}), got {shape}")
        if len(shape) == 1:
            return self.space.random_base(key)
        return jax.vmap(self.space.random_base)(jax.random.split(key, shape[0]))

    def sample_prior(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Float[Array, "..."]:
        return self.sample_base(key, shape)

    def interpolate(
        self, x0: Float[ArrayLike, "..."], x1: Float[ArrayLike, "..."], t: Float[ArrayLike, ""]
    ) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
        def one(a, b):
            v = self.space.logmap(a, b)
            tt = jnp.asarray(t, a.dtype)
            return jax.jvp(lambda s: self.space.expmap(a, s * v), (tt,), (jnp.ones_like(tt),))

        return self._rows(one, x0, x1)

    def project(self, x: _In, v: _In) -> _Out:
        return self._rows(self.space.proju, x, v)

    def sq_norm(self, x: _In, v: _In) -> _Out:
        return self._rows(lambda a, u: self.space.inner(a, u, u), x, v)


_PATHS = {"cond_ot": CondOT, "vp": VP, "ve": VE, "cosine": Cosine}


def make_path(name: str, **kwargs: float) -> AbstractGaussianPath:
    """Build a Gaussian path by name: ``"cond_ot"``, ``"vp"``, ``"ve"`` or ``"cosine"``.

    Args:
        name: the schedule name.
        **kwargs: its parameters, e.g. ``sigma_min=1e-4`` for ``"cond_ot"``.

    Returns:
        The path object (the same as calling its class).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    check_choice("path", name, sorted(_PATHS))
    return _PATHS[name](**kwargs)


def resolve_path(path) -> AbstractPath:
    if isinstance(path, str):
        return make_path(path)
    if isinstance(path, AbstractManifold):
        return GeodesicPath(path)
    if not isinstance(path, AbstractPath):
        raise TypeError(
            f"path must be a path object (CondOT(), GeodesicPath(M), ...) or one of "
            f"{sorted(_PATHS)}, got {type(path).__name__}"
        )
    return path
