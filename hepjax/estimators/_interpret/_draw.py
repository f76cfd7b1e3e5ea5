r"""A draw under the alternative-path interpreter: propose, prune, keep in the reservoir.

At a primal draw with a parameter-dependent law the distribution proposes an
alternative outcome $y$ with magnitude $m$ and surrogate $s$ (value 0, tangent
$w(\dot\theta)/m$; see :mod:`hepjax.estimators._distributions`). A draw of
several elements proposes for one element, chosen with probability
proportional to its $m$. The reservoir then keeps this proposal with
probability $m/(W+m)$, where $W$ is the total magnitude so far: every draw
ends up kept with probability $m_i/\sum_j m_j$, which the factor $W$ in the
estimate undoes. A perturbed draw (parameters or key already differ on the
alternative path) re-samples the alternative with common random numbers
(``dist.couple``). Inside a ``while_loop`` the two copies run in masked
lockstep until both stop; primal draws on masked iterations propose nothing.

Derivative-proportional pruning. The magnitudes $m_i$ may be any positive
numbers wherever $w_i\ne0$ without biasing the estimate, but its variance is
smallest when $m_i\propto|w_i|$: a draw whose probabilities do not move with
$\theta$ should never be kept. Its weight $w_i(\dot\theta)$ is only known as a
tangent, which cannot steer a primal decision inside forward mode. So, with
shadow lanes enabled (``AlternativePath(pruning="derivative")``), every
parameter-dependent value also carries a *shadow* with a leading axis of the
$P$ parameter directions: the same computation at $\theta+\epsilon_k e_k$
along the primal's discrete path. At a draw the finite differences of the
shadow give the parameter tangents, the exact weights $w_{ik}$ of the proposal
are evaluated with them (``jax.jvp`` of the proposal rule), and
$m_i=\sum_k|w_{ik}|+\eta\,m^\text{prob}_i$ (a small floor keeps $m_i>0$ where
a finite difference underflows). The weight that enters the estimate remains
the exact tangent, so the shadow only steers the pruning and cannot bias it.
This is the pruning of StochasticAD.jl's stochastic triples, used for the
detector-edge sensitivity of showers in arXiv:2308.16680.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._distributions import subkeys
from ._jaxpr import Context, is_inexact, stop_gradient_inexact
from ._values import PairedValue, Reservoir, effective_alternative

# eta: relative floor of the derivative magnitudes (keeps m > 0 where w != 0)
_MAGNITUDE_FLOOR = 1e-3


def reservoir_draw(
    dist, invals: list[PairedValue], aval, reservoir: Reservoir, context: Context
) -> tuple[PairedValue, Reservoir]:
    """One draw of both copies; its proposal may replace the one in the reservoir.

    Args:
        dist: the distribution's rules.
        invals: the key followed by the draw's parameters.
        aval: the abstract value (shape, dtype) of the draw's output.
        reservoir: the reservoir before the draw.
        context: whether the primal is live here, and the shadow steps.

    Returns:
        The draw's output and the updated reservoir.
    """
    fork = reservoir.fork
    key, params = invals[0], invals[1:]
    key_sample, key_couple, key_propose, key_coin = subkeys(key.primal)
    primal_params = [v.primal for v in params]
    x = stop_gradient_inexact(dist.sample(key_sample, *primal_params)).astype(aval.dtype)
    perturbed = any(v.alternative is not None for v in params) or key.alternative is not None
    if perturbed:
        # The alternative copy draws with its own key (under masked lockstep the
        # two keys differ once one copy has stopped) and common random numbers.
        alt_params = [stop_gradient_inexact(effective_alternative(v, fork)) for v in params]
        primal_params_const = [stop_gradient_inexact(p) for p in primal_params]
        if key.alternative is None:
            alt_key_sample, alt_key_couple, x_base = key_sample, key_couple, x
        else:
            alt_key_sample, alt_key_couple, _, _ = subkeys(effective_alternative(key, fork))
            x_base = dist.sample(alt_key_sample, *primal_params_const).astype(aval.dtype)
        x_alt = dist.couple(
            alt_key_sample, alt_key_couple, x_base, primal_params_const, alt_params
        ).astype(aval.dtype)
    else:
        x_alt = x
    if not any(v.depends_on_params for v in params):
        if not perturbed:
            return PairedValue(x), reservoir
        return PairedValue(x, x_alt, fork), reservoir
    proposal, magnitude, surrogate = dist.propose(key_propose, x, primal_params)
    num_lanes = context.num_shadow_lanes
    if num_lanes is not None and any(v.shadow is not None for v in params):
        magnitude, surrogate = derivative_magnitudes(
            dist,
            key_propose,
            x,
            primal_params,
            params,
            magnitude,
            surrogate,
            num_lanes,
            context.shadow_step,
        )
    total = reservoir.total_magnitude
    # uniforms for the element choice and the reservoir coin, in one call
    u_element, coin = jax.random.uniform(key_coin, (2,), total.dtype)
    # One candidate element of a multi-element draw, chosen proportional to m.
    element_shape = magnitude.shape
    magnitudes = stop_gradient_inexact(magnitude).reshape(-1).astype(total.dtype)
    draw_magnitude = jnp.sum(magnitudes)
    if context.primal_active is not True:
        draw_magnitude = jnp.where(context.primal_active, draw_magnitude, 0)
    cdf = jnp.cumsum(magnitudes)
    element = jnp.minimum(jnp.sum(cdf <= u_element * draw_magnitude), magnitudes.shape[0] - 1)
    chosen = (jnp.arange(magnitudes.shape[0]) == element).reshape(element_shape)
    chosen_surrogate = jnp.sum(jnp.where(chosen, surrogate, 0)).astype(total.dtype)
    if dist.one_hot:
        chosen = chosen[..., None]
    alt_outcome = jnp.where(chosen, proposal.astype(aval.dtype), x)
    new_total = total + draw_magnitude
    accept = coin * new_total < draw_magnitude
    new_fork = fork + accept.astype(jnp.int32)
    new_surrogate = jnp.where(accept, chosen_surrogate, reservoir.surrogate)
    out_alt = jnp.where(accept, alt_outcome, x_alt)
    return PairedValue(x, out_alt, new_fork), Reservoir(new_fork, new_total, new_surrogate)


def derivative_magnitudes(
    dist,
    key_propose,
    x,
    primal_params: list,
    params: list[PairedValue],
    magnitude,
    surrogate,
    num_lanes: int,
    shadow_step,
):
    """Pruning magnitudes ``m_i = sum_k |w_ik|`` from the shadow lanes' finite differences.

    The surrogate keeps its exact tangent: ``s_new = s * m / m_new`` has value 0
    and tangent ``w / m_new``.

    Returns:
        ``(m_new, s_new)``.
    """
    params_const = [stop_gradient_inexact(p) for p in primal_params]
    tangents = []
    for p, v in zip(params_const, params, strict=True):
        if v.shadow is None or not is_inexact(p):
            tangents.append(
                jnp.zeros((num_lanes, *jnp.shape(p)), jnp.result_type(p)) if is_inexact(p) else None
            )
        else:
            step = shadow_step.reshape((num_lanes,) + (1,) * jnp.ndim(p)).astype(jnp.result_type(p))
            tangents.append(stop_gradient_inexact(v.shadow - p) / step)
    differentiable = [i for i, t in enumerate(tangents) if t is not None]

    def weight_over_magnitude(*lane_tangents):
        def surrogate_of(*varied):
            full = list(params_const)
            for i, q in zip(differentiable, varied, strict=True):
                full[i] = q
            return dist.propose(key_propose, x, full)[2]

        primals = tuple(params_const[i] for i in differentiable)
        return jax.jvp(surrogate_of, primals, lane_tangents)[1]

    # (P, ...) = w_k / m, one row per parameter direction k
    w_over_m = jax.vmap(weight_over_magnitude)(*[tangents[i] for i in differentiable])
    m_const = stop_gradient_inexact(magnitude)
    derivative_size = jnp.sum(jnp.abs(w_over_m), axis=0) * m_const
    m_new = derivative_size + _MAGNITUDE_FLOOR * m_const
    ok = m_new > 0
    ratio = jnp.where(ok, m_const / jnp.where(ok, m_new, 1), 0)
    return m_new, surrogate * ratio
