"""Layer 2: datasets, deterministic batch streams and HDF5 input/output."""

from ._campaign import run_shards as run_shards
from ._dataset import ArrayDataset as ArrayDataset
from ._dataset import Batches as Batches
from ._hdf5 import HDF5Writer as HDF5Writer
from ._hdf5 import check_hdf5_schema as check_hdf5_schema
from ._hdf5 import iter_hdf5 as iter_hdf5
from ._hdf5 import read_hdf5 as read_hdf5
from ._hdf5 import write_hdf5 as write_hdf5
from ._preprocessing import SetStandardizer as SetStandardizer
from ._preprocessing import join_jetnet as join_jetnet
from ._preprocessing import resample_particles as resample_particles
from ._preprocessing import split_jetnet as split_jetnet
from ._toy_jets import toy_jet as toy_jet
from ._toy_jets import toy_quark_gluon as toy_quark_gluon

__all__ = [
    "ArrayDataset",
    "Batches",
    "HDF5Writer",
    "SetStandardizer",
    "check_hdf5_schema",
    "iter_hdf5",
    "join_jetnet",
    "read_hdf5",
    "resample_particles",
    "run_shards",
    "split_jetnet",
    "toy_jet",
    "toy_quark_gluon",
    "write_hdf5",
]

# Published formats and the Pythia 8 + FastJet generators (issue 7);
# Pythia/FastJet are imported only inside functions.
from . import collider as collider
from . import formats as formats

__all__ += ["collider", "formats"]
