r"""EPiC layers and the EPiC network: equivariant point-cloud layers with a global latent.

Buhmann, Kasieczka and Thaler, "EPiC-GAN" (arXiv:2301.08128), used as the
vector field of EPiC-FM (Buhmann et al., arXiv:2310.00049). A set of local
features $x_i \in \mathbb{R}^h$ (real where $m_i$) exchanges information only
through a small global vector $g \in \mathbb{R}^\ell$. With the context
$c$ (time embedding and conditioning, the same for every element) and
$\sigma$ the leaky ReLU, one EPiC layer is

$$
\begin{aligned}
p &= \Big[\tfrac{1}{|m|}\textstyle\sum_{i: m_i} x_i,\;
        s \textstyle\sum_{i: m_i} x_i,\; g\Big], \\
g' &= \sigma\big(W_{g2}[\sigma(W_{g1}[p, c]), c] + g\big), \\
x_i' &= \sigma\big(W_{l2}[\sigma(W_{l1}[x_i, g', c]), c] + x_i\big),
\end{aligned}
$$

mean and scaled sum pooling ($s$ = ``sum_scale``, 0.01 in the paper) with
residual connections on both branches. Every operation on $x_i$ is the same
for all elements and the pooling sums over real elements only, so the layer
is permutation equivariant and its real rows do not depend on the padding.
The cost is linear in the number of particles, unlike attention.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._core import check_positive, check_positive_int, check_shape
from ._attention import check_set_inputs


def leaky_relu(x: Array) -> Array:
    """Leaky ReLU with slope 0.01, PyTorch's default ``F.leaky_relu``."""
    return jax.nn.leaky_relu(x, negative_slope=0.01)


def _pool(x: Float[Array, "n h"], mask: Bool[Array, " n"], sum_scale: float) -> Array:
    """``[mean, sum_scale * sum]`` over the real rows; an empty set pools to zeros."""
    total = jnp.sum(jnp.where(mask[:, None], x, 0.0), axis=0)
    count = jnp.maximum(jnp.sum(mask), 1).astype(total.dtype)
    return jnp.concatenate([total / count, sum_scale * total])


def _with_context(x: Array, context: Array) -> Array:
    """Append the context vector to one vector (the global branch)."""
    return x if context.shape[-1] == 0 else jnp.concatenate([x, context])


def _rows_with(layer: eqx.nn.Linear, x: Float[Array, "n i"], *shared: Array) -> Array:
    r"""``layer`` on every row of ``[x_i, s]`` with ``s`` the same vector for all rows.

    $W [x_i, s] + b = W_x x_i + (W_s s + b)$: the shared part is one
    matrix-vector product per set, so the concatenated ``(n, i + |s|)`` array
    is never built. The parameters are those of the plain concatenation.
    """
    s = jnp.concatenate(shared) if shared else jnp.zeros((0,), x.dtype)
    i = x.shape[-1]
    y = x @ layer.weight[:, :i].T + layer.weight[:, i:] @ s
    return y if layer.bias is None else y + layer.bias


def _check_context(context: Array | None, context_dim: int, dtype) -> Array:
    if context is None:
        if context_dim:
            raise ValueError(f"context of shape ({context_dim},) is required, got None")
        return jnp.zeros((0,), dtype)
    check_shape("context", context, (context_dim,))
    return jnp.asarray(context, dtype)


class EPiCLayer(eqx.Module):
    """One EPiC layer: update the global latent from pooled locals, then every local.

    Acts on one padded set ``x: (n, hidden_size)`` with ``mask: (n,)``, its global
    vector ``g: (latent,)`` and a context ``(context_dim,)``; see the module
    docstring for the equations.
    """

    global_in: eqx.nn.Linear
    global_out: eqx.nn.Linear
    local_in: eqx.nn.Linear
    local_out: eqx.nn.Linear
    hidden_size: int = eqx.field(static=True)
    latent: int = eqx.field(static=True)
    context_dim: int = eqx.field(static=True)
    sum_scale: float = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        hidden_size: int,
        latent: int,
        *,
        context_dim: int = 0,
        sum_scale: float = 1e-2,
        activation: Callable[[Array], Array] = leaky_relu,
        key: PRNGKeyArray,
    ):
        """Build the layer (PRNG ``key`` is keyword-only).

        Args:
            hidden_size: width $h$ of the local features.
            latent: width $\\ell$ of the global vector.
            context_dim: size of the context appended to every linear layer's
                input (time embedding plus conditioning); 0 for none.
            sum_scale: $s$, the factor on the sum pooling.
            activation: the nonlinearity $\\sigma$.
            key: PRNG key for the initialisation (keyword-only).
        """
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("latent", latent)
        check_positive("context_dim", context_dim, allow_zero=True)
        check_positive("sum_scale", sum_scale, allow_zero=True)
        k1, k2, k3, k4 = jax.random.split(key, 4)
        c = context_dim
        self.global_in = eqx.nn.Linear(2 * hidden_size + latent + c, hidden_size, key=k1)
        self.global_out = eqx.nn.Linear(hidden_size + c, latent, key=k2)
        self.local_in = eqx.nn.Linear(hidden_size + latent + c, hidden_size, key=k3)
        self.local_out = eqx.nn.Linear(hidden_size + c, hidden_size, key=k4)
        self.hidden_size, self.latent, self.context_dim = hidden_size, latent, context_dim
        self.sum_scale = float(sum_scale)
        self.activation = activation

    def __call__(
        self,
        x: Float[Array, "n hidden_size"],
        g: Float[Array, " latent"],
        mask: Bool[Array, " n"],
        context: Float[Array, " c"] | None = None,
    ) -> tuple[Float[Array, "n hidden_size"], Float[Array, " latent"]]:
        """Return the updated ``(x, g)``.

        Args:
            x: ``(n, hidden_size)`` per-element (local) features.
            g: ``(latent,)`` global features of the set.
            mask: ``(n,)`` true on the real elements; padded rows do not enter the pooling.
            context: optional ``(c,)`` conditioning vector (e.g. jet-level features or time).
        """
        check_set_inputs(x, mask, self.hidden_size)
        check_shape("g", g, (self.latent,))
        context = _check_context(context, self.context_dim, x.dtype)
        act = self.activation
        p = jnp.concatenate([_pool(x, mask, self.sum_scale), g])
        h = act(self.global_in(_with_context(p, context)))
        g = act(self.global_out(_with_context(h, context)) + g)
        h = act(_rows_with(self.local_in, x, g, context))
        x = act(_rows_with(self.local_out, h, context) + x)
        return x, g


class EPiCNetwork(eqx.Module):
    r"""The EPiC network: a set-to-set map built from :class:`EPiCLayer` s.

    Embedding (two local layers, the second residual), mean/sum pooling into
    the global latent (two layers), ``num_layers`` EPiC layers, and a linear
    read-out per element. This is the generator and vector field of EPiC-GAN
    and EPiC-FM (arXiv:2301.08128, 2310.00049); the paper's configuration is
    ``hidden_size=128, latent=10, num_layers=6``. Padded output rows are zero.
    """

    embed_in: eqx.nn.Linear
    embed_out: eqx.nn.Linear
    global_in: eqx.nn.Linear
    global_out: eqx.nn.Linear
    layers: tuple[EPiCLayer, ...]
    readout: eqx.nn.Linear
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    context_dim: int = eqx.field(static=True)
    sum_scale: float = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        hidden_size: int = 128,
        latent: int = 10,
        num_layers: int = 6,
        context_dim: int = 0,
        sum_scale: float = 1e-2,
        activation: Callable[[Array], Array] = leaky_relu,
        key: PRNGKeyArray,
    ):
        """Build the network (PRNG ``key`` is keyword-only).

        Args:
            in_features: features per input element.
            out_features: features per output element.
            hidden_size: local width $h$.
            latent: global width $\\ell$.
            num_layers: number of EPiC layers.
            context_dim: size of the per-set context (0 for none).
            sum_scale: factor on the sum pooling.
            activation: the nonlinearity.
            key: PRNG key for the initialisation (keyword-only).
        """
        for name, value in [("in_features", in_features), ("out_features", out_features)]:
            check_positive_int(name, value)
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("latent", latent)
        check_positive_int("num_layers", num_layers)
        check_positive("context_dim", context_dim, allow_zero=True)
        keys = jax.random.split(key, num_layers + 5)
        c = context_dim
        self.embed_in = eqx.nn.Linear(in_features + c, hidden_size, key=keys[0])
        self.embed_out = eqx.nn.Linear(hidden_size + c, hidden_size, key=keys[1])
        self.global_in = eqx.nn.Linear(2 * hidden_size + c, hidden_size, key=keys[2])
        self.global_out = eqx.nn.Linear(hidden_size + c, latent, key=keys[3])
        self.readout = eqx.nn.Linear(hidden_size + c, out_features, key=keys[4])
        self.layers = tuple(
            EPiCLayer(
                hidden_size,
                latent,
                context_dim=c,
                sum_scale=sum_scale,
                activation=activation,
                key=k,
            )
            for k in keys[5:]
        )
        self.in_features, self.out_features = in_features, out_features
        self.context_dim = context_dim
        self.sum_scale = float(sum_scale)
        self.activation = activation

    def __check_init__(self):
        if not self.layers:
            raise ValueError("EPiCNetwork needs at least one EPiC layer")

    def __call__(
        self,
        x: Float[Array, "n d_in"],
        mask: Bool[Array, " n"],
        context: Float[Array, " c"] | None = None,
    ) -> Float[Array, "n d_out"]:
        """Map one padded set to per-element outputs; padded rows are zero.

        Args:
            x: ``(n, d_in)`` per-element inputs, padded to ``n`` rows.
            mask: ``(n,)`` true on the real elements.
            context: optional ``(c,)`` conditioning vector, given to every layer.
        """
        check_set_inputs(x, mask, self.in_features)
        context = _check_context(context, self.context_dim, x.dtype)
        act = self.activation
        h = act(_rows_with(self.embed_in, x, context))
        h = act(_rows_with(self.embed_out, h, context) + h)
        g = act(self.global_in(_with_context(_pool(h, mask, self.sum_scale), context)))
        g = act(self.global_out(_with_context(g, context)))
        for layer in self.layers:
            h, g = layer(h, g, mask, context)
        out = _rows_with(self.readout, h, context)
        return jnp.where(mask[:, None], out, 0.0)
