"""The run's manifest, ``DIR/manifest.json``: what was generated, how, and how fast.

It records the run's identity (``settings``: data set, seed, shard size, cuts,
extra Pythia lines, batch size), the generator versions, the Pythia settings
of each process, and per shard the events generated, the rows kept and the
time spent in Pythia, in FastJet and in total. It is rewritten atomically
after every finished shard, so it always describes the shards on disk.

Resuming checks the identity first: an output folder holding a run with other
settings, or started with another Pythia or FastJet version, is refused
rather than silently mixed.
"""

import pathlib
from importlib import metadata

from ..._core import resume_manifest

_VERSIONED = ("hepjax", "pythia8mc", "fastjet", "numpy", "h5py", "awkward", "uproot")
_GENERATORS = ("pythia8mc", "fastjet")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the output."""
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def open_manifest(out: pathlib.Path, settings: dict) -> dict:
    """The manifest of ``out`` for a run with ``settings``: the one on disk, or a new one.

    Raises:
        ValueError: the manifest on disk is not JSON, records other settings,
            or was started with other generator versions.
    """
    manifest = resume_manifest(out, settings, {"settings": settings, "processes": {}})
    versions = package_versions()
    for name in _GENERATORS:
        before = manifest.get("versions", {}).get(name, versions[name])
        if manifest["processes"] and before != versions[name]:
            raise ValueError(
                f"out: {out} was started with {name} {before}, this is {versions[name]}; "
                "shards of different generator versions would mix: use another folder"
            )
    manifest["versions"] = versions
    return manifest
