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
