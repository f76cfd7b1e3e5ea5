"""Benchmark hepjax's branching shower against an anchor-style pure-NumPy implementation.

Runs in one go (``python scripts/bench_branching.py``):

1. hepjax :func:`hepjax.sim.branching.shower` (``grow_buffer=True``: faster
   to run, slower to compile) under ``jit`` + ``vmap`` for a batch of showers
   (default 4000) at theta = 2.5, in both modes; compile time reported
   separately; showers per second;
2. gradient estimates per second with each estimator
   (``hje.value_and_grad(..., num_samples=batch)``): stochastic AD
   (alternative path, derivative pruning), score function with a batch-mean
   baseline, central finite differences with common random numbers;
3. the same model written as the paper's code is, particle by particle in
   Python with NumPy random numbers (``NumpyShower`` below, written for this
   benchmark): forward showers, the score function (accumulating
   d log p / d theta along the way), finite differences (two runs) and a
   stochastic-AD estimate (a reservoir over the interaction draws by
   |dp/dtheta|, a deep copy of the particle list at each accepted fork, and the
   alternative continued after the primal), on fewer showers;
4. the ratios hepjax / NumPy of showers (or gradient estimates) per second.

Prints a Markdown table and writes ``bench_branching.json`` (``--out``).
``--quick`` shrinks every count for a smoke test.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import hepjax.estimators as hje
from hepjax.sim import branching

THETA = 2.5
STEP, E0, E_CUT, R_MAX, T, LOSS, KICK = 0.02, 25.0, 0.5, 20.0, 10.0, 2.0, 0.05
A, K, F = 0.5, 10.0, 10.0  # amplitude, sigmoid sharpness, sampling frequency


class NumpyShower:
    """The toy shower, one particle at a time, as the anchor's NumPy code runs it.

    ``lib="numpy"`` evaluates the interaction probability with NumPy's scalar
    functions, as the anchor does (the straightforward baseline); ``lib="math"``
    with Python's ``math`` module, several times faster per call (a tuned one).
    """

    def __init__(self, mode, seed=0, lib="numpy"):
        self.mode = mode
        self.rng = np.random.default_rng(seed)
        self.m = np if lib == "numpy" else math

    def _sig(self, z):
        return 1.0 / (1.0 + self.m.exp(-z)) if z > -700 else 0.0

    def prob(self, x, y, theta):
        m, sig = self.m, self._sig
        r = m.hypot(x, y)
        alpha = m.atan2(x, y) if m is math else m.arctan2(x, y)
        start = sig(K * (r - theta))
        end = sig(-K * (r - theta - T))
        sampling = sig(-K * m.sin(F * (alpha + 2 * r))) * sig(-K * m.cos(F * (r - 2)))
        p = A * start * end * sampling
        dp = p * (-K * (1 - start) + K * (1 - end))
        return p, dp

    def _interact(self, part, new_children):
        x, y, dx, dy, e = part
        if self.mode == "eloss":
            sx, sy = self.rng.choice((-1.0, 1.0), 2)
            ndx, ndy = dx + KICK * sx, dy + KICK * sy
            n = math.hypot(ndx, ndy)
            return [x, y, ndx / n, ndy / n, max(e - LOSS, 0.0)]
        n1 = math.hypot(dx + KICK, dy + KICK)
        n2 = math.hypot(dx - KICK, dy - KICK)
        new_children.append([x, y, (dx - KICK) / n2, (dy - KICK) / n2, e / 2])
        return [x, y, (dx + KICK) / n1, (dy + KICK) / n1, e / 2]

    def run(self, theta, particles=None, sums=(0.0, 0.0), *, score=False, stad=False):
        """Return (loss, d log p, (fork snapshot, total weight)).

        Stochastic AD with one-sided flips as the anchor: when dp/dtheta > 0 a draw
        that did not interact may flip to an interaction (weight dp/(1-p)), when
        dp/dtheta < 0 an interaction may flip to none (weight |dp|/p); either way
        the derivative is sum_i w_i (f(alt_i) - f) with w_i >= 0.
        """
        if particles is None:
            phi = self.rng.uniform(-math.pi, math.pi)
            particles = [[0.0, 0.0, math.cos(phi), math.sin(phi), E0]]
        r_sum, n_hits = sums
        dlogp, w_total, fork = 0.0, 0.0, None
        while particles:
            nxt = []
            for i, part in enumerate(particles):
                x, y, dx, dy, e = part
                nx, ny = x + STEP * dx, y + STEP * dy
                r = math.hypot(x, y)
                if e < E_CUT or math.hypot(nx, ny) > R_MAX:
                    r_sum, n_hits = r_sum + r, n_hits + 1
                    continue
                moved = [nx, ny, dx, dy, e]
                p, dp = self.prob(nx, ny, theta)
                inter = self.rng.uniform() < p
                if score and p > 0:
                    dlogp += dp / p if inter else -dp / (1 - p)
                if stad and dp != 0:
                    # one-sided flips as the paper: weight |dp| / p or |dp| / (1 - p)
                    w = (abs(dp) / p if dp < 0 else abs(dp) / (1 - p)) if 0 < p < 1 else 0.0
                    flip = inter if dp < 0 else not inter
                    if flip and w > 0:
                        w_total += w
                        if self.rng.uniform() < w / w_total:
                            alt_children = []
                            alt = (
                                [moved]
                                if inter
                                else [self._interact(list(moved), alt_children), *alt_children]
                            )
                            # (the particles after i move one step later on this
                            # branch: a cost model of the anchor, not its estimator)
                            rest = copy.deepcopy(nxt) + alt + copy.deepcopy(particles[i + 1 :])
                            hits = (r_sum + r, n_hits + 1) if not inter else (r_sum, n_hits)
                            fork = (rest, hits)
                if inter:
                    r_sum, n_hits = r_sum + r, n_hits + 1
                    moved = self._interact(moved, nxt)
                nxt.append(moved)
            particles = nxt
        loss = (r_sum / max(n_hits, 1) - 2.0) ** 2
        return loss, dlogp, (fork, w_total)

    def forward(self, theta):
        return self.run(theta)[0]

    def score(self, theta):
        loss, dlogp, _ = self.run(theta, score=True)
        return loss * dlogp

    def finite_difference(self, theta, h=0.05):
        seed = int(self.rng.integers(2**31))
        self.rng = np.random.default_rng(seed)
        plus = self.forward(theta + h)
        self.rng = np.random.default_rng(seed)
        minus = self.forward(theta - h)
        return (plus - minus) / (2 * h)

    def stochastic_ad(self, theta):
        loss, _, (fork, w_total) = self.run(theta, stad=True)
        if fork is None:
            return 0.0
        (rest, sums) = fork
        alt, _, _ = self.run(theta, rest, sums)
        return w_total * (alt - loss)


def _time(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    return time.perf_counter() - t0, out


def bench_hepjax(mode, n, reps):
    prog = lambda k, th: branching.mean_radius_loss(
        branching.shower(k, th, mode=mode, grow_buffer=True)
    )
    theta = jnp.asarray(THETA)
    fns = {
        "forward": jax.jit(lambda key: jax.vmap(prog, (0, None))(jax.random.split(key, n), theta)),
    }
    ests = {
        "stochastic AD": hje.AlternativePath(pruning="derivative"),
        "score + baseline": hje.ScoreFunction(baseline="batch_mean"),
        "finite diff. (CRN)": hje.FiniteDifference(step=0.05, relative=False),
    }
    for name, est in ests.items():
        f = hje.value_and_grad(prog, estimator=est, num_samples=n)
        fns[name] = jax.jit(lambda key, f=f: f(key, theta))
    out = {}
    for name, fn in fns.items():
        compile_s, _ = _time(fn, jax.random.key(0))
        times = [_time(fn, jax.random.key(i + 1))[0] for i in range(reps)]
        out[name] = {
            "compile_s": compile_s,
            "per_s": n / min(times),
            "median_s": float(np.median(times)),
        }
    return out


def bench_numpy(mode, n, lib):
    sim = NumpyShower(mode, seed=1, lib=lib)
    jobs = {
        "forward": sim.forward,
        "stochastic AD": sim.stochastic_ad,
        "score + baseline": sim.score,
        "finite diff. (CRN)": sim.finite_difference,
    }
    out = {}
    for name, fn in jobs.items():
        t0 = time.perf_counter()
        vals = [fn(THETA) for _ in range(n)]
        dt = time.perf_counter() - t0
        out[name] = {"per_s": n / dt, "mean": float(np.mean(vals))}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4000)
    ap.add_argument("--numpy", type=int, default=40, help="NumPy showers per measurement")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default="bench_branching.json")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.batch, args.numpy, args.reps = 200, 4, 1
    load0 = os.getloadavg()[0]
    results = {"batch": args.batch, "numpy_showers": args.numpy, "modes": {}}
    rows = []
    for mode in ("split", "eloss"):
        hj = bench_hepjax(mode, args.batch, args.reps)
        nb = bench_numpy(mode, args.numpy, "numpy")
        nm = bench_numpy(mode, args.numpy, "math")
        results["modes"][mode] = {"hepjax": hj, "numpy": nb, "python_math": nm}
        for name in hj:
            ratio = hj[name]["per_s"] / nb[name]["per_s"]
            ratio_m = hj[name]["per_s"] / nm[name]["per_s"]
            results["modes"][mode].setdefault("ratio", {})[name] = ratio
            results["modes"][mode].setdefault("ratio_math", {})[name] = ratio_m
            rows.append(
                f"| {mode} | {name} | {hj[name]['per_s']:,.0f} | {hj[name]['compile_s']:.1f} | "
                f"{nb[name]['per_s']:,.1f} | **{ratio:,.1f}x** | {nm[name]['per_s']:,.1f} | "
                f"{ratio_m:,.1f}x |"
            )
    results["load_avg_before_after"] = [load0, os.getloadavg()[0]]
    results["machine"] = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    print(
        f"theta = {THETA}; hepjax batch {args.batch} (jit + vmap, best of {args.reps}); "
        f"NumPy / Python {args.numpy} showers each, particle by particle\n"
    )
    print(
        "| mode | task | hepjax per s | hepjax compile s | NumPy per s | ratio | "
        "Python math per s | ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\n1-min load average before/after: {results['load_avg_before_after']}")
    tmp = args.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(results, fh, indent=2)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
