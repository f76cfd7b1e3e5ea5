"""Exact readers and writers of the published HEP data formats.

JetNet and CaloChallenge HDF5, the LHC Olympics R&D features table (pandas
fixed format, read with h5py), JetClass ROOT (uproot, in the ``hep`` extra)
and TrackML CSV. Every reader validates the layout first and names the file
and field on a mismatch.
"""

from ._calochallenge import CALOCHALLENGE_VOXELS as CALOCHALLENGE_VOXELS
from ._calochallenge import read_calochallenge as read_calochallenge
from ._calochallenge import write_calochallenge as write_calochallenge
from ._jetclass import JETCLASS_IMPACT_BRANCHES as JETCLASS_IMPACT_BRANCHES
from ._jetclass import JETCLASS_JET_BRANCHES as JETCLASS_JET_BRANCHES
from ._jetclass import JETCLASS_LABELS as JETCLASS_LABELS
from ._jetclass import JETCLASS_PARTICLE_BRANCHES as JETCLASS_PARTICLE_BRANCHES
from ._jetclass import read_jetclass as read_jetclass
from ._jetclass import write_jetclass as write_jetclass
from ._jetnet import JETNET_SCHEMA as JETNET_SCHEMA
from ._jetnet import read_jetnet as read_jetnet
from ._jetnet import write_jetnet as write_jetnet
from ._lhco import LHCO_FEATURE_COLUMNS as LHCO_FEATURE_COLUMNS
from ._lhco import lhco_dijet_features as lhco_dijet_features
from ._lhco import read_lhco_features as read_lhco_features
from ._lhco import write_lhco_features as write_lhco_features
from ._trackml import TRACKML_COLUMNS as TRACKML_COLUMNS
from ._trackml import read_trackml_event as read_trackml_event
from ._trackml import trackml_path as trackml_path
from ._trackml import write_trackml_event as write_trackml_event

__all__ = [
    "CALOCHALLENGE_VOXELS",
    "JETCLASS_IMPACT_BRANCHES",
    "JETCLASS_JET_BRANCHES",
    "JETCLASS_LABELS",
    "JETCLASS_PARTICLE_BRANCHES",
    "JETNET_SCHEMA",
    "LHCO_FEATURE_COLUMNS",
    "TRACKML_COLUMNS",
    "lhco_dijet_features",
    "read_calochallenge",
    "read_jetclass",
    "read_jetnet",
    "read_lhco_features",
    "read_trackml_event",
    "trackml_path",
    "write_calochallenge",
    "write_jetclass",
    "write_jetnet",
    "write_lhco_features",
    "write_trackml_event",
]
