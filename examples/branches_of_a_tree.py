"""Stochastic AD through a branching program: "Branches of a tree" (arXiv:2308.16680).

Reproduces the detector-design study of Kagan and Heinrich with hepjax's
compiled, batched toy shower (:func:`hepjax.sim.branching.shower`):

1. **Gradient distributions** at theta = 2.5 for both modes ("split": the
   shower; "eloss": one particle losing energy) and every estimator: stochastic
   AD (:class:`~hepjax.estimators.AlternativePath` with derivative pruning, and
   with probability pruning), the score function with and without a batch-mean
   baseline, central finite differences with common random numbers, and the
   paper's "numeric" estimator (a forward difference of two independent runs,
   eps = 0.01).
2. **Loss landscape**: the expected objective (mean hit radius - 2)^2 against
   the detector's inner radius theta, for both modes.
3. **Design optimisation** (shower mode): Adam with lr 0.01, 500 steps,
   minibatches of 2 showers, theta0 = 3, 10 repeats; the final loss is the
   mean of the last 50 steps, reported as mean and spread over the repeats,
   next to the paper's numbers.

``--scale paper`` is that protocol (under an hour on a 2-core CPU); ``--scale small``
shortens it (fewer repeats, 250 steps at twice the learning rate, fewer
gradient samples) to run in under three minutes; ``--scale tour`` (the demo)
keeps every step of the study at a tenth of the samples.
"""

from __future__ import annotations

import json
import os
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import hepjax.estimators as hje
from hepjax.cli import Paper, Row, example_main, register
from hepjax.sim import branching

SCALES = {
    "tour": {
        "grad_runs": 300,
        "landscape_thetas": 9,
        "landscape_runs": 100,
        "steps": 150,
        "lr": 0.03,
        "repeats": 2,
        "last": 20,
    },
    "small": {
        "grad_runs": 600,
        "landscape_thetas": 13,
        "landscape_runs": 200,
        "steps": 250,
        "lr": 0.02,
        "repeats": 4,
        "last": 25,
    },
    "paper": {
        "grad_runs": 5000,
        "landscape_thetas": 31,
        "landscape_runs": 2000,
        "steps": 500,
        "lr": 0.01,
        "repeats": 10,
        "last": 50,
    },
}
MINIBATCH = 2
THETA0 = 3.0
THETA_GRAD = 2.5
EPS_NUMERIC = 0.01  # the paper's forward-difference step
# Shower mode, mean of the last 50 steps +- spread over 10 runs (arXiv:2308.16680).
ANCHOR = {
    "stochastic AD": (0.104, 0.021),
    "score + baseline": (0.115, 0.039),
    "score": (0.845, 0.166),
    "numeric": (2.99, 0.91),
}
STUDY_ONLY = ("stochastic AD (prob. pruning)",)
MODES = ("split", "eloss")


def program(mode):
    def f(key, theta):
        return branching.mean_radius_loss(branching.shower(key, theta, mode=mode))

    return f


def estimators() -> dict:
    return {
        "stochastic AD": hje.AlternativePath(pruning="derivative"),
        "stochastic AD (prob. pruning)": hje.AlternativePath(),
        "score + baseline": hje.ScoreFunction(baseline="batch_mean"),
        "score": hje.ScoreFunction(baseline="none"),
        "finite diff. (CRN)": hje.FiniteDifference(step=EPS_NUMERIC, relative=False),
        "numeric": None,  # the paper's forward difference of two independent runs
    }


def per_sample(name, mode, n):
    """``f(key, theta) -> (values (n,), grads (n,))`` for one estimator."""
    prog = program(mode)
    est = estimators()[name]
    if est is None:

        def numeric(key, theta):
            k0, k1 = jax.random.split(key)
            f0 = jax.vmap(prog, (0, None))(jax.random.split(k0, n), theta)
            f1 = jax.vmap(prog, (0, None))(jax.random.split(k1, n), theta + EPS_NUMERIC)
            return f0, (f1 - f0) / EPS_NUMERIC

        return numeric
    f = hje.value_and_grad(prog, estimator=est, num_samples=n, return_samples=True)

    def wrapped(key, theta):
        _, _, s = f(key, theta)
        return s.values, s.grads

    return wrapped


def gradient_study(cfg, key):
    out = {}
    for mode in MODES:
        out[mode] = {}
        for i, name in enumerate(estimators()):
            f = jax.jit(per_sample(name, mode, cfg["grad_runs"]))
            t0 = time.perf_counter()
            _, g = f(jax.random.fold_in(key, i), jnp.asarray(THETA_GRAD))
            g = np.asarray(g)
            out[mode][name] = {
                "grads": g,
                "mean": float(g.mean()),
                "stderr": float(g.std(ddof=1) / np.sqrt(g.size)),
                "variance": float(g.var(ddof=1)),
                "seconds": time.perf_counter() - t0,
            }
    return out


def landscape(cfg, key):
    thetas = np.linspace(0.0, 6.0, cfg["landscape_thetas"])
    n = cfg["landscape_runs"]
    out = {"theta": thetas}
    for mode in MODES:
        prog = program(mode)
        f = jax.jit(jax.vmap(jax.vmap(prog, (0, None)), (None, 0)))
        loss = np.asarray(f(jax.random.split(key, n), jnp.asarray(thetas, jnp.float32)))
        out[mode] = (loss.mean(1), loss.std(1, ddof=1) / np.sqrt(n))
    return out


def optimise(name, cfg, key):
    """Adam on theta with minibatch gradients; ``repeats`` runs vmapped together."""
    f = per_sample(name, "split", MINIBATCH)
    opt = optax.adam(cfg["lr"])

    def one(key):
        def step(c, k):
            theta, state = c
            values, grads = f(k, theta)
            updates, state = opt.update(jnp.mean(grads), state, theta)
            theta = jnp.maximum(optax.apply_updates(theta, updates), 0.0)  # as the paper
            return (theta, state), (jnp.mean(values), theta)

        th0 = jnp.asarray(THETA0)
        keys = jax.random.split(key, cfg["steps"])
        _, (loss, theta) = jax.lax.scan(step, (th0, opt.init(th0)), keys)
        return loss, theta

    t0 = time.perf_counter()
    loss, theta = jax.jit(jax.vmap(one))(jax.random.split(key, cfg["repeats"]))
    loss, theta = np.asarray(loss), np.asarray(theta)
    final = loss[:, -cfg["last"] :].mean(1)
    return {
        "loss": loss,
        "theta": theta,
        "final": final,
        "seconds": time.perf_counter() - t0,
    }


def _moving_average(x, w=10):
    c = np.cumsum(np.insert(x, 0, 0.0, axis=-1), axis=-1)
    return (c[..., w:] - c[..., :-w]) / w


def plot(grads, land, opt, out: pathlib.Path, key):
    from hepjax._core import figure

    with figure(out / "gradient_distributions.png", size=(12, 4.5), ncols=2) as (_, axes):
        for ax, mode in zip(axes, MODES, strict=True):
            lo, hi = np.percentile(grads[mode]["score"]["grads"], [1, 99])
            bins = np.linspace(lo, hi, 60)
            for name, r in grads[mode].items():
                if name == "numeric":
                    continue  # orders of magnitude wider
                ax.hist(np.clip(r["grads"], lo, hi), bins, histtype="step", density=True,
                        label=f"{name} (var {r['variance']:.3g})")  # fmt: skip
            ax.set_yscale("log")
            ax.set_xlabel(f"dL/dtheta at theta = {THETA_GRAD} ({mode})")
            ax.legend(fontsize=8)
    with figure(out / "loss_landscape.png", size=(6.5, 4.5)) as (_, ax):
        for mode in MODES:
            m, se = land[mode]
            ax.plot(land["theta"], m, label=mode)
            ax.fill_between(land["theta"], m - 2 * se, m + 2 * se, alpha=0.3)
        ax.axvline(THETA_GRAD, color="k", lw=0.8, ls=":")
        ax.set_xlabel("detector inner radius theta")
        ax.set_ylabel("E[(mean hit radius - 2)^2]")
        ax.legend()
    with figure(out / "optimisation.png", size=(12, 4.5), ncols=2) as (_, axes):
        for name, r in opt.items():
            ma = _moving_average(r["loss"])
            (line,) = axes[0].plot(ma.mean(0), label=name)
            axes[0].fill_between(np.arange(ma.shape[1]), ma.min(0), ma.max(0), alpha=0.15,
                                 color=line.get_color())  # fmt: skip
            axes[1].plot(r["theta"].mean(0), label=name, color=line.get_color())
        axes[0].set_ylim(0, 5)
        axes[0].set_xlabel("Adam step")
        axes[0].set_ylabel("loss (10-step average)")
        axes[0].legend(fontsize=8)
        axes[1].set_xlabel("Adam step")
        axes[1].set_ylabel("theta (mean of repeats)")
    with figure(out / "showers.png", size=(10, 5), ncols=2) as (_, axes):
        keys = jax.random.split(key, 30)
        for ax, mode in zip(axes, MODES, strict=True):
            sh = jax.vmap(lambda k, mode=mode: branching.shower(k, THETA_GRAD, mode=mode))(keys)
            hits, kind = np.asarray(sh.hits).reshape(-1, 2), np.asarray(sh.hit_kind).ravel()
            for k, lab in ((1, "interaction"), (2, "end")):
                ax.scatter(*hits[kind == k].T, s=3, label=lab)
            t = np.linspace(0, 2 * np.pi, 200)
            ax.plot(THETA_GRAD * np.cos(t), THETA_GRAD * np.sin(t), "k", lw=0.6)
            ax.set_xlim(-6, 6)
            ax.set_ylim(-6, 6)
            ax.set_aspect("equal")
            ax.set_title(f"{mode}: 30 showers, theta = {THETA_GRAD}", fontsize=12)
            ax.legend(fontsize=8)


def table(opt, cfg) -> str:
    lines = [
        f"Shower mode, final loss = mean of the last {cfg['last']} of {cfg['steps']} Adam steps "
        f"(lr {cfg['lr']}, minibatch {MINIBATCH}, theta0 = {THETA0}), mean +- spread (std) "
        f"over {cfg['repeats']} repeats.",
        "",
        "| estimator | hepjax | anchor (arXiv:2308.16680) | final theta |",
        "|---|---|---|---|",
    ]
    for name, r in opt.items():
        a = ANCHOR.get(name)
        anchor = f"{a[0]} +- {a[1]}" if a else "-"
        lines.append(
            f"| {name} | {r['final'].mean():.3f} +- {r['final'].std():.3f} | {anchor} | "
            f"{r['theta'][:, -1].mean():.2f} +- {r['theta'][:, -1].std():.2f} |"
        )
    return "\n".join(lines) + "\n"


def report(metrics: dict, scale: str) -> list[Row]:
    """The paper's design-optimisation table next to this run's, and the variance ranking."""
    cfg = SCALES[scale]
    note = f"{cfg['steps']} Adam steps, {cfg['repeats']} repeats (paper: 500, 10)"
    rows = [
        Row(
            f"final loss, {name}",
            anchor,
            (
                metrics[f"estimators.{name}.final_loss_mean"],
                metrics[f"estimators.{name}.final_loss_spread"],
            ),
            note=note,
        )
        for name, anchor in ANCHOR.items()
    ]
    ratio = (
        metrics["estimators.score.grad_variance_theta2.5_split"]
        / metrics["estimators.stochastic AD.grad_variance_theta2.5_split"]
    )
    rows.append(
        Row(
            "gradient variance, score / stochastic AD (theta = 2.5, shower)",
            "> 1 (stochastic AD lowest)",
            ratio,
            note=f"{cfg['grad_runs']} gradient samples each",
        )
    )
    rows.append(
        Row(
            "loss-landscape minimum (shower)",
            None,
            metrics["landscape_split_min_theta"],
            note="detector inner radius theta",
        )
    )
    return rows


@register(
    "branches_of_a_tree",
    summary="Stochastic AD through a branching shower: gradient estimators and detector-design "
    "optimisation (arXiv:2308.16680)",
    paper=Paper(
        "Branches of a Tree: Taking Derivatives of Programs with Discrete and Branching "
        "Randomness in High Energy Physics",
        "2308.16680",
        "Stochastic automatic differentiation gives unbiased, low-variance gradients through "
        "a particle shower, so a detector's design can be optimised by gradient descent.",
    ),
    report=report,
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Gradient distributions, loss landscape and design optimisation of the toy shower."""
    cfg = SCALES[scale]
    key = jax.random.key(2308)
    k_grad, k_land, k_opt, k_show = jax.random.split(key, 4)
    grads = gradient_study(cfg, k_grad)
    land = landscape(cfg, k_land)
    opt = {
        name: optimise(name, cfg, jax.random.fold_in(k_opt, i))
        for i, name in enumerate(estimators())
        if name not in STUDY_ONLY
    }
    plot(grads, land, opt, out, k_show)
    text = table(opt, cfg)
    tmp = out / ".table.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / "table.md")
    print(text)

    metrics: dict = {"protocol": dict(cfg, minibatch=MINIBATCH, theta0=THETA0)}
    per_est: dict = {}
    for name in estimators():
        entry: dict = {}
        for mode in MODES:
            g = grads[mode][name]
            entry[f"grad_variance_theta2.5_{mode}"] = g["variance"]
            entry[f"grad_mean_theta2.5_{mode}"] = g["mean"]
            entry[f"grad_stderr_theta2.5_{mode}"] = g["stderr"]
        if name in opt:
            r = opt[name]
            entry["final_loss_mean"] = float(r["final"].mean())
            entry["final_loss_spread"] = float(r["final"].std())
            entry["final_theta_mean"] = float(r["theta"][:, -1].mean())
            entry["optimisation_seconds"] = r["seconds"]
        if name in ANCHOR:
            entry["anchor_final_loss_mean"], entry["anchor_final_loss_spread"] = ANCHOR[name]
        per_est[name] = entry
    metrics["estimators"] = per_est
    i_min = int(np.argmin(land["split"][0]))
    metrics["landscape_split_min_theta"] = float(land["theta"][i_min])
    metrics["landscape_split_min_loss"] = float(land["split"][0][i_min])
    json.dumps(metrics)  # fail here, not in the runner, if something is not serialisable
    return metrics


if __name__ == "__main__":
    example_main(run)
