"""Callbacks: what the training loop calls between steps."""

import dataclasses
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any


class StepInfo:
    """What a callback sees after a step. ``model`` and ``ema_model`` are rebuilt lazily.

    The arrays are valid during the callback only: the next training step
    donates their buffers to XLA (halving the memory the state needs). Convert
    what you keep to NumPy, or copy it with ``jax.tree.map(jnp.copy, ...)``.
    """

    def __init__(self, step: int, loss: float, params, ema, rebuild, started: float):
        """Built by :func:`~hepjax.train.fit` after each step; callbacks only read it.

        Args:
            step: the number of optimiser steps taken so far.
            loss: the training loss of the last step.
            params: the trainable parameters after the step (rebuilt into ``model`` on access).
            ema: the EMA parameters, or ``None`` without EMA (rebuilt into ``ema_model``).
            rebuild: ``rebuild(params) -> model``, combining parameters with the static part.
            started: the ``time.perf_counter()`` at the start of training (for ``elapsed``).
        """
        self.step = step
        self.loss = loss
        self._params = params
        self._ema = ema
        self._rebuild = rebuild
        self.elapsed = time.perf_counter() - started

    @cached_property
    def model(self) -> Any:
        return self._rebuild(self._params)

    @cached_property
    def ema_model(self) -> Any:
        return None if self._ema is None else self._rebuild(self._ema)


@dataclasses.dataclass
class Evaluate:
    """Call ``fn(model) -> dict[str, float]`` every ``every`` steps and log the result.

    Args:
        fn: evaluation on a model (e.g. validation loss, accuracy, AUC).
        every: how often, in steps; the final step is always evaluated.
        use_ema: evaluate the EMA weights (requires ``ema_decay`` in ``fit``).
        prefix: prepended to each metric name, e.g. ``"val_"``.
    """

    fn: Callable[[Any], dict]
    every: int = 100
    use_ema: bool = False
    prefix: str = ""

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")

    def __call__(self, info: StepInfo) -> dict[str, float] | None:
        model = info.ema_model if self.use_ema else info.model
        if model is None:
            raise ValueError("Evaluate(use_ema=True) needs fit(..., ema_decay=...)")
        metrics = self.fn(model)
        if not isinstance(metrics, dict):
            raise TypeError(f"evaluation function must return a dict, got {type(metrics).__name__}")
        return {f"{self.prefix}{k}": float(v) for k, v in metrics.items()}


def due(callback: Any, step: int, final: bool) -> bool:
    """Whether ``callback`` runs after ``step`` (its ``every``, default each step)."""
    every = getattr(callback, "every", 1)
    return final or step % every == 0
