"""HDF5 reading and writing that streams in chunks.

Files are written to a temporary name in the same folder and renamed into
place on success, so a crash never leaves a half-written file under the final
name. Readers validate a *schema* (field name -> per-row shape, ``None`` for any
size) before reading, so a file with missing fields or wrong shapes fails with
a message naming the field, not deep inside a training step.
"""

import contextlib
import os
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

Schema = Mapping[str, Sequence[int | None]]


def _h5py():
    import h5py

    return h5py


class HDF5Writer:
    """Append rows of named arrays to an HDF5 file, chunk by chunk.

    Use as a context manager; the file appears at ``path`` only when the block
    exits without an exception::

        with HDF5Writer(path, {"x": ((64, 4), "float32"), "y": ((), "int32")}) as w:
            for chunk in chunks:
                w.append(x=chunk_x, y=chunk_y)

    Args:
        path: destination file.
        fields: field name -> (per-row shape, dtype).
        chunk_rows: HDF5 chunk length along the row axis.
        compression: h5py compression filter (``"gzip"``, ``"lzf"`` or ``None``).
        attrs: file attributes (str, numbers) to store, e.g. generator settings.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fields: Mapping[str, tuple[Sequence[int], Any]],
        *,
        chunk_rows: int = 1024,
        compression: str | None = "lzf",
        attrs: Mapping[str, Any] | None = None,
    ):
        if not fields:
            raise ValueError("fields must name at least one field")
        self.path = pathlib.Path(path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"path: folder {self.path.parent} does not exist")
        self.fields = {k: (tuple(s), np.dtype(d)) for k, (s, d) in fields.items()}
        self.chunk_rows = int(chunk_rows)
        self.compression = compression
        self.attrs = dict(attrs or {})
        self.rows = 0
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._file = None

    def __enter__(self) -> "HDF5Writer":
        h5py = _h5py()
        try:
            self._file = h5py.File(self._tmp, "w")
        except OSError as err:
            raise PermissionError(f"path: cannot write {self.path}: {err}") from err
        for name, (shape, dtype) in self.fields.items():
            self._file.create_dataset(
                name,
                shape=(0, *shape),
                maxshape=(None, *shape),
                dtype=dtype,
                chunks=(self.chunk_rows, *shape),
                compression=self.compression,
            )
        for k, v in self.attrs.items():
            self._file.attrs[k] = v
        return self

    def append(self, **arrays: Any) -> None:
        """Append a chunk: every field, each with the same number of rows."""
        if set(arrays) != set(self.fields):
            raise ValueError(
                f"append needs exactly the fields {sorted(self.fields)}, got {sorted(arrays)}"
            )
        rows = None
        for name, value in arrays.items():
            value = np.asarray(value)
            shape, _ = self.fields[name]
            if value.shape[1:] != shape:
                raise ValueError(
                    f"field {name!r} rows must have shape {shape}, got {value.shape[1:]}"
                )
            if rows is None:
                rows = value.shape[0]
            elif value.shape[0] != rows:
                raise ValueError(
                    f"all fields must append the same number of rows; {name!r} has "
                    f"{value.shape[0]}, others {rows}"
                )
        for name, value in arrays.items():
            ds = self._file[name]
            ds.resize(self.rows + rows, axis=0)
            ds[self.rows :] = np.asarray(value, dtype=self.fields[name][1])
        self.rows += rows

    def __exit__(self, exc_type, exc, tb) -> None:
        self._file.attrs["rows"] = self.rows
        self._file.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()


def write_hdf5(
    path: str | os.PathLike,
    arrays: Mapping[str, Any],
    *,
    chunk_rows: int = 1024,
    compression: str | None = "lzf",
    attrs: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Write named arrays (sharing the leading axis) to ``path`` atomically.

    Args:
        path: the destination file (written to a temporary name, then renamed).
        arrays: field name -> array; all share the leading (row) axis.
        chunk_rows: HDF5 chunk length along the row axis.
        compression: h5py compression filter (``"gzip"``, ``"lzf"`` or ``None``).
        attrs: file attributes (str, numbers) to store, e.g. generator settings.
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    from hepjax._core import check_same_leading_dim

    n = check_same_leading_dim("arrays", arrays)
    fields = {k: (v.shape[1:], v.dtype) for k, v in arrays.items()}
    with HDF5Writer(
        path, fields, chunk_rows=max(1, min(chunk_rows, n)), compression=compression, attrs=attrs
    ) as writer:
        for start in range(0, n, chunk_rows):
            writer.append(**{k: v[start : start + chunk_rows] for k, v in arrays.items()})
    return pathlib.Path(path)


def _open(path: str | os.PathLike):
    h5py = _h5py()
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no HDF5 file at {path}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"path: {path} is not a readable HDF5 file ({err})") from err


def check_hdf5_schema(file, schema: Schema, path: Any = "") -> int:
    """Check that ``file`` holds every field of ``schema``; return the row count.

    Args:
        file: an open ``h5py.File`` (or group).
        schema: field name -> per-row shape, ``None`` for a free axis.
        path: the file's name, used in the error messages.
    """
    rows = {}
    for name, shape in schema.items():
        if name not in file:
            raise KeyError(f"{path}: missing field {name!r}; the file has {sorted(file.keys())}")
        got = file[name].shape
        want = tuple(shape)
        if len(got) != len(want) + 1 or any(
            w is not None and g != w for g, w in zip(got[1:], want, strict=True)
        ):
            pretty = "(n, " + ", ".join("*" if w is None else str(w) for w in want) + ")"
            raise ValueError(f"{path}: field {name!r} must have shape {pretty}, got {got}")
        rows[name] = got[0]
    if len(set(rows.values())) > 1:
        raise ValueError(f"{path}: fields have different numbers of rows: {rows}")
    return next(iter(rows.values()), 0)


def iter_hdf5(
    path: str | os.PathLike,
    schema: Schema,
    *,
    chunk_rows: int = 4096,
    start: int = 0,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield consecutive chunks of ``chunk_rows`` rows of the schema's fields.

    Only one chunk is in memory at a time, so files larger than memory stream.

    Args:
        path: the HDF5 file.
        schema: field name -> per-row shape (``None`` for a free axis); only these fields are read.
        chunk_rows: rows per yielded chunk (the last may be shorter).
        start: the first row to read (to resume a stream).
    """
    with _open(path) as f:
        n = check_hdf5_schema(f, schema, path)
        for lo in range(start, n, chunk_rows):
            yield {name: f[name][lo : lo + chunk_rows] for name in schema}


def read_hdf5(path: str | os.PathLike, schema: Schema) -> dict[str, np.ndarray]:
    """Read the schema's fields of a file that fits in memory, after validating it."""
    with _open(path) as f:
        check_hdf5_schema(f, schema, path)
        return {name: f[name][...] for name in schema}
