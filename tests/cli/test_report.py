"""The results page: formatting, flat tables, and the page as a real browser loads it."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from hepjax.cli import Paper, Row
from hepjax.cli._report import Section, format_value, render_html, render_markdown

from .browser import find_chromium, probe_page, screenshot


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0.123456, "0.123"),
        (12.3456, "12.3"),
        (1234.5, "1234"),
        (2.5e-6, "2.50e-06"),
        (123456.0, "1.23e+05"),
        (10_000, "10 000"),
        ((0.5567, 0.0071), "0.5567 ± 0.0071"),
        ((12.34, 1.5), "12.3 ± 1.5"),
        (True, "yes"),
        ("< 1", "< 1"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


def _sections():
    paper = Paper("A <paper> & co", "2310.00049", "Generates jets.")
    ok = Section(
        "gen",
        "makes jets",
        "tour",
        3.2,
        "ok",
        paper=paper,
        rows=[Row("W1M", (0.52, 0.05), 0.61, unit="x 1e-3", note="paper | full")],
        images=["gen/mass.png"],
    )
    bad = Section("broken", "fails", "tour", 0.1, "failed", error="Traceback\nRuntimeError: boom")
    return [ok, bad]


def test_markdown_has_flat_tables_and_errors():
    text = render_markdown(_sections(), {"jax": "0.10.2"})
    assert "| gen | tour | ok | 3.2 |" in text and "| broken | tour | failed | 0.1 |" in text
    assert "| W1M | 0.520 ± 0.050 x 1e-3 | 0.610 x 1e-3 | paper \\| full |" in text
    assert "RuntimeError: boom" in text and "{" not in text  # no dictionaries in cells


def test_html_escapes_and_has_one_section_per_example():
    page = render_html(_sections(), {"jax": "0.10.2"})
    assert "A &lt;paper&gt; &amp; co" in page and "<script" not in page
    assert page.count("<section") == 2 and 'class="failed"' in page
    assert 'href="https://arxiv.org/abs/2310.00049"' in page


GOOD = """
import numpy as np
from hepjax.cli import Paper, Row, register
from hepjax._core import figure

def report(metrics, scale):
    return [Row("answer", 42, metrics["answer"], note=f"scale {scale}")]

@register("page-good", summary="draws a plot", report=report,
          paper=Paper("A paper", "2401.00001", "Does a thing."))
def run(*, scale, out):
    with figure(out / "line.png") as (fig, ax):
        ax.plot(np.arange(10), np.arange(10) ** 2)
    return {"answer": 42.0, "nested": {"a": 1.0}}
"""

BAD = """
from hepjax.cli import register

@register("page-bad", summary="fails")
def run(*, scale, out):
    raise RuntimeError("broken on purpose")
"""


def test_demo_page_loads_in_a_real_browser(tmp_path):
    browser = find_chromium()
    if browser is None:
        pytest.skip("no Chromium-family browser (Debian: apt-get install chromium)")
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "good.py").write_text(textwrap.dedent(GOOD))
    (examples / "bad.py").write_text(textwrap.dedent(BAD))
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "hepjax.cli", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HEPJAX_EXAMPLES": str(examples)},
        check=False,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]  # the failure shows, after the whole report
    assert json.loads((out / "page-good" / "metrics.json").read_text()) == {
        "answer": 42.0,
        "nested.a": 1.0,
    }
    seen = probe_page(browser, out / "index.html")
    assert seen["sections"] == ["page-bad", "page-good"]
    assert seen["images"] == [{"src": "page-good/line.png", "width": 660}]
    shot = tmp_path / "shot.png"
    screenshot(browser, out / "index.html", shot, size=(1000, 800))
    assert shot.stat().st_size > 10_000
    # the check can fail: a missing plot has no natural width
    page = out / "index.html"
    page.write_text(page.read_text().replace("page-good/line.png", "page-good/missing.png"))
    assert probe_page(browser, page)["images"][0]["width"] == 0


def test_every_repository_example_names_its_paper_and_reports_rows():
    from hepjax.cli import _registry

    for name, example in _registry.discover().items():
        assert example.paper is not None, f"example {name} needs paper=Paper(...)"
        assert example.report is not None, f"example {name} needs report=..."
        module = __import__("sys").modules[
            f"hepjax_examples.{example.source.rsplit('/', 1)[-1][:-3]}"
        ]
        scales = getattr(module, "SCALES", None) or module.jg.SCALES
        assert set(scales) == {"tour", "small", "paper"}, (name, sorted(scales))
