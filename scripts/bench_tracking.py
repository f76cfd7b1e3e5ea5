"""Track finding and fitting: hepjax's CKF and Kalman filter side by side with ACTS and filterpy.

Runs in one go (``python scripts/bench_tracking.py``; ``--events`` and
``--quick`` for smaller runs):

1. **ACTS** (pyacts, the ``bench`` extra): a 100-muon gun (pT 1-10 GeV,
   |eta| < 2, random charge, vertex at the origin) in the GenericDetector
   (2 T), Fatras simulation (scattering, energy loss), Gaussian smearing
   digitisation (pixels 14 um x 14 um, short strips 23 um x 346 um, long strips
   35 um x 3.1 mm: 2D measurements everywhere), truth-smeared seeds (zero
   smearing, ACTS's ckf_tracks.py settings) and the Combinatorial Kalman Filter
   (chi2 cut 15, at most 10 measurements per surface, single thread). The
   efficiency, fake and duplicate rates come from ACTS's own
   ``PatternRecognitionPerformanceWriter`` (particles with pT > 0.9 GeV and
   at least 7 measurements; matching ratio 0.5 with double matching); the time
   per event is ACTS's timing of ``TrackFindingAlgorithm`` (the seeding is
   negligible). A second run fits the truth tracks with ACTS's Kalman fitter
   (``TrackFittingAlgorithm``) for fits per second.
2. **hepjax** on the same kind of events in its own barrel
   (:meth:`hepjax.sim.tracker.BarrelGeometry.default`, 2 T): the same gun with
   a vertex spread of 50 mm in z, pixel triplet seeding + CKF + ambiguity
   resolution (:func:`hepjax.tracking.find_tracks`), and truth pixel
   candidates + CKF as the analogue of ACTS's truth seeding; efficiency for
   pT > 1 GeV and at least 7 hits (double majority); time per event after
   compilation, the one-time compile reported separately.
3. **Kalman-filter fits per second** on the truth tracks of the hepjax events:
   hepjax's :func:`hepjax.tracking.fit_tracks` (extended KF + RTS smoother,
   float64, jit + vmap over tracks), filterpy 1.4's ``KalmanFilter`` in a per-track
   Python loop doing only the linear algebra of the filter (the transport
   Jacobians, process noise and predicted states are handed to it
   precomputed, so filterpy is *favoured*), and ACTS's Kalman fitter (C++,
   single thread, its own geometry).

The geometries differ: ACTS's GenericDetector has barrels *and* endcaps with
overlapping planar modules (pixels at r = 32, 72, 116, 172 mm, short strips at
260-660 mm, long strips at 820 and 1020 mm, |z| < ~0.5/1.1/1.2 m in the
barrels plus discs), 2D measurements in the strips too, and a material
description of its own; hepjax's barrel has the same radii but no endcaps
(long cylinders, |z| up to 3 m so that |eta| < 2 stays in the barrel),
1D stereo strips (40/80 um), x/X0 = 1%/2%/2.5% per layer and a 99% hit
efficiency. The comparison is of the same task on comparable toys, not
bit-for-bit the same events.

Writes the "Track finding: CKF vs ACTS" section of ``docs/benchmarks.md``
(``--no-write`` to only print) and ``bench_tracking.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import BENCHMARKS_MD, cpu_model, write_section

N_PARTICLES = 100
SECTION = "## Track finding: CKF vs ACTS (bench_tracking.py)"


# ---------------------------------------------------------------------------
# ACTS
# ---------------------------------------------------------------------------


def _digi_config(path: Path) -> None:
    """Gaussian smearing per volume of the GenericDetector (as ACTS's generic config)."""

    def smear(vols, s0, s1):
        return [
            {
                "volume": v,
                "value": {
                    "smearing": [
                        {"index": 0, "mean": 0.0, "stddev": s0, "type": "Gauss"},
                        {"index": 1, "mean": 0.0, "stddev": s1, "type": "Gauss"},
                    ]
                },
            }
            for v in vols
        ]

    pitch = lambda a: a / np.sqrt(12.0)
    cfg = {
        "acts-geometry-hierarchy-map": {
            "format-version": 0,
            "value-identifier": "digitization-configuration",
        },
        "entries": smear((7, 8, 9), pitch(0.05), pitch(0.05))
        + smear((12, 13, 14), pitch(0.08), pitch(1.2))
        + smear((16, 17, 18), pitch(0.12), pitch(10.8)),
    }
    path.write_text(json.dumps(cfg))


def run_acts(n_events: int, *, fit: bool, seed: int = 42) -> dict:
    """One ACTS sequence: gun, Fatras, smearing, truth-smeared seeds, then CKF or KF."""
    import acts
    import acts.examples
    from acts import UnitConstants as u
    from acts.examples.reconstruction import (
        CkfConfig,
        SeedingAlgorithm,
        TrackSelectorConfig,
        TrackSmearingSigmas,
        addCKFTracks,
        addKalmanTracks,
        addSeeding,
    )
    from acts.examples.simulation import (
        EtaConfig,
        MomentumConfig,
        ParticleConfig,
        ParticleSelectorConfig,
        PhiConfig,
        addDigiParticleSelection,
        addDigitization,
        addFatras,
        addParticleGun,
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench_tracking_acts_"))
    _digi_config(tmp / "digi.json")
    det = acts.examples.GenericDetector()
    geo = det.trackingGeometry()
    field = acts.ConstantBField(acts.Vector3(0, 0, 2 * u.T))
    s = acts.examples.Sequencer(
        events=n_events,
        numThreads=1,
        logLevel=acts.logging.WARNING,
        outputDir=str(tmp),
        trackFpes=False,
    )
    for d in det.contextDecorators():
        s.addContextDecorator(d)
    rnd = acts.examples.RandomNumbers(seed=seed)
    addParticleGun(
        s,
        MomentumConfig(1 * u.GeV, 10 * u.GeV, transverse=True),
        EtaConfig(-2.0, 2.0, uniform=True),
        PhiConfig(0.0, 360.0 * u.degree),
        ParticleConfig(1, acts.PdgParticle.eMuon, randomizeCharge=True),
        multiplicity=N_PARTICLES,
        rnd=rnd,
    )
    addFatras(s, geo, field, rnd=rnd)
    addDigitization(s, geo, field, digiConfigFile=tmp / "digi.json", rnd=rnd)
    addDigiParticleSelection(
        s,
        ParticleSelectorConfig(pt=(0.9 * u.GeV, None), measurements=(7, None), removeNeutral=True),
    )
    addSeeding(
        s,
        geo,
        field,
        TrackSmearingSigmas(
            loc0=0,
            loc0PtA=0,
            loc0PtB=0,
            loc1=0,
            loc1PtA=0,
            loc1PtB=0,
            time=0,
            phi=0,
            theta=0,
            ptRel=0,
        ),
        seedingAlgorithm=SeedingAlgorithm.TruthSmeared,
        initialSigmas=[1 * u.mm, 1 * u.mm, 1 * u.degree, 1 * u.degree, 0 * u.e / u.GeV, 1 * u.ns],
        initialSigmaQoverPt=0.1 * u.e / u.GeV,
        initialSigmaPtRel=0.1,
        initialVarInflation=[1.0] * 6,
        rnd=rnd,
    )
    writer = None
    if fit:
        addKalmanTracks(s, geo, field)
        alg = "TrackFittingAlgorithm"
    else:
        addCKFTracks(
            s,
            geo,
            field,
            TrackSelectorConfig(
                pt=(500 * u.MeV, None), nMeasurementsMin=7, maxHoles=2, maxOutliers=2
            ),
            CkfConfig(
                chi2CutOffMeasurement=15.0,
                chi2CutOffOutlier=25.0,
                numMeasurementsCutOff=10,
                seedDeduplication=False,
                stayOnSeed=False,
            ),
            writePerformance=False,
            writeTrackSummary=False,
        )
        cfg = acts.examples.PythonPatternRecognitionPerformanceWriter.Config(
            inputTracks="ckf_tracks",
            inputParticles="particles_selected",
            inputTrackParticleMatching="ckf_track_particle_matching",
            inputParticleTrackMatching="ckf_particle_track_matching",
            inputParticleMeasurementsMap="particle_measurements_map",
        )
        writer = acts.examples.PythonPatternRecognitionPerformanceWriter(cfg, acts.logging.WARNING)
        s.addWriter(writer)
        alg = "TrackFindingAlgorithm"
    t0 = time.perf_counter()
    s.run()
    wall = time.perf_counter() - t0
    timing = {}
    for line in (tmp / "timing.csv").read_text().splitlines()[1:]:
        if line.count(",") != 2:
            continue
        name, _, per_event = line.split(",")
        timing[name] = float(per_event)
    out = {
        "events": n_events,
        "wall_seconds_per_event": wall / n_events,
        "algorithm_seconds_per_event": timing.get(f"Algorithm:{alg}", float("nan")),
        "timing": timing,
    }
    if writer is not None:
        st = writer.stats()
        out.update(
            efficiency=st["efficiencyParticles"],
            fake_rate=st["fakeRatioTracks"],
            duplicate_rate=st["duplicateRatioTracks"],
            n_particles=st["nTotalParticles"],
            n_tracks=st["nTotalTracks"],
        )
    return out


# ---------------------------------------------------------------------------
# hepjax
# ---------------------------------------------------------------------------


def hepjax_events(n_events: int, seed: int = 0):
    from hepjax.sim import tracker

    geo = tracker.BarrelGeometry.default()
    events = []
    for k in jax.random.split(jax.random.key(seed), n_events):
        k1, k2 = jax.random.split(k)
        parts = tracker.particle_gun(
            k1, N_PARTICLES, pt=(1.0, 10.0), eta=(-2.0, 2.0), vertex_sigma=(0.0, 0.0, 50.0)
        )
        events.append(tracker.simulate_event(k2, geo, parts))
    return geo, events


def _truth_pixel_candidates(event, n_pix=4):
    pid = np.asarray(event.truth["particle_id"])
    layer = np.asarray(event.measurements["layer"])
    hid = np.asarray(event.hits["hit_id"])
    return [hid[(pid == p) & (layer < n_pix)] for p in np.unique(pid[pid > 0])]


def run_hepjax(geo, events) -> dict:
    import hepjax.tracking as trk

    out = {}
    for name, seeder in (
        ("triplets", lambda ev: trk.seeds(ev, geo, trk.TripletSeeder())),
        (
            "truth pixels",
            lambda ev: trk.seeds(ev, geo, trk.CandidateSeeder(_truth_pixel_candidates(ev))),
        ),
    ):
        t0 = time.perf_counter()
        trk.find_tracks(events[0], geo, seeder(events[0]))
        compile_s = time.perf_counter() - t0
        times, found, total, fakes, dups, ntr = [], 0, 0, 0, 0, 0
        for ev in events:
            t0 = time.perf_counter()
            cands, _ = trk.find_tracks(ev, geo, seeder(ev))
            times.append(time.perf_counter() - t0)
            e = trk.tracking_efficiency(
                ev.truth, ev.particles, cands, double_majority=True, min_hits=7, pt_min=1.0
            )
            found += e["n_matched_particles"]
            total += e["n_particles"]
            fakes += e["n_fake"]
            dups += e["n_duplicate"]
            ntr += e["n_tracks"]
        out[name] = {
            "efficiency": found / total,
            "efficiency_error": float(np.sqrt(found / total * (1 - found / total) / total)),
            "fake_rate": fakes / max(ntr, 1),
            "duplicate_rate": dups / max(ntr, 1),
            "n_particles": total,
            "seconds_per_event": float(np.median(times)),
            "seconds_per_event_mean": float(np.mean(times)),
            "first_call_seconds": compile_s,
        }
    return out


# ---------------------------------------------------------------------------
# Kalman filter fits per second
# ---------------------------------------------------------------------------


def kf_inputs(geo, events):
    """Truth tracks (all 10 layers' slots), their starting parameters and linearisation."""
    from hepjax.sim import tracker

    tas = [tracker.track_arrays(ev, geo, min_hits=7, dtype=jnp.float32) for ev in events]
    meas = jax.tree.map(lambda *a: jnp.concatenate(a), *[t.measurements for t in tas])
    true = jnp.concatenate([t.true_params for t in tas])
    mask = jnp.concatenate([t.true_mask for t in tas])
    keep = np.asarray(mask[:, 0])  # a hit on the first layer: the fit starts there
    meas = jax.tree.map(lambda a: a[keep], meas)
    true, mask = true[keep], mask[keep]
    rng = np.random.default_rng(1)
    p0 = np.asarray(true[:, 0], np.float64).copy()
    p0[:, 2] += rng.normal(0, 1e-3, len(p0))
    p0[:, 4] *= 1 + rng.normal(0, 0.05, len(p0))
    return meas, p0, np.asarray(true, np.float64), np.asarray(mask)


def hepjax_fits_per_second(geo, meas, p0, repeats=3):
    import hepjax.tracking as trk

    t0 = time.perf_counter()
    jax.block_until_ready(trk.fit_tracks(meas, geo, p0))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(trk.fit_tracks(meas, geo, p0))
        times.append(time.perf_counter() - t0)
    return len(p0) / min(times), compile_s


def filterpy_inputs(geo, meas, true, mask):
    """Per track and layer: F, Q (from hepjax's model at the truth), H, R, z (precomputed)."""
    from hepjax.tracking import add_material, kalman_predict

    with jax.enable_x64(True):
        radius = jnp.asarray(geo.radius, jnp.float64)
        thick = jnp.asarray(geo.thickness, jnp.float64)
        bz = jnp.asarray(geo.bz, jnp.float64)
        eye = jnp.eye(5, dtype=jnp.float64)

        def per_track(tp):
            def step(k):
                pm, qm, je = add_material(tp[k - 1], eye * 0, radius[k - 1], thick[k - 1])
                pp, _, jf, _ = kalman_predict(pm, eye, radius[k - 1], radius[k], bz)
                big_f = jf @ je
                # x_k = F x_{k-1} + u, linearised about the true trajectory
                return big_f, jf @ qm @ jf.T, pp - big_f @ tp[k - 1]

            return jax.vmap(step)(jnp.arange(1, geo.n_layers))

        f, q, u = jax.jit(jax.vmap(per_track))(jnp.asarray(true))
    f, q, u = np.asarray(f), np.asarray(q), np.asarray(u)
    st = np.asarray(meas.stereo, np.float64)
    two = np.asarray(meas.is_2d)
    c, s = np.cos(st), np.sin(st)
    h = np.zeros((*st.shape, 2, 5))
    h[..., 0, 0], h[..., 0, 1] = c, s
    h[..., 1, 0], h[..., 1, 1] = np.where(two, -s, 0), np.where(two, c, 0)
    r = np.asarray(meas.cov, np.float64).copy()
    loc = np.asarray(meas.loc, np.float64)
    z = np.einsum("nlij,nlj->nli", h[..., :2], loc)
    return f, q, u, h, r, z, np.asarray(meas.mask) & mask


def filterpy_fits_per_second(p0, f, q, u, h, r, z, m, max_tracks=300, repeats=3):
    """Best of ``repeats`` passes of a per-track filterpy loop (as hepjax's best of 3)."""
    from filterpy.kalman import KalmanFilter

    n = min(len(p0), max_tracks)
    eye = np.eye(5)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            kf = KalmanFilter(dim_x=5, dim_z=2)
            kf.x = p0[i].copy()
            kf.P = np.diag([1.0, 10.0, 1e-4, 1e-4, (0.1 * p0[i, 4]) ** 2])
            for k in range(f.shape[1] + 1):
                if k > 0:
                    kf.predict(u=u[i, k - 1], B=eye, F=f[i, k - 1], Q=q[i, k - 1])
                if m[i, k]:
                    kf.update(z[i, k], R=r[i, k], H=h[i, k])
        best = min(best, time.perf_counter() - t0)
    return n / best


# ---------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="5 events")
    parser.add_argument("--no-acts", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench_tracking.json"))
    parser.add_argument(
        "--from-json", type=Path, default=None, help="only render (and write) a saved result"
    )
    args = parser.parse_args(argv)
    if args.from_json is not None:
        text = render(json.loads(args.from_json.read_text()))
        print(text)
        if not args.no_write:
            write_section(BENCHMARKS_MD, SECTION, text)
        return
    n = 5 if args.quick else args.events
    load0 = os.getloadavg()
    res: dict = {"events": n, "particles_per_event": N_PARTICLES}

    if not args.no_acts:
        import acts

        v = getattr(acts, "__version__", "")
        res["acts_version"] = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
        res["acts_ckf"] = run_acts(n, fit=False)
        res["acts_kf"] = run_acts(n, fit=True)
        print("ACTS CKF:", json.dumps({k: v for k, v in res["acts_ckf"].items() if k != "timing"}))

    geo, events = hepjax_events(n)
    res["hepjax_ckf"] = run_hepjax(geo, events)
    print("hepjax CKF:", json.dumps(res["hepjax_ckf"]))

    meas, p0, true, mask = kf_inputs(geo, events)
    fps, kf_compile = hepjax_fits_per_second(geo, meas, p0)
    f, q, u, h, r, z, m = filterpy_inputs(geo, meas, true, mask)
    fps_filterpy = filterpy_fits_per_second(p0, f, q, u, h, r, z, m)
    res["kf"] = {
        "tracks": len(p0),
        "hepjax_fits_per_second": fps,
        "hepjax_compile_seconds": kf_compile,
        "filterpy_fits_per_second": fps_filterpy,
    }
    if "acts_kf" in res:
        # the same seed gives the same events in both ACTS runs: the KF fits every
        # selected particle's truth track
        per_event = res["acts_kf"]["algorithm_seconds_per_event"]
        tracks_per_event = res["acts_ckf"]["n_particles"] / n
        res["kf"]["acts_fits_per_second"] = tracks_per_event / per_event
    load1 = os.getloadavg()
    res["load_average"] = [load0, load1]
    res["machine"] = cpu_model()
    res["date"] = datetime.date.today().isoformat()
    print(json.dumps(res["kf"]))
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(json.dumps(res, indent=2, default=float) + "\n")
    os.replace(tmp, args.out)
    text = render(res)
    print(text)
    if not args.no_write:
        write_section(BENCHMARKS_MD, SECTION, text)


def render(res) -> str:
    h = res["hepjax_ckf"]
    lines = [
        SECTION,
        "",
        f"{res['date']}, {res['machine']} (2 cores shared with other jobs: **measured under "
        f"load**, load average {res['load_average'][0][0]:.1f} at the start and "
        f"{res['load_average'][1][0]:.1f} at the end), single thread for ACTS, JAX on the CPU. "
        f"{res['events']} events of a {res['particles_per_event']}-muon gun, pT 1-10 GeV, "
        "|eta| < 2, no noise. ACTS: GenericDetector, Fatras, smeared 2D measurements, "
        "truth-smeared seeds. hepjax: its barrel (same radii, no endcaps, 1D stereo strips), "
        "see the docstring of `scripts/bench_tracking.py` for the differences.",
        "",
        "| track finding | efficiency | fake rate | duplicate rate | time / event "
        "| one-time compile |",
        "|---|---|---|---|---|---|",
    ]
    if "acts_ckf" in res:
        a = res["acts_ckf"]
        lines.append(
            f"| ACTS {str(res.get('acts_version', '')).strip('()').replace(', ', '.')} CKF, "
            "truth-smeared seeds "
            f"| {a['efficiency']:.4f} "
            f"| {a['fake_rate']:.4f} | {a['duplicate_rate']:.4f} "
            f"| {1e3 * a['algorithm_seconds_per_event']:.1f} ms | - |"
        )
    for name, v in h.items():
        lines.append(
            f"| hepjax CKF, {name} seeds | {v['efficiency']:.4f} ± {v['efficiency_error']:.4f} "
            f"| {v['fake_rate']:.4f} | {v['duplicate_rate']:.4f} "
            f"| {1e3 * v['seconds_per_event']:.1f} ms | {v['first_call_seconds']:.1f} s |"
        )
    if "acts_ckf" in res:
        ratio_t = (
            h["triplets"]["seconds_per_event"] / res["acts_ckf"]["algorithm_seconds_per_event"]
        )
        lines += [
            "",
            f"CKF time per event, hepjax (triplets) / ACTS = {ratio_t:.1f} (goal: at most 1; "
            + ("met" if ratio_t <= 1 else "**not met**")
            + " in this measurement).",
        ]
    k = res["kf"]
    lines += [
        "",
        "hepjax's time per event covers seeding, the CKF and the ambiguity resolution "
        "(median over events, after compilation); ACTS's is its `TrackFindingAlgorithm`. "
        "The first hepjax row's compile includes the CKF's; the second only adds its "
        "candidate-seed path.",
        "",
        f"| Kalman filter ({k['tracks']} truth tracks, 10 layers) | fits / s |",
        "|---|---|",
        "| hepjax `fit_tracks` (KF + RTS smoother, float64, jit + vmap) "
        f"| {k['hepjax_fits_per_second']:.0f} |",
        "| filterpy `KalmanFilter`, per-track loop (linear algebra only) "
        f"| {k['filterpy_fits_per_second']:.0f} |",
    ]
    if "acts_fits_per_second" in k:
        lines.append(
            "| ACTS Kalman fitter (C++, 1 thread, GenericDetector) "
            f"| {k['acts_fits_per_second']:.0f} |"
        )
    ratio = k["hepjax_fits_per_second"] / k["filterpy_fits_per_second"]
    lines += [
        "",
        f"hepjax / filterpy = {ratio:.1f}x (goal: at least 10x); hepjax's compile: "
        f"{k['hepjax_compile_seconds']:.1f} s.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
