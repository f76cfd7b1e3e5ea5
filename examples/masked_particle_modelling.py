"""Masked particle modelling: pre-train a Particle Transformer on unlabelled jets, then fine-tune.

Reproduces the workflow of Golling et al., "Masked particle modelling on
sets: towards self-supervised high energy physics foundation models"
(arXiv:2401.13537) and its tokeniser-free follow-up (arXiv:2409.12589) on
Pythia 8 + FastJet JetClass-style jets (``hepjax.jets.jetclass_jets``):

1. fit a VQ-VAE tokeniser on the constituents (Delta eta, Delta phi, log pT);
2. pre-train a ``hepjax.nn.ParticleTransformer`` backbone with MPM (masked
   token cross-entropy, 30 % masking) and, separately, with the
   tokeniser-free objective (masked feature regression + identity
   cross-entropy, 40 % masking);
3. fine-tune on top-vs-QCD with few labels in the three strategies (frozen
   backbone, fine-tuned, from scratch) over several seeds, and plot the
   learning curves with their seed spread;
4. (small and paper scales) transfer: a new class (W vs QCD) and a new domain
   (a different final-state shower, ``SHOWER_VARIATION``), and a weakly
   supervised CWoLa fine-tune (two mixtures with different top fractions).

    python examples/masked_particle_modelling.py --scale small --out runs/mpm
"""

import dataclasses
import pathlib
import time

import jax
import numpy as np
from _compilation_cache import compilation_cache  # shared with finetune_hh4b, next to this file
from _curve_rows import auc_rows

from hepjax import jets
from hepjax.cli import Paper, Row, example_main, register
from hepjax.nn import ParticleTransformer


@dataclasses.dataclass(frozen=True)
class Config:
    jets_per_class: int  # labelled pool + test, per class
    pool_per_class: int  # unlabelled pre-training pool, per class
    particles: int
    embed_size: int
    num_layers: int
    num_heads: int
    codes: int
    vq_steps: int
    pretrain_steps: int
    finetune_steps: int
    sizes: tuple[int, ...]
    seeds: int
    batch: int = 64
    pair_hidden_size: int = 64  # ParT's pair MLP; it runs on n^2 pairs and dominates small models
    transfer: bool = False
    strategies: tuple[str, ...] = ("frozen", "finetune", "scratch")
    tokeniser_free_strategies: tuple[str, ...] = ("finetune",)


SCALES = {
    "tour": Config(
        jets_per_class=250,
        pool_per_class=250,
        particles=24,
        embed_size=32,
        num_layers=1,
        num_heads=4,
        codes=32,
        vq_steps=60,
        pretrain_steps=120,
        finetune_steps=60,
        sizes=(100,),
        seeds=2,
        strategies=("finetune", "scratch"),
        pair_hidden_size=16,
    ),
    "small": Config(
        jets_per_class=1_500,
        pool_per_class=3_000,
        particles=32,
        embed_size=64,
        num_layers=3,
        num_heads=4,
        codes=128,
        vq_steps=600,
        pretrain_steps=1_500,
        finetune_steps=300,
        sizes=(100, 300, 1_000),
        seeds=3,
        batch=64,
        pair_hidden_size=32,
        transfer=True,
        tokeniser_free_strategies=("frozen", "finetune", "scratch"),
    ),
    "paper": Config(
        jets_per_class=20_000,
        pool_per_class=200_000,
        particles=64,
        embed_size=256,
        num_layers=4,
        num_heads=8,
        codes=512,
        vq_steps=20_000,
        pretrain_steps=100_000,
        finetune_steps=5_000,
        sizes=(100, 300, 1_000, 3_000, 10_000),
        seeds=5,
        batch=256,
        transfer=True,
        tokeniser_free_strategies=("frozen", "finetune", "scratch"),
    ),
}


def report(metrics: dict, scale: str) -> list[Row]:
    cfg = SCALES[scale]
    n = str(min(cfg.sizes))
    rows = []
    # `hepjax demo` hands over the flattened metrics: "curves.mpm.auc.finetune.100" -> [seeds]
    for name in ("mpm", "tokeniser_free"):
        rows += auc_rows(
            metrics,
            name,
            n,
            lambda group, strategy: f"{group} {strategy}: top-vs-QCD AUC at {n} labels",
        )
    rows.append(
        Row(
            f"fine-tuned minus scratch AUC at {n} labels (MPM)",
            "> seed spread",
            metrics["finetune_minus_scratch"],
            note=f"seed spread {metrics['seed_spread']:.3f}",
        )
    )
    return rows


def _split(data: jets.Jets, sizes: list[int], seed: int) -> list[jets.Jets]:
    order = np.random.default_rng(seed).permutation(len(data))
    out, start = [], 0
    for n in sizes:
        out.append(data.subset(np.sort(order[start : start + n])))
        start += n
    return out


@register(
    "masked_particle_modelling",
    summary="Masked particle modelling: pre-train ParT on jets, fine-tune with few labels",
    paper=Paper(
        "Masked particle modelling on sets: towards self-supervised high energy physics "
        "foundation models",
        "2401.13537",
        "Self-supervised pre-training of a set transformer by predicting the VQ-VAE tokens of "
        "masked particles, then fine-tuning with few labels.",
    ),
    report=report,
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Pre-train with MPM and the tokeniser-free variant; fine-tune over labels and seeds."""
    with compilation_cache():
        return _run(scale, out)


def _run(scale: str, out: pathlib.Path) -> dict:
    cfg = SCALES[scale]
    t0 = time.perf_counter()
    key = jax.random.key(0)
    k_tok, k_mpm, k_free, k_bb, k_lc, k_lc2, k_tr = jax.random.split(key, 7)
    total = 2 * (cfg.jets_per_class + cfg.pool_per_class)
    data = jets.jetclass_jets(("QCD", "Tbqq"), total // 2, seed=0, max_particles=cfg.particles)
    n_test = cfg.jets_per_class
    pool, labelled, test = _split(
        data, [2 * cfg.pool_per_class, 2 * cfg.jets_per_class - n_test, n_test], seed=1
    )
    seconds_data = time.perf_counter() - t0
    pool = dataclasses.replace(pool, labels=None)
    stamps = {"data": time.perf_counter() - t0}

    def stamp(name):
        stamps[name] = time.perf_counter() - t0 - sum(stamps.values())

    tok = jets.VQVAETokenizer(
        num_codes=cfg.codes, latent_size=8 if scale == "tour" else 16, hidden_size=cfg.embed_size
    ).fit(k_tok, pool.x, pool.mask, steps=cfg.vq_steps, batch_size=cfg.batch)
    stamp("tokeniser")
    backbone = ParticleTransformer(
        num_features=3,
        embed_size=cfg.embed_size,
        num_heads=cfg.num_heads,
        num_layers=cfg.num_layers,
        num_class_layers=1,
        num_classes=2,
        pair_hidden_size=cfg.pair_hidden_size,
        key=k_bb,
    )
    mpm = jets.pretrain(
        k_mpm,
        backbone,
        pool,
        objective=jets.MaskedTokens(tokenizer=tok, mask_fraction=0.3),
        steps=cfg.pretrain_steps,
        batch_size=cfg.batch,
    )
    free = jets.pretrain(
        k_free,
        backbone,
        pool,
        objective=jets.MaskedFeatures(mask_fraction=0.4, num_identities=5),
        steps=cfg.pretrain_steps,
        batch_size=cfg.batch,
    )
    stamp("pretrain")
    jets.save_backbone(out / "backbone_mpm", mpm.backbone)
    common = dict(steps=cfg.finetune_steps, batch_size=min(cfg.batch, min(cfg.sizes)))
    curves = {
        "mpm": jets.learning_curve(
            k_lc,
            mpm,
            labelled,
            test,
            sizes=list(cfg.sizes),
            seeds=cfg.seeds,
            strategies=cfg.strategies,
            **common,
        ),
        "tokeniser_free": jets.learning_curve(
            k_lc2,
            free,
            labelled,
            test,
            sizes=list(cfg.sizes),
            seeds=cfg.seeds,
            strategies=cfg.tokeniser_free_strategies,
            **common,
        ),
    }
    stamp("finetune")
    jets.plot_learning_curves(curves, out / "learning_curves.png", xlabel="labelled jets")
    metrics = {
        "curves": {k: v.to_dict() for k, v in curves.items()},
        # per strategy: the AUC for each number of labels and seed (MPM backbone)
        "auc": curves["mpm"].to_dict()["auc"],
        "masked_token_accuracy": jets.masked_accuracy(k_tr, mpm, test),
        "codebook_usage": float(tok.usage),
        "pretrain_loss_mpm": float(np.mean(mpm.losses[-20:])),
        "pretrain_loss_tokeniser_free": float(np.mean(free.losses[-20:])),
        "seconds_data": seconds_data,
        "seconds_by_stage": stamps,
    }
    lc = curves["mpm"]
    i = int(np.argmin(lc.sizes))
    metrics["finetune_minus_scratch"] = float(
        np.mean(lc.auc["finetune"][i]) - np.mean(lc.auc["scratch"][i])
    )
    metrics["seed_spread"] = float(max(np.std(lc.auc["finetune"][i]), np.std(lc.auc["scratch"][i])))
    if cfg.transfer:
        metrics["transfer"] = _transfer(k_tr, mpm, cfg)
    metrics["seconds"] = time.perf_counter() - t0
    return metrics


def _transfer(key, mpm, cfg: Config) -> dict:
    """New class (W vs QCD), new domain (another shower), and a CWoLa fine-tune."""
    k1, k2, k3 = jax.random.split(key, 3)
    n = cfg.jets_per_class
    common = dict(
        sizes=[min(cfg.sizes)],
        seeds=cfg.seeds,
        steps=cfg.finetune_steps,
        batch_size=min(cfg.batch, min(cfg.sizes)),
        strategies=("finetune", "scratch"),
    )
    out = {}
    wq = jets.jetclass_jets(("QCD", "Wqq"), n, seed=10, max_particles=cfg.particles)
    lab, test = _split(wq, [n, n], seed=2)
    out["new_class_w_vs_qcd"] = jets.learning_curve(k1, mpm, lab, test, **common).to_dict()["auc"]
    dom = jets.jetclass_jets(
        ("QCD", "Tbqq"),
        n,
        seed=20,
        max_particles=cfg.particles,
        extra_settings=jets.SHOWER_VARIATION,
    )
    lab, test = _split(dom, [n, n], seed=3)
    out["new_domain_shower"] = jets.learning_curve(k2, mpm, lab, test, **common).to_dict()["auc"]
    # CWoLa: mixture labels (top fraction 0.7 vs 0.3) for training, true labels for testing
    top = np.flatnonzero(lab.labels == 1)
    qcd = np.flatnonzero(lab.labels == 0)
    half = min(len(top), len(qcd)) // 2
    m1 = np.concatenate([top[: int(0.7 * half)], qcd[: half - int(0.7 * half)]])
    m2 = np.concatenate(
        [top[half : half + int(0.3 * half)], qcd[half : 2 * half - int(0.3 * half)]]
    )
    idx = np.concatenate([m1, m2])
    mixture = np.concatenate([np.ones(len(m1), np.int32), np.zeros(len(m2), np.int32)])
    cwola = dataclasses.replace(lab.subset(idx), labels=mixture)
    res = jets.finetune(
        k3, mpm, cwola, strategy="finetune", steps=cfg.finetune_steps, batch_size=cfg.batch
    )
    out["cwola_true_label_auc"] = jets.evaluate(res, test).auc
    return out


if __name__ == "__main__":
    example_main(run)
