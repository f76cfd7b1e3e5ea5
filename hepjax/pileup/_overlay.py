r"""Pile-up overlays in the Vipr recipe (arXiv:2410.22074).

A hard-scatter jet, given by its constituents $(p_T, \eta, \phi)$ with a mask,
is contaminated with $n_\text{PU}$ minimum-bias events drawn from a fixed pool
(:func:`hepjax.data.collider.minbias_pool`): $\mu$ is drawn per jet (a fixed
number, or a distribution such as Vipr's training choice
$\mu \sim |\mathcal N(200, 50)|$, :class:`AbsNormal`), $n_\text{PU}$ is $\mu$
rounded to the nearest integer, each pile-up event is flipped in $\eta$ with
probability $\tfrac12$ and rotated by a uniform angle in $\phi$, and its particles
within $\Delta R = \sqrt{\Delta\eta^2 + \Delta\phi^2} \le R$ of the jet axis (the
direction of the constituents' summed massless four-momenta) are added. As
every call draws anew, a data stream that overlays on the fly sees a new $\mu$
and a new pile-up configuration for every jet in every epoch.

The contaminated jet holds the hard-scatter constituents first, in their order
and slots, then the pile-up particles: with ``n`` hard-scatter slots, slot $i$ is
pile-up exactly when $i \ge n$. Pile-up particles beyond ``capacity`` are dropped
and counted (:attr:`OverlayResult.overflow`).

For a pool of events with $\bar N$ particles spread uniformly over
$|\eta| < \eta_\text{max}$, a jet away from the edges receives on average
$n_\text{PU}\,\bar N\,\pi R^2 / (2\eta_\text{max}\cdot 2\pi)$ particles
(:meth:`Overlay.expected_particles` estimates it from the pool itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._core import check_positive_int

__all__ = ["AbsNormal", "Overlay", "OverlayResult", "jet_axis"]


class AbsNormal(eqx.Module):
    r"""$\mu \sim |\mathcal N(\text{mean}, \text{std}^2)|$ (Vipr trains with mean 200, std 50)."""

    mean: float
    std: float

    def __check_init__(self):
        if not (self.std >= 0 and math.isfinite(self.mean)):
            raise ValueError(
                f"AbsNormal needs a finite mean and std >= 0, got {self.mean}, {self.std}"
            )

    def __call__(self, key) -> Float[Array, ""]:
        return jnp.abs(self.mean + self.std * jax.random.normal(key))

    @property
    def upper(self) -> float:
        """A value $\\mu$ exceeds with probability below $10^{-6}$ (5 standard deviations)."""
        return abs(self.mean) + 5 * self.std


def jet_axis(
    particles: Float[ArrayLike, "n 3"], mask: Bool[ArrayLike, " n"]
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    r"""$(\eta, \phi)$ of the summed massless four-momenta of ``particles`` $(p_T, \eta, \phi)$."""
    particles = jnp.asarray(particles)
    pt = jnp.where(mask, particles[:, 0], 0.0)
    eta, phi = particles[:, 1], particles[:, 2]
    px, py, pz = jnp.sum(pt * jnp.cos(phi)), jnp.sum(pt * jnp.sin(phi)), jnp.sum(pt * jnp.sinh(eta))
    return jnp.arcsinh(pz / jnp.maximum(jnp.hypot(px, py), 1e-12)), jnp.arctan2(py, px)


class OverlayResult(NamedTuple):
    """One contaminated jet: ``particles`` ``(n + capacity, 3)`` $(p_T, \\eta, \\phi)$, its
    ``mask``, ``is_pileup`` (slots ``>= n``), ``mu``, ``num_events`` ($n_\\text{PU}$) and
    ``overflow`` (pile-up particles that did not fit)."""

    particles: Float[Array, "m 3"]
    mask: Bool[Array, " m"]
    is_pileup: Bool[Array, " m"]
    mu: Float[Array, ""]
    num_events: Int[Array, ""]
    overflow: Int[Array, ""]


class Overlay(eqx.Module):
    r"""Overlay minimum-bias events on a jet (module docstring).

    ``overlay(key, (particles, mask))`` returns ``(contaminated, mask, mu)``;
    :meth:`sample` returns the whole :class:`OverlayResult`. Both work on one jet
    and compose with ``jax.vmap`` and ``jax.jit``.

    Args:
        pool: a :class:`~hepjax.data.collider.ParticlePool` (or anything with ``pt``,
            ``eta``, ``phi``, ``mask`` arrays of shape ``(E, P)``).
        mu: the mean number of interactions: a number, or a callable ``mu(key)``
            such as :class:`AbsNormal`.
        radius: the $\Delta R$ around the jet axis within which pile-up is added.
        max_events: the most pile-up events per jet (default: from ``mu``: itself,
            or the distribution's ``upper``).
        capacity: pile-up slots per jet (default: enough for ``max_events`` with
            margin, from :meth:`expected_particles`).
    """

    pool: Float[Array, "e p 3"]
    pool_mask: Bool[Array, "e p"]
    mu: float | Callable
    radius: float = eqx.field(static=True)
    max_events: int = eqx.field(static=True)
    capacity: int = eqx.field(static=True)

    def __init__(self, pool, mu, radius: float = 1.0, max_events=None, capacity=None):
        mask = np.asarray(pool.mask, bool)
        if mask.ndim != 2 or not mask.any():
            raise ValueError("pool: expected (E, P) arrays with at least one particle")
        columns = [np.asarray(getattr(pool, k), np.float32) for k in ("pt", "eta", "phi")]
        stacked = np.stack(columns, -1)
        if stacked.shape[:2] != mask.shape:
            raise ValueError(f"pool: pt, eta, phi and mask must share the shape {mask.shape}")
        if not np.all(np.isfinite(stacked[mask])) or np.any(stacked[..., 0][mask] < 0):
            raise ValueError("pool: particles must have finite (pt, eta, phi) and pt >= 0")
        if callable(mu):
            upper = getattr(mu, "upper", None)
            if upper is None and max_events is None:
                raise ValueError("max_events is required when mu is a callable without `upper`")
        else:
            if not (isinstance(mu, int | float) and math.isfinite(mu) and mu >= 0):
                raise ValueError(f"mu must be a number >= 0 or a callable mu(key), got {mu!r}")
            upper = float(mu)
        if not radius > 0:
            raise ValueError(f"radius must be positive, got {radius}")
        self.pool = jnp.asarray(stacked)
        self.pool_mask = jnp.asarray(mask)
        self.mu = mu
        self.radius = float(radius)
        self.max_events = (
            check_positive_int("max_events", max_events)
            if max_events is not None
            else max(1, math.ceil(upper + 0.5))
        )
        if capacity is None:
            mean = self.expected_particles(self.max_events)
            capacity = max(8, math.ceil(mean + 6 * math.sqrt(mean) + 8))
        self.capacity = check_positive_int("capacity", capacity)

    def expected_particles(self, num_events: int | float) -> float:
        r"""Mean pile-up particles within ``radius`` of a central jet for ``num_events``
        events: the pool's particle density per unit $\eta$ at $|\eta| < 1$ times
        $\pi R^2 / 2\pi$."""
        mask = np.asarray(self.pool_mask)
        eta = np.abs(np.asarray(self.pool[..., 1]))
        per_eta = np.sum(mask & (eta < 1.0)) / mask.shape[0] / 2.0  # per unit eta, per event
        return float(num_events * per_eta * math.pi * self.radius**2 / (2 * math.pi))

    def __call__(self, key, jet) -> tuple[Array, Array, Array]:
        result = self.sample(key, *jet)
        return result.particles, result.mask, result.mu

    def sample(
        self, key, particles: Float[ArrayLike, "n 3"], mask: Bool[ArrayLike, " n"]
    ) -> OverlayResult:
        """Contaminate one jet; see the class docstring.

        Args:
            key: a JAX PRNG key (draws mu, the events, their flips and rotations).
            particles: the hard-scatter constituents ``(n, 3)``: $(p_T, \\eta, \\phi)$.
            mask: ``(n,)``, ``True`` for real constituents.
        """
        particles, mask = jnp.asarray(particles, jnp.float32), jnp.asarray(mask, bool)
        if particles.ndim != 2 or particles.shape[-1] != 3:
            raise ValueError(f"particles must be (n, 3) = (pt, eta, phi), got {particles.shape}")
        if mask.shape != particles.shape[:1]:
            raise ValueError(f"mask must have shape ({particles.shape[0]},), got {mask.shape}")
        k_mu, k_events, k_flip, k_turn = jax.random.split(key, 4)
        mu = jnp.asarray(self.mu(k_mu) if callable(self.mu) else self.mu, jnp.float32)
        num_events = jnp.clip(jnp.round(mu), 0, self.max_events).astype(jnp.int32)
        picked = jax.random.randint(k_events, (self.max_events,), 0, self.pool.shape[0])
        events, used = self.pool[picked], self.pool_mask[picked]
        flip = jnp.where(jax.random.bernoulli(k_flip, 0.5, (self.max_events, 1)), -1.0, 1.0)
        turn = jax.random.uniform(k_turn, (self.max_events, 1), maxval=2 * jnp.pi)
        eta = flip * events[..., 1]
        phi = jnp.mod(events[..., 2] + turn + jnp.pi, 2 * jnp.pi) - jnp.pi
        axis_eta, axis_phi = jet_axis(particles, mask)
        dphi = jnp.mod(phi - axis_phi + jnp.pi, 2 * jnp.pi) - jnp.pi
        inside = (eta - axis_eta) ** 2 + dphi**2 <= self.radius**2
        keep = (used & inside & (jnp.arange(self.max_events) < num_events)[:, None]).reshape(-1)
        added = jnp.stack([events[..., 0], eta, phi], -1).reshape(-1, 3)
        slot = jnp.cumsum(keep) - 1
        target = jnp.where(keep & (slot < self.capacity), slot, self.capacity)
        pileup = jnp.zeros((self.capacity, 3), jnp.float32).at[target].set(added, mode="drop")
        count = jnp.sum(keep)
        n = particles.shape[0]
        return OverlayResult(
            particles=jnp.concatenate([jnp.where(mask[:, None], particles, 0.0), pileup]),
            mask=jnp.concatenate([mask, jnp.arange(self.capacity) < count]),
            is_pileup=jnp.arange(n + self.capacity) >= n,
            mu=mu,
            num_events=num_events,
            overflow=jnp.maximum(count - self.capacity, 0),
        )
