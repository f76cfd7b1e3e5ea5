r"""TrackML challenge CSV event files (Amrouche et al., arXiv:1904.06778).

An event ``k`` is a set of files ``event{k:09d}-{part}.csv`` with a header line:

- ``hits``: ``hit_id,x,y,z,volume_id,layer_id,module_id`` (positions in mm);
- ``truth``: ``hit_id,particle_id,tx,ty,tz,tpx,tpy,tpz,weight``
  (true intersection and momentum in GeV; ``particle_id`` 0 for noise);
- ``particles``: ``particle_id,vx,vy,vz,px,py,pz,q,nhits``.

``particle_id`` values exceed $2^{53}$, so they are parsed as exact 64-bit
integers, never through floating point.
"""

import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
from jaxtyping import ArrayLike

from ._common import atomic_path

TRACKML_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "hits": (
        ("hit_id", "i8"),
        ("x", "f4"),
        ("y", "f4"),
        ("z", "f4"),
        ("volume_id", "i4"),
        ("layer_id", "i4"),
        ("module_id", "i4"),
    ),
    "truth": (
        ("hit_id", "i8"),
        ("particle_id", "i8"),
        ("tx", "f4"),
        ("ty", "f4"),
        ("tz", "f4"),
        ("tpx", "f4"),
        ("tpy", "f4"),
        ("tpz", "f4"),
        ("weight", "f4"),
    ),
    "particles": (
        ("particle_id", "i8"),
        ("vx", "f4"),
        ("vy", "f4"),
        ("vz", "f4"),
        ("px", "f4"),
        ("py", "f4"),
        ("pz", "f4"),
        ("q", "i4"),
        ("nhits", "i4"),
    ),
}


def trackml_path(directory: str | os.PathLike, event_id: int, part: str) -> pathlib.Path:
    """``directory / f"event{event_id:09d}-{part}.csv"``.

    Args:
        directory: the folder of the event files.
        event_id: the TrackML event number.
        part: the table, a key of :data:`TRACKML_COLUMNS` (e.g. ``"hits"``, ``"truth"``).
    """
    return pathlib.Path(directory) / f"event{event_id:09d}-{part}.csv"


def _check_parts(parts: Sequence[str]) -> None:
    for p in parts:
        if p not in TRACKML_COLUMNS:
            raise ValueError(f"parts must be among {tuple(TRACKML_COLUMNS)}, got {p!r}")


def _read_csv(path: pathlib.Path, part: str) -> dict[str, np.ndarray]:
    spec = TRACKML_COLUMNS[part]
    names = [n for n, _ in spec]
    if not path.is_file():
        raise FileNotFoundError(f"path: no TrackML {part} file at {path}")
    with open(path, encoding="ascii") as fh:
        header = fh.readline().strip().split(",")
        missing = [n for n in names if n not in header]
        if missing:
            raise KeyError(f"{path}: missing columns {missing}; the header has {header}")
        rows = [line.rstrip("\n") for line in fh if line.strip()]
    cols: list[list[str]] = [[] for _ in header]
    for i, line in enumerate(rows):
        fields = line.split(",")
        if len(fields) != len(header):
            raise ValueError(
                f"{path}: line {i + 2} has {len(fields)} fields, expected {len(header)} "
                "(truncated file?)"
            )
        for c, v in zip(cols, fields, strict=True):
            c.append(v)
    out = {}
    for name, dtype in spec:
        raw = cols[header.index(name)]
        try:
            out[name] = np.array(raw, dtype=np.dtype(dtype)) if raw else np.zeros(0, dtype)
        except ValueError as err:
            want = "integer" if dtype[0] == "i" else "float"
            raise ValueError(f"{path}: column {name!r} must hold {want} values ({err})") from err
    return out


def read_trackml_event(
    directory: str | os.PathLike,
    event_id: int,
    *,
    parts: Sequence[str] = ("hits", "truth", "particles"),
) -> dict[str, dict[str, np.ndarray]]:
    """Read the CSV files of one TrackML event.

    Args:
        directory: folder with the ``event*-{part}.csv`` files.
        event_id: the event number (``1000`` for ``event000001000-hits.csv``).
        parts: which files to read.

    Returns:
        ``{part: {column: (rows,) array}}`` with integer ids as int64/int32 and
        coordinates as float32.

    Raises:
        FileNotFoundError: a file is missing.
        KeyError: a column is missing from a header.
        ValueError: a short (truncated) line or a non-numeric value.
    """
    if not isinstance(event_id, int) or event_id < 0:
        raise ValueError(f"event_id must be a non-negative int, got {event_id!r}")
    _check_parts(parts)
    return {p: _read_csv(trackml_path(directory, event_id, p), p) for p in parts}


def write_trackml_event(
    directory: str | os.PathLike,
    event_id: int,
    tables: Mapping[str, Mapping[str, ArrayLike]],
) -> list[pathlib.Path]:
    """Write TrackML CSV files for one event, each atomically.

    Args:
        directory: destination folder (must exist).
        event_id: the event number.
        tables: ``{part: {column: (rows,) array}}`` for some of ``hits``,
            ``truth``, ``particles``; every column of the part is required.

    Returns:
        The paths written.
    """
    if not isinstance(event_id, int) or event_id < 0:
        raise ValueError(f"event_id must be a non-negative int, got {event_id!r}")
    _check_parts(list(tables))
    written = []
    for part, cols in tables.items():
        spec = TRACKML_COLUMNS[part]
        missing = [n for n, _ in spec if n not in cols]
        if missing:
            raise KeyError(f"tables[{part!r}] is missing columns {missing}")
        arrays = [np.asarray(cols[n]).astype(d) for n, d in spec]
        lengths = {n: a.shape for (n, _), a in zip(spec, arrays, strict=True)}
        if any(a.ndim != 1 for a in arrays) or len({a.shape for a in arrays}) != 1:
            raise ValueError(f"tables[{part!r}] columns must be 1-D of equal length, got {lengths}")
        fmt = ",".join("%d" if d[0] == "i" else "%.9g" for _, d in spec)
        path = trackml_path(directory, event_id, part)
        with atomic_path(path) as tmp:
            table = np.empty(arrays[0].shape[0], dtype=[(n, d) for n, d in spec])
            for (n, _), a in zip(spec, arrays, strict=True):
                table[n] = a
            np.savetxt(
                tmp,
                table,
                fmt=fmt,
                delimiter=",",
                header=",".join(n for n, _ in spec),
                comments="",
            )
        written.append(path)
    return written
