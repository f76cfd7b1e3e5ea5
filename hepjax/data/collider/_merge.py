"""Publishing: the finished shards of a process streamed into the published layout.

When all shards of a process exist they are streamed, shard by shard, into the
data set's published layout: JetNet HDF5 (``t.hdf5``, ``t150.hdf5`` with a
``t.hdf5`` alias), JetClass ROOT (one file per shard, as the published set is
split, and a text file listing them), the LHCO pandas table, or an HDF5 file
for HH->4b.
"""

import os
import pathlib
from collections.abc import Mapping

import numpy as np

from ._processes import JETCLASS_FILE_STEMS


def output_name(dataset: str, process: str, particles: int = 30) -> str:
    """File name of one process's output (the published names where there are some).

    Args:
        dataset: ``"jetnet"``, ``"jetclass"``, ``"lhco"``, ``"hh4b"`` or ``"hh4b_constituents"``.
        process: the process name within the data set (e.g. ``"g"``, ``"t"``).
        particles: particles per jet (JetNet: 30 keeps the published name, others add the number).
    """
    if dataset == "jetnet":
        return f"{process}.hdf5" if particles == 30 else f"{process}{particles}.hdf5"
    if dataset == "jetclass":  # a list of the ROOT files, one per shard
        return f"{JETCLASS_FILE_STEMS[process]}.files.txt"
    if dataset == "lhco":
        return f"lhco_{process}.features.h5"
    return f"{process}.hdf5"


def merge_shards(
    dataset: str,
    process: str,
    shard_paths: list[pathlib.Path],
    n: int,
    dest: pathlib.Path,
    fields: Mapping[str, tuple],
) -> None:
    """Stream the first ``n`` rows of the shards into the published layout at ``dest``."""
    import h5py

    def chunks():
        left = n
        for p in shard_paths:
            if left <= 0:
                return
            with h5py.File(p, "r") as f:
                m = min(left, f[next(iter(fields))].shape[0])
                yield {k: f[k][:m] for k in fields}
                left -= m

    if dataset in ("jetnet", "hh4b", "hh4b_constituents"):
        from .._hdf5 import HDF5Writer

        with HDF5Writer(dest, fields, chunk_rows=min(n, 1024), compression="gzip") as w:
            for c in chunks():
                w.append(**c)
    elif dataset == "lhco":
        from hepjax.data.formats import LHCO_FEATURE_COLUMNS, write_lhco_features

        # 15 float64 columns per event: the table is built in memory (120 MB per million).
        table = np.concatenate([c["features"] for c in chunks()])
        write_lhco_features(dest, {c: table[:, i] for i, c in enumerate(LHCO_FEATURE_COLUMNS)})
    else:  # jetclass: one ROOT file per shard, as the published set is split
        from hepjax.data.formats import write_jetclass

        stem = JETCLASS_FILE_STEMS[process]
        for i, c in enumerate(chunks()):
            write_jetclass(dest.parent / f"{stem}_{i:03d}.root", c)
        dest.write_text("".join(f"{stem}_{i:03d}.root\n" for i in range(len(shard_paths))))


def alias(target: pathlib.Path, name: pathlib.Path) -> None:
    """Make ``name`` name the same file as ``target`` (a hard link, else a copy), atomically.

    The 150-particle JetNet files are published as ``t150.hdf5``; the
    ``{type}.hdf5`` alias keeps one name per jet type in every output folder.
    """
    import shutil

    tmp = name.with_name(f".{name.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(target, tmp)
    except OSError:
        shutil.copyfile(target, tmp)
    os.replace(tmp, name)
