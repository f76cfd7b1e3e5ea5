"""The "Research systems" gallery (scripts/gallery.py) and its recorder (scripts/record_run.py)."""

import json
import pathlib
import re
import shutil
import sys

import pytest

from hepjax.cli import Paper, Row
from hepjax.cli._registry import Example

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import gallery  # noqa: E402
import record_run  # noqa: E402


def example(name, arxiv, report=None):
    return Example(
        name, f"{name} summary", lambda **_: {}, paper=Paper("t", arxiv, "s"), report=report
    )


def test_the_table_lists_sixteen_systems_with_their_papers():
    systems = gallery.load_systems()
    assert [s.number for s in systems] == list(range(1, 17))
    assert len({s.arxiv for s in systems}) == 16
    assert all(re.fullmatch(r"\d{4}\.\d{5}", s.arxiv) for s in systems)
    assert len({s.slug for s in systems}) == 16


def test_every_registered_research_example_has_a_system():
    """An example citing one of the sixteen papers lands on that system's page by itself."""
    from hepjax.cli import discover

    registry = discover()
    systems = gallery.load_systems()
    built = {name for s in systems for name in gallery.examples_of(s, registry)}
    arxivs = {s.arxiv for s in systems}
    for name, ex in registry.items():
        if ex.paper is not None and ex.paper.arxiv in arxivs:
            assert name in built, name
    for s in systems:
        state, missing = gallery.status(s, registry)
        assert (state == gallery.NOT_BUILT) == (not gallery.examples_of(s, registry))
        assert (state == gallery.PARTLY) == bool(missing)


def test_status_and_pages_follow_the_registry_and_recorded_runs(tmp_path):
    docs = tmp_path / "docs"
    (docs / "gallery").mkdir(parents=True)
    shutil.copy(gallery.SYSTEMS_TOML, docs / "gallery" / "systems.toml")
    bricks = gallery.load_systems()[0]

    def report(metrics, scale):
        return [Row("AUC | per particle", 0.5, metrics["auc"], note=f"scale {scale}")]

    assert gallery.status(bricks, {})[0] == gallery.NOT_BUILT
    registry = {"bricks_kernel": example("bricks_kernel", bricks.arxiv, report)}
    assert gallery.status(bricks, registry) == (gallery.PARTLY, " ".join(bricks.missing.split()))
    page = gallery.pages(registry, docs=docs)[f"gallery/{bricks.slug}.md"]
    assert "No recorded `--scale small` run yet" in page
    assert "hepjax examples run bricks_kernel --scale small" in page

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps({"auc": 0.61}))
    (run_dir / "curve.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    info = {
        "scale": "small",
        "date": "2026-12-07T20:00Z",
        "machine": "m",
        "commit": "abc1234",
        "wall_seconds": 120.0,
        "load_average": "0.4",
    }
    record_run.record("bricks_kernel", run_dir, info, runs=docs / "gallery" / "runs")
    out = gallery.pages(registry, docs=docs)
    page = out[f"gallery/{bricks.slug}.md"]
    assert "commit `abc1234`, 2.0 min wall time" in page
    assert "| AUC \\| per particle | 0.500 | 0.610 | scale small |" in page
    assert "](runs/bricks_kernel/curve.png)" in page
    assert f"| {bricks.number} | [BRICKS]({bricks.slug}.md) |" in out["gallery/index.md"]
    assert "`bricks_kernel` |" in out["gallery/index.md"]


def test_recording_replaces_the_previous_run_whole(tmp_path):
    runs = tmp_path / "runs"
    for auc in (0.6, 0.7):
        src = tmp_path / f"run{auc}"
        src.mkdir()
        (src / "metrics.json").write_text(json.dumps({"auc": auc}))
        if auc == 0.6:
            (src / "old.png").write_bytes(b"\x89PNG")
        record_run.record("x", src, {"scale": "small"}, runs=runs)
    assert json.loads((runs / "x" / "metrics.json").read_text()) == {"auc": 0.7}
    assert not (runs / "x" / "old.png").exists()
    assert sorted(p.name for p in runs.iterdir()) == ["x"]  # no staging or backup left
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        record_run.record("x", tmp_path, {}, runs=runs)


def test_a_bad_table_names_the_problem(tmp_path):
    path = tmp_path / "systems.toml"
    text = gallery.SYSTEMS_TOML.read_text()
    path.write_text(text.replace("number = 2\n", "number = 3\n", 1))
    with pytest.raises(ValueError, match="numbered 1..N"):
        gallery.load_systems(path)
    path.write_text(text.replace('name = "BRICKS"', 'name = "BRICKS"\ncolour = "red"'))
    with pytest.raises(ValueError, match="unknown fields"):
        gallery.load_systems(path)
