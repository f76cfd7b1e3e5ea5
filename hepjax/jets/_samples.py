r"""JetClass-style samples for pre-training and fine-tuning, from Pythia 8 + FastJet.

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
The result is cached in an HDF5 file under
:func:`hepjax.data.collider.default_cache_dir`, written atomically.
"""

import hashlib
import json
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from hepjax._core import check_positive_int

from ._data import Jets

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
    root = pathlib.Path(cache_dir) if cache_dir is not None else collider.default_cache_dir()
    folder = root / "jets-foundation"
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for i, proc in enumerate(processes):
        spec = dict(process=proc, seed=seed + i, extra=list(extra_settings))
        tag = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        part = _cached(folder / f"{proc}-{tag}.h5", proc, n, seed + i, tuple(extra_settings))
        part = {k: v[:, :max_particles] for k, v in part.items()}
        part["labels"] = np.full(n, i, np.int32)
        parts.append(part)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(arrays["labels"]))
        arrays = {k: v[order] for k, v in arrays.items()}
    return Jets(**arrays)


def _cached(path, proc, n, seed, extra) -> dict[str, np.ndarray]:
    """All 128 particle slots of ``n`` jets (more jets than cached: generated anew)."""
    import h5py

    from hepjax.data import collider

    if path.exists():
        with h5py.File(path, "r") as f:
            if f["x"].shape[0] >= n:
                return {k: f[k][:n] for k in f}
    rows = collider.generate("jetclass", proc, n, seed=seed, extra_settings=extra)
    feats = _features(rows)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with h5py.File(tmp, "w") as f:
        for k, v in feats.items():
            f.create_dataset(k, data=v)
    os.replace(tmp, path)
    return feats
