r"""A Heitler electromagnetic cascade in a layered 1D absorber.

Heitler's model (W. Heitler, *The Quantum Theory of Radiation*, 1954; see also
J. Matthews, Astropart. Phys. 22 (2005) 387): every electron, positron or
photon of energy $E$ above the critical energy $E_c$ splits into two particles
of energy $E/2$ after a splitting length $X_0\ln2$; below $E_c$ it stops
multiplying and deposits its energy. The shower reaches
$N_\text{max}=E_0/E_c$ particles at depth $X_0\ln(E_0/E_c)$.

Here splitting is stochastic: in a step of length $\Delta$ through a layer of
radiation length $X_0$, a particle above $E_c$ splits with probability
$p=1-\exp(-\Delta/(X_0\ln2))$ (mean free path $X_0\ln 2$, a
:func:`hepjax.estimators.bernoulli` draw per particle). A particle that falls
below $E_c$ deposits its energy in the current layer. Everything moves forward
in one dimension at the same speed, so one loop step advances the whole
population; energy reaching the back of the absorber is *leakage*. The
radiation lengths are differentiable parameters (through the splitting
probabilities), e.g. to tune a sampling calorimeter's absorber.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float

import hepjax.estimators as hje
from hepjax._core import check_positive_int, concrete_value

from ._buffer import check_number, float_dtype, spawn


class Cascade(eqx.Module):
    """Result of :func:`em_cascade` (batch with ``jax.vmap``).

    Attributes:
        deposits: ``(L,)`` energy deposited in each layer.
        leakage: energy of the particles that leave the back of the absorber.
        profile: ``(S,)`` number of live particles after each step.
        overflow: ``True`` if a split found no free slot in the buffer (the
            lost particle's energy is then missing from deposits and leakage).
    """

    deposits: Float[Array, " l"]
    leakage: Float[Array, ""]
    profile: Float[Array, " s"]
    overflow: Bool[Array, ""]


def em_cascade(
    key: ArrayLike,
    energy: Float[ArrayLike, ""],
    radiation_length: Float[ArrayLike, " l"],
    thickness,
    *,
    critical_energy: float = 10.0,
    step_size: float = 0.1,
    capacity: int = 256,
) -> Cascade:
    r"""Simulate one Heitler cascade started by a particle of ``energy`` at depth 0.

    Args:
        key: a PRNG key.
        energy: initial energy $E_0$ (same units as ``critical_energy``).
        radiation_length: ``(L,)`` radiation length $X_0$ of each layer (cm),
            differentiable.
        thickness: ``(L,)`` thickness of each layer (cm); static (a tuple or
            NumPy array), it fixes the number of steps.
        critical_energy: $E_c$; below it a particle deposits its energy.
        step_size: step length $\Delta$ (cm).
        capacity: particle buffer size (static); Heitler's maximum is about
            $2^{\lceil\log_2(E_0/E_c)\rceil}$.

    Returns:
        A :class:`Cascade`.
    """
    check_number("energy", energy)
    check_number("critical_energy", critical_energy)
    check_number("step_size", step_size)
    check_positive_int("capacity", capacity)
    t = np.asarray(thickness, dtype=np.float64) if concrete_value(thickness) is not None else None
    if t is None:
        raise TypeError("thickness must be static (a tuple or NumPy array), not traced")
    if t.ndim != 1 or t.shape[0] == 0 or not np.all(np.isfinite(t) & (t > 0)):
        raise ValueError(f"thickness must be a non-empty 1-d array of positive lengths, got {t}")
    x0 = jnp.asarray(radiation_length)
    x0 = x0.astype(float_dtype(x0, jnp.asarray(energy)))
    if x0.shape != t.shape:
        raise ValueError(
            f"radiation_length must have shape {t.shape} (one per layer), got {x0.shape}"
        )
    xv = concrete_value(x0)
    if xv is not None and not np.all(np.isfinite(xv) & (xv > 0)):
        raise ValueError(f"radiation_length must be finite and > 0, got {xv}")
    dtype = x0.dtype
    n_layers = t.shape[0]
    edges = jnp.asarray(np.cumsum(t), dtype)
    n_steps = math.ceil(float(np.sum(t)) / step_size)
    e0 = jnp.asarray(energy, dtype)
    alive = jnp.zeros(capacity, bool).at[0].set(True)
    en = jnp.zeros(capacity, dtype).at[0].set(e0)

    def step(c, s):
        alive, en, dep, lost = c
        depth = (s + 0.5) * step_size  # the middle of the step
        layer = jnp.minimum(jnp.searchsorted(edges, depth, side="right"), n_layers - 1)
        onehot = jax.nn.one_hot(layer, n_layers, dtype=dtype)
        low = alive & (en < critical_energy)
        dep = dep + onehot * jnp.sum(jnp.where(low, en, 0))
        alive = alive & ~low
        p = -jnp.expm1(-step_size / (x0[layer] * math.log(2.0)))
        split = alive & (hje.bernoulli(jax.random.fold_in(key, s), jnp.where(alive, p, 0)) > 0.5)
        en = jnp.where(split, en / 2, en)
        alive, bufs, lost_now = spawn(alive, split, {"en": (en, en)})
        en = bufs["en"]
        lost = lost + lost_now
        return (alive, en, dep, lost), jnp.sum(alive).astype(dtype)

    init = (alive, en, jnp.zeros(n_layers, dtype), jnp.zeros((), jnp.int32))
    (alive, en, dep, lost), profile = lax.scan(step, init, jnp.arange(n_steps))
    leak = jnp.sum(jnp.where(alive, en, 0))
    return Cascade(dep, leak, profile, lost > 0)
