r"""ODE sampling of flows with diffrax.

The flow $\dot x = v(t, x)$ is integrated from $t_0$ to $t_1$ with any
diffrax solver (the solver is the strategy argument): ``diffrax.Euler()``
(order 1), ``diffrax.Midpoint()`` and ``diffrax.Heun()`` (order 2),
``diffrax.Dopri5()`` (order 5, adaptive), or a name from :data:`SOLVERS`.
Fixed-step solvers need ``num_steps``; without it an adaptive solver runs with
a PID step-size controller at ``rtol``/``atol``.

On a manifold the field is evaluated at $\operatorname{proj}(x)$ and projected
onto its tangent space, $\tilde v(t, x) = P_{\pi(x)}\,v(t, \pi(x))$; the
ambient ODE then keeps $x$ on the manifold up to the solver's error, and the
result is projected at the end. For angles (``FlatTorus``) the integration runs
in the covering space $\mathbb R^n$ and is wrapped once at the end. On padded
sets the velocity of padded elements is zeroed, so they never move.
"""

from collections.abc import Callable
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._core import check_positive, check_positive_int
from ..manifolds import AbstractManifold
from ._checks import check_mask, make_args

SOLVERS = {
    "euler": diffrax.Euler,
    "midpoint": diffrax.Midpoint,
    "heun": diffrax.Heun,
    "ralston": diffrax.Ralston,
    "bosh3": diffrax.Bosh3,
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
}
"""Solver names accepted wherever a diffrax solver is."""


def resolve_solver(solver) -> diffrax.AbstractSolver:
    """A diffrax solver from a solver object or one of the names in :data:`SOLVERS`."""
    if isinstance(solver, str):
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
        return SOLVERS[solver]()
    if not isinstance(solver, diffrax.AbstractSolver):
        raise TypeError(
            f"solver must be a diffrax solver (e.g. diffrax.Heun()) or a name in "
            f"{sorted(SOLVERS)}, got {type(solver).__name__}"
        )
    return solver


def _rows(fn, x):
    return fn(x) if x.ndim == 1 else jax.vmap(fn)(x)


def _rows2(fn, x, v):
    return fn(x, v) if x.ndim == 1 else jax.vmap(fn)(x, v)


def safe_padding(manifold: AbstractManifold, x: Array, mask) -> Array:
    """Replace padded rows by a fixed point of ``manifold`` so projections stay finite."""
    if mask is None:
        return x
    safe = manifold.projx(jnp.ones(manifold.ambient_dim, x.dtype))
    return jnp.where(mask[:, None], x, safe)


def wrap_field(
    vector_field: Callable, manifold: AbstractManifold | None, mask
) -> Callable[[Array, Array, object], Array]:
    """The field actually integrated: projected on a manifold, zero on padding."""

    def field(t, x, args):
        if manifold is not None:
            # padded rows may hold anything (zeros are not on a sphere): give the
            # projection a valid point there so no NaN reaches values or derivatives
            x = safe_padding(manifold, x, mask)
        y = x if manifold is None else _rows(manifold.projx, x)
        v = vector_field(t, y, args)
        if np.shape(v) != np.shape(x):
            raise ValueError(
                f"vector_field must return an array shaped like x {np.shape(x)}, got {np.shape(v)}"
            )
        if manifold is not None:
            v = _rows2(manifold.proju, y, v)
        if mask is not None:
            v = jnp.where(mask[:, None], v, 0.0)
        return v

    return field


def check_point_shape(x, manifold, mask, name="x0"):
    x = jnp.asarray(x)
    if manifold is not None and (x.ndim not in (1, 2) or x.shape[-1] != manifold.ambient_dim):
        raise ValueError(
            f"{name} must be a point ({manifold.ambient_dim},) or a set "
            f"(n, {manifold.ambient_dim}) of {manifold!r}, got shape {x.shape}"
        )
    if mask is not None:
        if x.ndim != 2:
            raise ValueError(
                f"mask was given, so {name} must be a padded set (n, d), got {x.shape}"
            )
        mask = check_mask(mask, x.shape, batched=False)
    return x, mask


def integrate(
    field: Callable,
    y0,
    args,
    *,
    t0: float,
    t1: float,
    solver,
    num_steps: int | None,
    rtol: float,
    atol: float,
    max_steps: int,
):
    """``diffeqsolve`` with a fixed number of steps, or adaptively when ``num_steps`` is None."""
    solver = resolve_solver(solver)
    if num_steps is not None:
        num_steps = check_positive_int("num_steps", num_steps)
        controller = diffrax.ConstantStepSize()
        dt0 = (t1 - t0) / num_steps
        max_steps = num_steps
    else:
        if not isinstance(solver, diffrax.AbstractAdaptiveSolver):
            raise ValueError(
                f"{type(solver).__name__} has a fixed step: pass num_steps, or use an "
                "adaptive solver such as diffrax.Dopri5()"
            )
        check_positive("rtol", rtol)
        check_positive("atol", atol)
        controller = diffrax.PIDController(rtol=rtol, atol=atol)
        dt0 = None
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        solver,
        t0=t0,
        t1=t1,
        dt0=dt0,
        y0=y0,
        args=args,
        stepsize_controller=controller,
        max_steps=max_steps,
        saveat=diffrax.SaveAt(t1=True),
    )
    return jax.tree.map(lambda a: a[-1], sol.ys)


def sample_ode(
    vector_field: Callable,
    x0: Float[ArrayLike, "..."],
    *,
    solver: diffrax.AbstractSolver | str = "heun",
    num_steps: int | None = None,
    t0: float = 0.0,
    t1: float = 1.0,
    manifold: AbstractManifold | None = None,
    mask: Bool[ArrayLike, " n"] | None = None,
    cond: Any = None,
    args: Any = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    max_steps: int = 4096,
) -> Float[Array, "..."]:
    r"""Push one sample ``x0`` through the flow $\dot x = v(t, x)$ from ``t0`` to ``t1``.

    Args:
        vector_field: ``vector_field(t, x, args)`` on one example (diffrax's signature).
        x0: the starting point ``(d,)`` or padded set ``(n, d)``; batch with ``jax.vmap``.
        solver: a diffrax solver, e.g. ``diffrax.Midpoint()``, or a name in :data:`SOLVERS`.
        num_steps: fixed number of equal steps; ``None`` for adaptive stepping.
        t0: start time (``0`` is the noise end of hepjax's paths).
        t1: end time; ``t1 < t0`` integrates backwards.
        manifold: integrate on this manifold (tangent projection, final ``projx``).
        mask: ``(n,)`` booleans for a padded set; padded rows do not move.
        cond: conditioning for this example, passed as ``args["cond"]``.
        args: explicit ``args`` for the field (then ``mask``/``cond`` are not added).
        rtol: relative tolerance of adaptive stepping.
        atol: absolute tolerance of adaptive stepping.
        max_steps: step budget of adaptive stepping.

    Returns:
        The sample at ``t1``, shaped like ``x0``.

    Raises:
        ValueError: an unknown solver name, a fixed-step solver without
            ``num_steps``, a mask of the wrong shape or an all-padding set.
    """
    x0, mask = check_point_shape(x0, manifold, mask)
    if args is None:
        args = make_args(mask, cond)
    field = wrap_field(vector_field, manifold, mask)
    x1 = integrate(
        field,
        x0,
        args,
        t0=t0,
        t1=t1,
        solver=solver,
        num_steps=num_steps,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    if manifold is not None:
        x1 = _rows(manifold.projx, safe_padding(manifold, x1, mask))
    if mask is not None:
        x1 = jnp.where(mask[:, None], x1, x0)
    return x1
