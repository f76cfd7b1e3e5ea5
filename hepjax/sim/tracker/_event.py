r"""TrackML-format event tables, CSV I/O, validation, and fixed-shape measurement arrays.

An :class:`Event` holds four tables, each a ``dict`` of equal-length NumPy columns:

* ``hits``: ``hit_id, x, y, z, volume_id, layer_id, module_id``;
* ``truth``: ``hit_id, particle_id, tx, ty, tz, tpx, tpy, tpz, weight``
  (noise hits have ``particle_id`` 0);
* ``particles``: ``particle_id, vx, vy, vz, px, py, pz, q, nhits``;
* ``measurements`` (hepjax's companion table for the Kalman filter):
  ``hit_id, layer, loc0, loc1, stereo, var_u, var_v, cov_uv, ndim``.

A measurement is a point $(\ell_0, \ell_1)$ in bound coordinates of its layer
($\ell_0=R\phi$, $\ell_1=z$) together with its frame $(u, v)$, the
$(\ell_0,\ell_1)$ axes rotated by the stereo angle $\alpha$, and the covariance
$\begin{pmatrix}\sigma_u^2 & c_{uv}\\ c_{uv} & \sigma_v^2\end{pmatrix}$ in that
frame. Pixels have ``ndim`` 2 and $\alpha=0$; strips have ``ndim`` 1: only
$u$ is measured (``var_v`` is the strip length²/12, for information only). The
residual of a prediction $x$ is $\mathrm{Rot}(\alpha)\,(\ell-x_{0:2})$ with
$\ell_0$ differences wrapped to $(-\pi R, \pi R]$.

:func:`track_arrays` and :func:`layer_arrays` gather measurements into padded,
masked :class:`Measurements` arrays of fixed shape, the input of the Kalman
filter (per track, ``(n_tracks, L)``) and of track finding (per layer,
``(L, max_hits)``).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

HIT_COLUMNS = ("hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id")
TRUTH_COLUMNS = ("hit_id", "particle_id", "tx", "ty", "tz", "tpx", "tpy", "tpz", "weight")
PARTICLE_COLUMNS = ("particle_id", "vx", "vy", "vz", "px", "py", "pz", "q", "nhits")
MEASUREMENT_COLUMNS = (
    "hit_id",
    "layer",
    "loc0",
    "loc1",
    "stereo",
    "var_u",
    "var_v",
    "cov_uv",
    "ndim",
)
_INT_COLUMNS = {
    "hit_id",
    "volume_id",
    "layer_id",
    "module_id",
    "particle_id",
    "q",
    "nhits",
    "layer",
    "ndim",
}
TABLES = {
    "hits": HIT_COLUMNS,
    "truth": TRUTH_COLUMNS,
    "particles": PARTICLE_COLUMNS,
    "measurements": MEASUREMENT_COLUMNS,
}


def _check_table(name: str, table: dict, columns) -> int:
    if not isinstance(table, dict):
        raise TypeError(f"{name} must be a dict of columns, got {type(table).__name__}")
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"{name} table is missing columns {missing}")
    sizes = {c: np.shape(table[c]) for c in columns}
    lens = {s[0] if len(s) == 1 else None for s in sizes.values()}
    if len(lens) != 1 or None in lens:
        raise ValueError(f"{name} columns must be 1D with equal lengths, got shapes {sizes}")
    return lens.pop()


@dataclasses.dataclass(frozen=True, eq=False)
class Event:
    """One simulated (or read) event: TrackML tables plus the measurement companion.

    Attributes:
        hits: hit table (TrackML).
        truth: truth table (TrackML), row-aligned with ``hits``.
        particles: particle table (TrackML).
        measurements: local measurements and covariances, row-aligned with ``hits``.
        report: what was skipped and why (``on_invalid="skip"``).
    """

    hits: dict
    truth: dict
    particles: dict
    measurements: dict
    report: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = _check_table("hits", self.hits, HIT_COLUMNS)
        for name in ("truth", "measurements"):
            m = _check_table(name, getattr(self, name), TABLES[name])
            if m != n:
                raise ValueError(
                    f"hits and {name} tables are mismatched: {n} hits but {m} {name} rows"
                )
            if not np.array_equal(getattr(self, name)["hit_id"], self.hits["hit_id"]):
                raise ValueError(f"hits and {name} tables are mismatched: hit_id columns differ")
        _check_table("particles", self.particles, PARTICLE_COLUMNS)

    @property
    def n_hits(self) -> int:
        """Number of hits (including noise)."""
        return len(self.hits["hit_id"])

    def write_csv(self, directory: str | os.PathLike, event_id: int = 0) -> list[Path]:
        """Write ``event{id:09d}-{hits,truth,particles,measurements}.csv`` atomically.

        Each file is written to a temporary file in ``directory`` and renamed.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, columns in TABLES.items():
            table = getattr(self, name)
            path = directory / f"event{event_id:09d}-{name}.csv"
            _write_table(path, table, columns)
            paths.append(path)
        return paths

    @classmethod
    def read_csv(cls, directory: str | os.PathLike, event_id: int = 0) -> Event:
        """Read the tables written by :meth:`write_csv` (``measurements`` is required)."""
        directory = Path(directory)
        tables = {}
        for name, columns in TABLES.items():
            path = directory / f"event{event_id:09d}-{name}.csv"
            if not path.exists():
                raise FileNotFoundError(f"missing {name} table {path}")
            tables[name] = _read_table(path, columns)
        return cls(**tables)


def _write_table(path: Path, table: dict, columns) -> None:
    n = _check_table(path.name, table, columns)
    data = np.empty((n, len(columns)), dtype=object)
    for j, c in enumerate(columns):
        col = np.asarray(table[c])
        if c in _INT_COLUMNS:
            data[:, j] = [str(int(v)) for v in col]
        else:
            data[:, j] = [repr(float(v)) for v in col]
    text = ",".join(columns) + "\n" + "".join(",".join(row) + "\n" for row in data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_table(path: Path, columns) -> dict:
    with open(path) as f:
        header = f.readline().strip().split(",")
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{path} is missing columns {missing}")
        rows = [line.strip().split(",") for line in f if line.strip()]
    out = {}
    for c in header:
        j = header.index(c)
        vals = [r[j] for r in rows]
        out[c] = np.array(vals, dtype=np.int64 if c in _INT_COLUMNS else float).reshape(-1)
    return out


def _take(table: dict, keep: np.ndarray) -> dict:
    return {k: np.asarray(v)[keep] for k, v in table.items()}


def validate_event(event: Event, *, on_invalid: str = "raise") -> Event:
    """Check an event's values; raise, or drop the bad hits and report them.

    Checks: at least one hit (an empty event is always an error); finite hit
    coordinates and measurements; measurement covariances positive definite
    ($\\sigma_u^2>0$, and $\\sigma_u^2\\sigma_v^2-c_{uv}^2>0$ for 2D
    measurements); truth particle ids present in the particle table (or 0).
    Table mismatches (lengths, hit ids) are checked when the :class:`Event` is built.

    Args:
        event: the event.
        on_invalid: ``"raise"`` (a ``ValueError`` naming the problem and the first
            hit ids) or ``"skip"`` (return a new event without the bad hits;
            ``report["invalid_hits"]`` lists the dropped hit ids per reason).

    Returns:
        The (possibly filtered) event.
    """
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    if event.n_hits == 0:
        raise ValueError("empty event: it has no hits")
    h, m, t = event.hits, event.measurements, event.truth
    coords = np.stack([h["x"], h["y"], h["z"]], axis=1)
    nan_hit = ~np.all(np.isfinite(coords), axis=1)
    nan_meas = ~np.all(
        np.isfinite(np.stack([m[c] for c in ("loc0", "loc1", "stereo", "var_u")], axis=1)), axis=1
    )
    var_u, var_v, cov = m["var_u"], m["var_v"], m["cov_uv"]
    two = m["ndim"] == 2
    with np.errstate(invalid="ignore"):
        not_pd = ~(var_u > 0) | (two & ~(var_u * var_v - cov**2 > 0))
    bad_ndim = ~np.isin(m["ndim"], (1, 2))
    known = np.concatenate([[0], event.particles["particle_id"]])
    unknown = ~np.isin(t["particle_id"], known)
    reasons = {
        "nan_coordinates": nan_hit,
        "nan_measurement": nan_meas & ~nan_hit,
        "covariance_not_positive_definite": not_pd & ~nan_meas,
        "ndim_not_1_or_2": bad_ndim,
        "unknown_particle_id": unknown,
    }
    bad = np.zeros(event.n_hits, bool)
    for v in reasons.values():
        bad |= v
    if not bad.any():
        return event
    ids = {k: h["hit_id"][v].tolist() for k, v in reasons.items() if v.any()}
    if on_invalid == "raise":
        detail = "; ".join(
            f"{k} (hit_id {v[:5]}{'...' if len(v) > 5 else ''})" for k, v in ids.items()
        )
        raise ValueError(f"invalid hits: {detail} (pass on_invalid='skip' to drop them)")
    keep = ~bad
    if not keep.any():
        raise ValueError(f"empty event: every hit is invalid ({sorted(ids)})")
    report = dict(event.report)
    report["invalid_hits"] = ids
    return Event(
        hits=_take(h, keep),
        truth=_take(t, keep),
        particles=event.particles,
        measurements=_take(m, keep),
        report=report,
    )


class Measurements(eqx.Module):
    """Padded measurement arrays with a batch shape ``*b`` (e.g. ``(n_tracks, L)``).

    Attributes:
        loc: ``(*b, 2)`` hit point in bound coordinates $(\\ell_0, \\ell_1)$.
        stereo: ``(*b,)`` frame rotation $\\alpha$ (0 for pixels).
        cov: ``(*b, 2, 2)`` covariance in the $(u, v)$ frame (the $v$ row and
            column are ignored for 1D measurements).
        is_2d: ``(*b,)`` ``True`` for 2D (pixel) measurements, ``False`` for 1D strips.
        layer: ``(*b,)`` layer index of the measurement.
        hit_id: ``(*b,)`` TrackML hit id (0 in padding).
        mask: ``(*b,)`` ``True`` where a measurement is present.
    """

    loc: Float[Array, "*b 2"]
    stereo: Float[Array, "*b"]
    cov: Float[Array, "*b 2 2"]
    is_2d: Bool[Array, "*b"]
    layer: Int[Array, "*b"]
    hit_id: Int[Array, "*b"]
    mask: Bool[Array, "*b"]


def _row_arrays(m: dict, rows: np.ndarray, valid: np.ndarray, dtype) -> dict:
    """Columns of measurement rows ``rows`` (any shape), zeroed where not ``valid``."""
    r = np.where(valid, rows, 0)
    get = lambda c: np.where(valid, np.asarray(m[c])[r], 0) if len(m[c]) else np.zeros(r.shape)
    var_u = np.where(valid, get("var_u"), 1.0)
    var_v = np.where(valid, get("var_v"), 1.0)
    cov_uv = get("cov_uv")
    two = get("ndim") == 2
    cov = np.stack(
        [
            np.stack([var_u, np.where(two, cov_uv, 0.0)], -1),
            np.stack([np.where(two, cov_uv, 0.0), np.where(two, var_v, 1.0)], -1),
        ],
        -2,
    )
    return dict(
        loc=jnp.asarray(np.stack([get("loc0"), get("loc1")], -1), dtype),
        stereo=jnp.asarray(get("stereo"), dtype),
        cov=jnp.asarray(cov, dtype),
        is_2d=jnp.asarray(two & valid),
        layer=jnp.asarray(get("layer").astype(np.int32)),
        hit_id=jnp.asarray(get("hit_id").astype(np.int32)),
        mask=jnp.asarray(valid),
    )


class TrackArrays(eqx.Module):
    """Per-track, per-layer measurements and truth (output of :func:`track_arrays`).

    Attributes:
        measurements: :class:`Measurements` of shape ``(n, L)``.
        true_params: ``(n, L, 5)`` true bound parameters where ``true_mask``.
        true_mask: ``(n, L)`` the particle has a hit on the layer.
        particle_id: ``(n,)`` particle ids.
        charge: ``(n,)`` charges.
    """

    measurements: Measurements
    true_params: Float[Array, "n l 5"]
    true_mask: Bool[Array, "n l"]
    particle_id: Int[Array, " n"]
    charge: Float[Array, " n"]


def track_arrays(event: Event, geometry, *, min_hits: int = 1, dtype=jnp.float64) -> TrackArrays:
    """Truth-matched measurements of each particle, one slot per layer.

    Noise hits are left out; particles with fewer than ``min_hits`` hits are
    dropped. ``true_params`` are built from the truth table (position and
    momentum at the hit). Call under ``jax.enable_x64(True)`` for float64.

    Args:
        event: the simulated :class:`Event`.
        geometry: the :class:`BarrelGeometry` it was simulated in.
        min_hits: the fewest truth hits a particle needs to be kept.
        dtype: float dtype of the arrays.
    """
    from ._helix import global_to_bound, momentum_to_angles

    m, t = event.measurements, event.truth
    n_layers = geometry.n_layers
    pid = np.asarray(t["particle_id"])
    layer = np.asarray(m["layer"])
    ids, counts = np.unique(pid[pid > 0], return_counts=True)
    ids = ids[counts >= min_hits]
    index = {int(p): i for i, p in enumerate(ids)}
    rows = np.full((len(ids), n_layers), -1, np.int64)
    for j in np.flatnonzero(pid > 0):
        i = index.get(int(pid[j]))
        if i is not None:
            if rows[i, layer[j]] >= 0:
                raise ValueError(
                    f"particle {pid[j]} has two hits on layer {layer[j]}; one slot per layer"
                )
            rows[i, layer[j]] = j
    valid = rows >= 0
    meas = Measurements(**_row_arrays(m, rows, valid, dtype))
    r = np.where(valid, rows, 0)
    pos = np.stack([t["tx"], t["ty"], t["tz"]], -1)[r] if event.n_hits else np.zeros((*r.shape, 3))
    mom = (
        np.stack([t["tpx"], t["tpy"], t["tpz"]], -1)[r] if event.n_hits else np.zeros((*r.shape, 3))
    )
    q_of = dict(
        zip(event.particles["particle_id"].tolist(), event.particles["q"].tolist(), strict=True)
    )
    q = np.array([float(q_of.get(int(p), 1)) for p in ids])
    radius = np.broadcast_to(np.asarray(geometry.radius, float), valid.shape)
    mom = np.where(valid[..., None], mom, 1.0)
    qq = np.broadcast_to(q[:, None], valid.shape)
    pos_j, mom_j = jnp.asarray(pos, dtype), jnp.asarray(mom, dtype)
    import jax

    def one(p, mo, qi, rad):
        phi, theta, qop = momentum_to_angles(mo, qi)
        return global_to_bound(p, phi, theta, qop, rad)

    f = jax.vmap(jax.vmap(one))
    params = f(pos_j, mom_j, jnp.asarray(qq, dtype), jnp.asarray(radius, dtype))
    params = jnp.where(jnp.asarray(valid)[..., None], params, 0.0)
    return TrackArrays(
        measurements=meas,
        true_params=params,
        true_mask=jnp.asarray(valid),
        particle_id=jnp.asarray(ids.astype(np.int32)),
        charge=jnp.asarray(q, dtype),
    )


def layer_arrays(event: Event, geometry, *, max_hits: int | None = None, dtype=jnp.float64):
    """All measurements (noise included) grouped by layer: :class:`Measurements` ``(L, M)``.

    ``M`` is ``max_hits`` or the largest number of hits on one layer. Raises
    if a layer holds more than ``max_hits``.

    Args:
        event: the simulated :class:`Event`.
        geometry: the :class:`BarrelGeometry` it was simulated in.
        max_hits: the padded number of hits per layer ``M`` (default: the largest number on one
            layer).
        dtype: float dtype of the arrays.
    """
    m = event.measurements
    layer = np.asarray(m["layer"])
    n_layers = geometry.n_layers
    counts = np.bincount(layer, minlength=n_layers) if len(layer) else np.zeros(n_layers, int)
    cap = int(counts.max(initial=0)) if max_hits is None else int(max_hits)
    if counts.max(initial=0) > cap:
        raise ValueError(f"a layer holds {counts.max()} hits, more than max_hits={cap}")
    rows = np.full((n_layers, max(cap, 1)), -1, np.int64)
    for lay in range(n_layers):
        idx = np.flatnonzero(layer == lay)
        rows[lay, : len(idx)] = idx
    valid = rows >= 0
    return Measurements(**_row_arrays(m, rows, valid, dtype))
