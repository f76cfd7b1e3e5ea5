r"""CaloChallenge 2022 HDF5 files (Krause et al., arXiv:2410.21611).

Each file holds ``incident_energies`` $(N, 1)$ (MeV) and ``showers``
$(N, V)$ voxel energies (MeV), with $V = 368$ (dataset 1 photons), $533$
(dataset 1 pions), $6480$ (dataset 2) or $40500$ (dataset 3).
"""

import os
import pathlib

import numpy as np
from jaxtyping import ArrayLike, Float

from .._hdf5 import _open, check_hdf5_schema, write_hdf5
from ._common import as_array, check_kind, reading

CALOCHALLENGE_VOXELS = {"1-photons": 368, "1-pions": 533, "2": 6480, "3": 40500}


def read_calochallenge(
    path: str | os.PathLike, *, num_voxels: int | None = None
) -> dict[str, np.ndarray]:
    """Read a CaloChallenge HDF5 file after validating its layout.

    Args:
        path: the ``.hdf5`` file.
        num_voxels: if given, ``showers`` must have exactly this many columns $V$.

    Returns:
        ``{"incident_energies": (N, 1), "showers": (N, V)}`` in the file's float dtype.
    """
    schema = {"incident_energies": (1,), "showers": (num_voxels,)}
    with _open(path) as f, reading(path):
        check_hdf5_schema(f, schema, path)
        for name in schema:
            check_kind(path, name, f[name].dtype, "f", "a floating")
        return {name: f[name][...] for name in schema}


def write_calochallenge(
    path: str | os.PathLike,
    incident_energies: Float[ArrayLike, "N 1"],
    showers: Float[ArrayLike, "M V"],
    *,
    compression: str | None = "gzip",
) -> pathlib.Path:
    """Write a CaloChallenge-layout HDF5 file atomically (float32).

    Args:
        path: the destination HDF5 file.
        incident_energies: ``(N, 1)`` incident energies (MeV in the CaloChallenge sets).
        showers: ``(N, V)`` voxel energies of each shower (MeV).
        compression: h5py compression filter (``"gzip"``, ``"lzf"`` or ``None``).
    """
    e = as_array("incident_energies", incident_energies, 2, np.float32)
    s = as_array("showers", showers, 2, np.float32)
    if e.shape[1] != 1:
        raise ValueError(f"incident_energies must have shape (N, 1), got {e.shape}")
    if e.shape[0] != s.shape[0]:
        raise ValueError(
            f"incident_energies and showers must have the same N, got {e.shape[0]} and {s.shape[0]}"
        )
    return write_hdf5(path, {"incident_energies": e, "showers": s}, compression=compression)
