"""The masked-particle-modelling example's results-page rows read what `hepjax demo` hands over."""

import importlib.util
import pathlib
import sys

from hepjax.cli import Row
from hepjax.cli._registry import flatten_metrics


def test_report_reads_the_flattened_metrics(monkeypatch):
    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "masked_particle_modelling.py"
    monkeypatch.syspath_prepend(str(path.parent))  # its helper _compilation_cache sits there
    spec = importlib.util.spec_from_file_location("masked_particle_modelling_test", path)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mod)
    spec.loader.exec_module(mod)
    n = str(min(mod.SCALES["tour"].sizes))
    nested = {
        "curves": {
            "mpm": {"auc": {"finetune": {n: [0.6, 0.7]}, "scratch": {n: [0.5, 0.5]}}},
            "tokeniser_free": {"auc": {"finetune": {n: [0.8, 0.6]}}},
        },
        "finetune_minus_scratch": 0.15,
        "seed_spread": 0.05,
    }
    rows = mod.report(flatten_metrics(nested), "tour")
    assert all(isinstance(r, Row) for r in rows)
    runs = {r.quantity.split(":")[0]: r.run for r in rows}
    assert abs(runs["mpm finetune"] - 0.65) < 1e-9 and runs["mpm scratch"] == 0.5
    assert abs(runs["tokeniser_free finetune"] - 0.7) < 1e-9
    assert rows[-1].run == 0.15
