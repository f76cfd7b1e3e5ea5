r"""LHC Olympics 2020 R&D high-level features (Kasieczka et al., arXiv:2101.08320).

``events_anomalydetection_v2.features.h5`` is a pandas DataFrame saved with
``DataFrame.to_hdf(path, key="df")`` in pandas' *fixed* format (PyTables
underneath). Its HDF5 layout, read and written here with h5py only:

```
/df                 group; attrs pandas_type="frame", ndim=2, nblocks=B, ...
/df/axis0           (C,)   column names, fixed-width bytes     (the columns)
/df/axis1           (N,)   int64 row index                     (the index)
/df/block{b}_items  (C_b,) column names of block b
/df/block{b}_values (N, C_b) values of block b (one dtype per block)
```

The 15 columns are the three-momenta, masses and N-subjettiness
$\tau_{1,2,3}$ of the two leading $R = 1$ anti-$k_T$ jets (``j1`` the
higher-$p_T$ one) and the truth ``label`` (1 for the $W' \to XY$ signal):
``LHCO_FEATURE_COLUMNS``.
"""

import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
from jaxtyping import ArrayLike

from .._hdf5 import _open
from ._common import atomic_path, check_kind, reading

LHCO_FEATURE_COLUMNS = (
    "pxj1",
    "pyj1",
    "pzj1",
    "mj1",
    "tau1j1",
    "tau2j1",
    "tau3j1",
    "pxj2",
    "pyj2",
    "pzj2",
    "mj2",
    "tau1j2",
    "tau2j2",
    "tau3j2",
    "label",
)


def _names(ds) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[...]]


def read_lhco_features(
    path: str | os.PathLike,
    *,
    key: str = "df",
    columns: Sequence[str] | None = LHCO_FEATURE_COLUMNS,
    start: int = 0,
    stop: int | None = None,
) -> dict[str, np.ndarray]:
    """Read a pandas fixed-format table (the LHCO R&D features file) with h5py.

    Args:
        path: the ``.h5`` file.
        key: the pandas key (group name).
        columns: columns that must be present and are returned, in this order;
            ``None`` returns every column of the file.
        start: first row to read.
        stop: one past the last row (default: the end). Row slices let large
            tables (e.g. the 2100-column ``events_anomalydetection_v2.h5``,
            same layout) be read in pieces.

    Returns:
        Column name -> (N,) array in the stored dtype.

    Raises:
        KeyError: a missing group, dataset or column.
        ValueError: inconsistent shapes (e.g. a truncated file).
        TypeError: a non-numeric block.
    """
    with _open(path) as f, reading(path):
        if key not in f:
            raise KeyError(f"{path}: missing pandas group {key!r}; the file has {sorted(f)}")
        g = f[key]
        for name in ("axis0", "axis1"):
            if name not in g:
                raise KeyError(f"{path}: missing field '{key}/{name}' of a pandas fixed table")
        all_columns = _names(g["axis0"])
        n = g["axis1"].shape[0]
        nblocks = int(g.attrs.get("nblocks", sum(k.endswith("_values") for k in g)))
        data: dict[str, np.ndarray] = {}
        for b in range(nblocks):
            items_name, values_name = f"{key}/block{b}_items", f"{key}/block{b}_values"
            for name in (items_name, values_name):
                if name not in f:
                    raise KeyError(f"{path}: missing field {name!r} of a pandas fixed table")
            items = _names(f[items_name])
            values = f[values_name]
            if values.ndim != 2 or values.shape != (n, len(items)):
                raise ValueError(
                    f"{path}: field {values_name!r} must have shape ({n}, {len(items)}) "
                    f"(rows of '{key}/axis1', columns of {items_name!r}), got {values.shape}"
                )
            check_kind(path, values_name, values.dtype, "fiub", "a numeric")
            wanted = [i for i, c in enumerate(items) if columns is None or c in columns]
            if wanted:
                block = values[start:stop]
                for i in wanted:
                    data[items[i]] = block[:, i]
    if columns is None:
        columns = all_columns
    missing = [c for c in columns if c not in data]
    if missing:
        raise KeyError(f"{path}: missing columns {missing}; the table has {all_columns}")
    return {c: data[c] for c in columns}


def _set_attrs(obj, attrs) -> None:
    """Set attributes as PyTables writes them: strings as UTF-8, NUL-terminated
    scalars (read back as ``str``), booleans as 8-bit bitfields, ints as int64."""
    import h5py

    for name, value in attrs.items():
        if isinstance(value, str):
            raw = value.encode()
            tid = h5py.h5t.C_S1.copy()
            tid.set_size(max(len(raw), 1))
            tid.set_cset(h5py.h5t.CSET_UTF8)
            tid.set_strpad(h5py.h5t.STR_NULLTERM)
            space = h5py.h5s.create(h5py.h5s.SCALAR if raw else h5py.h5s.NULL)
            if name in obj.attrs:
                del obj.attrs[name]
            attr = h5py.h5a.create(obj.id, name.encode(), tid, space)
            if raw:
                attr.write(np.array(raw, dtype=f"S{len(raw)}"), mtype=tid)
        elif isinstance(value, bool):
            bits = h5py.Datatype(h5py.h5t.NATIVE_B8.copy())
            obj.attrs.create(name, np.uint8(value), dtype=bits)
        else:
            obj.attrs[name] = np.int64(value)


def write_lhco_features(
    path: str | os.PathLike,
    columns: Mapping[str, ArrayLike],
    *,
    key: str = "df",
) -> pathlib.Path:
    """Write columns as a pandas fixed-format table, atomically, with h5py only.

    All columns are stored as one float64 block (as in the LHCO file), with a
    ``RangeIndex``-like int64 index and PyTables' node attributes, so
    ``pandas.read_hdf(path, key)`` reads it back as a DataFrame.

    Args:
        path: destination ``.h5``.
        columns: column name -> (N,) numeric array; the order is kept.
        key: the pandas key (group name).
    """
    import h5py

    if not columns:
        raise ValueError("columns must name at least one column")
    arrays = {}
    for name, col in columns.items():
        col = np.asarray(col)
        if col.ndim != 1:
            raise ValueError(f"columns[{name!r}] must be 1-D, got shape {col.shape}")
        check_kind("columns", name, col.dtype, "fiub", "a numeric")
        arrays[name] = col.astype(np.float64)
    lengths = {k: v.shape[0] for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"columns must all have the same length, got {lengths}")
    n = next(iter(lengths.values()))
    names = np.array([k.encode() for k in arrays], dtype=f"S{max(len(k) for k in arrays)}")
    values = np.stack(list(arrays.values()), axis=1)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            _set_attrs(
                f,
                {"CLASS": "GROUP", "PYTABLES_FORMAT_VERSION": "2.1", "TITLE": "", "VERSION": "1.0"},
            )
            g = f.create_group(key)
            _set_attrs(
                g,
                {
                    "CLASS": "GROUP",
                    "TITLE": "",
                    "VERSION": "1.0",
                    "pandas_type": "frame",
                    "encoding": "UTF-8",
                    "errors": "strict",
                    "ndim": 2,
                    "axis0_variety": "regular",
                    "axis1_variety": "regular",
                    "nblocks": 1,
                    "block0_items_variety": "regular",
                },
            )
            for name, data, kind in (
                ("axis0", names, "string"),
                ("axis1", np.arange(n, dtype=np.int64), "integer"),
                ("block0_items", names, "string"),
                ("block0_values", values, None),
            ):
                ds = g.create_dataset(name, data=data)
                node = {"CLASS": "ARRAY", "FLAVOR": "numpy", "TITLE": "", "VERSION": "2.4"}
                if kind is not None:
                    node["kind"] = kind
                node["transposed"] = True
                _set_attrs(ds, node)
    return pathlib.Path(path)


def lhco_dijet_features(columns: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
    r"""The usual anomaly-detection features from the LHCO columns.

    With jet four-momenta $p_j = (\sqrt{|\vec p_j|^2 + m_j^2}, \vec p_j)$:
    $m_{jj} = \sqrt{(p_1 + p_2)^2}$, ``mj1`` the *lighter* jet mass,
    $\Delta m_j = m_{\rm heavy} - m_{\rm light} \ge 0$, and
    $\tau_{21} = \tau_2/\tau_1$, $\tau_{32} = \tau_3/\tau_2$ of the lighter
    (``_j1``) and heavier (``_j2``) jet (0 where the denominator is 0). The
    keys match [`toy_lhco_dijets`][hepjax.sim.parton_shower.toy_lhco_dijets].
    """
    c = {k: np.asarray(columns[k], np.float64) for k in LHCO_FEATURE_COLUMNS[:-1]}
    p = {j: np.stack([c[f"px{j}"], c[f"py{j}"], c[f"pz{j}"]], axis=-1) for j in ("j1", "j2")}
    e = {j: np.sqrt(np.sum(p[j] ** 2, -1) + c[f"m{j}"] ** 2) for j in ("j1", "j2")}
    ptot = p["j1"] + p["j2"]
    mjj = np.sqrt(np.maximum((e["j1"] + e["j2"]) ** 2 - np.sum(ptot**2, -1), 0.0))

    def ratio(a, b):
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    light = c["mj1"] <= c["mj2"]
    pick = lambda a, b: np.where(light, a, b)
    tau = {f"tau{k}{j}": c[f"tau{k}{j}"] for k in (1, 2, 3) for j in ("j1", "j2")}
    out = {
        "mjj": mjj,
        "mj1": np.minimum(c["mj1"], c["mj2"]),
        "delta_mj": np.abs(c["mj2"] - c["mj1"]),
        "tau21_j1": pick(ratio(tau["tau2j1"], tau["tau1j1"]), ratio(tau["tau2j2"], tau["tau1j2"])),
        "tau21_j2": pick(ratio(tau["tau2j2"], tau["tau1j2"]), ratio(tau["tau2j1"], tau["tau1j1"])),
        "tau32_j1": pick(ratio(tau["tau3j1"], tau["tau2j1"]), ratio(tau["tau3j2"], tau["tau2j2"])),
        "tau32_j2": pick(ratio(tau["tau3j2"], tau["tau2j2"]), ratio(tau["tau3j1"], tau["tau2j1"])),
    }
    if "label" in columns:
        out["label"] = np.asarray(columns["label"], np.float64)
    return out
