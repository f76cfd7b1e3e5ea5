r"""NPE benchmark: hepjax.sbi.NPE against the `sbi` package's NPE (PyTorch, CPU).

Both libraries train on the same simulations of sbibm's ``two_moons`` and
``gaussian_linear`` (10^4 by default), in one run of this script, and are
scored with the same C2ST (``hepjax.sbi.diagnostics.c2st``, sbibm's classifier)
against the reference posterior, averaged over fixed-key observations.

- hepjax: ``sbi.NPE(prior=task)`` with its defaults: a conditional neural spline
  flow (a conditional affine layer, then 5 coupling layers of rational-quadratic
  splines with 8 bins on [-5, 5], conditioners MLP 2 x 64 SiLU), batch 200,
  Adam 1e-3, clip 5, 10% validation, patience 20 epochs (the default
  ``sbi.TrainingOptions``), trained by ``hepjax.train.fit`` with whole epochs
  in one compiled call. The wall time includes JIT compilation (a cold start).
- sbi 0.27: ``NPE(prior, density_estimator="maf")`` with its defaults (masked
  autoregressive flow, 5 transforms, 50 hidden units, 2 blocks each), batch 200,
  Adam 5e-4, clip 5, 10% validation, patience 20 epochs;
  ``torch.set_num_threads(2)``. Samples are drawn with the posterior's default
  rejection of samples outside the prior's support (as hepjax's ``prior=``).

Usage:
    python scripts/bench_sbi.py              # prints the table
    python scripts/bench_sbi.py --write      # also updates docs/benchmarks.md
    python scripts/bench_sbi.py --num-sims 2000 --num-obs 2   # a quick check
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import tempfile
import time

import jax
import numpy as np
from _bench import BENCHMARKS_MD, cpu_model, write_section

from hepjax import sbi

SECTION = "## NPE against the sbi package (bench_sbi.py)"
TASKS = ("two_moons", "gaussian_linear")


def torch_prior(task):
    import torch
    from sbi.utils import BoxUniform

    if task.name == "two_moons":
        return BoxUniform(-torch.ones(2), torch.ones(2))
    if task.name == "gaussian_linear":
        cov = task.prior_scale * torch.eye(task.dim)
        return torch.distributions.MultivariateNormal(torch.zeros(task.dim), cov)
    raise ValueError(f"no torch prior for task {task.name!r}")


def run_hepjax(task, theta, x, observations, key, num_samples):
    t0 = time.perf_counter()
    est = sbi.NPE(prior=task, training=sbi.TrainingOptions(progress=False)).fit(key, theta, x)
    jax.block_until_ready(jax.tree.leaves(est.net))
    seconds = time.perf_counter() - t0
    samples = [
        np.asarray(est.sample(jax.random.fold_in(key, i), x_obs, num_samples))
        for i, x_obs in enumerate(observations)
    ]
    h = est.history
    info = f"{len(h.validation_steps)} epochs, {h.num_steps} steps, best at step {h.best_step}"
    return seconds, samples, info


def run_sbi(task, theta, x, observations, seed, num_samples, model):
    import torch
    from sbi.inference import NPE

    torch.manual_seed(seed)
    inference = NPE(prior=torch_prior(task), density_estimator=model, show_progress_bars=False)
    theta_t = torch.as_tensor(np.asarray(theta), dtype=torch.float32)
    x_t = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    t0 = time.perf_counter()
    estimator = inference.append_simulations(theta_t, x_t).train()
    seconds = time.perf_counter() - t0
    posterior = inference.build_posterior(estimator)
    samples = []
    for x_obs in observations:
        x_o = torch.as_tensor(np.asarray(x_obs), dtype=torch.float32)[None]
        s = posterior.sample((num_samples,), x=x_o, show_progress_bars=False)
        samples.append(s.numpy())
    info = f"{inference.summary['epochs_trained'][-1]} epochs"
    return seconds, samples, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sims", type=int, default=10_000)
    parser.add_argument("--num-obs", type=int, default=5, help="observations per task")
    parser.add_argument("--num-samples", type=int, default=5000, help="posterior samples")
    parser.add_argument("--sbi-model", default="maf", help="sbi's density_estimator")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--note", default="", help="a sentence for the docs (e.g. the load)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    os.chdir(tempfile.mkdtemp(prefix="bench_sbi_"))  # sbi's TensorBoard logs go here
    rows = []
    for t, name in enumerate(args.tasks):
        task = sbi.tasks.get(name)
        key = jax.random.key(100 + t)
        k_sim, k_obs, k_ref, k_fit = jax.random.split(key, 4)
        theta, x = task.simulate(k_sim, args.num_sims)
        obs_keys = jax.random.split(k_obs, args.num_obs)
        observations = [task.observation(k)[1] for k in obs_keys]
        refs = [
            np.asarray(
                task.reference_posterior(jax.random.fold_in(k_ref, i), x_o, args.num_samples)
            )
            for i, x_o in enumerate(observations)
        ]
        results = {}
        for lib in ("hepjax", "sbi"):
            if lib == "hepjax":
                seconds, samples, info = run_hepjax(
                    task, theta, x, observations, k_fit, args.num_samples
                )
            else:
                seconds, samples, info = run_sbi(
                    task, theta, x, observations, t, args.num_samples, args.sbi_model
                )
            scores = [sbi.diagnostics.c2st(s, r) for s, r in zip(samples, refs, strict=True)]
            results[lib] = (seconds, statistics.mean(scores), np.std(scores) / len(scores) ** 0.5)
            print(
                f"{name:16s} {lib:7s} train {seconds:6.1f} s  C2ST {results[lib][1]:.3f} "
                f"+- {results[lib][2]:.3f}  ({info})",
                flush=True,
            )
        rows.append((name, results))

    lines = [
        "| task | hepjax NPE train [s] | sbi NPE train [s] | speed-up | hepjax C2ST | sbi C2ST |",
        "|---|---|---|---|---|---|",
    ]
    for name, res in rows:
        (tj, cj, ej), (ts, cs, es) = res["hepjax"], res["sbi"]
        lines.append(
            f"| {name} | {tj:.1f} | {ts:.1f} | {ts / tj:.1f}x | {cj:.3f} ± {ej:.3f} | "
            f"{cs:.3f} ± {es:.3f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.write:
        today = datetime.date.today().isoformat()
        text = f"""{SECTION}

`python scripts/bench_sbi.py` ({today}; {cpu_model()}, {os.cpu_count()} cores; jax
{jax.__version__}, torch {torch.__version__}, sbi {_sbi_version()}). {args.note}

Both libraries train NPE on the same {args.num_sims} simulations in one run of
the script; wall time to train (hepjax's includes JIT compilation) and C2ST
(sbibm's classifier, {args.num_samples} samples a side) against the reference
posterior, mean ± standard error over {args.num_obs} fixed-key observations.
hepjax: `sbi.NPE(prior=task)` defaults (conditional affine layer + 5 coupling
layers of 8-bin rational-quadratic splines, conditioner MLPs 2 x 64, batch 200,
Adam 1e-3, patience 20 epochs, one compiled call per epoch). sbi 0.27:
`NPE(prior, density_estimator="{args.sbi_model}")` defaults (MAF: 5 transforms of
50 hidden units, batch 200, Adam 5e-4, patience 20 epochs),
`torch.set_num_threads(2)`.

{table}
"""
        write_section(BENCHMARKS_MD, SECTION, text)
        print(f"wrote {SECTION} to {BENCHMARKS_MD}")


def _sbi_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("sbi")


if __name__ == "__main__":
    main()
