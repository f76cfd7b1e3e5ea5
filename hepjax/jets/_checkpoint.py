"""Backbone checkpoints through Orbax (via :class:`hepjax.train.Checkpointer`).

A checkpoint folder holds the backbone's arrays (an Orbax step written
atomically by :class:`hepjax.train.Checkpointer`) and ``backbone.json``: the
architecture's class name and constructor configuration (``config()``). To
load, the architecture is rebuilt from that file (or checked against a
``like=`` template) and the arrays are restored into it, so a checkpoint of
another architecture fails with a message that names both.
"""

import json
import os
import pathlib
from typing import Any

import equinox as eqx
import jax

from hepjax import nn, train
from hepjax._core import write_json

_ARCHITECTURES = {"ParticleTransformer": nn.ParticleTransformer}


def _describe(backbone: Any) -> dict:
    if not hasattr(backbone, "config"):
        raise TypeError(
            f"backbone {type(backbone).__name__} has no config(); only backbones that can be "
            "rebuilt from their configuration (e.g. hepjax.nn.ParticleTransformer) are saved"
        )
    return {"architecture": type(backbone).__name__, "config": backbone.config()}


def save_backbone(path: str | os.PathLike, backbone: Any) -> pathlib.Path:
    """Write ``backbone`` (e.g. ``pretrain(...).backbone``) to the folder ``path``.

    Saving into a folder that already holds a backbone replaces it: the new one is
    written as the next checkpoint step and the old one is dropped (``keep=1``).
    """
    path = pathlib.Path(path)
    meta = _describe(backbone)
    ckpt = train.Checkpointer(path / "arrays", every=1, keep=1)
    try:
        last = ckpt.latest_step()
        ckpt.save(0 if last is None else last + 1, eqx.filter(backbone, eqx.is_array), meta)
    finally:
        ckpt.close()
    write_json(path / "backbone.json", meta)
    return path


def load_backbone(path: str | os.PathLike, *, like: Any = None) -> Any:
    """Read a backbone written by :func:`save_backbone`.

    Args:
        path: the checkpoint folder.
        like: an optional backbone of the expected architecture; a checkpoint
            of another architecture or configuration raises ``ValueError``.
    """
    path = pathlib.Path(path)
    meta_file = path / "backbone.json"
    if not meta_file.exists():
        raise FileNotFoundError(f"{path} is not a backbone checkpoint (no backbone.json)")
    meta = json.loads(meta_file.read_text())
    name, config = meta.get("architecture"), meta.get("config", {})
    if like is not None:
        want = _describe(like)
        if want["architecture"] != name or want["config"] != config:
            raise ValueError(
                f"the checkpoint in {path} holds a {name} with {config}, but like= is a "
                f"{want['architecture']} with {want['config']}: another architecture"
            )
        template = like
    else:
        if name not in _ARCHITECTURES:
            raise ValueError(
                f"the checkpoint in {path} holds an unknown architecture {name!r}; pass like="
            )
        template = _ARCHITECTURES[name](**config, key=jax.random.key(0))
    params, static = eqx.partition(template, eqx.is_array)
    ckpt = train.Checkpointer(path / "arrays", every=1, keep=1)
    try:
        restored, _, _ = ckpt.restore(params)
    except train.CheckpointError as err:
        raise ValueError(f"the checkpoint in {path} does not fit a {name}: {err}") from err
    finally:
        ckpt.close()
    restored = jax.tree.map(lambda a: jax.numpy.asarray(a), restored)
    return eqx.combine(restored, static)
