r"""Metrics for generated jets in the JetNet format (``from hepjax.metrics import jets as jm``).

Inputs are arrays ``(N, n, 4)`` of ``(etarel, phirel, ptrel, mask)`` per particle
(JetNet, Kansal et al. arXiv:2106.11535). Every distance returns
``(value, error)``; the definitions follow ``jetnet.evaluation`` 0.2.5 and its
paper arXiv:2211.10295 (W1, FPD, KPD), and the EPiC-FM paper arXiv:2310.00049
(quantile KL, multi-model classifier). The batches are drawn from NumPy
generators seeded by ``seed`` in jetnet's order, so on the same inputs the
numbers equal jetnet's (see the [jet metrics page](../jet_metrics.md)).
"""

from ._classifier import classifier_auc as classifier_auc
from ._classifier import multi_model_classifier_metric as multi_model_classifier_metric
from ._distances import fpd as fpd
from ._distances import kpd as kpd
from ._observables import d2 as d2
from ._observables import efps as efps
from ._observables import jet_mass as jet_mass
from ._observables import substructure as substructure
from ._observables import tau21 as tau21
from ._observables import tau32 as tau32
from ._summary import all_metrics as all_metrics
from ._w1 import bootstrap_indices as bootstrap_indices
from ._w1 import quantiled_kl as quantiled_kl
from ._w1 import w1efp as w1efp
from ._w1 import w1m as w1m
from ._w1 import w1p as w1p

__all__ = [
    "all_metrics",
    "bootstrap_indices",
    "classifier_auc",
    "d2",
    "efps",
    "fpd",
    "jet_mass",
    "kpd",
    "multi_model_classifier_metric",
    "quantiled_kl",
    "substructure",
    "tau21",
    "tau32",
    "w1efp",
    "w1m",
    "w1p",
]
