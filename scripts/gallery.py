"""The "Research systems" gallery: one page per system, built from the registry and recorded runs.

Three sources, nothing typed into the pages by hand:

* ``docs/gallery/systems.toml``: the sixteen systems (paper, authors, method, hepjax modules,
  example names, what is not reproduced yet);
* the example registry (``hepjax.cli.discover``): whether a system's examples exist, their
  one-line summary and their ``report(metrics, scale)`` rows;
* ``docs/gallery/runs/<example>/``: a recorded ``--scale small`` run (``scripts/record_run.py``):
  its ``metrics.json``, figures and ``run.json`` (date, machine, commit, command, wall time).

``scripts/mkdocs_hooks.py`` calls :func:`pages` at build time, so a new example gets its page
(and a new recorded run its table and figures) without editing any page.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SYSTEMS_TOML = ROOT / "docs" / "gallery" / "systems.toml"
RUNS = ROOT / "docs" / "gallery" / "runs"
SCALES = ("tour", "small", "paper")

REPRODUCED, PARTLY, NOT_BUILT = "reproduced", "partly reproduced", "not yet built"


@dataclasses.dataclass(frozen=True)
class System:
    """One research system of ``systems.toml``."""

    number: int
    name: str
    title: str
    authors: str
    arxiv: str
    code: str
    modules: tuple[str, ...]
    method: str
    examples: tuple[str, ...] = ()
    missing: str = ""

    @property
    def slug(self) -> str:
        return f"{self.number:02d}-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


def load_systems(path: pathlib.Path = SYSTEMS_TOML) -> list[System]:
    """The systems of ``path``, checked: numbers 1..N once each, the fields filled in."""
    raw = tomllib.loads(path.read_text())["system"]
    systems = []
    for entry in raw:
        fields = {f.name for f in dataclasses.fields(System)}
        unknown = set(entry) - fields
        if unknown:
            raise ValueError(f"{path}: system {entry.get('number')}: unknown fields {unknown}")
        entry = {
            **entry,
            "modules": tuple(entry["modules"]),
            "examples": tuple(entry.get("examples", ())),
        }
        systems.append(System(**entry))
    numbers = [s.number for s in systems]
    if numbers != list(range(1, len(systems) + 1)):
        raise ValueError(f"{path}: systems must be numbered 1..N in order, got {numbers}")
    for s in systems:
        for name in ("name", "title", "authors", "arxiv", "method"):
            if not getattr(s, name).strip():
                raise ValueError(f"{path}: system {s.number} has no {name}")
    return systems


def lookup(registry: dict, name: str):
    """The registered example called ``name`` (dashes and underscores alike), or ``None``."""
    canonical = {known.replace("_", "-"): example for known, example in registry.items()}
    return canonical.get(name.replace("_", "-"))


def examples_of(system: System, registry: dict) -> list[str]:
    """The registered examples of a system: those citing its arXiv id, then ``examples``."""
    cited = [n for n, e in registry.items() if e.paper and e.paper.arxiv == system.arxiv]
    return sorted(cited) + [n for n in system.examples if lookup(registry, n) is not None]


def status(system: System, registry: dict) -> tuple[str, str]:
    """``(status, what is missing)``: not yet built without a registered example."""
    if not examples_of(system, registry):
        return NOT_BUILT, ""
    if system.missing.strip():
        return PARTLY, " ".join(system.missing.split())
    return REPRODUCED, ""


def recorded_run(example: str, runs: pathlib.Path = RUNS) -> dict | None:
    """``{"run": run.json, "metrics": metrics.json, "figures": [png names]}``, or ``None``."""
    folder = runs / example
    if not (folder / "run.json").is_file():
        return None
    return {
        "run": json.loads((folder / "run.json").read_text()),
        "metrics": json.loads((folder / "metrics.json").read_text()),
        "figures": sorted(p.name for p in folder.glob("*.png")),
    }


def _cell(value) -> str:
    from hepjax.cli import format_value

    return format_value(value).replace("|", "\\|") if value is not None else "-"


def _example_section(name: str, example, runs: pathlib.Path) -> list[str]:
    lines = [f"### `{name}`", ""]
    if example is None:
        return [*lines, "Not registered yet.", ""]
    lines += [example.summary, "", "```bash"]
    lines += [f"hepjax examples run {name} --scale {scale} --out runs/{name}" for scale in SCALES]
    lines += ["```", ""]
    record = recorded_run(name, runs)
    if record is None:
        lines += [
            "No recorded `--scale small` run yet "
            f"(`python scripts/record_run.py {name}` records one).",
            "",
        ]
        return lines
    run = record["run"]
    lines += [
        f"Recorded `--scale {run['scale']}` run: {run['date']}, {run['machine']}, "
        f"commit `{run['commit']}`, {run['wall_seconds'] / 60:.1f} min wall time "
        f"(load average {run['load_average']}). {run.get('note', '')}".rstrip(),
        "",
    ]
    rows = example.report(record["metrics"], run["scale"]) if example.report else []
    if rows:
        lines += ["| quantity | paper | this run | note |", "|---|---|---|---|"]
        for row in rows:
            unit = f" {row.unit}" if row.unit else ""
            quantity, note = (text.replace("|", "\\|") for text in (row.quantity, row.note))
            lines.append(
                f"| {quantity} | {_cell(row.paper)}{unit if row.paper is not None else ''} "
                f"| {_cell(row.run)}{unit} | {note} |"
            )
        lines.append("")
    for figure in record["figures"]:
        lines += [f'![{name}: {figure}](runs/{name}/{figure}){{ width="560" }}', ""]
    return lines


def system_page(system: System, registry: dict, runs: pathlib.Path = RUNS) -> str:
    """The Markdown page of one system."""
    state, missing = status(system, registry)
    lines = [
        f"# {system.number}. {system.name}",
        "",
        f"**{system.title}**, {system.authors}, "
        f"[arXiv:{system.arxiv}](https://arxiv.org/abs/{system.arxiv}). "
        f"Public code read for understanding: {system.code}.",
        "",
        f"**Status: {state}**" + (f": missing {missing}." if missing else "."),
        "",
        " ".join(system.method.split()),
        "",
        "In hepjax: " + ", ".join(f"`{m}`" for m in system.modules) + ".",
        "",
    ]
    if state == NOT_BUILT:
        return "\n".join([*lines, "Not built yet: no example is registered for it."])
    lines += ["## Examples", ""]
    for name in examples_of(system, registry):
        lines += _example_section(name, lookup(registry, name), runs)
    return "\n".join(lines)


def index_page(systems: list[System], registry: dict, runs: pathlib.Path = RUNS) -> str:
    """The gallery's index: every system, its paper, status and recorded run."""
    lines = [
        "# Research systems",
        "",
        "The sixteen research systems hepjax reproduces, each with its paper, the modules "
        "that implement it, how to run it and, where one is recorded, the paper-versus-run "
        "table and figures of a real `--scale small` run. This page and the system pages are "
        "generated when the site is built, from `docs/gallery/systems.toml`, the example "
        "registry and the runs recorded by `scripts/record_run.py`.",
        "",
        "| # | system | paper | status | recorded run |",
        "|---|---|---|---|---|",
    ]
    for s in systems:
        state, _ = status(s, registry)
        recorded = [e for e in examples_of(s, registry) if recorded_run(e, runs) is not None]
        lines.append(
            f"| {s.number} | [{s.name}]({s.slug}.md) | arXiv:{s.arxiv} | {state} | "
            f"{', '.join(f'`{e}`' for e in recorded) or '-'} |"
        )
    return "\n".join(lines) + "\n"


def pages(registry: dict | None = None, docs: pathlib.Path = ROOT / "docs") -> dict[str, str]:
    """``{path under docs/: Markdown}`` of the whole gallery of the docs folder ``docs``."""
    if registry is None:
        from hepjax.cli import discover

        registry = discover()
    systems = load_systems(docs / "gallery" / "systems.toml")
    runs = docs / "gallery" / "runs"
    out = {"gallery/index.md": index_page(systems, registry, runs)}
    for s in systems:
        out[f"gallery/{s.slug}.md"] = system_page(s, registry, runs)
    return out
