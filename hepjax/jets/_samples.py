r"""JetClass-style jets and HH->4b events for pre-training and fine-tuning, from Pythia 8 + FastJet.

[`jetclass_jets`][hepjax.jets.jetclass_jets] generates jets of the given
JetClass processes with :func:`hepjax.data.collider.generate` (anti-$k_T$
$R = 0.8$, $p_T \in [500, 1000]$ GeV, $|\eta| < 2$) and keeps the leading
``max_particles`` constituents of each as MPM's features
$(\Delta\eta, \Delta\phi, \log p_T)$ (Golling et al. 2024, arXiv:2401.13537),
their four-momenta (for the pair features) and their identity
(charged hadron, neutral hadron, photon, electron, muon: classes 0-4).
A second domain for transfer studies is the same processes with another
final-state shower setting, ``extra_settings=SHOWER_VARIATION`` (a larger
$\alpha_s$ of the time-like shower: more, wider radiation).

[`hh4b_events`][hepjax.jets.hh4b_events] generates the event-level task of
Vigl, Hartman & Heinrich (arXiv:2401.13536): $X \to HH \to b\bar b b\bar b$
events against QCD multijets, each a set of 2-5 anti-$k_T$ $R = 1.0$ jets
($p_T > 300$ GeV, $|\eta| < 2$) of up to 100 constituents with the same
per-particle features, from the ``hh4b_constituents`` data set of
:func:`hepjax.data.collider.generate`. Its high-level jet features are
$(\log(p_T/\mathrm{GeV}), \eta, m / 100\,\mathrm{GeV})$.

Results are cached in HDF5 files under
:func:`hepjax.data.collider.default_cache_dir`, written atomically.
"""

import hashlib
import json
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from hepjax._core import check_positive_int, file_lock

from ._data import Events, Jets

#: Pythia settings of the second domain: FSR alpha_s(mZ) 0.1365 (Monash) -> 0.160.
SHOWER_VARIATION = ("TimeShower:alphaSvalue = 0.160",)

_IDENTITY_BRANCHES = (
    "part_isChargedHadron",
    "part_isNeutralHadron",
    "part_isPhoton",
    "part_isElectron",
    "part_isMuon",
)


def _features(rows: dict) -> dict[str, np.ndarray]:
    n = rows["part_mask"].shape[1]
    e = rows["part_energy"][:, :n]
    px, py, pz = rows["part_px"][:, :n], rows["part_py"][:, :n], rows["part_pz"][:, :n]
    mask = rows["part_mask"][:, :n].astype(bool)
    pt = np.hypot(px, py)
    x = np.stack(
        [rows["part_deta"][:, :n], rows["part_dphi"][:, :n], np.log(np.maximum(pt, 1e-3))], -1
    )
    flags = np.stack([rows[b][:, :n] for b in _IDENTITY_BRANCHES], -1)
    identity = np.argmax(flags, -1).astype(np.int32)
    p4 = np.stack([e, px, py, pz], -1)
    x = np.where(mask[..., None], x, 0.0).astype(np.float32)
    p4 = np.where(mask[..., None], p4, 0.0).astype(np.float32)
    return {"x": x, "four_momenta": p4, "mask": mask, "identity": identity}


def jetclass_jets(
    processes: Sequence[str],
    n: int,
    *,
    seed: int = 0,
    max_particles: int = 64,
    extra_settings: Sequence[str] = (),
    cache_dir: str | os.PathLike | None = None,
    shuffle: bool = True,
) -> Jets:
    """``n`` Pythia jets of each JetClass process, labelled 0, 1, ... in the order given.

    Args:
        processes: JetClass process names, e.g. ``("QCD", "Tbqq")``.
        n: jets per process.
        seed: base seed (process ``i`` uses ``seed + i``).
        max_particles: constituents kept per jet (leading in $p_T$; MPM: 64).
        extra_settings: Pythia settings added to every process (e.g. :data:`SHOWER_VARIATION`).
        cache_dir: cache root (default: ``hepjax.data.collider.default_cache_dir()``).
        shuffle: shuffle the jets of all processes together (with ``seed``).
    """
    from hepjax.data import collider

    n = check_positive_int("n", n)
    max_particles = check_positive_int("max_particles", max_particles)
    if not processes:
        raise ValueError("processes must name at least one JetClass process")
    for p in processes:
        collider.get_process("jetclass", p)
    parts = []
    for i, proc in enumerate(processes):
        spec = dict(process=proc, seed=seed + i, extra=list(extra_settings))

        def make(count, proc=proc, seed=seed + i):
            rows = collider.generate(
                "jetclass", proc, count, seed=seed, extra_settings=tuple(extra_settings)
            )
            return _features(rows)

        part = _cached(_cache_file(cache_dir, proc, spec), n, make)
        part = {k: v[:, :max_particles] for k, v in part.items()}
        part["labels"] = np.full(n, i, np.int32)
        parts.append(part)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(arrays["labels"]))
        arrays = {k: v[order] for k, v in arrays.items()}
    return Jets(**arrays)


def _cache_file(cache_dir, stem: str, spec: dict) -> pathlib.Path:
    """``<cache root>/jets-foundation/<stem>-<hash of spec>.h5`` (the folder created)."""
    from hepjax.data import collider

    root = pathlib.Path(cache_dir) if cache_dir is not None else collider.default_cache_dir()
    folder = root / "jets-foundation"
    folder.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    return folder / f"{stem}-{tag}.h5"


def _cached(path: pathlib.Path, n: int, make) -> dict[str, np.ndarray]:
    """The first ``n`` rows of the arrays cached at ``path``; ``make(n)`` (re)generates them
    when the file is missing or holds fewer rows, and they are written atomically."""
    import h5py

    with file_lock(path):  # another process filling the same entry: wait, then read it
        if path.exists():
            with h5py.File(path, "r") as f:
                if f[next(iter(f))].shape[0] >= n:
                    return {k: f[k][:n] for k in f}
        arrays = make(n)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with h5py.File(tmp, "w") as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v, compression="gzip", compression_opts=1)
        os.replace(tmp, path)
    return arrays


def hh4b_events(
    n: int,
    *,
    seed: int = 0,
    max_jets: int = 5,
    max_particles: int = 100,
    extra_settings: Sequence[str] = (),
    cache_dir: str | os.PathLike | None = None,
    shuffle: bool = True,
) -> Events:
    r"""``n`` QCD multijet events (label 0) and ``n`` $X \to HH \to 4b$ events (label 1).

    Each event holds its leading ``max_jets`` large-radius jets (at least two) with
    their leading ``max_particles`` constituents: ``x`` are
    $(\Delta\eta, \Delta\phi, \log p_T)$ per constituent, as in
    :func:`jetclass_jets`, so that a backbone pre-trained on those jets reads
    them; ``high_level`` are $(\log(p_T/\mathrm{GeV}), \eta, m/100\,\mathrm{GeV})$
    per jet.

    Args:
        n: events per class.
        seed: base seed (QCD uses ``seed``, the signal ``seed + 1``).
        max_jets: jets kept per event (at most 5, the generated maximum).
        max_particles: constituents kept per jet (at most 100).
        extra_settings: Pythia settings added to both processes (e.g.
            ``("PartonLevel:MPI = off",)`` for fast tests).
        cache_dir: cache root (default: ``hepjax.data.collider.default_cache_dir()``).
        shuffle: shuffle the events of both classes together (with ``seed``).
    """
    from hepjax.data import collider

    n = check_positive_int("n", n)
    cuts = collider.DEFAULT_CUTS["hh4b_constituents"]
    for name, value, limit in (
        ("max_jets", max_jets, int(cuts["max_jets"])),
        ("max_particles", max_particles, int(cuts["max_particles"])),
    ):
        if check_positive_int(name, value) > limit:
            raise ValueError(f"{name} must be at most {limit} (the generated maximum), got {value}")
    parts = []
    for i, proc in enumerate(collider.DATASETS["hh4b_constituents"]):
        # the cache file's name hashes the physics too: another set-up is another file
        spec = dict(settings=collider.pythia_settings("hh4b_constituents", proc, seed=seed + i))
        spec.update(cuts=cuts, extra=list(extra_settings))

        def make(count, proc=proc, seed=seed + i):
            rows = collider.generate(
                "hh4b_constituents", proc, count, seed=seed, extra_settings=tuple(extra_settings)
            )
            return {k: v for k, v in rows.items() if k != "events"}

        rows = _cached(_cache_file(cache_dir, f"hh4b-{proc}", spec), n, make)
        jf = rows["jet_features"][:, :max_jets]
        jet_mask = rows["jet_mask"][:, :max_jets]
        high = np.stack([np.log(np.maximum(jf[..., 0], 1.0)), jf[..., 1], jf[..., 3] / 100.0], -1)
        parts.append(
            {
                "x": rows["particle_features"][:, :max_jets, :max_particles],
                "four_momenta": rows["particle_four_momenta"][:, :max_jets, :max_particles],
                "mask": rows["particle_mask"][:, :max_jets, :max_particles],
                "jet_mask": jet_mask,
                "labels": rows["label"],
                "high_level": np.where(jet_mask[..., None], high, 0.0).astype(np.float32),
            }
        )
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(arrays["labels"]))
        arrays = {k: v[order] for k, v in arrays.items()}
    return Events(**arrays)
