r"""Drapes: a conditional diffusion template, from noise or by partial diffusion.

Sengupta, Klein, Raine & Golling 2023 (arXiv:2312.10130). A denoiser
$D(x; \sigma, m)$ conditioned on the mass is trained on the sidebands with
EDM denoising score matching (:func:`hepjax.generative.edm_loss`,
:class:`hepjax.generative.EDMDenoiser`, $\sigma_d = 1$ on standardised
features). Templates are generated

- **from noise**: $x_0 = \sigma_{\max} z$ integrated to $\sigma = 0$ at the
  target mass (:func:`hepjax.generative.sample_sde`, Karras' Heun sampler);
- **by partial diffusion** (SDEdit, :func:`hepjax.generative.sdedit`): an
  existing event is noised to the level $\sigma(t_0)$ of the *noising fraction*
  $t_0 \in (0, 1]$ and denoised at a new mass. On Karras' grid,
  $\sigma(t) = \big(\sigma_{\min}^{1/\rho} + t\,(\sigma_{\max}^{1/\rho} -
  \sigma_{\min}^{1/\rho})\big)^\rho$, so $t_0 = 1$ is generation from noise
  and small $t_0$ keeps the event nearly as it is. Sources are sideband
  events moved to signal-region masses (:class:`Drapes` with ``noise_fraction < 1``),
  or the signal-region events themselves at their own masses
  (:meth:`DrapesTemplate.edit`), which keeps the SR mass distribution.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_positive
from ..generative import EDMDenoiser, edm_loss, karras_sigmas, sample_sde
from ._regions import check_features, check_mass
from ._templates import (
    AbstractTemplate,
    AbstractTemplateMethod,
    _Scaling,
    check_training,
    chunked,
    train_on_sidebands,
)


class _Net(eqx.Module):
    """$F(c_\\text{noise}, x, \\text{args})$: an MLP on $[x, c_\\text{noise}, m]$."""

    mlp: eqx.nn.MLP

    def __call__(self, c_noise, x, args):
        return self.mlp(jnp.concatenate([x, jnp.reshape(c_noise, (1,)), args["cond"]]))


def _check_fraction(value) -> float:
    if not (isinstance(value, int | float) and 0.0 < value <= 1.0):
        raise ValueError(f"noise_fraction must be in (0, 1], got {value!r}")
    return float(value)


class DrapesTemplate(AbstractTemplate):
    """A trained conditional denoiser and the sideband events to start partial diffusion from.

    Attributes:
        denoiser: the :class:`hepjax.generative.EDMDenoiser` on standardised features,
            conditioned on the standardised mass (``args["cond"]`` of shape ``(1,)``).
        scaling: the sideband standardisation.
        source_features: ``(n, d)`` standardised sideband features (partial diffusion).
        noise_fraction: $t_0$; 1 generates from noise.
        num_steps: noise levels of a full reverse pass (a partial one uses
            ``max(2, round(t0 * num_steps))``).
        sigma_min: the smallest noise level.
        sigma_max: the largest noise level.
        rho: Karras' grid exponent.
        train_seconds: wall time of the fit.
    """

    denoiser: EDMDenoiser
    scaling: _Scaling
    source_features: Array
    noise_fraction: float = eqx.field(static=True, default=1.0)
    num_steps: int = eqx.field(static=True, default=24)
    sigma_min: float = eqx.field(static=True, default=0.002)
    sigma_max: float = eqx.field(static=True, default=80.0)
    rho: float = eqx.field(static=True, default=7.0)
    train_seconds: float = math.nan

    @property
    def dim(self) -> int:
        return int(self.source_features.shape[1])

    def sigma_at(self, fraction: float) -> float:
        """$\\sigma(t_0)$ on Karras' grid: the noise level of noising fraction $t_0$."""
        fraction = _check_fraction(fraction)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        return float((lo + fraction * (hi - lo)) ** self.rho)

    def _run(self, key, x, cond, fraction: float) -> np.ndarray:
        """Noise standardised rows ``x`` to $\\sigma(t_0)$ and denoise them at ``cond``."""
        sigma = self.sigma_at(fraction)
        steps = max(2, round(fraction * self.num_steps))
        sigmas = karras_sigmas(steps, self.sigma_min, sigma, self.rho)

        def one(k, x0, c):
            k_n, k_s = jax.random.split(k)
            start = x0 + sigma * jax.random.normal(k_n, x0.shape, x0.dtype)
            return sample_sde(k_s, self.denoiser, start, sigmas, method="karras", cond=c)

        return chunked(lambda keys, x, c: jax.vmap(one)(keys, x, c), key, (x, cond))

    def _sample_at(self, key, mass):
        k_src, k_run = jax.random.split(key)
        cond = np.asarray(self.scaling.mass(mass))
        n = mass.shape[0]
        if self.noise_fraction >= 1.0:
            x = np.zeros((n, self.dim), np.float32)  # forgotten under sigma_max noise
        else:
            num_src = self.source_features.shape[0]
            keys = jax.random.split(k_src, -(-n // num_src))
            src = np.concatenate([np.asarray(jax.random.permutation(k, num_src)) for k in keys])
            x = np.asarray(self.source_features)[src[:n]]
        return self.scaling.unscale(self._run(k_run, x, cond, self.noise_fraction))

    def edit(
        self,
        key: PRNGKeyArray,
        features: Float[ArrayLike, "n d"],
        target_mass: Float[ArrayLike, " n"],
        *,
        noise_fraction: float | None = None,
    ) -> Float[np.ndarray, "n d"]:
        """Partial diffusion of given events (e.g. the SR data themselves) at ``target_mass``.

        Args:
            key: PRNG key.
            features: ``(n, d)`` events in the original units.
            target_mass: ``(n,)`` the masses to denoise at (their own, for SR events).
            noise_fraction: $t_0$ (default the template's).
        """
        x = check_features("features", features, self.dim)
        m = check_mass("target_mass", target_mass, x.shape[0])
        t0 = self.noise_fraction if noise_fraction is None else _check_fraction(noise_fraction)
        scaled = np.asarray(self.scaling.features(x))
        return self.scaling.unscale(self._run(key, scaled, np.asarray(self.scaling.mass(m)), t0))


class Drapes(AbstractTemplateMethod):
    """Drapes: conditional diffusion on the sidebands (see the module docs).

    Attributes:
        hidden_size: width of the denoiser MLP.
        num_layers: hidden layers of the denoiser MLP.
        steps: maximum optimizer steps.
        batch_size: minibatch size.
        learning_rate: Adam learning rate.
        noise_fraction: $t_0$ of the template: 1 generates from noise, below 1
            moves sideband events to the target masses by partial diffusion.
        num_steps: noise levels of a full reverse pass (Heun: two denoiser calls each).
        sigma_min: the smallest noise level of the sampler.
        sigma_max: the largest noise level.
        rho: Karras' grid exponent.
        validation_fraction: sideband fraction held out for early stopping.
        patience: epochs without improvement before stopping.
    """

    hidden_size: int = 128
    num_layers: int = 3
    steps: int = 4000
    batch_size: int = 256
    learning_rate: float = 1e-3
    noise_fraction: float = 1.0
    num_steps: int = 24
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    validation_fraction: float = 0.2
    patience: int = 20

    def __check_init__(self):
        check_training(
            {
                "hidden_size": self.hidden_size,
                "num_layers": self.num_layers,
                "steps": self.steps,
                "batch_size": self.batch_size,
                "learning_rate": self.learning_rate,
                "validation_fraction": self.validation_fraction,
                "patience": self.patience,
            }
        )
        _check_fraction(self.noise_fraction)
        if not isinstance(self.num_steps, int) or self.num_steps < 2:
            raise ValueError(f"num_steps must be an int >= 2, got {self.num_steps!r}")
        check_positive("sigma_min", self.sigma_min)
        check_positive("rho", self.rho)
        if not self.sigma_max > self.sigma_min:
            raise ValueError(f"sigma_max must exceed sigma_min, got {self.sigma_max!r}")

    def fit(self, key, features, mass) -> DrapesTemplate:
        scaling = _Scaling.fit(features, mass)
        d = features.shape[1]
        k_init, k_train = jax.random.split(key)
        mlp = eqx.nn.MLP(
            d + 2, d, self.hidden_size, self.num_layers, activation=jax.nn.silu, key=k_init
        )
        denoiser = EDMDenoiser(_Net(mlp), sigma_data=1.0)

        def loss_fn(model, batch, *, key):
            return edm_loss(model, batch["x"], key=key, sigma_data=1.0, cond=batch["m"])

        x = scaling.features(features)
        denoiser = train_on_sidebands(
            denoiser,
            loss_fn,
            optax.adam(self.learning_rate),
            x,
            scaling.mass(mass),
            key=k_train,
            steps=self.steps,
            batch_size=self.batch_size,
            validation_fraction=self.validation_fraction,
            patience=self.patience,
        )
        return DrapesTemplate(
            denoiser,
            scaling,
            x,
            noise_fraction=self.noise_fraction,
            num_steps=self.num_steps,
            sigma_min=self.sigma_min,
            sigma_max=self.sigma_max,
            rho=self.rho,
        )
