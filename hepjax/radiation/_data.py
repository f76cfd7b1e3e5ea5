r"""The data of a next-particle kernel: incident particle, cube, outgoing set.

Coordinates
-----------
A cube of side $a$ (``size_cm``) is centred at the origin with its faces on
the coordinate planes $x_i = \pm a/2$. Every interaction is stored in the
cube's **canonical frame**: the proper rotation among the cube's 24
symmetries (a cyclic permutation of the axes, then a half turn about $x$ if
needed) that turns the entry face into the face $z = -a/2$, so the incident
particle enters from below moving upwards ($d_z > 0$). Unlike the
incident-direction frame of legofmt (incident direction along $+z$), this
keeps the cube axis aligned, so an exit point on $S^2$ maps back to the
cube surface by a plain ray-box intersection and the conditioning (entry
point $(x, y)$ on the face and direction) has no arbitrary azimuth. The
rollout applies the same rotation to every particle that enters a cube and
its inverse to what leaves (:func:`canonical_rotation`).

Per outgoing particle (Hildebrandt et al., arXiv:2605.06591):

- its type, ``0 = photon, 1 = electron, 2 = positron`` (:data:`TYPES`);
- $u = \log(|p| / |p_\text{in}|)$, with $|p| = \sqrt{T(T + 2m_e)}$ for
  e$^\pm$ of kinetic energy $T$ and $|p| = E$ for photons;
- its direction $\omega \in S^2$;
- its exit point $x$ on the cube surface, stored radially projected onto the
  unit sphere, $e = x / \|x\|$; back by the ray from the centre,
  $x = \tfrac{a}{2}\, e / \max_i |e_i|$ (:func:`sphere_to_surface`).

and per event the deposited fraction $f = E_\text{dep} / E_\text{in}$ and a
*pass-through* flag: the incident particle left the cube without any
interaction (one outgoing particle, the incident one, unchanged, nothing
deposited). Pass-through events are a point mass (legofmt gates them with a
separate head as well); the kernel models them with a Bernoulli.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

ELECTRON_MASS_MEV = 0.51099895
"""The electron mass in MeV (CODATA 2018)."""

TYPES = ("photon", "electron", "positron")
"""Particle types by index."""

PDG_CODES = (22, 11, -11)
"""PDG code of each type index."""

MATERIALS = ("Cu", "LAr")
"""The materials of the BRICKS set-up, by material index."""

CUBE_CM = (1.0, 10.0)
"""The cube side of each material in the BRICKS set-up (1 cm copper, 10 cm liquid argon)."""


def type_from_pdg(pdg: Int[ArrayLike, "..."]) -> Int[Array, "..."]:
    """Type index (0 photon, 1 electron, 2 positron) of PDG codes; ``-1`` for others."""
    pdg = jnp.asarray(pdg)
    return jnp.where(pdg == 22, 0, jnp.where(pdg == 11, 1, jnp.where(pdg == -11, 2, -1)))


def pdg_from_type(kind: Int[ArrayLike, "..."]) -> Int[Array, "..."]:
    """PDG code of type indices."""
    return jnp.asarray(PDG_CODES, jnp.int32)[jnp.asarray(kind)]


def momentum(kind: Int[ArrayLike, "..."], energy_mev: Float[ArrayLike, "..."]) -> Array:
    r"""$|p|$ in MeV: $E$ for photons, $\sqrt{T(T + 2m_e)}$ for e$^\pm$ of kinetic energy $T$."""
    t = jnp.asarray(energy_mev)
    return jnp.where(jnp.asarray(kind) == 0, t, jnp.sqrt(t * (t + 2 * ELECTRON_MASS_MEV)))


def kinetic_energy(kind: Int[ArrayLike, "..."], p_mev: Float[ArrayLike, "..."]) -> Array:
    r"""The inverse of :func:`momentum`: $T = \sqrt{p^2 + m_e^2} - m_e$ for e$^\pm$."""
    p = jnp.asarray(p_mev)
    m = ELECTRON_MASS_MEV
    # p^2 / (sqrt(p^2 + m^2) + m) avoids the cancellation at small p
    return jnp.where(jnp.asarray(kind) == 0, p, p * p / (jnp.sqrt(p * p + m * m) + m))


def surface_to_sphere(point: Float[ArrayLike, "... 3"]) -> Float[Array, "... 3"]:
    """Radial projection of points (cube frame) onto the unit sphere."""
    point = jnp.asarray(point)
    norm = jnp.sqrt(jnp.sum(point * point, axis=-1, keepdims=True))
    return point / jnp.where(norm > 0, norm, 1.0)


def sphere_to_surface(e: Float[ArrayLike, "... 3"], size_cm: Float[ArrayLike, "..."]) -> Array:
    r"""The cube-surface point on the ray from the centre along $e$: $\tfrac a2 e / \max_i|e_i|$."""
    e = jnp.asarray(e)
    half = 0.5 * jnp.asarray(size_cm)[..., None]
    top = jnp.max(jnp.abs(e), axis=-1, keepdims=True)
    return half * e / jnp.where(top > 0, top, 1.0)


def canonical_rotation(position: Float[ArrayLike, " 3"]) -> Float[Array, "3 3"]:
    r"""The cube symmetry $R$ that puts the entry face at $z = -a/2$.

    The entry face is the one the particle sits on (the axis $k$ of the
    largest $|x_k|$, so a particle on an edge or corner picks one face); the
    inward normal there is $-\operatorname{sign}(x_k)\,e_k$, and $R$ maps it to
    $+e_z$: the cyclic axis permutation taking $k$ to $z$, followed by a half
    turn about $x$ when the normal points down. $R$ is a signed permutation
    with $\det R = 1$; the canonical coordinates are $R x$, $R d$, and back
    $R^\top$.
    """
    position = jnp.asarray(position)
    k = jnp.argmax(jnp.abs(position))
    inward = -jnp.sign(position[k])
    inward = jnp.where(inward == 0, 1.0, inward)
    eye = jnp.eye(3, dtype=position.dtype)
    # cyclic permutation with axis k -> axis 2: rows (k+1, k+2, k) of the identity
    perm = jnp.stack([eye[(k + 1) % 3], eye[(k + 2) % 3], eye[k]])
    flip = jnp.diag(jnp.stack([jnp.ones_like(inward), inward, inward]))
    return flip @ perm


class Incident(eqx.Module):
    """One incident particle in the frame of a cube (centre at the origin).

    Attributes:
        type: type index (0 photon, 1 electron, 2 positron).
        energy_mev: kinetic energy (the energy for photons), MeV.
        direction: unit direction ``(3,)``.
        position: entry point ``(3,)`` on the cube surface, cm.
    """

    type: Int[Array, ""]
    energy_mev: Float[Array, ""]
    direction: Float[Array, " 3"]
    position: Float[Array, " 3"]

    def __init__(self, type, energy_mev, direction, position):
        self.type = jnp.asarray(type, jnp.int32)
        self.energy_mev = jnp.asarray(energy_mev, jnp.float32)
        self.direction = jnp.asarray(direction, jnp.float32)
        self.position = jnp.asarray(position, jnp.float32)


class Cube(eqx.Module):
    """One cube of material.

    Attributes:
        material: material index into the kernel's material list (:data:`MATERIALS`).
        density_g_cm3: density, g/cm³.
        size_cm: side length, cm.
    """

    material: Int[Array, ""]
    density_g_cm3: Float[Array, ""]
    size_cm: Float[Array, ""]

    def __init__(self, material, density_g_cm3, size_cm):
        self.material = jnp.asarray(material, jnp.int32)
        self.density_g_cm3 = jnp.asarray(density_g_cm3, jnp.float32)
        self.size_cm = jnp.asarray(size_cm, jnp.float32)


class Particles(eqx.Module):
    """A padded set of particles in a cube's frame.

    Attributes:
        type: ``(k,)`` type indices.
        energy_mev: ``(k,)`` kinetic energies.
        position: ``(k, 3)`` positions (exit points on the surface), cm.
        direction: ``(k, 3)`` unit directions.
        mask: ``(k,)`` which rows are particles.
    """

    type: Int[Array, " k"]
    energy_mev: Float[Array, " k"]
    position: Float[Array, "k 3"]
    direction: Float[Array, "k 3"]
    mask: Bool[Array, " k"]


class KernelResult(eqx.Module):
    """What one application of a kernel to one incident particle and one cube returns.

    Attributes:
        particles: the outgoing particles (above the cut) in the cube frame.
        deposit_mev: the energy deposited in the cube, MeV.
        overflow: the outgoing set did not fit in the buffer.
    """

    particles: Particles
    deposit_mev: Float[Array, ""]
    overflow: Bool[Array, ""]


class Interactions(eqx.Module):
    r"""Single-cube interactions in the canonical frame; one event or a batch (leading axes).

    Attributes:
        incident_type: type index of the incident particle.
        incident_energy_mev: its kinetic energy.
        incident_direction: ``(3,)`` its direction ($d_z > 0$).
        incident_position: ``(3,)`` its entry point (on the face $z = -a/2$).
        material: material index.
        density_g_cm3: density.
        size_cm: cube side.
        out_type: ``(k,)`` outgoing types.
        out_log_p: ``(k,)`` $\log(|p| / |p_\text{in}|)$.
        out_direction: ``(k, 3)`` outgoing directions on $S^2$.
        out_exit: ``(k, 3)`` exit points projected onto $S^2$.
        out_mask: ``(k,)`` which rows are particles.
        edep_fraction: $E_\text{dep} / E_\text{in}$, sub-cut outgoing particles
            included (:func:`to_interaction`).
        passthrough: the incident particle crossed without interacting.
    """

    incident_type: Int[Array, "*b"]
    incident_energy_mev: Float[Array, "*b"]
    incident_direction: Float[Array, "*b 3"]
    incident_position: Float[Array, "*b 3"]
    material: Int[Array, "*b"]
    density_g_cm3: Float[Array, "*b"]
    size_cm: Float[Array, "*b"]
    out_type: Int[Array, "*b k"]
    out_log_p: Float[Array, "*b k"]
    out_direction: Float[Array, "*b k 3"]
    out_exit: Float[Array, "*b k 3"]
    out_mask: Bool[Array, "*b k"]
    edep_fraction: Float[Array, "*b"]
    passthrough: Bool[Array, "*b"]

    @property
    def incident(self) -> Incident:
        return Incident(
            self.incident_type,
            self.incident_energy_mev,
            self.incident_direction,
            self.incident_position,
        )

    @property
    def cube(self) -> Cube:
        return Cube(self.material, self.density_g_cm3, self.size_cm)

    @property
    def counts(self) -> Int[Array, "*b 3"]:
        """Number of outgoing photons, electrons and positrons."""
        onehot = self.out_type[..., None] == jnp.arange(3)
        return jnp.sum(onehot & self.out_mask[..., None], axis=-2).astype(jnp.int32)

    def to_dict(self) -> dict[str, np.ndarray]:
        """The fields as NumPy arrays (for HDF5 and :class:`hepjax.data.ArrayDataset`)."""
        return {name: np.asarray(getattr(self, name)) for name in FIELDS}

    @classmethod
    def from_dict(cls, arrays) -> "Interactions":
        """Rebuild from :meth:`to_dict` (or an HDF5 file's fields)."""
        missing = [name for name in FIELDS if name not in arrays]
        if missing:
            raise KeyError(f"arrays: missing Interactions fields {missing}")
        return cls(**{name: jnp.asarray(arrays[name], FIELDS[name][1]) for name in FIELDS})


FIELDS = {
    "incident_type": ((), np.int32),
    "incident_energy_mev": ((), np.float32),
    "incident_direction": ((3,), np.float32),
    "incident_position": ((3,), np.float32),
    "material": ((), np.int32),
    "density_g_cm3": ((), np.float32),
    "size_cm": ((), np.float32),
    "out_type": ((None,), np.int32),
    "out_log_p": ((None,), np.float32),
    "out_direction": ((None, 3), np.float32),
    "out_exit": ((None, 3), np.float32),
    "out_mask": ((None,), np.bool_),
    "edep_fraction": ((), np.float32),
    "passthrough": ((), np.bool_),
}
"""Interactions field -> (per-event shape, ``None`` = the padded axis; dtype)."""


def _sort_rows(kind, mask, *arrays):
    """Order the rows by type (photons, electrons, positrons), real rows first, stably."""
    order_key = jnp.where(mask, kind, 3)
    order = jnp.argsort(order_key, stable=True)
    return [a[order] for a in (kind, mask, *arrays)]


def to_interaction(
    incident: Incident,
    cube: Cube,
    result: KernelResult,
    *,
    cut_mev: float = 10.0,
) -> Interactions:
    r"""The canonical representation of one kernel (or MC) outcome.

    ``incident`` and ``result`` are in the cube frame (centre at the origin);
    both are rotated by :func:`canonical_rotation`. Outgoing particles below
    ``cut_mev`` are dropped and their energy is added to the deposit
    (kinetic energy, plus $2 m_e$ for a positron, which annihilates at rest):
    the transport MC stops them just across the face, so a kernel that
    deposits it in this cube keeps rollouts energy-complete, with that
    energy one cube early (about 3% of the incident energy for 1 cm copper,
    1% for 10 cm argon, in the BRICKS set-up). Rows are ordered by type.

    Args:
        incident: the incident particle, in the cube frame.
        cube: the cube it enters.
        result: the kernel's (or the transport MC's) outgoing particles and deposit, in the cube
            frame.
        cut_mev: kinetic-energy threshold in MeV below which outgoing particles are folded into the
            deposit.
    """
    r = canonical_rotation(incident.position)
    parts = result.particles
    mask = parts.mask & (parts.energy_mev >= cut_mev)
    p_in = momentum(incident.type, incident.energy_mev)
    p_out = momentum(parts.type, jnp.maximum(parts.energy_mev, 1e-30))
    log_p = jnp.where(mask, jnp.log(jnp.maximum(p_out, 1e-30) / p_in), 0.0)
    direction = parts.direction @ r.T
    exit_ = surface_to_sphere(parts.position @ r.T)
    ez = jnp.array([0.0, 0.0, 1.0], direction.dtype)
    direction = jnp.where(mask[:, None], direction, ez)
    exit_ = jnp.where(mask[:, None], exit_, ez)
    kind = jnp.where(mask, parts.type, 0)
    kind, mask, log_p, direction, exit_ = _sort_rows(kind, mask, log_p, direction, exit_)
    below = parts.mask & (parts.energy_mev < cut_mev)
    stopped = parts.energy_mev + jnp.where(parts.type == 2, 2 * ELECTRON_MASS_MEV, 0.0)
    deposit = result.deposit_mev + jnp.sum(jnp.where(below, stopped, 0.0))
    fraction = deposit / incident.energy_mev
    d_in = r @ incident.direction
    unchanged = (
        (jnp.sum(mask) == 1)
        & (kind[0] == incident.type)
        & (jnp.abs(log_p[0]) < 1e-6)
        & (jnp.dot(direction[0], d_in) > 1.0 - 1e-6)
        & (deposit <= 1e-6 * incident.energy_mev)
    )
    return Interactions(
        incident_type=incident.type,
        incident_energy_mev=incident.energy_mev,
        incident_direction=d_in,
        incident_position=r @ incident.position,
        material=cube.material,
        density_g_cm3=cube.density_g_cm3,
        size_cm=cube.size_cm,
        out_type=kind.astype(jnp.int32),
        out_log_p=log_p,
        out_direction=direction,
        out_exit=exit_,
        out_mask=mask,
        edep_fraction=fraction,
        passthrough=unchanged,
    )


def from_transport(
    result,
    incident: Incident,
    cube: Cube,
    *,
    centre=(0.0, 0.0, 0.0),
    cut_mev: float = 10.0,
) -> Interactions:
    """Convert one ``hepjax.sim.transport.simulate`` result for a one-cube world.

    Args:
        result: the transport result (``deposit_mev`` with one voxel, ``exiting``).
        incident: the incident particle in the cube frame (as simulated, shifted by ``centre``).
        cube: the cube.
        centre: the cube centre in the world coordinates of the simulation.
        cut_mev: outgoing particles below this kinetic energy are dropped.

    Returns:
        One event of :class:`Interactions`.
    """
    ex = result.exiting
    kind = type_from_pdg(ex.pdg)
    particles = Particles(
        type=jnp.maximum(kind, 0).astype(jnp.int32),
        energy_mev=jnp.asarray(ex.energy_mev, jnp.float32),
        position=jnp.asarray(ex.position, jnp.float32) - jnp.asarray(centre, jnp.float32),
        direction=jnp.asarray(ex.direction, jnp.float32),
        mask=jnp.asarray(ex.mask) & (kind >= 0),
    )
    deposit = jnp.sum(jnp.asarray(result.deposit_mev, jnp.float32))
    out = KernelResult(particles, deposit, jnp.asarray(result.overflow))
    return to_interaction(incident, cube, out, cut_mev=cut_mev)


def outgoing_particles(inter: Interactions) -> Particles:
    r"""The outgoing set of one event as particles in the canonical cube frame.

    Inverts the representation: $T$ from $|p| = |p_\text{in}| e^u$, the exit
    point from the ray through $e$ (:func:`sphere_to_surface`).
    """
    p_in = momentum(inter.incident_type, inter.incident_energy_mev)
    p = p_in * jnp.exp(inter.out_log_p)
    energy = jnp.where(inter.out_mask, kinetic_energy(inter.out_type, p), 0.0)
    position = sphere_to_surface(inter.out_exit, inter.size_cm)
    return Particles(
        type=inter.out_type,
        energy_mev=energy,
        position=position,
        direction=inter.out_direction,
        mask=inter.out_mask,
    )


def random_incident(
    key,
    cube_size_cm: Float[ArrayLike, ""],
    *,
    energy_range_mev: tuple[float, float] = (10.0, 300.0),
    forward_fraction: float = 0.5,
    forward_angle_deg: float = 15.0,
) -> Incident:
    r"""An incident particle of the BRICKS set-up, in the canonical frame.

    Type uniform over $\gamma, e^-, e^+$; kinetic energy log-uniform in
    ``energy_range_mev``; entry point uniform on the face $z = -a/2$;
    direction around the face normal $+z$, with $\cos\theta$ uniform on
    $[\cos\theta_f, 1]$ with probability ``forward_fraction`` (near-normal
    incidence, as for a beam) and on $[0, 1]$ otherwise (the whole inward
    hemisphere: particles that enter a neighbouring cube in a rollout do so
    at any angle), and a uniform azimuth.

    Args:
        key: PRNG key of the draw.
        cube_size_cm: the cube side $a$ in cm (the entry face is $z = -a/2$).
        energy_range_mev: ``(low, high)`` kinetic-energy range in MeV, sampled log-uniformly.
        forward_fraction: probability of a near-normal direction (within ``forward_angle_deg``).
        forward_angle_deg: the half-opening angle $\theta_f$ in degrees of the near-normal
            directions.
    """
    k = jax.random.split(key, 6)
    lo, hi = energy_range_mev
    kind = jax.random.randint(k[0], (), 0, 3)
    energy = jnp.exp(jax.random.uniform(k[1], (), minval=math.log(lo), maxval=math.log(hi)))
    half = 0.5 * jnp.asarray(cube_size_cm, jnp.float32)
    xy = jax.random.uniform(k[2], (2,), minval=-1.0, maxval=1.0) * half
    forward = jax.random.uniform(k[3]) < forward_fraction
    cmin = jnp.where(forward, math.cos(math.radians(forward_angle_deg)), 0.0)
    cos = jax.random.uniform(k[4], (), minval=cmin, maxval=1.0)
    cos = jnp.maximum(cos, 1e-3)
    phi = jax.random.uniform(k[5], (), maxval=2 * math.pi)
    sin = jnp.sqrt(1.0 - cos * cos)
    direction = jnp.stack([sin * jnp.cos(phi), sin * jnp.sin(phi), cos])
    position = jnp.concatenate([xy, -half[None]])
    return Incident(kind, energy, direction, position)
