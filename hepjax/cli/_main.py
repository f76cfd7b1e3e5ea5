"""The ``hepjax`` command: ``info``, ``demo``, ``examples list|run``, ``bench`` and ``data``."""

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
import traceback
from importlib import metadata

from .._core import write_json
from ._data import add_data_parser
from ._registry import SCALES, discover, get_example, report_rows, run_example
from ._report import STATUS_FAILED, STATUS_OK, Section, write_report

CORE_PACKAGES = (
    "hepjax",
    "jax",
    "jaxlib",
    "equinox",
    "optax",
    "diffrax",
    "distrax",
    "numpyro",
    "chex",
    "orbax-checkpoint",
    "flax",
    "jaxtyping",
    "numpy",
    "h5py",
)
OPTIONAL_PACKAGES = ("matplotlib", "mplhep", "pythia8mc", "fastjet", "uproot", "awkward", "torch")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def cmd_info(args: argparse.Namespace) -> int:
    import jax

    print(f"hepjax {_version('hepjax')} on Python {platform.python_version()} ({sys.platform})")
    print("\ncore packages:")
    for name in CORE_PACKAGES[1:]:
        print(f"  {name:<18} {_version(name)}")
    print("optional packages:")
    for name in OPTIONAL_PACKAGES:
        print(f"  {name:<18} {_version(name)}")
    print(f"\nbackend: {jax.default_backend()}  (x64 {'on' if jax.config.x64_enabled else 'off'})")
    print(f"devices ({jax.device_count()}):")
    for device in jax.devices():
        print(f"  {device.id}: {device.platform} {device.device_kind}")
    print(f"host CPU cores: {os.cpu_count()}")
    return 0


def cmd_examples_list(args: argparse.Namespace) -> int:
    registry = discover()
    width = max((len(n) for n in registry), default=4)
    for name, example in registry.items():
        flag = "" if example.demo else "  (not in demo)"
        print(f"{name:<{width}}  {example.summary}{flag}")
    return 0


def cmd_examples_run(args: argparse.Namespace) -> int:
    example = get_example(args.name)
    out = args.out or pathlib.Path("runs") / example.name
    metrics = run_example(example, scale=args.scale, out=out)
    print(json.dumps(metrics, indent=2, sort_keys=True, default=float))
    print(f"wrote {out}")
    return 0


def _device() -> str:
    import jax

    devices = jax.devices()
    kinds = sorted({f"{d.platform} {d.device_kind}" for d in devices})
    return f"{len(devices)} x {', '.join(kinds)} ({os.cpu_count()} host CPU cores)"


def _last_lines(text: str, count: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-count:])


def _run_section(example, scale: str, out: pathlib.Path) -> tuple[Section, dict]:
    """Run one example into ``out/NAME`` and describe it for the results page."""
    folder = out / example.name
    start = time.perf_counter()
    try:
        metrics = run_example(example, scale=scale, out=folder)
        rows = report_rows(example, metrics, scale)
        status, error = STATUS_OK, ""
    except Exception:
        metrics, rows = {}, []
        status, error = STATUS_FAILED, _last_lines(traceback.format_exc())
        print(error, file=sys.stderr)
    images = sorted(str(p.relative_to(out)) for p in folder.rglob("*.png"))
    return Section(
        name=example.name,
        summary=example.summary,
        scale=scale,
        seconds=time.perf_counter() - start,
        status=status,
        paper=example.paper,
        rows=rows,
        images=images if status == STATUS_OK else [],
        error=error,
    ), metrics


def cmd_demo(args: argparse.Namespace) -> int:
    registry = {n: e for n, e in discover().items() if e.demo}
    if args.only:
        wanted = [name.strip() for item in args.only for name in item.split(",") if name.strip()]
        by_canonical = {n.replace("_", "-"): n for n in registry}
        unknown = sorted(n for n in wanted if n.replace("_", "-") not in by_canonical)
        if unknown:
            raise SystemExit(f"unknown example(s) {unknown}; known: {', '.join(registry)}")
        chosen = dict.fromkeys(by_canonical[n.replace("_", "-")] for n in wanted)
        registry = {n: registry[n] for n in chosen}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started, date = time.perf_counter(), datetime.datetime.now(datetime.UTC)
    sections, results = [], {}
    for i, (name, example) in enumerate(registry.items(), 1):
        print(f"[{i}/{len(registry)}] {name} (--scale {args.scale}): {example.summary}", flush=True)
        section, metrics = _run_section(example, args.scale, out)
        sections.append(section)
        results[name] = metrics if section.status == STATUS_OK else {"error": section.error}
        print(f"    {section.status} in {section.seconds:.1f} s", flush=True)
    total = time.perf_counter() - started
    header = {
        "hepjax": _version("hepjax"),
        "jax": _version("jax"),
        "device": _device(),
        "date": date.strftime("%Y-%m-%d %H:%M UTC"),
        "scale": args.scale,
        "total time": f"{total / 60:.1f} min ({total:.0f} s)",
    }
    write_json(out / "metrics.json", results)
    page, summary = write_report(out, sections, header)
    print(f"wrote {page}, {summary} and {out / 'metrics.json'} in {total:.0f} s")
    failed = [s.name for s in sections if s.status != STATUS_OK]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def scripts_dir() -> pathlib.Path:
    """``$HEPJAX_SCRIPTS`` or the ``scripts/`` folder of the checkout."""
    env = os.environ.get("HEPJAX_SCRIPTS")
    return pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[2] / "scripts"


def cmd_bench(args: argparse.Namespace) -> int:
    folder = scripts_dir()
    known = sorted(p.stem.removeprefix("bench_") for p in folder.glob("bench_*.py"))
    if args.name not in known:
        raise SystemExit(f"unknown benchmark {args.name!r}; known: {', '.join(known) or 'none'}")
    script = folder / f"bench_{args.name}.py"
    return subprocess.call([sys.executable, str(script), *args.bench_args])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hepjax", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="versions and devices").set_defaults(fn=cmd_info)

    demo = sub.add_parser(
        "demo", help="run every example (--scale tour) and write the results page"
    )
    demo.add_argument("--out", default="demo-report", help="report folder (default: %(default)s)")
    demo.add_argument("--scale", choices=SCALES, default="tour", help="default: %(default)s")
    demo.add_argument(
        "--only", nargs="+", metavar="NAME", help="run only these examples (NAME,NAME or NAME NAME)"
    )
    demo.set_defaults(fn=cmd_demo)

    examples = sub.add_parser("examples", help="list or run the registered examples")
    ex_sub = examples.add_subparsers(dest="action", required=True)
    ex_sub.add_parser("list", help="list the examples").set_defaults(fn=cmd_examples_list)
    run = ex_sub.add_parser("run", help="run one example")
    run.add_argument("name")
    run.add_argument("--scale", choices=SCALES, default="small", help="default: %(default)s")
    run.add_argument("--out", type=pathlib.Path, default=None)
    run.set_defaults(fn=cmd_examples_run)

    bench = sub.add_parser("bench", help="run scripts/bench_NAME.py")
    bench.add_argument("name")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="passed to the script")
    bench.set_defaults(fn=cmd_bench)

    add_data_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (KeyError, FileNotFoundError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"hepjax: error: {message}", file=sys.stderr)
        return 2
