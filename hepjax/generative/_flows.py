r"""A conditional neural spline flow on Equinox with distrax's spline bijector.

:class:`ConditionalSplineFlow` is a density $q(y \mid c)$ on vectors
$y \in \mathbb{R}^D$ given a context vector $c$ (conditioning data, or its
embedding by a network trained jointly). With the map $f = f_K \circ \dots
\circ f_1 \circ a$ from data to a standard-normal base variable $z = f(y)$,

.. math::
    \log q(y \mid c) = \log \mathcal N\big(f(y); 0, I\big)
    + \log\left|\det \frac{\partial a}{\partial y}\right|
    + \sum_{k=1}^{K} \log\left|\det \frac{\partial f_k}{\partial u_{k-1}}\right|.

- $a(y) = (y - \mu(c)) \odot e^{-s(c)}$ is a conditional elementwise affine
  map, so that a density whose location and width move with $c$ (the common
  case) does not have to be carried by the splines alone; its log-determinant
  is $-\sum_j s_j(c)$.
- Each $f_k$ is a coupling layer (Dinh et al. 2017, arXiv:1605.08803): the
  coordinates are split into the even and the odd positions, $A$ and $B$;
  layer $k$ transforms $B$ given $(A, c)$ for even $k$ and $A$ given $(B, c)$
  for odd $k$ (a one-dimensional $y$ is transformed given $c$ alone). Every
  transformed coordinate goes through its own monotone rational-quadratic
  spline (Durkan, Bekasov, Murray & Papamakarios 2019, "Neural spline flows",
  arXiv:1906.04032) with ``num_bins`` bins on $[-B, B]$ and the identity
  outside: $3K_b - 1$ numbers per coordinate give the bin widths, heights
  and the $K_b - 1$ interior knot derivatives; the derivatives at $\pm B$
  are 1, so the density is continuous where the spline meets the linear
  tails, as in the paper. The determinant of a coupling layer is the product
  of the spline derivatives, since the Jacobian is triangular.

The spline maths is :class:`distrax.RationalQuadraticSpline`
(``boundary_slopes="identity"``); the conditioners are ``eqx.nn.MLP``. The
last layer of every conditioner starts at zero, so a new flow is the
identity map: a standard normal on $y$. The layers of each kind are stacked
(one MLP with a leading layer axis) and run in pairs with ``lax.scan``, so a
flow of any depth compiles like two layers.
"""

import distrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_positive, check_positive_int, check_shape


def _zero_last_layer(mlp: eqx.nn.MLP) -> eqx.nn.MLP:
    last = mlp.layers[-1]
    mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, jnp.zeros_like(last.weight))
    return eqx.tree_at(lambda m: m.layers[-1].bias, mlp, jnp.zeros_like(last.bias))


class ConditionalSplineFlow(eqx.Module):
    r"""A density $q(y \mid c)$ on ``(dim,)`` vectors given a ``(context_size,)`` context.

    Acts on one example: ``log_prob(y, context)``, ``sample(key, context)``;
    batch with ``jax.vmap``. Train it by maximum likelihood,
    ``-jnp.mean(jax.vmap(flow.log_prob)(y, c))``; standardise $y$ first (the
    splines act on $[-B, B]$).

    Args:
        dim: $D$, the size of $y$.
        context_size: the size of $c$.
        hidden_size: width of the conditioner MLPs.
        num_transforms: $K$, the number of spline coupling layers.
        num_layers: hidden layers of each conditioner MLP.
        num_bins: spline bins per coordinate.
        tail_bound: $B$; the splines act on $[-B, B]$ (identity outside).
        key: PRNG key (keyword-only).

    Example:
        ```python
        import jax, jax.numpy as jnp
        from hepjax.generative import ConditionalSplineFlow

        flow = ConditionalSplineFlow(2, 3, key=jax.random.key(0))
        c = jnp.ones(3)
        y = flow.sample(jax.random.key(1), c)  # (2,)
        flow.log_prob(y, c)  # a scalar
        ```
    """

    even: eqx.nn.MLP
    odd: eqx.nn.MLP | None
    affine: eqx.nn.MLP
    dim: int = eqx.field(static=True)
    context_size: int = eqx.field(static=True)
    num_transforms: int = eqx.field(static=True)
    num_bins: int = eqx.field(static=True)
    tail_bound: float = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        context_size: int,
        *,
        hidden_size: int = 64,
        num_transforms: int = 5,
        num_layers: int = 2,
        num_bins: int = 8,
        tail_bound: float = 5.0,
        key: PRNGKeyArray,
    ):
        self.dim = check_positive_int("dim", dim)
        self.context_size = check_positive_int("context_size", context_size)
        self.num_transforms = check_positive_int("num_transforms", num_transforms)
        self.num_bins = check_positive_int("num_bins", num_bins)
        hidden_size = check_positive_int("hidden_size", hidden_size)
        num_layers = check_positive_int("num_layers", num_layers)
        check_positive("tail_bound", tail_bound)
        self.tail_bound = float(tail_bound)
        n_a, n_b = self._halves()
        k_affine, k_even, k_odd = jax.random.split(key, 3)

        def maker(size_in, size_out):
            def make(k):
                mlp = eqx.nn.MLP(
                    size_in + context_size,
                    size_out * (3 * num_bins - 1),
                    hidden_size,
                    num_layers,
                    activation=jax.nn.silu,
                    key=k,
                )
                return _zero_last_layer(mlp)

            return make

        self.affine = _zero_last_layer(
            eqx.nn.MLP(context_size, 2 * dim, hidden_size, 1, activation=jax.nn.silu, key=k_affine)
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

    def _to_halves(self, y):
        # (A, B) = (even positions, odd positions)
        return y if self.dim == 1 else jnp.concatenate([y[0::2], y[1::2]])

    def _from_halves(self, u):
        if self.dim == 1:
            return u
        n_a, _ = self._halves()
        return jnp.zeros_like(u).at[0::2].set(u[:n_a]).at[1::2].set(u[n_a:])

    def _spline(self, mlp, given, moved, context, inverse: bool):
        mlp_out = mlp(jnp.concatenate([given, context])).reshape(moved.shape[0], -1)
        # distrax takes 3 * num_bins + 1 numbers per coordinate: widths, heights and the
        # num_bins + 1 knot derivatives, of which boundary_slopes="identity" replaces the
        # first and the last by 1 (the placeholders here)
        k = 2 * self.num_bins
        edge = jnp.zeros((mlp_out.shape[0], 1), mlp_out.dtype)
        params = jnp.concatenate([mlp_out[:, :k], edge, mlp_out[:, k:], edge], axis=1)
        spline = distrax.RationalQuadraticSpline(
            params,
            range_min=-self.tail_bound,
            range_max=self.tail_bound,
            boundary_slopes="identity",
        )
        out, log_det = (
            spline.inverse_and_log_det(moved) if inverse else spline.forward_and_log_det(moved)
        )
        return out, jnp.sum(log_det)

    def _couple(self, mlp, u, context, transform_b: bool, inverse: bool):
        n_a, _ = self._halves()
        a, b = u[:n_a], u[n_a:]
        if transform_b:
            b, log_det = self._spline(mlp, a, b, context, inverse)
        else:
            a, log_det = self._spline(mlp, b, a, context, inverse)
        return jnp.concatenate([a, b]), log_det

    def _scan(self, u, context, inverse: bool):
        """Layers ``0, 1, ..., K-1`` (``inverse``: ``K-1, ..., 0``) on ``u = (A, B)``.

        Returns the result and $\\sum_k \\log|\\det \\partial f_k|$ of the layers
        in the direction they were run.
        """
        even_params, even_static = eqx.partition(self.even, eqx.is_array)
        num_even, num_odd = self._counts()
        total = jnp.zeros((), u.dtype)
        if num_odd == 0:  # one dimension: every layer transforms y given the context

            def body(carry, p):
                u, total = carry
                u, log_det = self._couple(eqx.combine(p, even_static), u, context, True, inverse)
                return (u, total + log_det), None

            (u, total), _ = jax.lax.scan(body, (u, total), even_params, reverse=inverse)
            return u, total
        odd_params, odd_static = eqx.partition(self.odd, eqx.is_array)
        take = lambda tree, i: jax.tree.map(lambda a: a[i], tree)
        paired = jax.tree.map(lambda a: a[:num_odd], even_params)
        last = take(even_params, num_even - 1) if num_even > num_odd else None

        def pair(carry, params):
            u, total = carry
            p_even, p_odd = params
            mlp_even, mlp_odd = eqx.combine(p_even, even_static), eqx.combine(p_odd, odd_static)
            if inverse:  # layer 2j + 1, then 2j
                u, ld_odd = self._couple(mlp_odd, u, context, False, True)
                u, ld_even = self._couple(mlp_even, u, context, True, True)
            else:
                u, ld_even = self._couple(mlp_even, u, context, True, False)
                u, ld_odd = self._couple(mlp_odd, u, context, False, False)
            return (u, total + ld_even + ld_odd), None

        if inverse and last is not None:
            u, total = self._couple(eqx.combine(last, even_static), u, context, True, True)
        (u, total), _ = jax.lax.scan(pair, (u, total), (paired, odd_params), reverse=inverse)
        if not inverse and last is not None:
            u, log_det = self._couple(eqx.combine(last, even_static), u, context, True, False)
            total = total + log_det
        return u, total

    def _check(self, name: str, y, context) -> tuple[Array, Array]:
        check_shape(name, y, (self.dim,))
        check_shape("context", context, (self.context_size,))
        return jnp.asarray(y), jnp.asarray(context)

    def inverse_and_log_det(
        self, y: Float[ArrayLike, " dim"], context: Float[ArrayLike, " c"]
    ) -> tuple[Float[Array, " dim"], Float[Array, ""]]:
        r"""The base point $z = f(y)$ and $\log|\det \partial f / \partial y|$."""
        y, context = self._check("y", y, context)
        loc, log_scale = jnp.split(self.affine(context), 2)
        u = self._to_halves((y - loc) * jnp.exp(-log_scale))
        u, total = self._scan(u, context, inverse=False)
        return self._from_halves(u), total - jnp.sum(log_scale)

    def transform_and_log_det(
        self, z: Float[ArrayLike, " dim"], context: Float[ArrayLike, " c"]
    ) -> tuple[Float[Array, " dim"], Float[Array, ""]]:
        r"""The data point $y = f^{-1}(z)$ and $\log|\det \partial f^{-1} / \partial z|$."""
        z, context = self._check("z", z, context)
        u, total = self._scan(self._to_halves(z), context, inverse=True)
        loc, log_scale = jnp.split(self.affine(context), 2)
        return self._from_halves(u) * jnp.exp(log_scale) + loc, total + jnp.sum(log_scale)

    def log_prob(
        self, y: Float[ArrayLike, " dim"], context: Float[ArrayLike, " c"]
    ) -> Float[Array, ""]:
        r"""$\log q(y \mid c)$ for one pair."""
        z, log_det = self.inverse_and_log_det(y, context)
        return jax.scipy.stats.norm.logpdf(z).sum() + log_det

    def sample(self, key: PRNGKeyArray, context: Float[ArrayLike, " c"]) -> Float[Array, " dim"]:
        r"""One draw $y \sim q(\cdot \mid c)$."""
        context = jnp.asarray(context)
        z = jax.random.normal(key, (self.dim,), jnp.result_type(context.dtype, jnp.float32))
        return self.transform_and_log_det(z, context)[0]
