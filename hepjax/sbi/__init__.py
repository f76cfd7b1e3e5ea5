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
- :mod:`hepjax.sbi.tasks`: sbibm's ``gaussian_linear``, ``two_moons``, ``slcp``.
- :mod:`hepjax.sbi.diagnostics`: C2ST, simulation-based calibration (ranks and
  a uniformity test), TARP expected coverage.
"""

from . import diagnostics as diagnostics
from . import tasks as tasks
from ._data import NotFittedError as NotFittedError
from ._fmpe import FMPE as FMPE
from ._nle import NLE as NLE
from ._npe import NPE as NPE
from ._npe import AbstractPosteriorEstimator as AbstractPosteriorEstimator
from ._nre import NRE as NRE

__all__ = ["FMPE", "NPE", "AbstractPosteriorEstimator", "NotFittedError", "diagnostics", "tasks"]
