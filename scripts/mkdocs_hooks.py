"""MkDocs hooks: MathJax shipped with the site (no CDN), executed pages in a scratch folder.

MathJax 3 comes from the ``django-static-mathjax`` wheel on PyPI (the ``docs``
extra pins it): a plain copy of MathJax's ``es5`` build, with no dependencies
(Django is not needed to read its files). ``on_files`` adds the SVG output
component (``tex-svg.js``: its glyphs are paths inside the script, so no web
font has to load, which browsers refuse for pages opened from ``file://``), the
TeX extensions it may autoload and MathJax's licence to the site under
``assets/mathjax/``. ``mkdocs.yml`` lists ``assets/mathjax/tex-svg.js`` in
``extra_javascript``, after ``javascripts/mathjax.js`` which configures it for
``pymdownx.arithmatex``'s ``generic`` output. The built site therefore renders
its mathematics offline.

The "Research systems" gallery is generated here too: ``on_config`` adds its pages to the
nav and ``on_files`` adds them to the site, written by ``scripts/gallery.py`` from
``docs/gallery/systems.toml``, the example registry and the runs recorded under
``docs/gallery/runs/`` (a site whose docs folder has no ``gallery/systems.toml`` has no
gallery).

The tutorials' code blocks run at build time (the ``markdown-exec`` plugin),
and some of them write files (a checkpoint, an event display). ``on_pre_build``
moves the working directory to a fresh temporary folder for the build and
``on_post_build`` moves it back and removes the folder, so a build leaves
nothing in the checkout; every path mkdocs itself uses is absolute by then.
The tutorials run at tour size, where most of the time goes to XLA compiling small
programs: the hooks select XLA's CPU backend at optimisation level 0, which compiles
them faster and computes the same values (as ``tests/conftest.py`` does; a level
already set in ``XLA_FLAGS`` wins), and log each page's execution time. The pages at
the end of the build order run ahead in a second process (``scripts/docs_prerun.py``)
while mkdocs renders the first ones, so the two cores share the tutorials
(``HEPJAX_DOCS_JOBS=1`` runs everything in the build's own process).
"""

import importlib
import importlib.util
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    # before any tutorial imports jax (the hooks load with the configuration)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

log = logging.getLogger("mkdocs.hooks.hepjax")
SITE_DIR = "assets/mathjax"
#: What the site needs from MathJax's es5 build, relative to it.
PARTS = ("tex-svg.js", "input/tex/extensions")


def mathjax_root() -> pathlib.Path:
    """MathJax's ``es5`` build directory, from the installed ``django-static-mathjax``."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(
            "MathJax is not installed: pip install 'hepjax[docs]' (django-static-mathjax)"
        )
    root = pathlib.Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
    if not (root / "es5" / PARTS[0]).is_file():
        raise PluginError(f"no MathJax es5 build under {root}: reinstall django-static-mathjax")
    return root


def _gallery_systems(config) -> pathlib.Path | None:
    path = pathlib.Path(config["docs_dir"]) / "gallery" / "systems.toml"
    return path if path.is_file() else None


def _script(name: str):
    """A module of ``scripts/`` (the gallery writer, the pre-run worker)."""
    folder = str(pathlib.Path(__file__).resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def _gallery():
    return _script("gallery")


def on_config(config):
    systems_toml = _gallery_systems(config)
    if systems_toml is None or config["nav"] is None:
        return config
    systems = _gallery().load_systems(systems_toml)
    section = ["gallery/index.md", *({s.name: f"gallery/{s.slug}.md"} for s in systems)]
    nav = [entry for entry in config["nav"] if "Research systems" not in entry]
    where = next((i for i, e in enumerate(nav) if "API" in e), len(nav))
    nav.insert(where, {"Research systems": section})
    config["nav"] = nav
    return config


class _Prerun:
    """The second process of a build, and the outputs of the pages it ran."""

    def __init__(self, pages: list[pathlib.Path], scratch: pathlib.Path):
        self.out = scratch / "prerun"
        self.out.mkdir()
        workdir = scratch / "prerun-cwd"
        workdir.mkdir()
        prerun = _script("docs_prerun")
        self.sessions = {prerun.page_session(p.read_text()) for p in pages}
        self.log = (self.out / "worker.log").open("w")
        script = pathlib.Path(__file__).resolve().parent / "docs_prerun.py"
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(self.out), *map(str, pages)],
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.done: dict[str, list[dict]] = {}
        self.position: dict[str, int] = {}

    def output(self, session: str, code: str) -> str:
        from markdown_exec._internal.formatters.base import ExecutionError

        blocks = self.done.get(session) or self._wait(session)
        index = self.position.get(session, 0)
        self.position[session] = index + 1
        digest = _script("docs_prerun").code_digest(code)
        if index >= len(blocks) or blocks[index]["sha1"] != digest:
            raise PluginError(
                f"docs pre-run: block {index + 1} of session {session!r} is not the code the "
                "second process ran (was the page edited during the build?)"
            )
        if "error" in blocks[index]:
            raise ExecutionError(blocks[index]["error"])
        return blocks[index]["output"]

    def _wait(self, session: str) -> list[dict]:
        path = self.out / f"{session}.json"
        while not path.exists():
            if self.process.poll() is not None and not path.exists():
                self.log.flush()
                tail = (self.out / "worker.log").read_text()[-3000:]
                raise PluginError(f"docs pre-run stopped before session {session!r}:\n{tail}")
            time.sleep(0.1)
        self.done[session] = json.loads(path.read_text())["blocks"]
        return self.done[session]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.log.close()


_prerun: list[_Prerun] = []


def _start_prerun(files: Files) -> None:
    """Hand the executed pages at the end of the build order (about half of the executed
    blocks) to a second process, and route their blocks to its outputs."""
    if os.environ.get("HEPJAX_DOCS_JOBS", "2") == "1":
        return
    prerun = _script("docs_prerun")
    pages = []
    for file in files.documentation_pages():
        text = pathlib.Path(file.abs_src_path).read_text()
        if prerun.page_session(text) is not None:
            pages.append((pathlib.Path(file.abs_src_path), len(prerun.exec_blocks(text))))
    total, tail = sum(n for _, n in pages), 0
    handed = []
    for path, count in reversed(pages):
        if tail + count > total / 2:
            break
        handed.insert(0, path)
        tail += count
    if not handed:
        return
    from markdown_exec._internal.formatters import python as runner

    worker = _Prerun(handed, pathlib.Path(os.getcwd()))
    original = runner._run_python

    def run_or_fetch(code, returncode=None, session=None, id=None, **extra):
        if session in worker.sessions:
            return worker.output(session, code)
        return original(code, returncode=returncode, session=session, id=id, **extra)

    run_or_fetch.original = original
    runner._run_python = run_or_fetch
    _prerun.append(worker)


def _stop_prerun() -> None:
    from markdown_exec._internal.formatters import python as runner

    while _prerun:
        _prerun.pop().stop()
    runner._run_python = getattr(runner._run_python, "original", runner._run_python)


def on_files(files: Files, config) -> Files:
    _start_prerun(files)
    root = mathjax_root()
    es5 = root / "es5"
    sources = [(root / "LICENSE", "LICENSE")]
    for part in PARTS:
        path = es5 / part
        if path.is_dir():
            sources += [(p, p.relative_to(es5).as_posix()) for p in sorted(path.rglob("*.js"))]
        else:
            sources.append((path, part))
    for path, rel in sources:
        files.append(File.generated(config, f"{SITE_DIR}/{rel}", abs_src_path=str(path)))
    if _gallery_systems(config) is not None:
        docs = pathlib.Path(config["docs_dir"])
        for rel, text in _gallery().pages(docs=docs).items():
            files.append(File.generated(config, rel, content=text))
    return files


_previous_cwd: list[str] = []
_page_started: dict[str, float] = {}


def on_page_markdown(markdown: str, page, config, files) -> str:
    _page_started[page.file.src_uri] = time.perf_counter()
    return markdown


def on_page_content(html: str, page, config, files) -> str:
    """Log how long a page took to render (executed code and API docs included), if long."""
    seconds = time.perf_counter() - _page_started.pop(page.file.src_uri, time.perf_counter())
    if seconds > 2.0:
        log.info(f"{page.file.src_uri}: rendered in {seconds:.1f} s")
    return html


def on_pre_build(config) -> None:
    _previous_cwd.append(os.getcwd())
    os.chdir(tempfile.mkdtemp(prefix="hepjax-docs-"))


def on_post_build(config) -> None:
    _stop_prerun()
    scratch = os.getcwd()
    os.chdir(_previous_cwd.pop())
    shutil.rmtree(scratch, ignore_errors=True)


def on_build_error(error) -> None:
    if _previous_cwd:
        on_post_build(None)
