r"""The manifold interface shared by every geometry in :mod:`hepjax.manifolds`.

A manifold $\mathcal M$ of intrinsic dimension ``dim`` is represented by
*ambient coordinates*: a point is a flat array of ``ambient_dim`` numbers (a
unit vector in $\mathbb R^{n+1}$ for the sphere, angles for the torus) and a
tangent vector at $x$ is an array of the same shape lying in $T_x\mathcal M$.
All methods act on a single point; batch with ``jax.vmap``.

The metric is the one induced by the ambient Euclidean inner product, so
$\langle u, v\rangle_x = u^\top v$ for tangent $u, v$, and the Riemannian
divergence of a tangent field $v$ is $\operatorname{tr}(P_x J_v P_x)$ with
$P_x$ the orthogonal projection onto $T_x\mathcal M$ (see
:func:`hepjax.generative.log_likelihood`).
"""

import abc

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import check_dtype, is_concrete


def safe_norm(v: Float[Array, "..."], axis=-1) -> Float[Array, "..."]:
    r"""$\|v\|$ whose gradient at $v = 0$ is $0$ instead of NaN."""
    sq = jnp.sum(v * v, axis=axis)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


class AbstractManifold(eqx.Module):
    """A Riemannian manifold embedded in (or covered by) $\\mathbb R^{\\text{ambient\\_dim}}$.

    Subclasses implement the geometry of one point: ``expmap``, ``logmap``,
    ``dist``, ``projx``, ``proju``, ``random_uniform``, ``log_volume`` and the
    membership test ``belongs``. Everything else (``inner``, ``norm``,
    ``geodesic``, ``check_point``, the flow-matching base distribution) is
    defined here once.
    """

    dim: eqx.AbstractVar[int]

    # ------------------------------------------------------------------ shape
    @property
    @abc.abstractmethod
    def ambient_dim(self) -> int:
        """Number of coordinates of a point (its flat array length)."""

    @property
    @abc.abstractmethod
    def is_compact(self) -> bool:
        """Whether the manifold is compact (has finite volume and a uniform law)."""

    def _shape(self, name: str, x: ArrayLike) -> Array:
        if np.shape(x) != (self.ambient_dim,):
            raise ValueError(
                f"{name} must be a single point of {self!r} with shape ({self.ambient_dim},), "
                f"got shape {np.shape(x)}; use jax.vmap for batches"
            )
        check_dtype(name, x, "float")
        return jnp.asarray(x)

    # --------------------------------------------------------------- geometry
    @abc.abstractmethod
    def projx(self, x: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        """The closest point of the manifold to an ambient point ``x``."""

    @abc.abstractmethod
    def proju(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        r"""Orthogonal projection $P_x u$ of an ambient vector onto $T_x\mathcal M$."""

    @abc.abstractmethod
    def expmap(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        r"""Exponential map $\exp_x(u)$: follow the geodesic from ``x`` with velocity ``u``."""

    @abc.abstractmethod
    def logmap(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        r"""Logarithm map $\log_x(y)$: the shortest tangent $u$ with $\exp_x(u) = y$."""

    @abc.abstractmethod
    def dist(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        r"""Geodesic distance $d(x, y) = \|\log_x y\|_x$ (zero, not NaN, gradient at $x = y$)."""

    @abc.abstractmethod
    def random_uniform(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        """A point drawn from the normalised Riemannian volume (compact manifolds only)."""

    @abc.abstractmethod
    def log_volume(self) -> float:
        """Logarithm of the Riemannian volume (compact manifolds only)."""

    @abc.abstractmethod
    def belongs(self, x: Float[ArrayLike, " d"], atol: float = 1e-5) -> Bool[Array, ""]:
        """Whether ``x`` lies on the manifold within the absolute tolerance ``atol``."""

    @abc.abstractmethod
    def random_base(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        """A draw from the base distribution of flows: uniform if compact, else standard normal."""

    @abc.abstractmethod
    def base_log_prob(self, x: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        """Log density of :meth:`random_base` w.r.t. the Riemannian volume."""

    # ------------------------------------------------------- derived methods
    def inner(
        self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"], v: Float[ArrayLike, " d"]
    ) -> Float[Array, ""]:
        r"""Riemannian inner product $\langle u, v\rangle_x = u^\top v$ of tangent vectors at ``x``.

        Args:
            x: the base point.
            u: a tangent vector at ``x``.
            v: a tangent vector at ``x``.

        Returns:
            The scalar $\langle u, v\rangle_x$ (the metric is induced by the
            ambient Euclidean one for every manifold here).
        """
        self._shape("x", x)
        u, v = self._shape("u", u), self._shape("v", v)
        return jnp.sum(u * v)

    def norm(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        r"""Metric norm $\|u\|_x = \sqrt{\langle u, u\rangle_x}$ (zero gradient at $u = 0$)."""
        self._shape("x", x)
        return safe_norm(self._shape("u", u))

    def geodesic(
        self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"], t: Float[ArrayLike, ""]
    ) -> Float[Array, " d"]:
        r"""The minimising geodesic $\gamma(t) = \exp_x(t \log_x y)$: $\gamma(0)=x$, $\gamma(1)=y$.

        It has constant speed $\|\dot\gamma(t)\| = d(x, y)$.

        Args:
            x: the start point on the manifold, shape ``(d,)`` in ambient coordinates.
            y: the end point, shape ``(d,)``.
            t: the time along the geodesic (``0`` gives ``x``, ``1`` gives ``y``; other values
                extrapolate).
        """
        return self.expmap(x, jnp.asarray(t) * self.logmap(x, y))

    def check_point(
        self, x: Float[ArrayLike, " d"], name: str = "x", atol: float = 1e-5
    ) -> Float[Array, " d"]:
        """Return ``x`` after checking that it is a point of the manifold.

        The shape is checked statically. Concrete values off the manifold (by
        more than ``atol``) raise ``ValueError`` naming ``name``; traced values
        are checked at run time with ``eqx.error_if`` (under ``jit`` the error
        surfaces as an ``EqxRuntimeError`` with the same message).

        Args:
            x: the candidate point.
            name: the argument name used in error messages.
            atol: absolute tolerance of the membership test.

        Returns:
            ``x`` as a JAX array.
        """
        x = self._shape(name, x)
        ok = self.belongs(x, atol)
        message = f"{name} is not a point of {self!r} (tolerance {atol})"
        if is_concrete(ok):
            if not bool(ok):
                raise ValueError(message)
            return x
        return eqx.error_if(x, ~ok, message)
