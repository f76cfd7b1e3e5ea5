"""Fine-tuning a pre-trained jet tagger for an event-level search: X -> HH -> 4b against QCD.

Reproduces the workflow of Vigl, Hartman & Heinrich, "Finetuning foundation
models for joint analysis optimization in High Energy Physics"
(arXiv:2401.13536) on Pythia 8 + FastJet samples:

1. pre-train a ``hepjax.nn.ParticleTransformer`` as a jet-level H -> bb versus
   QCD tagger on JetClass-style jets (``hepjax.jets.jetclass_jets``, its
   class-token head gives the tagger score), and save it with
   ``hepjax.jets.save_backbone``;
2. load it and train the event-level head (``hepjax.jets.EventHead``: a deep
   set summed over the masked set of the 2-5 large-radius jets of an event) on
   X -> HH -> 4b versus QCD multijet events (``hepjax.jets.hh4b_events``)
   over training fractions and seeds, with the backbone frozen, fine-tuned end
   to end, or trained from scratch, and with the three jet representations:
   the latent vector, the latent vector plus high-level features, and the
   tagger score plus high-level features;
3. write the AUC and the background rejection at 50 % signal efficiency per
   representation, strategy, training fraction and seed to ``metrics.json``
   and plot the learning curves with their seed spread.

Every fine-tune of a representation and strategy has the same shapes (the
batch size is at most the smallest training set) and the same loss and
optimiser, so ``hepjax.train.fit`` traces and compiles its step once per run,
whatever the training fractions and seeds; JAX's persistent compilation cache
spares even that in later runs.

    python examples/finetune_hh4b.py --scale small --out runs/hh4b
"""

import dataclasses
import pathlib
import time

import equinox as eqx
import jax
import numpy as np
from _compilation_cache import compilation_cache  # shared with masked_particle_modelling
from _curve_rows import auc_rows

from hepjax import jets
from hepjax.cli import Paper, Row, example_main, register
from hepjax.data import Standardizer
from hepjax.nn import ParticleTransformer

REPRESENTATIONS = ("latent", "latent+hl", "score+hl")
STRATEGIES = ("frozen", "finetune", "scratch")
SIGNAL_EFFICIENCY = 0.5
LIGHT = ("PartonLevel:MPI = off",)  # no underlying event: Pythia 2-8x faster


@dataclasses.dataclass(frozen=True)
class Config:
    jets_per_class: int  # H->bb and QCD jets for the pre-training (90 % train, 10 % test)
    events_per_class: int  # X->HH->4b and QCD events: training pool + test
    test_per_class: int
    particles: int
    max_jets: int
    embed_size: int
    num_layers: int
    num_heads: int
    pair_hidden_size: int
    pretrain_steps: int
    finetune_steps: int
    fractions: tuple[float, ...]
    seeds: int
    batch: int
    hidden_size: int = 32  # the event head's phi and rho
    num_class_layers: int = 1
    pretrain_lr: float = 1e-3
    strategies: dict = dataclasses.field(
        default_factory=lambda: {r: STRATEGIES for r in REPRESENTATIONS}
    )
    # representations other than "latent" at the smallest fraction only (the tour)
    others_smallest_only: bool = False
    extra_settings: tuple[str, ...] = ()


SCALES = {
    "tour": Config(
        jets_per_class=200,
        events_per_class=160,
        test_per_class=80,
        particles=16,
        max_jets=3,
        embed_size=16,
        num_layers=1,
        num_heads=2,
        pair_hidden_size=8,
        pretrain_steps=200,
        finetune_steps=40,
        fractions=(0.25, 1.0),
        seeds=2,
        batch=32,
        hidden_size=16,
        pretrain_lr=3e-3,
        # each (representation, strategy) compiles its own step: the tour keeps four
        strategies={
            "latent": ("finetune", "scratch"),
            "latent+hl": ("finetune",),
            "score+hl": ("finetune",),
        },
        others_smallest_only=True,
        extra_settings=LIGHT,
    ),
    "small": Config(
        jets_per_class=3_000,
        events_per_class=2_500,
        test_per_class=1_000,
        particles=24,
        max_jets=3,
        embed_size=32,
        num_layers=2,
        num_heads=4,
        pair_hidden_size=16,
        pretrain_steps=2_000,
        finetune_steps=200,
        fractions=(0.01, 0.03, 0.1, 0.3, 1.0),
        seeds=3,
        batch=30,
    ),
    "paper": Config(
        jets_per_class=200_000,
        events_per_class=200_000,
        test_per_class=50_000,
        particles=100,
        max_jets=5,
        embed_size=128,
        num_layers=8,
        num_heads=8,
        pair_hidden_size=64,
        pretrain_steps=100_000,
        finetune_steps=20_000,
        fractions=(1e-4, 1e-3, 1e-2, 1e-1, 1.0),
        seeds=5,
        batch=256,
        hidden_size=128,
        num_class_layers=2,
    ),
}


def report(metrics: dict, scale: str) -> list[Row]:
    """Paper-versus-run rows from the flattened metrics (``hepjax demo`` hands those over:
    ``"curves.latent.auc.finetune.24"`` -> the per-seed AUCs with 24 training events)."""
    rows = [
        Row(
            "H->bb vs QCD tagger AUC (pre-training, jet level)",
            None,
            metrics["tagger_auc"],
            note=f"{metrics['tagger_jets']} training jets",
        )
    ]
    smallest = str(metrics["smallest_training_events"])
    for rep in REPRESENTATIONS:
        rows += auc_rows(
            metrics,
            rep,
            smallest,
            lambda rep, strategy: f"{rep} {strategy}: HH->4b AUC with {smallest} training events",
        )
    rows.append(
        Row(
            f"fine-tuned minus scratch AUC with {smallest} training events (latent)",
            "> seed spread (10-100x data efficiency)",
            metrics["finetune_minus_scratch"],
            note=f"seed spread {metrics['seed_spread']:.3f}",
        )
    )
    rows.append(
        Row(
            f"background rejection at {SIGNAL_EFFICIENCY:.0%} signal efficiency, "
            "all training events (latent)",
            "fine-tuned above scratch",
            f"finetune {metrics['rejection_full.finetune']:.1f}, "
            f"scratch {metrics['rejection_full.scratch']:.1f}",
        )
    )
    return rows


@register(
    "finetune_hh4b",
    summary="Pre-train ParT as an H->bb tagger, fine-tune an event head for X->HH->4b vs QCD",
    paper=Paper(
        "Finetuning foundation models for joint analysis optimization in High Energy Physics",
        "2401.13536",
        "A Particle Transformer pre-trained on jet-level H->bb tagging is fine-tuned inside an "
        "event-level X->HH->4b classifier: 10-100x better data efficiency than from scratch.",
    ),
    report=report,
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Pre-train the tagger, then fine-tune the event head over fractions, strategies, seeds."""
    with compilation_cache():
        return _run(scale, out)


def _pretrain(key, cfg: Config, tagger_jets: jets.Jets, test: jets.Jets):
    """The H->bb vs QCD tagger: a ParT trained from scratch with a linear head, which then
    becomes the backbone's own class-token head (the tagger score of ``"score+hl"``)."""
    k_bb, k_fit = jax.random.split(key)
    backbone = ParticleTransformer(
        num_features=3,
        embed_size=cfg.embed_size,
        num_heads=cfg.num_heads,
        num_layers=cfg.num_layers,
        num_class_layers=cfg.num_class_layers,
        num_classes=2,
        pair_hidden_size=cfg.pair_hidden_size,
        key=k_bb,
    )
    tagger = jets.finetune(
        k_fit,
        backbone,
        tagger_jets,
        strategy="scratch",
        head=jets.LinearHead(num_classes=2),
        steps=cfg.pretrain_steps,
        batch_size=cfg.batch,
        learning_rate=cfg.pretrain_lr,
    )
    backbone = eqx.tree_at(lambda b: b.head, tagger.model.backbone, tagger.model.head.layer)
    return backbone, jets.evaluate(tagger, test), tagger.losses


def _plot(curves: dict, out: pathlib.Path) -> None:
    """AUC and background rejection against the training events, one figure per
    representation (mean over seeds, a band of one standard deviation, the seeds as dots)."""
    for rep, curve in curves.items():
        name = rep.replace("+", "_")
        x = "training events"
        jets.plot_learning_curves(curve, out / f"auc_{name}.png", xlabel=x)
        jets.plot_learning_curves(
            curve, out / f"rejection_{name}.png", metric="rejection", xlabel=x
        )


def _standardised(data, st: Standardizer):
    """``data`` (Jets or Events) with its particle features standardised, padding zero."""
    x = (data.x - np.asarray(st.shift)) / np.asarray(st.scale)
    return dataclasses.replace(data, x=np.where(data.mask[..., None], x, 0.0).astype(np.float32))


def _run(scale: str, out: pathlib.Path) -> dict:
    cfg = SCALES[scale]
    t0 = time.perf_counter()
    stamps: dict[str, float] = {}

    def stamp(name):
        stamps[name] = time.perf_counter() - t0 - sum(stamps.values())

    k_pre, k_curve = jax.random.split(jax.random.key(0))
    common = dict(max_particles=cfg.particles, extra_settings=cfg.extra_settings)
    tagger_data = jets.jetclass_jets(("QCD", "Hbb"), cfg.jets_per_class, seed=0, **common)
    events = jets.hh4b_events(cfg.events_per_class, seed=100, max_jets=cfg.max_jets, **common)
    # one standardisation of (Delta eta, Delta phi, log pT), from the tagger's jets, for both
    st = Standardizer.fit(tagger_data.x, tagger_data.mask)
    tagger_data, events = _standardised(tagger_data, st), _standardised(events, st)
    n_test = 2 * cfg.test_per_class  # hh4b_events shuffles: the first events are the test set
    test, pool = events.subset(np.arange(n_test)), events.subset(np.arange(n_test, len(events)))
    n_tag = len(tagger_data) // 10
    tag_test = tagger_data.subset(np.arange(n_tag))
    tag_train = tagger_data.subset(np.arange(n_tag, len(tagger_data)))
    stamp("data")

    backbone, tagger, tagger_losses = _pretrain(k_pre, cfg, tag_train, tag_test)
    jets.save_backbone(out / "backbone_hbb", backbone)
    backbone = jets.load_backbone(out / "backbone_hbb")
    stamp("pretrain")

    curves = {}
    smallest = max(2, round(min(cfg.fractions) * len(pool)))
    for i, rep in enumerate(REPRESENTATIONS):
        fractions = cfg.fractions
        if rep != "latent" and cfg.others_smallest_only:
            fractions = (min(fractions),)
        curves[rep] = jets.learning_curve(
            jax.random.fold_in(k_curve, i),  # the same subsets for every strategy
            backbone,
            pool,
            test,
            sizes=[float(f) for f in fractions],
            seeds=cfg.seeds,
            strategies=cfg.strategies[rep],
            signal_efficiency=SIGNAL_EFFICIENCY,
            head=jets.EventHead(num_classes=2, hidden_size=cfg.hidden_size, representation=rep),
            steps=cfg.finetune_steps,
            batch_size=min(cfg.batch, smallest),
        )
    stamp("finetune")
    _plot(curves, out)
    lc = curves["latent"]
    first, last = int(np.argmin(lc.sizes)), int(np.argmax(lc.sizes))
    metrics = {
        "curves": {rep: c.to_dict() for rep, c in curves.items()},
        "fractions": list(cfg.fractions),
        "training_pool_events": len(pool),
        "test_events": len(test),
        "smallest_training_events": lc.sizes[first],
        "signal_efficiency": SIGNAL_EFFICIENCY,
        # per representation and strategy: AUC per training fraction and seed
        "auc_by_fraction": {
            rep: {
                s: {f"{f:g}": [float(v) for v in c.auc[s][i]] for i, f in enumerate(c.requested)}
                for s in c.auc
            }
            for rep, c in curves.items()
        },
        "tagger_auc": tagger.auc,
        "tagger_jets": len(tag_train),
        "tagger_loss": float(np.mean(tagger_losses[-20:])),
        "finetune_minus_scratch": float(
            np.mean(lc.auc["finetune"][first]) - np.mean(lc.auc["scratch"][first])
        ),
        "seed_spread": float(
            max(np.std(lc.auc["finetune"][first]), np.std(lc.auc["scratch"][first]))
        ),
        "rejection_full": {s: float(np.mean(lc.rejection[s][last])) for s in lc.rejection},
        "seconds_by_stage": stamps,
    }
    metrics["seconds"] = time.perf_counter() - t0
    return metrics


if __name__ == "__main__":
    example_main(run)
