"""Shared workflow of the EPiC-FM and EPiC-JeDi examples (not an example itself).

Data -> standardise -> train with ``hepjax.train.fit`` (AdamW, EMA) -> sample
conditioned on the test jets' mass and pT with the test multiplicities ->
JetNet metrics (``hepjax.metrics.jets``) against the truth-vs-truth floor and
the independent-particle baseline -> histograms and a metrics table.
"""

import dataclasses
import importlib.util
import os
import pathlib
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

import hepjax.data as hd
import hepjax.metrics as hm
import hepjax.train as ht
from hepjax.cli import Paper, Row, format_value
from hepjax.metrics import jets as jm
from hepjax.sim import parton_shower

METRICS = ("w1m", "w1p", "w1efp", "fpd", "kpd", "kl")


@dataclasses.dataclass(frozen=True)
class Config:
    """One scale of an example; ``paper`` is arXiv:2310.00049's configuration."""

    num_jets: int
    particles: int
    hidden_size: int
    latent: int
    num_layers: int
    steps: int
    batch: int
    eval_jets: int
    lr: float = 1e-3
    ema: float = 0.999
    sample_steps: int = 100
    log_pt: bool = True  # model log(ptrel): see hepjax.data.split_jetnet
    jet_type: str = "t"


SCALES = {
    "tour": Config(
        num_jets=3_000,
        particles=30,
        hidden_size=32,
        latent=8,
        num_layers=2,
        steps=1_500,
        batch=128,
        eval_jets=1_000,
        ema=0.98,
        sample_steps=30,
    ),
    "small": Config(
        num_jets=12_000,
        particles=30,
        hidden_size=64,
        latent=10,
        num_layers=3,
        steps=4_000,
        batch=256,
        eval_jets=4_000,
        ema=0.995,  # a short run: average over its last ~200 steps only
    ),
    "paper": Config(
        num_jets=170_000,
        particles=30,
        hidden_size=128,
        latent=10,
        num_layers=6,
        steps=300_000,
        batch=1024,
        eval_jets=50_000,
    ),
}


def _have_pythia() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("pythia8mc", "fastjet"))


def load_jets(cfg: Config, key) -> tuple[dict[str, np.ndarray], str]:
    """JetNet-layout jets: Pythia 8 + FastJet (cached) when installed, else the toy shower.

    ``HEPJAX_JETS=toy`` forces the toy generator (no Pythia run).
    """
    if _have_pythia() and os.environ.get("HEPJAX_JETS", "pythia") != "toy":
        from hepjax.data import collider
        from hepjax.data.formats import read_jetnet

        workers = max(1, min(os.cpu_count() or 1, 8))
        path = collider.cached_jetnet(
            cfg.jet_type, cfg.num_jets, particles=cfg.particles, workers=workers
        )
        jets = read_jetnet(path, num_particles=cfg.particles)
        jets = {k: v[: cfg.num_jets] for k, v in jets.items()}
        return jets, f"Pythia 8 + FastJet ({path})"
    jets = parton_shower.toy_shower_jets(
        key, cfg.jet_type, cfg.num_jets, max_particles=cfg.particles
    )
    return jets, "hepjax.sim.parton_shower.toy_shower_jets"


def conditioning(jet_features: np.ndarray) -> np.ndarray:
    """The paper's conditioning: jet pT and mass (columns 0 and 2 of JetNet's jet features)."""
    return np.asarray(jet_features[:, [0, 2]], np.float32)


@dataclasses.dataclass
class Prepared:
    train: hd.ArrayDataset
    test_jets: np.ndarray
    test_cond: np.ndarray
    particles: hd.Standardizer
    cond: hd.Standardizer


def prepare(jets: dict[str, np.ndarray], cfg: Config, key) -> Prepared:
    """Split into train and test jets, and fit the standardisers on the training jets."""
    pf, jf = jets["particle_features"], jets["jet_features"]
    order = np.asarray(jax.random.permutation(key, len(pf)))
    n_test = min(cfg.eval_jets, len(pf) // 3)
    test, train = order[:n_test], order[n_test:]
    x, mask = hd.split_jetnet(pf[train], log_pt=cfg.log_pt)
    particles = hd.Standardizer.fit(x, mask)
    cond = hd.Standardizer.fit(conditioning(jf[train]))
    data = hd.ArrayDataset(
        x=np.asarray(particles(x, mask)),
        mask=np.asarray(mask),
        cond=np.asarray(cond(conditioning(jf[train]))),
    )
    return Prepared(data, pf[test], conditioning(jf[test]), particles, cond)


def train(model, loss_fn: Callable, data: Prepared, cfg: Config, key) -> ht.FitResult:
    """AdamW with a cosine schedule, gradient clipping and EMA weights."""
    k_batches, k_fit = jax.random.split(key)
    schedule = optax.warmup_cosine_decay_schedule(0.0, cfg.lr, cfg.steps // 50, cfg.steps)
    return ht.fit(
        model,
        loss_fn,
        optax.adamw(schedule, weight_decay=1e-5),
        hd.Batches(data.train, cfg.batch, key=k_batches),
        steps=cfg.steps,
        key=k_fit,
        clip_norm=1.0,
        ema_decay=cfg.ema,
    )


def score(truth: np.ndarray, jets: np.ndarray, seed: int) -> dict[str, list[float]]:
    """The JetNet metrics of ``jets`` against ``truth``, each as ``[value, error]``.

    Batch sizes follow the number of jets available (the paper evaluates on
    50k jets: w1 batches of 50k, FPD extrapolated from 20k to 50k, KPD
    batches of 5k); the KL divergence is on the relative jet mass.
    """
    n = min(len(truth), len(jets))
    values = {
        "w1m": jm.w1m(truth, jets, num_eval_samples=min(n, 50_000), seed=seed),
        "w1p": jm.w1p(truth, jets, num_eval_samples=min(n, 50_000), seed=seed),
        "w1efp": jm.w1efp(truth, jets, num_eval_samples=min(n, 50_000), seed=seed),
        "fpd": jm.fpd(
            truth, jets, min_samples=min(n // 2, 20_000), max_samples=min(n, 50_000), seed=seed
        ),
        "kpd": jm.kpd(truth, jets, batch_size=min(n // 2, 5_000), seed=seed),
        "kl": jm.quantiled_kl(jm.jet_mass(truth), jm.jet_mass(jets), seed=seed),
    }
    return {name: [float(v), float(e)] for name, (v, e) in values.items()}


def evaluate(samples: dict[str, np.ndarray], truth: np.ndarray, seed: int = 0) -> dict:
    """Every metric of every sample against ``truth``, plus the truth-vs-truth floor
    (two independent halves of the truth)."""
    half = len(truth) // 2
    table = {"truth_floor": score(truth[:half], truth[half : 2 * half], seed)}
    table.update({name: score(truth, jets, seed) for name, jets in samples.items()})
    return table


def metrics_table(table: dict[str, dict]) -> str:
    """Markdown table: rows are samples, columns the metrics as value ± error."""
    lines = ["| sample | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for name, row in table.items():
        cells = [f"{row[m][0]:.3g} ± {row[m][1]:.2g}" for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


PAPER = Paper(
    "EPiC-ly Fast Particle Cloud Generation with Flow-Matching and Diffusion",
    "2310.00049",
    "Permutation-equivariant EPiC networks generate jets as particle clouds, trained by "
    "score-based diffusion (EPiC-JeDi) or flow matching (EPiC-FM, the first equivariant CNF "
    "for jets), and reach the state of the art on JetNet top jets at a fraction of the cost.",
)
METRIC_LABELS = {
    "w1m": ("W1M", "jet mass"),
    "w1p": ("W1P", "particle features"),
    "w1efp": ("W1EFP", "energy-flow polynomials"),
    "fpd": ("FPD", "Fréchet distance"),
    "kpd": ("KPD", "kernel distance"),
    "kl": ("KL", "relative jet mass, quantiled"),
}


def report(metrics: dict, scale: str) -> list[Row]:
    """Each JetNet metric of the generated jets against the truth-vs-truth floor.

    The paper's claim is that EPiC-FM and EPiC-JeDi come close to the floor on
    every metric, far below a model that ignores correlations (here the
    independent-particle baseline); the notes give both for comparison.
    """
    cfg = SCALES[scale]
    rows = []
    for key, (label, what) in METRIC_LABELS.items():
        floor = tuple(metrics[f"truth_floor.{key}"])
        baseline = tuple(metrics[f"independent_baseline.{key}"])
        rows.append(
            Row(
                f"{label} ({what})",
                "near the truth floor (JetNet30 top jets)",
                tuple(metrics[key]),
                note=f"floor {format_value(floor)}, independent particles {format_value(baseline)}",
            )
        )
    rows.append(
        Row(
            "training",
            "300k steps, 170k jets",
            f"{cfg.steps} steps, {metrics['train_jets']} jets",
            note=metrics["data"],
        )
    )
    return rows


def write_text(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def timed(fn: Callable, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    jax.block_until_ready(value)
    return value, time.perf_counter() - start


def run(
    name: str,
    *,
    scale: str,
    out: pathlib.Path,
    make_model: Callable,
    loss_fn: Callable,
    sample: Callable,
) -> dict:
    """The whole workflow for one model.

    Args:
        name: the model's name in tables and plots.
        scale: ``"small"`` or ``"paper"``.
        out: the output folder.
        make_model: ``make_model(cfg, key)``, the untrained model.
        loss_fn: ``loss_fn(model, batch, *, key)`` on standardised batches
            ``{"x", "mask", "cond"}``.
        sample: ``sample(model, key, mask, cond, cfg)``, standardised sets for
            the test jets' masks and conditioning.
    """
    cfg = SCALES[scale]
    k_data, k_split, k_model, k_fit, k_sample, k_base = jax.random.split(jax.random.key(0), 6)
    jets, source = load_jets(cfg, k_data)
    data = prepare(jets, cfg, k_split)
    result, train_seconds = timed(train, make_model(cfg, k_model), loss_fn, data, cfg, k_fit)
    _, mask = hd.split_jetnet(data.test_jets)
    cond = jnp.asarray(data.cond(data.test_cond))
    x, sample_seconds = timed(sample, result.ema_model, k_sample, mask, cond, cfg)
    generated = hd.join_jetnet(data.particles.inverse(x, mask), mask, log_pt=cfg.log_pt)

    train_x = data.particles.inverse(data.train.arrays["x"], data.train.arrays["mask"])
    baseline = hd.resample_particles(k_base, train_x, data.train.arrays["mask"], mask)
    baseline = hd.join_jetnet(baseline, mask, log_pt=cfg.log_pt)
    table = evaluate({name: generated, "independent_baseline": baseline}, data.test_jets)
    hm.plot_jet_distributions(
        {"truth": data.test_jets, name: generated, "independent particles": baseline},
        out / "distributions.png",
    )
    hm.plot_losses(result.losses, out / "loss.png")
    write_text(out / "metrics_table.md", metrics_table(table))
    return {
        **table[name],
        "truth_floor": table["truth_floor"],
        "independent_baseline": table["independent_baseline"],
        "data": source,
        "train_jets": len(data.train),
        "test_jets": len(data.test_jets),
        "train_seconds": train_seconds,
        "train_examples_per_second": result.examples_per_second,
        "sampling_jets_per_second": len(generated) / sample_seconds,
        "final_loss": float(np.mean(result.losses[-100:])),
    }
