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
