"""Layer 5: the ``hepjax`` command line and the registry of examples."""

from ._registry import Example as Example
from ._registry import Paper as Paper
from ._registry import Row as Row
from ._registry import discover as discover
from ._registry import example_main as example_main
from ._registry import get_example as get_example
from ._registry import register as register
from ._registry import run_example as run_example
from ._report import format_value as format_value


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hepjax`` console script."""
    from ._main import main as _main

    return _main(argv)


__all__ = [
    "Example",
    "Paper",
    "Row",
    "discover",
    "example_main",
    "format_value",
    "get_example",
    "main",
    "register",
    "run_example",
]
