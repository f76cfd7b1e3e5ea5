"""Benchmark of hepjax.sim.transport: interactions per second, batched per incident particle,
and the JAX Monte Carlo against a plain NumPy particle-by-particle version of the same
physics (``scripts/_transport_numpy.py``).

Set-up (the BRICKS single cube): a 10 cm liquid-argon cube, gamma / e- / e+ at 300 MeV
entering the middle of a face along +z, 10 MeV cut. Also a 1 GeV electron shower in 25 X0
of lead (1 MeV cut). Prints a table and writes ``--out`` (JSON).

    python scripts/bench_transport.py [--events 2000] [--numpy-events 200] [--out FILE]

(The kernel part of the comparison is added with hepjax.radiation.)
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from _transport_numpy import NumpyTransport

from hepjax.sim import transport

ME = 0.51099895


def _cases():
    lar = transport.Voxels(np.zeros((1, 1, 1), int), ["LAr"], voxel_cm=10.0)
    pb = transport.material("Pb")
    shower = transport.Slabs(["Pb"] * 50, [0.5 * float(pb.radiation_length_cm)] * 50)
    return [
        ("LAr cube 10 cm, gamma 300 MeV", lar, 22, 300.0, 10.0, 32),
        ("LAr cube 10 cm, e- 300 MeV", lar, 11, 300.0, 10.0, 32),
        ("LAr cube 10 cm, e+ 300 MeV", lar, -11, 300.0, 10.0, 32),
        ("Pb 25 X0, e- 1 GeV", shower, 11, 1000.0, 1.0, 256),
    ]


def bench_jax(world, pdg, energy, cut, capacity, n, repeats=3):
    p = transport.Particle(pdg, energy)
    f = jax.jit(jax.vmap(lambda k: transport.simulate(k, world, p, cut_mev=cut, capacity=capacity)))
    keys = jax.random.split(jax.random.key(0), n)
    jax.block_until_ready(f(keys))  # compile
    best = np.inf
    for r in range(repeats):
        keys = jax.random.split(jax.random.key(r + 1), n)
        t0 = time.perf_counter()
        res = jax.block_until_ready(f(keys))
        best = min(best, time.perf_counter() - t0)
    assert not bool(res.overflow.any())
    return {
        "events_per_s": n / best,
        "interactions_per_s": float(res.n_interactions.sum()) / best,
        "interactions_per_event": float(res.n_interactions.mean()),
        "mean_deposit_mev": float(res.deposit_mev.reshape(n, -1).sum(1).mean()),
    }


def bench_numpy(world, pdg, energy, cut, n):
    nt = NumpyTransport(world)
    rng = np.random.default_rng(0)
    n_int = 0
    dep = 0.0
    t0 = time.perf_counter()
    for _ in range(n):
        d, _, ni, _ = nt.run(rng, pdg, energy, [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], cut)
        n_int += ni
        dep += d.sum()
    dt = time.perf_counter() - t0
    return {
        "events_per_s": n / dt,
        "interactions_per_s": n_int / dt,
        "interactions_per_event": n_int / n,
        "mean_deposit_mev": dep / n,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000, help="JAX events per case")
    ap.add_argument("--numpy-events", type=int, default=200, help="NumPy events per case")
    ap.add_argument("--out", type=pathlib.Path, default=None, help="JSON output file")
    args = ap.parse_args(argv)
    rows = []
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    print(f"{'case':34s} {'JAX ev/s':>10s} {'JAX int/s':>11s} {'NumPy ev/s':>11s} {'ratio':>7s}")
    for name, world, pdg, energy, cut, cap in _cases():
        n_j = args.events if cap <= 32 else max(args.events // 20, 8)
        n_n = args.numpy_events if cap <= 32 else max(args.numpy_events // 20, 4)
        j = bench_jax(world, pdg, energy, cut, cap, n_j)
        n = bench_numpy(world, pdg, energy, cut, n_n)
        ratio = j["events_per_s"] / n["events_per_s"]
        rows.append({"case": name, "jax": j, "numpy": n, "speedup": ratio})
        print(
            f"{name:34s} {j['events_per_s']:10.1f} {j['interactions_per_s']:11.1f} "
            f"{n['events_per_s']:11.1f} {ratio:7.2f}"
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump({"jax": jax.__version__, "cases": rows}, fh, indent=2)
        os.replace(tmp, args.out)
    return rows


if __name__ == "__main__":
    main()
