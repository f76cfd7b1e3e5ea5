"""Layer 4: metrics and their plots (classification, MMD; more with each task)."""

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
    "median_bandwidth",
    "mmd_rbf",
    "plot_jet_distributions",
    "plot_losses",
    "plot_roc",
    "roc_auc",
    "roc_curve",
]
