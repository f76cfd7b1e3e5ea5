"""The SBI trainer: whole epochs per compiled call, host-gathered chunks, early stopping."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.sbi import _training
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


def _fit(data, **options):
    kwargs = dict(
        batch_size=32,
        learning_rate=0.05,
        max_steps=400,
        validation_fraction=0.1,
        patience=5,
        clip_norm=5.0,
        progress=False,
    )
    kwargs.update(options)
    return _training.train(
        jax.random.key(0), _Line(jnp.zeros(()), jnp.zeros(())), _loss, data, **kwargs
    )


def test_trainer_fits_and_keeps_the_best_epoch(rng):
    model, history = _fit(_data(rng))
    assert abs(float(model.w) - 2.0) < 0.05 and abs(float(model.b) + 1.0) < 0.05
    assert history["num_train"] + history["num_val"] == 403
    best = int(np.argmin(history["val_loss"]))
    assert history["best_step"] == history["step"][best]
    assert history["best_val_loss"] == min(history["val_loss"])
    assert history["step"][-1] <= 400  # max_steps caps the last epoch
    steps_per_epoch = (403 - 40) // 32
    assert all(s % steps_per_epoch == 0 or s == 400 for s in history["step"])


def test_host_gathered_chunks_match_device_epochs(rng, monkeypatch):
    data = _data(rng)
    on_device, h1 = _fit(data, max_steps=60)
    monkeypatch.setattr(_training, "_DEVICE_BYTES", 0)
    monkeypatch.setattr(_training, "_CHUNK_BYTES", 8 * 32 * 5)  # 5 steps per chunk
    chunked, h2 = _fit(data, max_steps=60)
    # 11 steps per epoch, at most 5 per chunk: 3 chunks of 3 steps (9 per epoch)
    assert h2["step"][0] == 9 and h1["step"][0] == 11
    np.testing.assert_allclose(float(chunked.w), float(on_device.w), atol=0.05)


def test_non_finite_loss_raises(rng):
    data = _data(rng)
    data["y"][5] = np.nan
    with pytest.raises(NonFiniteLossError, match="non-finite loss or gradient in optimizer"):
        _fit(data)
