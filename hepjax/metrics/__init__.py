"""Layer 3: metrics and their plots.

Classification (ROC curves, AUC, background rejection), classifier two-sample
tests (:func:`c2st` accuracy and :func:`c2st_auc`, used by SBI diagnostics and to
score generative models), the unbiased RBF maximum mean discrepancy
(:func:`mmd_rbf`), and plots; the JetNet metrics are in
:mod:`hepjax.metrics.jets`.
"""

from ._c2st import c2st as c2st
from ._c2st import c2st_auc as c2st_auc
from ._classification import accuracy as accuracy
from ._classification import background_rejection as background_rejection
from ._classification import plot_roc as plot_roc
from ._classification import roc_auc as roc_auc
from ._classification import roc_curve as roc_curve
from ._jet_plots import plot_jet_distributions as plot_jet_distributions
from ._losses_plot import plot_losses as plot_losses
from ._mmd import median_bandwidth as median_bandwidth
from ._mmd import mmd_rbf as mmd_rbf

__all__ = [
    "accuracy",
    "background_rejection",
    "c2st",
    "c2st_auc",
    "median_bandwidth",
    "mmd_rbf",
    "plot_jet_distributions",
    "plot_losses",
    "plot_roc",
    "roc_auc",
    "roc_curve",
]
