"""White-box adversarial training and sharpness of H->bb taggers (Rothen et al., 2411.09296).

H->bb against QCD jets from hepjax's Pythia 8 + FastJet JetClass-style
generator (``hepjax.jets.jetclass_jets``, cached). A small transformer tagger
(``hepjax.nn.ParticleTransformerClassifier`` on (deta, dphi, log pT) of the
leading constituents, standardised) is trained five ways with
``hepjax.train.fit``: plain, SAM and sparse SAM (``hepjax.robust.sam``,
``sparse_sam``), and with FGSM (eps = 0.007) or PGD (10 steps of 0.002) on a
fraction of each batch that ramps from 0 to 0.5 (``robust.attack_schedule``).
Each model is evaluated on the nominal test jets and on shifted simulations,
the paper's proxy for data: other shower seeds, the time-like shower's
renormalisation scale x0.5 and x2 (``TimeShower:renormMultFac`` = 0.25 and 4,
it multiplies mu^2) and the Vincia shower (``PartonShowers:model = 2``) as the
stand-in for Herwig. Per method: AUC and background rejection at 50% signal
efficiency per sample and seed, the generalisation gap (nominal minus shifted
AUC, mean and standard error over seeds), the top eigenvalue of the Hessian of
the loss in the last layer's weights (Lanczos) and the loss along 50
normalised gradient-ascent steps of 0.01 in weight space.

    python examples/adversarial_sharpness.py --scale small --out runs/adversarial
"""

import contextlib
import dataclasses
import pathlib
import time

import equinox as eqx
import jax
import numpy as np
import optax
from _compilation_cache import compilation_cache  # JAX's persistent cache, next to this file

from hepjax import jets, metrics, nn, robust, train
from hepjax.cli import Paper, Row, example_main, register

METHODS = ("plain", "SAM", "sparse SAM", "FGSM", "PGD")
SHIFTS = {
    "seed": dict(seed=100, extra=()),
    "fsr_x0.5": dict(seed=200, extra=("TimeShower:renormMultFac = 0.25",)),
    "fsr_x2": dict(seed=300, extra=("TimeShower:renormMultFac = 4.0",)),
    "vincia": dict(seed=400, extra=("PartonShowers:model = 2",)),
}


@dataclasses.dataclass(frozen=True)
class Config:
    """One scale; ``paper`` follows arXiv:2411.09296 (full JetClass subsets, ParT, GPU)."""

    train_jets: int  # per class
    test_jets: int  # per class and sample
    particles: int
    hidden_size: int
    num_layers: int
    steps: int
    batch: int
    seeds: int
    hessian_jets: int
    lr: float = 1e-3
    rho: float = 0.05


SCALES = {
    "tour": Config(
        train_jets=300,
        test_jets=100,
        particles=16,
        hidden_size=16,
        num_layers=1,
        steps=40,
        batch=64,
        seeds=1,
        hessian_jets=64,
    ),
    "small": Config(
        train_jets=4_000,
        test_jets=1_000,
        particles=32,
        hidden_size=32,
        num_layers=2,
        steps=1_500,
        batch=128,
        seeds=3,
        hessian_jets=512,
    ),
    "paper": Config(
        train_jets=500_000,
        test_jets=100_000,
        particles=128,
        hidden_size=128,
        num_layers=8,
        steps=100_000,
        batch=512,
        seeds=3,
        hessian_jets=4_096,
    ),
}

PAPER = Paper(
    "Rothen, Klein, Leigh, Golling: Enhancing generalization in high energy physics using "
    "white-box adversarial attacks",
    "2411.09296",
    "Jet taggers trained with weight-space (SAM) and feature-space (FGSM, PGD) attacks find "
    "flatter minima and generalise better to a differently simulated sample.",
)


def _sample(cfg: Config, n: int, seed: int, extra=()):
    data = jets.jetclass_jets(
        ("QCD", "Hbb"), n, seed=seed, max_particles=cfg.particles, extra_settings=extra
    )
    return data.x.astype(np.float32), data.mask, data.labels.astype(np.int32)


def batch_loss(model, x, y):
    """Mean cross-entropy of a batch; ``x = (features, mask)``."""
    feats, mask = x
    logits = jax.vmap(model)(feats, mask)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _plain_loss(model, batch):
    x, y = batch
    return batch_loss(model, x, y)


@eqx.filter_jit
def _scores(model, feats, mask):
    return jax.nn.softmax(jax.vmap(model)(feats, mask), axis=-1)[:, 1]


@eqx.filter_jit
def _sharpness(key, model, feats, mask, y):
    loss = lambda m: batch_loss(m, (feats, mask), y)
    top = robust.subset_hessian_eigenvalues(key, loss, model, k=1)[0]
    curve = robust.ascent_curve(loss, model, step_size=0.01, num_steps=50)
    return top, curve.losses


def _train(method: str, cfg: Config, seed: int, train_x, train_m, train_y):
    key = jax.random.key(seed)
    k_model, k_fit = jax.random.split(key)
    model = nn.ParticleTransformerClassifier(
        train_x.shape[-1],
        2,
        hidden_size=cfg.hidden_size,
        num_heads=2,
        num_layers=cfg.num_layers,
        key=k_model,
    )
    size = len(train_y)

    def data(step):
        idx = np.random.default_rng((seed, step)).choice(size, cfg.batch, replace=False)
        return (train_x[idx], train_m[idx]), train_y[idx]

    adam = optax.adam(cfg.lr)
    steps = cfg.steps
    if method == "plain":
        loss, opt, stream = _plain_loss, adam, data
    elif method == "SAM":  # two fit steps per SAM update: the same number of updates
        loss, opt, stream, steps = _plain_loss, robust.sam(adam, cfg.rho), data, 2 * steps
    elif method == "sparse SAM":
        opt = robust.sparse_sam(adam, cfg.rho, fraction=0.5)
        loss, stream, steps = _plain_loss, data, 2 * steps
    else:
        attack = robust.FGSM(0.007) if method == "FGSM" else robust.PGD(0.007, 0.002, 10)
        loss = robust.adversarial_loss(batch_loss, attack)
        stream = robust.attack_schedule(data, optax.linear_schedule(0.0, 0.5, steps // 2))
        opt = adam
    return train.fit(model, loss, opt, stream, steps=steps, key=k_fit).model


def _standardise(x, mask, mean, std):
    return np.where(mask[..., None], (x - mean) / std, 0.0).astype(np.float32)


@register(
    "adversarial_sharpness",
    summary="H->bb taggers with SAM, sparse SAM, FGSM, PGD: shifted-simulation AUC and sharpness",
    paper=PAPER,
    report=lambda metrics, scale: report(metrics, scale),
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Train each method per seed; evaluate on the nominal and shifted samples; sharpness."""
    with compilation_cache():  # a warm cache turns the compilations into lookups
        return _run(scale, out)


def _run(scale: str, out: pathlib.Path) -> dict:
    cfg = SCALES[scale]
    started = time.perf_counter()
    tx, tm, ty = _sample(cfg, cfg.train_jets + cfg.test_jets, seed=0)
    real = tx[tm]
    mean, std = real.mean(0), real.std(0) + 1e-6
    tx = _standardise(tx, tm, mean, std)
    split = 2 * cfg.train_jets
    samples = {"nominal": (tx[split:], tm[split:], ty[split:])}
    for name, spec in SHIFTS.items():
        x, m, y = _sample(cfg, cfg.test_jets, seed=spec["seed"], extra=spec["extra"])
        samples[name] = (_standardise(x, m, mean, std), m, y)
    out_metrics: dict = {"data_seconds": time.perf_counter() - started}
    hx, hm, hy = (a[: cfg.hessian_jets] for a in samples["nominal"])
    curves: dict = {}
    for method in METHODS:
        entry: dict = {}
        for seed in range(cfg.seeds):
            tick = time.perf_counter()
            model = _train(method, cfg, seed, tx[:split], tm[:split], ty[:split])
            entry.setdefault("train_seconds", []).append(time.perf_counter() - tick)
            for name, (x, m, y) in samples.items():
                scores = np.asarray(_scores(model, x, m))
                entry.setdefault(f"auc_{name}", []).append(metrics.roc_auc(scores, y))
                rejection = metrics.background_rejection(scores, y, 0.5)
                entry.setdefault(f"rejection_{name}", []).append(rejection)
            top, losses = _sharpness(jax.random.key(seed), model, hx, hm, hy)
            entry.setdefault("top_eigenvalue", []).append(float(top))
            entry.setdefault("ascent_increase", []).append(float(losses[-1] - losses[0]))
            curves.setdefault(method, []).append(np.asarray(losses - losses[0]))
        nominal = np.asarray(entry["auc_nominal"])
        for name in SHIFTS:
            gap = nominal - np.asarray(entry[f"auc_{name}"])
            entry[f"gap_{name}"] = float(gap.mean())
            entry[f"gap_{name}_error"] = (
                float(gap.std(ddof=1) / np.sqrt(gap.size)) if gap.size > 1 else None
            )
        top, ascent = np.mean(entry["top_eigenvalue"]), np.mean(entry["ascent_increase"])
        print(
            f"{method}: nominal AUC {nominal.mean():.3f}, top eigenvalue {top:.3g}, "
            f"ascent {ascent:.3g}",
            flush=True,
        )
        out_metrics[method] = entry
    with contextlib.suppress(ImportError):
        _plot(curves, out)
    out_metrics["total_seconds"] = time.perf_counter() - started
    return out_metrics


def _plot(curves: dict, out: pathlib.Path) -> None:
    """The loss increase along the ascent path per method (band: the spread over seeds)."""
    from hepjax._core import figure

    with figure(out / "ascent_curves.png") as (_, ax):
        for method, runs in curves.items():
            runs = np.asarray(runs)
            distance = 0.01 * np.arange(runs.shape[1])
            ax.plot(distance, runs.mean(0), label=method)
            if len(runs) > 1:
                ax.fill_between(distance, runs.min(0), runs.max(0), alpha=0.2)
        ax.set_xlabel("distance along normalised gradient ascent")
        ax.set_ylabel("loss increase")
        ax.legend()


def _mean(metrics: dict, key: str):
    values = metrics.get(key)
    if values is None:
        return None
    values = [v for v in np.atleast_1d(values) if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def report(metrics: dict, scale: str) -> list[Row]:
    """Per method: nominal AUC, the FSR x2 and Vincia gaps with errors, top eigenvalue, ascent."""
    cfg = SCALES[scale]
    rows = []
    note = f"{cfg.seeds} seed(s), {cfg.train_jets} jets per class, {cfg.steps} updates"
    for method in METHODS:
        rows.append(
            Row(f"{method}: nominal AUC", None, _mean(metrics, f"{method}.auc_nominal"), note=note)
        )
        for name in ("fsr_x2", "vincia"):
            gap = metrics.get(f"{method}.gap_{name}")
            error = metrics.get(f"{method}.gap_{name}_error")
            text = None if gap is None else f"{gap:+.4f}" + (f" ± {error:.4f}" if error else "")
            rows.append(
                Row(
                    f"{method}: AUC gap nominal - {name}",
                    "smaller with attacks",
                    text,
                    note="mean ± standard error over seeds; paper: Herwig as the shifted sample",
                )
            )
        rows.append(
            Row(
                f"{method}: top Hessian eigenvalue (last layer)",
                "lower with attacks",
                _mean(metrics, f"{method}.top_eigenvalue"),
                note="Lanczos; mean over seeds",
            )
        )
        rows.append(
            Row(
                f"{method}: loss increase after 50 ascent steps",
                "lower with attacks",
                _mean(metrics, f"{method}.ascent_increase"),
                note="steps of 0.01 in weight space",
            )
        )
    return rows


if __name__ == "__main__":
    example_main(run)
