r"""Particle guns and toy pile-up: vertices, momenta and charges of primary particles.

All particles are treated as muons by the simulation (mass 105.66 MeV for the
energy loss and $\beta$ of the Highland formula) with charge $\pm1$.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..._core import check_positive_int
from ._geometry import BarrelGeometry


class Particles(eqx.Module):
    """A set of ``n`` primary particles.

    Attributes:
        vertex: ``(n, 3)`` production vertices (mm).
        momentum: ``(n, 3)`` momenta (GeV).
        charge: ``(n,)`` charges ($\\pm1$).
    """

    vertex: Float[Array, "n 3"]
    momentum: Float[Array, "n 3"]
    charge: Float[Array, " n"]

    def __check_init__(self):
        n = self.vertex.shape[0]
        if self.vertex.shape != (n, 3) or self.momentum.shape != (n, 3):
            raise ValueError(
                f"vertex and momentum must have shape (n, 3), got {self.vertex.shape} "
                f"and {self.momentum.shape}"
            )
        if self.charge.shape != (n,):
            raise ValueError(f"charge must have shape ({n},), got {self.charge.shape}")

    @property
    def pt(self) -> Float[Array, " n"]:
        """Transverse momenta (GeV)."""
        return jnp.hypot(self.momentum[:, 0], self.momentum[:, 1])

    @property
    def eta(self) -> Float[Array, " n"]:
        """Pseudorapidities."""
        return jnp.arcsinh(self.momentum[:, 2] / self.pt)

    @property
    def phi(self) -> Float[Array, " n"]:
        """Azimuths of the momenta."""
        return jnp.arctan2(self.momentum[:, 1], self.momentum[:, 0])


def _range(name, value, lo=-math.inf, hi=math.inf):
    if not (isinstance(value, tuple | list) and len(value) == 2):
        raise ValueError(f"{name} must be a (low, high) pair, got {value!r}")
    a, b = float(value[0]), float(value[1])
    if not (np.isfinite(a) and np.isfinite(b) and a <= b):
        raise ValueError(f"{name} must be finite with low <= high, got {value!r}")
    if a < lo or b > hi:
        raise ValueError(f"{name} must lie within [{lo}, {hi}], got {value!r}")
    return a, b


def _check_eta(eta_range, geometry):
    if geometry is not None:
        emax = geometry.eta_max()
        if max(abs(eta_range[0]), abs(eta_range[1])) > emax:
            raise ValueError(
                f"eta range {eta_range} goes beyond the detector: no layer is crossed for "
                f"|eta| > {emax:.3f} (geometry.eta_max())"
            )


def _from_pt_eta_phi(pt, eta, phi, charge, vertex) -> Particles:
    mom = jnp.stack([pt * jnp.cos(phi), pt * jnp.sin(phi), pt * jnp.sinh(eta)], axis=-1)
    return Particles(vertex=vertex, momentum=mom, charge=charge)


def _charges(key, n, charge, dtype):
    if charge is None:
        return jnp.where(jax.random.bernoulli(key, 0.5, (n,)), 1.0, -1.0).astype(dtype)
    if charge not in (1, -1):
        raise ValueError(f"charge must be +1, -1 or None (random sign), got {charge!r}")
    return jnp.full((n,), float(charge), dtype)


def _vertex_sigma(vertex_sigma) -> tuple[float, float, float]:
    sig = np.broadcast_to(np.asarray(vertex_sigma, dtype=float), (3,))
    if np.any(sig < 0) or not np.all(np.isfinite(sig)):
        raise ValueError(f"vertex_sigma must be finite and >= 0, got {vertex_sigma!r}")
    return tuple(float(s) for s in sig)


def _vertices(key, n, sig, dtype):
    return jax.random.normal(key, (n, 3), dtype) * jnp.asarray(sig, dtype)


def particle_gun(
    key,
    n: int,
    *,
    pt: tuple = (1.0, 10.0),
    eta: tuple = (-2.0, 2.0),
    phi: tuple = (-math.pi, math.pi),
    charge: int | None = None,
    vertex_sigma: float | int | tuple = 0.0,
    log_pt: bool = False,
    geometry: BarrelGeometry | None = None,
    dtype=jnp.float32,
) -> Particles:
    """A gun of ``n`` particles uniform in pT (or log pT), eta and phi.

    Args:
        key: PRNG key.
        n: number of particles.
        pt: pT range in GeV, with low > 0.
        eta: pseudorapidity range.
        phi: azimuth range.
        charge: +1, -1, or ``None`` for a random sign per particle.
        vertex_sigma: Gaussian vertex spread in mm (scalar or per axis).
        log_pt: draw log pT uniformly instead of pT.
        geometry: if given, an ``eta`` range beyond ``geometry.eta_max()`` is an error.
        dtype: float dtype of the arrays.

    Raises:
        ValueError: for pT ranges reaching 0, eta beyond the detector, bad charges.
    """
    n = check_positive_int("n", n)
    pt = _range("pt", pt)
    if pt[0] <= 0:
        raise ValueError(f"pt must be > 0 (pT = 0 has no direction or helix), got {pt!r}")
    eta = _range("eta", eta)
    phi = _range("phi", phi)
    _check_eta(eta, geometry)
    if charge is not None and charge not in (1, -1):
        raise ValueError(f"charge must be +1, -1 or None (random sign), got {charge!r}")
    sig = _vertex_sigma(vertex_sigma)
    return _gun_jit(key, int(n), pt, eta, phi, charge, sig, bool(log_pt), jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=tuple(range(1, 9)))
def _gun_jit(key, n, pt, eta, phi, charge, sig, log_pt, dtype):
    k = jax.random.split(key, 5)
    u = jax.random.uniform(k[0], (n,), dtype)
    if log_pt:
        pts = jnp.exp(math.log(pt[0]) + u * (math.log(pt[1]) - math.log(pt[0])))
    else:
        pts = pt[0] + u * (pt[1] - pt[0])
    etas = jax.random.uniform(k[1], (n,), dtype, eta[0], eta[1])
    phis = jax.random.uniform(k[2], (n,), dtype, phi[0], phi[1])
    q = _charges(k[3], n, charge, dtype)
    return _from_pt_eta_phi(pts, etas, phis, q, _vertices(k[4], n, sig, dtype))


def pileup_particles(
    key,
    n: int = 200,
    *,
    pt_min: float | int = 0.5,
    pt_max: float | int = 50.0,
    pt_index: float | int = 3.0,
    eta: tuple = (-2.0, 2.0),
    n_vertices: int = 1,
    vertex_sigma: float | int | tuple = (0.015, 0.015, 50.0),
    geometry: BarrelGeometry | None = None,
    dtype=jnp.float32,
) -> Particles:
    r"""A toy pile-up event: ``n`` charged particles from ``n_vertices`` collisions.

    pT follows a power law $dN/dp_T\propto p_T^{-n}$ (``pt_index``) on
    $[p_{T,\min}, p_{T,\max}]$, drawn by inverse CDF; eta is uniform, phi
    uniform, charges random. Each particle belongs to one of ``n_vertices``
    collision vertices drawn with ``vertex_sigma``; the particles of one
    vertex share it exactly.

    Args:
        key: PRNG key of the draw.
        n: the number of charged particles.
        pt_min: the lower end of the $p_T$ range, GeV.
        pt_max: the upper end of the $p_T$ range, GeV.
        pt_index: the power-law index $n$ of $dN/dp_T \propto p_T^{-n}$.
        eta: ``(low, high)`` range of the uniform pseudorapidity.
        n_vertices: the number of collision vertices.
        vertex_sigma: Gaussian spread of the vertices in mm, one value or ``(x, y, z)``.
        geometry: if given, an ``eta`` range beyond ``geometry.eta_max()`` is an error.
        dtype: float dtype of the particles' arrays.
    """
    n = check_positive_int("n", n)
    if not (0 < pt_min < pt_max):
        raise ValueError(f"need 0 < pt_min < pt_max (pT = 0 has no helix), got {pt_min}, {pt_max}")
    if pt_index <= 1:
        raise ValueError(f"pt_index must be > 1, got {pt_index}")
    n_vertices = check_positive_int("n_vertices", n_vertices)
    eta = _range("eta", eta)
    _check_eta(eta, geometry)
    sig = _vertex_sigma(vertex_sigma)
    return _pileup_jit(
        key,
        int(n),
        float(pt_min),
        float(pt_max),
        float(pt_index),
        eta,
        int(n_vertices),
        sig,
        jnp.dtype(dtype),
    )


@functools.partial(jax.jit, static_argnums=tuple(range(1, 9)))
def _pileup_jit(key, n, pt_min, pt_max, pt_index, eta, n_vertices, vertex_sigma, dtype):
    k = jax.random.split(key, 6)
    u = jax.random.uniform(k[0], (n,), dtype)
    a = 1.0 - pt_index
    pts = (pt_min**a + u * (pt_max**a - pt_min**a)) ** (1.0 / a)
    etas = jax.random.uniform(k[1], (n,), dtype, eta[0], eta[1])
    phis = jax.random.uniform(k[2], (n,), dtype, -math.pi, math.pi)
    q = _charges(k[3], n, None, dtype)
    pv = _vertices(k[4], n_vertices, vertex_sigma, dtype)
    which = jax.random.randint(k[5], (n,), 0, n_vertices)
    return _from_pt_eta_phi(pts, etas, phis, q, pv[which])
