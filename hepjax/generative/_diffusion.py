r"""Denoising score matching with EDM preconditioning, SDE samplers and SDEdit.

Karras et al. 2022 (EDM, arXiv:2206.00364) write diffusion as
$x = y + \sigma n$, $n \sim \mathcal N(0, I)$, with a denoiser $D(x; \sigma)$
whose score is $\nabla_x \log p_\sigma(x) = (D(x;\sigma) - x)/\sigma^2$. The
network $F_\theta$ is preconditioned (Table 1):

.. math::
    D(x;\sigma) = c_\text{skip}(\sigma)\,x + c_\text{out}(\sigma)\,
    F_\theta\big(c_\text{noise}(\sigma),\ c_\text{in}(\sigma)\,x\big),

$c_\text{skip} = \sigma_d^2/(\sigma^2 + \sigma_d^2)$,
$c_\text{out} = \sigma\sigma_d/\sqrt{\sigma^2 + \sigma_d^2}$,
$c_\text{in} = 1/\sqrt{\sigma^2 + \sigma_d^2}$, $c_\text{noise} = \tfrac14\ln\sigma$,
and trained with $\ln\sigma \sim \mathcal N(P_\text{mean}, P_\text{std}^2)$ and
weight $\lambda(\sigma) = (\sigma^2 + \sigma_d^2)/(\sigma\sigma_d)^2$.

Samplers run on a decreasing noise grid $\sigma_0 > \dots > \sigma_{N-1} > \sigma_N = 0$
(:func:`karras_sigmas`):

- ``"euler_maruyama"``: the reverse-time variance-exploding SDE of Song et al.
  2021 (arXiv:2011.13456), $x_{i+1} = x_i + (\sigma_i^2 - \sigma_{i+1}^2)\,
  s(x_i, \sigma_i) + \sqrt{\sigma_i^2 - \sigma_{i+1}^2}\,z_i$; the last step to
  $\sigma = 0$ returns the denoised mean $D(x; \sigma_{N-1})$.
- ``"karras"``: Karras et al.'s stochastic sampler (Algorithm 2): churn
  $\hat\sigma = (1+\gamma)\sigma_i$ with fresh noise, then a Heun step to
  $\sigma_{i+1}$ (Euler for the last). ``s_churn=0`` is the deterministic
  second-order Heun sampler (Algorithm 1).
"""

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import check_choice, check_positive
from ._checks import check_batch, check_cond, check_mask, make_args
from ._losses import call_field, masked_mean_norm


class EDMDenoiser(eqx.Module):
    r"""EDM preconditioning of a network $F$ into a denoiser $D(x;\sigma)$.

    $D(x;\sigma) = c_\text{skip}x + c_\text{out}F(c_\text{noise}, c_\text{in}x)$
    with Karras et al.'s coefficients (see the module docs).

    Attributes:
        net: ``net(c_noise, x_scaled, args)`` on one example, output shaped like ``x``.
        sigma_data: the standard deviation of the data $\sigma_d$.
    """

    net: Callable
    sigma_data: float = eqx.field(default=0.5, static=True)

    def __check_init__(self):
        check_positive("sigma_data", self.sigma_data)

    def __call__(
        self, sigma: Float[ArrayLike, ""], x: Float[ArrayLike, "..."], args=None
    ) -> Float[Array, "..."]:
        """$D(x; \\sigma)$ for one example.

        Args:
            sigma: the noise level $\\sigma > 0$ of ``x`` (a scalar, in the data's units).
            x: the noisy example $x = y + \\sigma n$, of the data's shape.
            args: conditioning passed on to the wrapped network (``None`` if unconditional).
        """
        x = jnp.asarray(x)
        sigma = jnp.asarray(sigma, x.dtype)
        sd2 = self.sigma_data**2
        c_skip = sd2 / (sigma**2 + sd2)
        c_out = sigma * self.sigma_data * jax.lax.rsqrt(sigma**2 + sd2)
        c_in = jax.lax.rsqrt(sigma**2 + sd2)
        c_noise = 0.25 * jnp.log(sigma)
        return c_skip * x + c_out * self.net(c_noise, c_in * x, args)


def edm_loss(
    denoiser: Callable,
    x: Float[ArrayLike, "b ..."],
    *,
    key: PRNGKeyArray,
    sigma_data: float = 0.5,
    p_mean: float = -1.2,
    p_std: float = 1.2,
    mask: Bool[ArrayLike, "..."] | None = None,
    cond: Any = None,
) -> Float[Array, ""]:
    r"""EDM denoising score matching, $\mathbb E\,\lambda(\sigma)\|D(y + \sigma n;\sigma) - y\|^2$.

    Args:
        denoiser: ``denoiser(sigma, x, args) -> D`` on one example, e.g. an :class:`EDMDenoiser`.
        x: clean data ``(b, d)`` or padded sets ``(b, n, d)``.
        key: PRNG key for the noise levels and noise.
        sigma_data: $\sigma_d$ in the weight $\lambda(\sigma)$.
        p_mean: mean of $\ln\sigma$.
        p_std: standard deviation of $\ln\sigma$.
        mask: ``(b, n)`` booleans; padded elements contribute nothing.
        cond: per-example conditioning with leading axis ``b``.

    Returns:
        The weighted squared error per real element (summed over features).
    """
    x = check_batch("x", x)
    mask = check_mask(mask, x.shape, batched=True)
    cond = check_cond(cond, x.shape[0])
    b = x.shape[0]
    k_s, k_n = jax.random.split(key)
    sigma = jnp.exp(p_mean + p_std * jax.random.normal(k_s, (b,), dtype=x.dtype))
    noisy = x + sigma.reshape((b,) + (1,) * (x.ndim - 1)) * jax.random.normal(k_n, x.shape, x.dtype)
    if mask is not None:
        noisy = jnp.where(mask[..., None], noisy, 0.0)
    d = call_field(denoiser, sigma, noisy, make_args(mask, cond), name="denoiser")
    weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
    sq = jnp.sum((d - x) ** 2, axis=-1)
    sq = sq * weight.reshape((b,) + (1,) * (sq.ndim - 1))
    return masked_mean_norm(sq, mask)


def karras_sigmas(
    num_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0
) -> Float[Array, " m"]:
    r"""Karras et al.'s noise grid, then a final $0$.

    $\sigma_i = \big(\sigma_{\max}^{1/\rho} + \tfrac{i}{N-1}
    (\sigma_{\min}^{1/\rho} - \sigma_{\max}^{1/\rho})\big)^\rho$, $i = 0..N-1$.

    Args:
        num_steps: $N$, the number of noise levels before the final 0.
        sigma_min: the smallest positive level.
        sigma_max: the largest level.
        rho: the grid exponent.

    Returns:
        ``N + 1`` decreasing levels ending in ``0``.
    """
    if not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an int >= 2, got {num_steps!r}")
    check_positive("sigma_min", sigma_min)
    check_positive("rho", rho)
    if sigma_max <= sigma_min:
        raise ValueError(f"sigma_max must exceed sigma_min, got {sigma_max!r} <= {sigma_min!r}")
    i = np.arange(num_steps) / (num_steps - 1)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    s = (hi + i * (lo - hi)) ** rho
    return jnp.asarray(np.append(s, 0.0))


_SDE_METHODS = ("euler_maruyama", "karras")


def sample_sde(
    key: PRNGKeyArray,
    denoiser: Callable,
    x: Float[ArrayLike, "..."],
    sigmas: Float[ArrayLike, " m"],
    *,
    method: str = "karras",
    mask: Bool[ArrayLike, " n"] | None = None,
    cond: Any = None,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
) -> Float[Array, "..."]:
    r"""Sample one example by reverse diffusion from noise level ``sigmas[0]`` to 0.

    Args:
        key: PRNG key.
        denoiser: ``denoiser(sigma, x, args) -> D(x; sigma)`` on one example.
        x: the start, a draw of the noisy marginal at ``sigmas[0]`` (e.g.
            ``sigmas[0] * normal``), ``(d,)`` or a padded set ``(n, d)``.
        sigmas: decreasing noise levels ending in 0 (:func:`karras_sigmas`).
        method: ``"euler_maruyama"`` or ``"karras"``.
        mask: ``(n,)`` booleans; padded rows are left unchanged.
        cond: conditioning passed as ``args["cond"]``.
        s_churn: Karras' total churn $S_\text{churn}$ (0: deterministic Heun).
        s_tmin: churn only for $\sigma \ge S_{t\min}$.
        s_tmax: churn only for $\sigma \le S_{t\max}$.
        s_noise: Karras' $S_\text{noise}$.

    Returns:
        The sample, shaped like ``x``.
    """
    check_choice("method", method, _SDE_METHODS)
    x0 = jnp.asarray(x)
    sigmas = jnp.asarray(sigmas, x0.dtype)
    if sigmas.ndim != 1 or sigmas.shape[0] < 2:
        raise ValueError(f"sigmas must be a 1-d grid of at least 2 levels, got {sigmas.shape}")
    if mask is not None:
        mask = check_mask(mask, x0.shape, batched=False)
    args = make_args(mask, cond)
    n = sigmas.shape[0] - 1
    gamma_max = min(s_churn / n, math.sqrt(2.0) - 1.0)

    def keep(new, old):
        return new if mask is None else jnp.where(mask[:, None], new, old)

    def den(s, y):
        out = denoiser(s, y, args)
        if np.shape(out) != np.shape(y):
            raise ValueError(f"denoiser must return shape {np.shape(y)}, got {np.shape(out)}")
        return out

    def em_step(y, inputs):
        s, s_next, k = inputs
        d = den(s, y)
        var = s**2 - s_next**2
        score = (d - y) / s**2
        stoch = y + var * score + jnp.sqrt(var) * jax.random.normal(k, y.shape, y.dtype)
        return keep(jnp.where(s_next > 0, stoch, d), y), None

    def karras_step(y, inputs):
        s, s_next, k = inputs
        gamma = jnp.where((s >= s_tmin) & (s <= s_tmax), gamma_max, 0.0)
        s_hat = s * (1.0 + gamma)
        eps = s_noise * jax.random.normal(k, y.shape, y.dtype)
        y_hat = y + jnp.sqrt(jnp.maximum(s_hat**2 - s**2, 0.0)) * eps
        d = (y_hat - den(s_hat, y_hat)) / s_hat
        y_next = y_hat + (s_next - s_hat) * d
        safe = jnp.where(s_next > 0, s_next, 1.0)
        d2 = (y_next - den(safe, y_next)) / safe
        heun = y_hat + (s_next - s_hat) * 0.5 * (d + d2)
        return keep(jnp.where(s_next > 0, heun, y_next), y), None

    step = em_step if method == "euler_maruyama" else karras_step
    keys = jax.random.split(key, n)
    y, _ = jax.lax.scan(step, x0, (sigmas[:-1], sigmas[1:], keys))
    return y


def sdedit(
    key: PRNGKeyArray,
    denoiser: Callable,
    x: Float[ArrayLike, "..."],
    *,
    sigma_start: float,
    num_steps: int,
    sigma_min: float = 0.002,
    rho: float = 7.0,
    method: str = "karras",
    mask: Bool[ArrayLike, " n"] | None = None,
    cond: Any = None,
    **sampler_options: float,
) -> Float[Array, "..."]:
    r"""Partial diffusion (SDEdit, Meng et al. 2021, arXiv:2108.01073) of one example.

    The input is noised to $x + \sigma_\text{start} z$ and denoised back along
    ``karras_sigmas(num_steps, sigma_min, sigma_start, rho)``. Small
    ``sigma_start`` keeps the output close to ``x``; large values forget it.

    Args:
        key: PRNG key.
        denoiser: ``denoiser(sigma, x, args) -> D(x; sigma)``.
        x: the example to edit, ``(d,)`` or a padded set ``(n, d)``.
        sigma_start: the noise level to diffuse to.
        num_steps: number of noise levels of the reverse pass.
        sigma_min: the smallest positive level.
        rho: the grid exponent.
        method: the sampler, as in :func:`sample_sde`.
        mask: ``(n,)`` booleans; padded rows are left unchanged.
        cond: conditioning passed as ``args["cond"]``.
        **sampler_options: further options of :func:`sample_sde` (``s_churn``, ...).

    Returns:
        The edited example, shaped like ``x``.
    """
    check_positive("sigma_start", sigma_start)
    x = jnp.asarray(x)
    k_n, k_s = jax.random.split(key)
    sigmas = karras_sigmas(num_steps, sigma_min, sigma_start, rho)
    noisy = x + sigma_start * jax.random.normal(k_n, x.shape, x.dtype)
    if mask is not None:
        noisy = jnp.where(jnp.asarray(mask)[:, None], noisy, x)
    return sample_sde(
        k_s, denoiser, noisy, sigmas, method=method, mask=mask, cond=cond, **sampler_options
    )
