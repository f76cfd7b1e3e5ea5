r"""Layer 4: learned next-particle kernels for radiation transport (BRICKS, issue 15).

A *next-particle kernel* maps one incident particle and one cube of material
to what leaves the cube: a typed set of particles (momentum, direction, exit
point) and the energy deposited (Hildebrandt et al., "Compositional neural
Markov kernels for zero-shot radiation-matter simulation", arXiv:2605.06591).
Because transport is local and Markov, kernels chain cube to cube through
voxel grids they never saw in training (:func:`rollout`).

::

    from hepjax import radiation as rad

    data = rad.read_bricks("data/bricks")            # after: hepjax data make bricks ...
    fit = rad.train_kernel(key, data, steps=20_000)  # hepjax.train.fit underneath
    kernel = fit.model
    event = jax.tree.map(lambda a: a[0], data)
    out = rad.sample(key, kernel, event.incident, event.cube)  # one Interactions event
    ll = rad.log_likelihood(kernel, out).total  # exact log-density
    grid = rad.Grid(material_index, density_g_cm3, voxel_cm=1.0)
    res = rad.rollout(key, kernel, grid, rad.incident_on_face(grid, 1, 200.0))
    res.deposit_mev, res.exiting, res.overflow
    mc = rad.rollout(key, rad.TransportKernel(), grid, ...)  # the MC, cube by cube

- Data: :class:`Incident`, :class:`Cube`, :class:`Particles`,
  :class:`KernelResult` and the canonical single-cube representation
  :class:`Interactions` (:func:`to_interaction`, :func:`from_transport`,
  :func:`outgoing_particles`); :func:`make_bricks` writes the BRICKS data set
  from the transport Monte Carlo (``hepjax data make bricks``).
- Kernels (:class:`AbstractKernel`): the learned :class:`NextParticleKernel`
  (:func:`kernel_loss`, :func:`train_kernel`, :func:`sample`,
  :func:`log_likelihood`), the transport MC as a kernel
  (:class:`TransportKernel`) and the analytic :class:`ToyKernel`.
- Composition: :class:`Grid`, :func:`rollout` -> :class:`RolloutResult`.
- Evaluation: :func:`particle_features` (with :func:`particle_events`), :func:`event_features`,
  :func:`feature_w1`, :func:`multiplicity_agreement`; the MMD is
  :func:`hepjax.metrics.mmd_rbf`.
"""

from ._data import CUBE_CM as CUBE_CM
from ._data import MATERIALS as MATERIALS
from ._data import TYPES as TYPES
from ._data import Cube as Cube
from ._data import Incident as Incident
from ._data import Interactions as Interactions
from ._data import KernelResult as KernelResult
from ._data import Particles as Particles
from ._data import canonical_rotation as canonical_rotation
from ._data import from_transport as from_transport
from ._data import outgoing_particles as outgoing_particles
from ._data import random_incident as random_incident
from ._data import sphere_to_surface as sphere_to_surface
from ._data import surface_to_sphere as surface_to_sphere
from ._data import to_interaction as to_interaction
from ._eval import EVENT_FEATURES as EVENT_FEATURES
from ._eval import PARTICLE_FEATURES as PARTICLE_FEATURES
from ._eval import MultiplicityResult as MultiplicityResult
from ._eval import event_features as event_features
from ._eval import feature_w1 as feature_w1
from ._eval import multiplicity_agreement as multiplicity_agreement
from ._eval import particle_events as particle_events
from ._eval import particle_features as particle_features
from ._generate import generate_interactions as generate_interactions
from ._generate import make_bricks as make_bricks
from ._generate import read_bricks as read_bricks
from ._kernels import AbstractKernel as AbstractKernel
from ._kernels import ToyKernel as ToyKernel
from ._kernels import TransportKernel as TransportKernel
from ._model import MANIFOLD as MANIFOLD
from ._model import LogLikelihoodResult as LogLikelihoodResult
from ._model import NextParticleKernel as NextParticleKernel
from ._model import kernel_loss as kernel_loss
from ._model import log_likelihood as log_likelihood
from ._model import sample as sample
from ._model import train_kernel as train_kernel
from ._rollout import Grid as Grid
from ._rollout import RolloutResult as RolloutResult
from ._rollout import incident_on_face as incident_on_face
from ._rollout import rollout as rollout
