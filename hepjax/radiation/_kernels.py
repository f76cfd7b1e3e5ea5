r"""Kernels: anything that maps (key, incident particle, cube) to what leaves the cube.

A kernel acts on one incident particle in the **canonical frame** of one cube
(centre at the origin, entry face $z = -a/2$, see :mod:`hepjax.radiation._data`)
and returns a :class:`KernelResult`: the outgoing particles (type, kinetic
energy, exit point on the surface, direction, mask) and the energy deposited.
The rollout (:func:`hepjax.radiation.rollout`) chains any kernel through a voxel
grid: the learned :class:`~hepjax.radiation.NextParticleKernel`, the transport
Monte Carlo (:class:`TransportKernel`), or the analytic :class:`ToyKernel` used
by the tests.
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._data import ELECTRON_MASS_MEV, Cube, Incident, KernelResult, Particles


class AbstractKernel(eqx.Module):
    """A next-particle kernel: ``kernel(key, incident, cube) -> KernelResult``, one particle."""

    @property
    @abc.abstractmethod
    def capacity(self) -> int:
        """The size of the outgoing buffer."""

    @abc.abstractmethod
    def __call__(self, key: PRNGKeyArray, incident: Incident, cube: Cube) -> KernelResult:
        """Outgoing particles and deposit of one incident particle, canonical frame.

        Args:
            key: PRNG key of the draw.
            incident: the incident particle, in the cube's canonical frame.
            cube: the cube of material it enters.
        """


def exit_distance(
    position: Float[Array, " 3"], direction: Float[Array, " 3"], half: Float[Array, ""]
) -> Float[Array, ""]:
    r"""Distance along $d$ from $x$ (inside or on the cube $|x_i| \le h$) to the surface.

    $s = \min_i (\operatorname{sign}(d_i)\,h - x_i) / d_i$ over the axes with $d_i \ne 0$.
    """
    safe = jnp.where(jnp.abs(direction) > 1e-12, direction, 1e-12)
    s = (jnp.sign(safe) * half - position) / safe
    return jnp.maximum(jnp.min(s), 0.0)


def _smear(key, direction, sigma):
    """Turn a unit vector by a small Gaussian angle (two transverse components)."""
    d = direction + sigma * jax.random.normal(key, (3,))
    return d / jnp.sqrt(jnp.sum(d * d))


class ToyKernel(AbstractKernel):
    r"""A cheap analytic stand-in for the transport MC (tests and examples).

    Straight lines through the cube, a constant stopping power
    $dE/dx = S\rho$ for e$^\pm$ (deposited), and at most one interaction per
    cube at a uniform point along the path: e$^\pm$ radiate a photon with
    probability $1 - e^{-\rho s / X_0}$ (energy fraction $z \sim \mathcal U(0, 1)$),
    photons convert to a pair with probability $1 - e^{-\frac79 \rho s / X_0}$
    (kinetic energies $z (E - 2m_e)$ and $(1-z)(E - 2m_e)$); the products
    leave from the interaction point in directions smeared by ``smear`` rad.
    Products below ``cut_mev`` and everything not leaving are deposited
    ($E_\text{dep} = E_\text{in} - \sum E_\text{out}$: energy is conserved
    exactly, the rest mass of a pair included). With ``interactions=False``
    only the continuous loss acts, so deposits have a closed form.

    Attributes:
        radiation_length_g_cm2: $X_0$ per material index.
        stopping_power_mev_cm2_g: $S$ per material index.
        smear: angular smearing of the products, rad.
        cut_mev: products below this kinetic energy are deposited.
        interactions: draw bremsstrahlung and pair conversions.
        size: outgoing buffer size.
    """

    radiation_length_g_cm2: tuple[float, ...] = (12.86, 19.55)
    stopping_power_mev_cm2_g: tuple[float, ...] = (1.26, 1.52)
    smear: float = 0.05
    cut_mev: float = 10.0
    interactions: bool = True
    size: int = 4

    @property
    def capacity(self) -> int:
        return self.size

    def __call__(self, key: PRNGKeyArray, incident: Incident, cube: Cube) -> KernelResult:
        half = 0.5 * cube.size_cm
        x0 = jnp.asarray(self.radiation_length_g_cm2, jnp.float32)[cube.material]
        dedx = jnp.asarray(self.stopping_power_mev_cm2_g, jnp.float32)[cube.material]
        dedx = dedx * cube.density_g_cm3
        k_int, k_where, k_z, k_a, k_b = jax.random.split(key, 5)
        pos, d, energy = incident.position, incident.direction, incident.energy_mev
        s_exit = exit_distance(pos, d, half)
        charged = incident.type > 0
        t = cube.density_g_cm3 * s_exit / x0
        p_int = 1.0 - jnp.exp(-jnp.where(charged, t, 7.0 / 9.0 * t))
        interacts = (jax.random.uniform(k_int) < p_int) & self.interactions
        s_star = jax.random.uniform(k_where) * s_exit
        z = jax.random.uniform(k_z)
        vertex = pos + s_star * d

        # without interaction: the incident particle continues (charged ones lose dE/dx)
        e_through = jnp.where(charged, energy - dedx * s_exit, energy)
        # with interaction: two products from the vertex
        e_before = jnp.where(charged, energy - dedx * s_star, energy)
        pair = jnp.maximum(energy - 2 * ELECTRON_MASS_MEV, 0.0)
        t1 = jnp.where(charged, (1 - z) * e_before, z * pair)  # charged: the e±; photon: e-
        t2 = jnp.where(charged, z * e_before, (1 - z) * pair)  # charged: the photon; photon: e+
        type1 = jnp.where(charged, incident.type, 1)
        type2 = jnp.where(charged, 0, 2)
        d1, d2 = _smear(k_a, d, self.smear), _smear(k_b, d, self.smear)
        s1 = exit_distance(vertex, d1, half)
        s2 = exit_distance(vertex, d2, half)
        t1 = t1 - dedx * s1  # always charged
        t2 = jnp.where(type2 > 0, t2 - dedx * s2, t2)
        alive_before = e_before > 0

        types = jnp.stack([jnp.where(interacts, type1, incident.type), type2])
        energies = jnp.stack([jnp.where(interacts, t1, e_through), t2])
        positions = jnp.stack(
            [jnp.where(interacts, vertex + s1 * d1, pos + s_exit * d), vertex + s2 * d2]
        )
        directions = jnp.stack([jnp.where(interacts, d1, d), d2])
        mask = jnp.stack([jnp.asarray(True), interacts & alive_before])
        mask = mask & (energies >= self.cut_mev)
        deposit = energy - jnp.sum(jnp.where(mask, energies, 0.0))
        pad = self.size - 2
        particles = Particles(
            type=jnp.pad(types, (0, pad)).astype(jnp.int32),
            energy_mev=jnp.pad(jnp.where(mask, energies, 0.0), (0, pad)),
            position=jnp.pad(positions, ((0, pad), (0, 0))),
            direction=jnp.pad(directions, ((0, pad), (0, 0)), constant_values=1.0 / math.sqrt(3)),
            mask=jnp.pad(mask, (0, pad)),
        )
        return KernelResult(particles, deposit, jnp.asarray(False))


class TransportKernel(AbstractKernel):
    r"""The transport Monte Carlo (:mod:`hepjax.sim.transport`) as a kernel.

    Each call simulates the incident particle through a one-voxel
    ``transport.Voxels`` world that is the cube (centred at the origin, so
    the kernel frame is the world frame), with the cube's material index,
    density and size as traced numbers, so it ``vmap``\ s over particles and
    cubes. The outgoing particles are the world's exiting particles, the
    deposit its one voxel. Used by :func:`make_bricks` to generate the
    single-cube data set and by :func:`rollout` as the reference kernel: the
    rollout of this kernel through a grid must agree with
    ``transport.simulate`` on the same grid (transport is Markov at the cube
    boundaries).

    Args:
        materials: material names, by material index (default :data:`MATERIALS`).
        cut_mev: the production and tracking cut of the MC.
        buffer: the MC's particle buffer (particles in flight at once).
        exit_capacity: the outgoing buffer (the kernel's ``capacity``).
        step_fraction: the MC's largest fractional continuous loss per step.
    """

    materials: tuple[str, ...] = ("Cu", "LAr")
    cut_mev: float = 10.0
    buffer: int = 64
    exit_capacity: int = 16
    step_fraction: float = 0.2

    @property
    def capacity(self) -> int:
        return self.exit_capacity

    def world(self):
        """The one-cube world (material 0, 1 cm) whose numbers each call replaces."""
        import numpy as np

        from hepjax.sim import transport

        return transport.Voxels(
            np.zeros((1, 1, 1), int),
            list(self.materials),
            voxel_cm=1.0,
            origin_cm=(-0.5, -0.5, -0.5),
        )

    def __call__(self, key: PRNGKeyArray, incident: Incident, cube: Cube) -> KernelResult:
        from hepjax.sim import transport

        from ._data import PDG_CODES

        a = cube.size_cm
        world = self.world()
        world = eqx.tree_at(
            lambda w: (w.cell_material, w.density_g_cm3, w.voxel_cm, w.origin_cm),
            world,
            (
                jnp.reshape(cube.material, (1,)).astype(jnp.int32),
                jnp.reshape(cube.density_g_cm3, (1, 1, 1)).astype(jnp.float32),
                jnp.asarray(a, jnp.float32),
                jnp.full((3,), -0.5, jnp.float32) * a,
            ),
        )
        pdg = jnp.asarray(PDG_CODES, jnp.int32)[incident.type]
        particle = transport.Particle(
            pdg, incident.energy_mev, incident.position, incident.direction
        )
        res = transport.simulate(
            key,
            world,
            particle,
            cut_mev=self.cut_mev,
            capacity=self.buffer,
            exit_capacity=self.exit_capacity,
            step_fraction=self.step_fraction,
        )
        ex = res.exiting
        kind = jnp.where(ex.pdg == 22, 0, jnp.where(ex.pdg == 11, 1, 2)).astype(jnp.int32)
        particles = Particles(
            type=kind,
            energy_mev=ex.energy_mev,
            position=ex.position,
            direction=ex.direction,
            mask=ex.mask,
        )
        deposit = jnp.sum(res.deposit_mev)
        return KernelResult(particles, deposit, res.overflow | res.truncated)
