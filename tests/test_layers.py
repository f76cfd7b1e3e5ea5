"""The layer rule of docs/organisation.md, checked on every import in the package.

An import may only go down the layers (or stay within one), and the task
packages of layer 4 never import each other: a part two tasks need moves down
to a layer both can reach. Imports inside functions count as much as those at
the top of a module.
"""

import ast
import pathlib

import pytest

import hepjax

PACKAGE = pathlib.Path(hepjax.__file__).parent

LAYERS = {
    "_core": 0,
    "estimators": 1,
    "manifolds": 1,
    "physics": 1,
    "sim": 2,
    "data": 2,
    "generative": 3,
    "nn": 3,
    "train": 3,
    "metrics": 3,
    "sbi": 4,
    "tracking": 4,
    "radiation": 4,
    "calo": 4,
    "design": 4,
    "jets": 4,
    "scaling": 4,
    "robust": 4,
    "anomaly": 4,
    "pileup": 4,
    "events": 4,
    "cli": 5,
}
TASK_LAYER = 4


def _modules(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _subpackage(path: pathlib.Path, root: pathlib.Path) -> str | None:
    parts = path.relative_to(root).parts
    return parts[0].removesuffix(".py") if len(parts) > 1 else None


def _imported_subpackages(
    path: pathlib.Path, root: pathlib.Path = PACKAGE
) -> list[tuple[int, str]]:
    """``(line, subpackage)`` for every import of ``hepjax.<subpackage>`` in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["hepjax", *path.relative_to(root).parent.parts]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "hepjax" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _violations(root: pathlib.Path = PACKAGE) -> list[str]:
    problems = []
    for path in _modules(root):
        home = _subpackage(path, root)
        if home is None:  # hepjax/__init__.py loads subpackages lazily
            continue
        if home not in LAYERS:
            problems.append(f"{path.relative_to(root)}: subpackage {home!r} has no layer")
            continue
        for line, target in _imported_subpackages(path, root):
            if target == home:
                continue
            where = f"{path.relative_to(root.parent)}:{line} imports hepjax.{target}"
            if target not in LAYERS:
                problems.append(f"{where}, which has no layer")
            elif LAYERS[target] > LAYERS[home]:
                problems.append(
                    f"{where} (layer {LAYERS[target]}) from layer {LAYERS[home]}: upward import"
                )
            elif LAYERS[target] == LAYERS[home] == TASK_LAYER:
                problems.append(f"{where}: task packages never import each other")
    return problems


def test_imports_only_go_down_and_tasks_never_import_each_other():
    problems = _violations()
    assert not problems, "layer rule broken:\n" + "\n".join(problems)


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subpackages <= set(LAYERS), sorted(subpackages - set(LAYERS))


@pytest.mark.parametrize(
    ("source", "home", "expected"),
    [
        ("from ..sbi import NPE", "tracking/_x.py", [(1, "sbi")]),
        ("import hepjax.train as ht", "nn/_x.py", [(1, "train")]),
        ("from hepjax._core import figure", "sim/a/_x.py", [(1, "_core")]),
        ("from . import _y", "metrics/_x.py", [(1, "metrics")]),
        ("def f():\n    from ...data import Batches", "sim/a/_x.py", [(2, "data")]),
    ],
)
def test_the_walker_sees_relative_absolute_and_local_imports(tmp_path, source, home, expected):
    """The checker itself: relative imports resolve against the module's package."""
    fake = tmp_path / "hepjax" / home
    fake.parent.mkdir(parents=True)
    fake.write_text(source)
    assert _imported_subpackages(fake, tmp_path / "hepjax") == expected


def test_the_checker_reports_upward_and_sideways_imports(tmp_path):
    root = tmp_path / "hepjax"
    files = {
        "nn/_a.py": "from ..sbi import NPE",  # layer 3 -> 4: upward
        "tracking/_b.py": "def f():\n    import hepjax.sbi",  # task -> task
        "sbi/_c.py": "from ..train import fit\nfrom .._core import figure",  # fine
        "wild/_d.py": "",  # a subpackage with no layer
    }
    for name, source in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source)
    problems = sorted(_violations(root))
    assert problems == [
        "hepjax/nn/_a.py:1 imports hepjax.sbi (layer 4) from layer 3: upward import",
        "hepjax/tracking/_b.py:2 imports hepjax.sbi: task packages never import each other",
        "wild/_d.py: subpackage 'wild' has no layer",
    ]
