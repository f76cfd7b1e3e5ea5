"""Layer 1: gradient estimators for programs with discrete randomness.

Write an ordinary JAX program ``program(key, params) -> scalar`` whose discrete
draws come from :func:`bernoulli`, :func:`categorical`, :func:`binomial`,
:func:`poisson` and :func:`geometric`, then choose the estimator by argument::

    import hepjax.estimators as hje

    f = hje.value_and_grad(program, estimator=hje.AlternativePath(), num_samples=100)
    value, grad = f(key, params)

See ``docs/estimators.md`` for when to use which estimator.
"""

from ._api import AbstractEstimator as AbstractEstimator
from ._api import AlternativePath as AlternativePath
from ._api import Enumeration as Enumeration
from ._api import FiniteDifference as FiniteDifference
from ._api import GumbelSoftmaxST as GumbelSoftmaxST
from ._api import Samples as Samples
from ._api import ScoreFunction as ScoreFunction
from ._api import value_and_grad as value_and_grad
from ._distributions import bernoulli as bernoulli
from ._distributions import binomial as binomial
from ._distributions import categorical as categorical
from ._distributions import geometric as geometric
from ._distributions import poisson as poisson

__all__ = [
    "AbstractEstimator",
    "AlternativePath",
    "Enumeration",
    "FiniteDifference",
    "GumbelSoftmaxST",
    "Samples",
    "ScoreFunction",
    "bernoulli",
    "binomial",
    "categorical",
    "geometric",
    "poisson",
    "value_and_grad",
]
