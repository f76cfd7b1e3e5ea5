r"""The exact stochastic simulation algorithm (Gillespie's direct method).

Between observation times the direct method draws the waiting time
$\tau\sim\mathrm{Exp}(a_0(x))$, $a_0=\sum_r a_r(x)$, and the reaction
$r\sim\mathrm{Categorical}(a/a_0)$. We split the waiting time at the next
observation time $t_k$ by memorylessness:

1. one categorical draw (``hje.categorical(..., one_hot=True)``) over
   $R+1$ outcomes chooses "no event before $t_k$" with probability
   $e^{-a_0(t_k-t)}$ and reaction $r$ with probability $q\,a_r/a_0$,
   $q=1-e^{-a_0(t_k-t)}$;
2. after a reaction, its time is the truncated exponential
   $\tau=-\log(1-u\,q)/a_0$ (a continuous, reparameterised draw);
3. otherwise the state at $t_k$ is recorded and the clock moves to $t_k$.

This is the same law as the textbook algorithm, but every discontinuity of the
observed path in the rates is now a discrete draw, so all estimators of
:mod:`hepjax.estimators` apply: the alternative-path estimator sees both the
reaction choice and whether the last event before an observation crosses it.
One draw per step (instead of a Bernoulli and a categorical) also saves random
bits, the main cost of the loop.
The loop is a ``lax.while_loop`` over fixed-shape state (memory independent of
the number of events), bounded by ``max_steps`` events.

References: D. T. Gillespie, J. Phys. Chem. 81, 2340 (1977) (the direct
method); arXiv:2604.02121 (gradient estimators for the SSA); arXiv:2210.08572
(stochastic derivatives, the alternative-path weights).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int

import hepjax.estimators as hje
from hepjax._core import check_positive_int, concrete_value

from ._network import ReactionNetwork


class Solution(eqx.Module):
    """Result of :func:`simulate` (batch with ``jax.vmap``).

    Attributes:
        t: the observation times, shape ``(K,)``.
        x: species counts at the observation times, ``(K, S)``, floats with
            integer values (floats so that relaxed estimators can differentiate).
        overflow: ``True`` if ``max_steps`` events were used up before the last
            observation time; the unreached rows of ``x`` then hold the last
            state and ``reached`` is ``False`` there.
        reached: ``(K,)``, which observation times were reached.
        num_events: number of reaction events simulated.
    """

    t: Float[Array, " k"]
    x: Float[Array, "k s"]
    overflow: Bool[Array, ""]
    reached: Bool[Array, " k"]
    num_events: Int[Array, ""]


def _check_inputs(network, rates, x0, t_obs, max_steps, t0):
    if not isinstance(network, ReactionNetwork):
        raise TypeError(
            f"network must be a ReactionNetwork (gillespie.mass_action(...)), got "
            f"{type(network).__name__}"
        )
    check_positive_int("max_steps", max_steps)
    rates = jnp.asarray(rates)
    if not jnp.issubdtype(rates.dtype, jnp.floating):
        rates = rates.astype(jnp.result_type(float))
    if rates.shape != (network.num_rates,):
        raise ValueError(
            f"rates must have shape ({network.num_rates},) (one per rate constant), got "
            f"{rates.shape}"
        )
    x0 = jnp.asarray(x0)
    if x0.shape != (network.num_species,):
        raise ValueError(
            f"x0 must have shape ({network.num_species},) (one count per species), got {x0.shape}"
        )
    t_obs = jnp.asarray(t_obs, rates.dtype)
    if t_obs.ndim != 1 or t_obs.shape[0] == 0:
        raise ValueError(f"t_obs must be a non-empty 1-d array of times, got shape {t_obs.shape}")
    r = concrete_value(rates)
    if r is not None and not np.all(np.isfinite(r) & (r >= 0)):
        raise ValueError(f"rates must be finite and >= 0, got {r}")
    x = concrete_value(x0)
    if x is not None and not np.all((x >= 0) & (x == np.round(x))):
        raise ValueError(f"x0 must be non-negative integer counts, got {x}")
    t = concrete_value(t_obs)
    if t is not None and (np.any(np.diff(t) < 0) or t[0] < float(t0) or not np.all(np.isfinite(t))):
        raise ValueError(f"t_obs must be finite, sorted (non-decreasing) and >= t0={t0}, got {t}")
    return rates, x0.astype(rates.dtype), t_obs


def simulate(key, network, rates, x0, t_obs, *, max_steps, t0=0.0, throw=False) -> Solution:
    r"""Simulate one exact SSA trajectory and return the states at ``t_obs``.

    Args:
        key: a PRNG key.
        network: from :func:`mass_action`, :func:`custom` or a ready-made network.
        rates: ``(network.num_rates,)`` non-negative rate constants (the differentiable parameters).
        x0: ``(S,)`` non-negative integer initial counts at time ``t0``.
        t_obs: ``(K,)`` sorted observation times ``>= t0``.
        max_steps: the most reaction events to simulate (a static int; memory
            does not depend on it).
        t0: initial time.
        throw: raise (``eqx.error_if``) instead of flagging ``overflow``; also
            checks traced rates and ``x0`` at run time.

    Returns:
        A :class:`Solution`. Use ``jax.vmap`` over keys for many trajectories.
    """
    rates, x0, t_obs = _check_inputs(network, rates, x0, t_obs, max_steps, t0)
    if throw:
        bad = ~jnp.all(jnp.isfinite(rates) & (rates >= 0))
        rates = eqx.error_if(rates, bad, "rates must be finite and >= 0")
        bad_x = ~jnp.all((x0 >= 0) & (x0 == jnp.round(x0)))
        x0 = eqx.error_if(x0, bad_x, "x0 must be non-negative integer counts")
    dtype = rates.dtype
    num_obs = t_obs.shape[0]
    nu = jnp.asarray(network.stoichiometry, dtype)
    max_events = jnp.asarray(max_steps, jnp.int32)

    def cond(c):
        _, k, _, _, _, over, _ = c
        return (k < num_obs) & ~over

    def body(c):
        n, k, t, x, obs, _over, key = c
        # Per-step keys by counter: cheaper than splitting a carried key.
        step_key = jax.random.fold_in(key, n + k)
        kc, kt = step_key, jax.random.fold_in(step_key, 0xFFFFFFFF)
        a = network.propensities(x, rates)
        a0 = jnp.sum(a)
        live = a0 > 0
        safe_a0 = jnp.where(live, a0, 1)
        tk = t_obs[k]
        q = jnp.where(live, -jnp.expm1(-safe_a0 * (tk - t)), 0)
        # One draw over {no event before t_k, reaction 1, ..., reaction R}.
        probs = jnp.concatenate([(1 - q)[None], q * a / safe_a0])
        onehot = hje.categorical(kc, probs, one_hot=True)
        b = 1 - onehot[0]
        u = jax.random.uniform(kt, (), dtype)
        tau = -jnp.log1p(-u * q) / safe_a0
        event = b > 0.5
        room = n < max_events
        x_new = x + room.astype(dtype) * (onehot[1:] @ nu)
        t_new = jnp.where(event, t + tau, tk)
        obs = obs.at[k].set(jnp.where(event, obs[k], x))
        k_new = k + (~event).astype(jnp.int32)
        n_new = n + (event & room).astype(jnp.int32)
        over_new = event & ~room
        t_new = jnp.where(over_new, t, t_new)
        return n_new, k_new, t_new, x_new, obs, over_new, key

    obs0 = jnp.zeros((num_obs, network.num_species), dtype)
    init = (
        jnp.zeros((), jnp.int32),
        jnp.zeros((), jnp.int32),
        jnp.asarray(t0, dtype),
        x0,
        obs0,
        jnp.zeros((), bool),
        key,
    )
    n, k, _, x, obs, over, _ = lax.while_loop(cond, body, init)
    reached = jnp.arange(num_obs) < k
    obs = jnp.where(reached[:, None], obs, x[None, :])
    if throw:
        obs = eqx.error_if(obs, over, "gillespie.simulate: max_steps events ran out")
    return Solution(t_obs, obs, over, reached, n)
