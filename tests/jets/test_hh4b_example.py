"""The X->HH->4b example's results-page rows read what `hepjax demo` hands over, and the
event head's data reach it standardised like the tagger's jets."""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

from hepjax import jets
from hepjax.cli import Row
from hepjax.cli._registry import flatten_metrics
from hepjax.data import Standardizer


@pytest.fixture(scope="module")
def example():
    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "finetune_hh4b.py"
    sys.path.insert(0, str(path.parent))  # its helper _compilation_cache sits there
    try:
        spec = importlib.util.spec_from_file_location("finetune_hh4b_test", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("finetune_hh4b_test", None)
        sys.path.remove(str(path.parent))


def test_report_reads_the_flattened_metrics(example):
    nested = {
        "curves": {
            "latent": {"auc": {"finetune": {"40": [0.8, 0.7]}, "scratch": {"40": [0.6, 0.6]}}},
            "score+hl": {"auc": {"finetune": {"40": [0.9, 0.7]}}},
        },
        "smallest_training_events": 40,
        "tagger_auc": 0.85,
        "tagger_jets": 360,
        "finetune_minus_scratch": 0.15,
        "seed_spread": 0.05,
        "rejection_full": {"finetune": 9.0, "scratch": 7.5, "frozen": 8.0},
    }
    rows = example.report(flatten_metrics(nested), "tour")
    assert all(isinstance(r, Row) for r in rows)
    runs = {r.quantity.split(":")[0]: r.run for r in rows}
    assert runs["H->bb vs QCD tagger AUC (pre-training, jet level)"] == 0.85
    assert abs(runs["latent finetune"] - 0.75) < 1e-9 and runs["latent scratch"] == 0.6
    assert abs(runs["score+hl finetune"] - 0.8) < 1e-9
    assert rows[-2].run == 0.15
    assert "finetune 9.0, scratch 7.5" in rows[-1].run


def test_standardised_events_use_the_jets_statistics(example):
    rng = np.random.default_rng(0)
    x = rng.normal([0.0, 0.0, 3.0], [0.1, 0.1, 1.0], size=(6, 2, 4, 3)).astype(np.float32)
    mask = np.ones((6, 2, 4), bool)
    mask[:, 1, 2:] = False
    events = jets.Events(x, np.ones((6, 2, 4, 4), np.float32), mask, np.ones((6, 2), bool))
    st = Standardizer.fit(x[:, 0], mask[:, 0])
    out = example._standardised(events, st)
    want = (x - np.asarray(st.shift)) / np.asarray(st.scale)
    np.testing.assert_allclose(out.x[mask], want[mask], rtol=1e-5)
    assert (out.x[~mask] == 0).all()
    np.testing.assert_allclose(out.x[:, 0][mask[:, 0]].mean(0), 0.0, atol=1e-5)


def test_scales_are_consistent(example):
    for name, cfg in example.SCALES.items():
        assert set(cfg.strategies) == set(example.REPRESENTATIONS), name
        events_pool = 2 * (cfg.events_per_class - cfg.test_per_class)
        assert min(cfg.fractions) * events_pool >= 2, name
        assert max(cfg.fractions) == 1.0
    assert example.SCALES["small"].seeds >= 3
