r"""Sharpness of a minimum: gradient-ascent curves and the top Hessian eigenvalues by Lanczos.

**Ascent curve** (Rothen et al., arXiv:2411.09296, sec. IV): from the trained
weights, take normalised gradient-ascent steps in weight space,

.. math::
    \theta_{t+1} = \theta_t + \delta\,\frac{g_t}{\|g_t\|},\qquad
    g_t = \nabla\mathcal{L}(\theta_t),\qquad t = 0 \dots T-1,

($\delta = 0.01$, $T = 50$) and record $\mathcal{L}(\theta_t)$: a flat minimum
gains little loss at distance $t\delta$, a sharp one much.

**Top Hessian eigenvalues** by the Lanczos method (Lanczos 1950; Golub and Van
Loan, *Matrix Computations*, sec. 10.1) on Hessian-vector products, never
forming the Hessian: with the forward-over-reverse product (Pearlmutter 1994)

.. math::
    H v = \frac{\partial}{\partial \varepsilon}
    \nabla\mathcal{L}(\theta + \varepsilon v)\Big|_{\varepsilon=0}
    \quad(\texttt{jax.jvp}\text{ of }\texttt{jax.grad}),

$m$ steps build an orthonormal basis $Q_m$ of the Krylov space
$\mathcal{K}_m(H, q_1)$ and the tridiagonal $T_m = Q_m^\top H Q_m$, whose
extreme eigenvalues (Ritz values) converge first to those of $H$. Every new
vector is re-orthogonalised against all earlier ones (twice, classical
Gram-Schmidt), which keeps $Q_m$ orthonormal in float32; when the Krylov space
is exhausted (an invariant subspace, e.g. a low-rank Hessian) the next vector
is a fresh random one orthogonal to $Q$ and $T$ decouples. With $m = n$ the
Ritz values are all the eigenvalues.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from .._core import KeyArray, check_positive_int
from ._attacks import check_radius


class AscentResult(eqx.Module):
    """The loss along normalised gradient ascent in weight space (:func:`ascent_curve`).

    Attributes:
        distances: the distance travelled $t\\delta$, ``(num_steps + 1,)``.
        losses: the loss at each point, ``losses[0]`` at the starting weights.
    """

    distances: Float[Array, " t"]
    losses: Float[Array, " t"]

    @property
    def increase(self) -> Float[Array, " t"]:
        """The loss gained along the path, ``losses - losses[0]``."""
        return self.losses - self.losses[0]

    @property
    def sharpness(self) -> Float[Array, ""]:
        """The loss gained at the end of the path."""
        return self.losses[-1] - self.losses[0]


def _split(params: Any):
    floats, rest = eqx.partition(params, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(floats)
    if flat.size == 0:
        raise ValueError("params must contain at least one floating-point array")
    return flat, lambda v: eqx.combine(unravel(v), rest)


def _scalar_loss(loss_fn: Callable, rebuild: Callable) -> Callable:
    def f(v):
        out = loss_fn(rebuild(v))
        if jnp.shape(out) != ():
            raise ValueError(f"loss_fn must return a scalar, got shape {jnp.shape(out)}")
        return out

    return f


def ascent_curve(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    step_size: float = 0.01,
    num_steps: int = 50,
) -> AscentResult:
    r"""The loss along ``num_steps`` normalised gradient-ascent steps in weight space.

    Args:
        loss_fn: ``loss_fn(params) -> scalar`` (close over the data batch).
        params: the weights, any pytree (an Equinox model: its floating arrays move).
        step_size: the length $\delta$ of each step (Rothen et al.: 0.01), ``>= 0``.
        num_steps: the number of steps $T$ (50).

    Returns:
        An :class:`AscentResult`; a zero gradient stops moving (no ``0/0``).
    """
    check_radius("step_size", step_size)
    check_positive_int("num_steps", num_steps)
    flat, rebuild = _split(params)
    f = _scalar_loss(loss_fn, rebuild)

    def body(v, _):
        loss, g = jax.value_and_grad(f)(v)
        norm = jnp.linalg.norm(g)
        direction = jnp.where(norm > 0, g / jnp.where(norm > 0, norm, 1.0), 0.0)
        return v + step_size * direction, loss

    end, losses = jax.lax.scan(body, flat, None, length=num_steps)
    losses = jnp.concatenate([losses, f(end)[None]])
    distances = step_size * jnp.arange(num_steps + 1, dtype=losses.dtype)
    return AscentResult(distances=distances, losses=losses)


def _lanczos(key: KeyArray, hvp: Callable, n: int, m: int, dtype) -> tuple[Array, Array]:
    """``m`` Lanczos steps with full reorthogonalisation: the diagonal and off-diagonal of T."""
    keys = jax.random.split(key, m + 1)
    q0 = jax.random.normal(keys[0], (n,), dtype)
    basis = jnp.zeros((m + 1, n), dtype).at[0].set(q0 / jnp.linalg.norm(q0))

    def orthogonalise(w, basis):
        for _ in range(2):
            w = w - basis.T @ (basis @ w)
        return w

    def body(j, carry):
        basis, alphas, betas, scale = carry
        q = basis[j]
        w = hvp(q)
        alpha = jnp.vdot(q, w)
        w = orthogonalise(w, basis)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.abs(alpha) + beta)
        broken = beta <= 1e-5 * scale
        fresh = orthogonalise(jax.random.normal(keys[j + 1], (n,), dtype), basis)
        fresh = fresh / jnp.maximum(jnp.linalg.norm(fresh), jnp.finfo(dtype).tiny)
        nxt = jnp.where(broken, fresh, w / jnp.where(broken, 1.0, beta))
        basis = basis.at[j + 1].set(nxt)
        alphas = alphas.at[j].set(alpha)
        betas = betas.at[j].set(jnp.where(broken, 0.0, beta))
        return basis, alphas, betas, scale

    init = (basis, jnp.zeros(m, dtype), jnp.zeros(m, dtype), jnp.zeros((), dtype))
    _, alphas, betas, _ = jax.lax.fori_loop(0, m, body, init)
    return alphas, betas[:-1]


def hessian_eigenvalues(
    key: KeyArray,
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    k: int = 5,
    *,
    num_iterations: int | None = None,
) -> Float[Array, " k"]:
    r"""The ``k`` largest eigenvalues of the Hessian of ``loss_fn`` at ``params``, descending.

    Lanczos with full reorthogonalisation on Hessian-vector products
    (``jax.jvp`` of ``jax.grad``); see the module notes.

    Args:
        key: PRNG key for the starting vector.
        loss_fn: ``loss_fn(params) -> scalar`` (close over the data).
        params: any pytree; its floating leaves are the variables (an Equinox
            model's weights), the rest is held fixed.
        k: how many eigenvalues, ``1 <= k <=`` the number of parameters.
        num_iterations: Lanczos steps $m$ (default ``min(n, max(4k, 64))``); with
            $m = n$ the result is exact up to rounding.

    Returns:
        The ``k`` largest Ritz values, in descending order.

    Raises:
        ValueError: ``k`` larger than the parameter count or than ``num_iterations``.
    """
    check_positive_int("k", k)
    check_positive_int("num_iterations", num_iterations, allow_none=True)
    flat, rebuild = _split(params)
    n = flat.size
    if k > n:
        raise ValueError(
            f"k={k} eigenvalues requested, but the Hessian is only {n} x {n} "
            f"(params has {n} parameters)"
        )
    m = min(n, max(4 * k, 64)) if num_iterations is None else min(n, num_iterations)
    if k > m:
        raise ValueError(f"k={k} must not exceed num_iterations={m}")
    grad = jax.grad(_scalar_loss(loss_fn, rebuild))

    def hvp(v):
        return jax.jvp(grad, (flat,), (v.astype(flat.dtype),))[1]

    alphas, betas = _lanczos(key, hvp, n, m, flat.dtype)
    ritz = jax.scipy.linalg.eigh_tridiagonal(alphas, betas, eigvals_only=True)
    return jnp.sort(ritz)[::-1][:k]


def _last_linear(model: Any) -> Any:
    nodes = [
        node
        for node in jax.tree.leaves(model, is_leaf=lambda x: isinstance(x, eqx.nn.Linear))
        if isinstance(node, eqx.nn.Linear)
    ]
    if not nodes:
        raise ValueError("model contains no eqx.nn.Linear layer; pass where= to choose the weights")
    return nodes[-1].weight


def subset_hessian_eigenvalues(
    key: KeyArray,
    loss_fn: Callable[[Any], jax.Array],
    model: Any,
    k: int = 5,
    *,
    where: Callable[[Any], Any] | None = None,
    num_iterations: int | None = None,
) -> Float[Array, " k"]:
    r"""Top Hessian eigenvalues with respect to part of a model's weights (the reduced Hessian).

    Args:
        key: PRNG key for the starting vector.
        loss_fn: ``loss_fn(model) -> scalar``.
        model: an Equinox model (any pytree).
        k: how many eigenvalues.
        where: ``where(model) -> node(s)`` selecting the weights, as in
            :func:`equinox.tree_at`; default the weight matrix of the last
            ``eqx.nn.Linear`` in the model (its output layer).
        num_iterations: Lanczos steps (see :func:`hessian_eigenvalues`).

    Returns:
        The ``k`` largest eigenvalues of $\partial^2\mathcal{L}/\partial w^2$, descending.
    """
    where = _last_linear if where is None else where
    part = where(model)

    def reduced(p):
        return loss_fn(eqx.tree_at(where, model, p))

    return hessian_eigenvalues(key, reduced, part, k, num_iterations=num_iterations)


def input_hessian_eigenvalues(
    key: KeyArray,
    loss_fn: Callable[[Any, Any, Any], jax.Array],
    model: Any,
    x: Any,
    y: Any,
    k: int = 5,
    *,
    num_iterations: int | None = None,
) -> Float[Array, " k"]:
    r"""Top eigenvalues of the input Hessian $\partial^2\mathcal{L}/\partial x^2$.

    Args:
        key: PRNG key for the starting vector.
        loss_fn: ``loss_fn(model, x, y) -> scalar`` (the attacks' signature).
        model: the model, held fixed.
        x: the inputs (array or pytree; its floating leaves are the variables).
        y: the targets.
        k: how many eigenvalues.
        num_iterations: Lanczos steps (see :func:`hessian_eigenvalues`).

    Returns:
        The ``k`` largest eigenvalues, descending.
    """
    return hessian_eigenvalues(
        key, lambda z: loss_fn(model, z, y), x, k, num_iterations=num_iterations
    )
