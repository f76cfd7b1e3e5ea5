r"""Euclidean space $\mathbb R^n$."""

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import check_positive_int
from ._base import AbstractManifold, safe_norm


def _check_dim(dim) -> None:
    check_positive_int("dim", dim)


class Euclidean(AbstractManifold):
    r"""Flat $\mathbb R^n$: $\exp_x u = x + u$, $\log_x y = y - x$, $d(x,y) = \|y-x\|$.

    Not compact, so :meth:`random_uniform` and :meth:`log_volume` raise; the
    flow base distribution is the standard normal.

    Attributes:
        dim: the dimension $n$.
    """

    dim: int

    def __check_init__(self):
        _check_dim(self.dim)

    def __repr__(self) -> str:
        return f"Euclidean({self.dim})"

    @property
    def ambient_dim(self) -> int:
        return self.dim

    @property
    def is_compact(self) -> bool:
        return False

    def projx(self, x: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return self._shape("x", x)

    def proju(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        self._shape("x", x)
        return self._shape("u", u)

    def expmap(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return self._shape("x", x) + self._shape("u", u)

    def logmap(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return self._shape("y", y) - self._shape("x", x)

    def dist(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        return safe_norm(self._shape("y", y) - self._shape("x", x))

    def random_uniform(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        raise ValueError(f"{self!r} is not compact: it has no uniform distribution")

    def log_volume(self) -> float:
        raise ValueError(f"{self!r} is not compact: its volume is infinite")

    def belongs(self, x: Float[ArrayLike, " d"], atol: float = 1e-5) -> Bool[Array, ""]:
        return jnp.all(jnp.isfinite(self._shape("x", x)))

    def random_base(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        return jax.random.normal(key, (self.dim,))

    def base_log_prob(self, x: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        r"""$\log\mathcal N(x; 0, I) = -\tfrac12\|x\|^2 - \tfrac n2\log 2\pi$."""
        x = self._shape("x", x)
        return -0.5 * jnp.sum(x * x) - 0.5 * self.dim * math.log(2 * math.pi)
