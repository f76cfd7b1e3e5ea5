"""A fast parton-splitting toy shower: JetNet-style jets and LHCO-style dijet features.

::

    from hepjax.sim import parton_shower

    jets = parton_shower.toy_shower_jets(key, "t", 1000, max_particles=30)
    jets["particle_features"]  # (1000, 30, 4): etarel, phirel, ptrel, mask
    events = parton_shower.toy_lhco_dijets(key, 1000)  # mjj, mj1, tau21_j1, ..., label

Not Pythia: an angular-ordered binary cascade in JAX with a handful of
parameters, that gives jets with the right gross features (W/Z/top mass peaks,
gluon jets wider than quark jets, two- and three-prong substructure) for unit
tests and quick experiments. The Pythia 8 + FastJet generators are in
:mod:`hepjax.data.collider`.
"""

from ._toy_shower import JET_TYPES as JET_TYPES
from ._toy_shower import LHCO_TOY_FIELDS as LHCO_TOY_FIELDS
from ._toy_shower import toy_lhco_dijets as toy_lhco_dijets
from ._toy_shower import toy_shower_jets as toy_shower_jets

__all__ = ["JET_TYPES", "LHCO_TOY_FIELDS", "toy_lhco_dijets", "toy_shower_jets"]
