r"""Cell energies, and energy deposits summed into cells with the read-out emulation.

:func:`deposit_energy` turns energy *spots* (layer, $\eta$, $\phi$, $E$) — the
output of a shower parametrisation, or hand-made deposits — into the measured
energy of every cell:

1. **Sampling** (COCOA's emulation of a sampling calorimeter, arXiv:2303.02101,
   Sec. 2.2, ``SamplingFraction_ECAL/HCAL``): a spot in layer $l$ is kept with
   probability $f_l$ and its energy scaled by $1/f_l$, so that the mean
   response is unchanged and the relative fluctuation of $n$ equal spots is
   $\sqrt{(1-f)/(n f)}$. A spot may stand for $m$ equal deposits
   (``multiplicity``; a shower spot of a parametrisation is many Geant4
   steps): then $k \sim \text{Binomial}(m, f)$ of them are kept and the spot
   counts $E k/(m f)$, the same as $m$ separate spots.
2. **Summing by index:** every spot is located in its cell
   (:meth:`CaloGeometry.locate`) and the energies are added with one
   scatter-add, ``zeros(n_cells).at[cell].add(E)`` (no loop over spots).
3. **Noise:** independent Gaussian noise $\mathcal N(0, \sigma_l^2)$ on every cell.

Spots outside the detector ($|\eta| \ge \eta_\max$) are skipped and counted
(``outside="skip"``) or make the call fail (``outside="error"``). Spots with zero
energy are padding and change nothing, so a fixed-size spot buffer serves
events of any size.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from ..._core import check_choice
from ._geometry import CaloGeometry

__all__ = ["CellEnergies", "add_noise", "deposit_energy"]


class CellEnergies(eqx.Module):
    """The energy of every cell of a :class:`CaloGeometry`, flat over layers.

    Attributes:
        energy: ``(n_cells,)`` measured energy in GeV (signal plus noise; may be
            negative).
        signal: ``(n_cells,)`` visible energy before noise (after the sampling
            emulation), GeV: the truth a cluster's energy is compared with.
        outside: number of deposits that fell outside the detector and were skipped.
        outside_energy: their total energy, GeV.

    Index with :meth:`CaloGeometry.cell_id`; the geometry of each cell is in
    :meth:`CaloGeometry.cells`.
    """

    energy: Float[Array, " n"]
    signal: Float[Array, " n"]
    outside: Int[Array, ""]
    outside_energy: Float[Array, ""]

    def __check_init__(self):
        if jnp.ndim(self.energy) != 1 or jnp.shape(self.signal) != jnp.shape(self.energy):
            raise ValueError(
                "energy and signal must be 1D of equal length (one value per cell), got "
                f"{jnp.shape(self.energy)} and {jnp.shape(self.signal)}"
            )

    @classmethod
    def from_energy(cls, energy: Float[ArrayLike, " n"], signal=None) -> CellEnergies:
        """Cells with the given measured energies (GeV); ``signal`` defaults to ``energy``."""
        energy = jnp.asarray(energy, jnp.float32)
        signal = energy if signal is None else jnp.asarray(signal, jnp.float32)
        return cls(energy, signal, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32))

    @classmethod
    def zeros(cls, geo: CaloGeometry) -> CellEnergies:
        return cls.from_energy(jnp.zeros(geo.n_cells, jnp.float32))

    @property
    def n_cells(self) -> int:
        return int(jnp.shape(self.energy)[0])

    def check(self, geo: CaloGeometry, name: str = "cells") -> None:
        """Raise ``ValueError`` unless there is one value per cell of ``geo``."""
        if not isinstance(self, CellEnergies):
            raise TypeError(f"{name} must be a CellEnergies, got {type(self).__name__}")
        if self.n_cells != geo.n_cells:
            raise ValueError(f"{name} has {self.n_cells} cells but the geometry has {geo.n_cells}")


def add_noise(
    key: PRNGKeyArray, geo: CaloGeometry, signal: Float[ArrayLike, " n"]
) -> Float[Array, " n"]:
    """``signal`` plus independent Gaussian noise $\\mathcal N(0, \\sigma_l^2)$ per cell.

    Args:
        key: PRNG key.
        geo: the detector; $\\sigma_l$ is the noise of each cell's layer, GeV.
        signal: ``(N,)`` cell energies, GeV, one per cell of ``geo``.
    """
    sigma = jnp.asarray(geo.cells().noise)
    signal = jnp.asarray(signal, jnp.float32)
    if signal.shape != sigma.shape:
        raise ValueError(f"signal must have shape ({geo.n_cells},), got {signal.shape}")
    return signal + sigma * jax.random.normal(key, signal.shape, jnp.float32)


def deposit_energy(
    key: PRNGKeyArray,
    geo: CaloGeometry,
    layer: Int[ArrayLike, " s"],
    eta: Float[ArrayLike, " s"],
    phi: Float[ArrayLike, " s"],
    energy: Float[ArrayLike, " s"],
    *,
    noise: bool = True,
    sampling: bool = True,
    outside: str = "skip",
    multiplicity: Float[ArrayLike, " s"] | None = None,
) -> CellEnergies:
    """Sum energy spots into cells, with sampling and noise (module docstring).

    Args:
        key: PRNG key (sampling and noise).
        geo: the detector.
        layer: ``(S,)`` layer index of each spot.
        eta, phi: ``(S,)`` direction of each spot.
        energy: ``(S,)`` deposited energy in GeV, ``>= 0`` (0 = padding).
        noise: add the per-layer Gaussian noise.
        sampling: emulate the sampling fraction (keep with probability $f$,
            scale by $1/f$).
        outside: ``"skip"`` (count spots outside the acceptance in
            :attr:`CellEnergies.outside`) or ``"error"`` (fail on any).
        multiplicity: ``(S,)`` number of equal deposits each spot stands for
            (rounded, at least 1; default 1: COCOA's keep-or-drop per spot).

    Returns:
        :class:`CellEnergies`. NaN or negative spot energies and NaN
        coordinates raise at run time (``eqx.error_if``), also under ``jit``.
    """
    check_choice("outside", outside, ("skip", "error"))
    layer = jnp.asarray(layer)
    if not jnp.issubdtype(layer.dtype, jnp.integer):
        raise TypeError(f"layer must be an integer array, got dtype {layer.dtype}")
    eta = jnp.asarray(eta, jnp.float32)
    phi = jnp.asarray(phi, jnp.float32)
    energy = jnp.asarray(energy, jnp.float32)
    arrays = dict(layer=layer, eta=eta, phi=phi, energy=energy)
    shapes = {name: jnp.shape(v) for name, v in arrays.items()}
    if len(set(shapes.values())) != 1 or len(shapes["energy"]) != 1:
        raise ValueError(f"layer, eta, phi and energy must be 1D of equal length, got {shapes}")
    energy = eqx.error_if(
        energy, jnp.any(jnp.isnan(energy)), "deposit_energy: energy has NaN deposits"
    )
    energy = eqx.error_if(
        energy, jnp.any(energy < 0), "deposit_energy: energy must be >= 0 (0 marks padding)"
    )
    bad_coord = (jnp.isnan(eta) | jnp.isnan(phi)) & (energy > 0)
    energy = eqx.error_if(energy, jnp.any(bad_coord), "deposit_energy: NaN eta or phi of a deposit")
    k_sample, k_noise = jax.random.split(key)
    cell = geo.locate(layer, eta, phi)
    out = (cell < 0) & (energy > 0)
    if outside == "error":
        energy = eqx.error_if(
            energy,
            jnp.any(out),
            f"deposit_energy: a deposit lies outside the detector (|eta| >= {geo.eta_max} "
            f"or layer outside [0, {geo.n_layers}))",
        )
    visible = jnp.where(cell >= 0, energy, 0.0)
    if sampling:
        f = jnp.asarray(geo.sampling_fraction, jnp.float32)[jnp.clip(layer, 0, geo.n_layers - 1)]
        if multiplicity is None:
            keep = jax.random.uniform(k_sample, energy.shape) < f
            visible = jnp.where(keep, visible / f, 0.0)
        else:
            m = jnp.asarray(multiplicity, jnp.float32)
            if m.shape != energy.shape:
                raise ValueError(
                    f"multiplicity must have the shape of energy {energy.shape}, got {m.shape}"
                )
            m = jnp.maximum(jnp.round(jnp.nan_to_num(m)), 1.0)
            kept = _binomial(k_sample, m, f)
            visible = visible * kept / (m * f)
    signal = (
        jnp.zeros(geo.n_cells, jnp.float32)
        .at[jnp.where(cell >= 0, cell, geo.n_cells)]
        .add(visible, mode="drop")
    )
    measured = add_noise(k_noise, geo, signal) if noise else signal
    return CellEnergies(
        measured,
        signal,
        jnp.sum(out).astype(jnp.int32),
        jnp.sum(jnp.where(out, energy, 0.0)),
    )


def _binomial(key, n, p):
    """Binomial(n, p) counts (float32): exact draws for ``n p < 10``, else the normal
    approximation with continuity correction, rounded and clipped to ``[0, n]``.

    ``jax.random.binomial`` is exact throughout but several times slower on CPU;
    at ``n p >= 10`` the normal approximation's error in the mean is below
    1e-3 relative and the variance is exact to ``O(1/(n p))``.
    """
    k_small, k_big = jax.random.split(key)
    small = n * p < 10.0
    exact = jax.random.binomial(k_small, jnp.where(small, n, 1.0), p)
    mean, sd = n * p, jnp.sqrt(n * p * (1.0 - p))
    approx = jnp.clip(jnp.round(mean + sd * jax.random.normal(k_big, n.shape)), 0.0, n)
    return jnp.where(small, exact, approx).astype(jnp.float32)
