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

from ._data import add_data_parser
from ._registry import SCALES, discover, get_example, run_example, write_json

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


def _markdown_summary(results: dict, out: pathlib.Path, seconds: dict) -> str:
    lines = [
        "# hepjax demo report",
        "",
        f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} with hepjax "
        f"{_version('hepjax')}, jax {_version('jax')}.",
        "",
        "| example | status | time (s) |",
        "|---|---|---|",
    ]
    for name, metrics in results.items():
        status = "failed" if "error" in metrics else "ok"
        lines.append(f"| {name} | {status} | {seconds[name]:.1f} |")
    for name, metrics in results.items():
        lines += ["", f"## {name}", ""]
        if "error" in metrics:
            lines += ["```", metrics["error"], "```"]
            continue
        lines += ["| metric | value |", "|---|---|"]
        for k, v in sorted(metrics.items()):
            shown = f"{v:.5g}" if isinstance(v, float) else str(v)
            lines.append(f"| {k} | {shown} |")
        for image in sorted((out / name).glob("*.png")):
            lines += ["", f"![{image.stem}]({name}/{image.name})"]
    return "\n".join(lines) + "\n"


def cmd_demo(args: argparse.Namespace) -> int:
    registry = {n: e for n, e in discover().items() if e.demo}
    if args.only:
        unknown = sorted(set(args.only) - set(registry))
        if unknown:
            raise SystemExit(f"unknown example(s) {unknown}; known: {', '.join(registry)}")
        registry = {n: registry[n] for n in args.only}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, seconds = {}, {}
    for i, (name, example) in enumerate(registry.items(), 1):
        print(f"[{i}/{len(registry)}] {name}: {example.summary}", flush=True)
        start = time.perf_counter()
        try:
            results[name] = run_example(example, scale="small", out=out / name)
        except Exception:
            results[name] = {"error": traceback.format_exc()}
            print(results[name]["error"], file=sys.stderr)
        seconds[name] = time.perf_counter() - start
        print(f"    done in {seconds[name]:.1f} s", flush=True)
    write_json(out / "metrics.json", results)
    summary = out / "summary.md"
    tmp = summary.with_name(".summary.md.tmp")
    tmp.write_text(_markdown_summary(results, out, seconds))
    os.replace(tmp, summary)
    print(f"wrote {out / 'metrics.json'} and {summary}")
    return 1 if any("error" in m for m in results.values()) else 0


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

    demo = sub.add_parser("demo", help="run every showcase at small scale and write a report")
    demo.add_argument("--out", default="demo-report", help="report folder (default: %(default)s)")
    demo.add_argument("--only", nargs="+", metavar="NAME", help="run only these examples")
    demo.set_defaults(fn=cmd_demo)

    examples = sub.add_parser("examples", help="list or run the registered examples")
    ex_sub = examples.add_subparsers(dest="action", required=True)
    ex_sub.add_parser("list", help="list the examples").set_defaults(fn=cmd_examples_list)
    run = ex_sub.add_parser("run", help="run one example")
    run.add_argument("name")
    run.add_argument("--scale", choices=SCALES, default="small")
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
