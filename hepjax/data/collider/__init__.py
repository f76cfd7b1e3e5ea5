"""Pythia 8 + FastJet generators of JetNet-, JetClass-, LHCO- and HH->4b-style data, and
minimum-bias pools for pile-up.

Needs the ``hep`` extra (``pip install 'hepjax[hep]'``); pythia8mc, fastjet,
awkward and uproot are imported only inside the functions.
"""

from ._cache import cached_jetnet as cached_jetnet
from ._cache import default_cache_dir as default_cache_dir
from ._events import DEFAULT_CUTS as DEFAULT_CUTS
from ._merge import output_name as output_name
from ._minbias import CHARGED_PDG as CHARGED_PDG
from ._minbias import MINBIAS_SETTINGS as MINBIAS_SETTINGS
from ._minbias import ParticlePool as ParticlePool
from ._minbias import minbias_pool as minbias_pool
from ._particles import TTBAR_SETTINGS as TTBAR_SETTINGS
from ._particles import final_state_particles as final_state_particles
from ._plot import plot_dataset as plot_dataset
from ._processes import DATASETS as DATASETS
from ._processes import JETCLASS_FILE_STEMS as JETCLASS_FILE_STEMS
from ._processes import Process as Process
from ._processes import get_process as get_process
from ._processes import pythia_settings as pythia_settings
from ._run import generate as generate
from ._run import make_dataset as make_dataset
from ._shards import shard_seed as shard_seed

__all__ = [
    "CHARGED_PDG",
    "DATASETS",
    "DEFAULT_CUTS",
    "JETCLASS_FILE_STEMS",
    "MINBIAS_SETTINGS",
    "TTBAR_SETTINGS",
    "ParticlePool",
    "Process",
    "cached_jetnet",
    "default_cache_dir",
    "final_state_particles",
    "generate",
    "get_process",
    "make_dataset",
    "minbias_pool",
    "output_name",
    "plot_dataset",
    "pythia_settings",
    "shard_seed",
]
