r"""The flat torus $T^n = (\mathbb R / 2\pi\mathbb Z)^n$ in angle coordinates."""

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ._base import AbstractManifold, safe_norm
from ._euclidean import _check_dim


def wrap(angle: Float[Array, "..."]) -> Float[Array, "..."]:
    r"""Wrap angles to $[-\pi, \pi)$ (derivative 1 everywhere but the cut)."""
    return jnp.mod(angle + jnp.pi, 2 * jnp.pi) - jnp.pi


class FlatTorus(AbstractManifold):
    r"""The flat torus $T^n$: a point is $n$ angles, e.g. an azimuth $\phi$.

    Every real vector is a valid representative of a point (angles are taken
    modulo $2\pi$); :meth:`projx`, :meth:`expmap` and :meth:`logmap` return
    wrapped angles in $[-\pi, \pi)$. The metric is flat:

    - $\exp_x u = \operatorname{wrap}(x + u)$,
    - $\log_x y = \operatorname{wrap}(y - x)$ (the shortest signed difference),
    - $d(x, y) = \|\log_x y\|$, $P_x u = u$, $\operatorname{vol}(T^n) = (2\pi)^n$.

    A point "off the manifold" is only a non-finite one.

    Attributes:
        dim: the number of angles $n$.
    """

    dim: int

    def __check_init__(self):
        _check_dim(self.dim)

    def __repr__(self) -> str:
        return f"FlatTorus({self.dim})"

    @property
    def ambient_dim(self) -> int:
        return self.dim

    @property
    def is_compact(self) -> bool:
        return True

    def projx(self, x: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return wrap(self._shape("x", x))

    def proju(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        self._shape("x", x)
        return self._shape("u", u)

    def expmap(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return wrap(self._shape("x", x) + self._shape("u", u))

    def logmap(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return wrap(self._shape("y", y) - self._shape("x", x))

    def dist(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        return safe_norm(self.logmap(x, y))

    def random_uniform(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        return jax.random.uniform(key, (self.dim,), minval=-jnp.pi, maxval=jnp.pi)

    def log_volume(self) -> float:
        return self.dim * math.log(2 * math.pi)

    def belongs(self, x: Float[ArrayLike, " d"], atol: float = 1e-5) -> Bool[Array, ""]:
        return jnp.all(jnp.isfinite(self._shape("x", x)))

    def random_base(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        return self.random_uniform(key)

    def base_log_prob(self, x: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        x = self._shape("x", x)
        return jnp.full((), -self.log_volume(), dtype=x.dtype)
