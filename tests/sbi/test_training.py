"""The estimators' training run: a validation split, hepjax.train.fit with early stopping."""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import sbi
from hepjax.sbi import _base
from hepjax.train import NonFiniteLossError


class _Line(eqx.Module):
    w: jax.Array
    b: jax.Array


def _loss(model, batch, *, key=None):
    del key
    return jnp.mean((batch["x"] * model.w + model.b - batch["y"]) ** 2)


def _data(rng, n=403):
    x = rng.normal(size=n).astype(np.float32)
    y = (2.0 * x - 1.0 + 0.1 * rng.normal(size=n)).astype(np.float32)
    return {"x": x, "y": y}


def _train(data, **options):
    kwargs = dict(batch_size=32, max_steps=400, patience=5, progress=False)
    kwargs.update(options)
    model = _Line(jnp.zeros(()), jnp.zeros(()))
    return _base.train_estimator(
        jax.random.key(0),
        model,
        _loss,
        data,
        sbi.TrainingOptions(**kwargs),
        time.perf_counter(),
    )


def test_training_keeps_the_best_epoch_and_reports_it(rng):
    import optax

    model, history = _train(_data(rng), optimizer=optax.adam(0.05))
    assert abs(float(model.w) - 2.0) < 0.05 and abs(float(model.b) + 1.0) < 0.05
    assert history.num_val == round(0.1 * 403) and history.num_train == 403 - history.num_val
    best = int(np.argmin(history.validation_losses))
    assert history.best_step == history.validation_steps[best]
    assert history.best_validation_loss == history.validation_losses[best]
    # evaluated once per epoch (11 steps of 32 of the 363 training rows), and at the end
    steps_per_epoch = (403 - 40) // 32
    assert all(s % steps_per_epoch == 0 or s == 400 for s in history.validation_steps)
    assert history.num_steps == len(history.train_losses) <= 400
    assert history.stopped_early == (history.num_steps < 400)


def test_large_rows_run_fewer_steps_per_call(rng, monkeypatch):
    data = _data(rng)
    monkeypatch.setattr(_base, "_CALL_BYTES", 8 * 32 * 5)  # 5 steps' batches per call
    _, history = _train(data, max_steps=60)
    # 11 steps per epoch, at most 5 per call: 3 calls of 3 steps, evaluated every 9 steps
    assert history.validation_steps[0] == 9
    assert all(s % 9 == 0 or s == 60 for s in history.validation_steps)


def test_non_finite_loss_raises(rng):
    data = _data(rng)
    data["y"][5] = np.nan
    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        _train(data)


def test_too_few_rows_for_the_split(rng):
    data = {k: v[:3] for k, v in _data(rng).items()}
    with pytest.raises(ValueError, match="need at least 4 simulations .* got 3"):
        _train(data, validation_fraction=0.5)
