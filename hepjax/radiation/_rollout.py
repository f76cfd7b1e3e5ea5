r"""Composition: chain a next-particle kernel through a voxel grid of cubes.

The world is a grid of $N_x \times N_y \times N_z$ cubes of side $a$
(``voxel_cm``), voxel $(i, j, k)$ spanning $[i a, (i+1) a] \times [j a, (j+1) a]
\times [k a, (k+1) a]$, each with its own material index and density. Particle
transport is local and Markov, so a particle's fate in one cube depends only
on its state where it enters (Hildebrandt et al., arXiv:2605.06591). The
rollout runs in *waves*: every live particle sits on the surface of the cube
it is entering; one wave applies the kernel to all of them at once (``vmap``
over a fixed-capacity buffer, in the cube's canonical frame,
:func:`hepjax.radiation.canonical_rotation`), adds each deposit to its cube,
and turns every outgoing particle into a particle entering the neighbour
across its exit face, or into a particle leaving the world. Waves repeat in
a ``lax.while_loop`` until no particle is live.

The cut follows ``hepjax.sim.transport``: an outgoing particle below
``cut_mev`` that crosses into a neighbour stops there and deposits its
kinetic energy in the neighbour (a positron annihilates at rest there, adding
$2 m_e$), and any particle crossing the world's surface leaves it, whatever
its energy. With the MC as the kernel (:class:`TransportKernel`) the rollout
is then the MC itself, cube by cube. Note that the BRICKS representation
drops outgoing particles below the cut, so a learned kernel never produces
them and their (small) energy is missing from its rollouts.

A learned kernel can return a particle whose direction points back into the
cube it leaves; it then enters the neighbour at the smallest inward angle
($|d_k| \ge 10^{-3}$ along the face normal), which is recorded nowhere else.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from .._core import check_positive, check_positive_int, concrete_value
from ._data import ELECTRON_MASS_MEV, Cube, Incident, Particles, canonical_rotation
from ._kernels import AbstractKernel


class Grid(eqx.Module):
    """A voxel grid of cubes.

    Args:
        material_index: ``(nx, ny, nz)`` material index per cube.
        density_g_cm3: ``(nx, ny, nz)`` density per cube (or a scalar for all).
        voxel_cm: the cube side, cm.
    """

    material_index: Int[Array, "nx ny nz"]
    density_g_cm3: Float[Array, "nx ny nz"]
    voxel_cm: float = eqx.field(static=True)

    def __init__(self, material_index, density_g_cm3, voxel_cm: float):
        material_index = np.asarray(material_index)
        if material_index.ndim != 3:
            raise ValueError(
                f"material_index must be a 3-d grid (nx, ny, nz), got shape {material_index.shape}"
            )
        if not np.issubdtype(material_index.dtype, np.integer):
            raise TypeError(f"material_index must hold integers, got {material_index.dtype}")
        if np.any(material_index < 0):
            raise ValueError("material_index must be non-negative")
        density = jnp.broadcast_to(jnp.asarray(density_g_cm3, jnp.float32), material_index.shape)
        try:
            bad = bool(np.any(np.asarray(density) <= 0))
        except jax.errors.ConcretizationTypeError:
            bad = False
        if bad:
            raise ValueError("density_g_cm3 must be positive in every cube")
        check_positive("voxel_cm", voxel_cm)
        self.material_index = jnp.asarray(material_index, jnp.int32)
        self.density_g_cm3 = density
        self.voxel_cm = float(voxel_cm)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.material_index.shape)


class RolloutResult(eqx.Module):
    """What :func:`rollout` returns.

    Attributes:
        deposit_mev: ``(nx, ny, nz)`` energy deposited per cube.
        exiting: the particles leaving the world (world coordinates), ``capacity`` rows.
        overflow: a buffer was too small or ``max_waves`` ran out (deposits are then incomplete).
        num_waves: the waves run.
    """

    deposit_mev: Float[Array, "nx ny nz"]
    exiting: Particles
    overflow: Bool[Array, ""]
    num_waves: Int[Array, ""]


def _empty_particles(capacity: int) -> Particles:
    return Particles(
        type=jnp.zeros(capacity, jnp.int32),
        energy_mev=jnp.zeros(capacity, jnp.float32),
        position=jnp.zeros((capacity, 3), jnp.float32),
        direction=jnp.zeros((capacity, 3), jnp.float32).at[:, 2].set(1.0),
        mask=jnp.zeros(capacity, bool),
    )


def _scatter(buffer, flags, offset, values, capacity):
    """Write the rows of ``values`` where ``flags`` to ``buffer`` at ``offset, offset+1, ...``."""
    idx = offset + jnp.cumsum(flags) - 1
    idx = jnp.where(flags, idx, capacity)  # out of range: dropped
    return jax.tree.map(lambda b, v: b.at[idx].set(v, mode="drop"), buffer, values)


def rollout(
    key: PRNGKeyArray,
    kernel: AbstractKernel,
    grid: Grid,
    incident: Incident,
    *,
    cut_mev: float = 10.0,
    capacity: int = 256,
    wave_size: int | None = None,
    max_waves: int = 64,
) -> RolloutResult:
    r"""Simulate one incident particle through ``grid`` by chaining ``kernel`` cube to cube.

    Args:
        key: PRNG key.
        kernel: any :class:`AbstractKernel`: the learned
            :class:`NextParticleKernel`, the transport MC
            (:class:`TransportKernel`) or :class:`ToyKernel`.
        grid: the :class:`Grid`.
        incident: the incident particle in world coordinates, on the world's
            surface (or on a cube face inside it) and pointing into the cube it enters.
        cut_mev: particles below this kinetic energy stop in the next cube (module notes).
        capacity: live-particle and exiting-particle buffer size.
        wave_size: how many live particles one wave steps (default ``capacity``):
            the kernel runs on this many slots per wave, so a ``wave_size``
            near the typical number of live particles saves work when the
            kernel is expensive (the rest wait for the next wave, in order;
            the result has the same distribution).
        max_waves: the most waves.

    Returns:
        A :class:`RolloutResult`. ``jit`` and ``vmap`` over keys and incident particles.
    """
    if not isinstance(kernel, AbstractKernel):
        raise TypeError(
            "kernel must be a hepjax.radiation kernel (an AbstractKernel), "
            f"got {type(kernel).__name__}"
        )
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a hepjax.radiation.Grid, got {type(grid).__name__}")
    if not isinstance(incident, Incident):
        raise TypeError(
            f"incident must be a hepjax.radiation.Incident, got {type(incident).__name__}"
        )
    capacity = check_positive_int("capacity", capacity)
    max_waves = check_positive_int("max_waves", max_waves)
    wave_size = capacity if wave_size is None else check_positive_int("wave_size", wave_size)
    if wave_size > capacity:
        raise ValueError(f"wave_size must be at most capacity ({capacity}), got {wave_size}")
    check_positive("cut_mev", cut_mev)
    energy, direction = concrete_value(incident.energy_mev), concrete_value(incident.direction)
    if energy is not None and not float(energy) > 0:
        raise ValueError(f"incident.energy_mev must be positive, got {float(energy)}")
    if direction is not None and abs(float(np.linalg.norm(direction)) - 1.0) > 1e-4:
        raise ValueError(f"incident.direction must be a unit vector, got {direction.tolist()}")
    kind = concrete_value(incident.type)
    if kind is not None and int(kind) not in (0, 1, 2):
        raise ValueError(f"incident.type must be 0 (photon), 1 (e-) or 2 (e+), got {int(kind)}")
    a = grid.voxel_cm
    shape = jnp.asarray(grid.shape)
    k_out = kernel.capacity

    # first cube: the one the particle points into
    inside = incident.position + 1e-4 * a * incident.direction
    voxel0 = jnp.floor(inside / a).astype(jnp.int32)
    centre0 = (voxel0 + 0.5) * a
    local0 = incident.position - centre0
    face0 = jnp.argmax(jnp.abs(local0))
    local0 = jnp.where(
        jnp.arange(3) == face0,
        local0,
        jnp.clip(local0, -0.5 * a * (1 - 1e-5), 0.5 * a * (1 - 1e-5)),
    )
    start = Particles(
        type=jnp.asarray(incident.type, jnp.int32)[None],
        energy_mev=jnp.asarray(incident.energy_mev, jnp.float32)[None],
        position=local0[None],
        direction=incident.direction[None],
        mask=jnp.all((voxel0 >= 0) & (voxel0 < shape))[None] & (incident.energy_mev >= cut_mev),
    )
    live = _scatter(_empty_particles(capacity), start.mask, 0, start, capacity)
    voxels = jnp.zeros((capacity, 3), jnp.int32).at[0].set(voxel0)
    exiting = _empty_particles(capacity)
    # a particle that starts outside the world leaves at once
    outside = ~start.mask & (incident.energy_mev >= cut_mev)
    world_start = Particles(
        type=start.type,
        energy_mev=start.energy_mev,
        position=incident.position[None],
        direction=start.direction,
        mask=outside,
    )
    exiting = _scatter(exiting, world_start.mask, 0, world_start, capacity)
    deposit = jnp.zeros(grid.shape, jnp.float32)
    init = (
        key,
        live,
        voxels,
        exiting,
        jnp.sum(outside).astype(jnp.int32),
        deposit,
        jnp.asarray(False),
        jnp.asarray(0, jnp.int32),
    )

    def cond(state):
        _, live, _, _, _, _, _, wave = state
        return jnp.any(live.mask) & (wave < max_waves)

    def body(state):
        key, buffer, buffer_vox, exiting, n_exit, deposit, overflow, wave = state
        # the first wave_size live particles (the buffer is compacted) take a step
        live = jax.tree.map(lambda x: x[:wave_size], buffer)
        voxels = buffer_vox[:wave_size]
        waiting = jax.tree.map(lambda x: x[wave_size:], buffer)
        waiting_vox = buffer_vox[wave_size:]
        key, k_wave = jax.random.split(key)
        keys = jax.random.split(k_wave, wave_size)
        safe_vox = jnp.clip(voxels, 0, shape - 1)
        mat = grid.material_index[safe_vox[:, 0], safe_vox[:, 1], safe_vox[:, 2]]
        rho = grid.density_g_cm3[safe_vox[:, 0], safe_vox[:, 1], safe_vox[:, 2]]
        # dead slots get a harmless stand-in incident particle
        dummy_pos = jnp.array([0.0, 0.0, -0.5 * a], jnp.float32)
        pos = jnp.where(live.mask[:, None], live.position, dummy_pos)
        dirn = jnp.where(live.mask[:, None], live.direction, jnp.array([0.0, 0.0, 1.0]))
        energy = jnp.where(live.mask, live.energy_mev, 100.0)

        def one(k, kind, e, p, d, m, r_):
            rot = canonical_rotation(p)
            res = kernel(k, Incident(kind, e, rot @ d, rot @ p), Cube(m, r_, a))
            parts = res.particles
            # back to the cube frame: x = R^T x'
            return (
                parts.type,
                parts.energy_mev,
                parts.position @ rot,
                parts.direction @ rot,
                parts.mask,
                res.deposit_mev,
                res.overflow,
            )

        types, e_out, p_out, d_out, m_out, dep, k_over = jax.vmap(one)(
            keys, live.type, energy, pos, dirn, mat, rho
        )
        m_out = m_out & live.mask[:, None]
        dep = jnp.where(live.mask, dep, 0.0)
        deposit = deposit.at[safe_vox[:, 0], safe_vox[:, 1], safe_vox[:, 2]].add(dep)
        overflow = overflow | jnp.any(k_over & live.mask)

        # exit face -> neighbour; on an edge or corner the face the particle moves out of
        # fastest wins
        outward = jnp.sign(p_out) * d_out
        axis = jnp.argmax(jnp.abs(p_out) + 1e-5 * a * outward, axis=-1)  # (C, K)
        onehot = jax.nn.one_hot(axis, 3, dtype=jnp.int32)
        side = jnp.sign(jnp.take_along_axis(p_out, axis[..., None], -1)[..., 0])
        side = jnp.where(side == 0, 1, side).astype(jnp.int32)
        neighbour = voxels[:, None, :] + side[..., None] * onehot
        in_world = jnp.all((neighbour >= 0) & (neighbour < shape), axis=-1)
        new_pos = p_out - (side[..., None] * onehot) * a
        # keep entry points strictly inside their face, so the entry face is unambiguous
        lateral = jnp.clip(new_pos, -0.5 * a * (1 - 1e-5), 0.5 * a * (1 - 1e-5))
        new_pos = jnp.where(onehot == 1, new_pos, lateral)
        normal = jnp.sum(d_out * onehot, axis=-1) * side
        fixed = jnp.where(normal < 1e-3, 1e-3, normal) * side
        d_new = jnp.where(onehot == 1, fixed[..., None], d_out)
        d_new = d_new / jnp.sqrt(jnp.sum(d_new * d_new, axis=-1, keepdims=True))

        # below the cut: stop in the neighbour, depositing there (a positron annihilates at
        # rest there too); leaving the world, any particle exits
        below = m_out & in_world & (e_out < cut_mev)
        stop_e = e_out + jnp.where(types == 2, 2 * ELECTRON_MASS_MEV, 0.0)
        nb = jnp.clip(neighbour, 0, shape - 1).reshape(-1, 3)
        deposit = deposit.at[nb[:, 0], nb[:, 1], nb[:, 2]].add(
            jnp.where(below, stop_e, 0.0).reshape(-1)
        )
        flat = lambda x: x.reshape((wave_size * k_out, *x.shape[2:]))
        go_on = flat(m_out & in_world & ~below)
        leave = flat(m_out & ~in_world)
        centre = (voxels[:, None, :] + 0.5) * a
        cand = Particles(flat(types), flat(e_out), flat(new_pos), flat(d_new), go_on)
        # the waiting particles first, then the new ones
        cand = jax.tree.map(lambda w, c: jnp.concatenate([w, c]), waiting, cand)
        cand_vox = jnp.concatenate([waiting_vox, flat(neighbour)])
        new_live = _scatter(_empty_particles(capacity), cand.mask, 0, cand, capacity)
        new_vox = _scatter(jnp.zeros((capacity, 3), jnp.int32), cand.mask, 0, cand_vox, capacity)
        gone = Particles(flat(types), flat(e_out), flat(p_out + centre), flat(d_out), leave)
        exiting = _scatter(exiting, leave, n_exit, gone, capacity)
        n_live, n_leave = jnp.sum(cand.mask), jnp.sum(leave)
        overflow = overflow | (n_live > capacity) | (n_exit + n_leave > capacity)
        return (key, new_live, new_vox, exiting, n_exit + n_leave, deposit, overflow, wave + 1)

    state = jax.lax.while_loop(cond, body, init)
    _, live, _, exiting, _, deposit, overflow, wave = state
    overflow = overflow | jnp.any(live.mask)
    return RolloutResult(deposit, exiting, overflow, wave)


def incident_on_face(
    grid: Grid,
    type,
    energy_mev: Float[ArrayLike, ""],
    *,
    xy_cm=None,
    direction=(0.0, 0.0, 1.0),
) -> Incident:
    """An incident particle on the world's lower face $z = 0$ (default: its centre), moving up.

    Args:
        grid: the voxel grid of cubes.
        type: particle type index (0 photon, 1 electron, 2 positron).
        energy_mev: kinetic energy (the energy for a photon) in MeV.
        xy_cm: ``(2,)`` entry point on the face in cm, in the world's frame (default: the face's
            centre).
        direction: ``(3,)`` unit direction, with a positive $z$ component.
    """
    nx, ny, _ = grid.shape
    a = grid.voxel_cm
    if xy_cm is None:
        xy_cm = (0.5 * nx * a, 0.5 * ny * a)
    xy = jnp.asarray(xy_cm, jnp.float32)
    return Incident(type, energy_mev, direction, jnp.concatenate([xy, jnp.zeros(1)]))
