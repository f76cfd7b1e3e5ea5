r"""The Chinchilla parametric loss law, its fit, bootstrap intervals and the compute-optimal split.

The loss of a model of $N$ parameters trained on $D$ examples is modelled as

.. math::
    L(N, D) = E + \frac{A}{N^\alpha} + \frac{B}{D^\beta}

(Hoffmann et al., arXiv:2203.15556, eq. 2): $E$ the irreducible loss (the
effective performance limit), and two power laws for the finite model and the
finite data. Approach 3 of Chinchilla fits it by minimising a Huber loss of the
log residuals,

.. math::
    \min_{a, b, e, \alpha, \beta} \sum_i \mathrm{Huber}_\delta\Big(
    \mathrm{LSE}\big(a - \alpha\log N_i,\; b - \beta\log D_i,\; e\big) - \log L_i\Big),

with $A = e^a$, $B = e^b$, $E = e^e$ (positive by construction) and
$\delta = 10^{-3}$, by L-BFGS from a grid of starts (the best end point wins).
The starts run in parallel (``jax.vmap`` of an Optax L-BFGS loop).

Bootstrap intervals (Besiroglu et al., arXiv:2404.10102): the cells are
resampled with replacement and the law refitted on each resample.

Compute-optimal allocation under $C = 6ND$ (Chinchilla eq. 4):

.. math::
    N^*(C) = G\Big(\frac{C}{6}\Big)^{a},\quad D^*(C) = G^{-1}\Big(\frac{C}{6}\Big)^{b},\quad
    G = \Big(\frac{\alpha A}{\beta B}\Big)^{\frac{1}{\alpha+\beta}},\quad
    a = \frac{\beta}{\alpha+\beta},\; b = \frac{\alpha}{\alpha+\beta}.
"""

import dataclasses
import functools
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._core import KeyArray, check_positive, check_positive_int
from ..train import minimize

NAMES = ("E", "A", "B", "alpha", "beta")
NUM_PARAMETERS = 5
RESTARTS = 4  # starts per bootstrap refit
RESTART_SCALES = (0.3, 1.0, 1.0, 0.1, 0.1)  # their jitter on (e, a, b, alpha, beta)


def check_cells(N: Any, D: Any, loss: Any, minimum: int = NUM_PARAMETERS) -> tuple:
    """``N, D, loss`` as float64 1-D arrays of one length ``>= minimum``, positive and finite."""
    arrays = {}
    for name, value in (("N", N), ("D", D), ("loss", loss)):
        a = np.asarray(value, dtype=np.float64)
        if a.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D array (one entry per cell), got shape {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite, got {a[~np.isfinite(a)][:3]}")
        if np.any(a <= 0):
            raise ValueError(
                f"{name} must be positive (sizes and losses enter through their logs), "
                f"got {a[a <= 0][:3]}"
            )
        arrays[name] = a
    sizes = {name: a.size for name, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"N, D and loss must have equal lengths, got {sizes}")
    if arrays["N"].size < minimum:
        raise ValueError(
            f"the law has {NUM_PARAMETERS} parameters (E, A, B, alpha, beta) but only "
            f"{arrays['N'].size} cells were given; need at least {minimum}"
        )
    return arrays["N"], arrays["D"], arrays["loss"]


def _objective(p, log_n, log_d, log_l, weights, delta):
    e, a, b, alpha, beta = p[0], p[1], p[2], p[3], p[4]
    pred = jax.nn.logsumexp(
        jnp.stack([a - alpha * log_n, b - beta * log_d, jnp.full_like(log_n, e)]), axis=0
    )
    return jnp.sum(weights * optax.losses.huber_loss(pred, log_l, delta=delta))


@functools.partial(jax.jit, static_argnames="iterations")
def _minimise(starts, log_n, log_d, log_l, weights, delta, iterations):
    """L-BFGS from every start (vmapped over starts and, optionally, over data weights)."""

    def run(p0, w):
        fn = lambda p: _objective(p, log_n, log_d, log_l, w, delta)
        return minimize(fn, p0, iterations=iterations)

    return jax.vmap(run)(starts, weights)


def default_starts(loss: np.ndarray) -> np.ndarray:
    r"""The grid of starts $(e, a, b, \alpha, \beta)$: Chinchilla's, with $e$ near the data."""
    e = np.log(np.min(loss)) + np.log([0.1, 0.5, 0.9])
    ab = [0.0, 6.0, 12.0, 18.0]
    exponents = [0.15, 0.5, 1.0]
    grid = itertools.product(e, ab, ab, exponents, exponents)
    return np.array(list(grid), dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class BootstrapResult:
    """Refits of the law on resampled cells (:meth:`ScalingFit.bootstrap`).

    Attributes:
        samples: ``(n, 5)`` refitted ``(E, A, B, alpha, beta)``, one row per resample.
        E, A, B, alpha, beta: the columns of ``samples``.
    """

    samples: np.ndarray

    def __getattr__(self, name: str) -> np.ndarray:
        if name in NAMES:
            return self.samples[:, NAMES.index(name)]
        if name in ("a", "b"):
            alpha, beta = self.samples[:, 3], self.samples[:, 4]
            return beta / (alpha + beta) if name == "a" else alpha / (alpha + beta)
        raise AttributeError(name)

    def interval(self, name: str, level: float = 0.68) -> tuple[float, float]:
        """The central percentile interval of ``name`` (a parameter, or the exponent ``a``/``b``).

        Args:
            name: a parameter name, or ``"a"``/``"b"`` for the compute-optimal exponents.
            level: the coverage (default 68%).
        """
        if name not in (*NAMES, "a", "b"):
            raise ValueError(f"name must be one of {[*NAMES, 'a', 'b']}, got {name!r}")
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        values = getattr(self, name)
        tail = 50 * (1 - level)
        low, high = np.percentile(values, [tail, 100 - tail])
        return float(low), float(high)

    def intervals(self, level: float = 0.68) -> dict[str, tuple[float, float]]:
        """All five parameters' intervals and those of the exponents ``a``, ``b``."""
        return {name: self.interval(name, level) for name in (*NAMES, "a", "b")}


@dataclasses.dataclass(frozen=True)
class ScalingFit:
    """The fitted law $L = E + A/N^\\alpha + B/D^\\beta$ (:func:`fit_parametric`).

    Attributes:
        E: the irreducible loss.
        A, alpha: the model-size term.
        B, beta: the data-size term.
        N, D, loss: the cells it was fitted to.
        huber_delta: the Huber threshold on log residuals.
        objective: the minimised Huber objective.
        iterations: the L-BFGS iterations per start (reused by :meth:`bootstrap`).
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    huber_delta: float = 1e-3
    objective: float = float("nan")
    iterations: int = 100

    def predict(self, N: Any, D: Any) -> Any:
        """The law at model sizes ``N`` and data sizes ``D`` (broadcast)."""
        N, D = np.asarray(N, np.float64), np.asarray(D, np.float64)
        return self.E + self.A / N**self.alpha + self.B / D**self.beta

    @property
    def a(self) -> float:
        r"""The compute-optimal model exponent $a = \beta/(\alpha+\beta)$, $N^* \propto C^a$."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        r"""The compute-optimal data exponent $b = \alpha/(\alpha+\beta)$, $D^* \propto C^b$."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def residuals(self) -> np.ndarray:
        """Relative residuals ``loss / predict - 1`` on the fitted cells."""
        return self.loss / self.predict(self.N, self.D) - 1

    def params(self) -> dict[str, float]:
        """``{"E": ..., "A": ..., "B": ..., "alpha": ..., "beta": ...}``."""
        return {name: float(getattr(self, name)) for name in NAMES}

    def bootstrap(self, key: KeyArray, n: int = 200) -> BootstrapResult:
        """Refit on ``n`` resamples (with replacement) of the cells, from this fit's optimum.

        Args:
            key: PRNG key for the resampling.
            n: the number of resamples.

        Returns:
            A :class:`BootstrapResult`; ``.interval("alpha")`` is the 68% interval.
        """
        check_positive_int("n", n)
        m, r = self.N.size, RESTARTS
        kp, ks = jax.random.split(key)
        picks = jax.random.randint(kp, (n, m), 0, m)
        weights = jax.vmap(lambda i: jnp.zeros(m).at[i].add(1.0))(picks)
        start = np.array(
            [np.log(self.E), np.log(self.A), np.log(self.B), self.alpha, self.beta], np.float32
        )
        # the optimum and r - 1 jittered copies of it per resample: the Huber objective
        # with a small delta is nearly piecewise linear, and L-BFGS started exactly at
        # its kink can stay there
        jitter = jax.random.normal(ks, (n, r, 5)) * jnp.asarray(RESTART_SCALES)
        starts = (start + jitter.at[:, 0].set(0.0)).reshape(n * r, 5)
        weights = jnp.repeat(weights, r, axis=0)
        p, values = _minimise(starts, *self._logs(), weights, self.huber_delta, self.iterations)
        values = jnp.where(jnp.isfinite(values), values, jnp.inf).reshape(n, r)
        p = np.asarray(p.reshape(n, r, 5)[jnp.arange(n), jnp.argmin(values, axis=1)], np.float64)
        samples = np.stack([np.exp(p[:, 0]), np.exp(p[:, 1]), np.exp(p[:, 2]), p[:, 3], p[:, 4]], 1)
        return BootstrapResult(samples=samples[np.all(np.isfinite(samples), axis=1)])

    def _logs(self):
        return tuple(jnp.asarray(np.log(a), jnp.float32) for a in (self.N, self.D, self.loss))


def fit_parametric(
    N: Any,
    D: Any,
    loss: Any,
    *,
    huber_delta: float = 1e-3,
    starts: Any = None,
    iterations: int = 100,
) -> ScalingFit:
    r"""Fit $L = E + A/N^\alpha + B/D^\beta$ to trained cells (Chinchilla approach 3).

    Args:
        N: model sizes (parameters), one per cell, positive.
        D: data sizes (training examples seen), one per cell, positive.
        loss: the validation losses of the cells, positive.
        huber_delta: the Huber threshold $\delta$ on log residuals (Chinchilla: $10^{-3}$).
        starts: ``(s, 5)`` starting points $(e, a, b, \alpha, \beta)$ with
            $e = \log E$, $a = \log A$, $b = \log B$; default a grid of 432
            (see :func:`default_starts`).
        iterations: L-BFGS iterations from each start.

    Returns:
        A :class:`ScalingFit`.

    Raises:
        ValueError: fewer than 5 cells (the law's parameter count), arrays of
            different lengths, or non-positive or non-finite sizes or losses.
    """
    N, D, loss = check_cells(N, D, loss)
    check_positive("huber_delta", huber_delta)
    check_positive_int("iterations", iterations)
    starts = default_starts(loss) if starts is None else np.asarray(starts, np.float32)
    if starts.ndim != 2 or starts.shape[1] != NUM_PARAMETERS:
        raise ValueError(f"starts must have shape (s, 5), got {starts.shape}")
    logs = tuple(jnp.asarray(np.log(a), jnp.float32) for a in (N, D, loss))
    weights = jnp.ones((starts.shape[0], N.size), jnp.float32)
    p, values = _minimise(jnp.asarray(starts), *logs, weights, huber_delta, iterations)
    values = np.where(np.isfinite(np.asarray(values)), np.asarray(values), np.inf)
    best = np.asarray(p[int(np.argmin(values))], np.float64)
    if not np.all(np.isfinite(best)):
        raise ValueError("the fit failed from every start (no finite optimum)")
    return ScalingFit(
        E=float(np.exp(best[0])),
        A=float(np.exp(best[1])),
        B=float(np.exp(best[2])),
        alpha=float(best[3]),
        beta=float(best[4]),
        N=N,
        D=D,
        loss=loss,
        huber_delta=float(huber_delta),
        objective=float(np.min(values)),
        iterations=iterations,
    )


def compute_optimal(fit: ScalingFit, compute: Any) -> tuple[Any, Any]:
    r"""The compute-optimal model and data sizes $N^*(C)$, $D^*(C)$ of a fit, with $C = 6ND$.

    Args:
        fit: a :class:`ScalingFit`.
        compute: training compute budgets $C$ in FLOPs, positive (scalar or array).

    Returns:
        ``(N_opt, D_opt)`` with ``6 * N_opt * D_opt == compute`` (floats for a
        scalar ``compute``, else arrays of its shape).
    """
    if not isinstance(fit, ScalingFit):
        raise TypeError(f"fit must be a hepjax.scaling.ScalingFit, got {type(fit).__name__}")
    c = np.asarray(compute, np.float64)
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError(f"compute must be positive and finite, got {compute!r}")
    g = (fit.alpha * fit.A / (fit.beta * fit.B)) ** (1.0 / (fit.alpha + fit.beta))
    return g * (c / 6.0) ** fit.a, (c / 6.0) ** fit.b / g
