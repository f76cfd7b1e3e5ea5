r"""JetClass ROOT files (Qu, Li & Qian, arXiv:2202.03772; zenodo 6619768).

Each file holds a TTree ``tree`` with one entry per jet:

- jagged per-particle branches ``part_px``, ``part_py``, ``part_pz``,
  ``part_energy``, ``part_deta``, ``part_dphi``, ``part_charge`` and the
  particle-ID flags ``part_isChargedHadron``, ``part_isNeutralHadron``,
  ``part_isPhoton``, ``part_isElectron``, ``part_isMuon``;
- the impact-parameter branches ``part_d0val``, ``part_d0err``,
  ``part_dzval``, ``part_dzerr`` (present in the published files; absent from
  hepjax's generated files, and read only when present);
- jet branches ``jet_pt``, ``jet_eta``, ``jet_phi``, ``jet_energy``,
  ``jet_nparticles``, ``jet_sdmass``, ``jet_tau1`` ... ``jet_tau4``;
- one-hot labels ``label_QCD``, ``label_Hbb``, ``label_Hcc``, ``label_Hgg``,
  ``label_H4q``, ``label_Hqql``, ``label_Zqq``, ``label_Wqq``, ``label_Tbqq``,
  ``label_Tbl``.

Names follow the particle_transformer data configs
(``data/JetClass/JetClass_full.yaml``). Reading needs uproot and awkward
(the ``hep`` extra): ``pip install 'hepjax[hep]'``.
"""

import os
import pathlib
from collections.abc import Mapping

import numpy as np
from jaxtyping import ArrayLike

from hepjax._core import check_positive_int

from ._common import atomic_path, import_hep

JETCLASS_PARTICLE_BRANCHES = (
    "part_px",
    "part_py",
    "part_pz",
    "part_energy",
    "part_deta",
    "part_dphi",
    "part_charge",
    "part_isChargedHadron",
    "part_isNeutralHadron",
    "part_isPhoton",
    "part_isElectron",
    "part_isMuon",
)
JETCLASS_IMPACT_BRANCHES = ("part_d0val", "part_d0err", "part_dzval", "part_dzerr")
JETCLASS_JET_BRANCHES = (
    "jet_pt",
    "jet_eta",
    "jet_phi",
    "jet_energy",
    "jet_nparticles",
    "jet_sdmass",
    "jet_tau1",
    "jet_tau2",
    "jet_tau3",
    "jet_tau4",
)
JETCLASS_LABELS = (
    "label_QCD",
    "label_Hbb",
    "label_Hcc",
    "label_Hgg",
    "label_H4q",
    "label_Hqql",
    "label_Zqq",
    "label_Wqq",
    "label_Tbqq",
    "label_Tbl",
)


def read_jetclass(
    path: str | os.PathLike,
    *,
    max_particles: int = 128,
    tree: str = "tree",
    entry_start: int | None = None,
    entry_stop: int | None = None,
) -> dict[str, np.ndarray]:
    """Read a JetClass ROOT file into padded arrays with a mask.

    Particles keep the file's order (JetClass stores them by decreasing $p_T$)
    and are cut or zero-padded to ``max_particles``.

    Args:
        path: the ``.root`` file.
        max_particles: padded set size $n$ (ParT uses 128).
        tree: the TTree name.
        entry_start: first entry (jet) to read (default 0).
        entry_stop: one past the last entry to read (default: all).

    Returns:
        ``part_*`` branches as (N, n) float32 (the impact-parameter ones only
        when in the file), ``part_mask`` (N, n) bool, ``jet_*`` (N,) float32,
        ``label_*`` (N,) bool, and ``label`` (N,) int32, the index of the
        one-hot label in ``JETCLASS_LABELS``.

    Raises:
        ImportError: uproot/awkward missing (names the ``hep`` extra).
        KeyError: a missing tree or branch.
        ValueError: a truncated file, a particle branch that is not jagged, jagged
            branches of different lengths, or labels that are not one-hot.
    """
    ak = import_hep("awkward")
    uproot = import_hep("uproot")
    max_particles = check_positive_int("max_particles", max_particles)
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no ROOT file at {path}")
    try:
        file = uproot.open(path)
    except Exception as err:  # uproot raises several types for damaged files
        raise ValueError(
            f"{path}: not a readable ROOT file; truncated or corrupt? ({err})"
        ) from err
    with file:
        if tree not in file:
            raise KeyError(f"{path}: missing tree {tree!r}; the file has {file.keys()}")
        t = file[tree]
        keys = set(t.keys())
        required = (*JETCLASS_PARTICLE_BRANCHES, *JETCLASS_JET_BRANCHES, *JETCLASS_LABELS)
        missing = [b for b in required if b not in keys]
        if missing:
            raise KeyError(f"{path}: tree {tree!r} is missing branches {missing}")
        part = [*JETCLASS_PARTICLE_BRANCHES, *(b for b in JETCLASS_IMPACT_BRANCHES if b in keys)]
        try:
            arrays = t.arrays(
                [*part, *JETCLASS_JET_BRANCHES, *JETCLASS_LABELS],
                entry_start=entry_start,
                entry_stop=entry_stop,
            )
        except Exception as err:
            raise ValueError(f"{path}: cannot read tree {tree!r}; truncated? ({err})") from err
    out: dict[str, np.ndarray] = {}
    counts = None
    for name in part:
        col = arrays[name]
        if col.ndim != 2:
            raise ValueError(
                f"{path}: branch {name!r} must be jagged (one list per jet), got type {col.type}"
            )
        c = ak.to_numpy(ak.num(col, axis=1))
        if counts is None:
            counts = c
        elif not np.array_equal(c, counts):
            raise ValueError(f"{path}: branch {name!r} has different particle counts per jet")
        padded = ak.fill_none(ak.pad_none(col, max_particles, axis=1, clip=True), 0)
        out[name] = ak.to_numpy(padded).astype(np.float32)
    n_jets = len(arrays)
    counts = np.zeros(n_jets, int) if counts is None else counts
    out["part_mask"] = np.arange(max_particles)[None, :] < counts[:, None]
    for name in JETCLASS_JET_BRANCHES:
        out[name] = ak.to_numpy(arrays[name]).astype(np.float32)
    onehot = np.stack([ak.to_numpy(arrays[name]) != 0 for name in JETCLASS_LABELS], axis=1)
    if n_jets and not (onehot.sum(axis=1) == 1).all():
        bad = int(np.argmax(onehot.sum(axis=1) != 1))
        raise ValueError(f"{path}: labels must be one-hot, jet {bad} has {onehot[bad].sum()} set")
    for i, name in enumerate(JETCLASS_LABELS):
        out[name] = onehot[:, i]
    out["label"] = np.argmax(onehot, axis=1).astype(np.int32)
    return out


def write_jetclass(
    path: str | os.PathLike,
    arrays: Mapping[str, ArrayLike],
    *,
    tree: str = "tree",
) -> pathlib.Path:
    """Write a JetClass-layout ROOT file through uproot, atomically.

    Args:
        path: destination ``.root``.
        arrays: ``part_mask`` (N, n) bool; every ``JETCLASS_PARTICLE_BRANCHES``
            entry as (N, n) (the padded slots are dropped, so the branches are
            jagged), optionally the impact-parameter ones; every
            ``JETCLASS_JET_BRANCHES`` entry as (N,); and either every
            ``label_*`` as (N,) or ``label`` (N,) int class indices.
        tree: the TTree name.

    The jagged branches share one counter branch ``npart``.
    """
    ak = import_hep("awkward")
    uproot = import_hep("uproot")
    if "part_mask" not in arrays:
        raise KeyError("arrays must contain 'part_mask' (N, n) bool")
    mask = np.asarray(arrays["part_mask"], bool)
    if mask.ndim != 2:
        raise ValueError(f"arrays['part_mask'] must have shape (N, n), got {mask.shape}")
    n_jets = mask.shape[0]
    counts = mask.sum(axis=1)
    if not (mask == (np.arange(mask.shape[1])[None] < counts[:, None])).all():
        raise ValueError("arrays['part_mask'] must mark the leading slots of each jet")
    part = [*JETCLASS_PARTICLE_BRANCHES, *(b for b in JETCLASS_IMPACT_BRANCHES if b in arrays)]
    missing = [b for b in (*part, *JETCLASS_JET_BRANCHES) if b not in arrays]
    if missing:
        raise KeyError(f"arrays is missing {missing}")
    branches = {}
    for name in part:
        x = np.asarray(arrays[name], np.float32)
        if x.shape != mask.shape:
            raise ValueError(f"arrays[{name!r}] must have shape {mask.shape}, got {x.shape}")
        branches[name] = ak.unflatten(x[mask], counts)
    for name in JETCLASS_JET_BRANCHES:
        x = np.asarray(arrays[name], np.float32)
        if x.shape != (n_jets,):
            raise ValueError(f"arrays[{name!r}] must have shape ({n_jets},), got {x.shape}")
        branches[name] = x
    if all(name in arrays for name in JETCLASS_LABELS):
        labels = {name: np.asarray(arrays[name], bool) for name in JETCLASS_LABELS}
    elif "label" in arrays:
        idx = np.asarray(arrays["label"])
        if idx.shape != (n_jets,) or idx.min(initial=0) < 0 or idx.max(initial=0) >= 10:
            raise ValueError(f"arrays['label'] must be (N,) ints in [0, 10), got {idx!r}")
        labels = {name: idx == i for i, name in enumerate(JETCLASS_LABELS)}
    else:
        raise KeyError(f"arrays must contain every one of {JETCLASS_LABELS} or 'label'")
    branches.update(labels)
    types = {k: (v.type.content if k in part else v.dtype) for k, v in branches.items()}
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            t = f.mktree(tree, types, counter_name=lambda counted: "npart")
            if n_jets:
                t.extend(branches)
    return pathlib.Path(path)
