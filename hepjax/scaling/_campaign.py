r"""Resumable sweep campaigns: one HDF5 file per trained cell, and a learning-rate transfer law.

A scaling grid trains one model per cell (a model size and a data size). Each
finished cell is written atomically to ``out/cell-<name>.h5`` (a temporary
file renamed into place) with its settings, the loss curve against examples
seen, the compute and the learning rate, so a rerun skips the cells already
on disk and an interrupted campaign loses at most the cells in flight. The
cells run on any :class:`concurrent.futures.Executor` (a Dask cluster's
``client.get_executor()`` too); the parent process writes the files.

The learning rate must be tuned per cell or the fitted exponents are biased
(the issue's note; Kaplan et al., arXiv:2001.08361, sec. 6). Instead of a
search in every cell, a power law in the width and the number of steps,

.. math::
    \log\eta^* = c + p\log d + q\log S,

is fitted to the best learning rates of a few tuned cells
(:func:`fit_lr_law`) and predicts the rest (the width transfer of
muP-style parametrisations, Yang et al., arXiv:2203.03466, and the step
dependence of DeepSeek's fits, arXiv:2401.02954).
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

CELL_FIELDS = ("examples", "losses")


@dataclasses.dataclass(frozen=True)
class CellResult:
    """One trained cell of a campaign.

    Attributes:
        settings: the cell's settings (JSON-serialisable), as given to ``train_cell``.
        num_params: the model's parameter count $N$.
        examples: examples seen at each point of the loss curve.
        losses: the validation loss at each point.
        flops_per_example: training FLOPs per example (:func:`transformer_flops`).
        learning_rate: the learning rate used.
    """

    settings: dict
    num_params: int
    examples: np.ndarray
    losses: np.ndarray
    flops_per_example: float
    learning_rate: float

    @property
    def compute(self) -> np.ndarray:
        """Training compute at each curve point, ``flops_per_example * examples``."""
        return self.flops_per_example * self.examples

    @property
    def final_loss(self) -> float:
        """The loss at the end of training."""
        return float(self.losses[-1])


@dataclasses.dataclass(frozen=True)
class CampaignResult:
    """All cells of a campaign (:func:`run_campaign`).

    Attributes:
        cells: one :class:`CellResult` per requested cell, in order.
        trained: how many cells this call trained (the rest were read from disk).
    """

    cells: list[CellResult]
    trained: int

    def final(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(N, D, loss)`` at the end of each cell's training (for :func:`fit_parametric`)."""
        n = np.array([c.num_params for c in self.cells], np.float64)
        d = np.array([c.examples[-1] for c in self.cells], np.float64)
        return n, d, np.array([c.final_loss for c in self.cells])

    def curve_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(N, D, loss)`` of every curve point of every cell (for the approaches 1 and 2)."""
        n = np.concatenate([np.full(c.examples.size, c.num_params, float) for c in self.cells])
        d = np.concatenate([c.examples for c in self.cells]).astype(np.float64)
        return n, d, np.concatenate([c.losses for c in self.cells])


def cell_name(settings: dict) -> str:
    """A short stable name for a cell from its settings (a hash of their sorted JSON)."""
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write(path: pathlib.Path, cell: CellResult) -> None:
    import h5py

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["settings"] = json.dumps(cell.settings, sort_keys=True)
        f.attrs["num_params"] = cell.num_params
        f.attrs["flops_per_example"] = cell.flops_per_example
        f.attrs["learning_rate"] = cell.learning_rate
        f.create_dataset("examples", data=np.asarray(cell.examples, np.float64))
        f.create_dataset("losses", data=np.asarray(cell.losses, np.float64))
    os.replace(tmp, path)


def _read(path: pathlib.Path) -> CellResult:
    import h5py

    with h5py.File(path, "r") as f:
        return CellResult(
            settings=json.loads(f.attrs["settings"]),
            num_params=int(f.attrs["num_params"]),
            examples=np.asarray(f["examples"]),
            losses=np.asarray(f["losses"]),
            flops_per_example=float(f.attrs["flops_per_example"]),
            learning_rate=float(f.attrs["learning_rate"]),
        )


def _as_cell(settings: dict, out: Any) -> CellResult:
    if isinstance(out, CellResult):
        return dataclasses.replace(out, settings=settings)
    if not isinstance(out, dict):
        raise TypeError(f"train_cell must return a dict or CellResult, got {type(out).__name__}")
    missing = {"num_params", "examples", "losses", "flops_per_example", "learning_rate"} - set(out)
    if missing:
        raise ValueError(f"train_cell's result misses {sorted(missing)}")
    examples = np.asarray(out["examples"], np.float64)
    losses = np.asarray(out["losses"], np.float64)
    if examples.ndim != 1 or examples.shape != losses.shape or examples.size == 0:
        raise ValueError(
            f"examples and losses must be 1-D of equal, non-zero length, got "
            f"{examples.shape} and {losses.shape}"
        )
    return CellResult(
        settings=settings,
        num_params=int(out["num_params"]),
        examples=examples,
        losses=losses,
        flops_per_example=float(out["flops_per_example"]),
        learning_rate=float(out["learning_rate"]),
    )


def run_campaign(
    train_cell: Callable[[dict], dict],
    cells: Sequence[dict],
    out: str | os.PathLike,
    *,
    executor: concurrent.futures.Executor | None = None,
) -> CampaignResult:
    """Train every cell not yet on disk; return all cells.

    Args:
        train_cell: ``train_cell(settings) -> dict`` with ``num_params``,
            ``examples``, ``losses`` (the curve), ``flops_per_example`` and
            ``learning_rate`` (or a :class:`CellResult`). With a process
            executor it must be picklable (a module-level function).
        cells: the settings of each cell (JSON-serialisable dicts, distinct).
        out: the campaign folder (created); one ``cell-<hash>.h5`` per cell.
        executor: runs the cells (default: one after the other in this process).

    Returns:
        A :class:`CampaignResult` with the cells in the order given.

    Raises:
        ValueError: duplicate cells, or a file on disk whose settings differ.
    """
    cells = [dict(c) for c in cells]
    if not cells:
        raise ValueError("cells must name at least one cell")
    names = [cell_name(c) for c in cells]
    if len(set(names)) != len(names):
        raise ValueError("cells must be distinct (two have the same settings)")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"cell-{name}.h5" for name in names]
    todo = [i for i, p in enumerate(paths) if not p.exists()]
    if executor is None:
        for i in todo:
            _write(paths[i], _as_cell(cells[i], train_cell(cells[i])))
    else:
        futures = {executor.submit(train_cell, cells[i]): i for i in todo}
        for future in concurrent.futures.as_completed(futures):
            i = futures[future]
            _write(paths[i], _as_cell(cells[i], future.result()))
    results = []
    for settings, path in zip(cells, paths, strict=True):
        cell = _read(path)
        if cell.settings != json.loads(json.dumps(settings, sort_keys=True)):
            raise ValueError(f"out: {path} holds settings {cell.settings}, expected {settings}")
        results.append(cell)
    return CampaignResult(cells=results, trained=len(todo))


@dataclasses.dataclass(frozen=True)
class LearningRateLaw:
    r"""The transfer law $\eta^*(d, S) = e^{c} d^{p} S^{q}$ (:func:`fit_lr_law`).

    Attributes:
        c: the log-prefactor.
        p: the exponent of the width $d$.
        q: the exponent of the number of steps $S$.
    """

    c: float
    p: float
    q: float

    def __call__(self, hidden_size: Any, num_steps: Any) -> Any:
        """The predicted best learning rate for a width and a number of steps."""
        d, s = np.asarray(hidden_size, np.float64), np.asarray(num_steps, np.float64)
        return np.exp(self.c + self.p * np.log(d) + self.q * np.log(s))


def fit_lr_law(hidden_size: Any, num_steps: Any, learning_rate: Any) -> LearningRateLaw:
    r"""Least-squares fit of $\log\eta^* = c + p\log d + q\log S$ to tuned cells.

    Args:
        hidden_size: the width $d$ of each tuned cell.
        num_steps: its number of training steps $S$.
        learning_rate: its best learning rate $\eta^*$ (from a scan).

    Returns:
        A :class:`LearningRateLaw`; with a single width or step count its
        exponent is 0 (the law cannot see it).
    """
    d, s, lr = (np.asarray(v, np.float64) for v in (hidden_size, num_steps, learning_rate))
    if not (d.ndim == s.ndim == lr.ndim == 1 and d.size == s.size == lr.size):
        raise ValueError("hidden_size, num_steps and learning_rate must be 1-D of equal length")
    if d.size < 2:
        raise ValueError(f"the law needs at least 2 tuned cells, got {d.size}")
    if np.any(d <= 0) or np.any(s <= 0) or np.any(lr <= 0):
        raise ValueError("hidden_size, num_steps and learning_rate must be positive")
    columns = [np.ones_like(d)]
    varied = [np.ptp(np.log(d)) > 0, np.ptp(np.log(s)) > 0]
    for x, used in zip((d, s), varied, strict=True):
        if used:
            columns.append(np.log(x))
    coef, *_ = np.linalg.lstsq(np.stack(columns, 1), np.log(lr), rcond=None)
    coef = list(coef)
    c = coef.pop(0)
    p = coef.pop(0) if varied[0] else 0.0
    q = coef.pop(0) if varied[1] else 0.0
    return LearningRateLaw(float(c), float(p), float(q))
