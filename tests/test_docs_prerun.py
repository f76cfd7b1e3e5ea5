"""The docs build's second process: which blocks it finds, and that it reproduces
markdown-exec's own outputs and errors (the whole build is tests/test_docs.py)."""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import docs_prerun  # noqa: E402

PAGE = """# A page

```python exec="on" session="demo" source="material-block" result="text"
x = 20 + 1
print(x * 2)
```

Text, and a block that is only shown:

```python
not_run = 1 / 0
```

```python exec="on" session="demo" result="text"
print("x is", x)
```
"""


def test_exec_blocks_and_the_page_session():
    blocks = docs_prerun.exec_blocks(PAGE)
    assert blocks == [("demo", "x = 20 + 1\nprint(x * 2)"), ("demo", 'print("x is", x)')]
    assert docs_prerun.page_session(PAGE) == "demo"
    mixed = PAGE.replace('session="demo" result', 'session="other" result')
    assert docs_prerun.page_session(mixed) is None  # two sessions: the build runs it itself
    assert docs_prerun.page_session("# no code\n") is None


def test_worker_writes_outputs_and_stops_a_session_at_its_error(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE + '\n```python exec="on" session="demo"\nraise ValueError("bad")\n```\n')
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "docs_prerun.py"), str(tmp_path), str(page)],
        check=True,
        cwd=tmp_path,
    )
    blocks = json.loads((tmp_path / "demo.json").read_text())["blocks"]
    assert [b.get("output") for b in blocks[:2]] == ["42\n", "x is 21\n"]
    assert blocks[0]["sha1"] == docs_prerun.code_digest("x = 20 + 1\nprint(x * 2)\n")
    assert "ValueError" in blocks[2]["error"] and "bad" in blocks[2]["error"]
