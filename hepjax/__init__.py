"""hepjax: a JAX toolkit for machine learning and differentiable programming in HEP.

The top-level import is deliberately light: subpackages are imported on first
attribute access (``hepjax.train``, ``hepjax.data`` ...), and heavy optional
dependencies (Pythia, FastJet, uproot, matplotlib, torch) are imported only
inside the functions that need them.
"""

import importlib as _importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "anomaly",
    "calo",
    "cli",
    "data",
    "design",
    "estimators",
    "generative",
    "jets",
    "manifolds",
    "metrics",
    "nn",
    "physics",
    "pileup",
    "radiation",
    "robust",
    "sbi",
    "scaling",
    "sim",
    "tracking",
    "train",
)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"hepjax.{name}")
    raise AttributeError(f"module 'hepjax' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBPACKAGES])
