r"""From Pythia events to jets: visible particles, FastJet clustering, matching, features.

Pythia events come in batches as awkward arrays (``Pythia.nextBatch``); the
visible final state (status $> 0$, no neutrinos) of a whole batch is clustered
by FastJet's multi-event interface in one C++ call, and N-subjettiness
(``KT_Axes``, normalised measure, $\beta = 1$; the same axes as
[`hepjax.physics.nsubjettiness`][]) and soft-drop masses come from
fastjet-contrib through the same interface. Only the matching and the feature
arrays are Python/NumPy.

**Matching.** A ``"parton"`` process keeps, for each hard-process outgoing
parton of the wanted flavour (status $\pm 23$), the jet closest to it if
$\Delta R < R$. A ``"resonance"`` process keeps, for each last copy of the
resonance, the closest jet within $\Delta R < R$ if also every visible decay
product (quarks, gluons and charged leptons at the decay, followed through
$t \to bW$, $H \to WW^*$ ...) lies within $\Delta R < R$ of the jet axis
(JetClass's containment convention). Kept jets must pass the $p_T$ window and
$|\eta|$ cut of the data set.
"""

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._processes import Process

HEP_EXTRA = "pip install 'hepjax[hep]'"
_NEUTRINOS = (12, 14, 16)
_RESONANCES = (6, 23, 24, 25, 35, 9000001, 9000002)


def import_hep(name: str):
    """Import an optional dependency of the ``hep`` extra, naming the extra if absent."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"{name} is needed to generate collider data; install it with {HEP_EXTRA}"
        ) from err


#: Default cuts per data set (``radius`` of anti-kT, jet ``pt_min``/``pt_max``
#: in GeV, ``eta_max``; LHCO: ``lead_pt_min`` trigger; HH->4b: ``njets_min``
#: jets above ``select_pt_min``; ``max_jets`` stored; HH->4b with large-radius
#: jets: ``njets_min`` jets above ``pt_min`` within ``eta_max``, the leading
#: ``max_jets`` stored with their leading ``max_particles`` constituents).
DEFAULT_CUTS: dict[str, dict[str, float]] = {
    "jetnet": {"radius": 0.8, "pt_min": 700.0, "pt_max": 1500.0, "eta_max": 2.5},
    "jetclass": {"radius": 0.8, "pt_min": 500.0, "pt_max": 1000.0, "eta_max": 2.0},
    "lhco": {"radius": 1.0, "pt_min": 20.0, "lead_pt_min": 1200.0, "eta_max": 2.5},
    "hh4b": {
        "radius": 0.4,
        "pt_min": 20.0,
        "eta_max": 2.5,
        "select_pt_min": 40.0,
        "njets_min": 4.0,
        "max_jets": 10.0,
        "b_pt_min": 5.0,
    },
    "hh4b_constituents": {
        "radius": 1.0,
        "pt_min": 300.0,
        "eta_max": 2.0,
        "njets_min": 2.0,
        "max_jets": 5.0,
        "max_particles": 100.0,
    },
}

JETCLASS_MAX_PARTICLES = 128


def cuts_for(dataset: str, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    cuts = dict(DEFAULT_CUTS[dataset])
    for k, v in (overrides or {}).items():
        if k not in cuts:
            raise ValueError(f"cuts: unknown cut {k!r} for {dataset}; known: {sorted(cuts)}")
        cuts[k] = float(v)
    return cuts


def fields_for(dataset: str, particles: int, cuts: Mapping[str, float]) -> dict[str, tuple]:
    """Shard fields (per-row shape, dtype) of a data set."""
    if dataset == "jetnet":
        return {"particle_features": ((particles, 4), "float32"), "jet_features": ((4,), "float32")}
    if dataset == "jetclass":
        from hepjax.data.formats import (
            JETCLASS_JET_BRANCHES,
            JETCLASS_PARTICLE_BRANCHES,
        )

        n = JETCLASS_MAX_PARTICLES
        out = {b: ((n,), "float32") for b in JETCLASS_PARTICLE_BRANCHES}
        out["part_mask"] = ((n,), "bool")
        out.update({b: ((), "float32") for b in JETCLASS_JET_BRANCHES})
        out["label"] = ((), "int32")
        return out
    if dataset == "lhco":
        from hepjax.data.formats import LHCO_FEATURE_COLUMNS

        return {"features": ((len(LHCO_FEATURE_COLUMNS),), "float64")}
    j = int(cuts["max_jets"])
    if dataset == "hh4b_constituents":
        p = int(cuts["max_particles"])
        return {
            "particle_features": ((j, p, 3), "float32"),
            "particle_four_momenta": ((j, p, 4), "float32"),
            "particle_mask": ((j, p), "bool"),
            "jet_features": ((j, 5), "float32"),
            "jet_higgs": ((j,), "bool"),
            "jet_mask": ((j,), "bool"),
            "label": ((), "int32"),
        }
    return {
        "jet_features": ((j, 5), "float32"),
        "jet_mask": ((j,), "bool"),
        "label": ((), "int32"),
    }


@dataclasses.dataclass
class Timer:
    """Seconds spent in Pythia, in FastJet and in total."""

    pythia: float = 0.0
    clustering: float = 0.0
    total: float = 0.0


def _wrap(d):
    return (d + np.pi) % (2 * np.pi) - np.pi


def _eta_phi(px, py, pz):
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    return pt, eta, np.arctan2(py, px)


class _Batch:
    """Flat NumPy view of an awkward batch of Pythia event records."""

    def __init__(self, prt, ak):
        counts = ak.to_numpy(ak.num(prt.id, axis=1)).astype(np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        flat = ak.flatten(prt)
        for f in ("id", "status", "daughter1", "daughter2"):
            setattr(self, f, ak.to_numpy(flat[f]).astype(np.int64))
        self.px, self.py, self.pz, self.e = (
            ak.to_numpy(flat["p", c]) for c in ("px", "py", "pz", "e")
        )
        self.pt, self.eta, self.phi = _eta_phi(self.px, self.py, self.pz)
        self.n_events = len(counts)

    def event(self, i):
        return int(self.offsets[i]), int(self.offsets[i + 1])


def _daughters(b: _Batch, lo: int, i: int) -> list[int]:
    d1, d2 = b.daughter1[lo + i], b.daughter2[lo + i]
    if d1 <= 0:
        return []
    if d2 <= 0 or d2 == d1:
        return [int(d1)]
    if d2 > d1:
        return list(range(int(d1), int(d2) + 1))
    return [int(d1), int(d2)]


def _last_copy(b: _Batch, lo: int, i: int) -> int:
    pid = b.id[lo + i]
    for _ in range(1000):
        nxt = [d for d in _daughters(b, lo, i) if b.id[lo + d] == pid]
        if not nxt:
            return i
        i = nxt[0]
    return i


def _products(b: _Batch, lo: int, i: int) -> list[int]:
    """Visible decay products (first copies) of the resonance copy ``i``."""
    out = []
    for d in _daughters(b, lo, _last_copy(b, lo, i)):
        a = abs(b.id[lo + d])
        if a in _NEUTRINOS:
            continue
        if a in _RESONANCES:
            out += _products(b, lo, d)
        else:
            out.append(d)
    return out


def _targets(b: _Batch, ev: int, proc: Process) -> list[tuple[float, float, list[int]]]:
    """(eta, phi, decay-product indices) of the objects jets must match."""
    lo, hi = b.event(ev)
    ids, st = np.abs(b.id[lo:hi]), b.status[lo:hi]
    if proc.match == "parton":
        idx = np.flatnonzero((np.abs(st) == 23) & np.isin(ids, proc.ids))
        return [(b.eta[lo + i], b.phi[lo + i], []) for i in idx]
    out, seen = [], set()
    for i in np.flatnonzero(np.isin(ids, proc.ids)):
        last = _last_copy(b, lo, int(i))
        if last in seen:
            continue
        seen.add(last)
        out.append((b.eta[lo + last], b.phi[lo + last], _products(b, lo, last)))
    return out


class Generator:
    """Generate one process batch by batch: Pythia -> FastJet -> features.

    Args:
        proc: the process.
        seed: Pythia's seed.
        particles: JetNet particle slots (30 or 150).
        cuts: the data set's cuts (see ``DEFAULT_CUTS``).
        extra_settings: further Pythia lines (e.g. ``"PartonLevel:MPI = off"``).
    """

    def __init__(
        self,
        proc: Process,
        seed: int,
        *,
        particles: int = 30,
        cuts: Mapping[str, float],
        extra_settings: tuple[str, ...] = (),
    ):
        self.pythia8 = import_hep("pythia8mc")
        self.fj = import_hep("fastjet")
        self.ak = import_hep("awkward")
        self.proc, self.particles, self.cuts = proc, particles, dict(cuts)
        self.timer = Timer()
        self.events = 0
        t0 = time.perf_counter()
        py = self.pythia8.Pythia("", False)
        from ._processes import pythia_settings

        for line in (*pythia_settings(proc.dataset, proc.name, seed=seed), *extra_settings):
            if not py.readString(line):
                raise ValueError(f"Pythia rejected the setting {line!r}")
        if not py.init():
            raise RuntimeError(f"Pythia failed to initialise {proc.dataset}/{proc.name}")
        self.pythia = py
        self._charge: dict[int, float] = {}
        self.timer.pythia += time.perf_counter() - t0
        self.timer.total += time.perf_counter() - t0

    # -- helpers -----------------------------------------------------------------
    def _charges(self, ids: np.ndarray) -> np.ndarray:
        for u in np.unique(ids):
            if int(u) not in self._charge:
                self._charge[int(u)] = float(self.pythia.particleData.charge(int(u)))
        return np.array([self._charge[int(i)] for i in ids], np.float32)

    def _cluster(self, b: _Batch, visible: np.ndarray, radius: float, pt_min: float):
        """Anti-kT jets of every event: per event a list of (p4 (4,), constituent flat indices)."""
        ak, fj = self.ak, self.fj
        counts = np.add.reduceat(visible.astype(np.int64), b.offsets[:-1]) if b.n_events else []
        counts = np.where(np.diff(b.offsets) > 0, counts, 0)
        flat_idx = np.flatnonzero(visible)
        arr = ak.unflatten(
            ak.zip(
                {
                    "px": b.px[flat_idx],
                    "py": b.py[flat_idx],
                    "pz": b.pz[flat_idx],
                    "E": b.e[flat_idx],
                }
            ),
            counts,
        )
        t0 = time.perf_counter()
        cs = fj.ClusterSequence(arr, fj.JetDefinition(fj.antikt_algorithm, radius))
        jets = cs.inclusive_jets(min_pt=pt_min)
        cidx = cs.constituent_index(min_pt=pt_min)
        self.timer.clustering += time.perf_counter() - t0
        njet = ak.to_numpy(ak.num(jets.px, axis=1))
        jp = np.stack(
            [ak.to_numpy(ak.flatten(jets[c])) for c in ("E", "px", "py", "pz")], axis=1
        ).reshape(-1, 4)
        ncons = ak.to_numpy(ak.flatten(ak.num(cidx, axis=2)))
        cflat = ak.to_numpy(ak.flatten(cidx, axis=None)).astype(np.int64)
        vis_start = np.concatenate([[0], np.cumsum(counts)])
        out, j, c = [], 0, 0
        for ev in range(b.n_events):
            ev_jets = []
            for _ in range(njet[ev]):
                members = flat_idx[vis_start[ev] + cflat[c : c + ncons[j]]]
                ev_jets.append((jp[j], members))
                c += ncons[j]
                j += 1
            ev_jets.sort(key=lambda t: -np.hypot(t[0][1], t[0][2]))
            out.append(ev_jets)
        return out

    def _substructure(self, constituents: list[np.ndarray], b: _Batch, r0: float, sd: bool):
        """tau_1..4 (KT axes) and, if ``sd``, soft-drop masses of jets given by constituents."""
        ak, fj = self.ak, self.fj
        if not constituents:
            return np.zeros((0, 4)), np.zeros(0)
        counts = [len(c) for c in constituents]
        idx = np.concatenate(constituents)
        arr = ak.unflatten(
            ak.zip({"px": b.px[idx], "py": b.py[idx], "pz": b.pz[idx], "E": b.e[idx]}), counts
        )
        t0 = time.perf_counter()
        cs = fj.ClusterSequence(arr, fj.JetDefinition(fj.kt_algorithm, 10.0))
        taus = cs.njettiness(
            measure_definition="NormalizedMeasure",
            axes_definition="KT_Axes",
            njets=[1, 2, 3, 4],
            beta=1.0,
            R0=r0,
        )
        taus = np.asarray(ak.to_numpy(taus), np.float64).reshape(len(counts), 4)
        msd = np.zeros(len(counts))
        if sd:
            ca = fj.ClusterSequence(arr, fj.JetDefinition(fj.cambridge_algorithm, 10.0))
            groomed = ca.exclusive_jets_softdrop_grooming(
                njets=1, beta=0.0, symmetry_cut=0.1, R0=r0
            )
            msd = ak.to_numpy(groomed.msoftdrop).astype(np.float64).reshape(-1)
        self.timer.clustering += time.perf_counter() - t0
        return taus, msd

    # -- one batch ---------------------------------------------------------------
    def batch(self, n_events: int) -> tuple[dict[str, np.ndarray], int]:
        """Generate ``n_events`` events; return the rows passing the cuts and the event count."""
        t_start = time.perf_counter()
        t0 = time.perf_counter()
        rec = self.pythia.nextBatch(n_events)
        self.timer.pythia += time.perf_counter() - t0
        b = _Batch(rec.prt, self.ak)
        self.events += b.n_events
        visible = (b.status > 0) & ~np.isin(np.abs(b.id), _NEUTRINOS)
        cuts = self.cuts
        jets = self._cluster(b, visible, cuts["radius"], cuts["pt_min"] if "pt_min" in cuts else 0)
        rows = getattr(self, f"_rows_{self.proc.dataset}")(b, jets)
        self.timer.total += time.perf_counter() - t_start
        return rows, b.n_events

    def _matched(self, b: _Batch, jets) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(event, jet p4, constituent indices) of jets matched to the process's target."""
        r, cuts = self.cuts["radius"], self.cuts
        out = []
        for ev, ev_jets in enumerate(jets):
            if not ev_jets:
                continue
            p4 = np.stack([j[0] for j in ev_jets])
            pt, eta, phi = _eta_phi(p4[:, 1], p4[:, 2], p4[:, 3])
            for t_eta, t_phi, products in _targets(b, ev, self.proc):
                dr = np.hypot(eta - t_eta, _wrap(phi - t_phi))
                k = int(np.argmin(dr))
                if dr[k] >= r:
                    continue
                if not (
                    cuts["pt_min"] <= pt[k] <= cuts["pt_max"] and abs(eta[k]) < cuts["eta_max"]
                ):
                    continue
                lo = int(b.offsets[ev])
                if products:
                    pi = lo + np.asarray(products)
                    dp = np.hypot(b.eta[pi] - eta[k], _wrap(b.phi[pi] - phi[k]))
                    if (dp >= r).any():
                        continue
                out.append((ev, p4[k], ev_jets[k][1]))
        return out

    def _rows_jetnet(self, b: _Batch, jets) -> dict[str, np.ndarray]:
        matched = self._matched(b, jets)
        n, p = len(matched), self.particles
        pf = np.zeros((n, p, 4), np.float32)
        jf = np.zeros((n, 4), np.float32)
        for row, (_, p4, cons) in enumerate(matched):
            pt, eta, phi = _eta_phi(p4[1:2], p4[2:3], p4[3:4])
            mass = np.sqrt(max(p4[0] ** 2 - np.sum(p4[1:] ** 2), 0.0))
            order = cons[np.argsort(-b.pt[cons], kind="stable")][:p]
            k = len(order)
            pf[row, :k, 0] = b.eta[order] - eta[0]
            pf[row, :k, 1] = _wrap(b.phi[order] - phi[0])
            pf[row, :k, 2] = b.pt[order] / pt[0]
            pf[row, :k, 3] = 1.0
            # As in the published files: the jet's whole constituent count; jetnet's
            # loader caps it at the number of slots (np.minimum(n, num_particles)).
            jf[row] = (pt[0], eta[0], mass, len(cons))
        return {"particle_features": pf, "jet_features": jf}

    def _rows_jetclass(self, b: _Batch, jets) -> dict[str, np.ndarray]:
        from hepjax.data.formats import JETCLASS_JET_BRANCHES, JETCLASS_PARTICLE_BRANCHES

        matched = self._matched(b, jets)
        n, p = len(matched), JETCLASS_MAX_PARTICLES
        out = {k: np.zeros((n, p), np.float32) for k in JETCLASS_PARTICLE_BRANCHES}
        out["part_mask"] = np.zeros((n, p), bool)
        out.update({k: np.zeros(n, np.float32) for k in JETCLASS_JET_BRANCHES})
        out["label"] = np.full(n, self.proc.label, np.int32)
        taus, msd = self._substructure([m[2] for m in matched], b, self.cuts["radius"], True)
        for row, (_, p4, cons) in enumerate(matched):
            pt, eta, phi = _eta_phi(p4[1:2], p4[2:3], p4[3:4])
            order = cons[np.argsort(-b.pt[cons], kind="stable")][:p]
            k = len(order)
            ids = b.id[order]
            aid = np.abs(ids)
            charge = self._charges(ids)
            out["part_px"][row, :k] = b.px[order]
            out["part_py"][row, :k] = b.py[order]
            out["part_pz"][row, :k] = b.pz[order]
            out["part_energy"][row, :k] = b.e[order]
            out["part_deta"][row, :k] = b.eta[order] - eta[0]
            out["part_dphi"][row, :k] = _wrap(b.phi[order] - phi[0])
            out["part_charge"][row, :k] = charge
            lepton = (aid == 11) | (aid == 13)
            out["part_isElectron"][row, :k] = aid == 11
            out["part_isMuon"][row, :k] = aid == 13
            out["part_isPhoton"][row, :k] = aid == 22
            out["part_isChargedHadron"][row, :k] = (charge != 0) & ~lepton
            out["part_isNeutralHadron"][row, :k] = (charge == 0) & (aid != 22)
            out["part_mask"][row, :k] = True
            out["jet_pt"][row], out["jet_eta"][row], out["jet_phi"][row] = pt[0], eta[0], phi[0]
            out["jet_energy"][row] = p4[0]
            out["jet_nparticles"][row] = len(cons)
            out["jet_sdmass"][row] = msd[row]
            for i in range(4):
                out[f"jet_tau{i + 1}"][row] = taus[row, i]
        return out

    def _rows_lhco(self, b: _Batch, jets) -> dict[str, np.ndarray]:
        cuts = self.cuts
        keep = []
        for ev_jets in jets:
            if len(ev_jets) < 2:
                continue
            p4 = np.stack([j[0] for j in ev_jets[:2]])
            pt, eta, _ = _eta_phi(p4[:, 1], p4[:, 2], p4[:, 3])
            if pt[0] < cuts["lead_pt_min"] or (np.abs(eta) >= cuts["eta_max"]).any():
                continue
            keep.append((p4, ev_jets[0][1], ev_jets[1][1]))
        cons = [c for _, c1, c2 in keep for c in (c1, c2)]
        taus, _ = self._substructure(cons, b, cuts["radius"], False)
        rows = np.zeros((len(keep), 15))
        for row, (p4, _, _) in enumerate(keep):
            for j in range(2):
                m = np.sqrt(max(p4[j, 0] ** 2 - np.sum(p4[j, 1:] ** 2), 0.0))
                rows[row, 7 * j : 7 * j + 7] = (*p4[j, 1:], m, *taus[2 * row + j, :3])
            rows[row, 14] = self.proc.label
        return {"features": rows}

    def _rows_hh4b(self, b: _Batch, jets) -> dict[str, np.ndarray]:
        cuts = self.cuts
        j_max, r = int(cuts["max_jets"]), cuts["radius"]
        aid = np.abs(b.id)
        # Weakly decaying b hadrons: b-flavoured hadrons without a b-hadron daughter.
        is_bhad = (aid > 100) & (((aid // 100) % 10 == 5) | ((aid // 1000) % 10 == 5))
        feats, masks = [], []
        for ev, ev_jets in enumerate(jets):
            if not ev_jets:
                continue
            p4 = np.stack([j[0] for j in ev_jets])
            pt, eta, phi = _eta_phi(p4[:, 1], p4[:, 2], p4[:, 3])
            ok = np.abs(eta) < cuts["eta_max"]
            p4, pt, eta, phi = p4[ok], pt[ok], eta[ok], phi[ok]
            if (pt > cuts["select_pt_min"]).sum() < cuts["njets_min"]:
                continue
            lo, hi = b.event(ev)
            btag = np.zeros(len(pt), bool)
            for i in np.flatnonzero(is_bhad[lo:hi]):
                if b.pt[lo + i] < cuts["b_pt_min"]:
                    continue
                if any(is_bhad[lo + d] for d in _daughters(b, lo, int(i))):
                    continue
                dr = np.hypot(eta - b.eta[lo + i], _wrap(phi - b.phi[lo + i]))
                k = int(np.argmin(dr))
                if dr[k] < r:
                    btag[k] = True
            m = np.sqrt(np.maximum(p4[:, 0] ** 2 - np.sum(p4[:, 1:] ** 2, axis=1), 0.0))
            f = np.zeros((j_max, 5), np.float32)
            k = min(len(pt), j_max)
            f[:k] = np.stack([pt, eta, phi, m, btag], axis=1)[:k]
            feats.append(f)
            masks.append(np.arange(j_max) < k)
        n = len(feats)
        return {
            "jet_features": np.stack(feats) if n else np.zeros((0, j_max, 5), np.float32),
            "jet_mask": np.stack(masks) if n else np.zeros((0, j_max), bool),
            "label": np.full(n, self.proc.label, np.int32),
        }

    def _rows_hh4b_constituents(self, b: _Batch, jets) -> dict[str, np.ndarray]:
        r"""Events with ``njets_min`` or more large-radius jets: up to ``max_jets`` jets of up to
        ``max_particles`` constituents (leading in $p_T$) each.

        Per constituent: $(\Delta\eta, \Delta\phi, \log p_T/\mathrm{GeV})$ relative to
        the jet axis (the features of [`hepjax.jets.jetclass_jets`][]) and
        $(E, p_x, p_y, p_z)$; per jet: $(p_T, \eta, \phi, m, n_{\rm constituents})$
        and ``jet_higgs``, whether a Higgs boson and both its decay products lie within
        $\Delta R < R$ of the jet axis (always false for QCD).
        """
        cuts = self.cuts
        r, j_max, p_max = cuts["radius"], int(cuts["max_jets"]), int(cuts["max_particles"])
        higgs = Process(self.proc.dataset, "higgs", (), "resonance", (25,), 0)
        rows = []
        for ev, ev_jets in enumerate(jets):
            ev_jets = [j for j in ev_jets if abs(_eta_phi(*j[0][1:4])[1]) < cuts["eta_max"]][:j_max]
            if len(ev_jets) < cuts["njets_min"]:
                continue
            targets = _targets(b, ev, higgs)
            lo = int(b.offsets[ev])
            pf = np.zeros((j_max, p_max, 3), np.float32)
            p4s = np.zeros((j_max, p_max, 4), np.float32)
            pm = np.zeros((j_max, p_max), bool)
            jf = np.zeros((j_max, 5), np.float32)
            jh = np.zeros(j_max, bool)
            for k, (p4, cons) in enumerate(ev_jets):
                pt, eta, phi = (v.item() for v in _eta_phi(*p4[1:4, None]))
                order = cons[np.argsort(-b.pt[cons], kind="stable")][:p_max]
                n = len(order)
                pf[k, :n, 0] = b.eta[order] - eta
                pf[k, :n, 1] = _wrap(b.phi[order] - phi)
                pf[k, :n, 2] = np.log(np.maximum(b.pt[order], 1e-3))
                p4s[k, :n] = np.stack([b.e[order], b.px[order], b.py[order], b.pz[order]], 1)
                pm[k, :n] = True
                mass = np.sqrt(max(p4[0] ** 2 - np.sum(p4[1:] ** 2), 0.0))
                jf[k] = (pt, eta, phi, mass, len(cons))
                for t_eta, t_phi, products in targets:
                    if np.hypot(t_eta - eta, _wrap(t_phi - phi)) >= r or not products:
                        continue
                    pi = lo + np.asarray(products)
                    jh[k] |= bool((np.hypot(b.eta[pi] - eta, _wrap(b.phi[pi] - phi)) < r).all())
            jm = np.arange(j_max) < len(ev_jets)
            rows.append((pf, p4s, pm, jf, jh, jm))
        names = (
            "particle_features",
            "particle_four_momenta",
            "particle_mask",
            "jet_features",
            "jet_higgs",
            "jet_mask",
        )
        fields = fields_for(self.proc.dataset, 0, cuts)
        out = {
            k: np.stack([row[i] for row in rows]) if rows else np.zeros((0, *fields[k][0]))
            for i, k in enumerate(names)
        }
        out = {k: v.astype(fields[k][1]) for k, v in out.items()}
        out["label"] = np.full(len(rows), self.proc.label, np.int32)
        return out


def concat_rows(parts: list[dict[str, np.ndarray]], fields: Mapping[str, Any]) -> dict:
    if not parts:
        return {k: np.zeros((0, *s), d) for k, (s, d) in fields.items()}
    return {k: np.concatenate([p[k] for p in parts]) for k in fields}
