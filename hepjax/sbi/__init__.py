r"""Layer 4: simulation-based inference.

Amortised posterior estimators trained on simulations $(\theta_i, x_i)$ with
:func:`hepjax.train.fit` (validation split, early stopping), benchmark tasks
with reference posteriors, and calibration diagnostics.

```python notest
from hepjax import sbi

task = sbi.tasks.get("gaussian_linear")
theta, x = task.simulate(key, 10_000)
est = sbi.NPE().fit(key, theta, x)
samples = est.sample(key, x_obs, 10_000)
sbi.diagnostics.c2st(samples, task.reference_posterior(key, x_obs, 10_000))
```

- Estimators: :class:`NPE` (conditional neural spline flow), :class:`FMPE`
  (flow-matching posterior estimation), :class:`NRE` (binary, balanced or
  contrastive ratio estimation, sampled by SIR), :class:`NLE` (likelihood flow,
  sampled by NUTS).
- Embeddings for ``embedding=``: any Equinox module, e.g. ``eqx.nn.MLP`` for
  vectors; for ensembles of events (``x`` of shape ``(N, m, *event_shape)``
  with padding events all NaN, see :func:`pad_ensembles` and
  :func:`ensemble_mask`) the set encoders :class:`hepjax.nn.DeepSets` and
  :class:`hepjax.nn.SetTransformer`, with :class:`hepjax.nn.CNNEncoder` as
  their per-event ``encoder=`` for images.
- :class:`HierarchicalNPE`: global posterior $q(\theta \mid X)$ over a
  variable-size ensemble $X$ and local posteriors $q(z_i \mid x_i, \theta,
  s(X))$ (Heinrich et al. 2023, arXiv:2306.12584).
- :mod:`hepjax.sbi.tasks`: sbibm's ``gaussian_linear``, ``two_moons``, ``slcp``.
- :mod:`hepjax.sbi.frequentist`: profile likelihood ratios from exact or
  learned likelihoods, the Neyman construction and its coverage.
- :mod:`hepjax.sbi.diagnostics`: C2ST, simulation-based calibration (ranks and
  a uniformity test), TARP expected coverage.
"""

from . import diagnostics as diagnostics
from . import frequentist as frequentist
from . import tasks as tasks
from ._context import ensemble_mask as ensemble_mask
from ._context import pad_ensembles as pad_ensembles
from ._data import NotFittedError as NotFittedError
from ._fmpe import FMPE as FMPE
from ._hierarchical import HierarchicalNPE as HierarchicalNPE
from ._nle import NLE as NLE
from ._npe import NPE as NPE
from ._npe import AbstractPosteriorEstimator as AbstractPosteriorEstimator
from ._nre import NRE as NRE

__all__ = [
    "FMPE",
    "NLE",
    "NPE",
    "NRE",
    "AbstractPosteriorEstimator",
    "HierarchicalNPE",
    "NotFittedError",
    "diagnostics",
    "ensemble_mask",
    "frequentist",
    "pad_ensembles",
    "tasks",
]
