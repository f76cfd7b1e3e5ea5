"""The COCOA example end to end at a tiny size (slow: it compiles the whole chain)."""

import importlib.util
import json
import pathlib
import sys

import pytest


@pytest.mark.slow
def test_cocoa_example_runs_at_tiny_size(tmp_path, monkeypatch):
    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "cocoa_calorimeter.py"
    spec = importlib.util.spec_from_file_location("cocoa_calorimeter_test", path)
    mod = importlib.util.module_from_spec(spec)
    # registered under its file, so a later discovery of examples/ sees the same source
    monkeypatch.setitem(sys.modules, spec.name, mod)
    spec.loader.exec_module(mod)
    tiny = dict(
        response_events=6, electron_energies=(2.0, 5.0, 20.0, 50.0, 200.0), electrons=6,
        ttbar_events=1,
    )  # fmt: skip
    monkeypatch.setitem(mod.SCALES, "small", tiny)
    from hepjax.cli._registry import Example, run_example

    run_example(Example("cocoa_calorimeter", "", mod.run), scale="small", out=tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("pi0_response_mean", "pi0_response_std", "pipm_response_mean",
                "pipm_response_std", "em_stochastic_term", "ttbar_seconds_per_event"):  # fmt: skip
        assert key in saved, key
    assert 0.3 < saved["pi0_response_mean"] < 1.2 and 0.2 < saved["pipm_response_mean"] < 1.2
    assert saved["ttbar_particles_per_event"] > 10 and saved["ttbar_clusters_per_event"] > 5
    for name in ("event_phoenix.json", "event_cells.png", "response.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    event = json.loads((tmp_path / "event_phoenix.json").read_text())["event_num_0"]
    assert {"Jets", "CaloClusters", "IrregularCaloCells"} <= set(event)
