"""Optimising a sampling calorimeter: local surrogates, mutual information, direct gradients.

Reproduces the setting of arXiv:2503.14342 (Woźniak et al., "End-to-end optimal detector
design with mutual information surrogates") on hepjax's parametrised sampling calorimeter
(:func:`hepjax.sim.calo.simulate_sampling`): three (lead absorber, plastic scintillator)
layers of fixed total length, electrons of 1-20 GeV. The design is the absorber fraction of
each layer, ``psi = (x1, x2, x3)``, with the layer's absorber ``x L/3`` and active
``(1 - x) L/3`` thick.

Two objectives, both functions of a batch of simulated events ``(E, V1, V2, V3)``:

* RECO: the rms relative error of the best linear energy regressor
  ``E_hat = w . (V, 1)`` (fitted in closed form on the batch, so the objective stays
  differentiable), i.e. the energy resolution of a learned reconstruction;
* MI: minus the InfoNCE bound of ``I(E; V)`` with a Gaussian critic on ``log E``
  (its mean linear in ``V``, fitted in closed form), which needs no reconstruction target.

Each is minimised by the local generative surrogate (L-GSO), RECO also by pathwise gradients
through the simulator and by finite differences, and both are compared with a brute-force
grid. ``metrics.json`` holds the optima, the simulator calls of each method and the checks
of the issue (agreement with the grid within one grid step; the MI optimum inside the region
where the resolution is within 5% of its best).
"""

import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _compilation_cache import compilation_cache  # shared with the jet examples, next to this file

from hepjax import design
from hepjax.cli import Paper, Row, example_main, register
from hepjax.sim.calo import SamplingCalorimeter, simulate_sampling

SCALES = {
    "tour": dict(
        grid=5, grid_samples=256, steps=5, designs=4, samples=128, train_steps=40,
        gradient_steps=6, gradient_samples=256, fd_samples=128, mi_steps=3,
    ),
    "small": dict(
        grid=9, grid_samples=4096, steps=25, designs=8, samples=512, train_steps=200,
        gradient_steps=40, gradient_samples=2048, fd_samples=1024, mi_steps=25,
    ),
    "paper": dict(
        grid=17, grid_samples=16384, steps=60, designs=16, samples=2048, train_steps=500,
        gradient_steps=100, gradient_samples=8192, fd_samples=4096, mi_steps=60,
    ),
}  # fmt: skip

LENGTH_MM = 150.0  # total length of the three layers (26.7 X0 of lead at most)
LOWER, UPPER = 0.1, 0.9  # absorber fraction of each layer
START = (0.3, 0.3, 0.3)
CALO = SamplingCalorimeter(absorber="lead", active="scintillator", num_layers=3)

PAPER = Paper(
    "End-to-end optimal detector design with mutual information surrogates",
    "2503.14342",
    "Local surrogates of a sampling calorimeter's simulator, trained around the current design, "
    "give gradients of a reconstruction objective or of the mutual information between the "
    "true energy and the response; the two optima are close.",
)


def thickness(psi):
    """``(a1, s1, a2, s2, a3, s3)`` in mm from the absorber fractions ``psi``."""
    layer = LENGTH_MM / 3.0
    psi = jnp.asarray(psi)
    return jnp.stack([psi * layer, (1.0 - psi) * layer], axis=1).reshape(-1)


def simulate(key, psi):
    """One electron of 1-20 GeV: ``(E, V1, V2, V3)`` in GeV."""
    return simulate_sampling(key, CALO, thickness(psi))


def _energy(x):
    # surrogate samples of E may stray below the simulated 1 GeV: keep them positive
    return jnp.maximum(x[:, 0], 0.5)


def _features(x):
    return jnp.concatenate([x[:, 1:], jnp.ones((x.shape[0], 1), x.dtype)], axis=1)


def reco_objective(x):
    """RMS of (E_hat - E)/E for the least-squares linear regressor on the batch."""
    energy = _energy(x)
    a = _features(x) / energy[:, None]
    w = jnp.linalg.solve(a.T @ a + 1e-6 * jnp.eye(a.shape[1]), a.T @ jnp.ones_like(energy))
    return jnp.sqrt(jnp.mean((a @ w - 1.0) ** 2))


def mi_objective(x):
    """Minus InfoNCE of I(log E; V) with a Gaussian critic whose mean is linear in V."""
    log_e = jnp.log(_energy(x))
    a = _features(x)
    w = jnp.linalg.solve(a.T @ a + 1e-6 * jnp.eye(a.shape[1]), a.T @ log_e)
    mean = a @ w
    var = jnp.mean((log_e - mean) ** 2) + 1e-6
    # scores[i, j] = log N(log E_j; mean(V_i), var): joint pairs on the diagonal
    scores = -((log_e[None, :] - mean[:, None]) ** 2) / (2 * var)
    estimate, _ = design.InfoNCE().bound(scores)
    return -estimate


def _grid(space, cfg, out_key):
    designs = space.grid(cfg["grid"])
    n = cfg["grid_samples"]
    keys = jax.random.split(out_key, n)  # common random numbers across the grid
    sim = jax.jit(jax.vmap(jax.vmap(simulate, in_axes=(0, None)), in_axes=(None, 0)))
    reco, mi = [], []
    for chunk in np.array_split(designs, max(1, len(designs) // 64)):
        x = sim(keys, jnp.asarray(chunk, jnp.float32))
        reco.append(np.asarray(jax.vmap(reco_objective)(x)))
        mi.append(np.asarray(jax.vmap(mi_objective)(x)))
    return designs, np.concatenate(reco), np.concatenate(mi)


def _calls_to_reach(result, optimum, step):
    """Simulator calls when the path first came within one grid step of ``optimum``."""
    close = np.all(np.abs(result.path - optimum) <= step + 1e-9, axis=1)
    if not np.any(close):
        return None
    return int(result.simulations_at[int(np.argmax(close))])


def _plots(out, space, grid, reco, results, best):
    from hepjax._core import figure

    num = round(len(grid) ** (1 / 3))
    axis = np.linspace(LOWER, UPPER, num)
    cube = reco.reshape(num, num, num)
    k3 = int(np.argmin(np.abs(axis - best[2])))
    with figure(out / "landscape.png", size=(9.0, 7.0)) as (fig, ax):
        levels = np.linspace(cube.min(), np.percentile(cube, 90), 15)
        cs = ax.contourf(axis, axis, cube[:, :, k3].T, levels=levels, cmap="viridis", extend="max")
        fig.colorbar(cs, ax=ax, label="resolution (rms of $\\Delta E/E$)")
        for (name, res), color in zip(results.items(), ("C1", "C3", "w", "C6"), strict=False):
            ax.plot(res.path[:, 0], res.path[:, 1], "o-", ms=3, color=color, label=name)
        ax.plot(*best[:2], "r*", ms=14, label="grid optimum")
        ax.set_xlabel(f"{space.names[0]} (absorber fraction)")
        ax.set_ylabel(f"{space.names[1]} (absorber fraction)")
        ax.set_title(f"slice {space.names[2]} = {axis[k3]:.2f}")
        ax.legend(fontsize=7, loc="upper right")
    with figure(out / "resolution_vs_iteration.png", ncols=2, size=(11.0, 4.2)) as (_fig, axes):
        for name, res in results.items():
            if name.startswith("MI"):
                continue
            axes[0].plot(res.objective, "o-", ms=3, label=name)
            axes[1].plot(res.simulations_at, res.objective, "o-", ms=3, label=name)
        for ax in axes:
            ax.axhline(reco.min(), color="k", ls="--", lw=1, label="grid best")
            ax.set_ylabel("resolution (rms of $\\Delta E/E$)")
            ax.legend(fontsize=7)
        axes[0].set_xlabel("iteration")
        axes[1].set_xlabel("simulator calls")
        axes[1].set_xscale("log")


@register(
    "detector_design",
    summary="Calorimeter layer thicknesses by local surrogates, MI and direct gradients",
    paper=PAPER,
    report=lambda metrics, scale: report(metrics, scale),
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Grid, local surrogates (RECO, MI), direct gradients and finite differences."""
    with compilation_cache():  # the tour is mostly compilation: reuse it across runs
        # many small programs (the simulator, the objectives, the flow's steps): cache them all
        old = jax.config.jax_persistent_cache_min_compile_time_secs
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        try:
            return _run(scale, pathlib.Path(out))
        finally:
            jax.config.update("jax_persistent_cache_min_compile_time_secs", old)


def _run(scale: str, out: pathlib.Path) -> dict:
    cfg = SCALES[scale]
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    space = design.Box(lower=[LOWER] * 3, upper=[UPPER] * 3, names=["x1", "x2", "x3"])
    step = (UPPER - LOWER) / (cfg["grid"] - 1)
    key = jax.random.key(0)
    k_grid, k_sur, k_mi, k_dir, k_fd = jax.random.split(key, 5)

    grid, reco, mi = _grid(space, cfg, k_grid)
    best = grid[int(np.argmin(reco))]
    best_mi_grid = grid[int(np.argmin(mi))]
    grid_seconds = time.perf_counter() - started
    print(f"grid: RECO optimum {best}, resolution {reco.min():.4f}", flush=True)

    width = 0.3  # trust-box half-width: 3/8 of the range, as L-GSO's few-percent boxes on
    # a steeper landscape would see only noise on this flat one

    def adam(updates):  # large steps first, small ones to settle in the flat valley
        return optax.adam(optax.cosine_decay_schedule(0.1, updates, alpha=0.1))

    common = dict(
        box_width=width,
        designs_per_step=cfg["designs"],
        samples_per_design=cfg["samples"],
        train_steps=cfg["train_steps"],
        surrogate_steps=2,
        num_given=1,  # the flow models (V1, V2, V3) given the design and the true energy
    )
    results = {}
    seconds = {}
    for name, objective, k, steps in (
        ("surrogate RECO", reco_objective, k_sur, cfg["steps"]),
        ("MI surrogate", mi_objective, k_mi, cfg["mi_steps"]),
    ):
        t0 = time.perf_counter()
        opt = design.LocalSurrogateOptimizer(
            simulate, objective, space, optimizer=adam(2 * steps), **common
        )
        log = out / f"{name.replace(' ', '_')}.h5"
        log.unlink(missing_ok=True)  # a fresh campaign (a kept log would be resumed)
        results[name] = opt.run(k, START, steps=steps, log=log)
        seconds[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    direct = design.DirectGradientOptimizer(
        simulate,
        reco_objective,
        space,
        samples_per_step=cfg["gradient_samples"],
        optimizer=adam(cfg["gradient_steps"]),
    )
    results["direct gradient"] = direct.run(k_dir, START, steps=cfg["gradient_steps"])
    seconds["direct gradient"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fd = design.FiniteDifferenceOptimizer(
        simulate,
        reco_objective,
        space,
        samples_per_design=cfg["fd_samples"],
        step_size=0.5 * step / (UPPER - LOWER),
        optimizer=adam(cfg["gradient_steps"]),
    )
    results["finite differences"] = fd.run(k_fd, START, steps=cfg["gradient_steps"])
    seconds["finite differences"] = time.perf_counter() - t0

    # the resolution at each method's optimum, measured on one common sample
    final = np.stack([r.optimum for r in results.values()])
    x = jax.jit(jax.vmap(jax.vmap(simulate, in_axes=(0, None)), in_axes=(None, 0)))(
        jax.random.split(jax.random.key(7), cfg["grid_samples"]), jnp.asarray(final, jnp.float32)
    )
    final_reco = dict(zip(results, np.asarray(jax.vmap(reco_objective)(x)).tolist(), strict=True))
    sur, grad, mi_res, fdr = (results[n] for n in results)
    metrics = {
        "grid_optimum": best.tolist(),
        "grid_resolution": float(reco.min()),
        "grid_step": step,
        "grid_mi_optimum": best_mi_grid.tolist(),
        "surrogate_optimum": sur.optimum.tolist(),
        "gradient_optimum": results["direct gradient"].optimum.tolist(),
        "finite_difference_optimum": fdr.optimum.tolist(),
        "mi_optimum": results["MI surrogate"].optimum.tolist(),
        "resolution": final_reco,
        "surrogate_simulations": _calls_to_reach(sur, best, step),
        "finite_difference_simulations": _calls_to_reach(fdr, best, step),
        "gradient_simulations": _calls_to_reach(results["direct gradient"], best, step),
        "total_simulations": {n: int(r.simulations) for n, r in results.items()},
        "surrogate_within_one_step": bool(np.all(np.abs(sur.optimum - best) <= step + 1e-9)),
        "gradient_within_one_step": bool(
            np.all(np.abs(results["direct gradient"].optimum - best) <= step + 1e-9)
        ),
        "mi_resolution_over_best": final_reco["MI surrogate"] / float(reco.min()),
        "seconds": {**seconds, "grid": grid_seconds},
    }
    del grad, mi_res
    metrics["mi_within_5_percent"] = bool(metrics["mi_resolution_over_best"] <= 1.05)
    try:
        _plots(out, space, grid, reco, results, best)
    except ImportError:
        pass
    metrics["total_seconds"] = time.perf_counter() - started
    for name, res in results.items():
        print(f"{name}: optimum {np.round(res.optimum, 3)}, {res.simulations} calls", flush=True)
    return metrics


def report(metrics: dict, scale: str) -> list[Row]:
    """Optima against the grid, the MI check and the simulator calls."""
    cfg = SCALES[scale]
    step = metrics.get("grid_step")
    fmt = lambda v: None if v is None else "(" + ", ".join(f"{x:.2f}" for x in v) + ")"
    rows = [
        Row("grid optimum (x1, x2, x3)", None, fmt(metrics.get("grid_optimum")),
            note=f"{cfg['grid']}^3 designs, {cfg['grid_samples']} events each"),
        Row("surrogate RECO optimum", "within one grid step",
            fmt(metrics.get("surrogate_optimum")),
            note=f"within one step ({step:.2f}): {metrics.get('surrogate_within_one_step')}"),
        Row("direct-gradient optimum", "within one grid step",
            fmt(metrics.get("gradient_optimum")),
            note=f"pathwise gradients; within one step: {metrics.get('gradient_within_one_step')}"),
        Row("MI optimum: resolution / best", "<= 1.05", metrics.get("mi_resolution_over_best"),
            note=f"MI optimum {fmt(metrics.get('mi_optimum'))}"),
        Row("simulator calls to the optimum: surrogate", "fewer than finite differences",
            metrics.get("surrogate_simulations"),
            note="first design within one grid step of the grid optimum"),
        Row("simulator calls to the optimum: finite differences", None,
            metrics.get("finite_difference_simulations"),
            note=f"{cfg['fd_samples']} events at each of 7 designs per step"),
    ]  # fmt: skip
    return rows


if __name__ == "__main__":
    example_main(run)
