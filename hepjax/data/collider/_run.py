r"""Running a generation campaign: shards on an executor, progress, manifest, resume.

:func:`make_dataset` cuts each process into shards (see
:mod:`hepjax.data.collider._shards`: one seed per shard, atomic HDF5 files),
skips the shards already on disk, runs the missing ones with
[`run_shards`][hepjax.data.run_shards] on any ``concurrent.futures``
executor, records each finished shard in ``DIR/manifest.json`` (see
:mod:`hepjax.data.collider._manifest`), and finally streams the shards into
the data set's published layout (:mod:`hepjax.data.collider._merge`).

Where the shards run does not change the output: by default in this process
(``workers=1``) or on a local process pool of ``workers`` processes; with
``executor=`` on anything that implements ``concurrent.futures.Executor``,
e.g. a Dask cluster::

    from distributed import Client

    with Client("scheduler-address:8786") as client:  # or LocalCluster()
        make_dataset("jetnet", "/shared/jetnet", n=1_000_000,
                     executor=client.get_executor())

The workers must see ``out`` at the same path (a shared file system) and have
the ``hep`` extra installed. A killed run, on any executor, continues with the
missing shards when rerun with the same settings.
"""

import datetime
import functools
import os
import pathlib
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor

import numpy as np

from hepjax._core import check_positive_int

from ..._core import write_json
from .._campaign import run_shards
from ._events import Generator, concat_rows, cuts_for, fields_for, import_hep
from ._manifest import open_manifest
from ._merge import alias, merge_shards, output_name
from ._processes import DATASETS, check_dataset, get_process, pythia_settings
from ._shards import read_shard_info, run_shard, shard_path, shard_seed

DEFAULT_SHARD_SIZE = 1000
_BATCH_EVENTS = 50


def _types(dataset: str, types: str | Sequence[str] | None) -> list[str]:
    check_dataset(dataset)
    if types is None:
        return list(DATASETS[dataset])
    if isinstance(types, str):
        types = [t for t in types.split(",") if t]
    if not types:
        raise ValueError(f"types must name at least one of {', '.join(DATASETS[dataset])}")
    for t in types:
        get_process(dataset, t)
    return list(dict.fromkeys(types))


class _Progress:
    """tqdm bar over rows, with events/s and pass fraction (rows/events)."""

    def __init__(self, total: int, desc: str, enabled: bool):
        self.events, self.passed, self.start = 0, 0, time.perf_counter()
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="row", dynamic_ncols=True)

    def update(self, events: int, rows: int, passed: int) -> None:
        self.events += events
        self.passed += passed
        if self.bar is not None:
            self.bar.update(rows)
            dt = max(time.perf_counter() - self.start, 1e-9)
            self.bar.set_postfix(
                {
                    "events/s": f"{self.events / dt:.0f}",
                    "pass": f"{self.passed / max(self.events, 1):.3f}",
                },
                refresh=False,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _prepare_out(out: str | os.PathLike) -> pathlib.Path:
    out = pathlib.Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"out: cannot create the output folder {out}: {err}") from err
    if not out.is_dir() or not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"out: the output folder {out} is not writable")
    return out


def make_dataset(
    dataset: str,
    out: str | os.PathLike,
    *,
    n: int,
    types: str | Sequence[str] | None = None,
    seed: int = 0,
    particles: int = 30,
    workers: int = 1,
    executor: Executor | None = None,
    shard_size: int | None = None,
    cuts: Mapping[str, float] | None = None,
    extra_settings: Sequence[str] = (),
    batch_events: int = _BATCH_EVENTS,
    progress: bool = True,
) -> dict[str, pathlib.Path]:
    r"""Generate a JetNet-, JetClass-, LHCO- or HH->4b-style data set with Pythia 8 + FastJet.

    Writes, per process, ``n`` rows in the data set's published layout:

    - ``jetnet``: ``g.hdf5 q.hdf5 t.hdf5 w.hdf5 z.hdf5`` (``t150.hdf5`` ... for
      ``particles=150``): ``particle_features`` $(n, P, 4)$ float32 as
      (etarel, phirel, ptrel, mask) and ``jet_features`` $(n, 4)$ as
      (pt, eta, mass, num_particles), readable by
      [`read_jetnet`][hepjax.data.formats.read_jetnet];
    - ``jetclass``: ``HToBB_000.root`` ... (one ROOT file per shard, the
      JetClass tree layout, readable by
      [`read_jetclass`][hepjax.data.formats.read_jetclass]) and a text file
      ``HToBB.root`` listing them. The impact-parameter branches
      (``part_d0val`` ...) are absent: there is no detector or vertexing;
    - ``lhco``: ``lhco_background.features.h5`` and ``lhco_signal.features.h5``
      in the pandas layout of ``events_anomalydetection_v2.features.h5``
      ([`read_lhco_features`][hepjax.data.formats.read_lhco_features]);
      rows are events;
    - ``hh4b``: ``hh4b.hdf5`` and ``qcd.hdf5`` with ``jet_features``
      $(n, J, 5)$ = (pt, eta, phi, mass, b-tag truth) of the leading $J$
      anti-$k_T$ $R = 0.4$ jets, ``jet_mask`` and ``label``; rows are events;
    - ``hh4b_constituents``: ``hh4b.hdf5`` and ``qcd.hdf5`` with, per event,
      up to 5 anti-$k_T$ $R = 1.0$ jets: ``particle_features`` $(n, 5, 100, 3)$
      = $(\Delta\eta, \Delta\phi, \log p_T)$ of the leading constituents,
      ``particle_four_momenta`` $(n, 5, 100, 4)$, ``particle_mask``,
      ``jet_features`` $(n, 5, 5)$ = (pt, eta, phi, mass, constituents),
      ``jet_higgs`` (truth), ``jet_mask`` and ``label``.

    The run is resumable and deterministic given ``seed`` and ``shard_size``,
    whatever runs the shards (see the module notes), and
    ``out/manifest.json`` records everything.

    Args:
        dataset: ``"jetnet"``, ``"jetclass"``, ``"lhco"``, ``"hh4b"`` or
            ``"hh4b_constituents"``.
        out: output folder (created).
        n: rows (jets or events) per process.
        types: processes to make (default: all of the data set), a list or a
            comma-separated string such as ``"t,q"``.
        seed: base random seed.
        particles: JetNet particle slots (30 or 150).
        workers: processes of the default local pool (each shard has its own
            seed, so the output does not depend on it).
        executor: run the shards on this ``concurrent.futures.Executor``
            instead, e.g. a Dask client's ``client.get_executor()`` to spread
            them over a cluster (whose workers must see ``out``); not shut
            down here. Give ``workers`` or ``executor``, not both.
        shard_size: rows per shard (default: ``min(n, 1000)``). Part of the
            run's identity: resuming needs the same value.
        cuts: overrides of the data set's cuts (``DEFAULT_CUTS``).
        extra_settings: further Pythia lines, e.g. ``("PartonLevel:MPI = off",)``.
        batch_events: events per Pythia batch.
        progress: show a tqdm progress bar (events/s and pass fraction).

    Returns:
        Process name -> output file.

    Raises:
        ValueError: an unknown data set or process, ``n <= 0``, a corrupt
            shard, an ``out`` folder holding a run with other settings, or
            both ``workers`` and ``executor``.
        TypeError: ``executor`` is not a ``concurrent.futures.Executor``.
        PermissionError: ``out`` cannot be created or written.
        ImportError: pythia8mc or fastjet missing (names the ``hep`` extra).
    """
    check_dataset(dataset)
    n = check_positive_int("n", n)
    names = _types(dataset, types)
    particles = check_positive_int("particles", particles)
    shard_size = (
        min(n, DEFAULT_SHARD_SIZE)
        if shard_size is None
        else check_positive_int("shard_size", shard_size)
    )
    workers = check_positive_int("workers", workers)
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(
            "executor must be a concurrent.futures.Executor (e.g. a Dask client's "
            f"get_executor()), got {type(executor).__name__}"
        )
    if executor is not None and workers != 1:
        raise ValueError("give workers (the default process pool) or executor, not both")
    for dep in ("pythia8mc", "fastjet", "awkward"):
        import_hep(dep)
    if dataset == "jetclass":
        import_hep("uproot")
    all_cuts = cuts_for(dataset, cuts)
    out = _prepare_out(out)
    extra = [str(s) for s in extra_settings]
    settings = {
        "dataset": dataset,
        "seed": int(seed),
        "particles": particles if dataset == "jetnet" else None,
        "shard_size": shard_size,
        "cuts": all_cuts,
        "extra_settings": extra,
        "batch_events": int(batch_events),
    }
    manifest_path = out / "manifest.json"
    manifest = open_manifest(out, settings)
    fields = fields_for(dataset, particles, all_cuts)
    shard_root = out / ".shards"
    num_shards = -(-n // shard_size)

    tasks, results = [], {}
    for name in names:
        (shard_root / name).mkdir(parents=True, exist_ok=True)
        for stale in (shard_root / name).glob(".*.tmp"):  # left by a killed run
            stale.unlink(missing_ok=True)
        entry = manifest["processes"].setdefault(name, {"shards": {}})
        entry["pythia_settings"] = pythia_settings(dataset, name, seed=0)[:-2] + extra
        for k in range(num_shards):
            path = shard_path(shard_root, name, k)
            s = shard_seed(seed, dataset, name, k)
            if path.exists():
                info = read_shard_info(path, fields, shard_size)
                if int(info.get("seed", -1)) != s:
                    raise ValueError(f"shard {path} has seed {info.get('seed')}, expected {s}")
                entry["shards"][str(k)] = info
                continue
            tasks.append(
                {
                    "dataset": dataset,
                    "process": name,
                    "shard": k,
                    "seed": s,
                    "rows": shard_size,
                    "particles": particles,
                    "cuts": all_cuts,
                    "extra_settings": extra,
                    "batch_events": int(batch_events),
                    "path": str(path),
                }
            )
    manifest["created"] = manifest.get("created") or datetime.datetime.now(datetime.UTC).isoformat()
    write_json(manifest_path, manifest)

    total = len(tasks) * shard_size
    bar = _Progress(total, f"{dataset} {','.join(names)}", progress and total > 0)
    # In this process the bar moves after every Pythia batch; elsewhere per shard.
    in_process = executor is None and (workers == 1 or len(tasks) <= 1)

    def done(index, stats):
        if not in_process:
            bar.update(stats["events"], stats["rows"], stats["passed"])
        process = tasks[index]["process"]
        manifest["processes"][process]["shards"][str(stats["shard"])] = stats
        write_json(manifest_path, manifest)

    try:
        run_shards(
            functools.partial(run_shard, report=bar.update) if in_process else run_shard,
            tasks,
            executor=executor,
            workers=workers,
            on_done=done,
        )
    finally:
        bar.close()

    for name in names:
        dest = out / output_name(dataset, name, particles)
        paths = [shard_path(shard_root, name, k) for k in range(num_shards)]
        entry = manifest["processes"][name]
        if not (dest.exists() and entry.get("rows") == n):
            merge_shards(dataset, name, paths, n, dest, fields)
            entry["rows"] = n
            entry["file"] = dest.name
        shards = [entry["shards"][str(k)] for k in range(len(paths))]
        ev = sum(int(s["events"]) for s in shards)
        entry["events"] = ev
        entry["pass_fraction"] = sum(int(s["passed"]) for s in shards) / max(ev, 1)
        if dest.name != f"{name}.hdf5" and dataset == "jetnet":
            alias(dest, out / f"{name}.hdf5")
        results[name] = dest
    manifest["finished"] = datetime.datetime.now(datetime.UTC).isoformat()
    write_json(manifest_path, manifest)
    return results


def generate(
    dataset: str,
    process: str,
    n: int,
    *,
    seed: int = 0,
    particles: int = 30,
    cuts: Mapping[str, float] | None = None,
    extra_settings: Sequence[str] = (),
    batch_events: int = _BATCH_EVENTS,
) -> dict[str, np.ndarray]:
    """Generate ``n`` rows of one process in memory (small samples, tests, notebooks).

    Same physics and fields as the shards of
    [`make_dataset`][hepjax.data.collider.make_dataset] (one Pythia run with
    seed ``seed``). Fields: ``jetnet``: ``particle_features``, ``jet_features``;
    ``jetclass``: the JetClass ``part_*``, ``part_mask``, ``jet_*`` and
    ``label``; ``lhco``: ``features`` $(n, 15)$ in ``LHCO_FEATURE_COLUMNS``
    order; ``hh4b``: ``jet_features``, ``jet_mask``, ``label``;
    ``hh4b_constituents``: ``particle_features``, ``particle_four_momenta``,
    ``particle_mask``, ``jet_features``, ``jet_higgs``, ``jet_mask``, ``label``;
    and ``events``, the number of events generated.

    Args:
        dataset: ``"jetnet"``, ``"jetclass"``, ``"lhco"``, ``"hh4b"`` or
            ``"hh4b_constituents"``.
        process: the process within the data set (see :data:`DATASETS`).
        n: the number of rows (jets or events) to return.
        seed: the Pythia seed.
        particles: particles kept per jet (JetNet-style data sets).
        cuts: overrides of the data set's kinematic cuts (:data:`DEFAULT_CUTS`), by name.
        extra_settings: further Pythia settings strings, e.g. a tune or a shower variation.
        batch_events: events per Pythia batch.

    Raises:
        ValueError: an unknown process, ``n <= 0``, an unknown cut, or a Pythia
            setting that Pythia rejects.
        ImportError: pythia8mc or fastjet missing (names the ``hep`` extra).
    """
    proc = get_process(dataset, process)
    n = check_positive_int("n", n)
    particles = check_positive_int("particles", particles)
    all_cuts = cuts_for(dataset, cuts)
    gen = Generator(
        proc, int(seed), particles=particles, cuts=all_cuts, extra_settings=tuple(extra_settings)
    )
    parts, have = [], 0
    while have < n:
        rows, _ = gen.batch(batch_events)
        got = len(next(iter(rows.values())))
        parts.append({k: v[: n - have] for k, v in rows.items()})
        have += min(got, n - have)
        if gen.events > 1000 * n + 10_000:
            raise RuntimeError(f"{dataset}/{process}: only {have} of {n} rows; cuts too tight?")
    out = concat_rows(parts, fields_for(dataset, particles, all_cuts))
    out["events"] = np.int64(gen.events)
    return out
