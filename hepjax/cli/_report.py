"""The demo's results page: one static ``index.html`` (and ``summary.md``) for all examples.

Each registered example says which paper it reproduces (:class:`Paper`) and
turns its metrics into rows of *what the paper reports next to what this run
measured* (:class:`Row`), through the ``report`` hook it registers. This module
is the one piece of code that formats those rows and lays out the page: a
header with versions, device, date and total time, then one section per
example with its paper, a sentence on what it does, the comparison table, its
plots and its status. The page is plain HTML and CSS with relative image links,
so it opens from disk with no server, no network and no JavaScript.
"""

import dataclasses
import html
import math
import os
import pathlib
from collections.abc import Sequence

STATUS_OK = "ok"
STATUS_FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class Paper:
    """The research system an example reproduces.

    Args:
        title: the paper's title.
        arxiv: its arXiv identifier, e.g. ``"2310.00049"``.
        summary: one sentence on what the system does.
    """

    title: str
    arxiv: str
    summary: str

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}"


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of a paper-versus-run table.

    Args:
        quantity: what is compared, e.g. ``"W1M"``.
        paper: the paper's value (a number, ``(value, error)``, a string such
            as ``"< 1"``), or ``None`` where the paper gives none.
        run: this run's value, in the same forms.
        unit: the unit of both values (``""`` for none).
        note: anything a reader needs to compare them (settings, caveats).
    """

    quantity: str
    paper: object
    run: object
    unit: str = ""
    note: str = ""


@dataclasses.dataclass
class Section:
    """What the page shows for one example."""

    name: str
    summary: str
    scale: str
    seconds: float
    status: str
    paper: Paper | None = None
    rows: Sequence[Row] = ()
    images: Sequence[str] = ()  # paths relative to the report folder
    error: str = ""


def format_value(value: object, digits: int = 3) -> str:
    """A value as a reader wants it: ``digits`` significant figures, ``v ± e`` for pairs."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple | list) and len(value) == 2 and all(_is_number(v) for v in value):
        centre, error = (float(v) for v in value)
        if error > 0 and math.isfinite(error):
            # round the error to two significant figures and the value to the same decimal
            decimals = max(0, 1 - math.floor(math.log10(error)))
            return f"{centre:.{decimals}f} ± {error:.{decimals}f}"
        return f"{format_value(centre, digits)} ± {format_value(error, digits)}"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    if _is_number(value):
        value = float(value)
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        magnitude = math.floor(math.log10(abs(value)))
        if magnitude >= 5 or magnitude < -3:
            return f"{value:.{digits - 1}e}"
        decimals = max(0, digits - 1 - magnitude)
        return f"{value:.{decimals}f}"
    return str(value)


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)  # NumPy and JAX scalars too
    except (TypeError, ValueError):
        return False
    return not isinstance(value, str)


def _with_unit(value: object, unit: str) -> str:
    text = format_value(value)
    return f"{text} {unit}" if unit and value is not None else text


def _atomic_write(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def render_markdown(sections: Sequence[Section], header: dict[str, str]) -> str:
    """``summary.md``: the page's content as flat Markdown tables, for terminals."""
    lines = ["# hepjax demo report", ""]
    lines += [f"- {key}: {value}" for key, value in header.items()]
    lines += ["", "| example | scale | status | time [s] |", "|---|---|---|---|"]
    for s in sections:
        lines.append(f"| {s.name} | {s.scale} | {s.status} | {s.seconds:.1f} |")
    for s in sections:
        lines += ["", f"## {s.name}", "", s.summary, ""]
        if s.paper is not None:
            lines += [f"Paper: {s.paper.title} (arXiv:{s.paper.arxiv}). {s.paper.summary}", ""]
        if s.status != STATUS_OK:
            lines += [f"**{s.status}**", "", "```", s.error.rstrip(), "```"]
            continue
        if s.rows:
            lines += ["| quantity | paper | this run | note |", "|---|---|---|---|"]
            for r in s.rows:
                cells = [r.quantity, _with_unit(r.paper, r.unit), _with_unit(r.run, r.unit), r.note]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        for image in s.images:
            lines += ["", f"![{pathlib.Path(image).stem}]({image})"]
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #1d2430; line-height: 1.45; }
header { border-bottom: 2px solid #2b6cb0; margin-bottom: 1.5em; }
header dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
header dt { font-weight: 600; }
nav ul { columns: 2; }
section { border: 1px solid #d5dbe3; border-radius: 6px; padding: 0.5em 1.2em 1em;
          margin: 1.5em 0; }
section.failed { border-color: #c53030; background: #fff5f5; }
.status { font-size: 0.8em; padding: 0.1em 0.6em; border-radius: 1em; color: white;
          background: #2f855a; vertical-align: middle; }
.failed .status { background: #c53030; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #d5dbe3; padding: 0.3em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #edf2f7; }
.plots { display: flex; flex-wrap: wrap; gap: 0.8em; }
.plots img { max-width: 520px; width: 100%; border: 1px solid #e2e8f0; }
pre { background: #1d2430; color: #f7fafc; padding: 0.8em; overflow-x: auto; }
.meta { color: #5a6575; font-size: 0.9em; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_html(sections: Sequence[Section], header: dict[str, str]) -> str:
    """``index.html``: one static page, relative image links, no scripts."""
    failed = sum(s.status != STATUS_OK for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>hepjax demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header><h1>hepjax demo report</h1><dl>",
    ]
    parts += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in header.items()]
    parts.append(
        f"<dt>examples</dt><dd>{len(sections) - failed} ok, {failed} failed</dd></dl></header>"
    )
    parts.append("<nav><ul>")
    for s in sections:
        parts.append(
            f'<li><a href="#{_e(s.name)}">{_e(s.name)}</a> '
            f'<span class="meta">({_e(s.status)}, {s.seconds:.0f} s)</span></li>'
        )
    parts.append("</ul></nav>")
    for s in sections:
        css = "" if s.status == STATUS_OK else ' class="failed"'
        parts.append(f'<section id="{_e(s.name)}"{css} data-example="{_e(s.name)}">')
        parts.append(f'<h2>{_e(s.name)} <span class="status">{_e(s.status)}</span></h2>')
        parts.append(f"<p>{_e(s.summary)}</p>")
        if s.paper is not None:
            parts.append(
                f'<p class="meta">Paper: <a href="{_e(s.paper.url)}">{_e(s.paper.title)}</a> '
                f"(arXiv:{_e(s.paper.arxiv)}). {_e(s.paper.summary)}</p>"
            )
        parts.append(f'<p class="meta">scale <b>{_e(s.scale)}</b>, {s.seconds:.1f} s</p>')
        if s.status != STATUS_OK:
            parts.append(f"<pre>{_e(s.error.rstrip())}</pre></section>")
            continue
        if s.rows:
            parts.append(
                "<table><thead><tr><th>quantity</th><th>paper</th><th>this run</th>"
                "<th>note</th></tr></thead><tbody>"
            )
            for r in s.rows:
                parts.append(
                    f"<tr><td>{_e(r.quantity)}</td>"
                    f'<td class="num">{_e(_with_unit(r.paper, r.unit))}</td>'
                    f'<td class="num">{_e(_with_unit(r.run, r.unit))}</td>'
                    f"<td>{_e(r.note)}</td></tr>"
                )
            parts.append("</tbody></table>")
        if s.images:
            parts.append('<div class="plots">')
            parts += [
                f'<a href="{_e(i)}"><img src="{_e(i)}" alt="{_e(pathlib.Path(i).stem)}"></a>'
                for i in s.images
            ]
            parts.append("</div>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    out: str | os.PathLike, sections: Sequence[Section], header: dict[str, str]
) -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``out/index.html`` and ``out/summary.md`` atomically; returns their paths."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    page, summary = out / "index.html", out / "summary.md"
    _atomic_write(page, render_html(sections, header))
    _atomic_write(summary, render_markdown(sections, header))
    return page, summary
