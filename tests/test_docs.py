"""The documentation site: built strictly, with every tutorial executed and showing its results.

The pages' ```python exec="on" blocks run at build time (the ``markdown-exec``
plugin, one session per page, so a page's blocks share their state in order as
a reader would run them); a block that raises makes the strict build fail,
with the block and its traceback in the log. Blocks without ``exec="on"`` are
templates, shown but not run. The site is built once per test module.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest
from cli.browser import find_chromium
from docs_browser import probe_page

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)
TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))
#: Pages whose Python blocks are templates only (a layout to copy), none executed.
TEMPLATE_PAGES = {"organisation.md"}


def python_blocks(page: pathlib.Path) -> list[tuple[str, str]]:
    """``(fence options, code)`` of every ```python block of a page."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text())]


def executed(options: str) -> bool:
    return 'exec="on"' in options


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    mkdocs = pathlib.Path(sys.executable).parent / "mkdocs"
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    return out


def test_every_page_with_code_executes_it():
    pages = [p for p in DOCS.rglob("*.md") if python_blocks(p)]
    assert len(pages) >= len(TUTORIALS) > 10
    for page in pages:
        blocks = python_blocks(page)
        if page.name in TEMPLATE_PAGES:
            assert not any(executed(o) for o, _ in blocks), page
            continue
        assert any(executed(o) for o, _ in blocks), f"{page} has no executed block"
        sessions = set(re.findall(r'session="([^"]+)"', " ".join(o for o, _ in blocks)))
        assert len(sessions) <= 1, f"{page}: blocks in several sessions {sessions}"
        if page.parent.name == "tutorials":
            assert any(executed(o) and 'html="on"' in o for o, _ in blocks), (
                f"{page}: no block shows a figure"
            )


def test_site_builds_strictly_without_writing_into_the_checkout(site):
    assert (site / "tutorials" / "training" / "index.html").exists()
    # MathJax ships with the site (scripts/mkdocs_hooks.py); no page loads a script from a CDN
    assert (site / "assets" / "mathjax" / "tex-svg.js").is_file()
    page = (site / "tutorials" / "flow-matching-2d" / "index.html").read_text()
    assert 'src="../../assets/mathjax/tex-svg.js"' in page and 'class="arithmatex"' in page
    assert not re.findall(r'<script[^>]*src="(?:https?:)?//', page)
    # the gallery: an index row per research system, a page each
    index = (site / "gallery" / "index.html").read_text()
    assert len(re.findall(r'<td><a href="\d\d-[a-z0-9-]+/">', index)) == 16
    # the pages ran in a scratch folder: the files they write are not in the checkout
    for name in ("event.json", "backbone", "npe_two_moons.png"):
        assert not (ROOT / name).exists(), name


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_shows_its_outputs_and_figures(site, page):
    html = (site / "tutorials" / page.stem / "index.html").read_text()
    assert "Execution of python code block" not in html  # no traceback rendered in the page
    results = re.findall(r'<div class="result"[^>]*>(.*?)</div>\s*</div>', html, re.S)
    assert results, f"{page.name}: no executed block rendered a result"
    figures = re.findall(
        r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]{2000,})"', html
    )
    assert figures, f"{page.name}: no figure"


def test_tutorials_render_math_and_figures_offline_in_a_browser(site):
    browser = find_chromium()
    if browser is None:
        pytest.skip("no Chromium-family browser (Debian: apt-get install chromium)")
    for page in TUTORIALS:
        seen = probe_page(browser, site / "tutorials" / page.stem / "index.html")
        figures = [i for i in seen["images"] if i["alt"]]
        assert figures and all(i["width"] > 0 for i in figures), (page.name, seen["images"])
        assert seen["error"] is None and seen["merrors"] == 0 and seen["raw"] == [], (
            page.name,
            seen,
        )
        if "$" in page.read_text():
            assert seen["containers"] > 0, (page.name, seen)
    recorded = sorted((ROOT / "docs" / "gallery" / "runs").glob("*/run.json"))
    assert recorded, "no recorded run in docs/gallery/runs"
    for page in sorted((site / "gallery").glob("[0-9]*/index.html")):
        html = page.read_text()
        if any(f"runs/{run.parent.name}/" in html for run in recorded):
            seen = probe_page(browser, page)
            figures = [i for i in seen["images"] if "runs/" in i.get("src", "")]
            assert figures and all(i["width"] > 0 for i in figures), (page, seen["images"])
