"""Diagnostics of posterior estimators: C2ST, simulation-based calibration (SBC),
expected coverage (TARP and highest-posterior-density), and their plots.

:func:`c2st` is :func:`hepjax.metrics.c2st` (it lives one layer down, where
other tasks can reach it), re-exported here with the other diagnostics.
"""

from ...metrics import c2st as c2st
from ._coverage import coverage_band as coverage_band
from ._coverage import expected_coverage as expected_coverage
from ._coverage import hpd_coverage as hpd_coverage
from ._coverage import hpd_levels as hpd_levels
from ._plots import plot_corner as plot_corner
from ._plots import plot_coverage as plot_coverage
from ._plots import plot_rank_histogram as plot_rank_histogram
from ._sbc import sbc_ranks as sbc_ranks
from ._sbc import sbc_uniformity as sbc_uniformity
from ._tarp import tarp as tarp

__all__ = [
    "c2st",
    "coverage_band",
    "expected_coverage",
    "hpd_coverage",
    "hpd_levels",
    "plot_corner",
    "plot_coverage",
    "plot_rank_histogram",
    "sbc_ranks",
    "sbc_uniformity",
    "tarp",
]
