"""The HDF5 campaign log of a design optimisation: every simulated design, resumable.

Layout of the file (one per run; rewritten to a temporary name and renamed
into place after every step, so it is never half-written):

* attributes ``config`` (JSON: the optimiser, its settings and the space) and
  ``steps_done``;
* ``designs (N, p)``, ``design_step (N,)``, ``design_valid (N,)``: every design
  simulated, the step that simulated it, and whether its outputs were finite;
* ``outputs (M, d)`` with ``output_design (M,)``: every simulator output and the
  row of ``designs`` it belongs to (an optimiser that does not see the outputs,
  such as a gradient estimator, logs designs without outputs);
* ``path (K+1, p)``, ``objective (K,)``, ``simulations (K,)``: the design at
  each step, the objective measured there and the cumulative simulator calls;
* ``state/<i>``: the leaves of the optimiser's state (the optax state, the
  surrogate's weights, the standardisation), restored by :meth:`CampaignLog.load`
  into a template of the same structure.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import equinox as eqx
import jax
import numpy as np

__all__ = ["CampaignLog"]


class CampaignLog:
    """Read and write a campaign's HDF5 log (module docstring).

    Args:
        path: the ``.h5`` file.
        config: a JSON-able dict describing the run; resuming a log written
            with another configuration raises ``ValueError``.
    """

    def __init__(self, path: str | os.PathLike, config: dict):
        self.path = pathlib.Path(path)
        self.config = json.loads(json.dumps(config))

    def exists(self) -> bool:
        """Whether the log file is there."""
        return self.path.exists()

    def save(self, history: dict[str, Any], state: Any) -> None:
        """Write ``history`` (the arrays of the module docstring) and ``state`` atomically."""
        import h5py

        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        leaves = jax.tree.leaves(eqx.filter(state, eqx.is_array))
        with h5py.File(tmp, "w") as f:
            f.attrs["config"] = json.dumps(self.config, sort_keys=True)
            f.attrs["steps_done"] = len(history["objective"])
            for name, value in history.items():
                f.create_dataset(name, data=np.asarray(value))
            group = f.create_group("state")
            for i, leaf in enumerate(leaves):
                group.create_dataset(str(i), data=np.asarray(leaf))
        os.replace(tmp, self.path)

    def load(self, state_template: Any) -> tuple[dict[str, np.ndarray], Any]:
        """``(history, state)`` from the file; ``state`` takes ``state_template``'s structure.

        Args:
            state_template: a state of the same structure (its values are replaced).

        Raises:
            ValueError: the log was written by a run with another configuration,
                or its state does not fit the template.
        """
        import h5py

        with h5py.File(self.path, "r") as f:
            found = json.loads(f.attrs["config"])
            if found != json.loads(json.dumps(self.config, sort_keys=True)):
                diff = sorted(
                    k for k in set(found) | set(self.config) if found.get(k) != self.config.get(k)
                )
                raise ValueError(
                    f"the campaign log {self.path} was written with another configuration "
                    f"(differs in {diff}); use a new log file to start afresh"
                )
            history = {name: np.asarray(f[name]) for name in f if name != "state"}
            stored = [np.asarray(f["state"][str(i)]) for i in range(len(f["state"]))]
        arrays, static = eqx.partition(state_template, eqx.is_array)
        leaves, treedef = jax.tree.flatten(arrays)
        if len(stored) != len(leaves) or any(
            np.shape(a) != np.shape(b) for a, b in zip(stored, leaves, strict=True)
        ):
            raise ValueError(f"the state in {self.path} does not fit this optimiser's state")
        arrays = jax.tree.unflatten(
            treedef,
            [
                jax.numpy.asarray(a, np.asarray(b).dtype)
                for a, b in zip(stored, leaves, strict=True)
            ],
        )
        return history, eqx.combine(arrays, static)
