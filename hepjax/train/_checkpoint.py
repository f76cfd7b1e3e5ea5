"""Orbax checkpoints of the whole training state, written atomically.

A checkpoint holds the trainable parameters, the optimizer state, the EMA of
the parameters, the PRNG key (as raw ``uint32`` key data) and the step, plus a
JSON record with the loss history and the data stream's fingerprint. Orbax
writes each step into a temporary folder and renames it into place only when
complete, so a crash mid-save leaves the previous checkpoint as the latest
usable one.

Leaves are stored flat (``leaf_00000``, ...) and restored into the structure of
the freshly built state, so any pytree (Equinox modules, Flax NNX state, Optax
states) round-trips, and a checkpoint from a different model fails with a
message naming the first mismatching leaf.
"""

import os
import pathlib
import uuid
from typing import Any

import jax
import numpy as np


class CheckpointError(RuntimeError):
    """A checkpoint directory that cannot be written, read, or does not match the run."""


def _ocp():
    import orbax.checkpoint as ocp

    return ocp


def _check_writable(directory: pathlib.Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"checkpoint_dir {directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise CheckpointError(f"checkpoint_dir {directory} is not writable: {err}") from err


class Checkpointer:
    """Save and restore training states in ``directory`` every ``every`` steps.

    Args:
        directory: the checkpoint folder (created if missing).
        every: save when ``step % every == 0`` (and always at the end).
        keep: how many recent checkpoints to keep.
    """

    def __init__(self, directory: str | os.PathLike, *, every: int, keep: int = 3):
        self.directory = pathlib.Path(directory).absolute()
        _check_writable(self.directory)
        if every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {every}")
        if keep < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {keep}")
        self.every = every
        ocp = _ocp()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            create=True,
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,
        )
        try:
            self.manager = ocp.CheckpointManager(self.directory, options=options)
        except Exception as err:  # orbax raises many types for unreadable folders
            raise CheckpointError(f"checkpoint_dir {self.directory} is unusable: {err}") from err

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, record: dict) -> None:
        """Write ``state`` (a pytree of arrays) and a JSON ``record`` for ``step``.

        Args:
            step: the training step the checkpoint is saved at (Orbax files it under this number).
            state: a pytree of arrays: model, optimiser and EMA state.
            record: JSON-serialisable metadata saved beside it (e.g. the data stream's position and
                the loss history).
        """
        ocp = _ocp()
        leaves = [np.asarray(x) for x in jax.tree.leaves(state)]
        arrays = {f"leaf_{i:05d}": x for i, x in enumerate(leaves)}
        try:
            self.manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(arrays), record=ocp.args.JsonSave(record)
                ),
                force=True,
            )
            self.manager.wait_until_finished()
        except Exception as err:  # a failed save leaves only a temporary folder behind
            raise CheckpointError(
                f"could not write checkpoint {step} to {self.directory}: {err}"
            ) from err

    def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict, int]:
        """Restore the latest (or given) step into the structure of ``template``."""
        ocp = _ocp()
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint found in {self.directory}")
        leaves, treedef = jax.tree.flatten(template)
        target = {
            f"leaf_{i:05d}": jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype)
            for i, x in enumerate(leaves)
        }
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(), record=ocp.args.JsonRestore()
                ),
            )
            arrays, record = restored["state"], restored["record"]
        except Exception as err:
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} is corrupted or unreadable: "
                f"{type(err).__name__}: {err}"
            ) from err
        if set(arrays) != set(target):
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} has {len(arrays)} arrays but this "
                f"run's state has {len(target)}: it was written by a different model or optimizer"
            )
        out = []
        for name, want in target.items():
            got = np.asarray(arrays[name])
            if got.shape != want.shape or got.dtype != want.dtype:
                raise CheckpointError(
                    f"checkpoint {step} in {self.directory}: {name} has shape {got.shape} "
                    f"{got.dtype}, this run expects {want.shape} {want.dtype}"
                )
            out.append(got)
        return jax.tree.unflatten(treedef, out), record, step

    def close(self) -> None:
        self.manager.close()
