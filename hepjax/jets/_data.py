r"""Containers of jets and events for pre-training and fine-tuning, with their checks.

A jet is a padded set of particles: features ``x: (n, f)``, four-momenta
``four_momenta: (n, 4)`` as $(E, p_x, p_y, p_z)$ and ``mask: (n,)``. An
event is a padded set of jets. These containers hold many of them as host
NumPy arrays (they are data, not traced values) and check them once, on
construction, with messages that name the argument.
"""

import dataclasses

import numpy as np


def _float(name: str, value, ndim: int, last: int | None = None) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {a.dtype}")
    if last is not None and a.shape[-1] != last:
        raise ValueError(f"{name} must have {last} entries on its last axis, got shape {a.shape}")
    return a.astype(np.float32, copy=False)


def _mask(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(value)
    if m.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (one entry per particle), got {m.shape}")
    if m.dtype != bool:
        raise TypeError(f"{name} must be a boolean array, got dtype {m.dtype}")
    return m


def _labels(value, size: int) -> np.ndarray:
    y = np.asarray(value)
    if y.shape != (size,):
        raise ValueError(f"labels must have shape ({size},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {y.dtype}")
    if size and y.min() < 0:
        raise ValueError(f"labels must be non-negative class indices, got {y.min()}")
    return y.astype(np.int32, copy=False)


def check_labels(labels: np.ndarray | None, num_classes: int) -> None:
    """Labels present and inside ``[0, num_classes)``."""
    if labels is None:
        raise ValueError("labelled data needs labels (got labels=None)")
    if labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"labels must be in [0, num_classes) = [0, {num_classes}), got a label {labels.max()}"
        )


@dataclasses.dataclass(frozen=True)
class Jets:
    """Padded jets: ``x (N, n, f)``, ``four_momenta (N, n, 4)``, ``mask (N, n)``.

    Attributes:
        x: per-particle features (e.g. $\\Delta\\eta$, $\\Delta\\phi$, $\\log p_T$).
        four_momenta: $(E, p_x, p_y, p_z)$ per particle, for the pair features.
        mask: ``True`` for real particles; every jet needs at least one.
        labels: class index per jet ``(N,)`` (``None`` for unlabelled pools).
        identity: particle-identity class per particle ``(N, n)`` (e.g. charged
            hadron, neutral hadron, photon, electron, muon), for the
            identity cross-entropy of :class:`MaskedFeatures`; optional.
    """

    x: np.ndarray
    four_momenta: np.ndarray
    mask: np.ndarray
    labels: np.ndarray | None = None
    identity: np.ndarray | None = None

    def __post_init__(self):
        x = _float("x", self.x, 3)
        num, n = x.shape[:2]
        p4 = _float("four_momenta", self.four_momenta, 3, 4)
        if p4.shape[:2] != (num, n):
            raise ValueError(f"four_momenta must have shape ({num}, {n}, 4), got {p4.shape}")
        mask = _mask("mask", self.mask, (num, n))
        empty = np.flatnonzero(~mask.any(axis=1))
        if empty.size:
            raise ValueError(
                f"mask: {empty.size} jet(s) have no real particles (first: jet {empty[0]}); "
                "every jet needs at least one"
            )
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "four_momenta", p4)
        object.__setattr__(self, "mask", mask)
        if self.labels is not None:
            object.__setattr__(self, "labels", _labels(self.labels, num))
        if self.identity is not None:
            ident = np.asarray(self.identity)
            if ident.shape != (num, n) or not np.issubdtype(ident.dtype, np.integer):
                raise ValueError(
                    f"identity must be integers of shape ({num}, {n}), got {ident.shape} "
                    f"{ident.dtype}"
                )
            object.__setattr__(self, "identity", ident.astype(np.int32, copy=False))

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_features(self) -> int:
        return self.x.shape[2]

    def subset(self, index) -> "Jets":
        """The jets at ``index`` (an index array, a slice or a boolean mask)."""
        pick = lambda a: None if a is None else a[index]
        return Jets(
            self.x[index],
            self.four_momenta[index],
            self.mask[index],
            pick(self.labels),
            pick(self.identity),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields as a dict (those that are present), for ``hepjax.data.ArrayDataset``."""
        out = {"x": self.x, "four_momenta": self.four_momenta, "mask": self.mask}
        if self.labels is not None:
            out["labels"] = self.labels
        if self.identity is not None:
            out["identity"] = self.identity
        return out


@dataclasses.dataclass(frozen=True)
class Events:
    """Padded events of padded jets: ``x (N, J, n, f)``, ``jet_mask (N, J)``.

    Attributes:
        x: per-particle features of every jet.
        four_momenta: $(E, p_x, p_y, p_z)$ per particle, ``(N, J, n, 4)``.
        mask: real particles ``(N, J, n)``; every real jet needs one.
        jet_mask: real jets ``(N, J)``; every event needs one.
        labels: class index per event ``(N,)``.
        high_level: per-jet high-level features ``(N, J, k)`` (e.g. mass and
            $p_T$), for the representations with high-level features; optional.
    """

    x: np.ndarray
    four_momenta: np.ndarray
    mask: np.ndarray
    jet_mask: np.ndarray
    labels: np.ndarray | None = None
    high_level: np.ndarray | None = None

    def __post_init__(self):
        x = _float("x", self.x, 4)
        num, j, n = x.shape[:3]
        p4 = _float("four_momenta", self.four_momenta, 4, 4)
        if p4.shape[:3] != (num, j, n):
            raise ValueError(f"four_momenta must have shape ({num}, {j}, {n}, 4), got {p4.shape}")
        mask = _mask("mask", self.mask, (num, j, n))
        jet_mask = _mask("jet_mask", self.jet_mask, (num, j))
        if (~jet_mask.any(axis=1)).any():
            raise ValueError("jet_mask: some events have no real jets; every event needs one")
        if (jet_mask & ~mask.any(axis=2)).any():
            raise ValueError("mask: some real jets (jet_mask true) have no real particles")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "four_momenta", p4)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "jet_mask", jet_mask)
        if self.labels is not None:
            object.__setattr__(self, "labels", _labels(self.labels, num))
        if self.high_level is not None:
            hl = _float("high_level", self.high_level, 3)
            if hl.shape[:2] != (num, j):
                raise ValueError(f"high_level must have shape ({num}, {j}, k), got {hl.shape}")
            object.__setattr__(self, "high_level", hl)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_features(self) -> int:
        return self.x.shape[3]

    def subset(self, index) -> "Events":
        """The events at ``index``."""
        pick = lambda a: None if a is None else a[index]
        return Events(
            self.x[index],
            self.four_momenta[index],
            self.mask[index],
            self.jet_mask[index],
            pick(self.labels),
            pick(self.high_level),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "x": self.x,
            "four_momenta": self.four_momenta,
            "mask": self.mask,
            "jet_mask": self.jet_mask,
        }
        if self.labels is not None:
            out["labels"] = self.labels
        if self.high_level is not None:
            out["high_level"] = self.high_level
        return out


def check_data(data, name: str, kinds=(Jets,)) -> None:
    if not isinstance(data, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"{name} must be hepjax.jets.{names}, got {type(data).__name__}")
