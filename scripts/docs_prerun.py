"""Run some pages' executed code blocks ahead of the site build, in a second process.

``mkdocs build`` renders pages one after another, and the tutorials' code (run by
``markdown-exec``) is most of the build's time, mostly XLA compiling on one core. The
hooks (``scripts/mkdocs_hooks.py``) hand the pages at the end of the build order to this
script, which runs their blocks with markdown-exec's own runner while mkdocs renders the
first pages, so the two cores share the work. For each page's session it writes
``<out>/<session>.json``: per block the SHA-1 of its code and its output (or the error
markdown-exec reported), in order. The hooks return these outputs when mkdocs reaches
those blocks, after checking that the code is the same.

Usage (by the hooks): ``python scripts/docs_prerun.py OUT PAGE.md [PAGE.md ...]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import sys

FENCE = re.compile(r"^```python\s+(?P<options>.*\bexec=\"on\".*)$")
SESSION = re.compile(r'\bsession="(?P<name>[^"]+)"')


def exec_blocks(markdown: str) -> list[tuple[str | None, str]]:
    """The ``(session, code)`` of every top-level ```python exec="on" block, in order."""
    blocks, code, session = [], None, None
    for line in markdown.splitlines():
        if code is None:
            match = FENCE.match(line)
            if match:
                code = []
                found = SESSION.search(match["options"])
                session = found["name"] if found else None
        elif line.strip() == "```":
            blocks.append((session, "\n".join(code)))
            code = None
        else:
            code.append(line)
    return blocks


def code_digest(code: str) -> str:
    """What the hooks compare: the code without its surrounding blank lines."""
    return hashlib.sha1(code.strip().encode()).hexdigest()


def page_session(markdown: str) -> str | None:
    """The one session of a page whose executed blocks all share it, else ``None``."""
    sessions = {session for session, _ in exec_blocks(markdown)}
    if len(sessions) != 1 or None in sessions:
        return None
    return next(iter(sessions))


def run_page(path: pathlib.Path, out: pathlib.Path) -> None:
    from markdown_exec._internal.formatters.base import ExecutionError
    from markdown_exec._internal.formatters.python import _run_python

    blocks = exec_blocks(path.read_text())
    session = blocks[0][0]
    results = []
    for _, code in blocks:
        entry = {"sha1": code_digest(code)}
        try:
            entry["output"] = _run_python(code, session=session)
        except ExecutionError as error:
            entry["error"] = str(error)
            results.append(entry)
            break  # the page fails here in the build; later blocks would need this one
        results.append(entry)
    tmp = out / f".{session}.json.tmp"
    tmp.write_text(json.dumps({"page": str(path), "blocks": results}))
    os.replace(tmp, out / f"{session}.json")


def main(argv: list[str]) -> int:
    out = pathlib.Path(argv[0])
    for page in argv[1:]:
        run_page(pathlib.Path(page), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
