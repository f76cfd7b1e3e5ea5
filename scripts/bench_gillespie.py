"""Benchmark hepjax's Gillespie SSA against GillesPy2, and the estimators' cost.

Runs in one go (``python scripts/bench_gillespie.py``):

1. hepjax ``gillespie.simulate`` under ``jit`` + ``vmap`` for 10,000
   trajectories of birth-death (k1 = 10, k2 = 0.1, to t = 50) and of the
   repressilator (alpha = 216, alpha0 = 0.216, n = 2, translation 5, decays 1,
   to t = 100), compile time reported separately;
2. GillesPy2 1.8.3 (``pip install gillespy2==1.8.3``) on the same models with
   its C++ SSA solver (compile time separate) and its NumPy SSA solver, on
   fewer trajectories where it is slow (rates are per second, so comparable);
3. the cost of one gradient estimate per trajectory with each hepjax estimator
   relative to the forward simulation of the same trajectories.

Prints a Markdown table and writes ``bench_gillespie.json`` next to the
current directory (``--out``). ``--quick`` shrinks every count for a smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import hepjax.estimators as hje
from hepjax.sim import gillespie

BD_RATES = (10.0, 0.1)
BD_T = 50.0
REP_RATES = (216.0, 0.216, 5.0, 1.0, 1.0)
REP_X0 = (0, 0, 0, 5, 0, 15)
REP_T = 100.0
N_POINTS = 51


def _time(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    return time.perf_counter() - t0, out


def hepjax_forward(net, rates, x0, t_end, n, max_steps, seed=0):
    t_obs = jnp.linspace(0.0, t_end, N_POINTS)
    rates = jnp.asarray(rates, jnp.float32)
    x0 = jnp.asarray(x0)

    @jax.jit
    def run(key):
        keys = jax.random.split(key, n)
        sol = jax.vmap(lambda k: gillespie.simulate(k, net, rates, x0, t_obs, max_steps=max_steps))(
            keys
        )
        return sol.x, sol.overflow, sol.num_events

    compile_s, compiled = _time(lambda k: run.lower(k).compile(), jax.random.key(seed))
    run_s, (x, over, events) = _time(compiled, jax.random.key(seed + 1))
    return {
        "trajectories": n,
        "compile_s": compile_s,
        "run_s": run_s,
        "traj_per_s": n / run_s,
        "mean_events": float(jnp.mean(events)),
        "overflow": int(jnp.sum(over)),
        "mean_final": np.asarray(jnp.mean(x[:, -1], axis=0)).tolist(),
    }


def gillespy2_models():
    import gillespy2

    bd = gillespy2.Model(name="birth_death")
    k1 = gillespy2.Parameter(name="k1", expression=BD_RATES[0])
    k2 = gillespy2.Parameter(name="k2", expression=BD_RATES[1])
    bd.add_parameter([k1, k2])
    x = gillespy2.Species(name="X", initial_value=0, mode="discrete")
    bd.add_species([x])
    bd.add_reaction(
        [
            gillespy2.Reaction(name="birth", reactants={}, products={x: 1}, rate=k1),
            gillespy2.Reaction(name="death", reactants={x: 1}, products={}, rate=k2),
        ]
    )
    bd.timespan(gillespy2.TimeSpan.linspace(t=BD_T, num_points=N_POINTS))

    rep = gillespy2.Model(name="repressilator")
    names = ("alpha", "alpha0", "beta", "gamma_m", "gamma_p")
    pars = {
        n: gillespy2.Parameter(name=n, expression=v) for n, v in zip(names, REP_RATES, strict=True)
    }
    rep.add_parameter(list(pars.values()))
    sp = [
        gillespy2.Species(name=n, initial_value=v, mode="discrete")
        for n, v in zip(("m1", "m2", "m3", "p1", "p2", "p3"), REP_X0, strict=True)
    ]
    rep.add_species(sp)
    reactions = []
    for i in range(3):
        m, p, rep_p = sp[i], sp[3 + i], sp[3 + (i - 1) % 3]
        reactions += [
            gillespy2.Reaction(
                name=f"tx{i}",
                reactants={},
                products={m: 1},
                propensity_function=f"alpha0 + alpha/(1 + {rep_p.name}*{rep_p.name})",
            ),
            gillespy2.Reaction(
                name=f"mdeg{i}", reactants={m: 1}, products={}, rate=pars["gamma_m"]
            ),
            gillespy2.Reaction(
                name=f"tl{i}", reactants={m: 1}, products={m: 1, p: 1}, rate=pars["beta"]
            ),
            gillespy2.Reaction(
                name=f"pdeg{i}", reactants={p: 1}, products={}, rate=pars["gamma_p"]
            ),
        ]
    rep.add_reaction(reactions)
    rep.timespan(gillespy2.TimeSpan.linspace(t=REP_T, num_points=N_POINTS))
    return bd, rep


def _scons_sees_this_environment():
    """GillesPy2 runs SCons with the resolved base interpreter, outside a venv."""
    import site

    paths = [*site.getsitepackages(), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


def gillespy2_run(model, solver_name, n):
    import gillespy2

    _scons_sees_this_environment()

    t0 = time.perf_counter()
    if solver_name == "C++":
        solver = gillespy2.SSACSolver(model=model)
    else:
        solver = gillespy2.NumPySSASolver(model=model)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = model.run(solver=solver, number_of_trajectories=n, seed=1)
    run_s = time.perf_counter() - t0
    first = model.listOfSpecies
    name = "X" if "X" in first else "p1"
    final = float(np.mean([r[name][-1] for r in results]))
    return {
        "trajectories": n,
        "compile_s": compile_s,
        "run_s": run_s,
        "traj_per_s": n / run_s,
        "mean_final": final,
    }


def estimator_costs(n, num_samples):
    """Seconds per trajectory of each gradient estimate over the forward cost (birth-death)."""
    net = gillespie.birth_death()
    t_obs = jnp.linspace(0.0, BD_T, N_POINTS)
    rates = jnp.asarray(BD_RATES, jnp.float32)

    def program(key, rates):
        sol = gillespie.simulate(key, net, rates, jnp.array([0]), t_obs, max_steps=2000)
        return jnp.mean(sol.x[:, 0])

    fwd = jax.jit(lambda k: jax.vmap(program, in_axes=(0, None))(jax.random.split(k, n), rates))
    _time(fwd, jax.random.key(0))
    fwd_s, _ = _time(fwd, jax.random.key(1))
    out = {"forward_s": fwd_s, "trajectories": n}
    for name, est in {
        "AlternativePath": hje.AlternativePath(),
        "ScoreFunction": hje.ScoreFunction(),
        "GumbelSoftmaxST": hje.GumbelSoftmaxST(1.0),
        "FiniteDifference": hje.FiniteDifference(),
    }.items():
        f = jax.jit(hje.value_and_grad(program, estimator=est, num_samples=num_samples))
        compile_s, _ = _time(f, jax.random.key(0), rates)
        run_s, _ = _time(f, jax.random.key(1), rates)
        out[name] = {
            "compile_s": compile_s,
            "run_s": run_s,
            "relative_cost": (run_s / num_samples) / (fwd_s / n),
        }
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="bench_gillespie.json")
    parser.add_argument("--no-gillespy2", action="store_true")
    parser.add_argument(
        "--rep-trajectories",
        type=int,
        default=10_000,
        help="hepjax repressilator trajectories (each has ~120,000 events)",
    )
    args = parser.parse_args(argv)
    n_bd, n_rep = (1000, 100) if args.quick else (10_000, args.rep_trajectories)
    g_bd_cpp, g_bd_np, g_rep_cpp, g_rep_np = (
        (200, 20, 5, 1) if args.quick else (10_000, 200, 100, 3)
    )
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.processor() or ''}",
        "jax": jax.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    print("hepjax birth-death ...", flush=True)
    report["hepjax_bd"] = hepjax_forward(
        gillespie.birth_death(), BD_RATES, (0,), BD_T, n_bd, max_steps=3000
    )
    print(report["hepjax_bd"], flush=True)
    print("hepjax repressilator ...", flush=True)
    report["hepjax_rep"] = hepjax_forward(
        gillespie.repressilator(), REP_RATES, REP_X0, REP_T, n_rep, max_steps=200_000
    )
    print(report["hepjax_rep"], flush=True)
    if not args.no_gillespy2:
        bd, rep = gillespy2_models()
        for key, model, solver, n in (
            ("gillespy2_bd_cpp", bd, "C++", g_bd_cpp),
            ("gillespy2_bd_numpy", bd, "NumPy", g_bd_np),
            ("gillespy2_rep_cpp", rep, "C++", g_rep_cpp),
            ("gillespy2_rep_numpy", rep, "NumPy", g_rep_np),
        ):
            print(key, "...", flush=True)
            report[key] = gillespy2_run(model, solver, n)
            print(report[key], flush=True)
    print("estimator costs ...", flush=True)
    report["estimators"] = estimator_costs(*((200, 200) if args.quick else (2000, 2000)))
    print(report["estimators"], flush=True)

    rows = [("hepjax (jit+vmap)", "hepjax_bd", "hepjax_rep")]
    if not args.no_gillespy2:
        rows += [
            ("GillesPy2 C++ SSA", "gillespy2_bd_cpp", "gillespy2_rep_cpp"),
            ("GillesPy2 NumPy SSA", "gillespy2_bd_numpy", "gillespy2_rep_numpy"),
        ]
    print("\n| solver | birth-death traj/s (n) | repressilator traj/s (n) | compile s (bd / rep) |")
    print("|---|---|---|---|")
    for label, a, b in rows:
        ra, rb = report[a], report[b]
        print(
            f"| {label} | {ra['traj_per_s']:,.0f} ({ra['trajectories']:,}) | "
            f"{rb['traj_per_s']:,.1f} ({rb['trajectories']:,}) | "
            f"{ra['compile_s']:.1f} / {rb['compile_s']:.1f} |"
        )
    if not args.no_gillespy2:
        for model in ("bd", "rep"):
            ratio = (
                report[f"hepjax_{model}"]["traj_per_s"]
                / report[f"gillespy2_{model}_cpp"]["traj_per_s"]
            )
            report[f"ratio_{model}_vs_cpp"] = ratio
            print(f"hepjax / GillesPy2 C++ ({model}): {ratio:.2f}x")
    print("\n| estimator | gradient cost / forward cost (per trajectory) | compile s |")
    print("|---|---|---|")
    for name, r in report["estimators"].items():
        if isinstance(r, dict):
            print(f"| {name} | {r['relative_cost']:.2f} | {r['compile_s']:.1f} |")
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
