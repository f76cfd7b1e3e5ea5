r"""The BRICKS single-cube data set from the transport Monte Carlo (``hepjax data make bricks``).

Set-up (Hildebrandt et al., arXiv:2605.06591, read from lego-erc/FM-Transformer):
an incident photon, electron or positron (uniform over the three) with kinetic
energy log-uniform in 10-300 MeV enters a cube through a random point of its
entry face, in a direction around the face normal
(:func:`hepjax.radiation.random_incident`); the cube is 1 cm of copper or 10 cm
of liquid argon (uniform over the two) with a density log-uniform in
0.5-10 g/cm³. The transport MC runs with a 10 MeV production and tracking cut,
so outgoing particles below 10 MeV are never produced (they deposit where
they stop), and the kernel learned from these data composes with the MC's own
treatment of the same cut.

Output: ``DIR/bricks_00000.h5, ...`` (one HDF5 file per shard, the fields of
:class:`hepjax.radiation.Interactions` plus ``overflow``) and
``DIR/manifest.json`` (settings, per-shard seed, rows, time). Every shard is
written to a temporary name and renamed, and the manifest is rewritten
atomically after each shard, so an interrupted run resumes where it stopped
and never leaves a half-written file; a folder holding a run with other
settings is refused.
"""

import datetime
import functools
import hashlib
import math
import os
import pathlib
import time
from concurrent.futures import Executor

import numpy as np

from .._core import check_positive, check_positive_int, resume_manifest, write_json
from ._data import CUBE_CM, FIELDS, MATERIALS, Interactions

DEFAULT_SHARD_SIZE = 4096


def shard_seed(seed: int, shard: int) -> int:
    """The seed of shard ``shard``: a hash of the run seed and the shard index."""
    digest = hashlib.sha256(f"bricks:{seed}:{shard}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def generate_interactions(
    key,
    num_events: int,
    *,
    materials: tuple[str, ...] = MATERIALS,
    cube_cm: tuple[float, ...] = CUBE_CM,
    density_range: tuple[float, float] = (0.5, 10.0),
    energy_range_mev: tuple[float, float] = (10.0, 300.0),
    cut_mev: float = 10.0,
    max_particles: int = 16,
    buffer: int = 64,
    kernel=None,
    chunk: int = 1024,
):
    """``num_events`` single-cube interactions of the BRICKS set-up, as :class:`Interactions`.

    Args:
        key: PRNG key.
        num_events: events.
        materials: material names by index.
        cube_cm: the cube side of each material.
        density_range: log-uniform density range, g/cm³.
        energy_range_mev: log-uniform kinetic-energy range.
        cut_mev: the MC cut (and the cut on kept outgoing particles).
        max_particles: the outgoing buffer; a larger set is flagged in ``overflow``.
        buffer: the MC's particle buffer.
        kernel: the generating kernel (default :class:`TransportKernel` with
            these settings; e.g. :class:`ToyKernel` for tests).
        chunk: events per compiled call.

    Returns:
        ``(interactions, overflow)``: a batch of :class:`Interactions` (NumPy
        leaves) and the ``(num_events,)`` overflow flags.
    """
    import jax
    import jax.numpy as jnp

    from ._kernels import TransportKernel

    num_events = check_positive_int("num_events", num_events)
    if len(cube_cm) != len(materials):
        raise ValueError(
            f"cube_cm needs one size per material ({len(materials)}), got {len(cube_cm)}"
        )
    lo, hi = density_range
    check_positive("density_range", lo)
    if not hi >= lo:
        raise ValueError(f"density_range must be (low, high) with low <= high, got {density_range}")
    if kernel is None:
        kernel = TransportKernel(
            materials=tuple(materials),
            cut_mev=float(cut_mev),
            buffer=buffer,
            exit_capacity=max_particles,
        )
    run = _compiled(
        kernel,
        tuple(float(c) for c in cube_cm),
        (float(lo), float(hi)),
        tuple(float(e) for e in energy_range_mev),
        float(cut_mev),
    )
    keys = jax.random.split(key, num_events)
    parts, flags = [], []
    for start in range(0, num_events, chunk):
        block = keys[start : start + chunk]
        if block.shape[0] < chunk and num_events > chunk:  # keep one compiled shape
            pad = jnp.concatenate([block, keys[: chunk - block.shape[0]]])
            inter, over = run(pad)
            inter = jax.tree.map(lambda a, n=block.shape[0]: a[:n], inter)
            over = over[: block.shape[0]]
        else:
            inter, over = run(block)
        parts.append(jax.tree.map(np.asarray, inter))
        flags.append(np.asarray(over))
    inter = jax.tree.map(lambda *xs: np.concatenate(xs), *parts)
    return inter, np.concatenate(flags)


@functools.lru_cache(maxsize=8)
def _compiled(kernel, cube_cm, density_range, energy_range_mev, cut_mev):
    """The jitted, vmapped event generator (cached: shards of one run compile once)."""
    import jax
    import jax.numpy as jnp

    from ._data import Cube, random_incident, to_interaction

    lo, hi = density_range
    sizes = jnp.asarray(cube_cm, jnp.float32)
    num_materials = len(cube_cm)

    def one(k):
        k_mat, k_rho, k_inc, k_mc = jax.random.split(k, 4)
        mat = jax.random.randint(k_mat, (), 0, num_materials)
        rho = jnp.exp(jax.random.uniform(k_rho, minval=math.log(lo), maxval=math.log(hi)))
        size = sizes[mat]
        incident = random_incident(k_inc, size, energy_range_mev=energy_range_mev)
        cube = Cube(mat, rho, size)
        res = kernel(k_mc, incident, cube)
        return to_interaction(incident, cube, res, cut_mev=cut_mev), res.overflow

    return jax.jit(jax.vmap(one))


def _bricks_shard(task: dict) -> dict:
    """Generate and write one shard (a module-level function: picklable for executors)."""
    import jax

    from hepjax.data import write_hdf5

    t0 = time.perf_counter()
    inter, overflow = generate_interactions(
        jax.random.key(task["seed"]),
        task["rows"],
        materials=tuple(task["materials"]),
        cube_cm=tuple(task["cube_cm"]),
        density_range=tuple(task["density_range"]),
        energy_range_mev=tuple(task["energy_range_mev"]),
        cut_mev=task["cut_mev"],
        max_particles=task["max_particles"],
        buffer=task["buffer"],
    )
    arrays = inter.to_dict()
    arrays["overflow"] = overflow
    write_hdf5(task["path"], arrays, attrs={"seed": task["seed"], "shard": task["shard"]})
    return {
        "shard": task["shard"],
        "seed": task["seed"],
        "rows": task["rows"],
        "file": pathlib.Path(task["path"]).name,
        "overflow": int(overflow.sum()),
        "seconds": time.perf_counter() - t0,
    }


def make_bricks(
    out: str | os.PathLike,
    *,
    events: int,
    seed: int = 0,
    shard_size: int | None = None,
    materials: tuple[str, ...] = MATERIALS,
    cube_cm: tuple[float, ...] = CUBE_CM,
    density_range: tuple[float, float] = (0.5, 10.0),
    energy_range_mev: tuple[float, float] = (10.0, 300.0),
    cut_mev: float = 10.0,
    max_particles: int = 16,
    buffer: int = 64,
    workers: int = 1,
    executor: Executor | None = None,
    progress: bool = True,
) -> list[pathlib.Path]:
    """Write the BRICKS single-cube data set with the transport MC (module notes).

    Args:
        out: output folder (created).
        events: total events.
        seed: base seed; shard ``k`` uses :func:`shard_seed` ``(seed, k)``.
        shard_size: events per shard (default ``min(events, 4096)``); part of
            the run's identity.
        materials: material names by index.
        cube_cm: cube side per material.
        density_range: log-uniform density range, g/cm³.
        energy_range_mev: log-uniform kinetic-energy range.
        cut_mev: the MC cut.
        max_particles: the outgoing buffer per event.
        buffer: the MC's particle buffer.
        workers: local worker processes (:func:`hepjax.data.run_shards`).
        executor: a ``concurrent.futures.Executor`` instead (e.g. Dask's).
        progress: print a line per finished shard.

    Returns:
        The shard files, in order.

    Raises:
        ValueError: non-positive ``events``/``shard_size``, or ``out`` holds a
            run with other settings.
    """
    from hepjax.data import run_shards

    events = check_positive_int("events", events)
    shard_size = (
        min(events, DEFAULT_SHARD_SIZE)
        if shard_size is None
        else check_positive_int("shard_size", shard_size)
    )
    settings = {
        "dataset": "bricks",
        "events": events,
        "seed": int(seed),
        "shard_size": shard_size,
        "materials": list(materials),
        "cube_cm": [float(c) for c in cube_cm],
        "density_range": [float(d) for d in density_range],
        "energy_range_mev": [float(e) for e in energy_range_mev],
        "cut_mev": float(cut_mev),
        "max_particles": int(max_particles),
        "buffer": int(buffer),
    }
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):
        stale.unlink(missing_ok=True)
    manifest_path = out / "manifest.json"
    manifest = resume_manifest(out, settings, {"settings": settings, "shards": {}})
    num_shards = -(-events // shard_size)
    tasks = []
    for k in range(num_shards):
        path = out / f"bricks_{k:05d}.h5"
        rows = min(shard_size, events - k * shard_size)
        s = shard_seed(seed, k)
        if path.exists() and manifest["shards"].get(str(k), {}).get("seed") == s:
            continue
        tasks.append({**settings, "shard": k, "seed": s, "rows": rows, "path": str(path)})
    manifest["created"] = manifest.get("created") or datetime.datetime.now(datetime.UTC).isoformat()
    write_json(manifest_path, manifest)

    def done(index, stats):
        manifest["shards"][str(stats["shard"])] = stats
        write_json(manifest_path, manifest)
        if progress:
            rate = stats["rows"] / max(stats["seconds"], 1e-9)
            print(
                f"bricks: shard {stats['shard'] + 1}/{num_shards} ({stats['rows']} events, "
                f"{rate:.0f} events/s)",
                flush=True,
            )

    run_shards(_bricks_shard, tasks, executor=executor, workers=workers, on_done=done)
    manifest["finished"] = datetime.datetime.now(datetime.UTC).isoformat()
    write_json(manifest_path, manifest)
    return [out / manifest["shards"][str(k)]["file"] for k in range(num_shards)]


def read_bricks(path: str | os.PathLike, *, max_events: int | None = None) -> Interactions:
    """Read a folder written by :func:`make_bricks` (or one shard file) as :class:`Interactions`.

    Events whose outgoing set overflowed the buffer are dropped.
    """
    from hepjax.data import read_hdf5

    path = pathlib.Path(path)
    files = sorted(path.glob("bricks_*.h5")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"path: no bricks_*.h5 shards in {path}")
    schema = {name: tuple(shape) for name, (shape, _) in FIELDS.items()}
    schema["overflow"] = ()
    arrays = [read_hdf5(f, schema) for f in files]
    merged = {k: np.concatenate([a[k] for a in arrays]) for k in schema}
    keep = ~merged.pop("overflow").astype(bool)
    merged = {k: v[keep] for k, v in merged.items()}
    if max_events is not None:
        merged = {k: v[:max_events] for k, v in merged.items()}
    return Interactions.from_dict(merged)
