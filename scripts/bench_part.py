r"""Particle Transformer benchmark: a hepjax (JAX) training step against the same ParT in PyTorch.

The model is ParT's published configuration (Qu, Li & Qian, arXiv:2202.03772):
embed 128, 8 heads, 8 particle blocks, 2 class blocks, the pair MLP
4 -> 64 -> 64 -> 64 -> 8, 17 particle features and 10 classes, on jets of
n particles (default 128, JetClass's padding) of which a random number in
[n/4, n] are real. `hepjax.nn.ParticleTransformer` is compared with the
reference architecture written here in `torch.nn` in the structure of
jet-universe/particle_transformer (`Embed`, `PairEmbed` as pointwise
`Conv1d`s, `Block` on `nn.MultiheadAttention` with the pair biases as a float
`attn_mask` and a `key_padding_mask`, class-token blocks), loaded with the
very same weights and checked to give the same logits before timing.

A training step is softmax cross-entropy + AdamW on a fixed batch: JAX
jit-compiled, PyTorch eager (as the reference trains). Blocks of steps
alternate between the two (interleaved), and the median block is reported.

Usage:
    python scripts/bench_part.py            # prints; --write updates docs/benchmarks.md
    python scripts/bench_part.py --quick    # small sizes, a few steps
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _bench import BENCHMARKS_MD, cpu_model, write_section

from hepjax.nn import ParticleTransformer
from hepjax.physics import p4_from_ptetaphim

SECTION = "## Particle Transformer training step (bench_part.py)"
CFG = dict(features=17, embed=128, heads=8, layers=8, class_layers=2, classes=10, pair=64)
LR = 1e-3


def make_data(batch: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    real = rng.integers(n // 4, n + 1, size=(batch, 1))
    mask = np.arange(n)[None] < real
    x = rng.normal(size=(batch, n, CFG["features"])).astype(np.float32)
    pt = rng.exponential(20.0, (batch, n)) + 0.5
    p4 = np.asarray(
        p4_from_ptetaphim(pt, rng.normal(0, 0.3, (batch, n)), rng.normal(0, 0.3, (batch, n)))
    )
    x = np.where(mask[..., None], x, 0.0).astype(np.float32)
    p4 = np.where(mask[..., None], p4, 0.0).astype(np.float32)
    y = rng.integers(0, CFG["classes"], batch).astype(np.int32)
    return x, p4, mask, y


def build_jax(key=0) -> ParticleTransformer:
    return ParticleTransformer(
        CFG["features"],
        embed_size=CFG["embed"],
        num_heads=CFG["heads"],
        num_layers=CFG["layers"],
        num_class_layers=CFG["class_layers"],
        num_classes=CFG["classes"],
        pair_hidden_size=CFG["pair"],
        key=jax.random.key(key),
    )


def build_torch(model: ParticleTransformer):
    """The reference architecture in torch.nn, with ``model``'s weights."""
    import torch
    from torch import nn

    eps = 1e-8

    def t(a):
        return torch.tensor(np.asarray(a))

    def copy_linear(dst: nn.Module, src) -> None:
        w = t(src.weight)
        dst.weight.data = w.reshape(dst.weight.shape)
        dst.bias.data = t(src.bias)

    def copy_norm(dst: nn.LayerNorm, src) -> None:
        dst.weight.data, dst.bias.data = t(src.weight), t(src.bias)

    def pairwise_lv_fts(pi, pj):  # (B, 4, m) each, (E, px, py, pz) of the pairs, as ParT's helper
        def kinematics(p):
            e, px, py, pz = p.unbind(1)
            pt = torch.sqrt(px**2 + py**2)
            y = 0.5 * torch.log((e + pz).clamp(min=1e-20) / (e - pz).clamp(min=1e-20))
            y = torch.where(e > 0, y, torch.zeros_like(y))
            phi = torch.atan2(py, torch.where((px == 0) & (py == 0), torch.ones_like(px), px))
            # m^2 in hepjax.physics.pair_features' cancellation-free form (same value as
            # ParT's (E_a + E_b)^2 - |p_a + p_b|^2, without float32's rounding noise)
            e2 = e**2
            msq = e2 - px**2 - py**2 - pz**2
            msq = torch.where(msq > 1e-5 * e2, msq, torch.zeros_like(msq))
            return pt, y, phi, msq, torch.sqrt(pt**2 + msq)

        pt_i, y_i, phi_i, msq_i, mt_i = kinematics(pi)
        pt_j, y_j, phi_j, msq_j, mt_j = kinematics(pj)
        dy = y_i - y_j
        dphi = phi_i - phi_j
        dphi = dphi - 2 * torch.pi * torch.round(dphi / (2 * torch.pi))
        delta = torch.sqrt(dy**2 + dphi**2)
        ptmin = torch.minimum(pt_i, pt_j)
        lnkt = torch.log((ptmin * delta).clamp(min=eps))
        lnz = torch.log((ptmin / (pt_i + pt_j).clamp(min=eps)).clamp(min=eps))
        lndelta = torch.log(delta.clamp(min=eps))
        mt_ab, pt_ab = mt_i * mt_j, pt_i * pt_j
        extra = (msq_i * pt_j**2 + msq_j * pt_i**2 + msq_i * msq_j) / (mt_ab + pt_ab).clamp(
            min=1e-30
        )
        m2 = (
            msq_i
            + msq_j
            + 2
            * (2 * mt_ab * torch.sinh(dy / 2) ** 2 + 2 * pt_ab * torch.sin(dphi / 2) ** 2 + extra)
        )
        lnm2 = torch.log(m2.clamp(min=eps))
        return torch.stack([lnkt, lnz, lndelta, lnm2], dim=1)  # (B, 4, m)

    class Embed(nn.Module):
        def __init__(self, dims):
            super().__init__()
            layers = []
            for a, b in itertools.pairwise(dims):
                layers += [nn.LayerNorm(a), nn.Linear(a, b), nn.GELU()]
            self.embed = nn.Sequential(*layers)

        def forward(self, x):
            return self.embed(x)

    class PairEmbed(nn.Module):
        def __init__(self, dims, heads):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(4))
            self.shift = nn.Parameter(torch.zeros(4))
            layers = []
            for a, b in zip([4, *dims[:-1]], dims, strict=False):
                layers += [nn.Conv1d(a, b, 1), nn.GELU()]
            layers.append(nn.Conv1d(dims[-1], heads, 1))
            self.embed = nn.Sequential(*layers)

        def forward(self, p4):
            # as the reference's PairEmbed (is_symmetric, not for_onnx): the MLP on the
            # pairs i <= j only, the result written to both (i, j) and (j, i)
            b, _, n = p4.shape
            i, j = torch.tril_indices(n, n, offset=0)
            u = pairwise_lv_fts(p4[:, :, i], p4[:, :, j])
            u = u * self.scale[None, :, None] + self.shift[None, :, None]
            elements = self.embed(u)
            y = torch.zeros(b, elements.shape[1], n, n, dtype=elements.dtype)
            y[:, :, i, j] = elements
            y[:, :, j, i] = elements
            return y

    class Block(nn.Module):
        def __init__(self, d, heads, ratio=4):
            super().__init__()
            self.heads = heads
            self.pre_attn_norm = nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
            self.post_attn_norm = nn.LayerNorm(d)
            self.pre_fc_norm = nn.LayerNorm(d)
            self.fc1 = nn.Linear(d, ratio * d)
            self.act = nn.GELU()
            self.post_fc_norm = nn.LayerNorm(ratio * d)
            self.fc2 = nn.Linear(ratio * d, d)

        def ffn(self, a):
            return a + self.fc2(self.post_fc_norm(self.act(self.fc1(self.pre_fc_norm(a)))))

        def forward(self, x, padding_mask, attn_mask=None, x_cls=None):
            if x_cls is None:
                u = self.pre_attn_norm(x)
                a = self.attn(
                    u, u, u, key_padding_mask=padding_mask, attn_mask=attn_mask, need_weights=False
                )[0]
                return self.ffn(x + self.post_attn_norm(a))
            u = self.pre_attn_norm(torch.cat([x_cls, x], dim=1))
            pm = torch.cat([torch.zeros_like(padding_mask[:, :1]), padding_mask], dim=1)
            a = self.attn(u[:, :1], u, u, key_padding_mask=pm, need_weights=False)[0]
            return self.ffn(x_cls + self.post_attn_norm(a))

    class ParT(nn.Module):
        def __init__(self):
            super().__init__()
            d, h = CFG["embed"], CFG["heads"]
            self.embed = Embed([CFG["features"], d, 4 * d, d])
            self.pair_embed = PairEmbed([CFG["pair"]] * 3, h)
            self.blocks = nn.ModuleList([Block(d, h) for _ in range(CFG["layers"])])
            self.cls_blocks = nn.ModuleList([Block(d, h) for _ in range(CFG["class_layers"])])
            self.norm = nn.LayerNorm(d)
            self.fc = nn.Linear(d, CFG["classes"])
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d))

        def forward(self, x, p4, mask):
            padding_mask = ~mask
            b, n, _ = x.shape
            h = self.embed(x.masked_fill(padding_mask[..., None], 0.0))
            p4 = p4.masked_fill(padding_mask[..., None], 0.0).transpose(1, 2)
            bias = self.pair_embed(p4).masked_fill(padding_mask[:, None, None, :], float("-inf"))
            bias = bias.reshape(b * CFG["heads"], n, n)  # pair biases with the padded keys
            for block in self.blocks:
                h = block(h, None, attn_mask=bias)
            c = self.cls_token.expand(b, 1, -1)
            for block in self.cls_blocks:
                c = block(h, padding_mask, x_cls=c)
            return self.fc(self.norm(c[:, 0]))

    tm = ParT()
    with torch.no_grad():
        for i, (norm, lin) in enumerate(zip(model.embed_norms, model.embed_layers, strict=True)):
            copy_norm(tm.embed.embed[3 * i], norm)
            copy_linear(tm.embed.embed[3 * i + 1], lin)
        tm.pair_embed.scale.data, tm.pair_embed.shift.data = (
            t(model.pair_scale),
            t(model.pair_shift),
        )
        convs = [m for m in tm.pair_embed.embed if isinstance(m, nn.Conv1d)]
        for conv, lin in zip(convs, model.pair_layers, strict=False):
            copy_linear(conv, lin)
        pairs = zip([*tm.blocks, *tm.cls_blocks], [*model.blocks, *model.class_blocks], strict=True)
        for tb, jb in pairs:
            for name in ("pre_attn_norm", "post_attn_norm", "pre_fc_norm", "post_fc_norm"):
                copy_norm(getattr(tb, name), getattr(jb, name))
            copy_linear(tb.fc1, jb.fc1)
            copy_linear(tb.fc2, jb.fc2)
            tb.attn.in_proj_weight.data = t(jb.attention.qkv.weight)
            tb.attn.in_proj_bias.data = t(jb.attention.qkv.bias)
            copy_linear(tb.attn.out_proj, jb.attention.out)
        copy_norm(tm.norm, model.norm)
        copy_linear(tm.fc, model.head)
        tm.cls_token.data = t(model.cls_token).reshape(1, 1, -1)
    return tm


def check_same_model(model, tm, data) -> float:
    import torch

    x, p4, mask, _ = (a[:4] for a in data)
    want = np.asarray(jax.vmap(model)(x, p4, mask))
    with torch.no_grad():
        got = tm(torch.tensor(x), torch.tensor(p4), torch.tensor(mask)).numpy()
    return float(np.abs(got - want).max())


def jax_stepper(model, data):
    opt = optax.adamw(LR)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = opt.init(params)
    x, p4, mask, y = (jnp.asarray(a) for a in data)

    @jax.jit
    def step(params, state):
        def loss(p):
            logits = jax.vmap(eqx.combine(p, static))(x, p4, mask)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        val, g = jax.value_and_grad(loss)(params)
        u, state = opt.update(g, state, params)
        return optax.apply_updates(params, u), state, val

    carry = [params, state]

    def run(steps):
        for _ in range(steps):
            carry[0], carry[1], val = step(carry[0], carry[1])
        jax.block_until_ready(val)

    return run


def torch_stepper(tm, data):
    import torch

    opt = torch.optim.AdamW(tm.parameters(), lr=LR, weight_decay=1e-4)
    x, p4, mask, y = (torch.tensor(a) for a in data)
    y = y.long()

    def run(steps):
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(tm(x, p4, mask), y)
            loss.backward()
            opt.step()

    return run


def markdown(r: dict, machine: str) -> str:
    ratio = r["jax"] / r["torch"]
    return (
        f"{SECTION}\n\n"
        f"ParT (embed 128, 8 heads, 8 + 2 blocks, pair MLP 64), batch {r['batch']} jets of "
        f"{r['n']} particle slots, softmax cross-entropy + AdamW; {machine}; "
        f"torch {r['torch_version']} ({r['threads']} threads), jax {jax.__version__}. "
        f"Median of {r['blocks']} interleaved blocks of {r['steps']} steps; logits agree to "
        f"{r['diff']:.1e}.\n\n"
        "| implementation | steps/s | jets/s |\n|---|---:|---:|\n"
        f"| hepjax (jit) | {r['jax']:.3g} | {r['jax'] * r['batch']:.4g} |\n"
        f"| PyTorch reference (eager) | {r['torch']:.3g} | {r['torch'] * r['batch']:.4g} |\n"
        f"| ratio hepjax / PyTorch | {ratio:.2f} | |\n"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="batch 8 of 32 slots, few steps")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--particles", type=int, default=None)
    ap.add_argument("--blocks", type=int, default=None, help="interleaved blocks per side")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args(argv)
    import torch

    batch = args.batch or (8 if args.quick else 64)
    n = args.particles or (32 if args.quick else 128)
    blocks = args.blocks or (3 if args.quick else 7)
    steps = 2 if args.quick else 5
    data = make_data(batch, n)
    model = build_jax()
    tm = build_torch(model)
    diff = check_same_model(model, tm, data)
    print(f"JAX vs PyTorch logits agree: max |diff| = {diff:.1e}")
    if diff > 1e-3:
        raise SystemExit("the two models disagree; not timing them")
    runners = {"jax": jax_stepper(model, data), "torch": torch_stepper(tm, data)}
    for run in runners.values():
        run(1)  # compile / warm up
    times = {k: [] for k in runners}
    for _ in range(blocks):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(steps)
            times[name].append((time.perf_counter() - t0) / steps)
    rate = {k: 1.0 / statistics.median(v) for k, v in times.items()}
    for k, v in rate.items():
        print(f"{k:6s} {v:8.3f} steps/s  ({v * batch:.1f} jets/s)")
    print(f"ratio hepjax / PyTorch: {rate['jax'] / rate['torch']:.2f}")
    if args.write:
        r = dict(
            rate,
            batch=batch,
            n=n,
            blocks=blocks,
            steps=steps,
            diff=diff,
            torch_version=torch.__version__,
            threads=torch.get_num_threads(),
        )
        machine = f"{cpu_model()}, {os.cpu_count()} cores, {datetime.date.today()}"
        write_section(BENCHMARKS_MD, SECTION, markdown(r, machine))
        print(f"wrote {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
