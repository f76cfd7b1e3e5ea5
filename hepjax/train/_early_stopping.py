r"""Early stopping on a held-out loss, keeping the best model.

Every ``every`` optimizer steps (and after the last one) the loss of the
validation set is computed in one compiled call,

.. math::
    v_j = \mathcal L(\theta_{s_j}; D_{\mathrm{val}}, k_{\mathrm{val}}),

with a fixed key $k_{\mathrm{val}}$ so that a stochastic loss (flow matching,
contrastive ratio estimation) is compared on the same draws each time. The
parameters with the lowest $v_j$ are kept; training stops once ``patience``
evaluations in a row have not improved on the best by more than ``min_delta``
(Prechelt 1998, "Early stopping — but when?").
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._core import check_positive, check_positive_int


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """Stop when the validation loss stops improving, and return the best model.

    Args:
        data: the validation set as one batch (a pytree of arrays with a
            leading example axis), evaluated whole in one compiled call.
        patience: evaluations without an improvement before training stops.
        every: optimizer steps between evaluations (an epoch, typically); the
            last step is always evaluated.
        min_delta: an evaluation improves only if it is below the best so far
            by more than this.
        loss_fn: ``loss_fn(model, batch[, *, key]) -> scalar`` for validation
            (default: the training loss).
        key: the fixed PRNG key given to a stochastic validation loss
            (default: ``jax.random.key(0)``).

    Example:
        ```python notest
        stop = EarlyStopping(val_batch, patience=20, every=len(train) // batch_size)
        result = fit(model, loss, optax.adam(1e-3), batches, steps=20_000, key=key,
                     early_stopping=stop, steps_per_call=stop.every)
        result.model, result.best_step
        ```
    """

    data: Any
    patience: int = 20
    every: int = 1
    min_delta: float = 0.0
    loss_fn: Callable[..., Any] | None = None
    key: Any = None

    def __post_init__(self):
        check_positive_int("patience", self.patience)
        check_positive_int("every", self.every)
        check_positive("min_delta", self.min_delta, allow_zero=True)
        leaves = jax.tree.leaves(self.data)
        if not leaves or any(np.ndim(x) == 0 for x in leaves):
            raise ValueError(
                "EarlyStopping data must be a batch: a pytree of arrays with a leading example axis"
            )


class _Tracker:
    """Evaluates the validation loss, keeps the best parameters and decides when to stop."""

    def __init__(self, rule: EarlyStopping, loss_fn, rebuild, pass_key, place):
        self.rule = rule
        key = rule.key if rule.key is not None else jax.random.key(0)
        fn = rule.loss_fn if rule.loss_fn is not None else loss_fn
        data = place(jax.tree.map(jnp.asarray, rule.data))
        self._evaluate = jax.jit(
            lambda p: fn(rebuild(p), data, key=key) if pass_key else fn(rebuild(p), data)
        )
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.best = math.inf
        self.best_step: int | None = None
        self.best_params = None
        self.bad = 0

    def due(self, step: int, final: bool) -> bool:
        return final or step % self.rule.every == 0

    def __call__(self, step: int, params) -> bool:
        """Evaluate after ``step``; returns whether training should stop."""
        value = float(self._evaluate(params))
        self.steps.append(step)
        self.losses.append(value)
        if value < self.best - self.rule.min_delta:
            self.best, self.best_step, self.bad = value, step, 0
            self.best_params = jax.tree.map(jnp.copy, params)  # the next step donates params
            return False
        self.bad += 1
        return self.bad >= self.rule.patience

    def state(self) -> dict:
        """What a checkpoint records to resume the stopping rule exactly."""
        return {
            "steps": self.steps,
            "losses": self.losses,
            "best": None if math.isinf(self.best) else self.best,
            "best_step": self.best_step,
            "bad": self.bad,
        }

    def restore(self, record: dict, best_params) -> None:
        self.steps, self.losses = list(record["steps"]), list(record["losses"])
        self.best = math.inf if record["best"] is None else record["best"]
        self.best_step, self.bad = record["best_step"], record["bad"]
        self.best_params = best_params if self.best_step is not None else None
