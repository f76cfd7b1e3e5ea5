r"""A conditional neural spline flow written on Equinox with distrax bijectors.

Each of the ``num_transforms`` layers is a masked coupling (Dinh et al. 2017,
arXiv:1605.08803) whose transformed half goes through monotone rational-quadratic
splines (Durkan et al. 2019, arXiv:1906.04032) on $[-B, B]$ (linear outside).
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

    The parameters are split into the even and the odd positions, $A$ and $B$;
    coupling layer $k$ transforms $B$ given $(A, c)$ for even $k$ and $A$ given
    $(B, c)$ for odd $k$ (a one-dimensional $\\theta$ is transformed given $c$
    alone), so each spline acts only on the half it changes. The layers of each
    kind are stacked (one MLP with a leading layer axis) and run in pairs with
    ``lax.scan``, so a flow of any depth compiles like two layers.
    """

    even: eqx.nn.MLP
    odd: eqx.nn.MLP | None
    affine: eqx.nn.MLP
    embedding: eqx.Module
    dim: int = eqx.field(static=True)
    num_transforms: int = eqx.field(static=True)
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
        self.num_transforms = num_transforms
        self.embedding = Identity() if embedding is None else embedding
        n_a, n_b = self._halves()
        k_affine, k_even, k_odd = jax.random.split(key, 3)

        def maker(size_in, size_out):
            def make(k):
                mlp = eqx.nn.MLP(
                    size_in + context_dim,
                    size_out * (3 * num_bins + 1),
                    hidden_features,
                    depth,
                    activation=jax.nn.silu,
                    key=k,
                )
                return zero_last_layer(mlp)

            return make

        self.affine = zero_last_layer(
            eqx.nn.MLP(
                context_dim, 2 * dim, hidden_features, 1, activation=jax.nn.silu, key=k_affine
            )
        )
        num_even, num_odd = self._counts()
        self.even = eqx.filter_vmap(maker(n_a, n_b))(jax.random.split(k_even, num_even))
        self.odd = (
            eqx.filter_vmap(maker(n_b, n_a))(jax.random.split(k_odd, num_odd)) if num_odd else None
        )

    def _halves(self) -> tuple[int, int]:
        """Sizes of the even half $A$ and the odd half $B$ (``(0, 1)`` in one dimension)."""
        return (0, 1) if self.dim == 1 else ((self.dim + 1) // 2, self.dim // 2)

    def _counts(self) -> tuple[int, int]:
        """Number of layers transforming $B$ (even $k$) and $A$ (odd $k$)."""
        if self.dim == 1:
            return self.num_transforms, 0
        return (self.num_transforms + 1) // 2, self.num_transforms // 2

    def _to_halves(self, theta):
        # (A, B) = (even positions, odd positions)
        return theta if self.dim == 1 else jnp.concatenate([theta[0::2], theta[1::2]])

    def _from_halves(self, z):
        if self.dim == 1:
            return z
        n_a, _ = self._halves()
        return jnp.zeros_like(z).at[0::2].set(z[:n_a]).at[1::2].set(z[n_a:])

    def _spline(self, mlp, given, moved, context, inverse: bool):
        params = mlp(jnp.concatenate([given, context])).reshape(moved.shape[0], -1)
        spline = distrax.RationalQuadraticSpline(
            params, range_min=-self.tail_bound, range_max=self.tail_bound
        )
        out, log_det = (
            spline.inverse_and_log_det(moved) if inverse else spline.forward_and_log_det(moved)
        )
        return out, jnp.sum(log_det)

    def _couple(self, mlp, z, context, transform_b: bool, inverse: bool):
        n_a, _ = self._halves()
        a, b = z[:n_a], z[n_a:]
        if transform_b:
            b, log_det = self._spline(mlp, a, b, context, inverse)
        else:
            a, log_det = self._spline(mlp, b, a, context, inverse)
        return jnp.concatenate([a, b]), log_det

    def _scan(self, z, context, inverse: bool):
        """Layers ``0, 1, ..., K-1`` (``inverse``: ``K-1, ..., 0``) on ``z = (A, B)``."""
        even_params, even_static = eqx.partition(self.even, eqx.is_array)
        num_even, num_odd = self._counts()
        total = jnp.zeros((), z.dtype)
        if num_odd == 0:  # one dimension: every layer transforms theta given the context

            def body(carry, p):
                z, total = carry
                z, log_det = self._couple(eqx.combine(p, even_static), z, context, True, inverse)
                return (z, total + log_det), None

            (z, total), _ = jax.lax.scan(body, (z, total), even_params, reverse=inverse)
            return z, total
        odd_params, odd_static = eqx.partition(self.odd, eqx.is_array)
        take = lambda tree, i: jax.tree.map(lambda a: a[i], tree)
        paired = jax.tree.map(lambda a: a[:num_odd], even_params)
        last = take(even_params, num_even - 1) if num_even > num_odd else None

        def pair(carry, params):
            z, total = carry
            p_even, p_odd = params
            mlp_even, mlp_odd = eqx.combine(p_even, even_static), eqx.combine(p_odd, odd_static)
            if inverse:  # layer 2j + 1, then 2j
                z, ld_odd = self._couple(mlp_odd, z, context, False, True)
                z, ld_even = self._couple(mlp_even, z, context, True, True)
            else:
                z, ld_even = self._couple(mlp_even, z, context, True, False)
                z, ld_odd = self._couple(mlp_odd, z, context, False, False)
            return (z, total + ld_even + ld_odd), None

        if inverse and last is not None:
            z, total = self._couple(eqx.combine(last, even_static), z, context, True, True)
        (z, total), _ = jax.lax.scan(pair, (z, total), (paired, odd_params), reverse=inverse)
        if not inverse and last is not None:
            z, log_det = self._couple(eqx.combine(last, even_static), z, context, True, False)
            total = total + log_det
        return z, total

    def context(self, x: Float[Array, "..."]) -> Float[Array, " c"]:
        return embed(self.embedding, x)

    def log_prob_given_context(
        self, theta: Float[Array, " d"], context: Float[Array, " c"]
    ) -> Float[Array, ""]:
        loc, log_scale = jnp.split(self.affine(context), 2)
        z = self._to_halves((theta - loc) * jnp.exp(-log_scale))
        z, total = self._scan(z, context, inverse=False)
        return jax.scipy.stats.norm.logpdf(z).sum() + total - jnp.sum(log_scale)

    def log_prob(self, theta: Float[Array, " d"], x: Float[Array, "..."]) -> Float[Array, ""]:
        """``log q(theta | x)`` for one pair."""
        return self.log_prob_given_context(theta, self.context(x))

    def sample_given_context(
        self, key: PRNGKeyArray, context: Float[Array, " c"]
    ) -> Float[Array, " d"]:
        z = jax.random.normal(key, (self.dim,))
        z = self._from_halves(self._scan(z, context, inverse=True)[0])
        loc, log_scale = jnp.split(self.affine(context), 2)
        return z * jnp.exp(log_scale) + loc
