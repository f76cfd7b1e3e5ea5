"""The registry of runnable examples ("showcases").

Each script in ``examples/`` registers itself with :func:`register`, so that a
new capability adds its showcase to ``hepjax examples`` and ``hepjax demo``
without editing the CLI::

    from hepjax.cli import register, example_main

    def report(metrics: dict, scale: str) -> list[Row]:
        return [Row("AUC", 0.91, metrics["auc"], note="paper: full JetNet")]

    @register(
        "train-classifier",
        summary="Classify toy quark/gluon jets",
        paper=Paper("Title of the paper", "2401.00000", "What the system does, in one sentence."),
        report=report,
    )
    def run(*, scale: str, out: pathlib.Path) -> dict[str, float]:
        ...  # do the work with the library, write plots into `out`
        return {"auc": auc}

    if __name__ == "__main__":
        example_main(run)

``run`` receives ``scale`` (``"tour"``: seconds to about 40 s, the demo's
default; ``"small"``: the CPU reproduction quoted in the docs, minutes;
``"paper"``: the paper's settings, for a GPU) and an existing output folder,
writes its plots and files there, and returns JSON-serialisable metrics (flat
keys where possible: nested dicts are flattened to ``a.b`` keys in
``metrics.json``). ``report(metrics, scale)`` turns them into the rows of the
results page's paper-versus-run table.
"""

import argparse
import dataclasses
import importlib.util
import json
import os
import pathlib
import sys
from collections.abc import Callable, Sequence

from .._core import write_json
from ._report import Paper, Row

SCALES = ("tour", "small", "paper")

ExampleFn = Callable[..., dict]
ReportFn = Callable[[dict, str], Sequence[Row]]


@dataclasses.dataclass(frozen=True)
class Example:
    """A registered example: its name, one-line summary, entry point, paper and report rows.

    Made by :func:`register`; :func:`get_example` and :func:`discover` return them.

    Attributes:
        name: the CLI name (``hepjax examples run NAME``).
        summary: one line shown by ``hepjax examples list``.
        run: the entry point ``run(*, scale, out) -> metrics``.
        demo: whether ``hepjax demo`` runs it (at ``--scale tour``).
        source: the file the example was loaded from.
        paper: the research system it reproduces (:class:`Paper`), or ``None``.
        report: ``report(metrics, scale) -> [Row, ...]``, the paper-versus-run rows,
            or ``None``.
    """

    name: str
    summary: str
    run: ExampleFn
    demo: bool = True
    source: str = ""
    paper: Paper | None = None
    report: ReportFn | None = None


_REGISTRY: dict[str, Example] = {}


def register(
    name: str,
    *,
    summary: str,
    paper: Paper | None = None,
    report: ReportFn | None = None,
    demo: bool = True,
) -> Callable[[ExampleFn], ExampleFn]:
    """Register ``run(*, scale, out) -> metrics`` under ``name``.

    Args:
        name: the CLI name, lowercase (``hepjax examples run NAME``); dashes and
            underscores are interchangeable when it is looked up.
        summary: one line shown by ``hepjax examples list``.
        paper: the research system it reproduces, shown on the results page.
        report: ``report(metrics, scale) -> [Row, ...]``: the paper-versus-run
            rows of the results page.
        demo: whether ``hepjax demo`` runs it.
    """
    if not name or name != name.lower() or " " in name:
        raise ValueError(f"name must be lowercase without spaces, got {name!r}")
    if paper is not None and not isinstance(paper, Paper):
        raise TypeError(f"paper must be a hepjax.cli.Paper, got {type(paper).__name__}")
    if report is not None and not callable(report):
        raise TypeError(f"report must be a function (metrics, scale) -> rows, got {report!r}")

    def decorator(fn: ExampleFn) -> ExampleFn:
        source = getattr(sys.modules.get(fn.__module__), "__file__", "") or ""
        existing = _REGISTRY.get(name)
        if existing is not None and existing.source != source:
            raise ValueError(
                f"example {name!r} is registered twice: {existing.source} and {source}"
            )
        _REGISTRY[name] = Example(name, summary, fn, demo, source, paper, report)
        return fn

    return decorator


def examples_dir() -> pathlib.Path:
    """Where the example scripts live.

    ``$HEPJAX_EXAMPLES`` if set, else the ``examples/`` folder of the checkout
    that hepjax is installed from (``pip install -e .``).
    """
    env = os.environ.get("HEPJAX_EXAMPLES")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[2] / "examples"


def discover(directory: pathlib.Path | None = None) -> dict[str, Example]:
    """Import every ``examples/*.py`` once so they register, and return the registry.

    Files starting with ``_`` are not examples but helpers shared by several of
    them; the folder is put on ``sys.path`` so that examples can ``import`` them,
    exactly as when a script is run directly.
    """
    directory = examples_dir() if directory is None else pathlib.Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"examples folder {directory} not found: install hepjax from a checkout "
            "(pip install -e .) or set HEPJAX_EXAMPLES to the examples folder"
        )
    if str(directory) not in sys.path:
        sys.path.append(str(directory))
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"hepjax_examples.{path.stem}"
        if module_name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[module_name]
            raise
    return dict(sorted(_REGISTRY.items()))


def get_example(name: str) -> Example:
    """Look an example up by name, with the known names in the error.

    Dashes and underscores are interchangeable: ``epic_fm`` and ``epic-fm``
    name the same example.
    """
    registry = discover()
    canonical = {_canonical(known): example for known, example in registry.items()}
    example = canonical.get(_canonical(name))
    if example is None:
        raise KeyError(f"unknown example {name!r}; known examples: {', '.join(registry)}")
    return example


def _canonical(name: str) -> str:
    return name.replace("_", "-")


def run_example(example: Example, *, scale: str, out: pathlib.Path) -> dict:
    """Run one example into ``out`` and write ``out/metrics.json`` atomically.

    Args:
        example: the registered :class:`Example`.
        scale: ``"tour"``, ``"small"`` or ``"paper"``.
        out: the output folder (created if needed) for the example's files and ``metrics.json``.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = example.run(scale=scale, out=out)
    if not isinstance(metrics, dict):
        raise TypeError(f"example {example.name!r} must return a dict of metrics")
    metrics = flatten_metrics(metrics)
    write_json(out / "metrics.json", metrics)
    return metrics


def flatten_metrics(metrics: dict, prefix: str = "") -> dict:
    """Nested dicts become flat ``outer.inner`` keys; other values are kept as they are."""
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def report_rows(example: Example, metrics: dict, scale: str) -> list[Row]:
    """The example's paper-versus-run rows (none without a ``report`` hook), checked."""
    if example.report is None:
        return []
    rows = list(example.report(metrics, scale))
    bad = [r for r in rows if not isinstance(r, Row)]
    if bad:
        raise TypeError(
            f"report of example {example.name!r} must return hepjax.cli.Row objects, "
            f"got {type(bad[0]).__name__}"
        )
    return rows


def example_main(run: ExampleFn, argv: list[str] | None = None) -> dict:
    """``if __name__ == "__main__": example_main(run)`` for a script's own CLI."""
    parser = argparse.ArgumentParser(description=(run.__doc__ or "").strip().split("\n")[0])
    parser.add_argument("--scale", choices=SCALES, default="small")
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    name = next((e.name for e in _REGISTRY.values() if e.run is run), run.__name__)
    out = args.out or pathlib.Path("runs") / name
    example = _REGISTRY.get(name) or Example(name, "", run)
    metrics = run_example(example, scale=args.scale, out=out)
    print(json.dumps(metrics, indent=2, sort_keys=True, default=float))
    print(f"wrote {out}")
    return metrics
