r"""EPiC-FM benchmark: hepjax (JAX) against the identical EPiC network in PyTorch.

The model is the paper's (arXiv:2310.00049): `hepjax.nn.EPiCVectorField` with
6 EPiC layers, hidden 128, latent 10, a 12-dimensional sinusoidal time
embedding and 2 conditioning features, on jets of n = 30 particles of which a
random number in [10, 30] are real. The PyTorch model is written here in
`torch.nn`, loaded with the very same weights, and checked to give the same
velocities before anything is timed.

- **Training step**: conditional flow matching (CondOT, sigma_min = 1e-4) +
  AdamW update, batch 1024; JAX jit-compiled, PyTorch eager (as the paper's
  code runs).
- **Sampling**: jets/s through 100 midpoint steps (200 network calls per
  jet), batch 1024; JAX through `hepjax.generative.sample_ode_sets`, PyTorch a
  `torch.no_grad` loop.
- **Metrics**: if `scripts/_jet_metrics_bench.py` is present, it times
  `hepjax.metrics.jets` against the `jetnet` package on 50k-jet inputs.

Usage:
    python scripts/bench_epic.py             # full run, updates docs/benchmarks.md
    python scripts/bench_epic.py --quick     # a short run; writes nothing unless --write
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import math
import os
import statistics
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _bench import BENCHMARKS_MD, ROOT, cpu_model, timed_blocks, write_section

import hepjax.generative as hg
from hepjax.nn import EPiCVectorField

SECTION = "## EPiC-FM training and sampling (bench_epic.py)"
CFG = dict(
    n=30, features=3, cond=2, hidden_size=128, latent=10, num_layers=6, time_dim=12, batch=1024
)
LR = 1e-3


def make_data(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, CFG["n"], CFG["features"])).astype(np.float32)
    real = rng.integers(10, CFG["n"] + 1, size=(batch, 1))
    mask = np.arange(CFG["n"])[None] < real
    cond = rng.normal(size=(batch, CFG["cond"])).astype(np.float32)
    return np.where(mask[..., None], x, 0.0).astype(np.float32), mask, cond


def build_jax():
    return EPiCVectorField(
        CFG["features"],
        cond_dim=CFG["cond"],
        hidden=CFG["hidden_size"],
        latent=CFG["latent"],
        num_layers=CFG["num_layers"],
        time_dim=CFG["time_dim"],
        key=jax.random.key(0),
    )


# --------------------------------------------------------------------------- PyTorch twin


def build_torch(field: EPiCVectorField):
    import torch
    from torch import nn

    F = nn.functional

    def act(x):
        return F.leaky_relu(x, 0.01)

    def lin(layer: eqx.nn.Linear) -> nn.Linear:
        out, inp = layer.weight.shape
        t = nn.Linear(inp, out)
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(np.asarray(layer.weight)))
            t.bias.copy_(torch.from_numpy(np.asarray(layer.bias)))
        return t

    def cat(x, c):  # append the context to every row
        return torch.cat([x, c.expand(*x.shape[:-1], c.shape[-1])], -1)

    def pool(x, mask, scale):
        total = (x * mask).sum(1)
        return torch.cat([total / mask.sum(1).clamp(min=1), scale * total], -1)

    class Layer(nn.Module):
        def __init__(self, jl):
            super().__init__()
            self.g1, self.g2 = lin(jl.global_in), lin(jl.global_out)
            self.l1, self.l2 = lin(jl.local_in), lin(jl.local_out)
            self.scale = jl.sum_scale

        def forward(self, x, g, mask, c):
            p = torch.cat([pool(x, mask, self.scale), g], -1)
            g = act(self.g2(torch.cat([act(self.g1(torch.cat([p, c], -1))), c], -1)) + g)
            local = torch.cat([x, g[:, None].expand(-1, x.shape[1], -1)], -1)
            h = act(self.l1(cat(local, c[:, None])))
            return act(self.l2(cat(h, c[:, None])) + x), g

    class Field(nn.Module):
        def __init__(self):
            super().__init__()
            net = field.network
            self.e1, self.e2 = lin(net.embed_in), lin(net.embed_out)
            self.g1, self.g2 = lin(net.global_in), lin(net.global_out)
            self.out = lin(net.readout)
            self.layers = nn.ModuleList(Layer(jl) for jl in net.layers)
            self.scale = net.sum_scale
            half = field.time_embedding.dim // 2
            period = field.time_embedding.max_period
            freqs = torch.exp(-math.log(period) * torch.arange(half) / max(half - 1, 1))
            self.register_buffer("freqs", freqs)

        def forward(self, t, x, mask, cond):  # t: (B,), x: (B, n, d), mask: (B, n, 1)
            angle = t[:, None] * self.freqs
            c = torch.cat([torch.sin(angle), torch.cos(angle), cond], -1)
            h = act(self.e1(cat(x, c[:, None])))
            h = act(self.e2(cat(h, c[:, None])) + h)
            g = act(self.g1(torch.cat([pool(h, mask, self.scale), c], -1)))
            g = act(self.g2(torch.cat([g, c], -1)))
            for layer in self.layers:
                h, g = layer(h, g, mask, c)
            return self.out(cat(h, c[:, None])) * mask

    return Field()


# --------------------------------------------------------------------------- timing


def bench_jax_train(field, data, steps: int):
    x, mask, cond = (jnp.asarray(a) for a in data)
    opt = optax.adamw(LR)
    state = opt.init(eqx.filter(field, eqx.is_array))
    path = hg.CondOT(sigma_min=1e-4)

    @eqx.filter_jit(donate="all")
    def step(model, state, key):
        def loss(m):
            return hg.flow_matching_loss(m, x, key=key, path=path, mask=mask, cond=cond)

        value, grads = eqx.filter_value_and_grad(loss)(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state, value

    key = jax.random.key(1)
    box = [jax.tree.map(lambda a: jnp.copy(a) if eqx.is_array(a) else a, field), state]

    def block():
        for i in range(steps):
            box[0], box[1], value = step(box[0], box[1], jax.random.fold_in(key, i))
        value.block_until_ready()

    timed_blocks(block, 1)  # compile
    return timed_blocks(block, 3)


def bench_torch_train(tm, data, steps: int):
    import torch

    x, mask, cond = (torch.from_numpy(np.asarray(a)) for a in data)
    m = mask[..., None].float()
    opt = torch.optim.AdamW(tm.parameters(), lr=LR, weight_decay=1e-4)
    sigma = 1e-4

    def one():
        t = torch.rand(x.shape[0])
        x0 = torch.randn_like(x) * m
        tt = t[:, None, None]
        xt = (1 - (1 - sigma) * tt) * x0 + tt * x
        ut = x - (1 - sigma) * x0
        v = tm(t, xt, m, cond)
        loss = (((v - ut) ** 2).sum(-1) * m[..., 0]).sum() / m.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def block():
        for _ in range(steps):
            one()

    timed_blocks(block, 1)  # warm-up
    return timed_blocks(block, 3)


def bench_jax_sample(field, data, num_steps: int):
    _, mask, cond = data
    key = jax.random.key(2)

    def block():
        hg.sample_ode_sets(
            field,
            key,
            mask,
            features=CFG["features"],
            cond=cond,
            solver="midpoint",
            num_steps=num_steps,
            chunk_size=len(mask),
            progress=False,
        ).block_until_ready()

    timed_blocks(block, 1)  # compile
    return timed_blocks(block, 3)


def bench_torch_sample(tm, data, num_steps: int):
    import torch

    _, mask, cond = data
    m = torch.from_numpy(mask)[..., None].float()
    c = torch.from_numpy(cond)

    @torch.no_grad()
    def block():
        x = torch.randn(*mask.shape, CFG["features"]) * m
        h = 1.0 / num_steps
        for i in range(num_steps):
            t = torch.full((x.shape[0],), i * h)
            mid = x + 0.5 * h * tm(t, x, m, c)
            x = x + h * tm(t + 0.5 * h, mid, m, c)
        return x

    timed_blocks(block, 1)
    return timed_blocks(block, 3)


def check_same_model(field, tm, data) -> float:
    import torch

    x, mask, cond = data
    t = np.linspace(0.0, 1.0, len(x)).astype(np.float32)
    ours = jax.vmap(lambda ti, xi, mi, ci: field(ti, xi, {"mask": mi, "cond": ci}))(
        t, x, mask, cond
    )
    with torch.no_grad():
        theirs = tm(
            torch.from_numpy(t),
            torch.from_numpy(x),
            torch.from_numpy(mask)[..., None].float(),
            torch.from_numpy(cond),
        ).numpy()
    diff = float(np.max(np.abs(np.asarray(ours) - theirs)))
    if diff > 1e-3:
        raise SystemExit(f"JAX and PyTorch EPiC disagree: max |diff| = {diff:.2e}")
    return diff


def metrics_vs_jetnet(n_jets: int) -> dict | None:
    path = Path(__file__).with_name("_jet_metrics_bench.py")
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_jet_metrics_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run(n_jets=n_jets)


def metrics_lines(metrics: dict) -> list[str]:
    """The jetnet comparison of `_jet_metrics_bench.run` as a Markdown table."""
    lines = [
        f"Jet metrics on {metrics['n_jets']:,} + {metrics['n_jets']:,} jets against jetnet "
        f"{metrics['jetnet_version']} (its own venv, same inputs, same batches), best of the "
        "repeated calls; the first call includes compilation:",
        "",
        "| metric | jetnet (s) | hepjax (s) | speed-up | first call | max rel. diff (value, err) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, row in metrics["metrics"].items():
        diff = (
            f"{row['max_rel_diff_value']:.1e}, {row['max_rel_diff_error']:.1e}"
            if "max_rel_diff_value" in row
            else "-"
        )
        lines.append(
            f"| {name} | {row['jetnet_s']:.2f} | {row['hepjax_s']:.3f} | "
            f"**{row['speedup']:.1f}x** | {row['speedup_first_call']:.1f}x | {diff} |"
        )
    lines += [
        f"| all | {metrics['total_jetnet_s']:.2f} | {metrics['total_hepjax_s']:.3f} | "
        f"**{metrics['total_speedup']:.1f}x** | | goal ≥ 5x |",
        "",
    ]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run (few steps, small batch)")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    ap.add_argument("--no-write", action="store_true", help="never touch docs/benchmarks.md")
    ap.add_argument("--no-metrics", action="store_true", help="skip the jetnet comparison")
    ap.add_argument("--out", type=Path, default=BENCHMARKS_MD)
    args = ap.parse_args(argv)
    import torch

    batch = 128 if args.quick else CFG["batch"]
    train_steps = 3 if args.quick else 10
    sample_steps = 10 if args.quick else 100
    data = make_data(batch)
    field = build_jax()
    tm = build_torch(field)
    diff = check_same_model(field, tm, data)
    print(f"JAX vs PyTorch velocities agree: max |diff| = {diff:.1e}")

    results = {}
    for name, fn, model, steps in [
        ("train JAX", bench_jax_train, field, train_steps),
        ("train PyTorch", bench_torch_train, tm, train_steps),
        ("sample JAX", bench_jax_sample, field, sample_steps),
        ("sample PyTorch", bench_torch_sample, tm, sample_steps),
    ]:
        times = fn(model, data, steps)
        per = statistics.median(times) / (steps if name.startswith("train") else 1)
        results[name] = per
        rate = 1 / per if name.startswith("train") else batch / per
        unit = "steps/s" if name.startswith("train") else "jets/s"
        print(f"{name:16s} {rate:10.2f} {unit}  (median of {len(times)} blocks)", flush=True)
    train_ratio = results["train PyTorch"] / results["train JAX"]
    sample_ratio = results["sample PyTorch"] / results["sample JAX"]
    print(f"JAX / PyTorch: training {train_ratio:.2f}x, sampling {sample_ratio:.2f}x")

    metrics = None if args.no_metrics else metrics_vs_jetnet(5_000 if args.quick else 50_000)
    if metrics:
        print("metrics vs jetnet:", metrics)

    if args.no_write or (args.quick and not args.write):
        return 0
    date = datetime.date.today().isoformat()
    versions = (
        f"jax {jax.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    load = os.getloadavg()[0]
    lines = [
        SECTION,
        "",
        f"Measured {date} on {cpu_model()}, `nproc` = {os.cpu_count()}, load average "
        f"{load:.1f} at the end; {versions}. Model: EPiC-FM paper configuration "
        f"(6 EPiC layers, hidden 128, latent 10), n = 30 particles, batch {batch}. "
        f"JAX and PyTorch velocities agree to {diff:.0e}. "
        "Reproduce with `python scripts/bench_epic.py`.",
        "",
        "| | JAX (hepjax) | PyTorch | JAX / PyTorch | goal |",
        "|---|---|---|---|---|",
        f"| training step (steps/s) | {1 / results['train JAX']:.2f} | "
        f"{1 / results['train PyTorch']:.2f} | **{train_ratio:.2f}x** | ≥ 1.5x |",
        f"| sampling, {sample_steps} midpoint steps (jets/s) | "
        f"{batch / results['sample JAX']:.0f} | {batch / results['sample PyTorch']:.0f} | "
        f"**{sample_ratio:.2f}x** | ≥ 1.5x |",
        "",
    ]
    if metrics:
        lines += metrics_lines(metrics)
    write_section(args.out, SECTION, "\n".join(lines))
    print(f"updated {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
