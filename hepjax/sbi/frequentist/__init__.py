"""Frequentist inference with learned test statistics: Neyman construction and coverage.

```python notest
from hepjax import sbi
from hepjax.sbi import frequentist as freq

task = sbi.tasks.OnOff()                              # n_on ~ Pois(mu s + nu), n_off ~ Pois(tau nu)
est = sbi.NRE().fit(key, *task.simulate(key, 20_000))
stat = freq.profile_likelihood_ratio(freq.learned_log_likelihood(est), mu_grid, nu_grid)
belt = freq.neyman_construction(key, stat, task.simulator, mu_grid, nu_grid, unique=True)
belt.interval(*stat(x_obs))                           # (lower, upper) per confidence level
freq.coverage(key, belt, stat, task.simulator, (1.0, 40.0), unique=True).coverage
```

- :func:`profile_likelihood_ratio`: $t_\\mu$ profiled over a nuisance grid, from
  any log likelihood; :func:`learned_log_likelihood` turns any fitted estimator
  with ``relative_log_likelihood`` (NRE, NLE, NPE, FMPE, HierarchicalNPE) into one.
- :func:`neyman_construction`: critical values from toys at every grid point
  (:class:`NeymanBelt`, with intervals); :func:`coverage` checks them.
"""

from ._neyman import Coverage as Coverage
from ._neyman import NeymanBelt as NeymanBelt
from ._neyman import coverage as coverage
from ._neyman import neyman_construction as neyman_construction
from ._profile import learned_log_likelihood as learned_log_likelihood
from ._profile import profile_likelihood_ratio as profile_likelihood_ratio

__all__ = [
    "Coverage",
    "NeymanBelt",
    "coverage",
    "learned_log_likelihood",
    "neyman_construction",
    "profile_likelihood_ratio",
]
