"""Benchmark the Pythia 8 + FastJet data generators and the JetNet HDF5 loading.

Runs in one go (``python scripts/bench_datagen.py``; needs ``pip install 'hepjax[hep]'``):

1. ``hepjax.data.collider.make_dataset`` on 2 worker processes, default
   settings (Pythia's default tune, MPI on), for one process of every data
   set: events/s and rows (jets or events)/s of wall time, and the shares of
   the workers' generation time spent in Pythia (``nextBatch``), in FastJet
   (clustering, N-subjettiness, soft drop) and in our own code (event-record
   walking, matching, features, HDF5 shard writing). The wall-time overhead
   outside the generators (worker start-up with the JAX import, merging the
   shards into the final files) is reported separately.
2. Peak resident memory of the workers and of the parent for ``n`` and
   ``4 n`` rows at a fixed shard size (it must not grow with ``n``).
3. Loading a JetNet-layout file of 170k jets (the generated jets, tiled):
   ``hepjax.data.formats.read_jetnet`` against ``jetnet``'s own
   ``JetNet.getData`` (jetnet 0.2.5, in the separate venv ``--jetnet-python``,
   whose dependencies (torch, coffea, energyflow) stay out of hepjax's
   environment; its Zenodo URL/md5 check is stubbed out because there is no
   network) and a plain ``h5py`` read.

Prints Markdown tables and writes ``bench_datagen.json`` (``--out``).
``--quick`` shrinks every count for a smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import textwrap
import time

RUNS = (  # (dataset, process, rows)
    ("jetnet", "t", 1000),
    ("jetnet", "g", 1000),
    ("jetclass", "Hbb", 400),
    ("lhco", "background", 400),
    ("lhco", "signal", 400),
    ("hh4b", "hh4b", 400),
)


def one_run(dataset: str, process: str, n: int, shard_size: int, out: pathlib.Path) -> dict:
    """make_dataset in a fresh interpreter; returns wall time, manifest stats, memory."""
    code = textwrap.dedent(
        f"""
        import json, resource, time, pathlib
        from hepjax.data.collider import make_dataset
        t = time.perf_counter()
        make_dataset({dataset!r}, {str(out)!r}, n={n}, types=[{process!r}], workers=2,
                     shard_size={shard_size}, progress=False)
        wall = time.perf_counter() - t
        m = json.loads(pathlib.Path({str(out)!r}, "manifest.json").read_text())
        print("@@" + json.dumps({{
            "wall": wall,
            "entry": m["processes"][{process!r}],
            "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_workers_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=7200
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = next(s for s in proc.stdout.splitlines() if s.startswith("@@"))
    r = json.loads(line[2:])
    shards = list(r["entry"]["shards"].values())
    gen = {k: sum(s[f"seconds_{k}"] for s in shards) for k in ("pythia", "clustering", "total")}
    events = sum(s["events"] for s in shards)
    return {
        "dataset": dataset,
        "process": process,
        "rows": n,
        "events": events,
        "wall_s": r["wall"],
        "events_per_s": events / r["wall"],
        "rows_per_s": n / r["wall"],
        "pass_fraction": r["entry"]["pass_fraction"],
        "share_pythia": gen["pythia"] / gen["total"],
        "share_clustering": gen["clustering"] / gen["total"],
        "share_ours": 1 - (gen["pythia"] + gen["clustering"]) / gen["total"],
        "gen_s_per_worker": gen["total"] / 2,
        "overhead_s": r["wall"] - gen["total"] / 2,
        "rss_parent_mb": r["rss_self_mb"],
        "rss_worker_mb": r["rss_workers_mb"],
    }


LOAD_JETNET = textwrap.dedent(
    """
    import sys, time, pathlib
    import jetnet.datasets.jetnet as jn
    path = pathlib.Path(sys.argv[1])
    # No network: skip the Zenodo URL / md5 lookup, keep everything else of getData.
    jn.checkDownloadZenodoDataset = lambda data_dir, dataset_name, record_id, key, download: str(
        pathlib.Path(data_dir) / key)
    best = 1e9
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter()
        pf, jf = jn.JetNet.getData("t", data_dir=str(path.parent), split="all")
        best = min(best, time.perf_counter() - t)
    print(best, pf.shape, jf.shape)
    """
)


def load_speed(path: pathlib.Path, repeats: int, jetnet_python: str | None) -> dict:
    import h5py

    from hepjax.data.formats import read_jetnet

    def best(fn):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    def plain():
        with h5py.File(path, "r") as f:
            return f["particle_features"][...], f["jet_features"][...]

    out = {"hepjax_read_jetnet_s": best(lambda: read_jetnet(path)), "h5py_plain_s": best(plain)}
    if jetnet_python and pathlib.Path(jetnet_python).exists():
        proc = subprocess.run(
            [jetnet_python, "-c", LOAD_JETNET, str(path), str(repeats)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            out["jetnet_getData_s"] = float(proc.stdout.split()[0])
            version = subprocess.run(
                [jetnet_python, "-c", "import jetnet; print(jetnet.__version__)"],
                capture_output=True,
                text=True,
            )
            out["jetnet_version"] = version.stdout.strip()
        else:
            out["jetnet_error"] = proc.stderr[-500:]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="bench_datagen.json")
    parser.add_argument("--jetnet-python", default="/work/jetnet-venv/bin/python")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_datagen_"))
    results: dict = {"machine": f"{os.cpu_count()} cores", "runs": [], "memory": []}

    for dataset, process, n in RUNS:
        n = max(20, int(n * scale))
        r = one_run(dataset, process, n, -(-n // 2), tmp / f"{dataset}-{process}")
        results["runs"].append(r)
        print(json.dumps(r), flush=True)

    shard = max(20, int(250 * scale))
    for n in (2 * shard, 8 * shard):
        r = one_run("jetnet", "q", n, shard, tmp / f"mem-{n}")
        results["memory"].append({k: r[k] for k in ("rows", "rss_parent_mb", "rss_worker_mb")})
        print(json.dumps(results["memory"][-1]), flush=True)

    # Load speed on a 170k-jet file written exactly as make_dataset writes its outputs.
    from hepjax.data import HDF5Writer
    from hepjax.data.formats import read_jetnet

    src = read_jetnet(tmp / "jetnet-t" / "t.hdf5")
    big = tmp / "load" / "t.hdf5"
    big.parent.mkdir()
    total = int(170_000 * scale)
    fields = {"particle_features": ((30, 4), "float32"), "jet_features": ((4,), "float32")}
    with HDF5Writer(big, fields, chunk_rows=1024, compression="gzip") as w:
        done = 0
        while done < total:
            k = min(len(src["jet_features"]), total - done)
            w.append(**{name: v[:k] for name, v in src.items()})
            done += k
    results["load"] = {"jets": total, **load_speed(big, 3, args.jetnet_python)}
    print(json.dumps(results["load"]), flush=True)

    print("\n| data set | process | rows | events/s | rows/s | pass | Pythia | FastJet | ours |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results["runs"]:
        print(
            f"| {r['dataset']} | {r['process']} | {r['rows']} | {r['events_per_s']:.0f} | "
            f"{r['rows_per_s']:.0f} | {r['pass_fraction']:.2f} | {r['share_pythia']:.0%} | "
            f"{r['share_clustering']:.0%} | {r['share_ours']:.0%} |"
        )
    print("\n| rows | parent peak RSS (MB) | worker peak RSS (MB) |\n|---|---|---|")
    for m in results["memory"]:
        print(f"| {m['rows']} | {m['rss_parent_mb']:.0f} | {m['rss_worker_mb']:.0f} |")
    print("\n", json.dumps(results["load"], indent=1))
    pathlib.Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}; self max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


if __name__ == "__main__":
    main()
