r"""Background templates in the signal region, learned from the sidebands: one entry point.

:func:`fit_template` takes the sideband features $x$ and masses $m$ and a
strategy object, the *method*, and returns a template whose
``sample(key, sr_mass)`` gives background-like features at the requested
signal-region masses:

- :class:`Idealized` (the reference line): true background events of the
  signal region, drawn without replacement; nothing is learned.
- :class:`CATHODE` (Hallin et al. 2022, arXiv:2109.00546): a conditional
  density $q(x \mid m)$ (here :class:`hepjax.generative.ConditionalSplineFlow`)
  trained by maximum likelihood on the sidebands and sampled at signal-region
  masses, which :func:`sample_masses` draws from a Gaussian KDE of the
  signal-region masses.
- :class:`hepjax.anomaly.TRANSIT` and :class:`hepjax.anomaly.Drapes`: in their
  own modules.

Every learned method standardises $x$ and $m$ with the sideband statistics
(:class:`hepjax.data.Standardizer`), trains with :func:`hepjax.train.fit` and
returns its model with the sample in the original units. The template's
``train_seconds`` is the wall time of the fit (compilation included).
"""

import abc
import dataclasses
import math
import time
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from .._core import check_positive, check_positive_int
from ..data import Standardizer
from ..generative import ConditionalSplineFlow
from ..train import EarlyStopping, fit
from ._regions import Events, check_features, check_mass


class AbstractTemplate(eqx.Module):
    """A fitted background template: ``sample(key, mass)`` gives features at the masses.

    Attributes:
        train_seconds: wall time of the fit in seconds (set by :func:`fit_template`).
    """

    train_seconds: eqx.AbstractVar[float]

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """The number of features."""

    @abc.abstractmethod
    def _sample_at(self, key: PRNGKeyArray, mass: np.ndarray) -> np.ndarray: ...

    def sample(self, key: PRNGKeyArray, mass: Float[ArrayLike, " n"]) -> Float[np.ndarray, "n d"]:
        """Template features ``(n, d)``, one row at each mass of ``mass`` ``(n,)``.

        Args:
            key: PRNG key.
            mass: the masses to generate at (e.g. from :func:`sample_masses`).
        """
        mass = np.asarray(mass, np.float32).reshape(-1)
        check_mass("mass", mass, mass.shape[0])
        return np.asarray(self._sample_at(key, mass), np.float32)


class AbstractTemplateMethod(eqx.Module):
    """A strategy for :func:`fit_template`: how to build the template from the sidebands."""

    @abc.abstractmethod
    def fit(self, key: PRNGKeyArray, features: np.ndarray, mass: np.ndarray) -> AbstractTemplate:
        """The template, from checked sideband ``features (n, d)`` and ``mass (n,)``.

        Args:
            key: PRNG key.
            features: the sideband features, finite float32.
            mass: their masses, finite float32.
        """


def fit_template(
    key: PRNGKeyArray,
    sb_features: Float[ArrayLike, "n d"],
    sb_mass: Float[ArrayLike, " n"],
    *,
    method: AbstractTemplateMethod,
) -> AbstractTemplate:
    """Fit a background template on the sideband events.

    Args:
        key: PRNG key for the initialisation and the training batches.
        sb_features: ``(n, d)`` features of the sideband events.
        sb_mass: ``(n,)`` their masses.
        method: the strategy: :class:`Idealized`, :class:`CATHODE`,
            :class:`hepjax.anomaly.TRANSIT` or :class:`hepjax.anomaly.Drapes`.

    Returns:
        The template (``template.sample(key, sr_mass)``), with ``train_seconds``.

    Raises:
        TypeError: ``method`` is not a template method.
        ValueError: features that are not ``(n, d)``, rows with NaN or inf (they
            are counted in the message), or masses of the wrong shape.
    """
    if not isinstance(method, AbstractTemplateMethod):
        raise TypeError(
            "method must be a template method (anomaly.CATHODE(), TRANSIT(), Drapes() or "
            f"Idealized(sr_background)), got {method!r}"
        )
    x = check_features("sb_features", sb_features)
    m = check_mass("sb_mass", sb_mass, x.shape[0])
    start = time.perf_counter()
    template = method.fit(key, x, m)
    jax.block_until_ready(jax.tree.leaves(eqx.filter(template, eqx.is_array)))
    seconds = time.perf_counter() - start
    return dataclasses.replace(template, train_seconds=seconds)


def sample_masses(
    key: PRNGKeyArray,
    mass: Float[ArrayLike, " n"],
    num_samples: int,
    *,
    bandwidth: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> Float[np.ndarray, " m"]:
    r"""Draws from a Gaussian kernel density estimate of ``mass`` (CATHODE's SR mass model).

    $\hat p(m) = \frac1n \sum_i \mathcal N(m; m_i, h^2)$ with Scott's rule
    $h = \hat\sigma\, n^{-1/5}$ by default: pick a data point uniformly, add
    $h$ times a standard normal. With ``bounds``, draws are reflected back into
    ``[low, high]`` (a reflection KDE, so the region's edges are respected).

    Args:
        key: PRNG key.
        mass: ``(n,)`` the masses to model (the signal-region data).
        num_samples: how many masses to draw.
        bandwidth: $h$ (default Scott's rule).
        bounds: optional ``(low, high)`` to reflect the draws into.
    """
    m = check_mass("mass", mass, np.asarray(mass).reshape(-1).shape[0]).astype(np.float64)
    num_samples = check_positive_int("num_samples", num_samples)
    if m.size < 2:
        raise ValueError(f"mass needs at least 2 values for a KDE, got {m.size}")
    h = m.std() * m.size ** (-0.2) if bandwidth is None else check_positive("bandwidth", bandwidth)
    k_i, k_n = jax.random.split(key)
    idx = np.asarray(jax.random.randint(k_i, (num_samples,), 0, m.size))
    out = m[idx] + h * np.asarray(jax.random.normal(k_n, (num_samples,)), np.float64)
    if bounds is not None:
        lo, hi = (float(v) for v in bounds)
        if not lo < hi:
            raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")
        for _ in range(4):
            out = np.where(out < lo, 2 * lo - out, out)
            out = np.where(out > hi, 2 * hi - out, out)
        out = np.clip(out, lo, hi)
    return out.astype(np.float32)


# --- shared machinery of the learned templates -------------------------------------------


class _Scaling(eqx.Module):
    """Standardisers of the features and of the mass (fitted on the sidebands)."""

    x: Standardizer
    m: Standardizer

    @staticmethod
    def fit(x: np.ndarray, m: np.ndarray) -> "_Scaling":
        return _Scaling(Standardizer.fit(jnp.asarray(x)), Standardizer.fit(jnp.asarray(m[:, None])))

    def features(self, x) -> jax.Array:
        return self.x.forward(jnp.asarray(x))

    def mass(self, m) -> jax.Array:
        return self.m.forward(jnp.asarray(m).reshape(-1, 1))

    def unscale(self, y) -> np.ndarray:
        return np.asarray(self.x.inverse(y))


def chunked(fn, key: PRNGKeyArray, arrays: tuple, chunk: int = 8192) -> np.ndarray:
    """``fn(keys, *arrays)`` on fixed-size chunks of the rows (one compilation), concatenated."""
    n = arrays[0].shape[0]
    if n == 0:
        raise ValueError("nothing to sample: got 0 masses")
    size = min(chunk, n)
    jitted = eqx.filter_jit(fn)
    keys = jax.random.split(key, -(-n // size) * size)
    out = []
    for start in range(0, n, size):
        part = [np.asarray(a[start : start + size]) for a in arrays]
        real = part[0].shape[0]
        if real < size:
            part = [np.concatenate([p, np.repeat(p[-1:], size - real, axis=0)]) for p in part]
        res = jitted(keys[start : start + size], *(jnp.asarray(p) for p in part))
        out.append(np.asarray(res)[:real])
    return np.concatenate(out)


def train_on_sidebands(
    model,
    loss_fn,
    optimizer: optax.GradientTransformation,
    x: jax.Array,
    m: jax.Array,
    *,
    key: PRNGKeyArray,
    steps: int,
    batch_size: int,
    validation_fraction: float,
    patience: int,
):
    """Train on standardised sideband rows with :func:`hepjax.train.fit`.

    Batches of ``{"x": (b, d), "m": (b, 1)}`` are drawn with replacement from
    the training rows (a pure function of the step). With a positive
    ``validation_fraction``, that fraction of the rows is held out and
    :class:`hepjax.train.EarlyStopping` keeps the model of the best
    validation loss, evaluated once per epoch.
    """
    n = x.shape[0]
    k_split, k_seed, k_fit = jax.random.split(key, 3)
    order = np.asarray(jax.random.permutation(k_split, n))
    num_val = round(validation_fraction * n) if validation_fraction > 0 else 0
    if validation_fraction > 0 and (num_val < 1 or n - num_val < 2):
        raise ValueError(
            f"validation_fraction={validation_fraction} leaves no validation or training "
            f"rows of the {n} sideband events"
        )
    x_np, m_np = np.asarray(x), np.asarray(m)
    train, val = order[num_val:], order[:num_val]
    x_tr, m_tr = x_np[train], m_np[train]
    batch_size = min(batch_size, len(train))
    seed = int(jax.random.randint(k_seed, (), 0, 2**31 - 1))

    def batch(step: int) -> dict:
        idx = np.random.default_rng([seed, step]).integers(0, len(train), batch_size)
        return {"x": x_tr[idx], "m": m_tr[idx]}

    epoch = max(1, len(train) // batch_size)
    early = None
    if num_val:
        early = EarlyStopping({"x": x_np[val], "m": m_np[val]}, patience=patience, every=epoch)
    result = fit(
        model,
        loss_fn,
        optimizer,
        batch,
        steps=steps,
        key=k_fit,
        early_stopping=early,
        steps_per_call=min(steps, epoch if early else 200),
        progress=False,
    )
    return result.model


def check_training(name_value: dict) -> None:
    """Common checks of the hyperparameters of a learned template."""
    for name, value in name_value.items():
        if name in ("learning_rate",):
            check_positive(name, value)
        elif name == "validation_fraction":
            if not (isinstance(value, int | float) and 0.0 <= value < 1.0):
                raise ValueError(f"validation_fraction must be in [0, 1), got {value!r}")
        else:
            check_positive_int(name, value)


# --- Idealized ---------------------------------------------------------------------------


class IdealizedTemplate(AbstractTemplate):
    """True signal-region background: ``sample`` draws rows without replacement.

    Asked for more rows than it holds, it returns every row once and draws the
    rest again, with a warning.

    Attributes:
        background: ``(n, d)`` the true background features in the signal region.
        train_seconds: 0 (nothing is trained).
    """

    background: np.ndarray
    train_seconds: float = 0.0

    @property
    def dim(self) -> int:
        return int(self.background.shape[1])

    def _sample_at(self, key, mass):
        n, available = mass.shape[0], self.background.shape[0]
        k_perm, k_extra = jax.random.split(key)
        rows = np.asarray(jax.random.permutation(k_perm, available))[:n]
        if n > available:
            warnings.warn(
                f"the idealized template has {available} background events and {n} were "
                f"asked for: {n - available} are drawn again (with replacement)",
                stacklevel=3,
            )
            extra = np.asarray(jax.random.randint(k_extra, (n - available,), 0, available))
            rows = np.concatenate([rows, extra])
        return self.background[rows]


class Idealized(AbstractTemplateMethod):
    """The idealised reference: a perfect template made of true signal-region background.

    Attributes:
        sr_background: ``(n, d)`` background features in the signal region,
            independent of the data the classifier sees (or :class:`Events`).
    """

    sr_background: np.ndarray

    def __init__(self, sr_background):
        if isinstance(sr_background, Events):
            sr_background = sr_background.features
        self.sr_background = check_features("sr_background", sr_background)

    def fit(self, key, features, mass) -> IdealizedTemplate:
        if features.shape[1] != self.sr_background.shape[1]:
            raise ValueError(
                f"sb_features have {features.shape[1]} features but sr_background has "
                f"{self.sr_background.shape[1]}"
            )
        return IdealizedTemplate(self.sr_background)


# --- CATHODE -----------------------------------------------------------------------------


class CATHODETemplate(AbstractTemplate):
    """A conditional flow $q(x \\mid m)$ fitted on the sidebands, sampled at given masses.

    Attributes:
        flow: the :class:`hepjax.generative.ConditionalSplineFlow` on standardised features.
        scaling: the sideband standardisation of features and mass.
        train_seconds: wall time of the fit.
    """

    flow: ConditionalSplineFlow
    scaling: _Scaling
    train_seconds: float = math.nan

    @property
    def dim(self) -> int:
        return self.flow.dim

    def _sample_at(self, key, mass):
        def draw(keys, m):
            return jax.vmap(self.flow.sample)(keys, m)

        return self.scaling.unscale(chunked(draw, key, (np.asarray(self.scaling.mass(mass)),)))

    def log_prob(self, features: Float[ArrayLike, "n d"], mass: Float[ArrayLike, " n"]):
        """$\\log q(x \\mid m)$ per row, in the original units of the features."""
        x = check_features("features", features, self.dim)
        m = check_mass("mass", mass, x.shape[0])
        y = self.scaling.features(x)
        lp = jax.vmap(self.flow.log_prob)(y, self.scaling.mass(m))
        return np.asarray(lp - jnp.sum(jnp.log(self.scaling.x.scale)))


class CATHODE(AbstractTemplateMethod):
    r"""CATHODE: a conditional density estimator on the sidebands, sampled in the SR.

    The flow $q(x \mid m)$ is trained by maximum likelihood,
    $\mathcal L = -\frac1B\sum_b \log q(x_b \mid m_b)$, with Adam, keeping the
    model of the best validation loss (the paper trains a 15-block MAF of
    width 128 and averages its best epochs; here one rational-quadratic spline
    coupling flow).

    Attributes:
        hidden_size: width of the conditioner MLPs.
        num_transforms: spline coupling layers.
        num_layers: hidden layers per conditioner.
        num_bins: spline bins.
        steps: maximum optimizer steps.
        batch_size: minibatch size.
        learning_rate: Adam learning rate.
        validation_fraction: sideband fraction held out for early stopping.
        patience: epochs without improvement before stopping.
    """

    hidden_size: int = 64
    num_transforms: int = 6
    num_layers: int = 2
    num_bins: int = 8
    steps: int = 3000
    batch_size: int = 256
    learning_rate: float = 1e-3
    validation_fraction: float = 0.2
    patience: int = 10

    def __check_init__(self):
        check_training({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    def fit(self, key, features, mass) -> CATHODETemplate:
        scaling = _Scaling.fit(features, mass)
        k_init, k_train = jax.random.split(key)
        flow = ConditionalSplineFlow(
            features.shape[1],
            1,
            hidden_size=self.hidden_size,
            num_transforms=self.num_transforms,
            num_layers=self.num_layers,
            num_bins=self.num_bins,
            key=k_init,
        )

        def loss_fn(model, batch):
            return -jnp.mean(jax.vmap(model.log_prob)(batch["x"], batch["m"]))

        flow = train_on_sidebands(
            flow,
            loss_fn,
            optax.adam(self.learning_rate),
            scaling.features(features),
            scaling.mass(mass),
            key=k_train,
            steps=self.steps,
            batch_size=self.batch_size,
            validation_fraction=self.validation_fraction,
            patience=self.patience,
        )
        return CATHODETemplate(flow, scaling)
