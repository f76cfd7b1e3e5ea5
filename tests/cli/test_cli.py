import json
import os
import subprocess
import sys
import textwrap

import pytest

from hepjax.cli import _main, _registry

HEPJAX = [sys.executable, "-m", "hepjax.cli"]


def run_cli(*args, env=None, check=True):
    proc = subprocess.run(
        [*HEPJAX, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


HEAVY = ("matplotlib", "pythia8mc", "fastjet", "uproot", "awkward", "torch", "h5py")


def _fresh_import(statement: str) -> tuple[float, list[str]]:
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        f"{statement}\n"
        "print(time.perf_counter() - t)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, heavy = out.stdout.split("\n")[:2]
    return float(seconds), [m for m in heavy.split(",") if m]


def test_import_is_light_and_fast():
    seconds, heavy = _fresh_import("import hepjax")
    assert seconds < 3.0 and heavy == []
    _, heavy = _fresh_import("import hepjax.train, hepjax.data, hepjax.metrics, hepjax.nn")
    assert heavy == []


def test_info_prints_versions_and_devices():
    out = run_cli("info").stdout
    assert "jax " in out and "equinox" in out and "devices (" in out and "cpu" in out


@pytest.fixture
def examples_dir(tmp_path, monkeypatch):
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "good.py").write_text(
        textwrap.dedent(
            """
        from hepjax.cli import register, example_main

        @register("tiny-good", summary="writes a number")
        def run(*, scale, out):
            (out / "note.txt").write_text(scale)
            return {"answer": 42.0, "scale": scale}

        if __name__ == "__main__":
            example_main(run)
        """
        )
    )
    (folder / "bad.py").write_text(
        textwrap.dedent(
            """
        from hepjax.cli import register

        @register("tiny-bad", summary="always fails")
        def run(*, scale, out):
            raise RuntimeError("this example is broken on purpose")
        """
        )
    )
    (folder / "_helper.py").write_text("raise SystemExit('private modules are not imported')\n")
    monkeypatch.setenv("HEPJAX_EXAMPLES", str(folder))
    return folder


def test_examples_list_and_run(examples_dir, tmp_path):
    listed = run_cli("examples", "list").stdout
    assert "tiny-good" in listed and "writes a number" in listed and "tiny-bad" in listed
    out = tmp_path / "run"
    run_cli("examples", "run", "tiny-good", "--out", str(out), "--scale", "paper")
    assert json.loads((out / "metrics.json").read_text()) == {"answer": 42.0, "scale": "paper"}
    assert (out / "note.txt").read_text() == "paper"
    bad = run_cli("examples", "run", "nope", check=False)
    assert bad.returncode == 2 and "unknown example 'nope'" in bad.stderr


def test_demo_writes_report_and_reports_failures(examples_dir, tmp_path):
    out = tmp_path / "report"
    proc = run_cli("demo", "--out", str(out), "--jobs", "2", check=False)
    assert proc.returncode == 1  # one example failed on purpose
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tiny-good"] == {"answer": 42.0, "scale": "tour"}
    assert "broken on purpose" in metrics["tiny-bad"]["error"]
    summary = (out / "summary.md").read_text()
    assert "| tiny-good | tour | ok |" in summary and "| tiny-bad | tour | failed |" in summary
    assert (out / "index.html").exists()
    assert "2 at a time" in proc.stdout  # in two worker processes
    ok = run_cli(
        "demo",
        "--out",
        str(tmp_path / "only"),
        "--only",
        "tiny_good",
        "--scale",
        "small",
        "--jobs",
        "1",
    )
    assert ok.returncode == 0 and "at a time" not in ok.stdout
    assert json.loads((tmp_path / "only" / "metrics.json").read_text()) == {
        "tiny-good": {"answer": 42.0, "scale": "small"}
    }
    both = run_cli(
        "demo", "--out", str(tmp_path / "both"), "--only", "tiny-good,tiny-bad", check=False
    )
    assert both.returncode == 1
    assert set(json.loads((tmp_path / "both" / "metrics.json").read_text())) == {
        "tiny-good",
        "tiny-bad",
    }
    bad = run_cli("demo", "--out", str(tmp_path / "none"), "--jobs", "0", check=False)
    assert bad.returncode != 0 and "--jobs must be a positive integer" in bad.stderr


def test_example_script_runs_standalone(examples_dir, tmp_path):
    out = tmp_path / "standalone"
    proc = subprocess.run(
        [sys.executable, str(examples_dir / "good.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads((out / "metrics.json").read_text())["answer"] == 42.0
    assert "wrote" in proc.stdout


def test_register_rejects_bad_names():
    with pytest.raises(ValueError, match="lowercase without spaces"):
        _registry.register("Bad Name", summary="x")


def test_bench_unknown_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HEPJAX_SCRIPTS", str(tmp_path))
    (tmp_path / "bench_fake.py").write_text("import sys; print('fake', sys.argv[1:])\n")
    with pytest.raises(SystemExit, match="unknown benchmark 'nope'; known: fake"):
        _main.main(["bench", "nope"])
    assert _main.main(["bench", "fake"]) == 0


def test_repository_examples_register_themselves():
    listed = run_cli("examples", "list").stdout
    assert "train-classifier" in listed
    registry = _registry.discover()
    for name, example in registry.items():
        assert example.summary, f"example {name} needs a one-line summary"
        assert example.source.endswith(".py")


def test_example_names_accept_dashes_or_underscores():
    assert _registry.get_example("train_classifier").name == "train-classifier"
    assert _registry.get_example("train-classifier").name == "train-classifier"
    with pytest.raises(KeyError, match="unknown example 'train_classifer'"):
        _registry.get_example("train_classifer")
