r"""Layer 4: simulation-based inference.

Amortised posterior estimators trained on simulations $(\theta_i, x_i)$ with
:func:`hepjax.train.fit` (validation split, early stopping keeping the best
model), benchmark tasks with reference posteriors, and calibration diagnostics.

```python notest
from hepjax import sbi

task = sbi.tasks.get("gaussian_linear")
theta, x = task.simulate(key, 10_000)
est = sbi.NPE(training=sbi.TrainingOptions(max_steps=5000)).fit(key, theta, x)
samples = est.sample(key, x_obs, 10_000)
sbi.diagnostics.c2st(samples, task.reference_posterior(key, x_obs, 10_000))
```

- Estimators: :class:`NPE` (conditional neural spline flow), :class:`FMPE`
  (flow-matching posterior estimation), :class:`NRE` (binary, balanced or
  contrastive ratio estimation, sampled by SIR), :class:`NLE` (likelihood flow,
  sampled by NUTS). All take ``training=`` :class:`TrainingOptions` (any optax
  optimizer, batch size, step budget, validation split, patience, clipping,
  NaN policy) and keep a :class:`TrainingResult` as ``history``.
- One protocol (:class:`AbstractPosteriorEstimator`): ``fit``, ``sample``,
  ``sample_batch``, ``relative_log_likelihood`` (the learned log likelihood up
  to a function of $x$, for test statistics), and ``log_prob`` (NPE, FMPE),
  ``log_likelihood`` (NLE) or ``log_ratio`` (NRE). Diagnostics and
  :mod:`~hepjax.sbi.frequentist` need only the method they use.
- Embeddings for ``embedding=``: :class:`MLPEmbedding` (vectors),
  :class:`DeepSetEmbedding` and :class:`SetTransformerEmbedding` (ensembles of
  events: ``x`` of shape ``(N, m, *event_shape)`` with a bool ``mask (N, m)``
  passed as ``mask=`` to ``fit``/``sample``, or padding events all NaN, see
  :func:`pad_ensembles`); :class:`CNNEmbedding` for images (alone, or as the
  per-event ``encoder=`` of a set embedding).
- :class:`HierarchicalNPE`: global posterior $q(\theta \mid X)$ over a
  variable-size ensemble $X$ and local posteriors $q(z_i \mid x_i, \theta,
  s(X))$ (Heinrich et al. 2023, arXiv:2306.12584).
- :mod:`hepjax.sbi.tasks`: sbibm's ``gaussian_linear``, ``two_moons``, ``slcp``.
- :mod:`hepjax.sbi.frequentist`: profile likelihood ratios from exact or
  learned likelihoods (any estimator's ``relative_log_likelihood``), the
  Neyman construction and its coverage.
- :mod:`hepjax.sbi.diagnostics`: C2ST, simulation-based calibration (ranks and
  a uniformity test), TARP expected coverage.
"""

from . import diagnostics as diagnostics
from . import frequentist as frequentist
from . import tasks as tasks
from ._base import AbstractPosteriorEstimator as AbstractPosteriorEstimator
from ._base import TrainingOptions as TrainingOptions
from ._base import TrainingResult as TrainingResult
from ._cnn import CNNEmbedding as CNNEmbedding
from ._data import NotFittedError as NotFittedError
from ._embeddings import DeepSetEmbedding as DeepSetEmbedding
from ._embeddings import MLPEmbedding as MLPEmbedding
from ._embeddings import SetTransformerEmbedding as SetTransformerEmbedding
from ._embeddings import ensemble_mask as ensemble_mask
from ._embeddings import pad_ensembles as pad_ensembles
from ._fmpe import FMPE as FMPE
from ._hierarchical import HierarchicalNPE as HierarchicalNPE
from ._nle import NLE as NLE
from ._npe import NPE as NPE
from ._nre import NRE as NRE

__all__ = [
    "FMPE",
    "NLE",
    "NPE",
    "NRE",
    "AbstractPosteriorEstimator",
    "CNNEmbedding",
    "DeepSetEmbedding",
    "HierarchicalNPE",
    "MLPEmbedding",
    "NotFittedError",
    "SetTransformerEmbedding",
    "TrainingOptions",
    "TrainingResult",
    "diagnostics",
    "ensemble_mask",
    "frequentist",
    "pad_ensembles",
    "tasks",
]
