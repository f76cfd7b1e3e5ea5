"""Weakly supervised bump hunt: CATHODE, TRANSIT and Drapes templates with CWoLa (2503.04342).

LHCO R&D-style dijets from hepjax's parton-splitting toy
(``hepjax.sim.parton_shower.toy_lhco_dijets``: QCD-like dijets and a
W' -> X Y signal with m_W' = 3.5 TeV, m_X = 500 GeV, m_Y = 100 GeV, generated
once and cached) are split into the signal region 3.3-3.7 TeV and the sidebands
[3.0, 3.3) u [3.7, 4.6) TeV of m_jj. Features: m_j1, Delta m_j (TeV), tau21 of
both jets. For every signal injection and seed, each template is fitted on the
sidebands and sampled at signal-region masses (4x oversampled, masses from a KDE
of the SR data), a CWoLa classifier (boosted trees, 5 folds, out-of-fold scores)
separates the SR data from it, and the SIC of the scores is measured against the
truth. References: the idealised template (true SR background of an independent
sample) and a supervised classifier. Closure: a classifier between template and
true SR background (AUC 0.5 when perfect). TRANSIT's latent space is plotted
against m_jj (mass-decorrelated features).

    python examples/anomaly_templates.py --scale small --out runs/anomaly
"""

import contextlib
import math
import os
import pathlib
import time

import jax
import numpy as np

from hepjax import anomaly
from hepjax.anomaly._classifiers import out_of_fold_scores
from hepjax.cli import Paper, Row, example_main, register

REGIONS = anomaly.Regions(signal=(3.3, 3.7), sidebands=((3.0, 3.3), (3.7, 4.6)))
FEATURES = ("mj1", "delta_mj", "tau21_j1", "tau21_j2")

SCALES = {
    # events of the data's background, of the independent reference background, signal pool;
    # injections (signal events before the SR cut), seeds, template oversampling, model sizes
    "tour": dict(
        background=4_000,
        reference=3_000,
        signal=400,
        injections=(300,),
        seeds=1,
        oversample=2,
        steps=300,
        hidden_size=32,
        flow_transforms=2,
        drapes=dict(steps=600, hidden_size=64, num_steps=16),
        transit_learning_rate=1e-3,
        trees=2,
        refit_per_injection=False,
        methods=("Idealized", "CATHODE", "TRANSIT", "Drapes"),
    ),
    "small": dict(
        background=40_000,
        reference=24_000,
        signal=3_000,
        injections=(1000, 500, 300),
        seeds=3,
        oversample=4,
        steps=2000,
        hidden_size=64,
        flow_transforms=6,
        drapes=dict(steps=10_000, hidden_size=128, num_steps=24, patience=1000),
        transit_learning_rate=1e-3,
        trees=2,
        refit_per_injection=False,
        methods=("Idealized", "CATHODE", "TRANSIT", "Drapes"),
    ),
    "paper": dict(
        background=1_000_000,
        reference=200_000,
        signal=20_000,
        injections=(3000, 1000, 667, 500),
        seeds=5,
        oversample=4,
        steps=30_000,
        hidden_size=128,
        flow_transforms=15,
        drapes=dict(steps=100_000, hidden_size=256, num_steps=32),
        transit_learning_rate=2e-4,
        trees=50,
        refit_per_injection=True,
        methods=("Idealized", "CATHODE", "TRANSIT", "Drapes", "Drapes-partial"),
    ),
}

PAPER = Paper(
    "Weakly supervised anomaly detection with TRANSIT (conditional transport templates)",
    "2503.04342",
    "A background template for a resonant anomaly search, made by transporting sideband "
    "events to signal-region masses, trained 16x faster than CATHODE at equal sensitivity.",
)


def _method(name: str, cfg: dict, sr_background: np.ndarray):
    steps, hidden = cfg["steps"], cfg["hidden_size"]
    if name == "Idealized":
        return anomaly.Idealized(sr_background)
    if name == "CATHODE":
        return anomaly.CATHODE(
            hidden_size=hidden, num_transforms=cfg["flow_transforms"], steps=steps
        )
    if name == "TRANSIT":  # the paper's 2e-4 with batch 2048 over many epochs; 1e-3 for short runs
        lr = cfg["transit_learning_rate"]
        return anomaly.TRANSIT(hidden_size=hidden, steps=steps, batch_size=256, learning_rate=lr)
    if name == "Drapes":  # a diffusion model needs more (and cheaper) steps than the others
        return anomaly.Drapes(**cfg["drapes"])
    if name == "Drapes-partial":
        return anomaly.Drapes(**cfg["drapes"], noise_fraction=0.8)
    raise ValueError(f"unknown method {name!r}")


# ``refit_per_injection=False``: the templates of a seed are fitted once, on the sidebands of
# the largest injection, and reused for the smaller ones (the signal that leaks into the
# sidebands, ``metrics["signal_in_sidebands"]`` of the injected events, is all that differs).

# --- data: the toy LHCO sample, generated once and cached ---------------------------------


def toy_lhco(kind: str, num_events: int, seed: int) -> anomaly.Events:
    """Toy LHCO events (``kind`` "background" with m_jj >= 3 TeV, or "signal"), in TeV."""
    import h5py

    from hepjax.data.collider import default_cache_dir
    from hepjax.sim.parton_shower import toy_lhco_dijets

    path = default_cache_dir() / "anomaly" / f"toy-lhco-{kind}-{num_events}-s{seed}.h5"
    if not path.exists():
        key = jax.random.fold_in(jax.random.key(seed), 0 if kind == "background" else 1)
        fraction = 0.0 if kind == "background" else 1.0
        columns = toy_lhco_dijets(key, num_events, signal_fraction=fraction, mjj_min=3000.0)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with h5py.File(tmp, "w") as f:
            for name, values in columns.items():
                f[name] = np.asarray(values)
        os.replace(tmp, path)
    with h5py.File(path, "r") as f:
        cols = {name: f[name][...] for name in f}
    x = np.stack([cols[c] for c in FEATURES], axis=1)
    x[:, :2] /= 1000.0  # jet masses in TeV
    return anomaly.Events(x, cols["mjj"] / 1000.0, cols["label"] > 0.5)


# --- the search ---------------------------------------------------------------------------


def _classifier(cfg: dict):
    try:
        import sklearn  # noqa: F401
    except ImportError:  # the anomaly extra is missing: the JAX ensemble instead
        return anomaly.MLPEnsemble(num_models=2, steps=cfg["steps"])
    return anomaly.BoostedTrees(num_models=cfg["trees"])


def _finite(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _latent_plot(template, sb: anomaly.Events, out: pathlib.Path) -> dict:
    """TRANSIT's latent features against m_jj, and their correlations with it."""
    z = template.encode(sb.features, sb.mass)
    corr_latent = [abs(np.corrcoef(z[:, i], sb.mass)[0, 1]) for i in range(z.shape[1])]
    corr_input = [
        abs(np.corrcoef(sb.features[:, i], sb.mass)[0, 1]) for i in range(sb.features.shape[1])
    ]
    with contextlib.suppress(ImportError):
        from hepjax._core import figure

        with figure(out / "transit_latent.png", ncols=2, size=(11.0, 4.5)) as (_fig, axes):
            for i in range(min(4, z.shape[1])):
                axes[0].scatter(sb.mass, z[:, i], s=1, alpha=0.3, label=f"z{i}")
            axes[0].set_xlabel("$m_{jj}$ [TeV]")
            axes[0].set_ylabel("TRANSIT latent $z_i$")
            axes[0].legend(markerscale=8)
            for i, name in enumerate(FEATURES):
                axes[1].scatter(sb.mass, sb.features[:, i], s=1, alpha=0.3, label=name)
            axes[1].set_xlabel("$m_{jj}$ [TeV]")
            axes[1].set_ylabel("input feature")
            axes[1].legend(markerscale=8)
    return {
        "max_abs_corr_latent_mass": float(max(corr_latent)),
        "max_abs_corr_input_mass": float(max(corr_input)),
    }


@register(
    "anomaly_templates",
    summary="Weakly supervised bump hunt: CATHODE, TRANSIT, Drapes templates + CWoLa SIC",
    paper=PAPER,
    report=lambda metrics, scale: report(metrics, scale),
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Fit every template per injection and seed, classify with CWoLa, measure SIC."""
    cfg = SCALES[scale]
    started = time.perf_counter()
    background = REGIONS.select(toy_lhco("background", cfg["background"], seed=0))
    reference = REGIONS.select(toy_lhco("background", cfg["reference"], seed=1))
    pool = toy_lhco("signal", cfg["signal"], seed=2)
    data_seconds = time.perf_counter() - started
    ref_sr, _ = REGIONS.split(reference)
    half = len(ref_sr) // 2
    ideal_rows, truth_rows = ref_sr[:half], ref_sr[half:]  # idealised template / closure truth
    classifier = _classifier(cfg)
    metrics: dict = {"data_seconds": data_seconds, "regions": str(REGIONS)}
    curves: dict = {}
    largest = max(cfg["injections"])
    injections = sorted(cfg["injections"], reverse=True)
    sr_pool = pool[REGIONS.in_signal(pool.mass)]
    metrics["signal_in_sidebands"] = float(REGIONS.in_sidebands(pool.mass).mean())
    for seed in range(cfg["seeds"]):
        templates: dict = {}
        for num_signal in injections:
            key = jax.random.key(1000 * seed + num_signal)
            k_inj, k_fit, k_mass, k_sample, k_cwola, k_closure = jax.random.split(key, 6)
            data = anomaly.inject_signal(k_inj, background, pool, num_signal)
            sr, sb = REGIONS.split(data)
            masses = anomaly.sample_masses(
                k_mass, sr.mass, cfg["oversample"] * len(sr), bounds=REGIONS.signal
            )
            for name in cfg["methods"]:
                if cfg["refit_per_injection"] or name not in templates:
                    method = _method(name, cfg, ideal_rows.features)
                    templates[name] = anomaly.fit_template(
                        k_fit, sb.features, sb.mass, method=method
                    )
                template = templates[name]
                if name == "Idealized":  # as many true background rows as it has
                    samples = template.sample(k_sample, masses[: len(ideal_rows)])
                else:
                    samples = template.sample(k_sample, masses)
                scores = anomaly.cwola(k_cwola, sr.features, samples, classifier=classifier)
                curve = anomaly.sic(scores, sr.is_signal)
                entry = metrics.setdefault(name, {}).setdefault(f"inj{num_signal}", {})
                entry.setdefault("max_sic", []).append(_finite(curve.max))
                entry.setdefault("sic_1000", []).append(_finite(curve.at(1000)))
                entry["sr_signal"] = int(sr.is_signal.sum())
                entry["sr_background"] = int((~sr.is_signal).sum())
                curves.setdefault(num_signal, {}).setdefault(name, []).append(curve)
                if num_signal == largest:  # closure against true SR background, training time
                    metrics[name].setdefault("train_seconds", []).append(template.train_seconds)
                    n = min(len(samples), len(truth_rows))
                    closure = anomaly.closure_auc(
                        k_closure, samples[:n], truth_rows.features[:n], classifier=classifier
                    )
                    metrics[name].setdefault("closure_auc", []).append(closure.auc)
                    metrics[name]["closure_stderr"] = closure.stderr
                    if name == "TRANSIT" and seed == 0:
                        metrics["TRANSIT_latent"] = _latent_plot(template, sb, out)
                print(
                    f"seed {seed} injection {num_signal} {name}: max SIC {curve.max:.2f}, "
                    f"train {template.train_seconds:.1f} s",
                    flush=True,
                )
            if num_signal == largest:  # the supervised reference: truth labels, once per seed
                s_sig, s_bkg = out_of_fold_scores(
                    k_cwola, sr_pool.features, sr[~sr.is_signal].features, classifier, 5
                )
                sup = anomaly.sic(
                    np.r_[s_sig, s_bkg], np.r_[np.ones(len(s_sig)), np.zeros(len(s_bkg))]
                )
                entry = metrics.setdefault("supervised", {})
                entry.setdefault("max_sic", []).append(_finite(sup.max))
                entry.setdefault("sic_1000", []).append(_finite(sup.at(1000)))
                for n_inj in injections:
                    curves.setdefault(n_inj, {}).setdefault("supervised", []).append(sup)
    with contextlib.suppress(ImportError):
        for num_signal, named in curves.items():
            anomaly.plot_sic(named, out / f"sic_inj{num_signal}.png")
    for name in cfg["methods"]:
        metrics[name]["mean_train_seconds"] = float(np.mean(metrics[name]["train_seconds"]))
    metrics["total_seconds"] = time.perf_counter() - started
    return metrics


def _median(values) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.median(vals)) if vals else None


def report(metrics: dict, scale: str) -> list[Row]:
    """Max SIC and SIC at 1/eps_B = 1000 at the largest injection, closure AUCs, training times."""
    cfg = SCALES[scale]
    largest = max(cfg["injections"])
    seeds = cfg["seeds"]
    rows = []
    paper_sic = {"Idealized": 12.07, "TRANSIT": 12.37, "CATHODE": None, "supervised": None}
    for name in (*cfg["methods"], "supervised"):
        key = "supervised" if name == "supervised" else f"{name}.inj{largest}"
        rows.append(
            Row(
                f"{name}: max SIC",
                {"CATHODE": 14.0, "Idealized": 15.1, "supervised": 17.6}.get(name),
                _median(metrics.get(f"{key}.max_sic", [])),
                note=f"median of {seeds} seed(s), {largest} injected; paper: CATHODE paper, "
                "1000 injected in 1M LHCO events",
            )
        )
        rows.append(
            Row(
                f"{name}: SIC at 1/eps_B = 1000",
                paper_sic.get(name),
                _median(metrics.get(f"{key}.sic_1000", [])),
                note="truth labels, SR signal against SR background"
                if name == "supervised"
                else f"paper: TRANSIT at 3000 injected; here {largest} in "
                f"{metrics.get(f'{key}.sr_background')} SR background events",
            )
        )
        if name not in ("supervised",):
            rows.append(
                Row(
                    f"{name}: closure AUC",
                    "0.5",
                    _median(metrics.get(f"{name}.closure_auc", [])),
                    note=f"standard error {metrics.get(f'{name}.closure_stderr', math.nan):.3f}",
                )
            )
    train = {n: metrics.get(f"{n}.mean_train_seconds") for n in ("TRANSIT", "CATHODE", "Drapes")}
    paper_minutes = {"TRANSIT": 8, "CATHODE": 129, "Drapes": 100}
    for name, seconds in train.items():
        if seconds is not None:
            rows.append(
                Row(
                    f"{name}: training time",
                    f"{paper_minutes[name]} min",
                    f"{seconds:.1f} s",
                    note="per signal region; paper on a GPU with full models, here "
                    f"{cfg['drapes']['steps'] if name == 'Drapes' else cfg['steps']} steps "
                    "on the CPU",
                )
            )
    return rows


if __name__ == "__main__":
    example_main(run)
