r"""Shards: the unit of work of a generation campaign.

A run of ``n`` rows (jets, or events for LHCO and HH->4b) of one process is cut
into $\lceil n / s \rceil$ *shards* of exactly $s$ = ``shard_size`` rows. Shard
$k$ has its own Pythia seed, derived from ``(seed, dataset, process, k)``
with NumPy's ``SeedSequence`` (:func:`shard_seed`), so the output depends on
the seed and the shard size only, not on the executor, the number of workers
or interruptions, and a larger ``n`` with the same seed extends a smaller run.
A shard is an HDF5 file ``DIR/.shards/<process>/<k>.hdf5`` written to a
temporary name and renamed when complete (never half-written), with its
statistics (events generated, rows kept, seconds in Pythia, in FastJet and in
total) as file attributes.

A shard task is a plain dict (picklable and JSON-able), so
:func:`run_shard` runs unchanged in this process, in a local process pool or
on a Dask worker.
"""

import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._events import Generator, concat_rows, fields_for
from ._processes import DATASETS, get_process

_MAX_SEED = 900_000_000


def shard_seed(seed: int, dataset: str, process: str, shard: int) -> int:
    r"""Pythia seed of one shard, in $[1, 900\,000\,000]$.

    Args:
        seed: the campaign's seed.
        dataset: the data set name (a key of :data:`DATASETS`).
        process: the process within it.
        shard: the shard index.
    """
    d = list(DATASETS).index(dataset)
    p = DATASETS[dataset].index(process)
    state = np.random.SeedSequence([int(seed), d, p, int(shard)]).generate_state(1)[0]
    return int(state) % _MAX_SEED + 1


def shard_path(shard_root: pathlib.Path, process: str, shard: int) -> pathlib.Path:
    """``shard_root/<process>/<shard:05d>.hdf5``."""
    return shard_root / process / f"{shard:05d}.hdf5"


def read_shard_info(path: pathlib.Path, fields: Mapping[str, tuple], rows: int) -> dict:
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


def run_shard(
    task: Mapping[str, Any], report: Callable[[int, int, int], None] | None = None
) -> dict:
    """Generate one shard into its file (atomically); return its statistics.

    Args:
        task: ``dataset``, ``process``, ``shard``, ``seed``, ``rows``,
            ``particles``, ``cuts``, ``extra_settings``, ``batch_events`` and
            ``path``.
        report: called after every Pythia batch with ``(events, rows kept,
            rows passing the cuts)`` (a progress bar in this process).
    """
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
