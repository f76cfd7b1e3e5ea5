r"""The 2D toy shower of "Branches of a tree" (Kagan & Heinrich, arXiv:2308.16680).

A particle starts at the origin with energy $E_0=25$ and a uniformly random
direction, and moves in straight steps of length $\Delta=0.02$. Before each
step it stops (and leaves an *end hit* where it stands) if $E<0.5$ or if the
step would take it beyond $r=20$. Otherwise, at the new position $x$, it
interacts with probability

$$p(x;\theta)=A\,\sigma\bigl(k(r-\theta)\bigr)\,\sigma\bigl(-k(r-\theta-T)\bigr)\,
\sigma\bigl(-k\sin(f(\alpha+2r))\bigr)\,\sigma\bigl(-k\cos(f(r-2))\bigr),$$

$r=|x|$, $\alpha=\operatorname{atan2}(x_1,x_2)$: a smooth detector shell of
inner radius $\theta$ and thickness $T=10$ (the first two sigmoids) times a
periodic "sampling" pattern, with $A=0.5$, $k=10$, $f=10$. An interaction
leaves an *interaction hit* at the start of the step and

* ``mode="eloss"``: the particle loses 2 units of energy (floored at 0) and
  its direction gets a kick $(\pm0.05,\pm0.05)$ with random signs;
* ``mode="split"``: the particle splits into two of energy $E/2$, with
  directions $\hat d\pm(0.05,0.05)$ (renormalised), at the same place.

The design objective of the paper is $(\bar r_\text{hits}-2)^2$, the squared
distance of the mean hit radius from 2, minimised over $\theta$
(:func:`mean_radius_loss`). The only dependence on $\theta$ is through the
interaction draws, so the derivative of its expectation is entirely carried by
the discrete randomness, which is what the paper's stochastic AD differentiates.

All particles live in a fixed-capacity buffer with a mask, advanced together by
``lax.while_loop`` steps (optionally a buffer that grows by doubling, see
``grow_buffer``). It composes with ``jit``, ``vmap`` and
:func:`hepjax.estimators.value_and_grad`
(the alternative path of a flipped interaction creates or removes particles in
its own copy of the buffer). The model follows the public code of the paper
(``shower_sim_redone.py`` of lukasheinrich/branches_of_a_tree).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int

import hepjax.estimators as hje
from hepjax._core import check_choice, check_positive_int, concrete_value

from ._buffer import (
    append_rows,
    check_number,
    float_dtype,
    grow,
    growth_schedule,
    spawn,
)

MODES = ("split", "eloss")
INTERACTION, END = 1, 2


class Shower(eqx.Module):
    """Result of :func:`shower` (one shower; batch with ``jax.vmap``).

    Attributes:
        hits: ``(H, 2)`` positions of the recorded hits, in order; rows beyond
            ``num_stored`` are zero.
        hit_kind: ``(H,)`` ``1`` for interaction hits, ``2`` for end hits, ``0``
            for empty rows.
        radius_sum: exact sum of the radii of *all* hits (also those beyond the
            storage), the statistic of the design objective.
        num_hits: exact number of hits (a float, for ratios).
        num_interactions: number of interactions.
        num_particles: number of particles created (1 + splits).
        num_steps: loop iterations used.
        overflow: ``True`` if the particle buffer was too small (children were
            lost) or ``max_steps`` ran out with live particles. The sums are then
            incomplete.
        hits_dropped: hits not stored because ``max_hits`` was too small (the
            sums still include them).
    """

    hits: Float[Array, "h 2"]
    hit_kind: Int[Array, " h"]
    radius_sum: Float[Array, ""]
    num_hits: Float[Array, ""]
    num_interactions: Int[Array, ""]
    num_particles: Int[Array, ""]
    num_steps: Int[Array, ""]
    overflow: Bool[Array, ""]
    hits_dropped: Int[Array, ""]

    @property
    def hit_mask(self) -> Bool[Array, "*b h"]:
        """``(H,)`` which rows of ``hits`` are filled."""
        return self.hit_kind > 0


def interaction_probability(
    pos: Float[ArrayLike, "*batch 2"],
    theta: Float[ArrayLike, ""],
    *,
    thickness: float = 10.0,
    amplitude: float = 0.5,
    sharpness: float = 10.0,
    frequency: float = 10.0,
) -> Float[Array, "*batch"]:
    r"""Interaction probability $p(x;\theta)$ of the toy detector at positions ``pos``.

    A shell $\theta<r<\theta+T$ with sigmoid edges of sharpness $k$, times the
    periodic sampling pattern $\sigma(-k\sin(f(\alpha+2r)))\,\sigma(-k\cos(f(r-2)))$,
    scaled by the amplitude $A$ (see the module docstring; arXiv:2308.16680).

    Args:
        pos: ``(*batch, 2)`` positions in the detector plane.
        theta: the inner radius $\theta$ of the shell (the parameter being optimised).
        thickness: the shell thickness $T$.
        amplitude: the overall scale $A$ of the probability, in ``[0, 1]``.
        sharpness: the sigmoid sharpness $k$ of the edges and of the sampling pattern.
        frequency: the frequency $f$ of the periodic sampling pattern.
    """
    pos = jnp.asarray(pos)
    theta = jnp.asarray(theta, pos.dtype if jnp.issubdtype(pos.dtype, jnp.floating) else None)
    x, y = pos[..., 0], pos[..., 1]
    r = jnp.sqrt(jnp.maximum(x * x + y * y, jnp.finfo(x.dtype).tiny))
    alpha = jnp.arctan2(x, y)
    s1 = jax.nn.sigmoid(-sharpness * jnp.sin(frequency * (alpha + 2 * r)))
    s2 = jax.nn.sigmoid(-sharpness * jnp.cos(frequency * (r - 2)))
    start = jax.nn.sigmoid(sharpness * (r - theta))
    end = jax.nn.sigmoid(-sharpness * (r - theta - thickness))
    return amplitude * start * end * s1 * s2


def _normalise(d):
    return d / jnp.linalg.norm(d, axis=-1, keepdims=True)


def _check(mode, theta, energy, step_size, energy_cut, r_max, thickness, energy_loss, kick,
           amplitude, capacity, max_hits, max_steps):  # fmt: skip
    check_choice("mode", mode, MODES)
    th = jnp.asarray(theta)
    if th.shape != ():
        raise ValueError(f"theta must be a scalar (the inner radius), got shape {th.shape}")
    if not jnp.issubdtype(th.dtype, jnp.floating) and not jnp.issubdtype(th.dtype, jnp.integer):
        raise TypeError(f"theta must be a real number, got dtype {th.dtype}")
    t = concrete_value(th)
    if t is not None and not np.isfinite(t):
        raise ValueError(f"theta must be finite, got {t}")
    check_number("energy", energy)
    check_number("step_size", step_size)
    check_number("energy_cut", energy_cut, allow_zero=True)
    check_number("r_max", r_max)
    check_number("thickness", thickness)
    check_number("energy_loss", energy_loss)
    check_number("kick", kick, allow_zero=True)
    check_number("amplitude", amplitude, allow_zero=True)
    a = concrete_value(amplitude)
    if a is not None and a > 1:
        raise ValueError(
            f"amplitude must be a probability in [0, 1] (the largest interaction "
            f"probability), got {float(a)}"
        )
    check_positive_int("capacity", capacity)
    check_positive_int("max_hits", max_hits)
    check_positive_int("max_steps", max_steps)


def shower(
    key: ArrayLike,
    theta: Float[ArrayLike, ""],
    *,
    mode: str = "split",
    energy: float = 25.0,
    step_size: float = 0.02,
    energy_cut: float = 0.5,
    r_max: float = 20.0,
    thickness: float = 10.0,
    energy_loss: float = 2.0,
    kick: float = 0.05,
    amplitude: float = 0.5,
    capacity: int | None = None,
    max_hits: int | None = None,
    max_steps: int = 5000,
    grow_buffer: bool = False,
) -> Shower:
    r"""Simulate one toy shower of arXiv:2308.16680 at detector inner radius ``theta``.

    Args:
        key: a PRNG key.
        theta: inner radius of the detector shell (the design parameter).
        mode: ``"split"`` (the paper's shower: split into two of $E/2$) or
            ``"eloss"`` (lose ``energy_loss`` per interaction).
        energy: initial energy $E_0$.
        step_size: length of one step.
        energy_cut: particles below this energy stop.
        r_max: particles stop when a step would leave the disc of this radius.
        thickness: thickness $T$ of the detector shell.
        energy_loss: energy lost per interaction in ``"eloss"`` mode.
        kick: size of the direction kick per interaction.
        amplitude: the largest interaction probability $A\in[0,1]$.
        capacity: particle buffer size $C$ (static). Default: 64 in
            ``"split"`` mode, enough for the paper's settings ($E_0/2^6<0.5$,
            so at most 64 particles live), and 1 in ``"eloss"`` mode.
        max_hits: number of hit positions stored (static); the sums in the
            result count all hits regardless. Default: $2C$ in ``"split"``
            mode, $\lceil E_0/\text{energy\_loss}\rceil+2$ in ``"eloss"`` mode.
        max_steps: bound on the loop iterations (static).
        grow_buffer: start with a buffer of 2 slots and double it (one loop per
            size, left when the population could outgrow it) up to
            ``capacity``, so the single-particle flight to the detector costs
            two slots instead of ``capacity``. Same results, about 1.3x faster
            for large batches in ``"split"`` mode, but several times slower to
            compile (mostly under the estimators), so off by default.

    Returns:
        A :class:`Shower`. Its ``overflow`` flag reports a too small ``capacity``
        or ``max_steps``.
    """
    check_choice("mode", mode, MODES)
    check_number("energy", energy)
    check_number("energy_loss", energy_loss)
    if capacity is None:
        capacity = 64 if mode == "split" else 1
    if max_hits is None:
        e, de = concrete_value(energy), concrete_value(energy_loss)
        eloss_hits = 16 if e is None or de is None else int(np.ceil(float(e) / float(de))) + 2
        max_hits = 2 * capacity if mode == "split" else max(eloss_hits, 2 * capacity)
    _check(mode, theta, energy, step_size, energy_cut, r_max, thickness, energy_loss, kick,
           amplitude, capacity, max_hits, max_steps)  # fmt: skip
    dtype = float_dtype(jnp.asarray(theta))
    theta = jnp.asarray(theta, dtype)
    schedule = growth_schedule(capacity) if grow_buffer and mode == "split" else [capacity]
    cap = schedule[0]

    phi = jax.random.uniform(jax.random.fold_in(key, 0x5EED), (), dtype, -jnp.pi, jnp.pi)
    alive = jnp.zeros(cap, bool).at[0].set(True)
    pos = jnp.zeros((cap, 2), dtype)
    direction = jnp.zeros((cap, 2), dtype).at[0].set(jnp.stack([jnp.cos(phi), jnp.sin(phi)]))
    en = jnp.zeros(cap, dtype).at[0].set(energy)
    hits = jnp.zeros((max_hits, 3), dtype)
    zero_i = jnp.zeros((), jnp.int32)
    zero_f = jnp.zeros((), dtype)
    prob = lambda x: interaction_probability(x, theta, thickness=thickness, amplitude=amplitude)

    def cond(c, last):
        n, alive = c[0], c[1]
        go = jnp.any(alive) & (n < max_steps)
        if not last:  # a step at most doubles the population: stay while it fits
            go = go & (2 * jnp.sum(alive) <= alive.shape[0])
        return go

    def body(c):
        n, alive, pos, direction, en, hits, n_hits, r_sum, cnt, n_int, n_part, lost = c
        cap = alive.shape[0]
        k = jax.random.fold_in(key, n)
        new_pos = pos + step_size * direction
        r_old = jnp.sqrt(jnp.sum(pos * pos, axis=-1))
        r_new = jnp.sqrt(jnp.sum(new_pos * new_pos, axis=-1))
        stop = alive & ((en < energy_cut) | (r_new > r_max))
        alive = alive & ~stop
        p = jnp.where(alive, prob(new_pos), 0)
        inter = alive & (hje.bernoulli(k, p) > 0.5)
        hit = stop | inter
        kind = jnp.where(stop, END, INTERACTION).astype(dtype)
        hits, n_hits = append_rows(hits, n_hits, jnp.concatenate([pos, kind[:, None]], -1), hit)
        r_sum = r_sum + jnp.sum(jnp.where(hit, r_old, 0))
        cnt = cnt + jnp.sum(hit).astype(dtype)
        n_int = n_int + jnp.sum(inter).astype(jnp.int32)
        pos = jnp.where(alive[:, None], new_pos, pos)
        if mode == "eloss":
            signs = jax.random.rademacher(jax.random.fold_in(k, 1), (cap, 2), dtype)
            en = jnp.where(inter, jnp.maximum(en - energy_loss, 0), en)
            direction = jnp.where(inter[:, None], _normalise(direction + kick * signs), direction)
        else:
            en = jnp.where(inter, en / 2, en)
            d_child = _normalise(direction - kick)
            direction = jnp.where(inter[:, None], _normalise(direction + kick), direction)
            alive, bufs, lost_now = spawn(
                alive, inter, {"pos": (pos, pos), "dir": (d_child, direction), "en": (en, en)}
            )
            pos, direction, en = bufs["pos"], bufs["dir"], bufs["en"]
            lost = lost + lost_now
            n_part = n_part + jnp.sum(inter).astype(jnp.int32) - lost_now
        return n + 1, alive, pos, direction, en, hits, n_hits, r_sum, cnt, n_int, n_part, lost

    init = (zero_i, alive, pos, direction, en, hits, zero_i, zero_f, zero_f, zero_i,
            jnp.ones((), jnp.int32), zero_i)  # fmt: skip
    carry = init
    for i, c in enumerate(schedule):
        if i > 0:
            carry = (carry[0], *grow(carry[1:5], c), *carry[5:])
        last = i == len(schedule) - 1
        carry = lax.while_loop(lambda x, last=last: cond(x, last), body, carry)
    n, alive, _, _, _, hits, n_hits, r_sum, cnt, n_int, n_part, lost = carry
    return Shower(
        hits=hits[:, :2],
        hit_kind=hits[:, 2].astype(jnp.int32),
        radius_sum=r_sum,
        num_hits=cnt,
        num_interactions=n_int,
        num_particles=n_part,
        num_steps=n,
        overflow=(lost > 0) | jnp.any(alive),
        hits_dropped=jnp.maximum(n_hits - max_hits, 0),
    )


def mean_radius_loss(out: Shower, target: float = 2.0) -> Float[Array, ""]:
    r"""The paper's design objective $(\bar r_\text{hits}-r_0)^2$, $r_0=2$, of one shower.

    $\bar r_\text{hits}$ is the mean radius over all hits (interaction and end
    hits), from the exact sums of the shower.
    """
    mean_r = out.radius_sum / jnp.maximum(out.num_hits, 1)
    return (mean_r - target) ** 2
