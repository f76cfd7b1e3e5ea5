"""Compute ``jetnet.evaluation`` metrics on fixed inputs (run inside the jetnet venv).

    /work/jetnet-venv/bin/python scripts/jetnet_reference.py INPUTS.npz OUTPUT.json [options]

``INPUTS.npz`` holds ``jets1`` and ``jets2``, JetNet-format ``(N, n, 4)`` arrays
of ``(etarel, phirel, ptrel, mask)`` (written by the hepjax environment, e.g. by
``python scripts/jetnet_reference.py --make-inputs``). jetnet is given
``(etarel, phirel, ptrel)`` with padding zeroed, in float64 (its ``w1m``/``w1efp``
would read a fourth feature as the particle mass). jetnet's module-level
generator for ``w1m``/``w1p``/``w1efp`` is set to ``np.random.default_rng(seed)``
before each call, so hepjax (which draws its batches the same way) must
reproduce the values exactly. The output JSON holds the parameters, jetnet's
values, wall times, and a few per-jet EFPs and masses.

The test fixture ``tests/metrics/data/jetnet_reference.json`` (with its inputs
``jetnet_inputs.npz``) was made with::

    .venv/bin/python scripts/jetnet_reference.py --make-inputs tests/metrics/data/jetnet_inputs.npz
    /work/jetnet-venv/bin/python scripts/jetnet_reference.py \\
        tests/metrics/data/jetnet_inputs.npz tests/metrics/data/jetnet_reference.json
"""

import argparse
import json
import os
import pathlib
import sys
import time
import warnings

import numpy as np

SMALL = dict(
    seed=42,
    num_eval_samples=1000,
    num_batches=5,
    fpd_min_samples=200,
    fpd_max_samples=1000,
    fpd_num_batches=20,
    fpd_num_points=10,
    kpd_num_batches=10,
    kpd_batch_size=500,
)
FULL = dict(
    seed=42,
    num_eval_samples=50_000,
    num_batches=5,
    fpd_min_samples=20_000,
    fpd_max_samples=50_000,
    fpd_num_batches=20,
    fpd_num_points=10,
    kpd_num_batches=10,
    kpd_batch_size=5_000,
)


def make_inputs(path: pathlib.Path, num_jets: int = 1000, *, seed: int = 0) -> None:
    """Write toy gluon (``jets1``) and light-quark (``jets2``) jets; runs in the hepjax venv."""
    import jax

    from hepjax.sim.parton_shower import toy_shower_jets

    k1, k2 = jax.random.split(jax.random.key(seed))
    j1 = toy_shower_jets(k1, "g", num_jets)["particle_features"]
    j2 = toy_shower_jets(k2, "q", num_jets)["particle_features"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, jets1=j1, jets2=j2)
    os.replace(tmp, path)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def reference(inputs: pathlib.Path, cfg: dict, metrics: list[str]) -> dict:
    import jetnet
    from jetnet import evaluation
    from jetnet.evaluation import gen_metrics

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    data = np.load(inputs)
    j1, j2 = data["jets1"], data["jets2"]
    m1, m2 = j1[..., 3] > 0.5, j2[..., 3] > 0.5
    x1 = np.where(m1[..., None], j1[..., :3], 0.0).astype(np.float64)
    x2 = np.where(m2[..., None], j2[..., :3], 0.0).astype(np.float64)
    seed, ns, nb = cfg["seed"], cfg["num_eval_samples"], cfg["num_batches"]
    out = {"jetnet_version": jetnet.__version__, "config": cfg, "values": {}, "seconds": {}}

    def seeded():
        gen_metrics.rng = np.random.default_rng(seed)

    if "w1m" in metrics:
        seeded()
        (v, e), t = _timed(lambda: evaluation.w1m(x1, x2, num_eval_samples=ns, num_batches=nb))
        out["values"]["w1m"] = [float(v), float(e)]
        out["seconds"]["w1m"] = t
        seeded()
        r = evaluation.w1m(x1, x2, num_eval_samples=ns, num_batches=nb, return_std=False)
        out["w1m_return_std_false_type"] = type(r).__name__
    if "w1p" in metrics:
        seeded()
        (v, e), t = _timed(
            lambda: evaluation.w1p(x1, x2, mask1=m1, mask2=m2, num_eval_samples=ns, num_batches=nb)
        )
        out["values"]["w1p"] = [np.asarray(v).tolist(), np.asarray(e).tolist()]
        out["seconds"]["w1p"] = t
    if "w1efp" in metrics:
        seeded()
        (v, e), t = _timed(lambda: evaluation.w1efp(x1, x2, num_eval_samples=ns, num_batches=nb))
        out["values"]["w1efp"] = [np.asarray(v).tolist(), np.asarray(e).tolist()]
        out["seconds"]["w1efp"] = t
    if "fpd" in metrics or "kpd" in metrics:
        (f1, f2), t = _timed(
            lambda: (
                evaluation.get_fpd_kpd_jet_features(x1),
                evaluation.get_fpd_kpd_jet_features(x2),
            )
        )
        out["seconds"]["efp_features"] = t
        out["efps_first_jets"] = f1[:10].tolist()
        out["masses_first_jets"] = jetnet.utils.jet_features(x1[:10])["mass"].tolist()
    if "fpd" in metrics:
        (v, e), t = _timed(
            lambda: evaluation.fpd(
                f1,
                f2,
                min_samples=cfg["fpd_min_samples"],
                max_samples=cfg["fpd_max_samples"],
                num_batches=cfg["fpd_num_batches"],
                num_points=cfg["fpd_num_points"],
                seed=seed,
            )
        )
        out["values"]["fpd"] = [float(v), float(e)]
        out["seconds"]["fpd"] = t
    if "kpd" in metrics:
        (v, e), t = _timed(
            lambda: evaluation.kpd(
                f1,
                f2,
                num_batches=cfg["kpd_num_batches"],
                batch_size=cfg["kpd_batch_size"],
                seed=seed,
            )
        )
        out["values"]["kpd"] = [float(v), float(e)]
        out["seconds"]["kpd"] = t
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", type=pathlib.Path)
    p.add_argument("output", type=pathlib.Path, nargs="?")
    p.add_argument("--make-inputs", action="store_true", help="write the inputs (hepjax venv)")
    p.add_argument("--num-jets", type=int, default=1000)
    p.add_argument("--full", action="store_true", help="jetnet's default sizes (50k jets)")
    p.add_argument("--metrics", default="w1m,w1p,w1efp,fpd,kpd")
    a = p.parse_args()
    if a.make_inputs:
        make_inputs(a.inputs, a.num_jets)
        return
    if a.output is None:
        sys.exit("output path required")
    out = reference(a.inputs, FULL if a.full else SMALL, a.metrics.split(","))
    tmp = a.output.with_name(a.output.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
