r"""A barrel silicon tracker: coaxial cylinders in a solenoid field along $z$.

Units are mm, GeV and T throughout. Every layer $i$ is a cylinder of radius
$R_i$ and half-length $h_i$ made of silicon, of thickness $x_i/X_0$ radiation
lengths (for normal incidence), read out either as

* a **pixel** layer: a 2D measurement of the bound coordinates
  $(\ell_0, \ell_1) = (R\phi_\text{pos}, z)$ with resolutions
  $(\sigma_0, \sigma_1)$; or
* a **strip** layer: a 1D measurement $u = \cos\alpha\,\ell_0 + \sin\alpha\,\ell_1$
  (module-local) across strips rotated by the stereo angle $\alpha$, with
  resolution $\sigma_0$; the coordinate along the strip is unknown (its space
  point is placed at the module centre).

A hit is recorded with probability ``efficiency``. Layers are segmented into
modules in $\phi$ and $z$ (``module_width`` $\times$ ``module_length``), numbered
as in TrackML: ``volume_id`` (8 pixel barrel, 13 short-strip barrel, 17
long-strip barrel), ``layer_id`` (2, 4, 6, ... within a volume) and
``module_id = i_z n_\phi + i_\phi + 1``.

The float fields are JAX arrays, so fit-quality gradients flow into radii,
material and resolutions (``eqx.filter_grad`` over the geometry).

Reference: the TrackML detector (Amrouche et al., arXiv:1904.06778) and the
OpenDataDetector (Allaire et al., JINST 2022), of which the default is a coarse
barrel-only imitation.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ..._core import concrete_value

#: Speed of light factor: radius R[mm] = pT[GeV] / (C_LIGHT * Bz[T] * |q|).
C_LIGHT = 0.299792458e-3

PIXEL_VOLUME = 8
SHORT_STRIP_VOLUME = 13
LONG_STRIP_VOLUME = 17


class BarrelGeometry(eqx.Module):
    """Barrel tracker geometry with ``L`` cylindrical layers (ordered outwards).

    Build it with :meth:`default` (4 pixel + 6 strip layers, ODD/TrackML-like)
    or directly from per-layer arrays. Array fields are differentiable; the
    layer kinds, identifiers and module sizes are static.

    Attributes:
        radius: ``(L,)`` layer radii in mm, strictly increasing.
        half_length: ``(L,)`` half-lengths in mm (hits need $|z| \\le h$).
        thickness: ``(L,)`` material $x/X_0$ at normal incidence (silicon).
        sigma0: ``(L,)`` resolution in mm of $\\ell_0=R\\phi$ (pixels) or of the
            strip coordinate $u$ (strips).
        sigma1: ``(L,)`` resolution in mm of $\\ell_1=z$ (pixels; unused for strips).
        stereo: ``(L,)`` stereo angle $\\alpha$ in rad (strips; 0 for pixels).
        efficiency: ``(L,)`` hit efficiency in $[0, 1]$.
        bz: solenoid field in T.
        is_strip: per layer, ``True`` for a 1D strip layer (static).
        volume_id: TrackML volume id per layer (static).
        layer_id: TrackML layer id per layer (static).
        module_width: module size in $R\\phi$ per layer, mm (static).
        module_length: module size in $z$ per layer, mm (static).
        n_phi_modules: modules around $\\phi$ per layer (static, from the radii
            given at construction: $\\lceil 2\\pi R/w\\rceil$).
        n_z_modules: modules along $z$ per layer (static, $\\lceil 2h/\\ell\\rceil$).
    """

    radius: Float[Array, " l"]
    half_length: Float[Array, " l"]
    thickness: Float[Array, " l"]
    sigma0: Float[Array, " l"]
    sigma1: Float[Array, " l"]
    stereo: Float[Array, " l"]
    efficiency: Float[Array, " l"]
    bz: Float[Array, ""]
    is_strip: tuple[bool, ...] = eqx.field(static=True)
    volume_id: tuple[int, ...] = eqx.field(static=True)
    layer_id: tuple[int, ...] = eqx.field(static=True)
    module_width: tuple[float, ...] = eqx.field(static=True)
    module_length: tuple[float, ...] = eqx.field(static=True)
    n_phi_modules: tuple[int, ...] = eqx.field(static=True)
    n_z_modules: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        radius,
        half_length,
        thickness,
        sigma0,
        sigma1,
        stereo,
        efficiency,
        bz,
        is_strip,
        volume_id=None,
        layer_id=None,
        module_width=None,
        module_length=None,
    ):
        n = int(np.shape(radius)[0]) if np.ndim(radius) == 1 else -1
        if n < 1:
            raise ValueError(f"radius must have shape (L,) with L >= 1, got {np.shape(radius)}")
        fields = dict(
            half_length=half_length,
            thickness=thickness,
            sigma0=sigma0,
            sigma1=sigma1,
            stereo=stereo,
            efficiency=efficiency,
        )
        for name, value in fields.items():
            if np.shape(value) != (n,):
                raise ValueError(
                    f"{name} must have shape ({n},) like radius, got {tuple(np.shape(value))}"
                )
        if np.shape(bz) != ():
            raise ValueError(f"bz must be a scalar, got shape {np.shape(bz)}")
        is_strip = tuple(bool(s) for s in np.asarray(is_strip).reshape(-1))
        if len(is_strip) != n:
            raise ValueError(f"is_strip must have {n} entries, got {len(is_strip)}")
        if volume_id is None:
            volume_id = tuple(SHORT_STRIP_VOLUME if s else PIXEL_VOLUME for s in is_strip)
        if layer_id is None:
            layer_id, count = [], {}
            for v in volume_id:
                count[v] = count.get(v, 0) + 1
                layer_id.append(2 * count[v])
        if module_width is None:
            module_width = tuple(50.0 if s else 20.0 for s in is_strip)
        if module_length is None:
            module_length = tuple(100.0 if s else 60.0 for s in is_strip)
        for name, value in dict(
            volume_id=volume_id,
            layer_id=layer_id,
            module_width=module_width,
            module_length=module_length,
        ).items():
            if len(value) != n:
                raise ValueError(f"{name} must have {n} entries, got {len(value)}")
        if len(set(zip(volume_id, layer_id, strict=True))) != n:
            raise ValueError("(volume_id, layer_id) pairs must be unique per layer")
        if any(not (w > 0) for w in (*module_width, *module_length)):
            raise ValueError("module_width and module_length must be > 0")
        as_float = lambda x: jnp.asarray(x, dtype=jnp.result_type(float, x))
        self.radius = as_float(radius)
        self.half_length = as_float(half_length)
        self.thickness = as_float(thickness)
        self.sigma0 = as_float(sigma0)
        self.sigma1 = as_float(sigma1)
        self.stereo = as_float(stereo)
        self.efficiency = as_float(efficiency)
        self.bz = as_float(bz)
        self.is_strip = is_strip
        self.volume_id = tuple(int(v) for v in volume_id)
        self.layer_id = tuple(int(v) for v in layer_id)
        self.module_width = tuple(float(v) for v in module_width)
        self.module_length = tuple(float(v) for v in module_length)
        r, h = concrete_value(radius), concrete_value(half_length)
        if r is None or h is None:
            raise ValueError("radius and half_length must be concrete when the geometry is built")
        self.n_phi_modules = tuple(
            max(1, math.ceil(2 * math.pi * float(ri) / w))
            for ri, w in zip(r, self.module_width, strict=True)
        )
        self.n_z_modules = tuple(
            max(1, math.ceil(2 * float(hi) / w))
            for hi, w in zip(h, self.module_length, strict=True)
        )

    def __check_init__(self):
        r = concrete_value(self.radius)
        if r is not None and not (np.all(r > 0) and np.all(np.diff(r) > 0)):
            raise ValueError(f"radius must be positive and strictly increasing, got {r}")
        for name in ("half_length", "sigma0"):
            v = concrete_value(getattr(self, name))
            if v is not None and not np.all(v > 0):
                raise ValueError(f"{name} must be > 0 on every layer, got {v}")
        s1 = concrete_value(self.sigma1)
        if s1 is not None and not np.all(s1[~np.asarray(self.is_strip, bool)] > 0):
            raise ValueError(f"sigma1 must be > 0 on pixel layers, got {s1}")
        t = concrete_value(self.thickness)
        if t is not None and not np.all(t >= 0):
            raise ValueError(f"thickness (x/X0) must be >= 0, got {t}")
        e = concrete_value(self.efficiency)
        if e is not None and not np.all((e >= 0) & (e <= 1)):
            raise ValueError(f"efficiency must lie in [0, 1], got {e}")
        b = concrete_value(self.bz)
        if b is not None and not b != 0:
            raise ValueError("bz must be non-zero (the helix model needs a field)")

    @classmethod
    def default(cls, *, bz: float | int = 2.0, efficiency: float | int = 0.99) -> BarrelGeometry:
        """ODD/TrackML-like barrel: 4 pixel layers and 6 strip layers.

        Pixels at $R$ = 32, 72, 116, 172 mm ($|z|\\le 750$ mm, 15 µm $\\times$ 50 µm,
        $x/X_0$ = 1%); short strips at 260, 360, 500, 660 mm (40 µm, $x/X_0$ = 2%)
        and long strips at 820, 1020 mm (80 µm, $x/X_0$ = 2.5%), all $|z|\\le 3$ m,
        stereo angles alternating $\\pm 40$ mrad; $B_z$ = 2 T. Without endcaps the
        strip barrel is long, so that $|\\eta|<2$ tracks cross all pixel layers and
        at least 9 of the 10 layers.
        """
        radius = [32.0, 72.0, 116.0, 172.0, 260.0, 360.0, 500.0, 660.0, 820.0, 1020.0]
        is_strip = [False] * 4 + [True] * 6
        half_length = [750.0] * 4 + [3000.0] * 6
        sigma0 = [0.015] * 4 + [0.04] * 4 + [0.08] * 2
        sigma1 = [0.05] * 4 + [0.0] * 6
        stereo = [0.0] * 4 + [0.04, -0.04, 0.04, -0.04, 0.04, -0.04]
        thickness = [0.01] * 4 + [0.02] * 4 + [0.025] * 2
        volume_id = [PIXEL_VOLUME] * 4 + [SHORT_STRIP_VOLUME] * 4 + [LONG_STRIP_VOLUME] * 2
        module_width = [20.0] * 4 + [50.0] * 4 + [50.0] * 2
        module_length = [60.0] * 4 + [100.0] * 4 + [200.0] * 2
        return cls(
            radius=np.asarray(radius),
            half_length=np.asarray(half_length),
            thickness=np.asarray(thickness),
            sigma0=np.asarray(sigma0),
            sigma1=np.asarray(sigma1),
            stereo=np.asarray(stereo),
            efficiency=np.full(10, efficiency),
            bz=np.asarray(bz),
            is_strip=is_strip,
            volume_id=volume_id,
            module_width=module_width,
            module_length=module_length,
        )

    @property
    def n_layers(self) -> int:
        """Number of layers ``L``."""
        return len(self.is_strip)

    @property
    def strip_mask(self) -> Bool[Array, " l"]:
        """``(L,)`` boolean array, ``True`` on strip layers."""
        return jnp.asarray(self.is_strip)

    def eta_max(self) -> float:
        r"""Largest $|\eta|$ of a straight track from the origin that crosses any layer.

        $\eta_\text{max}=\max_i \operatorname{asinh}(h_i/R_i)$; particles beyond
        it leave no hit and are rejected by the event simulation.
        """
        r, h = concrete_value(self.radius), concrete_value(self.half_length)
        return float(np.max(np.arcsinh(h / r)))

    def layer_index(self, volume_id, layer_id) -> Int[np.ndarray, " n"]:
        """Layer index (0..L-1) of TrackML ``(volume_id, layer_id)`` pairs; -1 if unknown."""
        table = {
            (v, lay): i
            for i, (v, lay) in enumerate(zip(self.volume_id, self.layer_id, strict=True))
        }
        vol = np.asarray(volume_id).reshape(-1)
        lay = np.asarray(layer_id).reshape(-1)
        return np.array([table.get((int(a), int(b)), -1) for a, b in zip(vol, lay, strict=True)])
