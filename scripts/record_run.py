"""Record a real run of an example for the "Research systems" gallery.

Runs ``hepjax examples run NAME --scale small`` (or takes the output folder of a run made
before, ``--from``) and stores what the gallery shows under ``docs/gallery/runs/NAME/``:
``metrics.json``, the run's PNG figures, and ``run.json`` with the date, the machine, the
commit, the command, the wall time and the load average. The folder is written next to its
place and renamed into it, so a failed or interrupted recording leaves the previous one.

Usage:
    python scripts/record_run.py masked_particle_modelling            # runs it (--scale small)
    python scripts/record_run.py bricks_kernel --from /tmp/bricks-small \\
        --commit 1a2b3c4 --date 2026-12-07T14:30Z --wall-seconds 5340 --load 3.5 \\
        --note "under load: a test suite ran beside it"
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from _bench import cpu_model
from gallery import RUNS

#: Figures above this size are left out of the gallery (the repository keeps them all).
MAX_FIGURE_BYTES = 2_000_000


def current_commit() -> str:
    """The checkout's short commit, with ``-dirty`` when tracked files differ from it."""
    root = pathlib.Path(__file__).resolve().parents[1]
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=root).returncode != 0
    return (rev or "unknown") + ("-dirty" if dirty else "")


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()}"


def record(name: str, source: pathlib.Path, run: dict, runs: pathlib.Path = RUNS) -> pathlib.Path:
    """Copy ``source``'s metrics and figures and write ``run`` as ``run.json``, atomically."""
    metrics = source / "metrics.json"
    if not metrics.is_file():
        raise FileNotFoundError(f"{source} has no metrics.json: not the output of a run")
    runs.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}-", dir=runs))
    shutil.copy2(metrics, staging / "metrics.json")
    for png in sorted(source.glob("*.png")):
        if png.stat().st_size > MAX_FIGURE_BYTES:
            print(f"left out {png.name}: {png.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
            continue
        shutil.copy2(png, staging / png.name)
    (staging / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    target = runs / name
    old = runs / f".{name}-previous"
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="the registered example (hepjax examples list)")
    ap.add_argument("--scale", default="small", choices=("tour", "small", "paper"))
    ap.add_argument("--from", dest="source", type=pathlib.Path, help="a finished run's folder")
    ap.add_argument("--commit", help="with --from: the commit the run was made at")
    ap.add_argument("--date", help="with --from: when the run started (ISO 8601, UTC)")
    ap.add_argument("--wall-seconds", type=float, help="with --from: the run's wall time")
    ap.add_argument("--load", help="with --from: the load average during the run")
    ap.add_argument("--note", default="", help="anything a reader must know (load, settings)")
    args = ap.parse_args(argv)

    from hepjax.cli import get_example, run_example

    example = get_example(args.name)  # unknown names fail here, with the known ones listed
    if args.source is not None:
        missing = [f"--{k}" for k in ("commit", "date") if getattr(args, k) is None]
        if missing:
            ap.error(f"--from needs {' and '.join(missing)}: they cannot be read from the folder")
        run = {
            "example": example.name,
            "scale": args.scale,
            "date": args.date,
            "machine": machine(),
            "commit": args.commit,
            "command": f"hepjax examples run {example.name} --scale {args.scale}",
            "wall_seconds": args.wall_seconds,
            "load_average": args.load or "not recorded",
            "note": args.note,
        }
        print(record(example.name, args.source, run))
        return 0
    load = os.getloadavg()[0]
    commit = current_commit()  # the code the run starts from
    start = datetime.datetime.now(datetime.UTC)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        run_example(example, scale=args.scale, out=pathlib.Path(out))
        run = {
            "example": example.name,
            "scale": args.scale,
            "date": start.strftime("%Y-%m-%dT%H:%MZ"),
            "machine": machine(),
            "commit": commit,
            "command": f"hepjax examples run {example.name} --scale {args.scale}",
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "load_average": f"{load:.1f} at the start",
            "note": args.note,
        }
        print(record(example.name, pathlib.Path(out), run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
