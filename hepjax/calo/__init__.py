"""Layer 4: calorimeter event processing for COCOA-style detectors (arXiv:2303.02101).

Topological clustering 4-2-0 with local-maximum splitting (:func:`topoclusters`,
a plain-Python reference in :func:`reference_topoclusters`), the kNN cell graph
for the GNNs of :mod:`hepjax.nn` (:func:`cell_graph`), anti-kt jets through
FastJet (:func:`antikt_jets`), and writers: Phoenix JSON (:func:`write_phoenix`),
HDF5 (:func:`write_hdf5_events`) and ROOT with COCOA's branch names
(:func:`write_root`). The detector and the cell energies are
:mod:`hepjax.sim.calo`.
"""

from ._neighbours import containing_cell as containing_cell
from ._neighbours import neighbour_table as neighbour_table
from ._reference import reference_topoclusters as reference_topoclusters
from ._topo import TopoClusters as TopoClusters
from ._topo import topoclusters as topoclusters

__all__ = [
    "TopoClusters",
    "containing_cell",
    "neighbour_table",
    "reference_topoclusters",
    "topoclusters",
]
