r"""Evaluation helpers: kernel-level features, multiplicities, 1-D Wasserstein distances.

The kernel is compared with held-out MC events generated for the *same*
incident particles and cubes (so the conditional distributions are compared):

- :func:`particle_features`: one row per outgoing particle (type one-hot,
  $u$, direction, exit point on $S^2$, and the event's conditioning), for a
  classifier two-sample test and for :func:`hepjax.metrics.mmd_rbf`;
- :func:`particle_events`: the event each of those rows came from;
- :func:`event_features`: one row per event (counts, deposited fraction, pass-through);
- :func:`feature_w1`: the 1-D Wasserstein distance of every column;
- :func:`multiplicity_agreement`: histograms of the count of each type and
  the fraction of bins where the two agree within ``num_sigma`` Poisson errors.
"""

import equinox as eqx
import numpy as np

from .._core import check_positive
from ._data import Interactions

PARTICLE_FEATURES = (
    "is_photon",
    "is_electron",
    "is_positron",
    "log_p_ratio",
    "dir_x",
    "dir_y",
    "dir_z",
    "exit_x",
    "exit_y",
    "exit_z",
    "log_energy_in",
    "log_density",
    "material",
    "incident_type",
)
"""Column names of :func:`particle_features`."""

EVENT_FEATURES = ("n_photon", "n_electron", "n_positron", "edep_fraction", "passthrough")
"""Column names of :func:`event_features`."""


def _check(name, inter):
    if not isinstance(inter, Interactions) or np.ndim(inter.out_mask) != 2:
        raise TypeError(f"{name} must be a batch of hepjax.radiation.Interactions")


def particle_features(inter: Interactions) -> np.ndarray:
    """``(num_particles, 14)`` rows of :data:`PARTICLE_FEATURES`, real particles only."""
    _check("inter", inter)
    m = np.asarray(inter.out_mask)
    k = m.shape[1]
    t = np.asarray(inter.out_type)
    per_event = np.stack(
        [
            np.log(np.asarray(inter.incident_energy_mev)),
            np.log(np.asarray(inter.density_g_cm3)),
            np.asarray(inter.material, np.float32),
            np.asarray(inter.incident_type, np.float32),
        ],
        axis=1,
    )
    cols = np.concatenate(
        [
            np.eye(3, dtype=np.float32)[t],
            np.asarray(inter.out_log_p)[..., None],
            np.asarray(inter.out_direction),
            np.asarray(inter.out_exit),
            np.broadcast_to(per_event[:, None, :], (m.shape[0], k, 4)),
        ],
        axis=-1,
    )
    return cols[m].astype(np.float32)


def particle_events(inter: Interactions) -> np.ndarray:
    """``(num_particles,)`` the event index of each row of :func:`particle_features`.

    Pass it as the group labels of :func:`hepjax.metrics.c2st_auc` when two
    samples were drawn for the same events' conditions, so that no classifier
    is tested on particles of an event it was trained on.
    """
    _check("inter", inter)
    return np.nonzero(np.asarray(inter.out_mask))[0]


def event_features(inter: Interactions) -> np.ndarray:
    """``(num_events, 5)`` rows of :data:`EVENT_FEATURES`."""
    _check("inter", inter)
    return np.concatenate(
        [
            np.asarray(inter.counts, np.float32),
            np.asarray(inter.edep_fraction, np.float32)[:, None],
            np.asarray(inter.passthrough, np.float32)[:, None],
        ],
        axis=1,
    )


def feature_w1(truth: np.ndarray, generated: np.ndarray) -> np.ndarray:
    r"""$W_1$ of every column: ``(d,)``, $\int |F_\text{truth} - F_\text{gen}|\,dt$ per feature."""
    from scipy.stats import wasserstein_distance

    truth, generated = np.asarray(truth), np.asarray(generated)
    if truth.ndim != 2 or generated.ndim != 2 or truth.shape[1] != generated.shape[1]:
        raise ValueError(
            f"truth and generated must be (n, d) with the same d, got {truth.shape} and "
            f"{generated.shape}"
        )
    return np.array(
        [wasserstein_distance(truth[:, i], generated[:, i]) for i in range(truth.shape[1])]
    )


class MultiplicityResult(eqx.Module):
    """What :func:`multiplicity_agreement` returns.

    Attributes:
        fraction: the fraction of compared bins that agree.
        truth: ``(3, K + 1)`` histograms of the counts per type (truth).
        generated: the same for the generated events, scaled to the truth's total.
        sigma: the combined Poisson error per bin.
        compared: which bins were compared (non-empty in either sample).
    """

    fraction: float
    truth: np.ndarray
    generated: np.ndarray
    sigma: np.ndarray
    compared: np.ndarray


def multiplicity_agreement(
    truth: Interactions, generated: Interactions, *, num_sigma: float = 2.0
) -> MultiplicityResult:
    r"""Per-type count histograms and the fraction of bins agreeing within ``num_sigma``.

    With $N_t$ truth and $N_g$ generated events, $s = N_t / N_g$, bin
    contents $a$ (truth) and $b$ (generated): agreement is
    $|a - s b| \le k \sqrt{a + s^2 b}$ (independent Poisson errors), over the
    bins non-empty in either sample.

    Args:
        truth: interactions from the reference (the transport MC).
        generated: interactions from the kernel for the same incident particles' distribution.
        num_sigma: the tolerance $k$ in standard deviations of a bin's difference.
    """
    _check("truth", truth)
    _check("generated", generated)
    check_positive("num_sigma", num_sigma)
    ct, cg = np.asarray(truth.counts), np.asarray(generated.counts)
    top = int(max(ct.max(), cg.max())) + 1
    a = np.stack([np.bincount(ct[:, i], minlength=top) for i in range(3)]).astype(float)
    b = np.stack([np.bincount(cg[:, i], minlength=top) for i in range(3)]).astype(float)
    s = len(ct) / len(cg)
    sigma = np.sqrt(a + s * s * b)
    compared = (a + b) > 0
    ok = np.abs(a - s * b) <= num_sigma * sigma
    fraction = float(np.sum(ok & compared) / max(np.sum(compared), 1))
    return MultiplicityResult(fraction, a, s * b, sigma, compared)
