r"""Generate many padded sets at once: base noise, jitted chunks, a progress bar.

:func:`sample_ode` and :func:`sample_sde` act on one example; these drivers
draw the base noise for a whole data set of masks (and conditioning), run the
sampler under ``jit(vmap(...))`` in chunks of ``chunk_size`` sets so memory
stays bounded, and report sets/s. Padded rows are zero in the output.
"""

import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._core import check_ndim, check_positive
from ._checks import check_cond
from ._diffusion import karras_sigmas, sample_sde
from ._ode import sample_ode


@eqx.filter_jit
def _ode_chunk(vector_field, keys, x0, mask, cond, solver, num_steps):
    def one(x, m, c):
        return sample_ode(vector_field, x, solver=solver, num_steps=num_steps, mask=m, cond=c)

    return jax.vmap(one)(x0, mask, cond)


@eqx.filter_jit
def _sde_chunk(denoiser, keys, x0, mask, cond, sigmas, method, s_churn):
    def one(k, x, m, c):
        return sample_sde(k, denoiser, x, sigmas, method=method, mask=m, cond=c, s_churn=s_churn)

    return jax.vmap(one)(keys, x0, mask, cond)


def _chunks(
    run: Callable,
    key: PRNGKeyArray,
    mask: Array,
    cond: Any,
    *,
    features: int,
    scale: float,
    chunk_size: int,
    progress: bool,
    desc: str,
) -> Float[Array, "N n d"]:
    """Call the compiled ``run(keys, x0, mask, cond)`` on fixed-size chunks.

    Every chunk has the same shape (the last one is filled up with copies of
    the first sets and cut back), so the sampler compiles once per data set
    shape, and repeated calls with the same shapes reuse the compilation.
    """
    from tqdm.auto import tqdm

    check_ndim("mask", mask, 2)
    check_positive("features", features)
    check_positive("chunk_size", chunk_size)
    mask = jnp.asarray(mask, bool)
    total = mask.shape[0]
    if not bool(jnp.all(jnp.any(mask, axis=1))):
        raise ValueError("mask has an all-padding set; every set needs at least one element")
    cond = check_cond(cond, total)
    size = min(chunk_size, total)
    outputs = []
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, unit="set", disable=not progress)
    for lo in range(0, total, size):
        rows = (jnp.arange(lo, lo + size) % total) if lo + size > total else slice(lo, lo + size)
        k_noise, k_run = jax.random.split(jax.random.fold_in(key, lo))
        m = mask[rows]
        c = None if cond is None else jax.tree.map(lambda a, rows=rows: a[rows], cond)
        noise = scale * jax.random.normal(k_noise, (*m.shape, features))
        x0 = jnp.where(m[..., None], noise, 0.0)
        done = min(size, total - lo)
        outputs.append(np.asarray(run(jax.random.split(k_run, size), x0, m, c))[:done])
        bar.update(done)
        bar.set_postfix(sets_per_s=f"{(lo + done) / (time.perf_counter() - start):.0f}")
    bar.close()
    return jnp.asarray(np.concatenate(outputs))


def sample_ode_sets(
    vector_field: Callable,
    key: PRNGKeyArray,
    mask: Bool[ArrayLike, "N n"],
    *,
    features: int,
    cond: Any = None,
    solver: str = "midpoint",
    num_steps: int | None = 100,
    chunk_size: int = 1024,
    progress: bool = True,
) -> Float[Array, "N n d"]:
    r"""Draw one set per row of ``mask`` by integrating the flow from $N(0, I)$ at $t=0$ to $t=1$.

    EPiC-FM's sampler is the midpoint rule with 100 steps (arXiv:2310.00049).

    Args:
        vector_field: ``vector_field(t, x, args)`` on one set.
        key: PRNG key for the base noise.
        mask: ``(N, n)`` real elements of each set to generate.
        features: features per element ``d``.
        cond: per-set conditioning with leading axis ``N``.
        solver: a solver name of :data:`SOLVERS` or a diffrax solver.
        num_steps: fixed steps; ``None`` for adaptive stepping.
        chunk_size: sets per compiled batch.
        progress: show a tqdm bar with sets/s.

    Returns:
        ``(N, n, d)`` samples, zero on padding.
    """

    def run(keys, x0, m, c):
        return _ode_chunk(vector_field, keys, x0, m, c, solver, num_steps)

    return _chunks(
        run,
        key,
        mask,
        cond,
        features=features,
        scale=1.0,
        chunk_size=chunk_size,
        progress=progress,
        desc="sampling (ODE)",
    )


def sample_sde_sets(
    denoiser: Callable,
    key: PRNGKeyArray,
    mask: Bool[ArrayLike, "N n"],
    *,
    features: int,
    cond: Any = None,
    sigmas: Float[ArrayLike, " m"] | None = None,
    method: str = "karras",
    s_churn: float = 0.0,
    chunk_size: int = 1024,
    progress: bool = True,
) -> Float[Array, "N n d"]:
    r"""Draw one set per row of ``mask`` by reverse diffusion from $\sigma_{max}$ to 0.

    Args:
        denoiser: ``denoiser(sigma, x, args)`` on one set (an :class:`EDMDenoiser`).
        key: PRNG key for the start noise and the sampler.
        mask: ``(N, n)`` real elements of each set to generate.
        features: features per element ``d``.
        cond: per-set conditioning with leading axis ``N``.
        sigmas: decreasing noise levels ending in 0; default :func:`karras_sigmas` (40 steps).
        method: ``"karras"`` or ``"euler_maruyama"``.
        s_churn: Karras' stochasticity $S_\text{churn}$.
        chunk_size: sets per compiled batch.
        progress: show a tqdm bar with sets/s.

    Returns:
        ``(N, n, d)`` samples, zero on padding.
    """
    sigmas = karras_sigmas(40) if sigmas is None else jnp.asarray(sigmas)

    def run(keys, x0, m, c):
        return _sde_chunk(denoiser, keys, x0, m, c, sigmas, method, s_churn)

    return _chunks(
        run,
        key,
        mask,
        cond,
        features=features,
        scale=float(sigmas[0]),
        chunk_size=chunk_size,
        progress=progress,
        desc="sampling (SDE)",
    )
