"""Layer 4: pile-up removal as a posterior over hard-scatter constituents (Vipr, arXiv:2410.22074).

So far the data side: :class:`Overlay`, the Vipr recipe of overlaying minimum-bias
events (from :func:`hepjax.data.collider.minbias_pool`) on a jet, drawn anew at every
call, with :class:`AbsNormal` for the distribution of $\\mu$. The grooming baseline,
SoftDrop, and the substructure observables are in :mod:`hepjax.physics`.
"""

from ._overlay import AbsNormal as AbsNormal
from ._overlay import Overlay as Overlay
from ._overlay import OverlayResult as OverlayResult
from ._overlay import jet_axis as jet_axis

__all__ = ["AbsNormal", "Overlay", "OverlayResult", "jet_axis"]
