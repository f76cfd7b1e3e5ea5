"""Helpers shared by the benchmark scripts: machine description, timing, docs sections."""

from __future__ import annotations

import platform
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed_blocks(run_block, repeats: int) -> list[float]:
    """Wall time of each of ``repeats`` calls of ``run_block`` (which must block)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_block()
        times.append(time.perf_counter() - t0)
    return times


def write_section(path: Path, section: str, text: str) -> None:
    """Replace (or append) only the ``section`` heading's part of a Markdown file."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new.rstrip("\n") + "\n")
    tmp.replace(path)
