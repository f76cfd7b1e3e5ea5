"""A toy barrel silicon tracker: geometry, helix propagation, material, events.

The material physics (Highland scattering, Bethe energy loss, silicon's
radiation length) comes from :mod:`hepjax.physics`.

::

    import jax
    from hepjax.sim import tracker

    geo = tracker.BarrelGeometry.default()            # 4 pixel + 6 strip layers, 2 T
    k1, k2 = jax.random.split(jax.random.key(0))
    parts = tracker.particle_gun(k1, 100, pt=(1.0, 10.0), eta=(-2.0, 2.0))
    event = tracker.simulate_event(k2, geo, parts, n_noise=500)
    event.hits, event.truth, event.particles      # TrackML tables (dicts of columns)
    event.write_csv("out/")                       # event000000000-hits.csv, ...
    with jax.enable_x64(True):
        tracks = tracker.track_arrays(event, geo)   # fixed-shape input of the Kalman filter

Units: mm, GeV, T; bound parameters follow ACTS, ``(loc0, loc1, phi, theta,
q/p)`` with ``loc0 = R phi`` and ``loc1 = z`` on a cylinder. Reconstruction
lives in :mod:`hepjax.tracking`.
"""

from ._crossing import effective_thickness as effective_thickness
from ._crossing import energy_loss_qop as energy_loss_qop
from ._event import Event as Event
from ._event import Measurements as Measurements
from ._event import TrackArrays as TrackArrays
from ._event import layer_arrays as layer_arrays
from ._event import track_arrays as track_arrays
from ._event import validate_event as validate_event
from ._geometry import C_LIGHT as C_LIGHT
from ._geometry import BarrelGeometry as BarrelGeometry
from ._gun import Particles as Particles
from ._gun import particle_gun as particle_gun
from ._gun import pileup_particles as pileup_particles
from ._helix import angles_to_momentum as angles_to_momentum
from ._helix import bound_to_global as bound_to_global
from ._helix import curvature as curvature
from ._helix import global_to_bound as global_to_bound
from ._helix import helix_position as helix_position
from ._helix import momentum_to_angles as momentum_to_angles
from ._helix import propagate_to_cylinder as propagate_to_cylinder
from ._helix import transport as transport
from ._helix import wrap_angle as wrap_angle
from ._simulate import SimulatedTracks as SimulatedTracks
from ._simulate import noise_hits as noise_hits
from ._simulate import simulate_event as simulate_event
from ._simulate import simulate_tracks as simulate_tracks

__all__ = [
    "C_LIGHT",
    "BarrelGeometry",
    "Event",
    "Measurements",
    "Particles",
    "SimulatedTracks",
    "TrackArrays",
    "angles_to_momentum",
    "bound_to_global",
    "curvature",
    "effective_thickness",
    "energy_loss_qop",
    "global_to_bound",
    "helix_position",
    "layer_arrays",
    "momentum_to_angles",
    "noise_hits",
    "particle_gun",
    "pileup_particles",
    "propagate_to_cylinder",
    "simulate_event",
    "simulate_tracks",
    "track_arrays",
    "transport",
    "validate_event",
    "wrap_angle",
]
