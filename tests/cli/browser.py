"""Headless Chromium for the results-page tests: load checks and screenshots.

The page itself carries no JavaScript. To learn whether its images loaded, the
check writes a probe copy of the page next to it (so relative links resolve
the same way) with one script that, after the ``load`` event, records each
image's ``naturalWidth`` and each section's example name into the DOM, which
``chromium --dump-dom`` then prints.
"""

import json
import pathlib
import re
import shutil
import subprocess

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_PROBE = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images).map(i => ({src: i.getAttribute("src"),
                                                       width: i.naturalWidth}));
  const sections = Array.from(document.querySelectorAll("section[data-example]"))
                        .map(s => s.dataset.example);
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images, sections});
  document.body.appendChild(out);
});
</script>
"""


def find_chromium() -> str | None:
    """The path of a Chromium-family browser, or ``None``."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(browser: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            browser,
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--allow-file-access-from-files",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def probe_page(browser: str, page: pathlib.Path) -> dict:
    """``{"images": [{"src", "width"}], "sections": [names]}`` as Chromium loaded ``page``."""
    page = pathlib.Path(page).resolve()
    probe = page.with_name(".probe-" + page.name)
    probe.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    try:
        proc = _run(browser, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    if match is None:
        raise RuntimeError(f"the probe did not run in {browser}: {proc.stderr[-2000:]}")
    text = match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&amp;", "&"))


def screenshot(browser: str, page: pathlib.Path, png: pathlib.Path, size=(1280, 1800)) -> None:
    """Render ``page`` and save a PNG screenshot of its top ``size`` pixels."""
    png = pathlib.Path(png).resolve()
    proc = _run(
        browser,
        f"--window-size={size[0]},{size[1]}",
        "--hide-scrollbars",
        "--virtual-time-budget=20000",
        f"--screenshot={png}",
        pathlib.Path(page).resolve().as_uri(),
    )
    if not png.exists():
        raise RuntimeError(f"no screenshot from {browser}: {proc.stderr[-2000:]}")
