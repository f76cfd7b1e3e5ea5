"""Neural scaling laws for boosted-jet classification (Vigl, Hartman, Kagan, Heinrich, 2602.15781).

Top (t->bqq) against QCD jets from hepjax's Pythia 8 + FastJet JetClass-style
generator (``hepjax.jets.jetclass_jets``, cached). A grid of transformer
taggers (``hepjax.nn.ParticleTransformerClassifier``, widths and depths) is
trained on data sizes D, each cell for one pass over D fresh jets with its
validation loss recorded along the way, as a resumable campaign
(``hepjax.scaling.run_campaign``: one HDF5 file per cell, a rerun skips the
cells on disk). Compute per example is ``scaling.transformer_flops`` (6N per
particle plus the n^2 attention term). From the grid:

- the parametric law L = E + A/N^alpha + B/D^beta (``scaling.fit_parametric``,
  Huber on log residuals from a grid of starts) with 68% bootstrap intervals,
  and its held-out residual (the law refitted without each cell in turn);
- the compute-optimal exponent a of N*(C) ~ C^a from all three Chinchilla
  approaches (the lower envelope of the curves, IsoFLOP parabolas, the law);
- the repetition study: the middle model trained for 2, 4 and 8 epochs on two
  unique-data sizes U, fitted with Muennighoff's D' = U + U R*(1 - e^(-R/R*));
- at ``small`` and above, the fitted limit E for two feature sets (kinematics
  only; kinematics plus particle identity; the generator has no impact
  parameters) and two multiplicities, and the learning rate per cell from a
  transfer law fitted on a scan over a few cells.

    python examples/jet_scaling_laws.py --scale small --out runs/scaling
"""

import dataclasses
import pathlib
import time

import equinox as eqx
import jax
import numpy as np
import optax
from _compilation_cache import compilation_cache  # JAX's persistent cache, next to this file

from hepjax import jets, nn, scaling, train
from hepjax.cli import Paper, Row, example_main, register


@dataclasses.dataclass(frozen=True)
class Config:
    """One scale; ``paper`` is the paper's grid on the full JetClass (GPU)."""

    sizes: tuple  # (hidden_size, num_layers) per model size
    data: tuple  # jets seen per cell (one pass)
    particles: tuple  # multiplicities; the first is the main grid's
    batch: int
    val_jets: int
    curve_points: int
    lr: float
    repetition_units: tuple
    repetition_epochs: tuple
    variants: bool  # feature sets and multiplicities
    lr_scan: tuple = ()  # learning rates scanned on the tuning cells (empty: fixed lr)
    bootstrap: int = 100


SCALES = {
    "tour": Config(
        sizes=((8, 1), (16, 1), (32, 1)),
        data=(512, 1024, 2048),
        particles=(8,),
        batch=64,
        val_jets=500,
        curve_points=4,
        lr=3e-3,
        repetition_units=(256, 512),
        repetition_epochs=(2, 4),
        variants=False,
        bootstrap=50,
    ),
    "small": Config(
        sizes=((8, 1), (16, 1), (24, 2), (32, 2), (48, 2)),
        data=(1024, 2048, 4096, 8192, 16384),
        particles=(16, 32),
        batch=64,
        val_jets=2000,
        curve_points=8,
        lr=2e-3,
        repetition_units=(1024, 4096),
        repetition_epochs=(2, 4, 8),
        variants=True,
        lr_scan=(1e-3, 3e-3, 1e-2),
    ),
    "paper": Config(
        sizes=((32, 2), (64, 4), (128, 8), (192, 8), (256, 12)),
        data=(10**5, 3 * 10**5, 10**6, 3 * 10**6, 10**7),
        particles=(64, 128),
        batch=512,
        val_jets=200_000,
        curve_points=20,
        lr=1e-3,
        repetition_units=(10**5, 10**6),
        repetition_epochs=(2, 4, 8, 16),
        variants=True,
        lr_scan=(3e-4, 1e-3, 3e-3),
    ),
}

PAPER = Paper(
    "Vigl, Hartman, Kagan, Heinrich: Neural scaling laws for boosted jet tagging",
    "2602.15781",
    "Compute-optimal scaling of jet taggers' loss with model and data size, an effective "
    "performance limit, data repetition and the effect of input features and multiplicity.",
)

_POOLS: dict = {}


def _pool(n: int, particles: int, identity: bool):
    """Standardised (x, mask, labels) of ``n`` jets per class (cached in this process)."""
    key = (n, particles, identity)
    if key not in _POOLS:
        data = jets.jetclass_jets(("QCD", "Tbqq"), n, seed=0, max_particles=particles)
        x, mask = data.x.astype(np.float32), data.mask
        real = x[mask]
        x = np.where(mask[..., None], (x - real.mean(0)) / (real.std(0) + 1e-6), 0.0)
        if identity:
            x = np.concatenate(
                [x, np.eye(5, dtype=np.float32)[data.identity] * mask[..., None]], -1
            )
        _POOLS[key] = (x.astype(np.float32), mask, data.labels.astype(np.int32))
    return _POOLS[key]


def _loss(model, batch):
    x, mask, y = batch
    logits = jax.vmap(model)(x, mask)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


_val_loss = eqx.filter_jit(_loss)


_OPTIMIZERS: dict = {}


def _optimizer(lr: float):
    """One optimizer object per learning rate, so that fit reuses its compiled step."""
    return _OPTIMIZERS.setdefault(lr, optax.adam(lr))


def make_trainer(cfg: Config, total: int):
    """``train_cell(settings) -> dict`` for :func:`hepjax.scaling.run_campaign`."""

    def train_cell(s: dict) -> dict:
        x, mask, y = _pool(total, s["particles"], s["identity"])
        val = slice(0, cfg.val_jets)
        vx, vm, vy = x[val], mask[val], y[val]
        offset, unique = cfg.val_jets, s["unique"]
        steps = max(1, s["examples"] // cfg.batch)
        model = nn.ParticleTransformerClassifier(
            x.shape[-1],
            2,
            hidden_size=s["hidden_size"],
            num_heads=2,
            num_layers=s["num_layers"],
            key=jax.random.key(s["seed"]),
        )

        def data(step):
            idx = offset + (np.arange(step * cfg.batch, (step + 1) * cfg.batch) % unique)
            return x[idx], mask[idx], y[idx]

        every = max(1, steps // cfg.curve_points)
        evaluate = train.Evaluate(lambda m: {"val": _val_loss(m, (vx, vm, vy))}, every=every)
        result = train.fit(
            model,
            _loss,
            _optimizer(s["lr"]),
            data,
            steps=steps,
            key=jax.random.key(1),
            callbacks=[evaluate],
        )
        examples = np.array([e["step"] * cfg.batch for e in result.evals], float)
        n_params = scaling.count_params(model)
        return {
            "num_params": n_params,
            "examples": examples,
            "losses": np.array([e["val"] for e in result.evals]),
            "flops_per_example": scaling.transformer_flops(
                n_params, s["particles"], s["hidden_size"], s["num_layers"]
            ),
            "learning_rate": s["lr"],
        }

    return train_cell


def _cells(cfg, particles, identity, lr_of, seed=0):
    return [
        dict(
            hidden_size=h,
            num_layers=L,
            examples=d,
            unique=d,
            particles=particles,
            identity=identity,
            lr=float(lr_of(h, d)),
            seed=seed,
        )
        for h, L in cfg.sizes
        for d in cfg.data
    ]


def _held_out_residual(n, d, loss) -> float:
    """Median |relative residual| of each cell under the law fitted without it."""
    residuals = []
    for i in range(n.size):
        keep = np.arange(n.size) != i
        fit = scaling.fit_parametric(n[keep], d[keep], loss[keep])
        residuals.append(abs(loss[i] / fit.predict(n[i], d[i]) - 1))
    return float(np.median(residuals))


def _law_metrics(fit, boot) -> dict:
    out = {name: float(getattr(fit, name)) for name in ("E", "A", "B", "alpha", "beta", "a")}
    for name, (low, high) in boot.intervals().items():
        out[f"{name}_interval"] = [low, high]
    return out


@register(
    "jet_scaling_laws",
    summary="Scaling laws of jet taggers: Chinchilla fits, compute-optimal frontier, repetition",
    paper=PAPER,
    report=lambda metrics, scale: report(metrics, scale),
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Train the grid as a campaign, fit the law three ways, the repetition law and variants."""
    with compilation_cache():  # a warm cache turns the compilations into lookups
        return _run(scale, out)


def _run(scale: str, out: pathlib.Path) -> dict:
    cfg = SCALES[scale]
    started = time.perf_counter()
    total = (cfg.val_jets + max(cfg.data) * 2) // 2 + cfg.batch
    trainer = make_trainer(cfg, total)
    main_n = cfg.particles[0]
    lr_of = lambda h, d: cfg.lr
    metrics: dict = {}
    if cfg.lr_scan:  # tune the smallest and largest size at two data sizes, fit the law
        tuned = []
        for h, L in (cfg.sizes[0], cfg.sizes[-1]):
            for d in (cfg.data[0], cfg.data[-2]):
                cells = [
                    dict(
                        hidden_size=h,
                        num_layers=L,
                        examples=d,
                        unique=d,
                        particles=main_n,
                        identity=False,
                        lr=lr,
                        seed=0,
                    )
                    for lr in cfg.lr_scan
                ]
                runs = scaling.run_campaign(trainer, cells, out / "lr_scan")
                best = min(runs.cells, key=lambda c: c.final_loss)
                tuned.append((h, d // cfg.batch, best.learning_rate))
        law = scaling.fit_lr_law(*map(np.array, zip(*tuned, strict=True)))
        lr_of = lambda h, d: float(law(h, max(1, d // cfg.batch)))
        metrics["lr_law"] = {"c": law.c, "p_width": law.p, "q_steps": law.q}
    grid = scaling.run_campaign(trainer, _cells(cfg, main_n, False, lr_of), out / "grid")
    n, d, loss = grid.final()
    fit = scaling.fit_parametric(n, d, loss)
    boot = fit.bootstrap(jax.random.key(0), cfg.bootstrap)
    metrics["law"] = _law_metrics(fit, boot)
    if scale != "tour":  # a refit per cell: too slow for the demo
        metrics["law"]["held_out_residual"] = _held_out_residual(n, d, loss)
    cn, cd, closs = grid.curve_points()
    approaches = {"parametric": (fit.a, *boot.interval("a"))}
    try:
        env = scaling.lower_envelope(cn, cd, closs, num_bins=8)
        approaches["envelope"] = (env.a, *env.interval("a"))
    except ValueError as err:
        print(f"lower envelope: {err}")
    try:
        budgets = 6 * np.geomspace(np.min(cn) * np.min(cd) * 4, np.max(cn) * np.max(cd) / 4, 6)
        iso = scaling.isoflop_profiles(cn, cd, closs, budgets, window=3)
        approaches["isoflop"] = (iso.a, *iso.interval("a"))
    except ValueError as err:
        print(f"IsoFLOP: {err}")
    metrics["compute_optimal_a"] = {k: list(v) for k, v in approaches.items()}
    # repetition: the middle model, epochs over U unique jets
    h, L = cfg.sizes[len(cfg.sizes) // 2]
    rep_cells = [
        dict(
            hidden_size=h,
            num_layers=L,
            examples=u * e,
            unique=u,
            particles=main_n,
            identity=False,
            lr=float(lr_of(h, u * e)),
            seed=0,
        )
        for u in cfg.repetition_units
        for e in cfg.repetition_epochs
    ]
    reps = scaling.run_campaign(trainer, rep_cells, out / "repetition")
    rn, rd, rloss = reps.final()
    units = np.array([c.settings["unique"] for c in reps.cells], float)
    repetition = scaling.fit_repetition(fit, rn, rd, units, rloss, num_bootstrap=50)
    metrics["repetition"] = {
        "r_star": repetition.r_star,
        "r_star_interval": list(repetition.interval),
        "effective_gain": repetition.effective_gain.tolist(),
    }
    if cfg.variants:
        for name, particles, identity in (
            ("kinematics+identity", main_n, True),
            (f"multiplicity_{cfg.particles[-1]}", cfg.particles[-1], False),
        ):
            runs = scaling.run_campaign(
                trainer, _cells(cfg, particles, identity, lr_of), out / name.replace("+", "_")
            )
            vfit = scaling.fit_parametric(*runs.final())
            low, high = vfit.bootstrap(jax.random.key(1), cfg.bootstrap).interval("E")
            metrics[f"limit_{name}"] = {"E": vfit.E, "E_interval": [low, high]}
        metrics["limit_kinematics"] = {"E": fit.E, "E_interval": list(boot.interval("E"))}
    _plot(fit, grid, out)
    metrics["total_seconds"] = time.perf_counter() - started
    return metrics


def _plot(fit, grid, out: pathlib.Path) -> None:
    try:
        from hepjax._core import figure
    except ImportError:
        return
    n, d, loss = grid.final()
    with figure(out / "scaling_law.png") as (_, ax):
        for size in np.unique(n):
            on = n == size
            ax.plot(d[on], loss[on], "o", label=f"N = {int(size)}")
            dd = np.geomspace(d.min(), d.max(), 50)
            ax.plot(dd, fit.predict(size, dd), "-", color=ax.lines[-1].get_color())
        ax.set_xscale("log")
        ax.set_xlabel("training jets D")
        ax.set_ylabel("validation loss")
        ax.legend(fontsize="small")


def report(metrics: dict, scale: str) -> list[Row]:
    """The law's coefficients with intervals, the held-out residual, the compute-optimal a."""
    cfg = SCALES[scale]
    rows = []
    note = f"{len(cfg.sizes)} sizes x {len(cfg.data)} data sizes; 68% bootstrap interval"
    for name in ("E", "alpha", "beta"):
        interval = metrics.get(f"law.{name}_interval")
        value = metrics.get(f"law.{name}")
        text = None if value is None else f"{value:.3g}"
        if interval:
            text += f" [{interval[0]:.3g}, {interval[1]:.3g}]"
        rows.append(Row(f"parametric fit: {name}", None, text, note=note))
    rows.append(
        Row(
            "held-out relative residual",
            "< 2%",
            metrics.get("law.held_out_residual"),
            note="median over cells, each left out of the fit in turn",
        )
    )
    for approach in ("parametric", "envelope", "isoflop"):
        value = metrics.get(f"compute_optimal_a.{approach}")
        text = None if value is None else f"{value[0]:.3f} [{value[1]:.3f}, {value[2]:.3f}]"
        rows.append(
            Row(
                f"compute-optimal a ({approach})",
                "agree within intervals",
                text,
                note="N*(C) ~ C^a with C = 6ND",
            )
        )
    r_star = metrics.get("repetition.r_star")
    rows.append(Row("repetition R*", None, r_star, note="Muennighoff et al.'s law, two U"))
    for key in ("limit_kinematics", "limit_kinematics+identity"):
        if f"{key}.E" in metrics:
            rows.append(Row(f"limit E ({key[6:]})", None, metrics[f"{key}.E"]))
    return rows


if __name__ == "__main__":
    example_main(run)
