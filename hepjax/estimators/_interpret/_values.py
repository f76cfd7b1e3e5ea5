r"""The values of the alternative-path interpreter: pruned stochastic triples.

Alternative path (stochastic triples, arXiv:2210.08572, with pruning as in
StochasticAD.jl). Every value is a :class:`PairedValue`: a primal, an optional
alternative and the fork tag at which that alternative was made. At each primal
draw $i$ an alternative outcome $y_i$ is proposed with magnitude $m_i$ and
normalised weight $s_i=w_i(\dot\theta)/m_i$. A reservoir (:class:`Reservoir`)
keeps one of them, draw $i$ replacing the current one with probability
$m_i/\sum_{j\le i}m_j$; accepting increments a fork counter $F$ and the draw's
alternative output becomes $y_i$. A value's alternative is only valid while its
tag equals $F$; otherwise the alternative trajectory has been reset to the
primal and the effective alternative (:func:`effective_alternative`) is the
primal. This makes the reset free and keeps all state fixed-shape, so it works
inside ``while_loop`` and ``scan``. At the end
$$\hat g = \nabla_{\text{path}} f + W\,\dot s\,\bigl(f(\text{alt})-f(\text{primal})\bigr),
\qquad W=\sum_i m_i,$$
whose expectation over the reservoir is $\sum_i w_i\,(f(\text{alt}_i)-f)$, the
unbiased stochastic-derivative estimate.

With derivative pruning, a parameter-dependent value also carries *shadow
lanes*: the same computation at $\theta+\epsilon_k e_k$, one lane per parameter
direction $k$, along the primal's discrete path (see :mod:`._draw`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._jaxpr import bind_equation, stop_gradient_inexact


@dataclasses.dataclass(slots=True)
class PairedValue:
    """One value of the program on the primal path and on the coupled alternative path.

    Attributes:
        primal: the value on the primal path; it carries the pathwise tangent.
        alternative: the value on the alternative path, or ``None`` when the
            alternative equals the primal (nothing upstream was perturbed).
        fork: the fork counter $F$ when ``alternative`` was computed; the
            alternative is valid only while the reservoir's counter still equals it.
        depends_on_params: whether ``primal`` carries a pathwise tangent from the
            parameters (from :func:`~._dependence.parameter_dependence`).
        shadow: the ``(P, ...)`` shadow lanes of ``primal`` for derivative
            pruning, or ``None``.
    """

    primal: Any
    alternative: Any = None
    fork: Any = None
    depends_on_params: bool = False
    shadow: Any = None


class Reservoir(NamedTuple):
    r"""The reservoir of proposed alternatives, threaded through the program as state.

    Attributes:
        fork: $F$, the number of proposals accepted so far (int32).
        total_magnitude: $W=\sum_i m_i$ over the draws so far.
        surrogate: $s$ of the kept proposal: value 0, tangent $w(\dot\theta)/m$.
    """

    fork: Any
    total_magnitude: Any
    surrogate: Any

    @classmethod
    def empty(cls, dtype) -> Reservoir:
        """No proposal yet: $F=0$, $W=0$, $s=0$."""
        return cls(jnp.zeros((), jnp.int32), jnp.zeros((), dtype), jnp.zeros((), dtype))


def effective_alternative(value: PairedValue, fork):
    """The alternative of ``value`` under the current fork counter (the primal if stale)."""
    if value.alternative is None:
        return value.primal
    return jnp.where(value.fork == fork, value.alternative, value.primal)


def shadow_lanes(value: PairedValue, num_lanes: int):
    """The shadow lanes ``(P, ...)`` of ``value`` (its primal repeated if it has none)."""
    if value.shadow is not None:
        return value.shadow
    primal = stop_gradient_inexact(value.primal)
    return jnp.broadcast_to(primal, (num_lanes, *jnp.shape(primal)))


def bind_on_shadow_lanes(eqn, invals: list[PairedValue]) -> list:
    """Evaluate ``eqn`` on the shadow lanes of its inputs (``vmap`` over the P lanes)."""
    in_axes = [0 if v.shadow is not None else None for v in invals]
    args = [v.shadow if v.shadow is not None else v.primal for v in invals]
    return jax.vmap(lambda *xs: bind_equation(eqn, list(xs)), in_axes=in_axes)(*args)
