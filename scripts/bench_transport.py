"""Benchmark of hepjax.sim.transport: interactions per second, batched per incident particle,
and the JAX Monte Carlo against a plain NumPy particle-by-particle version of the same
physics (``scripts/_transport_numpy.py``).

Set-up (the BRICKS single cube): a 10 cm liquid-argon cube, gamma / e- / e+ at 300 MeV
entering the middle of a face along +z, 10 MeV cut. Also a 1 GeV electron shower in 25 X0
of lead (1 MeV cut). Prints a table and writes ``--out`` (JSON).

    python scripts/bench_transport.py [--batch-events 20000] [--events 2000]
        [--numpy-events 200] [--out FILE]

``simulate_batch`` (one shared particle pool, the fast path) and ``jax.vmap(simulate)``
(the single-event reference) are both reported, events/s and interactions/s, with
compile times separately.

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


def _stats(res, n, best, compile_s):
    return {
        "events_per_s": n / best,
        "interactions_per_s": float(res.n_interactions.sum()) / best,
        "interactions_per_event": float(res.n_interactions.mean()),
        "mean_deposit_mev": float(res.deposit_mev.reshape(n, -1).sum(1).mean()),
        "compile_s": compile_s,
    }


def bench_batch(world, pdg, energy, cut, n, repeats=3):
    """``transport.simulate_batch``: all ``n`` events in one shared particle pool."""
    ps = transport.Particle(pdg, energy).broadcast(n)
    f = jax.jit(
        lambda k: transport.simulate_batch(
            k, world, ps, cut_mev=cut, capacity=8192, width=1024, exit_capacity=32
        )
    )
    t0 = time.perf_counter()
    f = f.lower(jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(f(jax.random.key(0)))
    best = np.inf
    for r in range(repeats):
        t0 = time.perf_counter()
        res = jax.block_until_ready(f(jax.random.key(r + 1)))
        best = min(best, time.perf_counter() - t0)
    assert not bool(res.overflow.any())
    return _stats(res, n, best, compile_s)


def bench_jax(world, pdg, energy, cut, capacity, n, repeats=3):
    """``jax.jit(jax.vmap(transport.simulate))`` over ``n`` keys."""
    p = transport.Particle(pdg, energy)
    f = jax.jit(jax.vmap(lambda k: transport.simulate(k, world, p, cut_mev=cut, capacity=capacity)))
    keys = jax.random.split(jax.random.key(0), n)
    t0 = time.perf_counter()
    f = f.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(f(keys))
    best = np.inf
    for r in range(repeats):
        keys = jax.random.split(jax.random.key(r + 1), n)
        t0 = time.perf_counter()
        res = jax.block_until_ready(f(keys))
        best = min(best, time.perf_counter() - t0)
    assert not bool(res.overflow.any())
    return _stats(res, n, best, compile_s)


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
    ap.add_argument("--events", type=int, default=2000, help="vmap(simulate) events per case")
    ap.add_argument(
        "--batch-events", type=int, default=20000, help="simulate_batch events per case"
    )
    ap.add_argument("--numpy-events", type=int, default=200, help="NumPy events per case")
    ap.add_argument("--out", type=pathlib.Path, default=None, help="JSON output file")
    args = ap.parse_args(argv)
    rows = []
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} (compile times separate)")
    head = (
        "case",
        "batch ev/s",
        "batch int/s",
        "vmap ev/s",
        "NumPy ev/s",
        "batch/NumPy",
        "vmap/NumPy",
    )
    print(f"{head[0]:34s} " + " ".join(f"{h:>12s}" for h in head[1:]))
    for name, world, pdg, energy, cut, cap in _cases():
        small = cap <= 32
        n_b = args.batch_events if small else max(args.batch_events // 50, 16)
        n_j = args.events if small else max(args.events // 20, 8)
        n_n = args.numpy_events if small else max(args.numpy_events // 20, 4)
        b = bench_batch(world, pdg, energy, cut, n_b)
        j = bench_jax(world, pdg, energy, cut, cap, n_j)
        n = bench_numpy(world, pdg, energy, cut, n_n)
        rb = b["events_per_s"] / n["events_per_s"]
        rj = j["events_per_s"] / n["events_per_s"]
        rows.append(
            {"case": name, "batch": b, "jax": j, "numpy": n, "speedup": rb, "speedup_vmap": rj}
        )
        print(
            f"{name:34s} {b['events_per_s']:12.1f} {b['interactions_per_s']:12.3g} "
            f"{j['events_per_s']:12.1f} {n['events_per_s']:12.1f} {rb:12.2f} {rj:12.2f}"
        )
        print(f"{'':34s} compile: batch {b['compile_s']:.1f} s, vmap {j['compile_s']:.1f} s")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump({"jax": jax.__version__, "cases": rows}, fh, indent=2)
        os.replace(tmp, args.out)
    return rows


if __name__ == "__main__":
    main()
