r"""Jaxpr interpreters that turn a program with discrete draws into an estimator.

The program is traced once with :func:`jax.make_jaxpr`. Draws appear as ``jit``
equations named ``hje_draw__<distribution>``. Two interpreters then evaluate
the jaxpr with JAX operations, recursing into the sub-jaxprs of ``while``,
``scan``, ``cond`` and nested ``jit`` calls, so the result can itself be jitted,
vmapped and forward-differentiated:

* :func:`interpret_single` (:mod:`._single`) evaluates one copy of the program
  and threads a fixed-shape *state* (for example an accumulated
  log-probability) through every loop carry. Each draw is handled by a
  :class:`DrawHandler`: the score function, Gumbel-softmax straight-through
  and enumeration are three handlers.
* :func:`interpret_pair` (:mod:`._pair`) evaluates the primal program and one
  coupled *alternative* program in lockstep, for the alternative-path
  estimator. Its values are pruned stochastic triples (:class:`PairedValue`,
  :mod:`._values`; arXiv:2210.08572 and StochasticAD.jl) and its draws keep
  one proposal in a :class:`Reservoir` (:mod:`._draw`, which also holds the
  derivative-proportional pruning used in arXiv:2308.16680).

The seams: :mod:`._jaxpr` reads the traced program (draw equations, sub-jaxprs,
re-binding, the :class:`Context`); :mod:`._dependence` finds which values carry
a pathwise tangent from the parameters.
"""

from ._jaxpr import Context as Context
from ._pair import interpret_pair as interpret_pair
from ._single import DrawHandler as DrawHandler
from ._single import interpret_single as interpret_single
from ._values import PairedValue as PairedValue
from ._values import Reservoir as Reservoir
from ._values import effective_alternative as effective_alternative
