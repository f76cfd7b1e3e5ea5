"""COCOA: a configurable calorimeter in JAX, from particles to topoclusters, jets and graphs.

Reproduces the simulation and processing chain of COCOA, "Configurable calorimeter
simulation for AI applications" (Di Bello et al., arXiv:2303.02101), whose
Geant4 simulation cannot run here, with hepjax's parametrised showers:

1. **Detector**: COCOA's default calorimeter (:meth:`hepjax.sim.calo.CaloGeometry.cocoa`:
   Pb/LAr ECAL in 3 layers, Fe/scintillator HCAL in 3 layers, 80 mm of iron
   between them, the inner detector's iron and silicon in front, 3.8 T).
2. **Single particles** (COCOA's own response check, ``RunTest.cc``): 20 GeV
   π⁰ and π± with η uniform in [-3, 3]; the response is the energy of the
   topoclustered cells over the true energy (π⁰ decay photons below
   pT = 1 GeV are not simulated, COCOA's fiducial cut).
3. **Electron resolution** of the calorimeter (the detector without the
   inner detector's material in front, COCOA's ``Use_inner_detector = false``):
   electrons at η = 0.3 from 2 to 200 GeV, the topoclustered energy's spread
   fitted to a/√E ⊕ b ⊕ c/E (:func:`hepjax.calo.fit_resolution`); at
   ``small`` and ``paper`` scale also through the full detector, where the
   energy lost in the iron in front adds its fluctuations.
4. **tt̄ events** (Pythia 8, COCOA's sample: 14 TeV, pT > 1 GeV, |η| < 3):
   simulated (:func:`hepjax.sim.calo.simulate_particles`), topoclustered
   (:func:`hepjax.calo.topoclusters`), anti-kt R = 0.4 jets on clusters and on
   truth particles, the topo-jet/truth-jet response, the kNN cell graph
   (:func:`hepjax.calo.cell_graph`), a Phoenix JSON event display
   (``event_phoenix.json``, load it at https://hepsoftwarefoundation.org/phoenix),
   and η-φ cell maps per layer with the clusters.

``--scale tour`` runs every step in well under a minute; ``small`` uses
COCOA's 100 events per response; ``paper`` is 1000 events per point.
"""

from __future__ import annotations

import functools
import math
import pathlib
import time

import jax
import numpy as np

from hepjax import calo
from hepjax.cli import Paper, Row, example_main, register
from hepjax.sim import calo as simcalo

_SMALL = dict(
    response_events=100,
    electron_energies=(2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0),
    electrons=100,
    ttbar_events=10,
    full_detector_resolution=True,
)
SCALES = {
    "tour": dict(
        _SMALL,
        response_events=25,
        electron_energies=(2.0, 5.0, 20.0, 50.0, 200.0),
        electrons=12,
        ttbar_events=2,
        full_detector_resolution=False,
    ),
    "small": _SMALL,
    "paper": dict(_SMALL, response_events=1000, electrons=1000, ttbar_events=100),
}

PAPER = Paper(
    "Configurable calorimeter simulation for AI applications (COCOA)",
    "2303.02101",
    "A configurable Geant4 calorimeter interfaced with Pythia, with topological "
    "clustering, anti-kt jets, a kNN cell graph and Phoenix event displays, for "
    "machine learning on realistic calorimeter showers.",
)

#: COCOA's response check: mean and spread of the response (RunTest.cc)
COCOA_PI0 = (0.77, 0.16)
COCOA_PIPM = (0.50, 0.23)
ELECTRON_ETA = 0.3
MAX_PARTICLES = 256  # particle slots of a tt-bar event (COCOA's cuts leave about 70-150)


def _pad(pdg, energy, eta, phi, n):
    k = len(pdg)
    if k > n:
        raise ValueError(f"{k} particles do not fit {n} slots")
    pad = n - k
    return (
        np.r_[np.asarray(pdg, np.int32), np.full(pad, 22, np.int32)],
        np.r_[np.asarray(energy, np.float32), np.ones(pad, np.float32)],
        np.r_[np.asarray(eta, np.float32), np.zeros(pad, np.float32)],
        np.r_[np.asarray(phi, np.float32), np.zeros(pad, np.float32)],
        np.arange(n) < k,
    )


def pi0_photons(rng, energy, eta, phi):
    """The two photons of a pi0 decaying isotropically at the vertex: (E, eta, phi) each."""
    m = simcalo.PARTICLES[111][0]
    p = math.sqrt(energy**2 - m**2)
    n = np.array([math.cos(phi) / math.cosh(eta), math.sin(phi) / math.cosh(eta), math.tanh(eta)])
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    gamma, bg = energy / m, p / m
    par = (m / 2) * float(d @ n)
    perp = (m / 2) * d - par * n
    out = []
    for sign in (1, -1):
        vec = (sign * gamma * par + bg * m / 2) * n + sign * perp
        pt = math.hypot(vec[0], vec[1])
        energy_lab = gamma * m / 2 + sign * bg * par
        out.append((energy_lab, math.asinh(vec[2] / pt), math.atan2(vec[1], vec[0])))
    return out


@functools.cache
def _cluster_fn(geo):
    return jax.jit(lambda c: calo.topoclusters(geo, c))


class Chain:
    """The jitted simulation and clustering for events of ``n`` particle slots."""

    def __init__(self, geo, n):
        self.n = n
        self.sim = jax.jit(
            lambda k, q, e, h, f, m: simcalo.simulate_particles(k, geo, q, e, h, f, mask=m)
        )
        self.cluster = _cluster_fn(geo)  # one compilation for every chain

    def __call__(self, key, pdg, energy, eta, phi):
        cells = self.sim(key, *_pad(pdg, energy, eta, phi, self.n))
        return cells, self.cluster(cells)


def clustered_energy(cells, clusters) -> float:
    on = np.asarray(clusters.cell_cluster) >= 0
    return float(np.asarray(cells.energy)[on].sum())


def single_particle_response(chain, pdg, n_events, seed) -> np.ndarray:
    """COCOA's response check for 20 GeV pi0 (``pdg=111``) or pi+- (``211``)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_events):
        eta, phi = rng.uniform(-3, 3), rng.uniform(-math.pi, math.pi)
        if pdg == 111:
            photons = pi0_photons(rng, 20.0, eta, phi)
            photons = [g for g in photons if g[0] / math.cosh(g[1]) > 1.0]  # COCOA's pT cut
            if not photons:
                continue
            q, e, h, f = [22] * len(photons), *(list(v) for v in zip(*photons, strict=True))
        else:
            q, e, h, f = [int(rng.choice([211, -211]))], [20.0], [eta], [phi]
        cells, clusters = chain(jax.random.key(seed * 1_000_003 + i), q, e, h, f)
        out.append(clustered_energy(cells, clusters) / sum(e))
    return np.array(out)


def electron_resolution(chain, energies, n_events, seed) -> dict:
    rng = np.random.default_rng(seed)
    rows = []
    for j, energy in enumerate(energies):
        r = []
        for i in range(n_events):
            phi = rng.uniform(-math.pi, math.pi)
            cells, clusters = chain(jax.random.key(10_000 * j + i + seed), [11], [energy],
                                    [ELECTRON_ETA], [phi])  # fmt: skip
            r.append(clustered_energy(cells, clusters) / energy)
        s = calo.response_stats(r)
        res = s["std"] / s["mean"]
        err = res * math.hypot(s["std_err"] / s["std"], s["mean_err"] / s["mean"])
        rows.append((energy, s["mean"], res, err))
    e, mean, res, err = (np.array(v) for v in zip(*rows, strict=True))
    fit = calo.fit_resolution(e, res, err)
    return {"energy": e, "response": mean, "resolution": res, "error": err, "fit": fit}


def _match(truth: calo.Jets, reco: calo.Jets, pt_min=20.0, dr_max=0.2) -> list[float]:
    """pT(topo jet) / pT(truth jet) for truth jets above ``pt_min`` with a topo jet within ΔR."""
    out = []
    tm, rm = np.asarray(truth.mask), np.asarray(reco.mask)
    for k in np.flatnonzero(tm & (np.asarray(truth.pt) > pt_min) & (np.abs(truth.eta) < 2.5)):
        d_eta = np.asarray(reco.eta)[rm] - float(truth.eta[k])
        d_phi = (np.asarray(reco.phi)[rm] - float(truth.phi[k]) + np.pi) % (2 * np.pi) - np.pi
        dr = np.hypot(d_eta, d_phi)
        if dr.size and dr.min() < dr_max:
            out.append(float(np.asarray(reco.pt)[rm][dr.argmin()] / truth.pt[k]))
    return out


def ttbar(geo, chain, n_events, seed, out: pathlib.Path) -> dict:
    from hepjax.data import collider

    events = collider.final_state_particles(n_events, seed=seed)
    graph_fn = jax.jit(lambda c, t: calo.cell_graph(geo, c, t))
    timings = {"simulation": [], "clustering": [], "jets": [], "graph": []}
    jet_response, n_particles, n_clusters, n_edges = [], [], [], []
    first = None
    for i, ev in enumerate(events):
        args = _pad(ev["pdg"], ev["energy"], ev["eta"], ev["phi"], chain.n)
        key = jax.random.key(seed + i)
        if i == 0:  # compile outside the timing
            warm = chain.sim(key, *args)
            jax.block_until_ready(graph_fn(warm, chain.cluster(warm)))
        t0 = time.perf_counter()
        cells = jax.block_until_ready(chain.sim(key, *args))
        t1 = time.perf_counter()
        clusters = jax.block_until_ready(chain.cluster(cells))
        t2 = time.perf_counter()
        topo_jets = calo.cluster_jets(clusters)
        truth_jets = calo.antikt_jets(ev["energy"], ev["eta"], ev["phi"])  # massless, as clusters
        t3 = time.perf_counter()
        graph = jax.block_until_ready(graph_fn(cells, clusters))
        t4 = time.perf_counter()
        for name, t in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            timings[name].append(t)
        jet_response += _match(truth_jets, topo_jets)
        n_particles.append(len(ev["pdg"]))
        n_clusters.append(int(clusters.n_clusters))
        n_edges.append(int(np.asarray(graph.edge_mask).sum()))
        if first is None:
            first = (ev, cells, clusters, topo_jets, truth_jets)
    ev, cells, clusters, topo_jets, truth_jets = first
    calo.write_phoenix(
        out / "event_phoenix.json", geo, cells, clusters,
        jets={"topo jets": topo_jets, "truth jets": truth_jets},
    )  # fmt: skip
    plot_event(out / "event_cells.png", geo, cells, clusters)
    per = {k: float(np.mean(v)) for k, v in timings.items()}
    jr = np.array(jet_response) if jet_response else np.array([np.nan])
    return {
        "ttbar_events": n_events,
        "ttbar_particles_per_event": float(np.mean(n_particles)),
        "ttbar_clusters_per_event": float(np.mean(n_clusters)),
        "ttbar_graph_edges_per_event": float(np.mean(n_edges)),
        "ttbar_seconds_per_event": float(sum(per.values())),
        **{f"ttbar_seconds_{k}": v for k, v in per.items()},
        "ttbar_jet_response_mean": float(np.mean(jr)),
        "ttbar_jet_response_std": float(np.std(jr)),
        "ttbar_matched_jets": len(jet_response),
    }


def plot_event(path, geo, cells, clusters) -> None:
    """η-φ maps of every layer: cells above 3σ coloured by log10(E/GeV) from -2 to 2,
    clustered cells circled in red, cluster barycentres (E > 1 GeV) as black crosses."""
    from hepjax._core import figure

    t = geo.cells()
    e = np.asarray(cells.energy)
    on = np.asarray(clusters.cell_cluster) >= 0
    cm = np.asarray(clusters.mask) & (np.asarray(clusters.energy) > 1.0)
    with figure(path, nrows=2, ncols=3, size=(16.0, 9.0)) as (_, axes):
        for li, ax in enumerate(np.ravel(axes)):
            sel = (t.layer == li) & (e > 3 * t.noise)
            logs = np.log10(e[sel])
            ax.scatter(t.eta[sel], t.phi[sel], c=logs, s=4, cmap="viridis", vmin=-2, vmax=2)
            cl = (t.layer == li) & on & (e > 3 * t.noise)
            ax.scatter(
                t.eta[cl], t.phi[cl], s=9, facecolors="none", edgecolors="red", linewidths=0.3
            )
            ax.scatter(np.asarray(clusters.eta)[cm], np.asarray(clusters.phi)[cm], marker="x",
                       c="black", s=10, linewidths=0.6)  # fmt: skip
            ax.set_title(geo.layers[li].name, fontsize=12)
            ax.set_xlim(-geo.eta_max, geo.eta_max)
            ax.set_ylim(-math.pi, math.pi)
            ax.set_xlabel("η")
            ax.set_ylabel("φ")


def plot_results(out, pi0, pipm, res) -> None:
    from hepjax._core import figure

    with figure(out / "response.png", ncols=2, size=(12.0, 4.5)) as (_, axes):
        bins = np.linspace(0, 1.4, 36)
        for x, name, (m, s) in ((pi0, r"$\pi^0$", COCOA_PI0), (pipm, r"$\pi^\pm$", COCOA_PIPM)):
            axes[0].hist(x, bins, histtype="step", label=f"{name} (COCOA {m} ± {s})")
        axes[0].set_xlabel("response at 20 GeV")
        axes[0].legend(fontsize=11)
        e = res["energy"]
        axes[1].errorbar(
            e, res["resolution"], res["error"], fmt="o", label="electrons, calorimeter"
        )
        grid = np.geomspace(e.min(), e.max(), 100)
        f = res["fit"]
        label = f"a = {f.a:.3f} ± {f.a_err:.3f}, b = {f.b:.3f}, c = {f.c:.2f}"
        axes[1].plot(grid, f(grid), label=label)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("E [GeV]")
        axes[1].set_ylabel("σ/E")
        axes[1].legend(fontsize=11)


def _response_rows(label: str, key: str, cocoa, metrics: dict, n: int, note: str) -> list[Row]:
    """The mean and spread rows of one particle's response check."""
    return [
        Row(f"{label} response, 20 GeV (mean)", cocoa[0], metrics[f"{key}_response_mean"],
            note=f"{n} events; COCOA's check: ± 0.05; {note}"),
        Row(f"{label} response spread", cocoa[1], metrics[f"{key}_response_std"], note="± 0.05"),
    ]  # fmt: skip


def _response_metrics(key: str, responses: np.ndarray) -> dict:
    """``{key}_response_mean``, ``_mean_err`` and ``_std`` of per-event responses."""
    s = calo.response_stats(responses)
    return {f"{key}_response_{k}": s[k] for k in ("mean", "mean_err", "std")}


def report(metrics: dict, scale: str) -> list[Row]:
    n = SCALES[scale]["response_events"]
    return [
        *_response_rows("π⁰", "pi0", COCOA_PI0, metrics, n, note="a prediction"),
        *_response_rows("π±", "pipm", COCOA_PIPM, metrics, n,
                        note="invisible energy tuned to it"),
        Row("EM stochastic term (calorimeter alone)", "8–15% (Pb/LAr sampling)",
            metrics["em_stochastic_term"], unit="√GeV",
            note=f"± {metrics['em_stochastic_term_err']:.3f}, electrons at η = 0.3"),
        Row("tt̄ event: simulation + clustering + jets + graph", "< 1 s (goal)",
            metrics["ttbar_seconds_per_event"], unit="s",
            note=f"{metrics['ttbar_particles_per_event']:.0f} particles per event, one CPU"),
        Row("topo-jet / truth-jet pT (jets > 20 GeV)", None, metrics["ttbar_jet_response_mean"],
            note=f"{metrics['ttbar_matched_jets']} matched jets"),
    ]  # fmt: skip


@register(
    "cocoa_calorimeter",
    summary="COCOA: a configurable calorimeter in JAX (showers, topoclusters, jets, cell graph, "
    "Phoenix display; arXiv:2303.02101)",
    paper=PAPER,
    report=report,
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Simulate COCOA's response checks, the electron resolution and tt-bar events."""
    cfg = SCALES[scale]
    geo = simcalo.CaloGeometry.cocoa()
    single = Chain(geo, 2)
    started = time.perf_counter()
    pi0 = single_particle_response(single, 111, cfg["response_events"], seed=1)
    pipm = single_particle_response(single, 211, cfg["response_events"], seed=2)
    single_seconds = time.perf_counter() - started
    started = time.perf_counter()
    bare = simcalo.CaloGeometry.cocoa(inner_detector=False)
    res = electron_resolution(Chain(bare, 2), cfg["electron_energies"], cfg["electrons"], seed=3)
    fit = res["fit"]
    full = None
    if cfg.get("full_detector_resolution", False):
        full = electron_resolution(single, cfg["electron_energies"], cfg["electrons"], seed=4)
    resolution_seconds = time.perf_counter() - started
    metrics = {
        **_response_metrics("pi0", pi0),
        **_response_metrics("pipm", pipm),
        "em_stochastic_term": fit.a,
        "em_stochastic_term_err": fit.a_err,
        "em_constant_term": fit.b,
        "em_noise_term": fit.c,
        "em_fit_chi2_ndf": fit.chi2 / max(fit.ndf, 1),
        "electron_energies": res["energy"].tolist(),
        "electron_resolution": res["resolution"].tolist(),
        "electron_response": res["response"].tolist(),
        "single_particle_seconds": single_seconds,
        **(
            {}
            if full is None
            else {
                "em_stochastic_term_full_detector": full["fit"].a,
                "em_stochastic_term_full_detector_err": full["fit"].a_err,
                "em_constant_term_full_detector": full["fit"].b,
                "electron_resolution_full_detector": full["resolution"].tolist(),
                "electron_response_full_detector": full["response"].tolist(),
            }
        ),
        "resolution_seconds": resolution_seconds,
    }
    started = time.perf_counter()
    metrics.update(ttbar(geo, Chain(geo, MAX_PARTICLES), cfg["ttbar_events"], seed=7, out=out))
    metrics["ttbar_total_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    plot_results(out, pi0, pipm, res)
    metrics["plot_seconds"] = time.perf_counter() - started
    print(
        f"pi0 {metrics['pi0_response_mean']:.3f} ± {metrics['pi0_response_std']:.3f} (COCOA "
        f"0.77 ± 0.16), pi+- {metrics['pipm_response_mean']:.3f} ± "
        f"{metrics['pipm_response_std']:.3f} (COCOA 0.50 ± 0.23); electrons "
        f"a = {fit.a:.3f} ± {fit.a_err:.3f}, "
        f"b = {fit.b:.3f}, c = {fit.c:.3f}; tt-bar {metrics['ttbar_seconds_per_event']:.2f} s/event"
    )
    return metrics


if __name__ == "__main__":
    example_main(run)
