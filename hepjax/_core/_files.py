"""Atomic JSON files, resumable run manifests and a lock for caches shared by processes:
nothing is ever half-written on disk, and nothing is generated twice at once."""

import contextlib
import fcntl
import json
import os
import pathlib
from typing import Any


def _plain(obj: Any) -> Any:
    """JSON fallback: NumPy/JAX scalars and arrays as Python values, anything else as text."""
    return obj.tolist() if hasattr(obj, "tolist") else str(obj)


def write_json(path: str | os.PathLike, obj: Any) -> pathlib.Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (temporary file, then rename)."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_plain) + "\n")
    os.replace(tmp, path)
    return path


def resume_manifest(out: pathlib.Path, settings: dict, fresh: dict) -> dict:
    """The manifest ``out/manifest.json`` of a resumable run with ``settings``.

    Returns the manifest on disk when it records the same ``settings`` (the run
    resumes), else ``fresh`` (a new run; nothing is written here).

    Raises:
        ValueError: the manifest on disk is not JSON, or records other settings
            (shards of two different runs would mix in one folder).
    """
    path = out / "manifest.json"
    if not path.exists():
        return fresh
    try:
        old = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"out: {path} is not valid JSON ({err})") from err
    if old.get("settings") != settings:
        raise ValueError(
            f"out: {out} holds a run with other settings ({old.get('settings')}); use "
            "another folder, or the same settings to resume"
        )
    return old


@contextlib.contextmanager
def file_lock(path: str | os.PathLike):
    """Hold an exclusive lock on ``path`` + ``.lock`` for the ``with`` block.

    Processes that fill the same cache entry (two examples of ``hepjax demo --jobs 2``,
    two test workers) take this lock around "check the cache, else generate and write
    it": the second waits, then finds the entry written. ``flock`` locks are released
    by the kernel when their holder exits, so a killed process leaves no stale lock
    (the empty ``.lock`` file itself stays, and is reused).
    """
    lock = pathlib.Path(f"{os.fspath(path)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
