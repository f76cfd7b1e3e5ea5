"""Training of the estimators through :func:`hepjax.train.fit`, with a validation
split and early stopping on the validation loss."""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..data import Batches
from ..train import fit as train_fit


class _Stop(Exception):
    """Raised by the early-stopping callback to end :func:`hepjax.train.fit`."""


def check_training_options(
    *,
    batch_size,
    learning_rate,
    max_steps,
    validation_fraction,
    patience,
) -> None:
    for name, value in (
        ("batch_size", batch_size),
        ("max_steps", max_steps),
        ("patience", patience),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not (isinstance(learning_rate, float | int) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")


@dataclasses.dataclass
class _EarlyStopping:
    val_fn: object
    every: int
    patience: int
    best: float = math.inf
    best_model: object = None
    best_step: int = 0
    bad: int = 0
    history: list = dataclasses.field(default_factory=list)

    def __call__(self, info):
        value = float(self.val_fn(info.model))
        self.history.append((info.step, info.loss, value))
        if value < self.best:
            self.best, self.best_step, self.bad = value, info.step, 0
            self.best_model = jax.tree.map(
                lambda a: jnp.copy(a) if eqx.is_array(a) else a, info.model
            )
        else:
            self.bad += 1
            if self.bad >= self.patience:
                raise _Stop
        return {"val_loss": value}


@eqx.filter_jit
def _evaluate(loss_fn, model, data, key):
    return loss_fn(model, data, key=key)


def train(
    key,
    model,
    loss_fn,
    data: dict,
    *,
    batch_size: int,
    learning_rate: float,
    max_steps: int,
    validation_fraction: float,
    patience: int,
    clip_norm: float | None,
    progress: bool | None,
):
    """Train ``model`` on ``data`` (dict of ``(n, ...)`` arrays) with early stopping.

    ``loss_fn(model, batch, *, key)`` is the mean loss of a batch. A fraction of
    the rows is held out; its loss (with a fixed key) is evaluated once per
    epoch, training stops after ``patience`` epochs without improvement, and
    the model of the best epoch is returned with the history.
    """
    n = next(iter(data.values())).shape[0]
    n_val = max(1, round(validation_fraction * n))
    if n - n_val < 2:
        raise ValueError(
            f"need at least {n_val + 2} simulations (after dropping bad rows) to train with "
            f"validation_fraction={validation_fraction}, got {n}"
        )
    k_split, k_batches, k_val, k_fit = jax.random.split(key, 4)
    perm = np.asarray(jax.random.permutation(k_split, n))
    val = {k: jnp.asarray(v[perm[:n_val]]) for k, v in data.items()}
    tr = {k: v[perm[n_val:]] for k, v in data.items()}
    batch_size = min(batch_size, n - n_val)
    batches = Batches(tr, batch_size, key=k_batches)
    steps_per_epoch = max(1, (n - n_val) // batch_size)

    stopper = _EarlyStopping(
        val_fn=lambda m: _evaluate(loss_fn, m, val, k_val), every=steps_per_epoch, patience=patience
    )
    try:
        result = train_fit(
            model,
            loss_fn,
            optax.adam(learning_rate),
            batches,
            steps=max_steps,
            key=k_fit,
            clip_norm=clip_norm,
            callbacks=[stopper],
            progress=progress,
        )
        stopped_early = False
        if stopper.best_model is None:  # no evaluation happened
            stopper.best_model = result.model
    except _Stop:
        stopped_early = True
    steps, train_loss, val_loss = (
        zip(*stopper.history, strict=True) if stopper.history else ((), (), ())
    )
    history = {
        "step": list(steps),
        "train_loss": list(train_loss),
        "val_loss": list(val_loss),
        "best_step": stopper.best_step,
        "best_val_loss": stopper.best,
        "stopped_early": stopped_early,
        "num_train": n - n_val,
        "num_val": n_val,
    }
    return stopper.best_model, history
