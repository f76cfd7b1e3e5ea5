"""Classify toy quark- and gluon-like jets with a particle transformer.

Shows the whole training workflow of hepjax on a dataset it generates itself:
``hepjax.data.toy_quark_gluon`` -> ``hepjax.nn.ParticleTransformerClassifier``
-> ``hepjax.train.fit`` with EMA, gradient clipping, evaluation callbacks and
Orbax checkpoints. The run is interrupted half-way and resumed from its
checkpoint, and the result is compared bit for bit with an uninterrupted run.

    python examples/train_classifier.py --scale small --out runs/classifier
"""

import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import hepjax.data as hd
import hepjax.metrics as hm
import hepjax.train as ht
from hepjax.cli import Paper, Row, example_main, register
from hepjax.nn import ParticleTransformerClassifier

SCALES = {
    # jets, steps, batch, hidden size, layers
    "tour": dict(jets=2_000, steps=80, batch=64, hidden_size=16, num_layers=1),
    "small": dict(jets=6_000, steps=200, batch=128, hidden_size=32, num_layers=2),
    "paper": dict(jets=500_000, steps=50_000, batch=512, hidden_size=128, num_layers=6),
}


def features(x, mask):
    """(etarel, phirel, log ptrel) per particle, zero on padding."""
    log_pt = jnp.log(jnp.where(mask, x[..., 2], 1.0))
    return jnp.where(mask[..., None], jnp.concatenate([x[..., :2], log_pt[..., None]], -1), 0.0)


def loss_fn(model, batch, *, key):
    keys = jax.random.split(key, batch["y"].shape[0])
    logits = jax.vmap(lambda x, m, k: model(x, m, key=k))(
        features(batch["x"], batch["mask"]), batch["mask"], keys
    )
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()


@eqx.filter_jit
def _logits(model, x, mask):
    return jax.vmap(lambda a, b: model(a, b))(features(x, mask), mask)


def predict(model, data, chunk=2048):
    model = eqx.nn.inference_mode(model)  # dropout off
    n = len(data["y"])
    return np.concatenate(
        [
            _logits(model, data["x"][i : i + chunk], data["mask"][i : i + chunk])
            for i in range(0, n, chunk)
        ]
    )


def evaluation(test):
    def evaluate(model):
        logits = predict(model, test.arrays)
        score = jax.nn.log_softmax(logits)[:, 1] - jax.nn.log_softmax(logits)[:, 0]
        return {
            "auc": hm.roc_auc(score, test.arrays["y"]),
            "accuracy": hm.accuracy(logits, test.arrays["y"]),
        }

    return evaluate


def report(metrics: dict, scale: str) -> list[Row]:
    """The classifier's quality, and whether the interrupted run resumed exactly."""
    cfg = SCALES[scale]
    return [
        Row(
            "test AUC",
            None,
            metrics["test_auc"],
            note=f"toy quark/gluon jets, {cfg['jets']} jets, {cfg['steps']} steps",
        ),
        Row("background rejection at 50% efficiency", None, metrics["rejection_at_50pct"]),
        Row(
            "resumed run bit-identical to an uninterrupted one",
            True,
            metrics["resume_bit_identical"],
            note=f"interrupted at step {metrics['interrupted_at']}",
        ),
        Row("training throughput", None, metrics["examples_per_second"], unit="jets/s"),
    ]


@register(
    "train-classifier",
    summary="Quark/gluon tagging with a particle transformer; resume",
    paper=Paper(
        "Particle Transformer for Jet Tagging",
        "2202.03772",
        "A transformer over the particles of a jet, here trained with hepjax's one training "
        "loop (EMA, clipping, evaluation callbacks, checkpoints) and resumed mid-run.",
    ),
    report=report,
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Train, interrupt, resume, and check the resumed run is bit-identical."""
    cfg = SCALES[scale]
    key = jax.random.key(0)
    k_data, k_model, k_batches, k_split, k_fit = jax.random.split(key, 5)
    train, test = hd.toy_quark_gluon(k_data, cfg["jets"]).split(0.8, key=k_split)
    batches = hd.Batches(train, cfg["batch"], key=k_batches)
    model = ParticleTransformerClassifier(
        3,
        2,
        hidden_size=cfg["hidden_size"],
        num_heads=4,
        num_layers=cfg["num_layers"],
        dropout=0.1,
        key=k_model,
    )
    schedule = optax.warmup_cosine_decay_schedule(0.0, 1e-3, cfg["steps"] // 20, cfg["steps"])
    settings = dict(
        optimizer=optax.adamw(schedule, weight_decay=1e-4),
        data=batches,
        key=k_fit,
        clip_norm=1.0,
        ema_decay=0.99,
        callbacks=[
            ht.Evaluate(evaluation(test), every=cfg["steps"] // 2, use_ema=True, prefix="test_")
        ],
    )
    # An interrupted run: stop half-way, then resume from the checkpoint.
    checkpoints = out / "checkpoints"
    half = ht.fit(
        model,
        loss_fn,
        steps=cfg["steps"] // 2,
        checkpoint_dir=checkpoints,
        resume=False,
        **settings,
    )
    resumed = ht.fit(model, loss_fn, steps=cfg["steps"], checkpoint_dir=checkpoints, **settings)
    # The reference: one uninterrupted run.
    straight = ht.fit(model, loss_fn, steps=cfg["steps"], **settings)
    identical = all(
        np.array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(resumed.ema_model), jax.tree.leaves(straight.ema_model), strict=True
        )
        if hasattr(a, "shape")
    ) and np.array_equal(resumed.losses, straight.losses)

    logits = predict(resumed.ema_model, test.arrays)
    score = logits[:, 1] - logits[:, 0]
    hm.plot_losses(resumed.losses, out / "loss.png", evals=resumed.evals)
    hm.plot_roc(
        {"particle transformer (EMA)": hm.roc_curve(score, test.arrays["y"])}, out / "roc.png"
    )
    return {
        "test_auc": hm.roc_auc(score, test.arrays["y"]),
        "test_accuracy": hm.accuracy(logits, test.arrays["y"]),
        "rejection_at_50pct": hm.background_rejection(score, test.arrays["y"], 0.5),
        "final_train_loss": float(np.mean(resumed.losses[-20:])),
        "interrupted_at": half.step,
        "resumed_from": resumed.resumed_from,
        "resume_bit_identical": bool(identical),
        "examples_per_second": straight.examples_per_second,
    }


if __name__ == "__main__":
    example_main(run)
