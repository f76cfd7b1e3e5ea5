"""The site renders its mathematics offline: MathJax ships with it (no CDN).

A small site is built with the real ``mkdocs.yml``'s theme, Markdown extensions,
``extra_javascript`` and hooks (only the API plugin and the nav are left out, so
it builds in seconds), one page with inline, display and autoloaded maths. The
page is opened from disk (``file://``) in headless Chromium with every network
request sent to a dead proxy; a script injected after the page's own waits for
MathJax and records what it rendered.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from cli.browser import find_chromium
from docs_browser import probe_page

ROOT = pathlib.Path(__file__).resolve().parents[1]

PAGE = r"""# Maths

Inline $\theta \sim \mathcal N(0, 1)$ and \(p_T\), display

$$
\mathcal L(\theta) = \mathbb E_{t, x_t}\,\lVert v_\theta(t, x_t) - u_t \rVert^2,
\qquad \boldsymbol{x} \in \mathbb R^3 .
$$
"""


def build_small_site(tmp_path: pathlib.Path) -> pathlib.Path:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs" / "javascripts", docs / "javascripts")
    (docs / "index.md").write_text(PAGE)
    config.update(
        docs_dir=str(docs),
        site_dir=str(tmp_path / "site"),
        nav=[{"Maths": "index.md"}],
        plugins=["search"],
        hooks=[str(ROOT / hook) for hook in config["hooks"]],
    )
    config_file = tmp_path / "mkdocs.yml"
    config_file.write_text(yaml.safe_dump(config))
    mkdocs = pathlib.Path(sys.executable).parent / "mkdocs"
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "--config-file", str(config_file)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return tmp_path / "site"


def test_math_renders_offline_from_disk(tmp_path):
    site = build_small_site(tmp_path)
    page = site / "index.html"
    html = page.read_text()
    assert (site / "assets" / "mathjax" / "tex-svg.js").is_file()
    assert (
        site / "assets" / "mathjax" / "input" / "tex" / "extensions" / "boldsymbol.js"
    ).is_file()
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert not [s for s in scripts if s.startswith(("http:", "https:", "//"))], scripts
    assert html.count('class="arithmatex"') == 3  # the page's maths, still TeX before MathJax runs
    browser = find_chromium()
    if browser is None:
        pytest.skip("no Chromium-family browser (Debian: apt-get install chromium)")
    seen = probe_page(browser, page)
    assert seen["mathjax"] and seen["error"] is None, seen
    assert seen["containers"] == 3 and seen["svgs"] == 3, seen
    assert seen["merrors"] == 0, seen  # \boldsymbol was autoloaded from the site
    assert seen["raw"] == [], seen
