r"""JetNet HDF5 files (Kansal et al., arXiv:2106.11535; zenodo 6975118).

Each file (``g.hdf5``, ``q.hdf5``, ``t.hdf5``, ``w.hdf5``, ``z.hdf5``, and the
``*150.hdf5`` variants) holds two datasets at the root:

- ``particle_features``: $(N, n, 4)$ float32, per constituent
  $(\eta^{\rm rel}, \phi^{\rm rel}, p_T^{\rm rel}, \text{mask})$ with
  $\eta^{\rm rel} = \eta_i - \eta_{\rm jet}$,
  $\phi^{\rm rel} = \phi_i - \phi_{\rm jet}$ (wrapped),
  $p_T^{\rm rel} = p_{T,i}/p_{T,\rm jet}$, zero-padded, $n = 30$ or $150$;
- ``jet_features``: $(N, 4)$ float32, $(p_T, \eta, m, n_{\rm particles})$.

The ``jetnet`` package reads them with h5py exactly as here.
"""

import os
import pathlib

import numpy as np
from jaxtyping import ArrayLike, Float

from .._hdf5 import _open, check_hdf5_schema, write_hdf5
from ._common import as_array, check_kind, reading

JETNET_SCHEMA = {"particle_features": (None, 4), "jet_features": (4,)}


def read_jetnet(
    path: str | os.PathLike, *, num_particles: int | None = None
) -> dict[str, np.ndarray]:
    """Read a JetNet HDF5 file after validating its layout.

    For files larger than memory, stream them with
    ``hepjax.data.iter_hdf5(path, JETNET_SCHEMA, chunk_rows=...)``.

    Args:
        path: the ``.hdf5`` file.
        num_particles: if given, the file must have exactly this many particle
            slots $n$ (30 or 150 for the published files).

    Returns:
        ``{"particle_features": (N, n, 4) float32, "jet_features": (N, 4) float32}``.

    Raises:
        FileNotFoundError: no file at ``path``.
        KeyError: a dataset is missing.
        ValueError: a wrong shape, a mask column not in {0, 1}, or a truncated file.
        TypeError: a non-floating dtype.
    """
    with _open(path) as f, reading(path):
        check_hdf5_schema(f, JETNET_SCHEMA, path)
        for name in JETNET_SCHEMA:
            check_kind(path, name, f[name].dtype, "f", "a floating")
        n = f["particle_features"].shape[1]
        if num_particles is not None and n != num_particles:
            raise ValueError(
                f"{path}: field 'particle_features' must have {num_particles} particle slots "
                f"(shape (N, {num_particles}, 4)), got {f['particle_features'].shape}"
            )
        out = {name: np.asarray(f[name][...], np.float32) for name in JETNET_SCHEMA}
    mask = out["particle_features"][..., 3]
    if not np.isin(mask, (0.0, 1.0)).all():
        raise ValueError(f"{path}: field 'particle_features' mask column (index 3) must be 0 or 1")
    return out


def write_jetnet(
    path: str | os.PathLike,
    particle_features: Float[ArrayLike, "N n 4"],
    jet_features: Float[ArrayLike, "M 4"],
    *,
    compression: str | None = "gzip",
) -> pathlib.Path:
    """Write a JetNet-layout HDF5 file atomically (float32, the published layout).

    Args:
        path: destination, e.g. ``t.hdf5``.
        particle_features: $(N, n, 4)$ as (etarel, phirel, ptrel, mask).
        jet_features: $(N, 4)$ as (pt, eta, mass, num_particles).
        compression: h5py filter; ``"gzip"`` is readable by every HDF5 tool.
    """
    pf = as_array("particle_features", particle_features, 3, np.float32)
    jf = as_array("jet_features", jet_features, 2, np.float32)
    if pf.shape[2] != 4:
        raise ValueError(f"particle_features must have shape (N, n, 4), got {pf.shape}")
    if jf.shape[1] != 4:
        raise ValueError(f"jet_features must have shape (N, 4), got {jf.shape}")
    if pf.shape[0] != jf.shape[0]:
        raise ValueError(
            f"particle_features and jet_features must have the same N, got {pf.shape[0]} "
            f"and {jf.shape[0]}"
        )
    if not np.isin(pf[..., 3], (0.0, 1.0)).all():
        raise ValueError("particle_features[..., 3] (the mask) must be 0 or 1")
    return write_hdf5(path, {"particle_features": pf, "jet_features": jf}, compression=compression)
