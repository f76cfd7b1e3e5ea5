"""Layer 4: calorimeter event processing for COCOA-style detectors (arXiv:2303.02101).

Topological clustering 4-2-0 with local-maximum splitting (:func:`topoclusters`,
a plain-Python reference in :func:`reference_topoclusters`), the kNN cell graph
for the GNNs of :mod:`hepjax.nn` (:func:`cell_graph`), anti-kt jets through
FastJet (:func:`antikt_jets`, :func:`cluster_jets`), and writers: Phoenix JSON
(:func:`write_phoenix`), HDF5 (:func:`write_hdf5_events`) and ROOT with COCOA's
branch names (:func:`write_root`); the energy-resolution fit
a/sqrt(E) + b + c/E in quadrature (:func:`fit_resolution`). The detector and
the cell energies are :mod:`hepjax.sim.calo`.
"""

from ._graph import CellGraph as CellGraph
from ._graph import cell_graph as cell_graph
from ._io import phoenix_event as phoenix_event
from ._io import write_hdf5_events as write_hdf5_events
from ._io import write_phoenix as write_phoenix
from ._io import write_root as write_root
from ._jets import Jets as Jets
from ._jets import antikt_jets as antikt_jets
from ._jets import cluster_jets as cluster_jets
from ._neighbours import containing_cell as containing_cell
from ._neighbours import neighbour_table as neighbour_table
from ._reference import reference_topoclusters as reference_topoclusters
from ._resolution import ResolutionFit as ResolutionFit
from ._resolution import fit_resolution as fit_resolution
from ._resolution import resolution_model as resolution_model
from ._resolution import response_stats as response_stats
from ._topo import TopoClusters as TopoClusters
from ._topo import topoclusters as topoclusters

__all__ = [
    "CellGraph",
    "Jets",
    "ResolutionFit",
    "TopoClusters",
    "antikt_jets",
    "cell_graph",
    "cluster_jets",
    "containing_cell",
    "fit_resolution",
    "neighbour_table",
    "phoenix_event",
    "reference_topoclusters",
    "resolution_model",
    "response_stats",
    "topoclusters",
    "write_hdf5_events",
    "write_phoenix",
    "write_root",
]
