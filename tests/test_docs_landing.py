"""The landing page's "What is here" table names every public subpackage of hepjax.

The subpackages are found with ``pkgutil`` on the source tree (nothing is
imported), skipping private ``_`` modules and everything below them.
"""

import pathlib
import pkgutil
import re

import hepjax

INDEX = pathlib.Path(__file__).resolve().parents[1] / "docs" / "index.md"


def public_subpackages(path: list[str] = hepjax.__path__, prefix: str = "hepjax.") -> list[str]:
    """Dotted names of hepjax's public subpackages, recursively, without importing them."""
    names = []
    for info in pkgutil.iter_modules(path, prefix):
        if not info.ispkg or info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        names.append(info.name)
        sub = pathlib.Path(info.module_finder.path) / info.name.rsplit(".", 1)[-1]
        names += public_subpackages([str(sub)], info.name + ".")
    return sorted(names)


def table_modules(text: str) -> set[str]:
    """The ``hepjax.*`` names in the module column of the "What is here" table."""
    section = text.split("## What is here", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert len(rows) > 2, "docs/index.md: the 'What is here' table is gone"
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    column = header.index("module")
    names = set()
    for row in rows[2:]:
        cell = row.strip("|").split("|")[column]
        names.update(re.findall(r"`(hepjax(?:\.\w+)+)`", cell))
    return names


def test_public_subpackages_are_found():
    found = public_subpackages()
    # a few that must be there, and none private
    assert {"hepjax.sim", "hepjax.sim.gillespie", "hepjax.sbi.tasks", "hepjax.metrics.jets"} <= set(
        found
    )
    assert not [name for name in found if "._" in name]


def test_landing_page_lists_every_public_subpackage():
    listed = table_modules(INDEX.read_text())
    missing = [name for name in public_subpackages() if name not in listed]
    assert not missing, (
        "docs/index.md's 'What is here' table misses these public subpackages "
        f"(add a row for each): {', '.join(missing)}"
    )
    assert "hepjax.train" in listed and "hepjax.jets" in listed


def test_the_check_can_fail():
    text = INDEX.read_text().replace("`hepjax.sim.lensing`", "`lensing`")
    assert "hepjax.sim.lensing" not in table_modules(text)


#: hepjax.jets is merged today from another branch; its API page comes with it
#: (or is added by the lead), after which this is emptied.
API_PAGE_COMES_WITH_MERGE: tuple[str, ...] = ()


def test_every_public_subpackage_has_an_api_page_in_the_nav():
    import yaml

    root = INDEX.parents[1]
    nav = yaml.safe_load((root / "mkdocs.yml").read_text())["nav"]
    api = next(entry["API"] for entry in nav if isinstance(entry, dict) and "API" in entry)
    pages = [root / "docs" / path for item in api for path in item.values()]
    documented = set()
    for page in pages:
        documented.update(re.findall(r"^::: (hepjax[\w.]*)\s*$", page.read_text(), re.M))
    missing = [
        name
        for name in public_subpackages()
        if name not in documented and name not in API_PAGE_COMES_WITH_MERGE
    ]
    assert not missing, f"no API page in mkdocs.yml's API nav renders: {', '.join(missing)}"


def test_every_top_level_subpackage_is_an_attribute_of_hepjax():
    # `import hepjax; hepjax.calo` works through the lazy import list in hepjax/__init__.py
    top = [name.split(".")[1] for name in public_subpackages() if name.count(".") == 1]
    missing = [name for name in top if name not in hepjax._SUBPACKAGES]
    assert not missing, f"hepjax/__init__.py's _SUBPACKAGES misses {missing}"
    assert all(getattr(hepjax, name).__name__ == f"hepjax.{name}" for name in top)
