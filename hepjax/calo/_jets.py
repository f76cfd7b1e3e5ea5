r"""Anti-$k_t$ jets (Cacciari, Salam, Soyez, arXiv:0802.1189) through FastJet.

COCOA clusters truth particles and topoclusters with anti-$k_t$, $R = 0.4$, the
$E$ recombination scheme, no $p_T$ threshold (``Jet_parameters`` of its
configuration). A topocluster is a massless four-vector along its barycentre,
$p_T = E/\cosh\bar\eta$; clusters with $E \le 0$ are left out. FastJet is the
optional ``hep`` extra, imported inside the function.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ._topo import TopoClusters

__all__ = ["Jets", "antikt_jets", "cluster_jets"]


class Jets(eqx.Module):
    """Jets of one event, by descending $p_T$, padded to ``max_jets``.

    Attributes:
        pt, eta, phi, mass, energy: ``(J,)`` kinematics (GeV; $\\phi \\in (-\\pi, \\pi]$).
        mask: ``(J,)`` real jets.
        n_constituents: ``(J,)`` inputs in each jet.
    """

    pt: Float[Array, " j"]
    eta: Float[Array, " j"]
    phi: Float[Array, " j"]
    mass: Float[Array, " j"]
    energy: Float[Array, " j"]
    mask: Bool[Array, " j"]
    n_constituents: Int[Array, " j"]


def antikt_jets(
    energy: Float[ArrayLike, " p"],
    eta: Float[ArrayLike, " p"],
    phi: Float[ArrayLike, " p"],
    mass: Float[ArrayLike, " p"] | None = None,
    mask: Bool[ArrayLike, " p"] | None = None,
    *,
    radius: float | int = 0.4,
    pt_min: float | int = 0.0,
    max_jets: int = 64,
) -> Jets:
    """Anti-$k_t$ jets of the inputs $(E, \\eta, \\phi, m)$ (default massless).

    Args:
        energy, eta, phi: ``(P,)`` inputs (truth particles, clusters).
        mass: ``(P,)`` masses, GeV (default 0).
        mask: ``(P,)`` inputs to use (default: all with $E > m$, $E > 0$).
        radius: $R$.
        pt_min: jet $p_T$ threshold, GeV.
        max_jets: padding of the result (the hardest jets are kept).
    """
    try:
        import fastjet
    except ImportError as err:  # pragma: no cover - the hep extra is installed in CI
        raise ImportError(
            "fastjet is needed for jets; install it with pip install 'hepjax[hep]'"
        ) from err
    if not (isinstance(radius, int | float) and radius > 0):
        raise ValueError(f"radius must be > 0, got {radius!r}")
    e = np.asarray(energy, np.float64)
    et = np.asarray(eta, np.float64)
    ph = np.asarray(phi, np.float64)
    m = np.zeros_like(e) if mass is None else np.asarray(mass, np.float64)
    if not (e.ndim == 1 and e.shape == et.shape == ph.shape == m.shape):
        raise ValueError(
            f"energy, eta, phi, mass must be 1D of equal length, got "
            f"{e.shape}, {et.shape}, {ph.shape}, {m.shape}"
        )
    use = (e > 0) & (e > m) & np.isfinite(e) & np.isfinite(et) & np.isfinite(ph)
    if mask is not None:
        use &= np.asarray(mask, bool)
    p = np.sqrt(np.maximum(e**2 - m**2, 0.0))
    pt = p / np.cosh(et)
    inputs = []
    for i in np.flatnonzero(use):
        inputs.append(
            fastjet.PseudoJet(
                float(pt[i] * math.cos(ph[i])),
                float(pt[i] * math.sin(ph[i])),
                float(pt[i] * math.sinh(et[i])),
                float(e[i]),
            )
        )
    out = {k: np.zeros(max_jets) for k in ("pt", "eta", "phi", "mass", "energy")}
    ncon = np.zeros(max_jets, np.int32)
    n = 0
    if inputs:
        jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, float(radius))
        cs = fastjet.ClusterSequence(inputs, jet_def)
        jets = fastjet.sorted_by_pt(cs.inclusive_jets(float(pt_min)))
        n = min(len(jets), max_jets)
        for k, j in enumerate(jets[:n]):
            out["pt"][k], out["eta"][k] = j.pt(), j.eta()
            phi_k = j.phi()
            out["phi"][k] = phi_k - 2 * math.pi if phi_k > math.pi else phi_k
            out["mass"][k], out["energy"][k] = j.m(), j.e()
            ncon[k] = len(j.constituents())
    f32 = {k: jnp.asarray(v, jnp.float32) for k, v in out.items()}
    return Jets(**f32, mask=jnp.arange(max_jets) < n, n_constituents=jnp.asarray(ncon))


def cluster_jets(
    clusters: TopoClusters,
    *,
    radius: float | int = 0.4,
    pt_min: float | int = 0.0,
    max_jets: int = 64,
) -> Jets:
    """Anti-$k_t$ jets of the topoclusters with $E > 0$ (massless, along the barycentre).

    Args:
        clusters: the event's :class:`TopoClusters`.
        radius: the anti-$k_t$ radius $R$.
        pt_min: the smallest jet $p_T$ kept, GeV.
        max_jets: size of the padded jet arrays.
    """
    if not isinstance(clusters, TopoClusters):
        raise TypeError(f"clusters must be TopoClusters, got {type(clusters).__name__}")
    return antikt_jets(
        clusters.energy,
        clusters.eta,
        clusters.phi,
        mask=np.asarray(clusters.mask) & (np.asarray(clusters.energy) > 0),
        radius=radius,
        pt_min=pt_min,
        max_jets=max_jets,
    )
