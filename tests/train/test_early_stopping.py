"""Several steps per compiled call, and early stopping that keeps the best model."""

import jax
import numpy as np
import optax
import pytest

import hepjax.train as ht

from . import toy
from .test_fit import mse


def _same(a, b):
    for x, y in zip(toy.leaves(a), toy.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-6)


def _validation(shift: float = 0.0):
    """A held-out set; with ``shift`` its targets move away from the training map."""
    ds = toy.dataset(64, seed=5)
    return {"x": ds.arrays["x"], "y": ds.arrays["y"] + shift * ds.arrays["x"][:, :1]}


def test_steps_per_call_trains_the_same_run(key):
    """A scan over 7 steps per call (with a partial last call) equals one step per call."""
    run = dict(steps=23, key=key)
    one = ht.fit(toy.model(), toy.noisy_loss, toy.optimizer(), toy.batches(), **run)
    many = ht.fit(
        toy.model(), toy.noisy_loss, toy.optimizer(), toy.batches(), steps_per_call=7, **run
    )
    assert many.step == one.step == 23
    np.testing.assert_allclose(many.losses, one.losses, rtol=2e-5)
    _same(many.model, one.model)
    np.testing.assert_array_equal(jax.random.key_data(many.key), jax.random.key_data(one.key))


def test_callbacks_and_evaluations_fall_on_their_steps_inside_calls(key):
    seen = []

    def record(info):
        seen.append(info.step)

    record.every = 5
    ht.fit(
        toy.model(),
        mse,
        optax.adam(1e-2),
        toy.batches(),
        steps=18,
        key=key,
        callbacks=[record],
        steps_per_call=8,
    )
    assert seen == [5, 10, 15, 18]


def test_early_stopping_keeps_the_best_model_and_stops_after_patience(key):
    # the validation targets differ from the training map, so the validation loss
    # falls while the fit learns the shared part and rises once it fits the rest
    stop = ht.EarlyStopping(_validation(shift=3.0), patience=3, every=4)
    result = ht.fit(
        toy.model(),
        mse,
        optax.adam(3e-2),
        toy.batches(),
        steps=400,
        key=key,
        early_stopping=stop,
        steps_per_call=4,
    )
    assert result.stopped_early
    losses, steps = result.validation_losses, result.validation_steps
    best = int(np.argmin(losses))
    assert result.best_step == steps[best] and result.best_validation_loss == losses[best]
    assert len(losses) == best + 1 + 3  # three evaluations without improvement
    assert result.step == steps[-1] < 400
    np.testing.assert_array_equal(steps, 4 * np.arange(1, len(steps) + 1))
    # the returned model is the one at the best step: retrain exactly that far
    again = ht.fit(
        toy.model(), mse, optax.adam(3e-2), toy.batches(), steps=result.best_step, key=key
    )
    _same(result.model, again.model)
    assert float(mse(result.model, _validation(3.0))) == pytest.approx(losses[best], rel=1e-5)


def test_min_delta_and_a_validation_loss_of_its_own(key):
    val = _validation()

    def mae(m, batch):
        return jax.numpy.mean(jax.numpy.abs(jax.vmap(m)(batch["x"]) - batch["y"]))

    stop = ht.EarlyStopping(val, patience=2, every=10, min_delta=1e9, loss_fn=mae)
    result = ht.fit(
        toy.model(), mse, optax.adam(1e-2), toy.batches(), steps=100, key=key, early_stopping=stop
    )
    # no evaluation can improve by 1e9: stop after the first plus two more
    assert result.stopped_early and list(result.validation_steps) == [10, 20, 30]
    assert result.best_step == 10
    assert result.validation_losses[0] == pytest.approx(float(mae(result.model, val)), rel=1e-5)


def test_non_finite_loss_inside_a_call_reports_its_step(key):
    stream = toy.batches()

    def data(step):
        batch = stream[step]
        if step == 9:
            batch = {**batch, "x": np.full_like(batch["x"], np.nan)}
        return batch

    with pytest.raises(ht.NonFiniteLossError, match="at step 10.*after step 9") as err:
        ht.fit(toy.model(), mse, optax.adam(1e-2), data, steps=20, key=key, steps_per_call=4)
    good = err.value.result
    assert good.step == 9 and len(good.losses) == 9
    clean = ht.fit(toy.model(), mse, optax.adam(1e-2), stream, steps=9, key=key)
    _same(good.model, clean.model)


def test_early_stopped_run_resumes_as_finished(key, tmp_path):
    def run():
        stop = ht.EarlyStopping(_validation(shift=3.0), patience=2, every=5)
        return ht.fit(
            toy.model(),
            mse,
            optax.adam(3e-2),
            toy.batches(),
            steps=500,
            key=key,
            early_stopping=stop,
            steps_per_call=5,
            checkpoint_dir=tmp_path,
            checkpoint_every=5,
        )

    first = run()
    again = run()
    assert first.stopped_early and again.stopped_early
    assert again.resumed_from == first.step and again.step == first.step
    assert again.best_step == first.best_step
    _same(first.model, again.model)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"steps_per_call": 0}, ValueError, "steps_per_call must be a positive int"),
        ({"early_stopping": "val"}, TypeError, "early_stopping"),
    ],
)
def test_bad_arguments(key, kwargs, error, message):
    with pytest.raises(error, match=message):
        ht.fit(toy.model(), mse, optax.sgd(1e-3), toy.batches(), steps=2, key=key, **kwargs)


def test_bad_early_stopping_rules():
    with pytest.raises(ValueError, match="patience must be a positive int"):
        ht.EarlyStopping(_validation(), patience=0)
    with pytest.raises(ValueError, match="every must be a positive int"):
        ht.EarlyStopping(_validation(), every=0)
    with pytest.raises(ValueError, match="min_delta must be finite and >= 0"):
        ht.EarlyStopping(_validation(), min_delta=-1.0)
    with pytest.raises(ValueError, match="leading example axis"):
        ht.EarlyStopping({"x": 1.0})
