r"""Running the generators at scale: shards, workers, progress, manifest, resume, cache.

A run of ``n`` rows (jets, or events for LHCO and HH->4b) of one process is cut
into $\lceil n / s \rceil$ *shards* of exactly $s$ = ``shard_size`` rows. Shard
$k$ has its own Pythia seed, derived from ``(seed, dataset, process, k)``
with NumPy's ``SeedSequence``, so the output depends on the seed and the shard
size only, not on the number of workers or on interruptions, and a larger
``n`` with the same seed extends a smaller run. Shards are HDF5 files written
to a temporary name and renamed when complete (never half-written); a killed
run continues with the missing shards. When all shards of a process exist
they are streamed, shard by shard, into the published layout (JetNet HDF5,
JetClass ROOT, the LHCO pandas table, or an HDF5 file for HH->4b).

``DIR/manifest.json`` records the generator versions, the Pythia settings and
cuts, the seeds, and per shard the events generated, rows kept and the time
spent in Pythia, in FastJet and in total.
"""

import contextlib
import datetime
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from typing import Any

import numpy as np

from ._events import (
    Generator,
    concat_rows,
    cuts_for,
    fields_for,
    import_hep,
)
from ._processes import DATASETS, JETCLASS_FILE_STEMS, check_dataset, get_process, pythia_settings

DEFAULT_SHARD_SIZE = 1000
_BATCH_EVENTS = 50
_MAX_SEED = 900_000_000


def shard_seed(seed: int, dataset: str, process: str, shard: int) -> int:
    r"""Pythia seed of one shard, in $[1, 900\,000\,000]$."""
    d = list(DATASETS).index(dataset)
    p = DATASETS[dataset].index(process)
    state = np.random.SeedSequence([int(seed), d, p, int(shard)]).generate_state(1)[0]
    return int(state) % _MAX_SEED + 1


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ValueError(f"n must be a positive int (rows per process), got {n!r}")
    return int(n)


def _check_particles(particles: Any) -> int:
    if isinstance(particles, bool) or not isinstance(particles, int) or particles < 1:
        raise ValueError(
            f"particles must be a positive int (30 or 150 for JetNet), got {particles!r}"
        )
    return particles


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


def output_name(dataset: str, process: str, particles: int = 30) -> str:
    """File name of one process's output (the published names where there are some)."""
    if dataset == "jetnet":
        return f"{process}.hdf5" if particles == 30 else f"{process}{particles}.hdf5"
    if dataset == "jetclass":  # a list of the ROOT files, one per shard
        return f"{JETCLASS_FILE_STEMS[process]}.files.txt"
    if dataset == "lhco":
        return f"lhco_{process}.features.h5"
    return f"{process}.hdf5"


def _versions() -> dict[str, str]:
    out = {}
    for name in ("hepjax", "pythia8mc", "fastjet", "numpy", "h5py", "awkward", "uproot"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# -- shard files ------------------------------------------------------------------
def _read_shard_info(path: pathlib.Path, fields: Mapping[str, tuple], rows: int) -> dict:
    """Validate a finished shard; return its attributes. Clear error if damaged."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for name, (shape, _) in fields.items():
                if name not in f or f[name].shape != (rows, *shape):
                    got = f[name].shape if name in f else "missing"
                    raise ValueError(
                        f"shard {path}: field {name!r} must have shape {(rows, *shape)}, got {got}"
                        "; delete the shard to regenerate it"
                    )
                f[name][-1:]  # touch the last chunk: fails on truncation
            return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except OSError as err:
        raise ValueError(
            f"shard {path} is corrupt or truncated ({err}); delete it to regenerate it"
        ) from err


def _run_shard(task: Mapping[str, Any], report: Callable[[int, int], None] | None = None) -> dict:
    """Generate one shard into its file (atomically); return its statistics."""
    from .._hdf5 import HDF5Writer

    proc = get_process(task["dataset"], task["process"])
    fields = fields_for(task["dataset"], task["particles"], task["cuts"])
    rows_needed = task["rows"]
    gen = Generator(
        proc,
        task["seed"],
        particles=task["particles"],
        cuts=task["cuts"],
        extra_settings=tuple(task["extra_settings"]),
    )
    path = pathlib.Path(task["path"])
    have = 0
    parts = []
    passed = 0
    while have < rows_needed:
        rows, events = gen.batch(task["batch_events"])
        got = len(next(iter(rows.values())))
        take = min(got, rows_needed - have)
        if take:
            parts.append({k: v[:take] for k, v in rows.items()})
        have += take
        passed += got
        if report is not None:
            report(events, take, got)
        if gen.events > 1000 * rows_needed + 10_000:
            raise RuntimeError(
                f"{proc.dataset}/{proc.name}: only {have} of {rows_needed} rows after "
                f"{gen.events} events; are the cuts too tight?"
            )
    stats = {
        "shard": task["shard"],
        "seed": task["seed"],
        "rows": rows_needed,
        "events": gen.events,
        "passed": passed,
        "seconds_pythia": gen.timer.pythia,
        "seconds_clustering": gen.timer.clustering,
        "seconds_total": gen.timer.total,
    }
    data = concat_rows(parts, fields)
    with HDF5Writer(path, fields, chunk_rows=min(rows_needed, 1024), attrs=stats) as w:
        w.append(**data)
    return stats


_MARK = "@@hepjax-worker "


def worker_main() -> None:
    """Entry of a worker process: run the shard tasks read (JSON) from stdin.

    Progress and results go to stdout as lines starting with ``_MARK``; other
    output (e.g. FastJet's banner) is ignored by the parent.
    """
    tasks = json.loads(sys.stdin.read())
    parent = os.getppid()

    def say(obj):
        if os.getppid() != parent:  # the run was killed: stop after the last full shard
            os._exit(3)
        sys.stdout.write(_MARK + json.dumps(obj) + "\n")
        sys.stdout.flush()

    for task in tasks:
        stats = _run_shard(
            task, lambda ev, rows, ok: say({"events": ev, "rows": rows, "passed": ok})
        )
        say({"done": stats, "process": task["process"]})


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


def _write_json(path: pathlib.Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def _prepare_out(out: str | os.PathLike) -> pathlib.Path:
    out = pathlib.Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"out: cannot create the output folder {out}: {err}") from err
    if not out.is_dir() or not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"out: the output folder {out} is not writable")
    return out


def _merge(
    dataset: str,
    process: str,
    shard_paths: list[pathlib.Path],
    n: int,
    dest: pathlib.Path,
    fields: Mapping[str, tuple],
) -> None:
    """Stream the first ``n`` rows of the shards into the published layout."""
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

    if dataset == "jetnet":
        from .._hdf5 import HDF5Writer

        with HDF5Writer(dest, fields, chunk_rows=min(n, 1024), compression="gzip") as w:
            for c in chunks():
                w.append(**c)
    elif dataset == "hh4b":
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


def make_dataset(
    dataset: str,
    out: str | os.PathLike,
    *,
    n: int,
    types: str | Sequence[str] | None = None,
    seed: int = 0,
    particles: int = 30,
    workers: int = 1,
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
      anti-$k_T$ $R = 0.4$ jets, ``jet_mask`` and ``label``; rows are events.

    The run is resumable and deterministic given ``seed`` and ``shard_size``
    (see the module notes), and ``out/manifest.json`` records everything.

    Args:
        dataset: ``"jetnet"``, ``"jetclass"``, ``"lhco"`` or ``"hh4b"``.
        out: output folder (created).
        n: rows (jets or events) per process.
        types: processes to make (default: all of the data set), a list or a
            comma-separated string such as ``"t,q"``.
        seed: base random seed.
        particles: JetNet particle slots (30 or 150).
        workers: worker processes (each shard has its own seed).
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
            shard, or an ``out`` folder holding a run with other settings.
        PermissionError: ``out`` cannot be created or written.
        ImportError: pythia8mc or fastjet missing (names the ``hep`` extra).
    """
    check_dataset(dataset)
    n = _check_n(n)
    names = _types(dataset, types)
    particles = _check_particles(particles)
    shard_size = min(n, DEFAULT_SHARD_SIZE) if shard_size is None else _check_n(shard_size)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
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
    manifest = {"settings": settings, "processes": {}}
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text())
        except ValueError as err:
            raise ValueError(f"out: {manifest_path} is not valid JSON ({err})") from err
        if old.get("settings") != settings:
            raise ValueError(
                f"out: {out} holds a run with other settings ({old.get('settings')}); "
                "use another folder, or the same settings (seed, shard size, cuts, Pythia "
                "settings) to resume"
            )
        manifest = old
    versions = _versions()
    for name in ("pythia8mc", "fastjet"):
        before = manifest.get("versions", {}).get(name, versions[name])
        if manifest["processes"] and before != versions[name]:
            raise ValueError(
                f"out: {out} was started with {name} {before}, this is {versions[name]}; "
                "shards of different generator versions would mix: use another folder"
            )
    manifest["versions"] = versions
    fields = fields_for(dataset, particles, all_cuts)
    shard_root = out / ".shards"

    tasks, results = [], {}
    for name in names:
        (shard_root / name).mkdir(parents=True, exist_ok=True)
        for stale in (shard_root / name).glob(".*.tmp"):  # left by a killed run
            stale.unlink(missing_ok=True)
        entry = manifest["processes"].setdefault(name, {"shards": {}})
        entry["pythia_settings"] = pythia_settings(dataset, name, seed=0)[:-2] + extra
        for k in range(-(-n // shard_size)):
            path = shard_root / name / f"{k:05d}.hdf5"
            s = shard_seed(seed, dataset, name, k)
            if path.exists():
                info = _read_shard_info(path, fields, shard_size)
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
    _write_json(manifest_path, manifest)

    total = len(tasks) * shard_size
    bar = _Progress(total, f"{dataset} {','.join(names)}", progress and total > 0)

    def done(stats, name):
        manifest["processes"][name]["shards"][str(stats["shard"])] = stats
        _write_json(manifest_path, manifest)

    try:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                done(_run_shard(task, bar.update), task["process"])
        else:
            _run_parallel(tasks, workers, bar, done)
    finally:
        bar.close()

    for name in names:
        dest = out / output_name(dataset, name, particles)
        paths = [shard_root / name / f"{k:05d}.hdf5" for k in range(-(-n // shard_size))]
        entry = manifest["processes"][name]
        if not (dest.exists() and entry.get("rows") == n):
            _merge(dataset, name, paths, n, dest, fields)
            entry["rows"] = n
            entry["file"] = dest.name
        shards = [entry["shards"][str(k)] for k in range(len(paths))]
        ev = sum(int(s["events"]) for s in shards)
        entry["events"] = ev
        entry["pass_fraction"] = sum(int(s["passed"]) for s in shards) / max(ev, 1)
        if dest.name != f"{name}.hdf5" and dataset == "jetnet":
            _alias(dest, out / f"{name}.hdf5")
        results[name] = dest
    manifest["finished"] = datetime.datetime.now(datetime.UTC).isoformat()
    _write_json(manifest_path, manifest)
    return results


def _alias(target: pathlib.Path, alias: pathlib.Path) -> None:
    """Make ``alias`` name the same file as ``target`` (a hard link, else a copy), atomically.

    The 150-particle JetNet files are published as ``t150.hdf5``; the
    ``{type}.hdf5`` alias keeps one name per jet type in every output folder.
    """
    import shutil

    tmp = alias.with_name(f".{alias.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(target, tmp)
    except OSError:
        shutil.copyfile(target, tmp)
    os.replace(tmp, alias)


def _run_parallel(tasks, workers, bar, done) -> None:
    """Run the tasks in ``workers`` fresh interpreters (no fork of a JAX process, and
    no re-import of the caller's ``__main__`` as with multiprocessing's spawn)."""
    import selectors
    import subprocess
    import tempfile

    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    procs, logs = [], []
    try:
        for w in range(min(workers, len(tasks))):
            logs.append(tempfile.TemporaryFile(mode="w+"))
            p = subprocess.Popen(
                [sys.executable, "-m", "hepjax.data.collider._worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=logs[-1],
                env=env,
                text=True,
            )
            p.stdin.write(json.dumps(tasks[w::workers]))
            p.stdin.close()
            procs.append(p)
        sel = selectors.DefaultSelector()
        for p in procs:
            sel.register(p.stdout, selectors.EVENT_READ, p)
        open_streams = len(procs)
        while open_streams:
            for key, _ in sel.select(timeout=1.0):
                line = key.fileobj.readline()
                if not line:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                if not line.startswith(_MARK):
                    continue
                msg = json.loads(line[len(_MARK) :])
                if "done" in msg:
                    done(msg["done"], msg["process"])
                else:
                    bar.update(msg["events"], msg["rows"], msg["passed"])
        for p, log in zip(procs, logs, strict=True):
            log.seek(0)
            err = log.read()
            if p.wait() != 0:
                tail = "\n".join(err.strip().splitlines()[-5:])
                raise RuntimeError(f"a generator worker failed (exit {p.returncode}):\n{tail}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait()
        for log in logs:
            log.close()


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
    order; ``hh4b``: ``jet_features``, ``jet_mask``, ``label``; and ``events``,
    the number of events generated.

    Raises:
        ValueError: an unknown process, ``n <= 0``, an unknown cut, or a Pythia
            setting that Pythia rejects.
        ImportError: pythia8mc or fastjet missing (names the ``hep`` extra).
    """
    proc = get_process(dataset, process)
    n = _check_n(n)
    particles = _check_particles(particles)
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


def default_cache_dir() -> pathlib.Path:
    """``$HEPJAX_CACHE`` if set, else ``~/.cache/hepjax``."""
    env = os.environ.get("HEPJAX_CACHE")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "hepjax"


def cached_jetnet(
    jet_type: str,
    n: int,
    *,
    particles: int = 30,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    workers: int = 1,
    progress: bool = True,
) -> pathlib.Path:
    """Path of a JetNet-layout HDF5 file with at least ``n`` Pythia jets of ``jet_type``.

    Generated once into ``cache_dir/jetnet-p{particles}-s{seed}/`` (default
    [`default_cache_dir`][hepjax.data.collider.default_cache_dir]) with
    [`make_dataset`][hepjax.data.collider.make_dataset] and the default
    settings; later calls return the file, and a larger ``n`` reuses the shards
    already made. Read it with [`read_jetnet`][hepjax.data.formats.read_jetnet]::

        path = cached_jetnet("t", 20_000)
        data = hepjax.data.formats.read_jetnet(path)

    Args:
        jet_type: ``"g"``, ``"q"``, ``"t"``, ``"w"`` or ``"z"``.
        n: minimum number of jets.
        particles: 30 or 150 particle slots.
        seed: base seed.
        cache_dir: cache root.
        workers: worker processes for a generation.
        progress: show the progress bar while generating.
    """
    get_process("jetnet", jet_type)
    n = _check_n(n)
    particles = _check_particles(particles)
    root = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / f"jetnet-p{particles}-s{int(seed)}"
    path = folder / output_name("jetnet", jet_type, particles)
    if path.exists():
        import h5py

        with contextlib.suppress(OSError), h5py.File(path, "r") as f:
            if f["jet_features"].shape[0] >= n:
                return path
    shard = DEFAULT_SHARD_SIZE
    n_round = -(-n // shard) * shard
    return make_dataset(
        "jetnet",
        folder,
        n=n_round,
        types=[jet_type],
        seed=seed,
        particles=particles,
        workers=workers,
        shard_size=shard,
        progress=progress,
    )[jet_type]
