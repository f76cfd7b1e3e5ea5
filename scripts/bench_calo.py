"""Calorimeter: tt-bar events through the whole chain, and topoclustering against its reference.

Runs in one go (``python scripts/bench_calo.py``; ``--events`` and ``--quick``
for smaller runs). Both implementations cluster the *same* cells of the same
events in COCOA's default detector (:meth:`hepjax.sim.calo.CaloGeometry.cocoa`,
156,672 cells, 4.6/2/0 thresholds, local-maximum splitting above 400 MeV):

* **hepjax**: :func:`hepjax.calo.topoclusters` under ``jax.jit`` (compiled
  once; the compile time is reported separately), one event at a time,
  blocking on the result;
* **reference**: :func:`hepjax.calo.reference_topoclusters`, the same
  algorithm in plain Python over the cells (COCOA's sequential structure).

The events are blobs of energy deposits in every layer (narrow in the ECAL,
wide in the HCAL) plus the configured Gaussian noise (the shower
parametrisations of ``hepjax.sim.calo`` come later), with about as many
clustered cells as a busy hadronic event; the two outputs
are checked to agree on every cell before timing counts. Events per second and
the ratio are reported.

**tt-bar events** (``--ttbar N``, default 10): COCOA's Pythia 8 sample
(:func:`hepjax.data.collider.final_state_particles`: 14 TeV, pT > 1 GeV,
|eta| < 3) through the whole chain, each stage compiled once and then timed
per event, blocking on its result: simulation
(:func:`hepjax.sim.calo.simulate_particles`, 256 particle slots), clustering
(:func:`hepjax.calo.topoclusters`), jets (anti-kt R = 0.4 through FastJet on
the clusters and on the truth particles) and the kNN cell graph
(:func:`hepjax.calo.cell_graph`). Events per second, overall and per stage.

Writes the "Calorimeter topoclustering" and "Calorimeter tt-bar events"
sections of ``docs/benchmarks.md`` (``--no-write`` to only print) and
``bench_calo.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import BENCHMARKS_MD, cpu_model, write_section

SECTION = "## Calorimeter topoclustering (bench_calo.py)"
TTBAR_SECTION = "## Calorimeter tt-bar events (bench_calo.py)"
TTBAR_SLOTS = 256


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def make_event(key, geo, n_blobs: int, n_spots: int):
    """Deposits in blobs plus noise: a blob is narrow in the ECAL (an electromagnetic
    core, 0.01-0.05 in eta and phi) and wider in the HCAL (0.04-0.25, a hadronic one)."""
    from hepjax.sim import calo as sc

    k = jax.random.split(key, 8)
    eta0 = jax.random.uniform(k[0], (n_blobs,), minval=-2.8, maxval=2.8)
    phi0 = jax.random.uniform(k[1], (n_blobs,), minval=-math.pi, maxval=math.pi)
    e0 = jax.random.exponential(k[2], (n_blobs,)) * 10.0
    which = jax.random.randint(k[3], (n_spots,), 0, n_blobs)
    width = jax.random.uniform(k[4], (n_blobs,), minval=0.04, maxval=0.25)[which]
    layer = jax.random.randint(k[7], (n_spots,), 0, geo.n_layers)
    em = jnp.asarray([lay.electromagnetic for lay in geo.layers])[layer]
    width = jnp.where(em, 0.2 * width, width)
    eta = eta0[which] + width * jax.random.normal(k[5], (n_spots,))
    phi = phi0[which] + width * jax.random.normal(k[6], (n_spots,))
    energy = e0[which] / (n_spots / n_blobs) * jax.random.exponential(k[0], (n_spots,))
    return sc.deposit_energy(k[1], geo, layer, eta, phi, energy, sampling=False)


def run(n_events: int, n_blobs: int, scale: int) -> dict:
    from hepjax import calo
    from hepjax.sim import calo as sc

    geo = sc.CaloGeometry.cocoa(scale=scale)
    events = [make_event(k, geo, n_blobs, 20 * n_blobs * 10) for k in
              jax.random.split(jax.random.key(1), n_events)]  # fmt: skip
    jax.block_until_ready(events)
    cluster = jax.jit(lambda c: calo.topoclusters(geo, c))
    t0 = time.perf_counter()
    jax.block_until_ready(cluster(events[0]))
    compile_s = time.perf_counter() - t0
    jax_s, ref_s, n_clusters, n_clustered = [], [], [], []
    for cells in events:
        t0 = time.perf_counter()
        tc = jax.block_until_ready(cluster(cells))
        jax_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = calo.reference_topoclusters(geo, cells)
        ref_s.append(time.perf_counter() - t0)
        if not np.array_equal(np.asarray(tc.cell_cluster), ref["cell_cluster"]):
            raise AssertionError("hepjax and the reference disagree on a cell")
        n_clusters.append(int(tc.n_clusters))
        n_clustered.append(int(np.sum(ref["cell_cluster"] >= 0)))
    jax_mean, ref_mean = float(np.mean(jax_s)), float(np.mean(ref_s))
    return {
        "geometry_cells": geo.n_cells,
        "scale": scale,
        "events": n_events,
        "blobs_per_event": n_blobs,
        "mean_clusters": float(np.mean(n_clusters)),
        "mean_clustered_cells": float(np.mean(n_clustered)),
        "compile_s": compile_s,
        "hepjax_s_per_event": jax_mean,
        "hepjax_s_per_event_std": float(np.std(jax_s)),
        "reference_s_per_event": ref_mean,
        "hepjax_events_per_s": 1.0 / jax_mean,
        "reference_events_per_s": 1.0 / ref_mean,
        "speedup": ref_mean / jax_mean,
    }


def run_ttbar(n_events: int, scale: int, seed: int = 7) -> dict:
    """tt-bar events per second through simulation, clustering, jets and graph."""
    from hepjax import calo
    from hepjax.data import collider
    from hepjax.sim import calo as sc

    geo = sc.CaloGeometry.cocoa(scale=scale)
    t0 = time.perf_counter()
    events = collider.final_state_particles(n_events, seed=seed)
    pythia_s = time.perf_counter() - t0
    sim = jax.jit(lambda k, q, e, h, f, m: sc.simulate_particles(k, geo, q, e, h, f, mask=m))
    cluster = jax.jit(lambda c: calo.topoclusters(geo, c))
    graph = jax.jit(lambda c, t: calo.cell_graph(geo, c, t))

    def padded(ev):
        n = len(ev["pdg"])
        if n > TTBAR_SLOTS:
            raise ValueError(f"an event has {n} particles, more than {TTBAR_SLOTS} slots")
        fill = TTBAR_SLOTS - n
        return (
            jnp.asarray(np.r_[ev["pdg"], np.full(fill, 22)].astype(np.int32)),
            jnp.asarray(np.r_[ev["energy"], np.ones(fill)].astype(np.float32)),
            jnp.asarray(np.r_[ev["eta"], np.zeros(fill)].astype(np.float32)),
            jnp.asarray(np.r_[ev["phi"], np.zeros(fill)].astype(np.float32)),
            jnp.asarray(np.arange(TTBAR_SLOTS) < n),
        )

    t0 = time.perf_counter()
    cells = sim(jax.random.key(0), *padded(events[0]))
    jax.block_until_ready(graph(cells, cluster(cells)))
    compile_s = time.perf_counter() - t0
    stages = {"simulation": [], "clustering": [], "jets": [], "graph": []}
    particles, clusters_n = [], []
    for i, ev in enumerate(events):
        args = padded(ev)
        t0 = time.perf_counter()
        cells = jax.block_until_ready(sim(jax.random.key(i + 1), *args))
        t1 = time.perf_counter()
        clusters = jax.block_until_ready(cluster(cells))
        t2 = time.perf_counter()
        calo.cluster_jets(clusters)
        calo.antikt_jets(ev["energy"], ev["eta"], ev["phi"])
        t3 = time.perf_counter()
        jax.block_until_ready(graph(cells, clusters))
        t4 = time.perf_counter()
        for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            stages[name].append(dt)
        particles.append(len(ev["pdg"]))
        clusters_n.append(int(clusters.n_clusters))
    per = {k: float(np.mean(v)) for k, v in stages.items()}
    total = sum(per.values())
    return {
        "geometry_cells": geo.n_cells,
        "scale": scale,
        "events": n_events,
        "particles_per_event": float(np.mean(particles)),
        "clusters_per_event": float(np.mean(clusters_n)),
        "pythia_s": pythia_s,
        "compile_s": compile_s,
        "s_per_event": total,
        "events_per_s": 1.0 / total,
        **{f"{k}_s_per_event": v for k, v in per.items()},
    }


def ttbar_markdown(r: dict, machine: str) -> str:
    coarser = "" if r["scale"] == 1 else f", granularity divided by {r['scale']}"
    rows = "".join(
        f"| {k} | {r[f'{k}_s_per_event']:.4f} | {1.0 / r[f'{k}_s_per_event']:.1f} |\n"
        for k in ("simulation", "clustering", "jets", "graph")
    )
    return (
        f"{TTBAR_SECTION}\n\n"
        f"Measured {datetime.date.today().isoformat()} on {machine}, one process, "
        f"JAX {jax.__version__} on {jax.devices()[0].platform}. COCOA's tt-bar sample "
        f"(Pythia 8, 14 TeV, pT > 1 GeV, |eta| < 3; {r['particles_per_event']:.0f} particles "
        f"and {r['clusters_per_event']:.0f} topoclusters per event) in COCOA's default "
        f"detector ({r['geometry_cells']:,} cells{coarser}), {r['events']} events after "
        f"compilation ({r['compile_s']:.1f} s once).\n\n"
        "| stage | s / event | events / s |\n|---|---:|---:|\n"
        f"{rows}"
        f"| **all** | {r['s_per_event']:.4f} | {r['events_per_s']:.2f} |\n"
    )


def markdown(r: dict, machine: str) -> str:
    coarser = "" if r["scale"] == 1 else f", granularity divided by {r['scale']}"
    return (
        f"{SECTION}\n\n"
        f"Measured {datetime.date.today().isoformat()} on {machine}, one process, "
        f"JAX {jax.__version__} on {jax.devices()[0].platform}. COCOA's default detector "
        f"({r['geometry_cells']:,} cells{coarser}), {r['events']} events of "
        f"{r['blobs_per_event']} deposit blobs plus noise, {r['mean_clusters']:.0f} clusters "
        f"and {r['mean_clustered_cells']:.0f} clustered cells per event on average; both "
        "implementations agree on every cell.\n\n"
        "| implementation | s / event | events / s |\n|---|---|---|\n"
        f"| hepjax `topoclusters` (jit) | {r['hepjax_s_per_event']:.4f} | "
        f"{r['hepjax_events_per_s']:.1f} |\n"
        f"| plain-Python reference | {r['reference_s_per_event']:.3f} | "
        f"{r['reference_events_per_s']:.2f} |\n\n"
        f"Speed-up {r['speedup']:.1f}x; compilation {r['compile_s']:.1f} s once.\n"
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--blobs", type=int, default=40, help="deposit blobs per event")
    p.add_argument("--scale", type=int, default=1, help="granularity divisor (1: COCOA's)")
    p.add_argument("--ttbar", type=int, default=10, help="tt-bar events (0: skip)")
    p.add_argument(
        "--quick", action="store_true", help="3 (clustering) and 2 (tt-bar) events, 4x coarser"
    )
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--out", type=Path, default=Path("bench_calo.json"))
    args = p.parse_args(argv)
    n_events, scale = (3, 4) if args.quick else (args.events, args.scale)
    result = run(n_events, args.blobs, scale)
    machine = cpu_model()
    print(json.dumps(result, indent=2))
    text = markdown(result, machine)
    print(text)
    n_ttbar = 2 if args.quick else args.ttbar
    ttbar = run_ttbar(n_ttbar, scale) if n_ttbar > 0 else None
    if ttbar is not None:
        print(json.dumps(ttbar, indent=2))
        ttbar_text = ttbar_markdown(ttbar, machine)
        print(ttbar_text)
    if not args.no_write:
        saved = {"machine": machine, **result, "ttbar": ttbar}
        args.out.write_text(json.dumps(saved, indent=2))
        if scale == 1:
            write_section(BENCHMARKS_MD, SECTION, text)
            if ttbar is not None:
                write_section(BENCHMARKS_MD, TTBAR_SECTION, ttbar_text)


if __name__ == "__main__":
    main()
