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

The learned next-particle kernel (:class:`hepjax.radiation.NextParticleKernel`)
against the MC on the same inputs: a 300 MeV electron entering the 10 cm LAr cube
(the issue's speed case), kernel samples per second (``jax.vmap(radiation.sample)``)
next to MC interactions per second, as ``jax.vmap`` of the MC kernel and as
``simulate_batch``. The kernel's cost does not depend on its weights (every
padded row runs the ODE), so an untrained kernel of the example's sizes is timed:
``--kernel-hidden`` / ``--kernel-layers`` (small scale: 128 / 4; the paper: 256 / 6).
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


def _best(fn, *args, repeats=3):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best, compile_s


def bench_kernel(n, hidden_size, num_layers):
    """Kernel samples/s and MC events/s on the same n incident electrons (LAr cube, 300 MeV)."""
    import jax.numpy as jnp

    from hepjax import radiation as rad

    lar = rad.MATERIALS.index("LAr")
    size = rad.CUBE_CM[lar]
    batch = lambda a: jnp.broadcast_to(jnp.asarray(a), (n, *jnp.shape(a)))
    cubes = jax.tree.map(batch, rad.Cube(lar, 1.396, size))
    incident = rad.Incident(1, 300.0, jnp.array([0.0, 0.0, 1.0]), jnp.array([0.0, 0.0, -size / 2]))
    incidents = jax.tree.map(batch, incident)
    keys = jax.random.split(jax.random.key(0), n)
    kernel = rad.NextParticleKernel(
        hidden_size=hidden_size, num_layers=num_layers, key=jax.random.key(1)
    )
    learned = jax.jit(jax.vmap(lambda k, i, c: rad.sample(k, kernel, i, c)))
    mc = jax.jit(jax.vmap(rad.TransportKernel(exit_capacity=kernel.capacity)))
    t_kernel, c_kernel = _best(learned, keys, incidents, cubes)
    t_mc, c_mc = _best(mc, keys, incidents, cubes)
    world = transport.Voxels(np.zeros((1, 1, 1), int), ["LAr"], voxel_cm=size)
    particles = transport.Particle(11, 300.0, [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]).broadcast(n)
    batch_mc = jax.jit(
        lambda k: transport.simulate_batch(k, world, particles, cut_mev=10.0, exit_capacity=16)
    )
    t_batch, c_batch = _best(batch_mc, jax.random.key(2))
    return {
        "events": n,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "kernel_per_s": n / t_kernel,
        "mc_vmap_per_s": n / t_mc,
        "mc_batch_per_s": n / t_batch,
        "compile_s": {"kernel": c_kernel, "mc_vmap": c_mc, "mc_batch": c_batch},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000, help="vmap(simulate) events per case")
    ap.add_argument(
        "--batch-events", type=int, default=20000, help="simulate_batch events per case"
    )
    ap.add_argument("--numpy-events", type=int, default=200, help="NumPy events per case")
    ap.add_argument("--kernel-events", type=int, default=2048, help="kernel vs MC inputs")
    ap.add_argument("--kernel-hidden", type=int, default=128, help="kernel hidden_size")
    ap.add_argument("--kernel-layers", type=int, default=4, help="kernel num_layers")
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
    k = bench_kernel(args.kernel_events, args.kernel_hidden, args.kernel_layers)
    print(
        f"\nkernel vs MC, e- 300 MeV into the 10 cm LAr cube, {k['events']} inputs "
        f"(hidden {k['hidden_size']}, {k['num_layers']} layers): kernel "
        f"{k['kernel_per_s']:.0f}/s, MC vmap {k['mc_vmap_per_s']:.0f}/s, MC batch "
        f"{k['mc_batch_per_s']:.0f}/s; kernel / MC batch = "
        f"{k['kernel_per_s'] / k['mc_batch_per_s']:.2f}"
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump({"jax": jax.__version__, "cases": rows, "kernel": k}, fh, indent=2)
        os.replace(tmp, args.out)
    return rows


if __name__ == "__main__":
    main()
