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


def _section(example, scale: str, seconds: float, error: str = "", rows=(), images=()) -> Section:
    return Section(
        name=example.name,
        summary=example.summary,
        scale=scale,
        seconds=seconds,
        status=STATUS_FAILED if error else STATUS_OK,
        paper=example.paper,
        rows=list(rows),
        images=list(images),
        error=error,
    )


def _run_section(example, scale: str, out: pathlib.Path) -> tuple[Section, dict]:
    """Run one example into ``out/NAME`` and describe it for the results page."""
    folder = out / example.name
    start = time.perf_counter()
    try:
        metrics = run_example(example, scale=scale, out=folder)
        rows = report_rows(example, metrics, scale)
    except Exception:
        error = _last_lines(traceback.format_exc())
        print(error, file=sys.stderr)
        return _section(example, scale, time.perf_counter() - start, error), {}
    images = sorted(str(p.relative_to(out)) for p in folder.rglob("*.png"))
    return _section(example, scale, time.perf_counter() - start, rows=rows, images=images), metrics


def _announce(i: int, total: int, example, scale: str) -> None:
    print(f"[{i}/{total}] {example.name} (--scale {scale}): {example.summary}", flush=True)


def _run_in_worker(name: str, scale: str, out: pathlib.Path) -> tuple[Section, dict]:
    """One example in a worker process of ``hepjax demo --jobs N`` (found by name there)."""
    return _run_section(discover()[name], scale, out)


def _run_sections(registry: dict, scale: str, out: pathlib.Path, jobs: int):
    """Yield ``(name, (section, metrics))`` for every example, as each one finishes.

    With ``jobs == 1`` the examples run one after another in this process. With more, each
    runs in one of ``jobs`` worker processes (started fresh, as JAX cannot be forked): on a
    CPU much of a tour is XLA compilation, which uses one core, so two workers on two cores
    nearly halve the demo's time. Each worker gets ``1/jobs`` of the default share of an
    accelerator's memory (``XLA_PYTHON_CLIENT_MEM_FRACTION``) unless that is already set.
    (XLA's optimisation level 0, which the tests and the docs build use to compile faster,
    made the tours slower: 637 s against 499 s for the demo from empty caches.)
    """
    if jobs == 1:
        for i, (name, example) in enumerate(registry.items(), 1):
            _announce(i, len(registry), example, scale)
            yield name, _run_section(example, scale, out)
        return
    import concurrent.futures
    import multiprocessing

    os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.75 / jobs:.3f}")
    context = multiprocessing.get_context("spawn")
    print(f"running {len(registry)} examples, {jobs} at a time (--jobs)", flush=True)
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {pool.submit(_run_in_worker, name, scale, out): name for name in registry}
        for i, future in enumerate(concurrent.futures.as_completed(futures), 1):
            name = futures[future]
            _announce(i, len(registry), registry[name], scale)
            try:
                yield name, future.result()
            except Exception as error:  # the worker died (killed, out of memory)
                message = f"{type(error).__name__}: {error}"
                print(message, file=sys.stderr)
                yield name, (_section(registry[name], scale, 0.0, message), {})


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
    if args.jobs < 1:
        raise SystemExit(f"--jobs must be a positive integer, got {args.jobs}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started, date = time.perf_counter(), datetime.datetime.now(datetime.UTC)
    jobs = min(args.jobs, len(registry)) or 1
    done = {}
    for name, (section, metrics) in _run_sections(registry, args.scale, out, jobs):
        print(f"    {section.status} in {section.seconds:.1f} s", flush=True)
        done[name] = section, metrics if section.status == STATUS_OK else {"error": section.error}
    sections = [done[name][0] for name in registry]
    results = {name: done[name][1] for name in registry}
    total = time.perf_counter() - started
    header = {
        "hepjax": _version("hepjax"),
        "jax": _version("jax"),
        "device": _device(),
        "date": date.strftime("%Y-%m-%d %H:%M UTC"),
        "scale": args.scale,
        "total time": f"{total / 60:.1f} min ({total:.0f} s)",
        "parallel jobs": str(jobs),
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
    demo.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="examples run at once, each in its own process (default: %(default)s; "
        "1 runs them one after another in this process)",
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
