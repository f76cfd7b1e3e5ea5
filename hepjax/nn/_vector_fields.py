r"""Set models as flow-matching vector fields ``f(t, x, args)`` (diffrax's signature).

Each field acts on one padded set ``x: (n, d)`` at time ``t`` with
``args = {"mask": (n,) bool, "cond": (cond_dim,)}`` (both optional; without a
mask every element is real) and returns a velocity shaped like ``x`` that is
zero on padded rows. They plug directly into
:func:`hepjax.generative.flow_matching_loss` and
:func:`hepjax.generative.sample_ode`.

- :class:`EPiCVectorField`: the EPiC-FM field (Buhmann et al.,
  arXiv:2310.00049), an :class:`~hepjax.nn.EPiCNetwork` whose context is the
  sinusoidal time embedding concatenated with the conditioning (jet mass and
  $p_T$ in the paper), appended to every layer's input.
- :class:`TransformerVectorField`: a PC-JeDi-style field (Leigh et al.,
  arXiv:2303.05376), a masked pre-LN transformer encoder whose tokens receive
  an MLP embedding of time and conditioning.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_positive, check_positive_int, check_shape
from ._embeddings import SinusoidalEmbedding
from ._epic import EPiCNetwork
from ._layers import gelu, linear
from ._transformer import TransformerEncoder


def _unpack_args(args, x: Array, cond_dim: int) -> tuple[Array, Array]:
    """``(mask, cond)`` from a vector field's ``args``, checked against ``x`` and ``cond_dim``."""
    args = {} if args is None else args
    if not isinstance(args, dict):
        raise TypeError(f"args must be None or a dict with 'mask'/'cond', got {type(args)}")
    mask = args.get("mask")
    mask = jnp.ones(x.shape[:1], bool) if mask is None else mask
    check_shape("mask", mask, (x.shape[0],))
    cond = args.get("cond")
    if cond is None:
        if cond_dim:
            raise ValueError(f"args['cond'] of shape ({cond_dim},) is required, got none")
        cond = jnp.zeros((0,), x.dtype)
    else:
        check_shape("args['cond']", cond, (cond_dim,))
    return mask, jnp.asarray(cond, x.dtype)


def _time_context(embedding: SinusoidalEmbedding, t, cond: Array, dtype) -> Array:
    t = jnp.asarray(t, dtype)
    if t.ndim != 0:
        raise ValueError(f"t must be a scalar time (vmap for batches), got shape {t.shape}")
    return jnp.concatenate([embedding(t), cond])


class EPiCVectorField(eqx.Module):
    r"""The EPiC-FM vector field $v_\theta(t, x \mid c)$ on padded particle sets.

    The paper's configuration (arXiv:2310.00049) is the default:
    ``hidden_size=128, latent=10, num_layers=6``, with conditioning on the jet
    mass and $p_T$ (``cond_dim=2``).
    """

    network: EPiCNetwork
    time_embedding: SinusoidalEmbedding
    features: int = eqx.field(static=True)
    cond_dim: int = eqx.field(static=True)

    def __init__(
        self,
        features: int,
        *,
        cond_dim: int = 0,
        hidden_size: int = 128,
        latent: int = 10,
        num_layers: int = 6,
        time_dim: int = 12,
        key: PRNGKeyArray,
    ):
        """Build the field (PRNG ``key`` is keyword-only).

        Args:
            features: features per particle (3 for $(\\eta, \\phi, p_T)$ relative).
            cond_dim: size of the per-jet conditioning (0 for none).
            hidden_size: local width of the EPiC layers.
            latent: global latent width.
            num_layers: number of EPiC layers.
            time_dim: size of the sinusoidal time embedding (even).
            key: PRNG key for the initialisation (keyword-only).
        """
        check_positive_int("features", features)
        check_positive("cond_dim", cond_dim, allow_zero=True)
        self.time_embedding = SinusoidalEmbedding(time_dim)
        self.network = EPiCNetwork(
            features,
            features,
            hidden_size=hidden_size,
            latent=latent,
            num_layers=num_layers,
            context_dim=time_dim + cond_dim,
            key=key,
        )
        self.features, self.cond_dim = features, cond_dim

    def __call__(self, t: Float[ArrayLike, ""], x: Float[Array, "n d"], args=None) -> Array:
        """Velocity at time ``t`` of one set ``x``; zero on padded rows.

        Args:
            t: time in ``[0, 1]`` (a scalar).
            x: ``(n, d)`` the set at time ``t``, padded to ``n`` rows.
            args: ``None`` or a dict with an optional ``"mask"`` ``(n,)`` (true on the real rows;
                default all) and ``"cond"`` ``(cond_dim,)`` (required when the field is
                conditional).
        """
        mask, cond = _unpack_args(args, x, self.cond_dim)
        context = _time_context(self.time_embedding, t, cond, x.dtype)
        return self.network(x, mask, context)


class TransformerVectorField(eqx.Module):
    r"""A PC-JeDi-style transformer vector field on padded particle sets.

    $h_i = W_{in} x_i + \mathrm{MLP}([\gamma(t), c])$, then a masked pre-LN
    :class:`~hepjax.nn.TransformerEncoder`, then $v_i = W_{out} h_i$. Attention
    never looks at padding, so the field is permutation equivariant and its
    real rows are independent of the padded ones (Leigh et al.,
    arXiv:2303.05376).
    """

    embed: eqx.nn.Linear
    context_in: eqx.nn.Linear
    context_out: eqx.nn.Linear
    encoder: TransformerEncoder
    readout: eqx.nn.Linear
    time_embedding: SinusoidalEmbedding
    features: int = eqx.field(static=True)
    cond_dim: int = eqx.field(static=True)

    def __init__(
        self,
        features: int,
        *,
        cond_dim: int = 0,
        hidden_size: int = 64,
        num_heads: int = 4,
        num_layers: int = 3,
        time_dim: int = 16,
        key: PRNGKeyArray,
    ):
        """Build the field (PRNG ``key`` is keyword-only).

        Args:
            features: features per particle.
            cond_dim: size of the per-jet conditioning (0 for none).
            hidden_size: token width; must be divisible by ``num_heads``.
            num_heads: attention heads.
            num_layers: encoder layers.
            time_dim: size of the sinusoidal time embedding (even).
            key: PRNG key for the initialisation (keyword-only).
        """
        check_positive_int("features", features)
        check_positive("cond_dim", cond_dim, allow_zero=True)
        k1, k2, k3, k4, k5 = jax.random.split(key, 5)
        self.time_embedding = SinusoidalEmbedding(time_dim)
        self.embed = eqx.nn.Linear(features, hidden_size, key=k1)
        self.context_in = eqx.nn.Linear(time_dim + cond_dim, hidden_size, key=k2)
        self.context_out = eqx.nn.Linear(hidden_size, hidden_size, key=k3)
        self.encoder = TransformerEncoder(hidden_size, num_heads, num_layers, key=k4)
        self.readout = eqx.nn.Linear(hidden_size, features, key=k5)
        self.features, self.cond_dim = features, cond_dim

    def __call__(self, t: Float[ArrayLike, ""], x: Float[Array, "n d"], args=None) -> Array:
        """Velocity at time ``t`` of one set ``x``; zero on padded rows.

        Args:
            t: time in ``[0, 1]`` (a scalar).
            x: ``(n, d)`` the set at time ``t``, padded to ``n`` rows.
            args: ``None`` or a dict with an optional ``"mask"`` ``(n,)`` (true on the real rows;
                default all) and ``"cond"`` ``(cond_dim,)`` (required when the field is
                conditional).
        """
        check_shape("x", x, (None, self.features))
        mask, cond = _unpack_args(args, x, self.cond_dim)
        context = _time_context(self.time_embedding, t, cond, x.dtype)
        context = self.context_out(gelu(self.context_in(context)))
        h = self.encoder(linear(self.embed, x) + context, mask)
        return jnp.where(mask[:, None], linear(self.readout, h), 0.0)
