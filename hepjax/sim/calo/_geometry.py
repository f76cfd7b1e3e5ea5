r"""A COCOA-style calorimeter: projective $\eta$-$\phi$ cells in nested layers.

The detector of COCOA (Di Bello et al., "Configurable calorimeter simulation
for AI applications", arXiv:2303.02101; code cocoa-hep/cocoa-hep) is a nearly
hermetic barrel plus two endcaps around the beam axis $z$, in a solenoid field.
Units are mm, GeV, T.

**Layers.** Layer $l$ (counted outwards, ECAL first) is a homogeneous mixture
of materials (:func:`~hepjax.sim.calo.mixture_lengths`); its thickness is
``depth`` times the mixture's $X_0$ (``depth_unit="X0"``) or $\lambda_\text{int}$
(``"lambda_int"``). In the barrel, layer $l$ is the cylindrical shell
$r_l^\text{in} \le \rho < r_l^\text{out}$ with $r_0^\text{in}$ the inner radius and

$$r_l^\text{in} = r_{l-1}^\text{out} + g_l,\qquad
  r_l^\text{out} = r_l^\text{in} + t_l,$$

$g_l$ the gap in front of the layer, empty or filled with a dead (passive)
material (COCOA: 80 mm of iron between ECAL and HCAL, ``Layer_gap``). The
endcap layers are discs with the same depths along $|z|$, starting at
$z_0 = r_0^\text{in}\sinh\eta_\text{barrel}$ (the barrel's inner face ends at
$|\eta| = \eta_\text{barrel}$):
$|z| \in [z_0 + r_l^\text{in} - r_0^\text{in},\ z_0 + r_l^\text{out} - r_0^\text{in}]$.

**Cells.** Every layer is cut into $N^\eta_l \times N^\phi_l$ cells uniform in
$\eta \in [-\eta_\max, \eta_\max]$ and $\phi \in [0, 2\pi)$: $\Delta\eta =
2\eta_\max/N^\eta_l$ (COCOA: $6/N$), $\Delta\phi = 2\pi/N^\phi_l$. A cell whose
centre has $|\eta| \le \eta_\text{barrel}$ is a barrel cell (centre at
$\rho = r_l^\text{mid}$, $z = \rho\sinh\eta$), otherwise an endcap cell
(centre at $|z| = z_l^\text{mid}$, $\rho = |z|/\sinh|\eta|$). Granularities
must nest: $N_l/N_{l+1}$ is a positive integer in $\eta$ and in $\phi$, so each
cell lies inside exactly one cell of every later layer (COCOA's neighbour rule
"the overlapping coarser cell in the next layer" relies on it).

**Cell ids.** Cells are numbered flat over all layers: layer by layer, then
$\eta$ index, then $\phi$ index,
$\text{id} = o_l + i_\eta N^\phi_l + i_\phi$ with $o_l = \sum_{k<l} N^\eta_k N^\phi_k$.

**In front of the calorimeter** (``front``) lie passive materials that
particles cross before the first layer: COCOA's inner detector (silicon pixel and
strip layers with 0.35 mm iron backings) and its 44 mm iron support structure
(``Use_inner_detector``, ``Use_ID_support``), given as a thickness crossed at
normal incidence in the barrel (radially) and in the endcaps (along $z$). The
solenoid field $B_z$ fills the cylinder $\rho < r_B$, $|z| < z_B$
(``field_radius``, ``field_half_length``; COCOA: 1167 mm and 2866 mm, inside the
iron supports); charged particles bend inside it and fly straight beyond.

**Read-out.** Each layer has a Gaussian noise $\sigma_l$ (GeV) and a sampling
fraction $f_l$: a deposit is kept with probability $f_l$ and scaled by $1/f_l$
(COCOA's emulation of a sampling calorimeter, see
:func:`~hepjax.sim.calo.deposit_energy`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import pathlib
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from ._materials import calo_material, mixture_lengths

__all__ = ["CaloGeometry", "CaloLayer", "CellTable"]

_UNITS = ("X0", "lambda_int")


@dataclasses.dataclass(frozen=True)
class CaloLayer:
    """The configuration of one calorimeter layer (a hashable record).

    Attributes:
        name: a label (``"ECAL1"``).
        n_eta: cells in $\\eta$ over $[-\\eta_\\max, \\eta_\\max]$.
        n_phi: cells in $\\phi$.
        depth: thickness in units of ``depth_unit`` of the layer's mixture.
        depth_unit: ``"X0"`` (radiation lengths) or ``"lambda_int"``.
        materials: names of the mixed materials (``("Liquid_Argon", "G4_Pb")``).
        volume_ratio: their volume proportions (``(4.6, 1.2)``).
        noise: Gaussian cell noise $\\sigma$ in GeV.
        sampling_fraction: probability $f$ in $(0, 1]$ that a deposit is seen.
        gap: space in front of the layer, mm.
        electromagnetic: ``True`` for an ECAL layer (COCOA's local-maximum rule
            treats hadronic layers differently).
        gap_material: the passive material filling the gap (``"G4_Fe"``), or
            ``None`` for empty space.
    """

    name: str
    n_eta: int
    n_phi: int
    depth: float | int
    depth_unit: str
    materials: tuple[str, ...]
    volume_ratio: tuple[float | int, ...]
    noise: float | int
    sampling_fraction: float | int = 1.0
    gap: float | int = 0.0
    electromagnetic: bool = True
    gap_material: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "materials", tuple(self.materials))
        object.__setattr__(self, "volume_ratio", tuple(float(v) for v in self.volume_ratio))
        where = f"layer {self.name!r}"
        for field in ("n_eta", "n_phi"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{where}: {field} must be a positive integer, got {v!r}")
            object.__setattr__(self, field, int(v))
        if self.n_phi < 3:
            raise ValueError(f"{where}: n_phi must be >= 3 (3x3 neighbours wrap in phi)")
        if self.depth_unit not in _UNITS:
            raise ValueError(
                f"{where}: depth_unit must be one of {_UNITS}, got {self.depth_unit!r}"
            )
        if not (float(self.depth) > 0 and math.isfinite(self.depth)):
            raise ValueError(f"{where}: depth must be positive, got {self.depth!r}")
        if not (float(self.noise) >= 0 and math.isfinite(self.noise)):
            raise ValueError(f"{where}: noise must be >= 0 (GeV), got {self.noise!r}")
        if not (0 < float(self.sampling_fraction) <= 1):
            raise ValueError(
                f"{where}: sampling_fraction must lie in (0, 1], got {self.sampling_fraction!r}"
            )
        if not (float(self.gap) >= 0):
            raise ValueError(f"{where}: gap must be >= 0 (mm), got {self.gap!r}")
        for m in self.materials:
            try:
                calo_material(m)
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
        mixture_lengths(self.materials, self.volume_ratio)  # checks lengths and ratios
        if self.gap_material is not None:
            try:
                calo_material(self.gap_material)
            except (ValueError, TypeError) as err:
                raise ValueError(f"{where}: gap_material: {err}") from None
        for field in ("depth", "noise", "sampling_fraction", "gap"):
            object.__setattr__(self, field, float(getattr(self, field)))

    @property
    def thickness(self) -> float:
        """Thickness in mm: depth times the mixture's $X_0$ or $\\lambda_\\text{int}$."""
        x0, lam, _ = mixture_lengths(self.materials, self.volume_ratio)
        return self.depth * (x0 if self.depth_unit == "X0" else lam)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_eta": self.n_eta,
            "n_phi": self.n_phi,
            "depth": self.depth,
            "depth_unit": self.depth_unit,
            "materials": list(self.materials),
            "volume_ratio": list(self.volume_ratio),
            "noise": self.noise,
            "sampling_fraction": self.sampling_fraction,
            "gap": self.gap,
            "electromagnetic": self.electromagnetic,
            "gap_material": self.gap_material,
        }


class CellTable(eqx.Module):
    """Per-cell geometry, flat over all layers (numpy arrays; see :meth:`CaloGeometry.cells`).

    Attributes:
        layer, ieta, iphi: ``(n,)`` indices of each cell.
        eta, phi: ``(n,)`` centre ($\\phi$ in $(-\\pi, \\pi]$ as in COCOA).
        rho, z: ``(n,)`` centre's radius and $z$, mm.
        x, y: ``(n,)`` centre's Cartesian coordinates, mm.
        eta_lo, eta_hi, phi_lo, phi_hi: ``(n,)`` edges ($\\phi$ edges in $[0, 2\\pi]$).
        endcap: ``(n,)`` ``True`` for an endcap cell.
        noise: ``(n,)`` $\\sigma$ of the cell's layer, GeV.
        sampling_fraction: ``(n,)`` $f$ of the cell's layer.
        layer_rho: ``(n,)`` mid radius of the cell's layer (COCOA's $R$ of a cluster moment).
    """

    layer: np.ndarray
    ieta: np.ndarray
    iphi: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    rho: np.ndarray
    z: np.ndarray
    x: np.ndarray
    y: np.ndarray
    eta_lo: np.ndarray
    eta_hi: np.ndarray
    phi_lo: np.ndarray
    phi_hi: np.ndarray
    endcap: np.ndarray
    noise: np.ndarray
    sampling_fraction: np.ndarray
    layer_rho: np.ndarray


class CaloGeometry(eqx.Module):
    """A calorimeter of nested $\\eta$-$\\phi$ layers (see the module docstring).

    Every field is static (hashable configuration), so a geometry can be a
    static argument of ``jax.jit`` and per-cell arrays are cached constants.

    Attributes:
        layers: the :class:`CaloLayer` records, ordered outwards.
        eta_barrel: $|\\eta|$ where the barrel ends and the endcaps begin.
        eta_max: acceptance $|\\eta| < \\eta_\\max$, also the $\\eta$ extent of the cells.
        inner_radius: inner radius of the first layer, mm.
        field: solenoid field $B_z$, T.
        front: passive material in front of the calorimeter, ``((material,
            barrel_mm, endcap_mm), ...)``: the thickness crossed at normal
            incidence in the barrel (radially) and in the endcaps (along $z$).
        field_radius, field_half_length: the field fills $\rho < r_B$,
            $|z| < z_B$ (mm); default: up to the calorimeter's inner faces.
    """

    layers: tuple[CaloLayer, ...] = eqx.field(static=True)
    eta_barrel: float = eqx.field(static=True)
    eta_max: float = eqx.field(static=True)
    inner_radius: float = eqx.field(static=True)
    field: float = eqx.field(static=True)
    front: tuple[tuple[str, float, float], ...] = eqx.field(static=True)
    field_radius: float = eqx.field(static=True)
    field_half_length: float = eqx.field(static=True)

    def __init__(
        self,
        layers,
        *,
        eta_barrel: float | int = 1.5,
        eta_max: float | int = 3.0,
        inner_radius: float | int = 1500.0,
        field: float | int = 3.8,
        front=(),
        field_radius: float | int | None = None,
        field_half_length: float | int | None = None,
    ):
        layers = tuple(layers)
        if not layers or not all(isinstance(layer, CaloLayer) for layer in layers):
            raise TypeError("layers must be a non-empty sequence of CaloLayer")
        self.layers = layers
        self.eta_barrel = float(eta_barrel)
        self.eta_max = float(eta_max)
        self.inner_radius = float(inner_radius)
        self.field = float(field)
        self.front = _check_front(front)
        self.field_radius = float(inner_radius if field_radius is None else field_radius)
        self.field_half_length = float(
            self.inner_radius * math.sinh(self.eta_barrel)
            if field_half_length is None
            else field_half_length
        )

    def __check_init__(self):
        if not (0 < self.eta_barrel <= self.eta_max and math.isfinite(self.eta_max)):
            raise ValueError(
                f"need 0 < eta_barrel <= eta_max, got eta_barrel={self.eta_barrel}, "
                f"eta_max={self.eta_max}"
            )
        if not (self.inner_radius > 0 and math.isfinite(self.inner_radius)):
            raise ValueError(f"inner_radius must be positive (mm), got {self.inner_radius}")
        if not math.isfinite(self.field):
            raise ValueError(f"field must be finite, got {self.field}")
        for name in ("field_radius", "field_half_length"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be positive (mm), got {v}")
        if self.field_radius > self.inner_radius:
            raise ValueError(
                f"field_radius ({self.field_radius} mm) must not exceed inner_radius "
                f"({self.inner_radius} mm): the field ends before the calorimeter"
            )
        if self.field_half_length > self.inner_radius * math.sinh(self.eta_barrel) * (1 + 1e-9):
            raise ValueError(
                f"field_half_length ({self.field_half_length} mm) must not exceed the endcaps' "
                f"inner face z = {self.inner_radius * math.sinh(self.eta_barrel):.1f} mm"
            )
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        for a, b in zip(self.layers[:-1], self.layers[1:], strict=True):
            for axis in ("n_eta", "n_phi"):
                na, nb = getattr(a, axis), getattr(b, axis)
                if na % nb != 0:
                    raise ValueError(
                        f"inconsistent granularities: layer {a.name!r} has {axis}={na} and the "
                        f"next layer {b.name!r} has {axis}={nb}; each layer's {axis} must be a "
                        "whole multiple of the next one's (cells must nest)"
                    )

    # -- the default -------------------------------------------------------------------
    @classmethod
    def cocoa(cls, *, scale: int = 1, inner_detector: bool = True) -> CaloGeometry:
        """COCOA's default detector (``config_default.json`` of cocoa-hep).

        Barrel $|\\eta| < 1.5$, endcaps to 3.0, inner radius 1500 mm, 3.8 T.
        ECAL: 4, 16, 2 $X_0$ of LAr : Pb (volume 4.6 : 1.2), $N$ = 256, 256, 128,
        noise 13, 34, 41 MeV, sampling fraction 0.07. HCAL behind an 80 mm gap:
        1.5, 4.1, 1.8 $\\lambda_\\text{int}$ of scintillator : Fe (1.0 : 1.1),
        $N$ = 64, 64, 32, noise 75, 50, 25 MeV, sampling fraction 0.025.

        In front (``InnerConstruction.cc``, ``DetectorGeometryDefinitions.hh``):
        in the barrel 5 pixel (150 µm Si) and 4 strip layers (320 µm Si), each
        backed by 0.35 mm of iron, and two 22 mm iron support shells at
        $\rho$ = 1167 and 1334 mm: 47.15 mm Fe + 2.03 mm Si; in the endcaps the
        support cone, 44 mm/$\tan\theta_\text{barrel}$ = 94.6 mm of iron
        along $z$, plus about eight crossed tracker discs (150 µm Si + 0.35 mm
        Fe each): 97.4 mm Fe + 1.2 mm Si. The field fills $\rho$ < 1167 mm
        (the first support shell), $|z|$ < 2866 mm.

        Args:
            scale: divide every granularity by this (a coarser detector with the
                same layers, for quick tests; 1 is COCOA's).
            inner_detector: include the passive material in front (COCOA's
                ``Use_inner_detector`` and ``Use_ID_support``); ``False`` leaves
                the calorimeter alone, e.g. to measure its own resolution.
        """
        if not isinstance(scale, int) or scale < 1 or 32 % scale:
            raise ValueError(f"scale must be a divisor of 32, got {scale!r}")
        ecal = (("Liquid_Argon", "G4_Pb"), (4.6, 1.2))
        hcal = (("G4_PLASTIC_SC_VINYLTOLUENE", "G4_Fe"), (1.0, 1.1))
        spec = [
            ("ECAL1", 256, 4.0, "X0", ecal, 0.013, 0.07, 0.0, True),
            ("ECAL2", 256, 16.0, "X0", ecal, 0.034, 0.07, 0.0, True),
            ("ECAL3", 128, 2.0, "X0", ecal, 0.041, 0.07, 0.0, True),
            ("HCAL1", 64, 1.5, "lambda_int", hcal, 0.075, 0.025, 80.0, False),
            ("HCAL2", 64, 4.1, "lambda_int", hcal, 0.050, 0.025, 0.0, False),
            ("HCAL3", 32, 1.8, "lambda_int", hcal, 0.025, 0.025, 0.0, False),
        ]
        layers = [
            CaloLayer(name, n // scale, n // scale, d, u, m, r, s, f, g, em, "G4_Fe" if g else None)
            for name, n, d, u, (m, r), s, f, g, em in spec
        ]
        return cls(
            layers,
            eta_barrel=1.5,
            eta_max=3.0,
            inner_radius=1500.0,
            field=3.8,
            front=(("G4_Fe", 47.15, 97.4), ("G4_Si", 2.03, 1.2)) if inner_detector else (),
            field_radius=1167.1,
            field_half_length=2866.0,
        )

    # -- sizes and ids -----------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Cells per layer, $N^\\eta_l N^\\phi_l$."""
        return tuple(layer.n_eta * layer.n_phi for layer in self.layers)

    @property
    def offsets(self) -> tuple[int, ...]:
        """First flat cell id of every layer (length ``n_layers + 1``)."""
        return tuple(int(v) for v in np.concatenate([[0], np.cumsum(self.layer_sizes)]))

    @property
    def n_cells(self) -> int:
        return self.offsets[-1]

    @property
    def n_eta(self) -> tuple[int, ...]:
        return tuple(layer.n_eta for layer in self.layers)

    @property
    def n_phi(self) -> tuple[int, ...]:
        return tuple(layer.n_phi for layer in self.layers)

    @property
    def noise(self) -> tuple[float, ...]:
        """Per-layer noise $\\sigma_l$, GeV."""
        return tuple(layer.noise for layer in self.layers)

    @property
    def sampling_fraction(self) -> tuple[float, ...]:
        return tuple(layer.sampling_fraction for layer in self.layers)

    def cell_id(
        self, layer: Int[ArrayLike, ...], ieta: Int[ArrayLike, ...], iphi: Int[ArrayLike, ...]
    ) -> Int[Array, ...]:
        """Flat id of cell ``(layer, ieta, iphi)`` (module docstring); works under ``jit``.

        Args:
            layer: layer index in ``[0, L)``.
            ieta: $\\eta$ bin within the layer, in ``[0, n_eta[layer])``.
            iphi: $\\phi$ bin within the layer, in ``[0, n_phi[layer])``.
        """
        off = jnp.asarray(self.offsets[:-1], jnp.int32)
        nphi = jnp.asarray(self.n_phi, jnp.int32)
        layer = jnp.asarray(layer, jnp.int32)
        ieta, iphi = jnp.asarray(ieta, jnp.int32), jnp.asarray(iphi, jnp.int32)
        return off[layer] + ieta * nphi[layer] + iphi

    def cell_index(
        self, cell: Int[ArrayLike, ...]
    ) -> tuple[Int[Array, ...], Int[Array, ...], Int[Array, ...]]:
        """``(layer, ieta, iphi)`` of flat cell ids (the inverse of :meth:`cell_id`)."""
        cell = jnp.asarray(cell, jnp.int32)
        off = jnp.asarray(self.offsets, jnp.int32)
        layer = jnp.searchsorted(off, cell, side="right").astype(jnp.int32) - 1
        local = cell - off[layer]
        nphi = jnp.asarray(self.n_phi, jnp.int32)[layer]
        return layer, local // nphi, local % nphi

    # -- radii -------------------------------------------------------------------------
    @property
    def thickness(self) -> np.ndarray:
        """``(L,)`` layer thicknesses in mm."""
        return np.array([layer.thickness for layer in self.layers])

    @property
    def r_inner(self) -> np.ndarray:
        """``(L,)`` inner radii of the barrel layers, mm (endcaps: the same depths in $|z|$)."""
        gaps = np.array([layer.gap for layer in self.layers])
        t = self.thickness
        return self.inner_radius + np.cumsum(gaps) + np.concatenate([[0.0], np.cumsum(t)[:-1]])

    @property
    def r_outer(self) -> np.ndarray:
        return self.r_inner + self.thickness

    @property
    def r_mid(self) -> np.ndarray:
        return self.r_inner + 0.5 * self.thickness

    @property
    def z_inner(self) -> np.ndarray:
        """``(L,)`` inner $|z|$ of the endcap layers, mm."""
        return self.z_endcap + self.r_inner - self.inner_radius

    @property
    def z_outer(self) -> np.ndarray:
        return self.z_endcap + self.r_outer - self.inner_radius

    @property
    def z_endcap(self) -> float:
        """$z_0 = r_0^\\text{in}\\sinh\\eta_\\text{barrel}$: the endcaps' inner face, mm."""
        return self.inner_radius * math.sinh(self.eta_barrel)

    # -- per-cell tables ----------------------------------------------------------------
    def cells(self) -> CellTable:
        """The :class:`CellTable` (cached per geometry)."""
        return _cell_table(self)

    def cell_vertices(self) -> np.ndarray:
        """``(n_cells, 8, 3)`` corners $(x, y, z)$ in mm of every cell (cached).

        Vertex $k = 4 s_\\phi + 2 s_r + s_\\eta$ (bits: the upper $\\phi$ edge,
        the outer face, the upper $\\eta$ edge), the layout of COCOA's Phoenix
        cell look-up; barrel cells have their faces on cylinders, endcap cells on
        discs of constant $|z|$.
        """
        return _cell_vertices(self)

    def locate(
        self,
        layer: Int[ArrayLike, ...],
        eta: Float[ArrayLike, ...],
        phi: Float[ArrayLike, ...],
    ) -> Int[Array, ...]:
        """Flat id of the cell of ``layer`` containing $(\\eta, \\phi)$; $-1$ outside.

        Outside means $|\\eta| \\ge \\eta_\\max$, a layer outside ``[0, L)``, or a
        non-finite coordinate. $\\phi$ may be any real number (it is wrapped).

        Args:
            layer: layer index (broadcasts with ``eta`` and ``phi``).
            eta: pseudorapidity.
            phi: azimuth, radians.
        """
        layer = jnp.asarray(layer, jnp.int32)
        eta = jnp.asarray(eta, jnp.float32)
        phi = jnp.asarray(phi, jnp.float32)
        ok = (layer >= 0) & (layer < self.n_layers) & (jnp.abs(eta) < self.eta_max)
        ok = ok & jnp.isfinite(eta) & jnp.isfinite(phi)
        lay = jnp.clip(layer, 0, self.n_layers - 1)
        neta = jnp.asarray(self.n_eta, jnp.int32)[lay]
        nphi = jnp.asarray(self.n_phi, jnp.int32)[lay]
        u = (eta + self.eta_max) / (2 * self.eta_max)
        ieta = jnp.clip(jnp.floor(u * neta).astype(jnp.int32), 0, neta - 1)
        w = jnp.mod(phi, 2 * math.pi) / (2 * math.pi)
        iphi = jnp.clip(jnp.floor(w * nphi).astype(jnp.int32), 0, nphi - 1)
        return jnp.where(ok, self.cell_id(lay, ieta, iphi), -1)

    # -- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "eta_barrel": self.eta_barrel,
            "eta_max": self.eta_max,
            "inner_radius": self.inner_radius,
            "field": self.field,
            "front": [list(f) for f in self.front],
            "field_radius": self.field_radius,
            "field_half_length": self.field_half_length,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> CaloGeometry:
        """Build from :meth:`to_dict`'s form (unknown keys are errors, naming the key)."""
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        top = {
            "eta_barrel",
            "eta_max",
            "inner_radius",
            "field",
            "front",
            "field_radius",
            "field_half_length",
            "layers",
        }
        extra = set(config) - top
        if extra:
            raise ValueError(f"unknown geometry keys {sorted(extra)}; expected {sorted(top)}")
        if "layers" not in config:
            raise ValueError("config needs 'layers'")
        fields = {f.name for f in dataclasses.fields(CaloLayer)}
        layers = []
        for i, spec in enumerate(config["layers"]):
            bad = set(spec) - fields
            if bad:
                raise ValueError(
                    f"layer {i}: unknown keys {sorted(bad)}; expected {sorted(fields)}"
                )
            spec = dict(spec)
            for key in ("materials", "volume_ratio"):
                if key in spec:
                    spec[key] = tuple(spec[key])
            layers.append(CaloLayer(**spec))
        kwargs = {k: config[k] for k in top - {"layers"} if k in config}
        return cls(layers, **kwargs)

    def to_json(self, path: str | os.PathLike) -> pathlib.Path:
        """Write the configuration to ``path`` as JSON, atomically."""
        path = pathlib.Path(path)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"path: folder {path.parent} does not exist")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> CaloGeometry:
        """Read a geometry written by :meth:`to_json`."""
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"path: no geometry JSON at {path}")
        return cls.from_dict(json.loads(path.read_text()))


def _check_front(front) -> tuple[tuple[str, float, float], ...]:
    """``front`` as a tuple of ``(material, barrel_mm, endcap_mm)`` with known materials."""
    if front is None:
        return ()
    out = []
    for i, item in enumerate(front):
        if not (isinstance(item, tuple | list) and len(item) == 3):
            raise ValueError(f"front[{i}] must be (material, barrel_mm, endcap_mm), got {item!r}")
        name, barrel, endcap = item
        try:
            calo_material(name)
        except (ValueError, TypeError) as err:
            raise ValueError(f"front[{i}]: {err}") from None
        for what, v in (("barrel_mm", barrel), ("endcap_mm", endcap)):
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not (v >= 0 and math.isfinite(v))
            ):
                raise ValueError(f"front[{i}]: {what} must be >= 0 and finite, got {v!r}")
        out.append((str(name), float(barrel), float(endcap)))
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _cell_table(geo: CaloGeometry) -> CellTable:
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in dataclasses.fields(CellTable)}
    r_mid = geo.r_mid
    z0 = geo.z_endcap
    for li, layer in enumerate(geo.layers):
        ie, ip = np.meshgrid(np.arange(layer.n_eta), np.arange(layer.n_phi), indexing="ij")
        ie, ip = ie.ravel(), ip.ravel()
        deta = 2 * geo.eta_max / layer.n_eta
        dphi = 2 * math.pi / layer.n_phi
        eta_lo = -geo.eta_max + deta * ie
        eta = eta_lo + 0.5 * deta
        phi_lo = dphi * ip
        phi = phi_lo + 0.5 * dphi
        phi = np.where(phi > math.pi, phi - 2 * math.pi, phi)
        endcap = np.abs(eta) > geo.eta_barrel + 1e-9
        z_mid = z0 + r_mid[li] - geo.inner_radius
        rho = np.where(endcap, z_mid / np.sinh(np.maximum(np.abs(eta), 1e-9)), r_mid[li])
        z = np.where(endcap, np.sign(eta) * z_mid, rho * np.sinh(eta))
        n = ie.size
        parts["layer"].append(np.full(n, li, np.int32))
        parts["ieta"].append(ie.astype(np.int32))
        parts["iphi"].append(ip.astype(np.int32))
        parts["eta"].append(eta)
        parts["phi"].append(phi)
        parts["rho"].append(rho)
        parts["z"].append(z)
        parts["x"].append(rho * np.cos(phi))
        parts["y"].append(rho * np.sin(phi))
        parts["eta_lo"].append(eta_lo)
        parts["eta_hi"].append(eta_lo + deta)
        parts["phi_lo"].append(phi_lo)
        parts["phi_hi"].append(phi_lo + dphi)
        parts["endcap"].append(endcap)
        parts["noise"].append(np.full(n, layer.noise))
        parts["sampling_fraction"].append(np.full(n, layer.sampling_fraction))
        parts["layer_rho"].append(np.full(n, r_mid[li]))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    for k, v in arrays.items():
        if v.dtype == np.float64:
            arrays[k] = v.astype(np.float32)
        v.setflags(write=False)
        arrays[k].setflags(write=False)
    return CellTable(**arrays)


@functools.lru_cache(maxsize=4)
def _cell_vertices(geo: CaloGeometry) -> np.ndarray:
    t = geo.cells()
    r_in, r_out = geo.r_inner, geo.r_outer
    z0 = geo.z_endcap
    lay = t.layer
    endcap = t.endcap
    out = np.empty((geo.n_cells, 8, 3), np.float32)
    for k in range(8):
        s_phi, s_r, s_eta = (k >> 2) & 1, (k >> 1) & 1, k & 1
        eta = np.where(s_eta, t.eta_hi, t.eta_lo).astype(float)
        phi = np.where(s_phi, t.phi_hi, t.phi_lo).astype(float)
        radial = np.where(s_r, r_out[lay], r_in[lay])
        zface = z0 + radial - geo.inner_radius
        # an endcap cell's eta edge may sit at the barrel boundary: keep eta away from 0
        safe = np.where(np.abs(eta) < 1e-6, 1e-6, eta)
        rho = np.where(endcap, zface / np.sinh(np.abs(safe)), radial)
        z = np.where(endcap, np.sign(t.eta) * zface, radial * np.sinh(eta))
        out[:, k, 0] = rho * np.cos(phi)
        out[:, k, 1] = rho * np.sin(phi)
        out[:, k, 2] = z
    out.setflags(write=False)
    return out
