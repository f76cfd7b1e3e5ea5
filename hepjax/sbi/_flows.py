r"""A conditional neural spline flow written on Equinox with distrax bijectors.

Each of the ``num_transforms`` layers is a masked coupling (Dinh et al. 2017,
arXiv:1605.08803) whose transformed half goes through monotone rational-quadratic
splines (Durkan et al. 2019, arXiv:1906.04032) on $[-B, B]$ (identity outside).
The spline parameters come from an MLP of the untouched half and the context
$c = e(x)$. With $f = f_K \circ \dots \circ f_1$ the map from parameters to the
standard-normal base,

.. math::
    \log q(\theta \mid x) = \log \mathcal N(f(\theta); 0, I)
    + \sum_k \log\left|\det \frac{\partial f_k}{\partial z_{k-1}}\right|.

A conditional elementwise affine map $\theta \mapsto (\theta - \mu(c)) / \sigma(c)$
comes first, so that a posterior whose location and width move with $x$ (the
common case) does not have to be carried by the splines alone.

The last layer of every conditioner starts at zero, so the flow starts as the
identity (a standard normal on z-scored parameters).
"""

import distrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


def zero_last_layer(mlp: eqx.nn.MLP) -> eqx.nn.MLP:
    last = mlp.layers[-1]
    mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, jnp.zeros_like(last.weight))
    return eqx.tree_at(lambda m: m.layers[-1].bias, mlp, jnp.zeros_like(last.bias))


class Identity(eqx.Module):
    """The identity embedding ``x -> x``."""

    def __call__(self, x: Float[Array, " dx"]) -> Float[Array, " dx"]:
        return x


def embed(embedding, x):
    out = embedding(x)
    if jnp.ndim(out) != 1:
        raise ValueError(
            f"the embedding must map one observation to a 1-d feature vector, got shape "
            f"{jnp.shape(out)}"
        )
    return out


class ConditionalSplineFlow(eqx.Module):
    """A conditional density ``q(theta | x)`` on ``(dim,)`` vectors.

    The coupling layers are stacked (one MLP with a leading layer axis) and run
    with ``lax.scan``, so a flow of any depth compiles like a single layer.
    """

    conditioners: eqx.nn.MLP
    masks: Array
    affine: eqx.nn.MLP
    embedding: eqx.Module
    dim: int = eqx.field(static=True)
    num_bins: int = eqx.field(static=True)
    tail_bound: float = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        context_dim: int,
        *,
        embedding: eqx.Module | None = None,
        num_transforms: int = 5,
        hidden_features: int = 64,
        depth: int = 2,
        num_bins: int = 8,
        tail_bound: float = 5.0,
        key: PRNGKeyArray,
    ):
        self.dim, self.num_bins, self.tail_bound = dim, num_bins, tail_bound
        self.embedding = Identity() if embedding is None else embedding

        def make(k):
            mlp = eqx.nn.MLP(
                dim + context_dim,
                dim * (3 * num_bins + 1),
                hidden_features,
                depth,
                activation=jax.nn.silu,
                key=k,
            )
            return zero_last_layer(mlp)

        self.affine = zero_last_layer(
            eqx.nn.MLP(context_dim, 2 * dim, hidden_features, 1, activation=jax.nn.silu, key=key)
        )
        self.conditioners = eqx.filter_vmap(make)(jax.random.split(key, num_transforms))
        self.masks = jnp.array(
            [[dim > 1 and j % 2 == i % 2 for j in range(dim)] for i in range(num_transforms)]
        )

    def _layer(self, mlp, mask, context: Array) -> distrax.Bijector:
        shape = (self.dim, 3 * self.num_bins + 1)

        def conditioner(z):
            return mlp(jnp.concatenate([z, context])).reshape(shape)

        def bijector(params):
            return distrax.RationalQuadraticSpline(
                params, range_min=-self.tail_bound, range_max=self.tail_bound
            )

        return distrax.MaskedCoupling(mask=mask, conditioner=conditioner, bijector=bijector)

    def _scan(self, z, context, inverse: bool):
        params, static = eqx.partition(self.conditioners, eqx.is_array)

        def body(carry, layer):
            z, total = carry
            p, mask = layer
            bij = self._layer(eqx.combine(p, static), mask, context)
            z, log_det = bij.inverse_and_log_det(z) if inverse else bij.forward_and_log_det(z)
            return (z, total + log_det), None

        init = (z, jnp.zeros((), z.dtype))
        (z, total), _ = jax.lax.scan(body, init, (params, self.masks), reverse=inverse)
        return z, total

    def context(self, x: Float[Array, "..."]) -> Float[Array, " c"]:
        return embed(self.embedding, x)

    def log_prob_given_context(
        self, theta: Float[Array, " d"], context: Float[Array, " c"]
    ) -> Float[Array, ""]:
        loc, log_scale = jnp.split(self.affine(context), 2)
        z = (theta - loc) * jnp.exp(-log_scale)
        z, total = self._scan(z, context, inverse=False)
        return jax.scipy.stats.norm.logpdf(z).sum() + total - jnp.sum(log_scale)

    def log_prob(self, theta: Float[Array, " d"], x: Float[Array, "..."]) -> Float[Array, ""]:
        """``log q(theta | x)`` for one pair."""
        return self.log_prob_given_context(theta, self.context(x))

    def sample_given_context(
        self, key: PRNGKeyArray, context: Float[Array, " c"]
    ) -> Float[Array, " d"]:
        z = jax.random.normal(key, (self.dim,))
        z = self._scan(z, context, inverse=True)[0]
        loc, log_scale = jnp.split(self.affine(context), 2)
        return z * jnp.exp(log_scale) + loc
