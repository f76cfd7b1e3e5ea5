r"""Signal and sideband regions in the resonant mass, events, and signal injection.

A weakly supervised bump hunt (the LHC Olympics R&D protocol, Kasieczka et al.
2021, arXiv:2101.08320) splits the events by their resonant mass $m$ (the
dijet mass $m_{jj}$) into a signal region $\mathrm{SR} = [a, b]$ and
sidebands $\mathrm{SB} = \bigcup_i [a_i, b_i]$ around it. A template of the
background in the SR is learned from the sidebands, and a classifier of SR
data against the template finds a signal if there is one.
"""

import math

import equinox as eqx
import jax
import numpy as np
from jaxtyping import ArrayLike, Bool, Float, PRNGKeyArray


def _interval(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a (low, high) pair of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must have finite edges, got ({lo}, {hi})")
    if not lo < hi:
        raise ValueError(f"{name} is empty: its low edge {lo} is not below its high edge {hi}")
    return lo, hi


def _as_float(mass) -> np.ndarray:
    """The masses as a float array; the edges are compared in its precision (3.3 in float32
    is below 3.3 in float64, so a float32 mass of 3.3 must meet a float32 edge)."""
    m = np.asarray(mass)
    return m if np.issubdtype(m.dtype, np.floating) else m.astype(np.float64)


class Regions(eqx.Module):
    """The signal region and the sidebands, as half-open mass intervals ``[low, high)``.

    Attributes:
        signal: ``(low, high)`` of the signal region.
        sidebands: one or more ``(low, high)`` sideband intervals; no two
            intervals (signal region included) may overlap.

    Example:
        ```python
        import numpy as np
        from hepjax import anomaly

        regions = anomaly.Regions(signal=(3.3, 3.7), sidebands=((3.0, 3.3), (3.7, 4.6)))
        regions.in_signal(np.array([3.5, 3.2]))  # [True, False]
        ```
    """

    signal: tuple[float, float] = eqx.field(static=True)
    sidebands: tuple[tuple[float, float], ...] = eqx.field(static=True)

    def __init__(self, signal, sidebands):
        self.signal = _interval("signal", signal)
        try:
            bands = list(sidebands)
        except TypeError:
            raise TypeError(
                f"sidebands must be a sequence of (low, high) pairs, got {sidebands!r}"
            ) from None
        if bands and not isinstance(bands[0], list | tuple | np.ndarray):
            bands = [bands]  # one sideband given as a bare pair
        if not bands:
            raise ValueError("sidebands is empty: give at least one (low, high) interval")
        self.sidebands = tuple(_interval(f"sidebands[{i}]", b) for i, b in enumerate(bands))
        named = [("signal", self.signal)] + [
            (f"sidebands[{i}]", b) for i, b in enumerate(self.sidebands)
        ]
        for i, (name_a, (lo_a, hi_a)) in enumerate(named):
            for name_b, (lo_b, hi_b) in named[i + 1 :]:
                if lo_a < hi_b and lo_b < hi_a:
                    raise ValueError(
                        f"regions overlap: {name_a} [{lo_a}, {hi_a}) and {name_b} [{lo_b}, {hi_b})"
                    )

    def __str__(self) -> str:
        sb = " u ".join(f"[{lo:g}, {hi:g})" for lo, hi in self.sidebands)
        return f"SR [{self.signal[0]:g}, {self.signal[1]:g}), SB {sb}"

    def in_signal(self, mass: Float[ArrayLike, " n"]) -> Bool[np.ndarray, " n"]:
        """Whether each mass lies in the signal region."""
        m = _as_float(mass)
        lo, hi = (m.dtype.type(v) for v in self.signal)
        return (m >= lo) & (m < hi)

    def in_sidebands(self, mass: Float[ArrayLike, " n"]) -> Bool[np.ndarray, " n"]:
        """Whether each mass lies in one of the sidebands."""
        m = _as_float(mass)
        out = np.zeros(m.shape, bool)
        for lo, hi in self.sidebands:
            out |= (m >= m.dtype.type(lo)) & (m < m.dtype.type(hi))
        return out

    def contains(self, mass: Float[ArrayLike, " n"]) -> Bool[np.ndarray, " n"]:
        """Whether each mass lies in the signal region or a sideband."""
        return self.in_signal(mass) | self.in_sidebands(mass)

    def check(self, mass: Float[ArrayLike, " n"], name: str = "mass") -> None:
        """Raise a ``ValueError`` if a mass lies outside every region (or is not finite)."""
        m = _as_float(mass)
        outside = ~self.contains(m)
        if outside.any():
            bad = m[outside]
            raise ValueError(
                f"{int(outside.sum())} of {m.size} values of {name} lie outside every region "
                f"({self}), e.g. {bad[0]:g}; select the events first with regions.select(events)"
            )

    def select(self, events: "Events") -> "Events":
        """The events whose mass lies in the signal region or a sideband."""
        return events[self.contains(events.mass)]

    def split(self, events: "Events") -> tuple["Events", "Events"]:
        """``(signal-region events, sideband events)``; every mass must lie in a region.

        Raises:
            ValueError: a mass outside every region (select the events first).
        """
        self.check(events.mass, "events.mass")
        return events[self.in_signal(events.mass)], events[self.in_sidebands(events.mass)]


class Events(eqx.Module):
    """Events of a bump hunt: features, the resonant mass and the truth label (host arrays).

    Attributes:
        features: ``(n, d)`` float32 features (e.g. $m_{j1}$, $\\Delta m$, $\\tau_{21}$'s).
        mass: ``(n,)`` float32 resonant mass (e.g. $m_{jj}$ in TeV).
        is_signal: ``(n,)`` bool truth labels (all ``False`` for background).
    """

    features: np.ndarray
    mass: np.ndarray
    is_signal: np.ndarray

    def __init__(self, features, mass, is_signal=None):
        features = np.asarray(features, np.float32)
        if features.ndim == 1:
            features = features[:, None]
        if features.ndim != 2:
            raise ValueError(f"features must be (n, d), got shape {features.shape}")
        mass = np.asarray(mass, np.float32)
        if mass.shape != (features.shape[0],):
            raise ValueError(
                f"mass must have shape ({features.shape[0]},) like the rows of features, "
                f"got {mass.shape}"
            )
        if is_signal is None:
            is_signal = np.zeros(features.shape[0], bool)
        is_signal = np.asarray(is_signal)
        if is_signal.shape != mass.shape:
            raise ValueError(f"is_signal must have shape {mass.shape}, got {is_signal.shape}")
        self.features, self.mass, self.is_signal = features, mass, is_signal.astype(bool)

    def __len__(self) -> int:
        return int(self.mass.shape[0])

    def __getitem__(self, index) -> "Events":
        return Events(self.features[index], self.mass[index], self.is_signal[index])

    @staticmethod
    def concatenate(*parts: "Events") -> "Events":
        """The events of ``parts``, one after another."""
        return Events(
            np.concatenate([p.features for p in parts]),
            np.concatenate([p.mass for p in parts]),
            np.concatenate([p.is_signal for p in parts]),
        )


def inject_signal(key: PRNGKeyArray, background: Events, signal: Events, num_signal: int) -> Events:
    """Background plus ``num_signal`` signal events drawn without replacement, shuffled.

    The injection happens before any region cut, as in the LHCO R&D protocol
    (so the signal region receives the fraction of them that falls in it).

    Args:
        key: PRNG key; the choice of signal events and the order are pure functions of it.
        background: the background events.
        signal: the pool of signal events to draw from.
        num_signal: how many to inject (0 for background only).

    Returns:
        The mixed :class:`Events`, with ``is_signal`` marking the injected ones.

    Raises:
        ValueError: ``num_signal`` negative or larger than the pool, or features
            of different widths.
    """
    if isinstance(num_signal, bool) or not isinstance(num_signal, int | np.integer):
        raise TypeError(f"num_signal must be an int, got {type(num_signal).__name__}")
    if num_signal < 0:
        raise ValueError(f"num_signal must be >= 0, got {num_signal}")
    if num_signal > len(signal):
        raise ValueError(
            f"num_signal={num_signal} is more than the {len(signal)} signal events available"
        )
    if background.features.shape[1] != signal.features.shape[1]:
        raise ValueError(
            f"background and signal features differ in width: {background.features.shape[1]} "
            f"and {signal.features.shape[1]}"
        )
    k_pick, k_order = jax.random.split(key)
    pick = np.asarray(jax.random.permutation(k_pick, len(signal)))[:num_signal]
    chosen = signal[pick]
    chosen = Events(chosen.features, chosen.mass, np.ones(num_signal, bool))
    mixed = Events.concatenate(background, chosen)
    return mixed[np.asarray(jax.random.permutation(k_order, len(mixed)))]


def check_features(name: str, x: ArrayLike, width: int | None = None) -> np.ndarray:
    """``x`` as a finite ``(n, d)`` float32 array, or a ``ValueError`` naming ``name``.

    Rows with NaN or inf are counted in the message (drop them first, e.g.
    ``x[np.isfinite(x).all(1)]``): they are not dropped silently, since that
    would misalign the features with their masses and labels.
    """
    arr = np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (n, d), got shape {arr.shape}")
    if width is not None and arr.shape[1] != width:
        raise ValueError(f"{name} must have {width} features per row, got {arr.shape[1]}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} of {arr.shape[0]} rows with NaN or inf; drop them "
            f"first (e.g. x = x[np.isfinite(x).all(axis=1)], with their masses and labels)"
        )
    return arr


def check_mass(name: str, m: ArrayLike, n: int) -> np.ndarray:
    """``m`` as a finite ``(n,)`` float32 array, or a ``ValueError`` naming ``name``."""
    arr = np.asarray(m, np.float32)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has {int((~np.isfinite(arr)).sum())} NaN or inf values")
    return arr
