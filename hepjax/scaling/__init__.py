r"""Layer 4: neural scaling laws for jet tagging (Vigl et al., arXiv:2602.15781).

Compute-optimal scaling of a classifier's validation loss with the model size
$N$ and the data size $D$: the parametric law $L = E + A/N^\alpha + B/D^\beta$
and its bootstrap intervals, the compute-optimal frontier by Chinchilla's
three approaches, the data-repetition law, compute accounting per model and
resumable sweep campaigns with a learning-rate transfer law.

```python notest
from hepjax import scaling

fit = scaling.fit_parametric(N, D, loss)             # .E .A .B .alpha .beta
boot = fit.bootstrap(key, 200)                       # boot.interval("alpha")
N_opt, D_opt = scaling.compute_optimal(fit, 1e15)    # C = 6 N D
envelope = scaling.lower_envelope(*campaign.curve_points())
isoflop = scaling.isoflop_profiles(*campaign.curve_points(), budgets)
flops = scaling.transformer_flops(scaling.count_params(model), 64, 128, 4)
```

- **Fits**: :func:`fit_parametric` (:class:`ScalingFit`, :class:`BootstrapResult`),
  :func:`compute_optimal`, :func:`lower_envelope` and :func:`isoflop_profiles`
  (:class:`FrontierResult`), :func:`effective_data` and :func:`fit_repetition`
  (:class:`RepetitionResult`).
- **Compute**: :func:`count_params`, :func:`transformer_flops`, :func:`xla_flops`.
- **Campaigns**: :func:`run_campaign` (:class:`CampaignResult`, :class:`CellResult`),
  :func:`fit_lr_law` (:class:`LearningRateLaw`).
"""

from ._approaches import FrontierResult as FrontierResult
from ._approaches import isoflop_profiles as isoflop_profiles
from ._approaches import lower_envelope as lower_envelope
from ._campaign import CampaignResult as CampaignResult
from ._campaign import CellResult as CellResult
from ._campaign import LearningRateLaw as LearningRateLaw
from ._campaign import fit_lr_law as fit_lr_law
from ._campaign import run_campaign as run_campaign
from ._compute import count_params as count_params
from ._compute import transformer_flops as transformer_flops
from ._compute import xla_flops as xla_flops
from ._parametric import BootstrapResult as BootstrapResult
from ._parametric import ScalingFit as ScalingFit
from ._parametric import compute_optimal as compute_optimal
from ._parametric import default_starts as default_starts
from ._parametric import fit_parametric as fit_parametric
from ._repetition import RepetitionResult as RepetitionResult
from ._repetition import effective_data as effective_data
from ._repetition import fit_repetition as fit_repetition

__all__ = [
    "BootstrapResult",
    "CampaignResult",
    "CellResult",
    "FrontierResult",
    "LearningRateLaw",
    "RepetitionResult",
    "ScalingFit",
    "compute_optimal",
    "count_params",
    "default_starts",
    "effective_data",
    "fit_lr_law",
    "fit_parametric",
    "isoflop_profiles",
    "lower_envelope",
    "run_campaign",
    "transformer_flops",
    "xla_flops",
]
