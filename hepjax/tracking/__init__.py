"""Layer 4: track reconstruction in a barrel silicon tracker.

Built on :mod:`hepjax.sim.tracker` (geometry, helix propagation, TrackML-format
events), :mod:`hepjax.physics` (material effects) and :mod:`hepjax.nn` (the
interaction network):

* Kalman filter and RTS smoother on ACTS bound parameters
  ``(loc0, loc1, phi, theta, q/p)``, float64, with transport Jacobians from
  ``jax.jacfwd`` of the helix, Highland process noise, mixed 2D pixel / 1D
  strip measurements and chi2 outlier rejection; differentiable with respect
  to the detector parameters (:func:`kalman_fit`, :func:`fit_tracks`, and the
  steps :func:`kalman_predict`, :func:`kalman_update`, :func:`add_material`).
* Seeding with one entry point, :func:`seeds`, and the seeder as a strategy
  (:class:`TripletSeeder`, :class:`CandidateSeeder`), and the Combinatorial
  Kalman Filter (:func:`ckf`, :func:`find_tracks`).
* GNN track candidates on the pixel space points: module map, hit graphs, an
  interaction-network edge classifier trained with :func:`hepjax.train.fit`.
* Metrics: TrackML score, efficiency, fake and duplicate rates, pulls.
"""

from ._candidate_seeder import CandidateSeeder as CandidateSeeder
from ._ckf import CKFConfig as CKFConfig
from ._ckf import Tracks as Tracks
from ._ckf import ckf as ckf
from ._finding import event_measurements as event_measurements
from ._finding import find_tracks as find_tracks
from ._finding import resolve_ambiguities as resolve_ambiguities
from ._fit_tracks import fit_tracks as fit_tracks
from ._fit_tracks import parameter_pulls as parameter_pulls
from ._gnn import EdgeClassifier as EdgeClassifier
from ._gnn import EdgeClassifierResult as EdgeClassifierResult
from ._gnn import edge_loss as edge_loss
from ._gnn import edge_metrics as edge_metrics
from ._gnn import edge_scores as edge_scores
from ._gnn import train_edge_classifier as train_edge_classifier
from ._gnn_candidates import ConnectedComponents as ConnectedComponents
from ._gnn_candidates import Walkthrough as Walkthrough
from ._gnn_candidates import track_candidates as track_candidates
from ._gnn_graph import HitGraph as HitGraph
from ._gnn_graph import build_graph as build_graph
from ._gnn_graph import graph_metrics as graph_metrics
from ._gnn_graph import pad_graph as pad_graph
from ._gnn_graph import stack_graphs as stack_graphs
from ._kalman import KalmanResult as KalmanResult
from ._kalman import kalman_fit as kalman_fit
from ._kalman_steps import add_material as add_material
from ._kalman_steps import initial_covariance as initial_covariance
from ._kalman_steps import kalman_predict as kalman_predict
from ._kalman_steps import kalman_update as kalman_update
from ._kalman_steps import measurement_chi2 as measurement_chi2
from ._kalman_steps import with_geometry_resolution as with_geometry_resolution
from ._matching import TrackMatch as TrackMatch
from ._matching import match_candidates as match_candidates
from ._module_map import ModuleMap as ModuleMap
from ._module_map import build_module_map as build_module_map
from ._module_map import simulate_module_map as simulate_module_map
from ._performance import BinnedRate as BinnedRate
from ._performance import TrackingPerformance as TrackingPerformance
from ._performance import plot_rates as plot_rates
from ._performance import tracking_efficiency as tracking_efficiency
from ._performance import tracking_performance as tracking_performance
from ._resolution import plot_pulls as plot_pulls
from ._resolution import pull_summary as pull_summary
from ._resolution import resolution_summary as resolution_summary
from ._seeds import AbstractSeeder as AbstractSeeder
from ._seeds import Seeds as Seeds
from ._seeds import estimate_parameters as estimate_parameters
from ._seeds import seeds as seeds
from ._trackml import trackml_pt_weight as trackml_pt_weight
from ._trackml import trackml_score as trackml_score
from ._trackml import trackml_weights as trackml_weights
from ._triplet_seeder import TripletSeeder as TripletSeeder

# Listed for the API docs (mkdocstrings renders the names in __all__); add new names here.
__all__ = [
    "AbstractSeeder",
    "BinnedRate",
    "CKFConfig",
    "CandidateSeeder",
    "ConnectedComponents",
    "EdgeClassifier",
    "EdgeClassifierResult",
    "HitGraph",
    "KalmanResult",
    "ModuleMap",
    "Seeds",
    "TrackMatch",
    "TrackingPerformance",
    "Tracks",
    "TripletSeeder",
    "Walkthrough",
    "add_material",
    "build_graph",
    "build_module_map",
    "ckf",
    "edge_loss",
    "edge_metrics",
    "edge_scores",
    "estimate_parameters",
    "event_measurements",
    "find_tracks",
    "fit_tracks",
    "graph_metrics",
    "initial_covariance",
    "kalman_fit",
    "kalman_predict",
    "kalman_update",
    "match_candidates",
    "measurement_chi2",
    "pad_graph",
    "parameter_pulls",
    "plot_pulls",
    "plot_rates",
    "pull_summary",
    "resolution_summary",
    "resolve_ambiguities",
    "seeds",
    "simulate_module_map",
    "stack_graphs",
    "track_candidates",
    "tracking_efficiency",
    "tracking_performance",
    "trackml_pt_weight",
    "trackml_score",
    "trackml_weights",
    "train_edge_classifier",
    "with_geometry_resolution",
]
