"""A cache of generated JetNet-layout files, for examples and tutorials.

[`cached_jetnet`][hepjax.data.collider.cached_jetnet] returns a file with at
least ``n`` jets, generating it once under ``$HEPJAX_CACHE`` (default
``~/.cache/hepjax``); a larger ``n`` later reuses the shards already made.
"""

import contextlib
import os
import pathlib
from concurrent.futures import Executor

from hepjax._core import check_positive_int, file_lock

from ._merge import output_name
from ._processes import get_process
from ._run import DEFAULT_SHARD_SIZE, make_dataset


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
    executor: Executor | None = None,
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
        workers: processes of the local pool for a generation.
        executor: or a ``concurrent.futures.Executor`` to generate on (see
            [`make_dataset`][hepjax.data.collider.make_dataset]).
        progress: show the progress bar while generating.
    """
    get_process("jetnet", jet_type)
    n = check_positive_int("n", n)
    particles = check_positive_int("particles", particles)
    root = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / f"jetnet-p{particles}-s{int(seed)}"
    path = folder / output_name("jetnet", jet_type, particles)
    with file_lock(path):  # another process making the same file: wait for it, then reuse
        if _has_jets(path, n):
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
            executor=executor,
            shard_size=shard,
            progress=progress,
        )[jet_type]


def _has_jets(path: pathlib.Path, n: int) -> bool:
    """``path`` is a readable JetNet-layout file with at least ``n`` jets."""
    if not path.exists():
        return False
    import h5py

    with contextlib.suppress(OSError), h5py.File(path, "r") as f:
        return f["jet_features"].shape[0] >= n
    return False
