"""Atomic JSON files and resumable run manifests: nothing is ever half-written on disk."""

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
