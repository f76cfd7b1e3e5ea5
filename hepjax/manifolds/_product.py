r"""Products of manifolds, with points stored as one flat array."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ._base import AbstractManifold


class Product(AbstractManifold):
    r"""The product $\mathcal M_1 \times \dots \times \mathcal M_k$ with the product metric.

    A point is ONE flat array: the factors' ambient coordinates concatenated
    in order. For ``Product(Sphere(2), FlatTorus(1), Euclidean(3))`` that is
    $3 + 1 + 3 = 7$ numbers. Every operation acts factor-wise, and

    - $d(x, y)^2 = \sum_i d_i(x_i, y_i)^2$,
    - $\langle u, v\rangle_x = \sum_i \langle u_i, v_i\rangle_{x_i}$,
    - $\log\operatorname{vol} = \sum_i \log\operatorname{vol}_i$ (compact factors only),
    - the base distribution is the product of the factors' bases.

    Args:
        *factors: the manifolds, at least one.
    """

    factors: tuple[AbstractManifold, ...]
    dim: int

    def __init__(self, *factors: AbstractManifold):
        if not factors:
            raise ValueError("Product needs at least one factor manifold")
        for i, f in enumerate(factors):
            if not isinstance(f, AbstractManifold):
                raise TypeError(
                    f"factors[{i}] must be a hepjax.manifolds manifold, got {type(f).__name__}"
                )
        self.factors = tuple(factors)
        self.dim = sum(f.dim for f in factors)

    def __repr__(self) -> str:
        return "Product(" + ", ".join(repr(f) for f in self.factors) + ")"

    @property
    def ambient_dim(self) -> int:
        return sum(f.ambient_dim for f in self.factors)

    @property
    def is_compact(self) -> bool:
        return all(f.is_compact for f in self.factors)

    def split(self, x: Float[ArrayLike, " d"]) -> list[Float[Array, " _"]]:
        """Split a flat point (or tangent vector) into the factors' pieces."""
        x = jnp.asarray(x)
        cuts = np.cumsum([f.ambient_dim for f in self.factors])[:-1]
        return jnp.split(x, cuts)

    def _map(self, method: str, *arrays, names: tuple[str, ...]) -> list:
        arrays = [self._shape(n, a) for n, a in zip(names, arrays, strict=True)]
        pieces = [self.split(a) for a in arrays]
        return [getattr(f, method)(*args) for f, *args in zip(self.factors, *pieces, strict=True)]

    def projx(self, x: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return jnp.concatenate(self._map("projx", x, names=("x",)))

    def proju(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return jnp.concatenate(self._map("proju", x, u, names=("x", "u")))

    def expmap(self, x: Float[ArrayLike, " d"], u: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return jnp.concatenate(self._map("expmap", x, u, names=("x", "u")))

    def logmap(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        return jnp.concatenate(self._map("logmap", x, y, names=("x", "y")))

    def dist(self, x: Float[ArrayLike, " d"], y: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        d = jnp.stack(self._map("dist", x, y, names=("x", "y")))
        sq = jnp.sum(d * d)
        positive = sq > 0
        return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)

    def random_uniform(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        if not self.is_compact:
            raise ValueError(f"{self!r} is not compact: it has no uniform distribution")
        keys = jax.random.split(key, len(self.factors))
        pieces = [f.random_uniform(k) for f, k in zip(self.factors, keys, strict=True)]
        return jnp.concatenate(pieces)

    def log_volume(self) -> float:
        if not self.is_compact:
            raise ValueError(f"{self!r} is not compact: its volume is infinite")
        return sum(f.log_volume() for f in self.factors)

    def belongs(self, x: Float[ArrayLike, " d"], atol: float = 1e-5) -> Bool[Array, ""]:
        parts = self._map("belongs", x, names=("x",))
        return jnp.all(jnp.stack([jnp.asarray(p) for p in parts]))

    def random_base(self, key: PRNGKeyArray) -> Float[Array, " d"]:
        keys = jax.random.split(key, len(self.factors))
        return jnp.concatenate([f.random_base(k) for f, k in zip(self.factors, keys, strict=True)])

    def base_log_prob(self, x: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        return sum(self._map("base_log_prob", x, names=("x",)))
