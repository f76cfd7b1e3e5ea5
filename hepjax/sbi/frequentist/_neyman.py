r"""The Neyman construction: confidence belts from toys of a test statistic.

For each value $\mu_j$ of the parameter of interest on a grid (and each value
$\nu_l$ of a nuisance parameter on a second grid), ``num_toys`` pseudo-experiments
$x \sim p(x \mid \mu_j, \nu_l)$ give the distribution of the test statistic
$t_{\mu_j}(x)$ and its critical value $c_\alpha(\mu_j, \nu_l)$, the
$\alpha$-quantile (the smallest toy value with at least a fraction $\alpha$ of
toys at or below it, so that discrete statistics over-cover rather than
under-cover). The confidence set of an observation is

.. math::
    \{\mu_j : t_{\mu_j}(x_{\rm obs}) \le c_\alpha(\mu_j, \hat{\hat\nu}(\mu_j; x_{\rm obs}))\},

with the critical values interpolated linearly in $\nu$ at the profiled
nuisance (the "profile construction" or hybrid resampling of Cranmer 2005,
and Sen, Walker & Woodroofe 2009; exact when there is no nuisance). Neyman
1937; Feldman & Cousins 1998 (arXiv:physics/9711021) for the ordering by a
likelihood ratio. The coverage of the construction is checked by
:func:`coverage`: the fraction of pseudo-experiments at a true parameter whose
confidence set contains it, with its binomial standard error.

The test statistic is any function ``statistic(x) -> (t, nu_hat)`` with
``t`` and ``nu_hat`` of shape ``(m,)`` (its values and the profiled nuisance on
the grid of the parameter of interest); it may return ``t`` alone when there is
no nuisance grid. :func:`~hepjax.sbi.frequentist.profile_likelihood_ratio`
builds one from an exact or learned log likelihood.
"""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ..._core import check_positive_int


def _check_grid(name, grid) -> np.ndarray:
    grid = np.asarray(grid, np.float32)
    if grid.ndim != 1 or grid.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty 1-d grid, got shape {grid.shape}")
    if not np.isfinite(grid).all():
        raise ValueError(f"{name} has NaN or infinite values")
    if grid.shape[0] > 1 and not (np.diff(grid) > 0).all():
        raise ValueError(f"{name} must be strictly increasing")
    return grid


def _check_cl(cl) -> tuple[float, ...]:
    cl = (cl,) if isinstance(cl, float | int) else tuple(cl)
    if not cl or not all(0.0 < float(c) < 1.0 for c in cl):
        raise ValueError(f"cl must be confidence levels in (0, 1), got {cl!r}")
    return tuple(float(c) for c in cl)


def _split_statistic(out, m: int):
    if isinstance(out, tuple):
        if len(out) != 2:
            raise ValueError("statistic(x) must return t or a pair (t, nuisance_hat)")
        t, nu_hat = out
    else:
        t, nu_hat = out, None
    if jnp.shape(t) != (m,):
        raise ValueError(
            f"statistic(x) must return t of shape ({m},) (one value per point of the poi grid), "
            f"got {jnp.shape(t)}"
        )
    if nu_hat is not None and jnp.shape(nu_hat) != (m,):
        raise ValueError(
            f"statistic(x) must return nuisance_hat of shape ({m},), got {jnp.shape(nu_hat)}"
        )
    return t, nu_hat


class NeymanBelt(eqx.Module):
    """Critical values of a test statistic on a grid: the result of :func:`neyman_construction`.

    Attributes:
        poi: grid of the parameter of interest ``(m,)``.
        nuisance: grid of the nuisance parameter ``(k,)`` (``k = 1``: fixed or none).
        critical: critical values ``(m, k, len(cl))``.
        cl: the confidence levels.
        num_toys: pseudo-experiments per grid point.
    """

    poi: Float[Array, " m"]
    nuisance: Float[Array, " k"]
    critical: Float[Array, "m k c"]
    cl: tuple[float, ...] = eqx.field(static=True)
    num_toys: int = eqx.field(static=True)

    def critical_values(self, nuisance_hat: Float[ArrayLike, " m"] | None = None) -> Array:
        """Critical values ``(m, len(cl))`` at the profiled nuisance ``nuisance_hat (m,)``.

        Linear interpolation in the nuisance grid, constant beyond its ends;
        with a single nuisance point ``nuisance_hat`` is ignored.
        """
        if self.nuisance.shape[0] == 1:
            return self.critical[:, 0, :]
        if nuisance_hat is None:
            raise ValueError(
                "this belt has a nuisance grid: pass the profiled nuisance nuisance_hat (m,)"
            )
        nuisance_hat = jnp.asarray(nuisance_hat)
        if nuisance_hat.shape != self.poi.shape:
            raise ValueError(
                f"nuisance_hat must have shape {tuple(self.poi.shape)}, got {nuisance_hat.shape}"
            )
        interp = jax.vmap(
            jax.vmap(jnp.interp, in_axes=(None, None, 1)), in_axes=(0, None, 0)
        )  # over poi, then over cl
        return interp(nuisance_hat, self.nuisance, self.critical)

    def accepts(
        self, t: Float[ArrayLike, " m"], nuisance_hat: Float[ArrayLike, " m"] | None = None
    ) -> Bool[Array, "m c"]:
        """Which grid points are in the confidence set of an observation, per level."""
        t = jnp.asarray(t)
        if t.shape != self.poi.shape:
            raise ValueError(f"t must have shape {tuple(self.poi.shape)}, got {t.shape}")
        return t[:, None] <= self.critical_values(nuisance_hat)

    def interval(
        self, t: Float[ArrayLike, " m"], nuisance_hat: Float[ArrayLike, " m"] | None = None
    ) -> Float[Array, "c 2"]:
        """``(lower, upper)`` per level: the smallest and largest accepted grid points.

        NaN when no grid point is accepted. (A disconnected confidence set is
        reported by its hull.)
        """
        ok = self.accepts(t, nuisance_hat)
        lo = jnp.min(jnp.where(ok, self.poi[:, None], jnp.inf), axis=0)
        hi = jnp.max(jnp.where(ok, self.poi[:, None], -jnp.inf), axis=0)
        empty = ~jnp.any(ok, axis=0)
        return jnp.where(empty[:, None], jnp.nan, jnp.stack([lo, hi], axis=1))


def _toy_statistics(key, statistic, simulator, thetas, poi_index, num_toys, m, unique, batch):
    """``(G, num_toys)`` statistic values ``t_{poi_index[g]}(x)`` of toys at ``thetas[g]``."""

    @jax.jit
    def simulate(key):
        keys = jax.random.split(key, thetas.shape[0])
        return jax.vmap(
            lambda k, th: jax.vmap(simulator, in_axes=(0, None))(jax.random.split(k, num_toys), th)
        )(keys, thetas)

    xs = simulate(key)  # (G, T, *x)
    g, t_n = xs.shape[:2]
    stat = jax.jit(jax.vmap(lambda x: _split_statistic(statistic(x), m)))
    if unique:
        flat = np.asarray(xs).reshape(g * t_n, -1)
        rows, inverse = np.unique(flat, axis=0, return_inverse=True)
        rows = rows.reshape((-1, *xs.shape[2:]))
        table = np.concatenate(
            [
                np.asarray(stat(jnp.asarray(rows[i : i + batch]))[0])
                for i in range(0, len(rows), batch)
            ]
        )
        inverse = inverse.reshape(g, t_n)
        return table[inverse, np.asarray(poi_index)[:, None]], len(rows)
    out = []
    per = max(1, batch // t_n)
    for i in range(0, g, per):
        t = np.asarray(jax.vmap(stat)(xs[i : i + per])[0])  # (b, T, m)
        idx = np.asarray(poi_index[i : i + per])
        out.append(np.take_along_axis(t, idx[:, None, None], axis=2)[..., 0])
    return np.concatenate(out), g * t_n


def neyman_construction(
    key: PRNGKeyArray,
    statistic: Callable,
    simulator: Callable,
    poi: ArrayLike | Sequence[float],
    nuisance: ArrayLike | Sequence[float] | None = None,
    *,
    num_toys: int = 1000,
    cl: float | tuple[float, ...] = (0.6827, 0.9545),
    unique: bool = False,
    batch_size: int = 8192,
) -> NeymanBelt:
    r"""Critical values of ``statistic`` at every grid point from ``num_toys`` toys each.

    Args:
        key: PRNG key for the toys.
        statistic: ``statistic(x) -> t`` or ``(t, nuisance_hat)``, both ``(m,)``:
            the test statistic of one observation on the whole ``poi`` grid (and
            the profiled nuisance there). Large values disfavour $\mu$.
        simulator: ``simulator(key, theta) -> x`` with ``theta = (mu,)`` or
            ``(mu, nu)`` (e.g. a task's ``simulator``).
        poi: increasing grid of the parameter of interest ``(m,)``.
        nuisance: increasing grid of one nuisance parameter ``(k,)`` (toys at
            every ``(mu, nu)``), or ``None`` when there is none.
        num_toys: pseudo-experiments per grid point.
        cl: confidence level(s).
        unique: evaluate ``statistic`` once per distinct simulated ``x`` (for
            counting experiments, where toys repeat: much faster when the
            statistic is expensive, e.g. a learned one).
        batch_size: observations per call of the vectorised statistic.

    Returns:
        A :class:`NeymanBelt`; ``belt.interval(*statistic(x_obs))`` is the
        confidence interval of an observation.
    """
    poi = _check_grid("poi", poi)
    nu = np.zeros(1, np.float32) if nuisance is None else _check_grid("nuisance", nuisance)
    cl = _check_cl(cl)
    if check_positive_int("num_toys", num_toys) < 2:
        raise ValueError(f"num_toys must be an int >= 2, got {num_toys!r}")
    m, k = poi.shape[0], nu.shape[0]
    grid_mu, grid_nu = np.meshgrid(poi, nu, indexing="ij")
    if nuisance is None:
        thetas = jnp.asarray(grid_mu.reshape(-1, 1))
    else:
        thetas = jnp.asarray(np.stack([grid_mu.ravel(), grid_nu.ravel()], axis=1))
    poi_index = np.repeat(np.arange(m), k)
    # shapes first (tracing only): a statistic of the wrong shape fails before any toy
    x_spec = jax.eval_shape(simulator, key, thetas[0])
    jax.eval_shape(lambda x: _split_statistic(statistic(x), m), x_spec)
    t, _ = _toy_statistics(
        key, statistic, simulator, thetas, poi_index, num_toys, m, unique, batch_size
    )
    if not np.isfinite(t).all():
        raise ValueError(f"statistic returned {int((~np.isfinite(t)).sum())} non-finite toy values")
    crit = np.quantile(t, cl, axis=1, method="higher")  # (c, G)
    crit = crit.T.reshape(m, k, len(cl)).astype(np.float32)
    return NeymanBelt(jnp.asarray(poi), jnp.asarray(nu), jnp.asarray(crit), cl, num_toys)


class Coverage(eqx.Module):
    """Empirical coverage of a confidence construction at one true parameter.

    Attributes:
        cl: the nominal levels.
        coverage: fraction of pseudo-experiments whose confidence set contains the truth.
        stderr: its binomial standard error $\\sqrt{p(1-p)/n}$ at the nominal $p$.
        num_trials: number of pseudo-experiments.
        mean_width: mean interval length (upper - lower) per level.
    """

    cl: tuple[float, ...] = eqx.field(static=True)
    coverage: Float[Array, " c"]
    stderr: Float[Array, " c"]
    mean_width: Float[Array, " c"]
    num_trials: int = eqx.field(static=True)

    def pulls(self) -> Float[Array, " c"]:
        """``(coverage - cl) / stderr`` per level."""
        return (self.coverage - jnp.asarray(self.cl)) / self.stderr


def coverage(
    key: PRNGKeyArray,
    belt: NeymanBelt,
    statistic: Callable,
    simulator: Callable,
    theta_true: Float[ArrayLike, " d"] | Sequence[float],
    *,
    num_trials: int = 1000,
    unique: bool = False,
    batch_size: int = 8192,
) -> Coverage:
    """How often the belt's confidence sets contain ``theta_true[0]`` (which must be on the grid).

    ``num_trials`` pseudo-experiments at ``theta_true = (mu,)`` or ``(mu, nu)``
    (the nuisance need not be on the nuisance grid) are each turned into a
    confidence set with ``statistic`` and ``belt``.

    Args:
        key: PRNG key of the pseudo-experiments.
        belt: the Neyman belt built by :func:`neyman_construction` for ``statistic``.
        statistic: the test statistic the belt was built with, ``statistic(x) -> t`` or ``(t,
            nuisance_hat)`` on the belt's ``poi`` grid.
        simulator: ``simulator(key, theta) -> x`` of one pseudo-experiment.
        theta_true: ``(mu,)`` or ``(mu, nu)``: the true parameter of interest (on the belt's grid)
            and optionally the nuisance.
        num_trials: the number of pseudo-experiments.
        unique: evaluate ``statistic`` once per distinct simulated ``x`` (for discrete data such as
            counts).
        batch_size: pseudo-experiments evaluated per vectorised call.
    """
    theta_true = np.atleast_1d(np.asarray(theta_true, np.float32))
    poi = np.asarray(belt.poi)
    j = np.flatnonzero(np.isclose(poi, theta_true[0], rtol=0, atol=1e-6 * max(1.0, abs(poi).max())))
    if j.size != 1:
        raise ValueError(
            f"theta_true[0]={float(theta_true[0])} must be a point of the belt's poi grid"
        )
    check_positive_int("num_trials", num_trials)
    m = poi.shape[0]
    xs = jax.jit(jax.vmap(simulator, in_axes=(0, None)))(
        jax.random.split(key, num_trials), jnp.asarray(theta_true)
    )
    stat = jax.jit(jax.vmap(lambda x: _split_statistic(statistic(x), m)))
    if unique:
        flat = np.asarray(xs).reshape(num_trials, -1)
        rows, inverse = np.unique(flat, axis=0, return_inverse=True)
        rows = jnp.asarray(rows.reshape((-1, *xs.shape[1:])))
        parts = [stat(rows[i : i + batch_size]) for i in range(0, rows.shape[0], batch_size)]
        t = jnp.concatenate([p[0] for p in parts])[inverse.ravel()]
        nu_hat = (
            None if parts[0][1] is None else jnp.concatenate([p[1] for p in parts])[inverse.ravel()]
        )
    else:
        t, nu_hat = stat(xs)
    if nu_hat is None:
        ok = jax.vmap(lambda tt: belt.accepts(tt))(t)
        ivals = jax.vmap(lambda tt: belt.interval(tt))(t)
    else:
        ok = jax.vmap(belt.accepts)(t, nu_hat)
        ivals = jax.vmap(belt.interval)(t, nu_hat)
    covered = np.asarray(ok[:, j[0], :])  # (n, c)
    p = np.asarray(belt.cl)
    width = np.nanmean(np.asarray(ivals[..., 1] - ivals[..., 0]), axis=0)
    return Coverage(
        belt.cl,
        jnp.asarray(covered.mean(axis=0)),
        jnp.asarray(np.sqrt(p * (1 - p) / num_trials)),
        jnp.asarray(width),
        num_trials,
    )
