"""Execute the Python code blocks of every page in docs/, in order, sharing state.

Each Markdown page is one test: its ```python blocks run one after another in
one namespace, as a reader would run them, with line numbers in tracebacks
pointing into the page. Blocks marked ```python notest are templates, not run.
The mkdocs site itself is built in strict mode by ``test_docs_site_builds``.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)
PAGES = sorted(p for p in DOCS.rglob("*.md") if FENCE.search(p.read_text()))


def code_blocks(page: pathlib.Path) -> list[tuple[int, str]]:
    text = page.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if "notest" in match.group(1).split():
            continue
        first_line = text.count("\n", 0, match.start(2)) + 1
        blocks.append((first_line, match.group(2)))
    return blocks


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_docs_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files a page writes land in a temporary folder
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for first_line, code in code_blocks(page):
        padded = "\n" * (first_line - 1) + code
        exec(compile(padded, str(page), "exec"), namespace)


def test_every_page_with_code_has_runnable_blocks():
    assert PAGES, "docs/ should contain executed tutorials"
    for page in PAGES:
        if page.name != "organisation.md":
            assert code_blocks(page), f"{page} has only notest blocks"


def test_docs_site_builds(tmp_path):
    mkdocs = pathlib.Path(sys.executable).parent / "mkdocs"
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "tutorials" / "training" / "index.html").exists()
    # MathJax ships with the site (scripts/mkdocs_hooks.py); no page loads a script from a CDN
    assert (tmp_path / "assets" / "mathjax" / "tex-svg.js").is_file()
    page = (tmp_path / "tutorials" / "flow-matching-2d" / "index.html").read_text()
    assert 'src="../../assets/mathjax/tex-svg.js"' in page and 'class="arithmatex"' in page
    assert not re.findall(r'<script[^>]*src="(?:https?:)?//', page)
