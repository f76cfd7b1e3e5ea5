"""A learned test statistic with a Neyman construction: the on/off counting experiment.

The frequentist case study of "Hierarchical neural simulation-based inference
over event ensembles" (Heinrich, Mishra-Sharma, Pollard & Windischhofer 2023,
arXiv:2306.12584), with :class:`hepjax.sbi.tasks.OnOff`:
``n_on ~ Poisson(mu s + nu)``, ``n_off ~ Poisson(tau nu)`` (s = 10 signal events
at mu = 1, tau = 1).

1. A ratio estimator (:class:`hepjax.sbi.NRE`) is trained on simulations from a
   box prior; its log ratio is a learned log likelihood, profiled over the
   background on a grid into the learned test statistic t_mu
   (:func:`hepjax.sbi.frequentist.profile_likelihood_ratio`).
2. The Neyman construction (:func:`hepjax.sbi.frequentist.neyman_construction`)
   computes critical values from toys at every (mu, nu) grid point, for the
   learned and for the exact (closed-form) profile likelihood ratio; the
   confidence interval of an observation uses the critical values at the
   profiled background.
3. Coverage (:func:`hepjax.sbi.frequentist.coverage`) at several true (mu, nu)
   is compared with the nominal 68.27% / 95.45% within binomial errors, next to
   the asymptotic (Wilks, chi2 with one degree of freedom) intervals of the exact
   statistic.

``--scale small`` runs in a few minutes on a CPU; ``--scale paper`` uses more
simulations, a finer grid and more toys.

Measured at ``--scale small`` (2026-11-22, 2-core CPU under heavy load; NRE
training 63 s): at the four true (mu, nu), the Neyman intervals of the learned
statistic cover 0.665-0.706 (68.27%) and 0.952-0.964 (95.45%) with 1000 trials
each (binomial errors 0.015 / 0.007; largest pull 1.6), those of the exact
statistic 0.666-0.710 and 0.948-0.967 (largest pull 1.9), and the mean
interval widths of the two agree within 10%; the asymptotic (Wilks) intervals
over-cover at 95.45% (up to 0.978, pull 3.6).
"""

from __future__ import annotations

import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from hepjax import sbi
from hepjax.cli import Paper, Row, example_main, register
from hepjax.sbi import frequentist as freq

SCALES = {
    "tour": {
        "num_train": 4000,
        "max_steps": 800,
        "num_poi": 11,
        "num_nu_toys": 3,
        "num_nu_profile": 21,
        "num_toys": 300,
        "num_trials": 300,
    },
    "small": {
        "num_train": 20_000,
        "max_steps": 6000,
        "num_poi": 21,
        "num_nu_toys": 5,
        "num_nu_profile": 41,
        "num_toys": 1000,
        "num_trials": 1000,
    },
    "paper": {
        "num_train": 200_000,
        "max_steps": 40_000,
        "num_poi": 51,
        "num_nu_toys": 9,
        "num_nu_profile": 81,
        "num_toys": 5000,
        "num_trials": 5000,
    },
}
TRUTHS = ((0.5, 30.0), (1.0, 40.0), (2.0, 50.0), (3.0, 25.0))
CL = (0.6827, 0.9545)


def exact_statistic(task, mu):
    mu = jnp.asarray(mu, jnp.float32)
    return lambda x: (task.profile_likelihood_ratio(mu, x), task.profile_nu(mu, x))


def asymptotic_belt(mu):
    """Wilks: t_mu ~ chi2(1), the same critical values everywhere."""
    crit = np.broadcast_to(scipy.stats.chi2.ppf(CL, 1), (len(mu), 1, len(CL)))
    return freq.NeymanBelt(
        jnp.asarray(mu, jnp.float32),
        jnp.zeros(1, jnp.float32),
        jnp.asarray(crit, jnp.float32),
        CL,
        0,
    )


def plot(out, mu, stats, belts, cov, examples):
    from hepjax._core import figure

    with figure(out / "test_statistic.png", size=(12, 4.5), ncols=len(examples)) as (_, axes):
        for ax, x in zip(axes, examples, strict=True):
            for name, stat in stats.items():
                t, _ = stat(jnp.asarray(x))
                ax.plot(mu, t, label=name)
            ax.set_ylim(0, 8)
            ax.set_xlabel(r"$\mu$")
            ax.set_ylabel(r"$t_\mu$")
            ax.set_title(f"n_on={int(x[0])}, n_off={int(x[1])}", fontsize=12)
            ax.legend(fontsize=10)
    with figure(out / "critical_values.png", size=(12, 4.5), ncols=2) as (_, axes):
        for c, ax in enumerate(axes):
            for name, belt in belts.items():
                crit = np.asarray(belt.critical[:, :, c])
                for j in range(crit.shape[1]):
                    ax.plot(
                        mu,
                        crit[:, j],
                        color="C0" if name == "exact" else "C1",
                        alpha=0.6,
                        label=name if j == 0 else None,
                    )
            ax.axhline(scipy.stats.chi2.ppf(CL[c], 1), color="k", ls="--", label="Wilks")
            ax.set_xlabel(r"$\mu$")
            ax.set_ylabel(f"critical value ({100 * CL[c]:.2f}% CL)")
            ax.legend(fontsize=10)
    with figure(out / "coverage.png", size=(12, 4.5), ncols=2) as (_, axes):
        labels = [f"({m}, {n})" for m, n in TRUTHS]
        for c, ax in enumerate(axes):
            for i, (name, per_truth) in enumerate(cov.items()):
                y = [r["coverage"][c] for r in per_truth]
                e = [r["stderr"][c] for r in per_truth]
                ax.errorbar(np.arange(len(TRUTHS)) + 0.1 * (i - 1), y, e, fmt="o", label=name)
            ax.axhline(CL[c], color="k", ls="--")
            ax.set_xticks(range(len(TRUTHS)), labels, fontsize=10)
            ax.set_xlabel(r"true $(\mu, \nu)$")
            ax.set_ylabel(f"coverage (nominal {100 * CL[c]:.2f}%)")
            ax.legend(fontsize=10)


def report(metrics: dict, scale: str) -> list[Row]:
    """Coverage of the Neyman intervals of the learned and exact statistics, and Wilks."""
    cfg = SCALES[scale]
    rows = []
    for name in ("learned, Neyman", "exact, Neyman", "exact, Wilks"):
        per_truth = metrics[f"coverage.{name}"]
        for k, level in enumerate(CL):
            values = [r["coverage"][k] for r in per_truth]
            rows.append(
                Row(
                    f"{level:.2%} coverage, {name}",
                    level,
                    f"{min(values):.3f}-{max(values):.3f}",
                    note=f"{len(values)} true (mu, nu), {cfg['num_trials']} trials each; "
                    f"largest pull {metrics[f'max_pull.{name}']:.1f}",
                )
            )
    return rows


@register(
    "onoff_neyman",
    paper=Paper(
        "Hierarchical Neural Simulation-Based Inference Over Event Ensembles",
        "2306.12584",
        "A learned likelihood ratio as the test statistic of a Neyman construction: "
        "frequentist intervals with the nominal coverage where asymptotics fail.",
    ),
    report=report,
    summary="On/off counting experiment: NRE-learned profile likelihood ratio, Neyman "
    "construction and its coverage (arXiv:2306.12584)",
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Learned vs exact test statistic, Neyman belts and coverage for the on/off model."""
    cfg = SCALES[scale]
    task = sbi.tasks.OnOff()
    key = jax.random.key(612584)
    k_sim, k_fit, k_belt, k_cov = jax.random.split(key, 4)
    mu = np.linspace(0.0, task.mu_max, cfg["num_poi"])
    nu_toys = np.linspace(task.nu_min, task.nu_max, cfg["num_nu_toys"])
    nu_prof = np.linspace(task.nu_min, task.nu_max, cfg["num_nu_profile"])

    theta, x = task.simulate(k_sim, cfg["num_train"])
    training = sbi.TrainingOptions(max_steps=cfg["max_steps"], progress=False)
    est = sbi.NRE(hidden_size=64, num_layers=2, training=training)
    est = est.fit(k_fit, theta, x)
    learned = freq.profile_likelihood_ratio(freq.learned_log_likelihood(est), mu, nu_prof)
    stats = {"exact": exact_statistic(task, mu), "learned (NRE)": learned}

    belts, seconds = {}, {}
    for name, stat in stats.items():
        started = time.perf_counter()
        belts[name] = freq.neyman_construction(
            k_belt, stat, task.simulator, mu, nu_toys, num_toys=cfg["num_toys"], cl=CL, unique=True
        )
        seconds[name] = time.perf_counter() - started
    runs = {
        "exact, Neyman": (belts["exact"], stats["exact"]),
        "learned, Neyman": (belts["learned (NRE)"], stats["learned (NRE)"]),
        "exact, Wilks": (asymptotic_belt(mu), lambda x: stats["exact"](x)[0]),
    }
    cov: dict = {name: [] for name in runs}
    for i, truth in enumerate(TRUTHS):
        k = jax.random.fold_in(k_cov, i)
        for name, (belt, stat) in runs.items():
            c = freq.coverage(
                k, belt, stat, task.simulator, truth, num_trials=cfg["num_trials"], unique=True
            )
            cov[name].append(
                {
                    "truth": list(truth),
                    "coverage": [float(v) for v in c.coverage],
                    "stderr": [float(v) for v in c.stderr],
                    "pull": [float(v) for v in c.pulls()],
                    "mean_width": [float(v) for v in c.mean_width],
                }
            )
    examples = (np.array([55.0, 38.0]), np.array([42.0, 45.0]), np.array([80.0, 41.0]))
    plot(out, mu, stats, belts, cov, examples)

    t_exact = np.stack([np.asarray(stats["exact"](jnp.asarray(e))[0]) for e in examples])
    t_learn = np.stack([np.asarray(jax.jit(learned)(jnp.asarray(e))[0]) for e in examples])
    near = t_exact < 4.0
    metrics = {
        "protocol": dict(
            cfg, s=task.s, tau=task.tau, cl=list(CL), truths=[list(t) for t in TRUTHS]
        ),
        "train_seconds": est.history.seconds,
        "belt_seconds": seconds,
        "coverage": cov,
        "max_pull": {
            name: float(np.max(np.abs([r["pull"] for r in v]))) for name, v in cov.items()
        },
        "learned_minus_exact_t_max_where_t_below_4": float(np.abs(t_learn - t_exact)[near].max()),
    }
    for name, per_truth in cov.items():
        print(name)
        for r in per_truth:
            print(
                f"  truth {r['truth']}: coverage {r['coverage'][0]:.3f} / {r['coverage'][1]:.3f} "
                f"(+- {r['stderr'][0]:.3f} / {r['stderr'][1]:.3f}), mean width "
                f"{r['mean_width'][0]:.2f} / {r['mean_width'][1]:.2f}"
            )
    return metrics


if __name__ == "__main__":
    example_main(run)
