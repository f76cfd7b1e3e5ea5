r"""Design spaces: boxes of continuous parameters, penalties, Latin hypercubes.

A design $\psi \in \mathbb{R}^p$ lives in a box $[\ell, u]$ (:class:`Box`);
constraints that are not boxes (a total length, a material budget) enter the
objective as penalties (:class:`LinearPenalty`), as in AIDO's cost terms
(arXiv:2502.02152, Sec. 3.3). The local optimisers sample designs in the
*trust box* $\{\psi' : |\psi'_j - \psi_j| \le \delta_j\} \cap [\ell, u]$ with a
Latin hypercube (McKay, Beckman & Conover, Technometrics 21 (1979) 239): each
of the $n$ equal strata of every coordinate holds exactly one design, which
spreads $n$ designs better than independent uniforms, as L-GSO does
(arXiv:2002.04632, Algorithm 1).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_positive, check_positive_int

__all__ = ["Box", "LinearPenalty", "latin_hypercube"]


class Box(eqx.Module):
    """A box of continuous design parameters, $\\ell_j \\le \\psi_j \\le u_j$.

    Attributes:
        lower: the lower bounds $\\ell$ (a sequence of ``p`` floats).
        upper: the upper bounds $u$, each strictly above its lower bound.
        names: one name per parameter (used in messages, logs and plots);
            default ``psi0, psi1, ...``.

    Example:
        ```python
        from hepjax import design

        space = design.Box(lower=[0.1, 0.1], upper=[0.9, 0.9], names=["x1", "x2"])
        space.check(jnp.array([0.5, 0.5]))
        ```
    """

    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)

    def __init__(
        self,
        lower: Any,
        upper: Any,
        names: Sequence[str] | None = None,
    ):
        lo = np.atleast_1d(np.asarray(lower, np.float64))
        hi = np.atleast_1d(np.asarray(upper, np.float64))
        if lo.ndim != 1 or hi.ndim != 1:
            raise ValueError(
                f"lower and upper must be flat sequences, got shapes {lo.shape} and {hi.shape}"
            )
        if lo.size == 0:
            raise ValueError("the box is empty: lower and upper have no parameters")
        if lo.shape != hi.shape:
            raise ValueError(
                f"lower and upper must have the same length, got {lo.size} and {hi.size}"
            )
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError(f"the box's bounds must be finite, got lower={lo}, upper={hi}")
        if names is None:
            names = [f"psi{j}" for j in range(lo.size)]
        names = tuple(str(n) for n in names)
        if len(names) != lo.size:
            raise ValueError(
                f"names must have {lo.size} entries (one per parameter), got {len(names)}"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"names must be distinct, got {names}")
        bad = np.flatnonzero(~(lo < hi))
        if bad.size:
            j = int(bad[0])
            raise ValueError(
                f"the box is empty in {names[j]!r}: lower={lo[j]} must be below upper={hi[j]}"
            )
        self.lower = tuple(float(x) for x in lo)
        self.upper = tuple(float(x) for x in hi)
        self.names = names

    @property
    def dim(self) -> int:
        """The number $p$ of parameters."""
        return len(self.lower)

    @property
    def width(self) -> np.ndarray:
        """$u - \\ell$."""
        return np.asarray(self.upper) - np.asarray(self.lower)

    def check(self, psi: Any, name: str = "psi") -> np.ndarray:
        """``psi`` as a float array after checking its shape and that it lies in the box.

        Args:
            psi: a design (concrete values).
            name: the argument's name in the error message.

        Raises:
            ValueError: wrong shape, non-finite values, or a parameter outside the box
                (the message names the parameter, its value and the bounds).
        """
        x = np.asarray(psi, np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"{name} must have shape ({self.dim},), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} must be finite, got {x}")
        for j in range(self.dim):
            if not (self.lower[j] <= x[j] <= self.upper[j]):
                raise ValueError(
                    f"{name} is outside the box: {self.names[j]}={x[j]:g} is not in "
                    f"[{self.lower[j]:g}, {self.upper[j]:g}]"
                )
        return x

    def clip(self, psi: Float[ArrayLike, "*b p"]) -> Float[Array, "*b p"]:
        """Project onto the box (elementwise clipping; differentiable almost everywhere)."""
        return jnp.clip(psi, jnp.asarray(self.lower), jnp.asarray(self.upper))

    def normalise(self, psi: Float[ArrayLike, "*b p"]) -> Float[Array, "*b p"]:
        """Map the box onto $[0, 1]^p$."""
        lo, w = jnp.asarray(self.lower), jnp.asarray(self.width)
        return ((jnp.asarray(psi) - lo) / w).astype(jnp.float32)

    def trust_box(self, center: Any, width: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` of $[\\psi - \\delta, \\psi + \\delta] \\cap [\\ell, u]$."""
        c = np.asarray(center, np.float64)
        d = np.broadcast_to(np.asarray(width, np.float64), c.shape)
        return np.maximum(c - d, self.lower), np.minimum(c + d, self.upper)

    def grid(self, num: int | Sequence[int]) -> np.ndarray:
        """A regular grid of ``num`` points per parameter (bounds included), ``(n, p)``."""
        nums = [num] * self.dim if isinstance(num, int) else list(num)
        if len(nums) != self.dim:
            raise ValueError(f"num must give {self.dim} counts, got {len(nums)}")
        axes = [
            np.linspace(lo, hi, check_positive_int("num", n))
            for lo, hi, n in zip(self.lower, self.upper, nums, strict=True)
        ]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)


class LinearPenalty(eqx.Module):
    """A soft constraint $w\\cdot\\psi \\le b$ (a total length, a material cost).

    $$P(\\psi) = \\lambda\\,\\max(0,\\ w\\cdot\\psi - b)^2,$$

    zero inside the allowed region and growing quadratically outside (the
    quadratic exterior penalty; Nocedal & Wright, *Numerical Optimization*,
    Sec. 17.1), so its gradient pushes a design back. With ``equality=True``
    the penalty is $\\lambda (w\\cdot\\psi - b)^2$.

    Attributes:
        weights: $w$ (one per parameter: a cost per unit, or 1 for a length).
        bound: $b$.
        strength: $\\lambda > 0$.
        equality: penalise both sides.
    """

    weights: tuple[float, ...] = eqx.field(static=True)
    bound: float = eqx.field(static=True)
    strength: float = eqx.field(static=True, default=1.0)
    equality: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        check_positive("strength", self.strength)

    def __call__(self, psi: Float[ArrayLike, " p"]) -> Float[Array, ""]:
        w = jnp.asarray(self.weights, jnp.float32)
        psi = jnp.asarray(psi)
        if psi.shape != w.shape:
            raise ValueError(f"psi must have shape {w.shape} (as weights), got {psi.shape}")
        excess = jnp.dot(w, psi) - self.bound
        if not self.equality:
            excess = jnp.maximum(excess, 0.0)
        return self.strength * excess**2


def latin_hypercube(
    key: PRNGKeyArray, num: int, lower: Float[ArrayLike, " p"], upper: Float[ArrayLike, " p"]
) -> Float[Array, "num p"]:
    """``num`` designs of a Latin hypercube in the box ``[lower, upper]``.

    Coordinate $j$ of design $i$ is $\\ell_j + (u_j - \\ell_j)(\\pi_j(i) + v_{ij})/n$
    with independent random permutations $\\pi_j$ of $0..n-1$ and uniforms
    $v_{ij}$ (McKay et al. 1979), so each of the $n$ strata of every
    coordinate holds exactly one design.

    Args:
        key: PRNG key.
        num: the number $n$ of designs.
        lower: the box's lower corner.
        upper: the box's upper corner.
    """
    num = check_positive_int("num", num)
    lo = jnp.asarray(lower, jnp.float32)
    hi = jnp.asarray(upper, jnp.float32)
    if lo.ndim != 1 or lo.shape != hi.shape:
        raise ValueError(f"lower and upper must be (p,) arrays, got {lo.shape} and {hi.shape}")
    return _latin_hypercube(key, num, lo, hi)


@functools.partial(jax.jit, static_argnums=1)
def _latin_hypercube(key, num, lo, hi):
    k_perm, k_u = jax.random.split(key)
    perms = jax.vmap(lambda k: jax.random.permutation(k, num))(
        jax.random.split(k_perm, lo.shape[0])
    ).T
    u = jax.random.uniform(k_u, (num, lo.shape[0]), jnp.float32)
    return lo + (hi - lo) * (perms + u) / num
