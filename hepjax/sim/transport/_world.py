r"""Worlds (geometry + materials) and incident particles of the transport code.

A world is a rectilinear grid of cells, each with a material and a density:
:class:`Slabs` (layers along $+z$ from $z=0$, infinite in $x$ and $y$) and
:class:`Voxels` (a general $n_x\times n_y\times n_z$ grid of cubes). Lengths in
cm, densities in g/cm$^3$. Thicknesses, voxel size and densities are array
leaves, so they can be traced and differentiated; the materials (their
compositions) are static and their cross-section tables are built once, at
construction, in NumPy.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from hepjax._core import concrete_value
from hepjax.physics import Material, material

from . import _xsec

BIG = 1e20  # cm: the "planes" of the unbounded directions of Slabs

#: supported particle codes (PDG Monte Carlo numbering) and their internal types
PDG_CODES = (22, 11, -11)
PHOTON, ELECTRON, POSITRON = 0, 1, 2


def _resolve(materials, argname: str = "materials") -> tuple[Material, ...]:
    if isinstance(materials, str | Material):
        materials = [materials]
    out = []
    for m in materials:
        if isinstance(m, str):
            try:
                m = material(m)
            except ValueError as err:
                raise ValueError(f"{argname}: {err}") from None
        elif not isinstance(m, Material):
            raise TypeError(
                f"{argname} must hold material names or hepjax.physics.Material, got {m!r}"
            )
        if m.composition is None:
            raise ValueError(
                f"{argname}: material {m.name!r} has no composition (elements and mass "
                "fractions); build it with Material.element/mixture/compound"
            )
        out.append(m)
    if not out:
        raise ValueError(f"{argname} must name at least one material")
    return tuple(out)


def _check_positive(name: str, value) -> None:
    v = concrete_value(value)
    if v is not None and not (np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError(f"{name} must be positive and finite, got {np.asarray(v)!r}")


class _Tables(eqx.Module):
    """Per-material constants of the physics (leading axis: material)."""

    table: Float[Array, "m g 5"]
    x0: Float[Array, " m"]  # g/cm^2
    zoa: Float[Array, " m"]  # mol/g
    zpair: Float[Array, " m"]
    fcoul: Float[Array, " m"]
    density: Float[Array, " m"]  # nominal, g/cm^3

    @classmethod
    def build(cls, mats: tuple[Material, ...]) -> _Tables:
        with jax.ensure_compile_time_eval():  # concrete even when built under jit
            return cls._build(mats)

    @classmethod
    def _build(cls, mats: tuple[Material, ...]) -> _Tables:
        zp = [_xsec.pair_screening_z(m) for m in mats]
        return cls(
            table=jnp.asarray(np.stack([_xsec.material_table(m) for m in mats])),
            x0=jnp.asarray([float(concrete_value(m.X0)) for m in mats], jnp.float32),
            zoa=jnp.asarray([float(concrete_value(m.Z_over_A)) for m in mats], jnp.float32),
            zpair=jnp.asarray(zp, jnp.float32),
            fcoul=jnp.asarray([_xsec.coulomb_correction(z) for z in zp], jnp.float32),
            density=jnp.asarray([float(concrete_value(m.density)) for m in mats], jnp.float32),
        )


class AbstractWorld(eqx.Module):
    """A rectilinear grid of cells with a material and a density each."""

    materials: eqx.AbstractVar[tuple[Material, ...]]
    tables: eqx.AbstractVar[_Tables]

    @abc.abstractmethod
    def grid(self):  # pragma: no cover - interface
        """``(planes_x, planes_y, planes_z, material_of_cell, density_of_cell)``."""
        raise NotImplementedError

    @abc.abstractmethod
    def deposit_shape(self) -> tuple[int, ...]:  # pragma: no cover - interface
        raise NotImplementedError

    @abc.abstractmethod
    def value_checks(self) -> list[tuple[str, Array]]:  # pragma: no cover - interface
        raise NotImplementedError


class Slabs(AbstractWorld):
    r"""Layers along $+z$, starting at $z=0$, infinite in $x$ and $y$.

    Args:
        materials: one material (name such as ``"Pb"`` or :class:`hepjax.physics.Material`)
            per layer.
        thickness_cm: ``(L,)`` layer thicknesses in cm (traceable).
        density_g_cm3: ``None`` for the materials' nominal densities, or ``(L,)``
            densities overriding them (traceable). The density scales the
            macroscopic cross sections and stopping powers; the density-effect
            correction stays the nominal material's.

    ``simulate(...).deposit_mev`` has shape ``(L,)``.
    """

    materials: tuple[Material, ...]
    thickness_cm: Float[Array, " l"]
    density_g_cm3: Float[Array, " l"]
    layer_material: tuple[int, ...] = eqx.field(static=True)
    tables: _Tables

    def __init__(self, materials, thickness_cm, density_g_cm3=None):
        names = [materials] if isinstance(materials, str | Material) else list(materials)
        mats = _resolve(names)
        uniq: list[Material] = []
        index = []
        for m in mats:
            for j, u in enumerate(uniq):
                if u is m or (u.name == m.name and u.composition == m.composition):
                    index.append(j)
                    break
            else:
                index.append(len(uniq))
                uniq.append(m)
        thickness = jnp.asarray(thickness_cm, jnp.float32)
        if thickness.ndim == 0:
            thickness = jnp.broadcast_to(thickness, (len(mats),))
        if thickness.shape != (len(mats),):
            raise ValueError(
                f"thickness_cm must have one entry per layer ({len(mats)}), "
                f"got shape {thickness.shape}"
            )
        _check_positive("thickness_cm", thickness_cm)
        if density_g_cm3 is None:
            dens = jnp.asarray([float(concrete_value(m.density)) for m in mats], jnp.float32)
        else:
            _check_positive("density_g_cm3", density_g_cm3)
            dens = jnp.asarray(density_g_cm3, jnp.float32)
            if dens.ndim == 0:
                dens = jnp.broadcast_to(dens, (len(mats),))
            if dens.shape != (len(mats),):
                raise ValueError(
                    f"density_g_cm3 must have one entry per layer ({len(mats)}), "
                    f"got shape {dens.shape}"
                )
        self.materials = tuple(uniq)
        self.thickness_cm = thickness
        self.density_g_cm3 = dens
        self.layer_material = tuple(index)
        self.tables = _Tables.build(self.materials)

    def grid(self):
        big = jnp.asarray([-BIG, BIG], jnp.float32)
        z = jnp.concatenate([jnp.zeros(1, jnp.float32), jnp.cumsum(self.thickness_cm)])
        return big, big, z, jnp.asarray(self.layer_material, jnp.int32), self.density_g_cm3

    def deposit_shape(self):
        return (len(self.layer_material),)

    def value_checks(self):
        return [("thickness_cm", self.thickness_cm), ("density_g_cm3", self.density_g_cm3)]


class Voxels(AbstractWorld):
    r"""A grid of cubic voxels of side ``voxel_cm``, each of one material.

    Args:
        material_index: ``(nx, ny, nz)`` integer array: the index into
            ``materials`` of each voxel (static: concrete NumPy/JAX integers).
        materials: material names or :class:`hepjax.physics.Material` objects.
        voxel_cm: the voxel side in cm (traceable).
        density_g_cm3: ``None`` (nominal densities), ``(M,)`` one per material,
            or ``(nx, ny, nz)`` one per voxel (traceable).
        origin_cm: the grid's lower corner; by default
            $(-n_x v/2, -n_y v/2, 0)$: centred on the $z$ axis, starting at $z=0$
            (so a particle at the origin moving along $+z$ enters the middle of
            the front face).

    ``simulate(...).deposit_mev`` has shape ``(nx, ny, nz)``. A single cube is
    ``Voxels(np.zeros((1, 1, 1), int), ["Cu"], voxel_cm=1.0)``.
    """

    materials: tuple[Material, ...]
    voxel_cm: Float[Array, ""]
    density_g_cm3: Float[Array, "nx ny nz"]
    origin_cm: Float[Array, " 3"]
    cell_material: Int[Array, " n"]
    shape: tuple[int, int, int] = eqx.field(static=True)
    tables: _Tables

    def __init__(self, material_index, materials, voxel_cm=1.0, density_g_cm3=None, origin_cm=None):
        mats = _resolve(materials)
        idx = concrete_value(material_index)
        if idx is None:
            raise ValueError("material_index must be concrete (not traced): it fixes the grid")
        idx = np.asarray(idx)
        if idx.ndim != 3 or min(idx.shape) < 1:
            raise ValueError(f"material_index must have shape (nx, ny, nz), got {idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"material_index must be an integer array, got dtype {idx.dtype}")
        if idx.min() < 0 or idx.max() >= len(mats):
            raise ValueError(
                f"material_index values must lie in [0, {len(mats)}) (one per material), "
                f"got [{idx.min()}, {idx.max()}]"
            )
        _check_positive("voxel_cm", voxel_cm)
        v = jnp.asarray(voxel_cm, jnp.float32)
        if v.shape != ():
            raise ValueError(f"voxel_cm must be a scalar, got shape {v.shape}")
        nominal = np.asarray([float(concrete_value(m.density)) for m in mats], np.float32)
        if density_g_cm3 is None:
            dens = jnp.asarray(nominal[idx])
        else:
            _check_positive("density_g_cm3", density_g_cm3)
            d = jnp.asarray(density_g_cm3, jnp.float32)
            if d.shape == (len(mats),):
                dens = d[jnp.asarray(idx)]
            elif d.shape == idx.shape:
                dens = d
            elif d.shape == ():
                dens = jnp.broadcast_to(d, idx.shape)
            else:
                raise ValueError(
                    f"density_g_cm3 must be a scalar, one per material ({len(mats)},) or one "
                    f"per voxel {idx.shape}, got shape {d.shape}"
                )
        if origin_cm is None:
            origin = jnp.stack(
                [-0.5 * idx.shape[0] * v, -0.5 * idx.shape[1] * v, jnp.zeros((), jnp.float32)]
            )
        else:
            origin = jnp.asarray(origin_cm, jnp.float32)
            if origin.shape != (3,):
                raise ValueError(f"origin_cm must have shape (3,), got {origin.shape}")
        self.materials = mats
        self.voxel_cm = v
        self.density_g_cm3 = dens
        self.origin_cm = origin
        self.cell_material = jnp.asarray(idx.reshape(-1), jnp.int32)
        self.shape = tuple(int(s) for s in idx.shape)
        self.tables = _Tables.build(mats)

    def grid(self):
        planes = [
            self.origin_cm[a] + self.voxel_cm * jnp.arange(n + 1, dtype=jnp.float32)
            for a, n in enumerate(self.shape)
        ]
        return (*planes, self.cell_material, self.density_g_cm3.reshape(-1))

    def deposit_shape(self):
        return self.shape

    def value_checks(self):
        return [("voxel_cm", self.voxel_cm), ("density_g_cm3", self.density_g_cm3)]


class Particle(eqx.Module):
    """An incident particle.

    Attributes:
        pdg: 22 (photon), 11 (electron) or -11 (positron).
        energy_mev: kinetic energy in MeV (the energy, for a photon).
        position: ``(3,)`` start point in cm, inside the world or on its surface.
        direction: ``(3,)`` unit vector.

    The fields may carry a leading batch axis, for ``jax.vmap`` over particles.
    """

    pdg: Int[ArrayLike, "*b"]
    energy_mev: Float[ArrayLike, "*b"]
    position: Float[ArrayLike, "*b three"]
    direction: Float[ArrayLike, "*b three"]

    def __init__(self, pdg, energy_mev, position=(0.0, 0.0, 0.0), direction=(0.0, 0.0, 1.0)):
        self.pdg = jnp.asarray(pdg, jnp.int32)
        self.energy_mev = jnp.asarray(energy_mev, jnp.float32)
        self.position = jnp.asarray(position, jnp.float32)
        self.direction = jnp.asarray(direction, jnp.float32)

    def broadcast(self, n: int) -> Particle:
        """``n`` copies of this (single) particle: fields with a leading axis ``(n,)``.

        For :func:`simulate_batch`, which takes a batch of incident particles.
        """
        if jnp.ndim(self.pdg) != 0:
            raise ValueError(
                f"broadcast needs a single particle, got pdg of shape {jnp.shape(self.pdg)}"
            )
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        return Particle(
            jnp.broadcast_to(self.pdg, (n,)),
            jnp.broadcast_to(self.energy_mev, (n,)),
            jnp.broadcast_to(self.position, (n, 3)),
            jnp.broadcast_to(self.direction, (n, 3)),
        )

    def __check_init__(self):
        pos, d = self.position, self.direction
        if pos.ndim < 1 or pos.shape[-1] != 3:
            raise ValueError(f"position must have shape (3,), got {pos.shape}")
        if d.ndim < 1 or d.shape[-1] != 3:
            raise ValueError(f"direction must have shape (3,), got {d.shape}")
        pdg = concrete_value(self.pdg)
        if pdg is not None and not np.all(np.isin(pdg, PDG_CODES)):
            raise ValueError(
                f"pdg: unsupported particle type {pdg.tolist()}; supported: 22 (photon), "
                "11 (electron), -11 (positron)"
            )
        e = concrete_value(self.energy_mev)
        if e is not None and not (np.all(np.isfinite(e)) and np.all(e > 0)):
            raise ValueError(f"energy_mev must be positive and finite, got {e.tolist()}")
        dv = concrete_value(d)
        if dv is not None:
            norm = np.linalg.norm(dv, axis=-1)
            if not np.all(np.abs(norm - 1.0) < 1e-4):
                raise ValueError(f"direction must be a unit vector, got norm {norm.tolist()}")
        pv = concrete_value(pos)
        if pv is not None and not np.all(np.isfinite(pv)):
            raise ValueError(f"position must be finite, got {pv.tolist()}")
