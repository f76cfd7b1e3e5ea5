"""Jet metrics: hepjax.metrics.jets against the ``jetnet`` package on the same jets.

``run(n_jets)`` makes ``n_jets`` toy gluon and quark jets (JetNet format, 30
particles), computes w1m, w1p, w1efp, the 36 EFP features, fpd and kpd with
jetnet's default sizes (50k-jet batches, 5k-jet KPD batches) in the separate
jetnet venv (``scripts/_jetnet_env.py``; run through ``subprocess``, timed
inside that process) and with hepjax, and returns wall times, speed-ups and
the relative differences of the values. Both draw the same bootstrap batches
(jetnet's generator is seeded as ours), so the values must agree to rounding.

Called by ``scripts/bench_epic.py``; standalone:
``.venv/bin/python scripts/_jet_metrics_bench.py [n_jets]``.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _jetnet_env import ensure_env  # noqa: E402
from jetnet_reference import FULL, make_inputs  # noqa: E402

METRICS = ("w1m", "w1p", "w1efp", "efp_features", "fpd", "kpd")


def _ours(inputs: pathlib.Path, cfg: dict, repeats: int = 2) -> tuple[dict, dict, dict]:
    from hepjax.metrics import jets as jm

    d = np.load(inputs)
    a, b = d["jets1"], d["jets2"]
    w1 = dict(num_eval_samples=cfg["num_eval_samples"], num_batches=cfg["num_batches"])
    w1["seed"] = cfg["seed"]
    feats = {}

    def efp_features():
        feats["f1"], feats["f2"] = jm.efps(a), jm.efps(b)
        return feats["f1"]

    calls = {
        "w1m": lambda: jm.w1m(a, b, **w1),
        "w1p": lambda: jm.w1p(a, b, average=False, **w1),
        "w1efp": lambda: jm.w1efp(a, b, average=False, **w1),
        "efp_features": efp_features,
        "fpd": lambda: jm.fpd(
            feats["f1"],
            feats["f2"],
            min_samples=cfg["fpd_min_samples"],
            max_samples=cfg["fpd_max_samples"],
            num_batches=cfg["fpd_num_batches"],
            num_points=cfg["fpd_num_points"],
            seed=cfg["seed"],
        ),
        "kpd": lambda: jm.kpd(
            feats["f1"],
            feats["f2"],
            num_batches=cfg["kpd_num_batches"],
            batch_size=cfg["kpd_batch_size"],
            seed=cfg["seed"],
        ),
    }
    values, first, best = {}, {}, {}
    for name in METRICS:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = calls[name]()
            times.append(time.perf_counter() - t0)
        first[name], best[name] = times[0], min(times)
        if name != "efp_features":
            values[name] = [np.asarray(out[0]).tolist(), np.asarray(out[1]).tolist()]
    return values, first, best


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def run(n_jets: int = 50_000, *, reuse_jetnet: bool = False) -> dict:
    """Time hepjax's and jetnet's jet metrics on ``n_jets`` + ``n_jets`` jets; compare values.

    jetnet takes about 5 minutes on 50k jets on an idle 2-core machine (mostly
    energyflow's EFPs); ``reuse_jetnet=True`` reuses its stored result for the
    same inputs (in the system temporary directory) instead of running it again.
    """
    python = ensure_env()
    work = pathlib.Path(tempfile.gettempdir()) / "hepjax_jet_metrics_bench"
    work.mkdir(exist_ok=True)
    inputs = work / f"inputs_{n_jets}.npz"
    if not inputs.exists():
        make_inputs(inputs, n_jets)
    ref_path = work / f"jetnet_{n_jets}.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if not (reuse_jetnet and ref_path.exists()):
        subprocess.run(
            [str(python), str(HERE / "jetnet_reference.py"), str(inputs), str(ref_path), "--full"],
            check=True,
            env=env,
        )
    ref = json.loads(ref_path.read_text())
    values, first, best = _ours(inputs, FULL)
    rows = {}
    for name in METRICS:
        theirs = ref["seconds"][name]
        row = {
            "jetnet_s": theirs,
            "hepjax_s": best[name],
            "hepjax_first_call_s": first[name],
            "speedup": theirs / best[name],
            "speedup_first_call": theirs / first[name],
        }
        if name in values:
            row["hepjax"] = values[name]
            row["jetnet"] = ref["values"][name]
            row["max_rel_diff_value"] = _rel(values[name][0], ref["values"][name][0])
            row["max_rel_diff_error"] = _rel(values[name][1], ref["values"][name][1])
        rows[name] = row
    total_j = sum(ref["seconds"][m] for m in METRICS)
    total_h = sum(best[m] for m in METRICS)
    return {
        "n_jets": n_jets,
        "jetnet_version": ref["jetnet_version"],
        "metrics": rows,
        "total_jetnet_s": total_j,
        "total_hepjax_s": total_h,
        "total_speedup": total_j / total_h,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    print(json.dumps(run(n), indent=1))
