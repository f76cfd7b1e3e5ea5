"""Layer 4: track reconstruction in a barrel silicon tracker.

Built on :mod:`hepjax.sim.tracker` (geometry, helix propagation, material,
TrackML-format events):

* Kalman filter and RTS smoother on ACTS bound parameters
  ``(loc0, loc1, phi, theta, q/p)``, float64, with transport Jacobians from
  ``jax.jacfwd`` of the helix, Highland process noise, mixed 2D pixel / 1D
  strip measurements and chi2 outlier rejection; differentiable with respect
  to the detector parameters.
* Seeding from pixel triplets and the Combinatorial Kalman Filter.
* GNN track candidates on the pixel space points.
* Metrics: TrackML score, efficiency, fake and duplicate rates, pulls.
"""

from ._ckf import CKFConfig as CKFConfig
from ._ckf import Tracks as Tracks
from ._ckf import candidate_seeds as candidate_seeds
from ._ckf import ckf as ckf
from ._ckf import event_measurements as event_measurements
from ._ckf import find_tracks as find_tracks
from ._ckf import resolve_ambiguities as resolve_ambiguities
from ._ckf import triplet_seeds as triplet_seeds
from ._gnn import EdgeClassifier as EdgeClassifier
from ._gnn import EdgeClassifierFit as EdgeClassifierFit
from ._gnn import edge_loss as edge_loss
from ._gnn import edge_metrics as edge_metrics
from ._gnn import edge_scores as edge_scores
from ._gnn import train_edge_classifier as train_edge_classifier
from ._gnn_candidates import track_candidates as track_candidates
from ._gnn_graph import HitGraph as HitGraph
from ._gnn_graph import ModuleMap as ModuleMap
from ._gnn_graph import build_graph as build_graph
from ._gnn_graph import build_module_map as build_module_map
from ._gnn_graph import graph_metrics as graph_metrics
from ._gnn_graph import pad_graph as pad_graph
from ._gnn_graph import simulate_module_map as simulate_module_map
from ._gnn_graph import stack_graphs as stack_graphs
from ._kalman import KalmanResult as KalmanResult
from ._kalman import add_material as add_material
from ._kalman import fit_tracks as fit_tracks
from ._kalman import initial_covariance as initial_covariance
from ._kalman import kalman_fit as kalman_fit
from ._kalman import measurement_chi2 as measurement_chi2
from ._kalman import parameter_pulls as parameter_pulls
from ._kalman import predict as predict
from ._kalman import update as update
from ._kalman import with_geometry_resolution as with_geometry_resolution
from ._metrics import BinnedRate as BinnedRate
from ._metrics import TrackingPerformance as TrackingPerformance
from ._metrics import TrackMatch as TrackMatch
from ._metrics import match_candidates as match_candidates
from ._metrics import plot_pulls as plot_pulls
from ._metrics import plot_rates as plot_rates
from ._metrics import pull_summary as pull_summary
from ._metrics import resolution_summary as resolution_summary
from ._metrics import tracking_efficiency as tracking_efficiency
from ._metrics import tracking_performance as tracking_performance
from ._metrics import trackml_pt_weight as trackml_pt_weight
from ._metrics import trackml_score as trackml_score
from ._metrics import trackml_weights as trackml_weights
from ._seeding import SeedConfig as SeedConfig
from ._seeding import Seeds as Seeds
from ._seeding import estimate_parameters as estimate_parameters
from ._seeding import find_seeds as find_seeds
from ._seeding import seeds_from_candidates as seeds_from_candidates

# Listed for the API docs (mkdocstrings renders the names in __all__); add new names here.
__all__ = [
    "BinnedRate",
    "CKFConfig",
    "EdgeClassifier",
    "EdgeClassifierFit",
    "HitGraph",
    "KalmanResult",
    "ModuleMap",
    "SeedConfig",
    "Seeds",
    "TrackMatch",
    "TrackingPerformance",
    "Tracks",
    "add_material",
    "build_graph",
    "build_module_map",
    "candidate_seeds",
    "ckf",
    "edge_loss",
    "edge_metrics",
    "edge_scores",
    "estimate_parameters",
    "event_measurements",
    "find_seeds",
    "find_tracks",
    "fit_tracks",
    "graph_metrics",
    "initial_covariance",
    "kalman_fit",
    "match_candidates",
    "measurement_chi2",
    "pad_graph",
    "parameter_pulls",
    "plot_pulls",
    "plot_rates",
    "predict",
    "pull_summary",
    "resolution_summary",
    "resolve_ambiguities",
    "seeds_from_candidates",
    "simulate_module_map",
    "stack_graphs",
    "track_candidates",
    "tracking_efficiency",
    "tracking_performance",
    "trackml_pt_weight",
    "trackml_score",
    "trackml_weights",
    "train_edge_classifier",
    "triplet_seeds",
    "update",
    "with_geometry_resolution",
]
