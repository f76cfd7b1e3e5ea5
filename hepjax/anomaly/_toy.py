r"""A Gaussian toy of a resonance search with mass-correlated features (for tests and tutorials).

Background: the mass follows a falling spectrum, $m = m_0 + \mathrm{Exp}(s)$
truncated to $[m_0, m_1)$ (inverse-CDF sampling), and the features are
Gaussian with a mass-dependent mean,

.. math::
    x \mid m \sim \mathcal N\big(a\,u + b\,u^2,\ \Sigma\big), \qquad
    u = (m - m_c)/w,

with $\Sigma$ unit variances and correlation $\rho$ between neighbouring
features, so a template that ignores the mass dependence fails closure.
Signal: $m \sim \mathcal N(m_X, \sigma_m^2)$ and
$x \sim \mathcal N(\mu_S, \sigma_S^2 I)$ far in the tail of the background.
Everything is in closed form: :func:`gaussian_toy_log_prob` is the exact
background density, for the tests.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from .._core import check_positive_int
from ._regions import Events

_M0, _M1, _SCALE, _CENTRE, _WIDTH = 3.0, 4.6, 0.5, 3.5, 0.5
_RHO = 0.5


def _coefficients(dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    a = np.linspace(0.8, -0.5, dim)
    b = np.zeros(dim)
    b[min(1, dim - 1)] = 0.3
    mu_signal = np.resize(np.array([2.5, 2.0, -2.0, 1.5]), dim)
    cov = np.eye(dim)
    for i in range(dim - 1):
        cov[i, i + 1] = cov[i + 1, i] = _RHO
    return a, b, mu_signal, cov


def gaussian_toy(
    key: PRNGKeyArray,
    num_background: int,
    num_signal: int = 0,
    *,
    dim: int = 4,
    signal_mass: float = 3.5,
    signal_mass_width: float = 0.05,
    signal_width: float = 0.4,
) -> tuple[Events, Events]:
    """Background and signal events of the Gaussian toy (masses in "TeV", ``[3.0, 4.6)``).

    Args:
        key: PRNG key; the output is a pure function of it.
        num_background: number of background events.
        num_signal: number of signal events (a pool to inject from).
        dim: number of features (at least 2).
        signal_mass: $m_X$, the centre of the signal's mass peak.
        signal_mass_width: $\\sigma_m$.
        signal_width: $\\sigma_S$, the width of the signal's features.

    Returns:
        ``(background, signal)`` :class:`Events`.
    """
    num_background = check_positive_int("num_background", num_background)
    if isinstance(num_signal, bool) or not isinstance(num_signal, int) or num_signal < 0:
        raise ValueError(f"num_signal must be an int >= 0, got {num_signal!r}")
    if not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an int >= 2, got {dim!r}")
    a, b, mu_signal, cov = _coefficients(dim)
    k_m, k_x, k_sm, k_sx = jax.random.split(key, 4)
    u01 = np.asarray(jax.random.uniform(k_m, (num_background,)), np.float64)
    m = _M0 - _SCALE * np.log1p(-u01 * (1.0 - np.exp(-(_M1 - _M0) / _SCALE)))
    u = (m - _CENTRE) / _WIDTH
    z = np.asarray(jax.random.normal(k_x, (num_background, dim)), np.float64)
    x = np.outer(u, a) + np.outer(u**2, b) + z @ np.linalg.cholesky(cov).T
    background = Events(x, m)
    ms = signal_mass + signal_mass_width * np.asarray(jax.random.normal(k_sm, (num_signal,)))
    xs = mu_signal + signal_width * np.asarray(jax.random.normal(k_sx, (num_signal, dim)))
    signal = Events(xs.reshape(num_signal, dim), ms, np.ones(num_signal, bool))
    return background, signal


def gaussian_toy_log_prob(features, mass) -> np.ndarray:
    r"""The exact background density $\log p(x \mid m)$ of :func:`gaussian_toy`, per row."""
    x = jnp.asarray(features, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    a, b, _, cov = _coefficients(x.shape[1])
    u = (jnp.asarray(mass, x.dtype) - _CENTRE) / _WIDTH
    mean = jnp.outer(u, a) + jnp.outer(u**2, b)
    return np.asarray(jax.scipy.stats.multivariate_normal.logpdf(x, mean, jnp.asarray(cov)))
