"""Diagnostics of posterior estimators: C2ST and simulation-based calibration (SBC),
expected coverage (TARP)."""

from ._c2st import c2st as c2st
from ._sbc import sbc_ranks as sbc_ranks
from ._sbc import sbc_uniformity as sbc_uniformity
from ._tarp import tarp as tarp

__all__ = ["c2st", "sbc_ranks", "sbc_uniformity", "tarp"]
