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
"""

import importlib.util
import os
import pathlib
import shutil
import sys
import tempfile

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

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


def _gallery():
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import gallery

    return gallery


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


def on_files(files: Files, config) -> Files:
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


def on_pre_build(config) -> None:
    _previous_cwd.append(os.getcwd())
    os.chdir(tempfile.mkdtemp(prefix="hepjax-docs-"))


def on_post_build(config) -> None:
    scratch = os.getcwd()
    os.chdir(_previous_cwd.pop())
    shutil.rmtree(scratch, ignore_errors=True)


def on_build_error(error) -> None:
    if _previous_cwd:
        on_post_build(None)
