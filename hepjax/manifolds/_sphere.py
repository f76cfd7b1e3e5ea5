r"""The unit sphere $S^n \subset \mathbb R^{n+1}$ with the round metric."""

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ._base import AbstractManifold, safe_norm
from ._euclidean import _check_dim


class Sphere(AbstractManifold):
    r"""The unit sphere $S^n = \{x \in \mathbb R^{n+1} : \|x\| = 1\}$.

    With $\theta = d(x, y)$ and $v = P_x y = y - (x^\top y)\,x$:

    - $\exp_x u = \cos\|u\|\,x + \operatorname{sinc}\|u\|\,u$,
    - $\log_x y = \theta\, v / \|v\|$, $\theta = \operatorname{atan2}(\|v\|, x^\top y)$,
    - $d(x,y) = 2\operatorname{atan2}(\|x-y\|, \|x+y\|)$ (accurate at both
      $x \approx y$ and $x \approx -y$, unlike $\arccos x^\top y$),
    - $P_x u = u - (x^\top u)\,x$,
    - $\operatorname{vol}(S^n) = 2\pi^{(n+1)/2}/\Gamma(\tfrac{n+1}2)$.

    ``sinc`` and $\theta/\|v\|$ switch to their Taylor series near zero, so
    values and gradients are finite at $u = 0$ and $x = y$. At the exact
    antipode $y = -x$ the logarithm is not unique; ``logmap`` then returns the
    vector of length $\pi$ along a fixed coordinate direction projected onto
    $T_x S^n$. ``expmap`` renormalises its result, so long chains of steps in
    float32 stay on the sphere.

    Attributes:
        dim: the intrinsic dimension $n$ (``Sphere(2)`` is the 2-sphere in $\mathbb R^3$).
    """

    dim: int

    def __check_init__(self):
        _check_dim(self.dim)

    def __repr__(self) -> str:
        return f"Sphere({self.dim})"

    @property
    def ambient_dim(self) -> int:
        return self.dim + 1

    @property
    def is_compact(self) -> bool:
        return True

    def projx(self, x: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        x = self._shape("x", x)
        return x / jnp.sqrt(jnp.sum(x * x))

    def proju(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        x, u = self._shape("x", x), self._shape("u", u)
        return u - jnp.dot(x, u) * x

    def expmap(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        x, u = self._shape("x", x), self._shape("u", u)
        sq = jnp.sum(u * u)
        small = sq < jnp.finfo(sq.dtype).eps
        n = jnp.sqrt(jnp.where(small, 1.0, sq))
        cos = jnp.where(small, 1.0 - sq / 2, jnp.cos(n))
        sinc = jnp.where(small, 1.0 - sq / 6, jnp.sin(n) / n)
        y = cos * x + sinc * u
        return y / jnp.sqrt(jnp.sum(y * y))

    def logmap(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        x, y = self._shape("x", x), self._shape("y", y)
        c = jnp.dot(x, y)
        v = y - c * x
        sq = jnp.sum(v * v)
        tiny = jnp.finfo(sq.dtype).eps ** 2
        small = sq < tiny
        s = jnp.sqrt(jnp.where(small, 1.0, sq))
        theta = jnp.arctan2(jnp.where(small, 0.0, s), c)
        factor = jnp.where(small, 1.0 + sq / 6, theta / s)
        log = factor * v
        # Exact antipode: any direction is a minimising geodesic; pick a fixed one.
        e = jnp.zeros_like(x).at[jnp.argmin(jnp.abs(x))].set(1.0)
        w = jax.lax.stop_gradient(e - jnp.dot(x, e) * x)
        w = jnp.pi * w / jnp.sqrt(jnp.sum(w * w))
        return jnp.where(small & (c < 0), w, log)

    def dist(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        x, y = self._shape("x", x), self._shape("y", y)
        return 2.0 * jnp.arctan2(safe_norm(x - y), safe_norm(x + y))

    def random_uniform(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        z = jax.random.normal(key, (self.ambient_dim,))
        return z / jnp.sqrt(jnp.sum(z * z))

    def log_volume(self) -> float:
        n1 = self.dim + 1
        return math.log(2.0) + 0.5 * n1 * math.log(math.pi) - math.lgamma(0.5 * n1)

    def belongs(self, x: Float[ArrayLike, " d"], atol: float = 1e-5) -> Bool[Array, ""]:
        x = self._shape("x", x)
        return jnp.abs(jnp.sqrt(jnp.sum(x * x)) - 1.0) <= atol

    def random_base(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        return self.random_uniform(key)

    def base_log_prob(self, x: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        x = self._shape("x", x)
        return jnp.full((), -self.log_volume(), dtype=x.dtype)
