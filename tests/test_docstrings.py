"""Every public function or method of three or more parameters documents them in ``Args:``.

Public means exported by a public subpackage (``from ._x import Name as Name``
in its ``__init__``, defined in hepjax), and for exported classes their public
methods plus ``__init__`` and ``__call__``. Parameters are counted without
``self``/``cls`` and ``*args``/``**kwargs``. The docstring is read with
``inspect.getdoc``, so an override without a docstring of its own is documented
by its base class's; an ``__init__`` may document its arguments in the class
docstring or a hepjax base class's (the API pages merge the two), where the
``Attributes:`` of a dataclass-like ``eqx.Module`` count as its arguments. Its
Google-style ``Args:`` (or ``Keyword Args:``) sections must name every
parameter (``a, b: ...`` describes two).

Modules being merged today from other branches are skipped through
``BEING_MERGED_TODAY``.
"""

import importlib
import inspect
import pathlib
import re

import pytest
from test_docs_landing import public_subpackages

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Modules exempted while another branch is being merged into them (empty now).
BEING_MERGED_TODAY: tuple[str, ...] = ()

SECTION = re.compile(r"^(\s*)(Args|Arguments|Keyword Args|Keyword Arguments|Attributes):\s*$")
# ``name:``, ``name (type):``, or ``a, b: ...`` for several parameters described together
ENTRY = re.compile(r"^\s*(\**\w+(?:\s*,\s*\**\w+)*)\s*(\([^)]*\))?\s*:")


def documented_args(doc: str | None, attributes: bool = False) -> set[str]:
    """The parameter names in a Google-style docstring's ``Args:`` sections.

    With ``attributes``, the ``Attributes:`` section counts too: the fields of a
    dataclass-like ``eqx.Module`` are the arguments of its ``__init__``.
    """
    lines = (doc or "").splitlines()
    names: set[str] = set()
    i = 0
    while i < len(lines):
        match = SECTION.match(lines[i])
        i += 1
        if not match or (match.group(2) == "Attributes" and not attributes):
            continue
        indent, entry_indent = len(match.group(1)), None
        while i < len(lines):
            line = lines[i]
            depth = len(line) - len(line.lstrip())
            if line.strip() and depth <= indent:
                break
            if line.strip():
                entry_indent = entry_indent or depth
                if depth == entry_indent and (entry := ENTRY.match(line)):
                    names.update(n.strip().lstrip("*") for n in entry.group(1).split(","))
            i += 1
    return names


def parameters(function) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return [
        p.name
        for p in signature.parameters.values()
        if p.kind in kinds and p.name not in ("self", "cls")
    ]


def source_path(obj) -> str | None:
    try:
        path = inspect.getsourcefile(inspect.unwrap(obj))
    except TypeError:
        return None
    if path is None:
        return None
    try:
        return pathlib.Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return None


def _methods(cls):
    for name, attr in vars(cls).items():
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        function = getattr(attr, "method", attr)  # equinox wraps methods of Modules
        function = getattr(function, "__func__", function)  # classmethod, staticmethod
        if isinstance(attr, property) or not callable(function):
            continue
        yield name, function


def public_callables():
    """``(qualified name, function, docstring, source path)`` of hepjax's public API."""
    seen = set()
    for package_name in public_subpackages():
        package = importlib.import_module(package_name)
        for name, obj in sorted(vars(package).items()):
            if name.startswith("_") or not getattr(obj, "__module__", "").startswith("hepjax"):
                continue
            if inspect.ismodule(obj):
                continue
            if inspect.isclass(obj):
                for method_name, function in _methods(obj):
                    key = (obj.__module__, obj.__qualname__, method_name)
                    if key in seen:
                        continue
                    seen.add(key)
                    doc = inspect.getdoc(getattr(obj, method_name))
                    if method_name == "__init__":  # fields may be documented on a base class
                        bases = [c for c in obj.__mro__ if c.__module__.startswith("hepjax")]
                        doc = "\n".join([doc or "", *(inspect.getdoc(c) or "" for c in bases)])
                    qualname = f"{package_name}.{name}.{method_name}"
                    yield qualname, function, doc, source_path(obj)
            elif callable(obj):
                key = (obj.__module__, getattr(obj, "__qualname__", name), None)
                if key in seen:
                    continue
                seen.add(key)
                yield f"{package_name}.{name}", obj, inspect.getdoc(obj), source_path(obj)


def missing_args() -> dict[str, list[str]]:
    missing = {}
    for qualname, function, doc, path in public_callables():
        if path is None or path.startswith(BEING_MERGED_TODAY):
            continue
        params = parameters(function)
        if len(params) < 3:
            continue
        documented = documented_args(doc, attributes=qualname.endswith(".__init__"))
        undocumented = [p for p in params if p not in documented]
        if undocumented:
            missing[qualname] = undocumented
    return missing


def test_args_parser():
    doc = inspect.cleandoc(
        """Summary.

        Args:
            x: the points, shape ``(n, d)``.
                A continuation line: ``y:`` here is not an argument.
            mask (Bool[Array, "n"]): which rows are real.
            lo, hi: the range.

        Keyword Args:
            key: a PRNG key.

        Returns:
            value: not an argument.
        """
    )
    assert documented_args(doc) == {"x", "mask", "lo", "hi", "key"}
    assert documented_args(None) == set()
    fields = "Fields.\n\nAttributes:\n    radius: ``(L,)`` radii in mm.\n"
    assert documented_args(fields) == set()
    assert documented_args(fields, attributes=True) == {"radius"}


def test_public_api_is_found():
    names = {qualname for qualname, *_ in public_callables()}
    assert "hepjax.train.fit" in names
    assert "hepjax.sbi.NPE.__init__" in names or "hepjax.sbi.NPE.fit" in names


def test_public_functions_document_their_args():
    missing = missing_args()
    if missing:
        listing = "\n".join(
            f"  {name}: {', '.join(args)}" for name, args in sorted(missing.items())
        )
        pytest.fail(
            f"{len(missing)} public functions of 3+ parameters lack these in their Args: "
            f"section:\n{listing}"
        )
