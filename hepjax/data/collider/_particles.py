r"""The final-state particles of Pythia 8 events, for detector simulation.

:func:`final_state_particles` generates events and returns, per event, the
stable particles a detector would see: status $> 0$ in Pythia's record, no
neutrinos, and (COCOA's ``Fiducial_cuts``, arXiv:2303.02101) $p_T$ above
``pt_min`` and $|\eta|$ below ``eta_max``. The default process is COCOA's
$t\bar t$ sample (``macro/Pythia8/ttbar.in`` of cocoa-hep: $pp$ at 14 TeV,
``Top:gg2ttbar``, ``Top:qqbar2ttbar``, inclusive top and $W$ decays, Pythia's
default showers, multi-parton interactions and hadronisation).
"""

from __future__ import annotations

import numpy as np

from ._events import _NEUTRINOS, _eta_phi, import_hep

__all__ = ["TTBAR_SETTINGS", "final_state_particles"]

#: COCOA's tt-bar sample
TTBAR_SETTINGS = (
    "Beams:idA = 2212",
    "Beams:idB = 2212",
    "Beams:eCM = 14000.",
    "Top:gg2ttbar = on",
    "Top:qqbar2ttbar = on",
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Print:quiet = on",
)


def final_state_particles(
    n_events: int,
    *,
    settings=TTBAR_SETTINGS,
    seed: int = 0,
    pt_min: float = 1.0,
    eta_max: float = 3.0,
) -> list[dict[str, np.ndarray]]:
    """Generate ``n_events`` Pythia events; return their detectable final-state particles.

    Args:
        n_events: number of events.
        settings: Pythia ``readString`` lines (default :data:`TTBAR_SETTINGS`).
        seed: Pythia's random seed, in $[0, 900\\,000\\,000]$.
        pt_min: keep particles with $p_T$ above this (GeV; COCOA: 1).
        eta_max: keep particles with $|\\eta|$ below this (COCOA: 3).

    Returns:
        One dict per event with ``(n,)`` arrays ``pdg`` (int32), ``energy``,
        ``pt``, ``eta``, ``phi`` (float64, GeV).

    Raises:
        ImportError: without the ``hep`` extra (pythia8mc, awkward).
        ValueError: a setting Pythia rejects, or bad arguments.
    """
    if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < 1:
        raise ValueError(f"n_events must be a positive int, got {n_events!r}")
    if not (0 <= int(seed) <= 900_000_000):
        raise ValueError(f"seed must lie in [0, 900000000], got {seed!r}")
    pythia8 = import_hep("pythia8mc")
    ak = import_hep("awkward")
    py = pythia8.Pythia("", False)
    for line in (*settings, "Random:setSeed = on", f"Random:seed = {int(seed)}"):
        if not py.readString(line):
            raise ValueError(f"Pythia rejected the setting {line!r}")
    if not py.init():
        raise RuntimeError("Pythia failed to initialise")
    prt = py.nextBatch(n_events).prt
    counts = ak.to_numpy(ak.num(prt.id, axis=1)).astype(np.int64)
    flat = ak.flatten(prt)
    pid = ak.to_numpy(flat["id"]).astype(np.int32)
    status = ak.to_numpy(flat["status"]).astype(np.int64)
    px, py_, pz, e = (ak.to_numpy(flat["p", c]).astype(np.float64) for c in ("px", "py", "pz", "e"))
    pt, eta, phi = _eta_phi(px, py_, pz)
    keep = (status > 0) & ~np.isin(np.abs(pid), _NEUTRINOS) & (pt > pt_min)
    keep &= np.abs(eta) < eta_max
    out = []
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for i in range(len(counts)):
        sl = slice(offsets[i], offsets[i + 1])
        k = keep[sl]
        out.append(
            {
                "pdg": pid[sl][k],
                "energy": e[sl][k],
                "pt": pt[sl][k],
                "eta": eta[sl][k],
                "phi": phi[sl][k],
            }
        )
    return out
