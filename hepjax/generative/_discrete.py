r"""Discrete flow matching for categorical tokens, and hybrid discrete-continuous flows.

**Mixture paths** (Gat et al. 2024, arXiv:2407.15595; Campbell et al. 2024,
arXiv:2402.04997). Each token $x^i \in \{0, \dots, K-1\}$ of an example
follows, independently given the data $x_1$,

.. math::
    p_t(x^i \mid x_1) = \kappa_t\,\delta_{x_1^i}(x^i) + (1 - \kappa_t)\,p_0(x^i),
    \qquad \kappa_t = t^{\,p},

with a *masked* source ($p_0 = \delta_{\text{[M]}}$, an extra token $K$) or a
*uniform* one ($p_0 = 1/K$). A denoiser predicts the posterior
$p_{1|t}(x_1^i \mid x_t)$ as logits over the $K$ classes and is trained by
cross-entropy (Gat et al. 2024, Eq. 25). The marginal generating velocity is

.. math::
    u_t(y, x) = \frac{\dot\kappa_t}{1 - \kappa_t}\big[p_{1|t}(y \mid x) - \delta_x(y)\big],

which the CTMC samplers integrate: **Euler**,
$P(x_{t+h} = y) = \delta_x(y) + h\,u_t(y, x)$ (resample from $p_{1|t}$ with
probability $h\dot\kappa/(1-\kappa)$), and **tau-leaping** with rates frozen
over the step, jump probability $1 - e^{-h r(x)}$ with
$r(x) = \sum_{y \ne x} u_t(y, x)$ and the destination drawn $\propto u_t(y, x)$.
Under the masked path a token that has been unmasked never changes (its
exact rate is zero). The final step to $t = 1$ samples $p_{1|t}$ directly.

**Hybrid flows** pair the tokens (types) of a set with continuous coordinates
on a manifold: one time $t$ drives a mixture path for the types and a
continuous path (``CondOT`` or ``GeodesicPath``) for the coordinates; the
model returns ``(logits, velocity)`` and the two losses add. Sampling steps
both parts jointly.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from .._core import check_choice, check_positive, check_positive_int
from ..manifolds import AbstractManifold
from ._checks import check_batch, check_cond, check_mask, make_args
from ._losses import check_on_manifold, masked_mean_norm, sample_path
from ._paths import AbstractPath, CondOT, GeodesicPath, resolve_path


class MixturePath(eqx.Module):
    r"""The factorised mixture path $p_t = \kappa_t\,\delta_{x_1} + (1-\kappa_t)\,p_0$.

    The schedule is $\kappa_t = t^p$.

    Attributes:
        num_classes: the number of real token classes $K$.
        source: ``"mask"`` (an absorbing mask token with index $K$) or ``"uniform"``.
        exponent: $p$ in $\kappa_t = t^p$.
    """

    num_classes: int
    source: str = "mask"
    exponent: float = 1.0

    def __check_init__(self):
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {self.num_classes!r}")
        check_choice("source", self.source, ("mask", "uniform"))
        check_positive("exponent", self.exponent)

    @property
    def mask_token(self) -> int:
        """Index of the mask token (``num_classes``); only used by ``source="mask"``."""
        return self.num_classes

    @property
    def vocab_size(self) -> int:
        """Number of token values a state can take (``K + 1`` with a mask token)."""
        return self.num_classes + (self.source == "mask")

    def kappa(self, t: Float[ArrayLike, ""]) -> Float[Array, ""]:
        r"""$\kappa_t = t^p$."""
        return jnp.asarray(t) ** self.exponent

    def rate_scale(self, t: Float[ArrayLike, ""]) -> Float[Array, ""]:
        r"""$\dot\kappa_t / (1 - \kappa_t)$."""
        t = jnp.asarray(t)
        k, dk = jax.jvp(self.kappa, (t,), (jnp.ones_like(t),))
        return dk / jnp.maximum(1.0 - k, jnp.finfo(k.dtype).tiny)

    def sample_source(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Int[Array, "..."]:
        """Tokens from $p_0$: all mask tokens, or uniform classes."""
        if self.source == "mask":
            return jnp.full(shape, self.mask_token, dtype=jnp.int32)
        return jax.random.randint(key, shape, 0, self.num_classes, dtype=jnp.int32)

    def sample(
        self, key: PRNGKeyArray, x1: Int[ArrayLike, "..."], t: Float[ArrayLike, ""]
    ) -> Int[Array, "..."]:
        """Draw $x_t \\sim p_t(\\cdot \\mid x_1)$ for one example.

        Args:
            key: PRNG key of the draw.
            x1: the data example: integer tokens in ``[0, num_classes)``, any shape.
            t: time in ``[0, 1]``; each token is ``x1``'s with probability $\\kappa(t)$, else noise.
        """
        x1 = jnp.asarray(x1, jnp.int32)
        k_keep, k_src = jax.random.split(key)
        keep = jax.random.uniform(k_keep, x1.shape) < self.kappa(t)
        return jnp.where(keep, x1, self.sample_source(k_src, x1.shape))


def _check_tokens(name, tokens, path: MixturePath, *, batched: bool):
    tokens = jnp.asarray(tokens)
    if not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {tokens.dtype}")
    want = 2 if batched else 1
    if tokens.ndim != want:
        shape = "(b, n)" if batched else "(n,)"
        raise ValueError(f"{name} must have shape {shape}, got {tokens.shape}")
    return tokens


def _call_logits(denoiser, t, xt, args, path: MixturePath):
    logits = jax.vmap(denoiser)(t, xt, args)
    want = (*xt.shape, path.num_classes)
    if np.shape(logits) != want:
        raise ValueError(
            f"the denoiser must return logits of shape (n, num_classes) = {want[1:]}, "
            f"got {np.shape(logits)[1:]}"
        )
    return logits


def _cross_entropy(logits, x1, mask):
    logp = jax.nn.log_softmax(logits, axis=-1)
    nll = -jnp.take_along_axis(logp, x1[..., None], axis=-1)[..., 0]
    return masked_mean_norm(nll, mask)


def discrete_flow_matching_loss(
    denoiser: Callable,
    tokens: Int[ArrayLike, "b n"],
    *,
    key: PRNGKeyArray,
    path: MixturePath,
    mask: Bool[ArrayLike, "..."] | None = None,
    cond: Any = None,
) -> Float[Array, ""]:
    r"""Cross-entropy discrete flow matching on a batch of token sequences or sets.

    $\mathcal L = -\frac{1}{N_\text{real}}\sum_{b,i\ \text{real}}
    \log p_{1|t}^\theta(x_1^i \mid x_t)$ with $t \sim \mathcal U(0, 1)$ and
    $x_t \sim p_t(\cdot \mid x_1)$ (Gat et al. 2024, arXiv:2407.15595).

    Args:
        denoiser: ``denoiser(t, x_t, args) -> logits (n, num_classes)`` on one example,
            where ``x_t`` holds ints in ``[0, path.vocab_size)``.
        tokens: data classes ``(b, n)``, ints in ``[0, num_classes)``.
        key: PRNG key.
        path: the :class:`MixturePath`.
        mask: ``(b, n)`` booleans; padded tokens contribute nothing.
        cond: per-example conditioning with leading axis ``b``.

    Returns:
        The mean cross-entropy per real token.
    """
    if not isinstance(path, MixturePath):
        raise TypeError(f"path must be a MixturePath, got {type(path).__name__}")
    tokens = _check_tokens("tokens", tokens, path, batched=True)
    mask = check_mask(mask, (*tokens.shape, 1), batched=True)
    cond = check_cond(cond, tokens.shape[0])
    b = tokens.shape[0]
    k_t, k_x = jax.random.split(key)
    t = jax.random.uniform(k_t, (b,))
    xt = jax.vmap(path.sample)(jax.random.split(k_x, b), tokens, t)
    logits = _call_logits(denoiser, t, xt, make_args(mask, cond), path)
    return _cross_entropy(logits, tokens, mask)


def _ctmc_step(key, x, logits, t, h, path: MixturePath, method: str, last):
    """One CTMC step of all tokens of one example (``x: (n,)``, ``logits: (n, K)``)."""
    k_y, k_u = jax.random.split(key)
    y = jax.random.categorical(k_y, logits, axis=-1).astype(x.dtype)
    probs = jax.nn.softmax(logits, axis=-1)
    lam = path.rate_scale(t)
    if method == "euler":
        p_jump = jnp.minimum(h * lam, 1.0)
        move = jax.random.uniform(k_u, x.shape) < p_jump
        new = jnp.where(move, y, x)
    else:  # tau-leaping with frozen rates: jump w.p. 1 - exp(-h r), destination ∝ rates
        stay = jnp.take_along_axis(probs, jnp.clip(x, 0, path.num_classes - 1)[:, None], -1)[:, 0]
        if path.source == "mask":
            stay = jnp.zeros_like(stay)
        stay = jnp.where(x == path.mask_token, 0.0, stay)
        rate = lam * (1.0 - stay)
        p_jump = -jnp.expm1(-h * rate)
        k_u, k_d = jax.random.split(k_u)
        others = jnp.where(jax.nn.one_hot(x, path.num_classes, dtype=bool), -jnp.inf, logits)
        dest = jax.random.categorical(k_d, others, axis=-1).astype(x.dtype)
        move = jax.random.uniform(k_u, x.shape) < p_jump
        new = jnp.where(move, dest, x)
    new = jnp.where(last, y, new)
    if path.source == "mask":  # unmasked tokens are frozen under the masked path
        new = jnp.where(x == path.mask_token, new, x)
    return new


_METHODS = ("euler", "tau_leaping")


def sample_ctmc(
    key: PRNGKeyArray,
    denoiser: Callable,
    x0: Int[ArrayLike, " n"],
    *,
    path: MixturePath,
    num_steps: int,
    method: str = "euler",
    mask: Bool[ArrayLike, " n"] | None = None,
    cond: Any = None,
    t0: float = 0.0,
) -> Int[Array, " n"]:
    r"""Simulate the discrete flow from ``x0`` at ``t0`` to $t = 1$ in ``num_steps`` equal steps.

    Args:
        key: PRNG key.
        denoiser: ``denoiser(t, x_t, args) -> logits (n, num_classes)`` on one example.
        x0: starting tokens ``(n,)``, e.g. ``path.sample_source(key, (n,))``.
        path: the :class:`MixturePath` the denoiser was trained on.
        num_steps: number of steps.
        method: ``"euler"`` or ``"tau_leaping"`` (see the module docs).
        mask: ``(n,)`` booleans; padded tokens are left unchanged.
        cond: conditioning passed as ``args["cond"]``.
        t0: the start time.

    Returns:
        Tokens ``(n,)`` in ``[0, num_classes)`` on the real positions.
    """
    check_choice("method", method, _METHODS)
    if not isinstance(path, MixturePath):
        raise TypeError(f"path must be a MixturePath, got {type(path).__name__}")
    num_steps = check_positive_int("num_steps", num_steps)
    x0 = _check_tokens("x0", x0, path, batched=False)
    mask = check_mask(mask, (*x0.shape, 1), batched=False)
    args = make_args(mask, cond)
    ts = jnp.linspace(t0, 1.0, num_steps + 1)

    def step(x, inputs):
        i, k = inputs
        t, h = ts[i], ts[i + 1] - ts[i]
        logits = denoiser(t, x, args)
        new = _ctmc_step(k, x, logits, t, h, path, method, i == num_steps - 1)
        if mask is not None:
            new = jnp.where(mask, new, x)
        return new, None

    keys = jax.random.split(key, num_steps)
    x, _ = jax.lax.scan(step, x0, (jnp.arange(num_steps), keys))
    return x


def hybrid_flow_matching_loss(
    model: Callable,
    tokens: Int[ArrayLike, "b n"],
    x1: Float[ArrayLike, "b n d"],
    *,
    key: PRNGKeyArray,
    discrete_path: MixturePath,
    path: AbstractPath | AbstractManifold | str = CondOT(),
    mask: Bool[ArrayLike, "..."] | None = None,
    cond: Any = None,
    weight: float = 1.0,
) -> Float[Array, ""]:
    r"""Joint loss of a hybrid flow on typed sets: types $\times$ continuous coordinates.

    One time $t \sim \mathcal U(0,1)$ per example drives both paths;
    $\mathcal L = \mathrm{CE}(p^\theta_{1|t}, x_1^{\text{type}})
    + w\,\| P v_\theta - u_t \|^2_g$, each averaged over the real elements.

    Args:
        model: ``model(t, (types_t, x_t), args) -> (logits (n, K), velocity (n, d))``.
        tokens: data types ``(b, n)``.
        x1: data coordinates ``(b, n, d)`` (points of ``path``'s manifold, if any).
        key: PRNG key.
        discrete_path: the :class:`MixturePath` of the types.
        path: the continuous path (``CondOT()``, ``GeodesicPath(M)``, a manifold or a name).
        mask: ``(b, n)`` booleans for padded sets.
        cond: per-example conditioning with leading axis ``b``.
        weight: $w$, the weight of the continuous term.

    Returns:
        The scalar loss.
    """
    path = resolve_path(path)
    if not isinstance(discrete_path, MixturePath):
        raise TypeError(f"discrete_path must be a MixturePath, got {type(discrete_path).__name__}")
    tokens = _check_tokens("tokens", tokens, discrete_path, batched=True)
    x1 = check_batch("x1", x1, 3)
    if x1.shape[:2] != tokens.shape:
        raise ValueError(f"x1 {x1.shape} and tokens {tokens.shape} must share the (b, n) axes")
    mask = check_mask(mask, x1.shape, batched=True)
    cond = check_cond(cond, x1.shape[0])
    if isinstance(path, GeodesicPath):
        x1 = check_on_manifold(path.manifold, x1, mask, "x1")
    k_c, k_d = jax.random.split(key)
    t, xt, ut = sample_path(path, x1, k_c, mask, 0.0, 1.0)
    types_t = jax.vmap(discrete_path.sample)(jax.random.split(k_d, x1.shape[0]), tokens, t)
    out = jax.vmap(model)(t, (types_t, xt), make_args(mask, cond))
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError("model must return a tuple (logits, velocity)")
    logits, v = out
    want = (*tokens.shape, discrete_path.num_classes)
    if np.shape(logits) != want or np.shape(v) != np.shape(xt):
        raise ValueError(
            f"model must return logits {want[1:]} and a velocity {np.shape(xt)[1:]}, "
            f"got {np.shape(logits)[1:]} and {np.shape(v)[1:]}"
        )
    v = jax.vmap(path.project)(xt, v)
    fm = masked_mean_norm(jax.vmap(path.sq_norm)(xt, v - ut), mask)
    return _cross_entropy(logits, tokens, mask) + weight * fm


def sample_hybrid(
    key: PRNGKeyArray,
    model: Callable,
    tokens0: Int[ArrayLike, " n"],
    x0: Float[ArrayLike, "n d"],
    *,
    discrete_path: MixturePath,
    num_steps: int,
    manifold: AbstractManifold | None = None,
    method: str = "euler",
    mask: Bool[ArrayLike, " n"] | None = None,
    cond: Any = None,
) -> tuple[Int[Array, " n"], Float[Array, "n d"]]:
    r"""Joint Euler stepping of a hybrid flow from $t = 0$ to $t = 1$.

    Each step evaluates ``model`` once at $(t, (\text{types}, x))$, moves the
    coordinates by $x \leftarrow \exp_x(h\,P_x v)$ (plain $x + h v$ in
    $\mathbb R^d$) and the types by one CTMC step (``method``, as in
    :func:`sample_ctmc`).

    Args:
        key: PRNG key.
        model: ``model(t, (types, x), args) -> (logits, velocity)``.
        tokens0: starting types ``(n,)``, e.g. ``discrete_path.sample_source``.
        x0: starting coordinates ``(n, d)`` from the continuous base.
        discrete_path: the :class:`MixturePath`.
        num_steps: number of joint steps.
        manifold: the manifold of the coordinates (``None``: $\mathbb R^d$).
        method: ``"euler"`` or ``"tau_leaping"`` for the types.
        mask: ``(n,)`` booleans; padded elements do not move.
        cond: conditioning passed as ``args["cond"]``.

    Returns:
        ``(types, x)`` at $t = 1$.
    """
    check_choice("method", method, _METHODS)
    num_steps = check_positive_int("num_steps", num_steps)
    tokens0 = _check_tokens("tokens0", tokens0, discrete_path, batched=False)
    x0 = jnp.asarray(x0)
    if x0.ndim != 2 or x0.shape[0] != tokens0.shape[0]:
        raise ValueError(f"x0 must have shape (n, d) with n = {tokens0.shape[0]}, got {x0.shape}")
    mask = check_mask(mask, x0.shape, batched=False)
    args = make_args(mask, cond)
    ts = jnp.linspace(0.0, 1.0, num_steps + 1)

    def step(carry, inputs):
        types, x = carry
        i, k = inputs
        t, h = ts[i], ts[i + 1] - ts[i]
        logits, v = model(t.astype(x.dtype), (types, x), args)
        if manifold is None:
            new_x = x + h * v
        else:
            new_x = jax.vmap(lambda p, u: manifold.expmap(p, h * manifold.proju(p, u)))(x, v)
        new_types = _ctmc_step(k, types, logits, t, h, discrete_path, method, i == num_steps - 1)
        if mask is not None:
            new_x = jnp.where(mask[:, None], new_x, x)
            new_types = jnp.where(mask, new_types, types)
        return (new_types, new_x.astype(x.dtype)), None

    keys = jax.random.split(key, num_steps)
    (types, x), _ = jax.lax.scan(step, (tokens0, x0), (jnp.arange(num_steps), keys))
    return types, x
