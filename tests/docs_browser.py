"""Open a built docs page in headless Chromium, offline, and record what it rendered.

The probe script, injected after the page's own, waits for MathJax and records
its rendered containers, any raw TeX left, and every image with its
``naturalWidth`` (0 when it did not load).
"""

import json
import pathlib
import re
import subprocess

PROBE = """
<script>
window.addEventListener("load", async () => {
  const out = {mathjax: typeof MathJax !== "undefined" && !!MathJax.startup, error: null};
  try {
    await MathJax.startup.promise;
  } catch (e) {
    out.error = String(e);
  }
  out.containers = document.querySelectorAll("mjx-container").length;
  out.svgs = document.querySelectorAll("mjx-container svg").length;
  out.merrors = document.querySelectorAll('[data-mml-node="merror"]').length;
  out.raw = Array.from(document.querySelectorAll(".arithmatex"))
                 .map(e => e.textContent).filter(t => t.includes("\\\\(") || t.includes("\\\\["));
  const source = i => {
    const src = i.getAttribute("src") || "";
    return src.startsWith("data:") ? "data:" : src;  // inline figures: not their bytes
  };
  out.images = Array.from(document.images)
                    .map(i => ({alt: i.alt, src: source(i), width: i.naturalWidth}));
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def probe_page(browser: str, page: pathlib.Path) -> dict:
    """Open ``page`` from disk with no network and return what the probe recorded."""
    probe = page.with_name(".probe-" + page.name)
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    proc = subprocess.run(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            # no network: every http(s) request goes to a closed port
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            "--virtual-time-budget=15000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    if match is None:
        raise RuntimeError(f"the probe did not run in {browser}: {proc.stderr[-2000:]}")
    text = match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&amp;", "&"))
