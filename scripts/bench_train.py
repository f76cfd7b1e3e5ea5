r"""Training-step benchmark: hepjax.nn transformer vs float32 matmul peak vs PyTorch.

The standard model is `hepjax.nn.ParticleTransformerClassifier` on padded sets
of n = 64 particles with f = 7 features, batch B = 256, hidden size d = 128,
4 heads, L = 4 pre-LN encoder layers, MLP ratio r = 4, 2 classes, float32.
Set sizes are uniform in [16, 64]; the rest is padding.

A training step is forward + backward + Adam update, jit-compiled in JAX and
run eagerly in PyTorch (the same architecture, written in `torch.nn`, loaded
with the very same initial weights; the script checks that both give the same
logits before timing).

FLOPs are counted analytically, matrix products only (2 m k n per product),
over all n rows including padding (they are computed):

    forward per set  F1 = 2 n (f d + d^2)                          embedding MLP
                        + L [2 n d^2 (4 + 2 r) + 4 n^2 d]          QKV, out, MLP; QK^T, AV
                        + 2 (d^2 + d c)                            head MLP
    training step    F  = 3 B F1                                   backward = 2 x forward

Model FLOP utilisation (MFU) = (F / step time) / (best measured float32 matmul
FLOP/s on this machine in this run: jnp, NumPy and torch, 2048^3 and 4096^3).
XLA's own count (`cost_analysis()`) is printed as a cross-check.

Usage:
    python scripts/bench_train.py            # full run, updates docs/benchmarks.md
    python scripts/bench_train.py --quick    # a short run; writes nothing unless --write
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _bench import cpu_model, timed_blocks, write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Training step (bench_train.py)"

CFG = dict(n=64, f=7, batch=256, hidden_size=128, num_heads=4, num_layers=4, mlp_ratio=4, classes=2)
LR = 1e-4


def analytic_flops(n, f, batch, hidden_size, num_heads, num_layers, mlp_ratio, classes) -> dict:
    d, r = hidden_size, mlp_ratio
    embed = 2 * n * (f * d + d * d)
    layer = 2 * n * d * d * (4 + 2 * r) + 4 * n * n * d
    head = 2 * (d * d + d * classes)
    fwd = batch * (embed + num_layers * layer + head)
    return {"forward": fwd, "step": 3 * fwd}


# --------------------------------------------------------------------------- data


def make_data(seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    b, n, f = CFG["batch"], CFG["n"], CFG["f"]
    x = rng.normal(size=(b, n, f)).astype(np.float32)
    sizes = rng.integers(16, n + 1, size=b)
    mask = np.arange(n)[None, :] < sizes[:, None]
    x[~mask] = 0.0
    y = rng.integers(0, CFG["classes"], size=b).astype(np.int32)
    return x, mask, y


# --------------------------------------------------------------------------- matmul


def matmul_gflops(sizes, repeats: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    out = {}
    for s in sizes:
        flops = 2.0 * s**3
        a = np.random.default_rng(1).normal(size=(s, s)).astype(np.float32)
        b = np.random.default_rng(2).normal(size=(s, s)).astype(np.float32)
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        mm = jax.jit(jnp.matmul)
        mm(ja, jb).block_until_ready()
        t = min(timed_blocks(lambda: mm(ja, jb).block_until_ready(), repeats))  # noqa: B023
        out[f"jax {s}"] = flops / t / 1e9
        a @ b
        t = min(timed_blocks(lambda: a @ b, repeats))  # noqa: B023
        out[f"numpy {s}"] = flops / t / 1e9
    return out


def torch_matmul_gflops(sizes, repeats: int) -> dict[str, float]:
    import torch

    out = {}
    for s in sizes:
        a = torch.randn(s, s)
        b = torch.randn(s, s)
        a @ b
        t = min(timed_blocks(lambda: a @ b, repeats))  # noqa: B023
        out[f"torch {s}"] = 2.0 * s**3 / t / 1e9
    return out


# --------------------------------------------------------------------------- JAX


def build_jax():
    import jax

    from hepjax.nn import ParticleTransformerClassifier

    return ParticleTransformerClassifier(
        CFG["f"],
        CFG["classes"],
        d_model=CFG["hidden_size"],
        num_heads=CFG["num_heads"],
        num_layers=CFG["num_layers"],
        mlp_ratio=CFG["mlp_ratio"],
        key=jax.random.key(0),
    )


def bench_jax(model, data, steps: int):
    """Compile the JAX step; return a function running ``steps`` steps, and info."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    x, mask, y = (jnp.asarray(a) for a in data)
    params, static = eqx.partition(model, eqx.is_array)
    params = jax.tree.map(jnp.copy, params)  # the step donates its inputs; keep `model`
    opt = optax.adam(LR)
    opt_state = opt.init(params)

    def loss_fn(p, x, mask, y):
        logits = jax.vmap(eqx.combine(p, static))(x, mask)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def step(p, s, x, mask, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, mask, y)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    jstep = jax.jit(step, donate_argnums=(0, 1))
    t0 = time.perf_counter()
    compiled = jstep.lower(params, opt_state, x, mask, y).compile()
    compile_s = time.perf_counter() - t0
    cost = compiled.cost_analysis()
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else {}
    xla_flops = float(cost.get("flops", float("nan"))) if cost else float("nan")

    state = {"p": params, "s": opt_state, "losses": []}

    def block():
        p, s = state["p"], state["s"]
        for _ in range(steps):
            p, s, loss = compiled(p, s, x, mask, y)
        jax.block_until_ready(loss)
        state["p"], state["s"] = p, s
        state["losses"].append(float(loss))

    block()  # warm-up
    return block, {
        "compile_s": compile_s,
        "xla_flops": xla_flops,
        "losses": state["losses"],
    }


# --------------------------------------------------------------------------- PyTorch


def build_torch(jax_model):
    """The same architecture in torch.nn, initialised with the JAX model's weights."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    d, h = CFG["hidden_size"], CFG["num_heads"]

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.out = nn.Linear(d, d)
            self.norm2 = nn.LayerNorm(d)
            self.mlp_in = nn.Linear(d, CFG["mlp_ratio"] * d)
            self.mlp_out = nn.Linear(CFG["mlp_ratio"] * d, d)

        def forward(self, x, attn_mask):
            b, n, _ = x.shape
            q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
            x = x + self.out(o.transpose(1, 2).reshape(b, n, d))
            return x + self.mlp_out(F.gelu(self.mlp_in(self.norm2(x))))

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Sequential(nn.Linear(CFG["f"], d), nn.GELU(), nn.Linear(d, d))
            self.layers = nn.ModuleList(Layer() for _ in range(CFG["num_layers"]))
            self.norm = nn.LayerNorm(d)
            self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, CFG["classes"]))

        def forward(self, x, mask):
            attn_mask = mask[:, None, None, :]  # keys only: (b, 1, 1, n)
            z = self.embed(x)
            for layer in self.layers:
                z = layer(z, attn_mask)
            z = torch.where(mask[..., None], self.norm(z), 0.0)
            pooled = z.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
            return self.head(pooled)

    def copy(dst, src):
        with torch.no_grad():
            dst.weight.copy_(torch.from_numpy(np.array(src.weight)))
            dst.bias.copy_(torch.from_numpy(np.array(src.bias)))

    tm = Classifier()
    for i in (0, 1):
        copy(tm.embed[2 * i], jax_model.embed[i])
        copy(tm.head[2 * i], jax_model.head[i])
    for tl, jl in zip(tm.layers, jax_model.encoder.layers, strict=True):
        copy(tl.norm1, jl.norm1)
        copy(tl.qkv, jl.attention.qkv)
        copy(tl.out, jl.attention.out)
        copy(tl.norm2, jl.norm2)
        copy(tl.mlp_in, jl.mlp_in)
        copy(tl.mlp_out, jl.mlp_out)
    copy(tm.norm, jax_model.encoder.norm)
    return tm


def bench_torch(tm, data, steps: int):
    """Return a function running ``steps`` PyTorch steps, and info."""
    import torch
    import torch.nn.functional as F

    x, mask, y = (torch.from_numpy(a) for a in data)
    y = y.long()
    opt = torch.optim.Adam(tm.parameters(), lr=LR)
    losses = []

    def block():
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(tm(x, mask), y)
            loss.backward()
            opt.step()
        losses.append(float(loss.detach()))

    block()  # warm-up
    return block, {"losses": losses}


# --------------------------------------------------------------------------- report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run (few steps)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    ap.add_argument(
        "--write", action="store_true", help="update docs/benchmarks.md (default: full runs)"
    )
    ap.add_argument("--no-write", action="store_true", help="never touch docs/benchmarks.md")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args(argv)

    steps, repeats = (2, 2) if args.quick else (4, 5)
    mm_sizes, mm_repeats = ((1024, 2048), 3) if args.quick else ((2048, 4096), 5)
    threads = os.cpu_count() or 1

    import jax
    import numpy as np

    jax.config.update("jax_default_matmul_precision", "float32")  # full fp32, no tf32/bf16
    sys.path.insert(0, str(ROOT))
    flops = analytic_flops(**CFG)
    print(f"config: {CFG}, Adam lr={LR}, float32, threads={threads}")
    print(
        f"analytic FLOPs: forward {flops['forward'] / 1e9:.2f} G, step {flops['step'] / 1e9:.2f} G"
    )

    data = make_data()
    model = build_jax()
    mm = matmul_gflops(mm_sizes, mm_repeats)
    load_before = os.getloadavg()[0]
    jblock, jres = bench_jax(model, data, steps)
    blocks = {"jax": jblock}

    tres, torch_version = None, None
    if not args.no_torch:
        import torch

        torch.set_num_threads(threads)
        torch_version = torch.__version__
        mm.update(torch_matmul_gflops(mm_sizes, mm_repeats))
        tm = build_torch(model)
        with torch.no_grad():
            t_logits = tm(*(torch.from_numpy(a) for a in data[:2])).numpy()
        j_logits = np.asarray(jax.vmap(model)(*data[:2]))
        diff = float(np.max(np.abs(t_logits - j_logits)))
        print(f"torch vs JAX logits at the shared initialisation: max |diff| = {diff:.2e}")
        if diff > 1e-3:
            raise SystemExit("the PyTorch model does not match the JAX model; not timing it")
        tblock, tres = bench_torch(tm, data, steps)
        blocks["torch"] = tblock

    # Interleave the blocks, so both frameworks see the same load from other processes.
    times = {name: [] for name in blocks}
    for _ in range(repeats):
        for name, block in blocks.items():
            times[name].append(timed_blocks(block, 1)[0] / steps)
    jres["step_s"] = times["jax"]
    if tres is not None:
        tres["step_s"] = times["torch"]
    load_after = os.getloadavg()[0]
    print(f"1-min load average: {load_before:.1f} before, {load_after:.1f} after the timed steps")

    peak_key = max(mm, key=mm.get)
    peak = mm[peak_key] * 1e9
    for k, v in mm.items():
        print(f"matmul {k:>12}: {v:8.1f} GFLOP/s")
    print(
        f"XLA cost_analysis flops per step: {jres['xla_flops'] / 1e9:.2f} G (analytic "
        f"{flops['step'] / 1e9:.2f} G)"
    )

    def summary(step_s):
        best, med = min(step_s), statistics.median(step_s)
        return {
            "best": best,
            "median": med,
            "sps": 1 / best,
            "sps_med": 1 / med,
            "mfu": flops["step"] / best / peak,
        }

    js = summary(jres["step_s"])
    print(
        f"JAX     : {js['sps']:.3f} steps/s (median {js['sps_med']:.3f}), "
        f"{flops['step'] / js['best'] / 1e9:.1f} GFLOP/s, MFU {100 * js['mfu']:.1f}%, "
        f"compile {jres['compile_s']:.1f} s, loss {jres['losses'][0]:.4f} -> "
        f"{jres['losses'][-1]:.4f}"
    )
    rows = [("JAX (hepjax.nn, jit)", js)]
    ratio = ratio_med = None
    if tres is not None:
        ts = summary(tres["step_s"])
        rows.append(("PyTorch (eager)", ts))
        ratio, ratio_med = js["sps"] / ts["sps"], js["sps_med"] / ts["sps_med"]
        print(
            f"PyTorch : {ts['sps']:.3f} steps/s (median {ts['sps_med']:.3f}), "
            f"{flops['step'] / ts['best'] / 1e9:.1f} GFLOP/s, MFU {100 * ts['mfu']:.1f}%, "
            f"loss {tres['losses'][0]:.4f} -> {tres['losses'][-1]:.4f}"
        )
        print(f"ratio JAX/PyTorch steps/s: {ratio:.2f} (best), {ratio_med:.2f} (median)")
    print(f"ratio model FLOP/s / matmul peak (MFU, JAX): {js['mfu']:.2f}")

    if args.no_write or (args.quick and not args.write):
        return 0
    import equinox
    import jaxlib
    import optax

    date = (
        subprocess.run(
            ["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True, text=True
        ).stdout.strip()
        or datetime.datetime.now(datetime.UTC).isoformat()
    )
    versions = (
        f"Python {platform.python_version()}, jax {jax.__version__}, jaxlib "
        f"{jaxlib.__version__}, equinox {equinox.__version__}, optax {optax.__version__}, "
        f"numpy {np.__version__}" + (f", torch {torch_version}" if torch_version else "")
    )
    lines = [
        SECTION,
        "",
        f"Measured {date} on {cpu_model()}, `nproc` = {threads}; {versions}. "
        f"Threads: {threads} for XLA (its default, one per core) and "
        f"`torch.set_num_threads({threads})`. Run: `python scripts/bench_train.py`"
        + (" --quick" if args.quick else "")
        + ".",
        "",
        f"Model: `hepjax.nn.ParticleTransformerClassifier`, sets of n = {CFG['n']} particles "
        f"(sizes 16-64, rest padding) with f = {CFG['f']} features, batch {CFG['batch']}, "
        f"hidden size {CFG['hidden_size']}, {CFG['num_heads']} heads, "
        f"{CFG['num_layers']} pre-LN layers, MLP ratio {CFG['mlp_ratio']}, float32, Adam. "
        "One step = forward + backward + Adam update "
        "(JAX: `jax.jit`; PyTorch: eager, same architecture and the same initial weights, "
        "`scaled_dot_product_attention` with a boolean key mask). Steps/s from the best of "
        f"{repeats} blocks of {steps} steps (median in brackets), JAX and PyTorch blocks "
        "interleaved so both see the same load. The 1-min load average was "
        f"{load_before:.1f} before and {load_after:.1f} after the timed steps, on "
        f"{os.cpu_count()} cores (above about 2, other jobs disturbed the run, and the "
        "matmul peak and hence the MFU are noisy); the best block is the least disturbed one.",
        "",
        f"Analytic FLOPs per step: 3 × forward = {flops['step'] / 1e9:.1f} GFLOP (matrix "
        "products only, see the script's docstring); XLA `cost_analysis()` counts "
        f"{jres['xla_flops'] / 1e9:.1f} GFLOP. MFU = analytic FLOP/s ÷ best measured float32 "
        f"matmul ({peak_key}: {peak / 1e9:.1f} GFLOP/s).",
        "",
        "| float32 matmul | GFLOP/s |",
        "|---|---:|",
        *[f"| {k} | {v:.1f} |" for k, v in mm.items()],
        "",
        "| training step | steps/s | ms/step | GFLOP/s | MFU |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {name} | {s['sps']:.3f} ({s['sps_med']:.3f}) | {1e3 * s['best']:.0f} | "
            f"{flops['step'] / s['best'] / 1e9:.1f} | {100 * s['mfu']:.1f}% |"
            for name, s in rows
        ],
        "",
    ]
    if ratio is not None:
        lines.append(
            f"**JAX / PyTorch steps/s: {ratio:.2f}** (median {ratio_med:.2f}). "
            f"**MFU (JAX): {100 * js['mfu']:.1f}%.** Goal: ratio ≥ 1 and MFU ≥ 40%."
        )
    else:
        lines.append(f"**MFU (JAX): {100 * js['mfu']:.1f}%.** (PyTorch not run.)")
    write_section(args.out, SECTION, "\n".join(lines) + "\n")
    print(f"wrote section {SECTION!r} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
