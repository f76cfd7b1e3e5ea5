r"""Layer 1: Riemannian manifolds for flows and geometry on single points.

``Euclidean(dim)``, ``Sphere(dim)``, ``FlatTorus(dim)`` and ``Product(*factors)``
share the interface of :class:`AbstractManifold`: ``expmap``, ``logmap``,
``dist``, ``projx``, ``proju``, ``inner``/``norm``, ``geodesic``,
``random_uniform`` (compact manifolds), ``log_volume`` and ``check_point``.
Every method acts on one point, a flat array of ambient coordinates; batch
with ``jax.vmap``. A point of a ``Product`` is the concatenation of its
factors' coordinates. All maps are exact closed forms, differentiable, and
free of NaN gradients at $x = y$ (Chen & Lipman 2023, arXiv:2302.03660, use
these geometries for Riemannian flow matching).

Every method checks the shape of its arguments at trace time (a ``ValueError``
naming the argument). Membership is checked by :meth:`AbstractManifold.check_point`
with an absolute tolerance (default ``1e-5``): a ``ValueError`` for concrete
values, ``eqx.error_if`` for traced ones; the losses and likelihoods of
:mod:`hepjax.generative` run it on their data.
"""

from ._base import AbstractManifold as AbstractManifold
from ._euclidean import Euclidean as Euclidean
from ._product import Product as Product
from ._sphere import Sphere as Sphere
from ._torus import FlatTorus as FlatTorus

__all__ = [
    "AbstractManifold",
    "Euclidean",
    "FlatTorus",
    "Product",
    "Sphere",
]
