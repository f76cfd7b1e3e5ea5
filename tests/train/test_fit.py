import os
import pathlib
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hepjax.train as ht

from . import toy

HERE = pathlib.Path(__file__).parent


def mse(m, batch):
    return jnp.mean((jax.vmap(m)(batch["x"]) - batch["y"]) ** 2)


def adam_fit(key, **kwargs):
    """The toy regression with Adam; the checkpoint tests vary only the keywords."""
    return ht.fit(toy.model(), mse, optax.adam(1e-2), toy.batches(), key=key, **kwargs)


def test_fit_learns_linear_map(key):
    result = ht.fit(toy.model(), mse, optax.adam(1e-2), toy.batches(), steps=300, key=key)
    assert result.step == 300
    assert result.losses.shape == (300,)
    ds = toy.dataset()
    final = float(mse(result.model, ds.arrays))
    assert final < 0.02 * float(np.var(ds.arrays["y"]))
    assert result.losses[-10:].mean() < 0.05 * result.losses[:10].mean()


def test_input_model_is_not_consumed(key):
    model = toy.model()
    before = toy.leaves(model)
    first = ht.fit(model, mse, optax.adam(1e-2), toy.batches(), steps=3, key=key)
    second = ht.fit(model, mse, optax.adam(1e-2), toy.batches(), steps=3, key=key)
    for a, b in zip(toy.leaves(model), before, strict=True):
        np.testing.assert_array_equal(a, b)  # the step donates copies, never the caller's arrays
    for a, b in zip(toy.leaves(first.model), toy.leaves(second.model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_key_is_optional_in_loss_signature_and_used_when_present(key):
    seen = []

    def loss(m, batch, *, key):
        seen.append(key)
        return toy.noisy_loss(m, batch, key=key)

    ht.fit(toy.model(), loss, optax.sgd(1e-3), toy.batches(), steps=2, key=key)
    assert seen, "loss_fn with a key parameter must receive a key"


def test_ema_follows_its_recursion(key):
    decay = 0.7
    seen = []

    def record(info):
        seen.append(toy.leaves(info.model))

    result = ht.fit(
        toy.model(),
        mse,
        optax.sgd(1e-2),
        toy.batches(),
        steps=4,
        key=key,
        ema_decay=decay,
        callbacks=[record],
    )
    expected = toy.leaves(toy.model())
    for params in seen:
        expected = [decay * e + (1 - decay) * p for e, p in zip(expected, params, strict=True)]
    for got, want in zip(toy.leaves(result.ema_model), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_clip_norm_bounds_each_update(key):
    clip = 1e-3
    before = toy.leaves(toy.model())
    result = ht.fit(
        toy.model(), mse, optax.sgd(1.0), toy.batches(), steps=1, key=key, clip_norm=clip
    )
    delta = np.sqrt(
        sum(np.sum((a - b) ** 2) for a, b in zip(toy.leaves(result.model), before, strict=True))
    )
    assert delta == pytest.approx(clip, rel=1e-3)


def test_evaluate_callback_runs_on_schedule(key):
    ds = toy.dataset()
    evaluate = ht.Evaluate(lambda m: {"mse": mse(m, ds.arrays)}, every=4, prefix="val_")
    result = ht.fit(
        toy.model(), mse, optax.adam(1e-2), toy.batches(), steps=10, key=key, callbacks=[evaluate]
    )
    assert [e["step"] for e in result.evals] == [4, 8, 10]
    assert all(set(e) == {"step", "val_mse"} for e in result.evals)
    assert result.evals[-1]["val_mse"] < result.evals[0]["val_mse"]


def test_jit_and_plain_function_data_agree(key):
    stream = toy.batches()
    a = ht.fit(toy.model(), toy.noisy_loss, toy.optimizer(), stream, steps=5, key=key)
    b = ht.fit(toy.model(), toy.noisy_loss, toy.optimizer(), lambda s: stream[s], steps=5, key=key)
    for x, y in zip(toy.leaves(a.model), toy.leaves(b.model), strict=True):
        np.testing.assert_array_equal(x, y)


def test_flax_nnx_model_trains(key):
    from flax import nnx

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(4, 16, rngs=rngs)
            self.out = nnx.Linear(16, 1, rngs=rngs)

        def __call__(self, x):
            return self.out(jax.nn.gelu(self.hidden(x)))

    def loss(m, batch):
        return jnp.mean((m(batch["x"]) - batch["y"]) ** 2)

    net = Net(nnx.Rngs(0))
    ds = toy.dataset()
    start = float(loss(net, ds.arrays))
    result = ht.fit(net, loss, optax.adam(1e-2), toy.batches(), steps=300, key=key)
    assert isinstance(result.model, Net)
    assert float(loss(result.model, ds.arrays)) < 0.02 * start


def test_non_scalar_loss_is_rejected(key):
    def per_example(m, batch):
        return (jax.vmap(m)(batch["x"]) - batch["y"]) ** 2

    with pytest.raises(ValueError, match="loss_fn must return a scalar loss, got \\(32, 1\\)"):
        ht.fit(toy.model(), per_example, optax.sgd(1e-3), toy.batches(), steps=1, key=key)


def test_mismatched_batch_shapes_are_rejected(key):
    stream = toy.batches()

    def data(step):
        batch = stream[step]
        return batch if step < 2 else {"x": batch["x"][:, :3], "y": batch["y"]}

    with pytest.raises(ValueError, match=r"batch at step 2 .*\['x'\] has shape/dtype"):
        ht.fit(toy.model(), mse, optax.sgd(1e-3), data, steps=4, key=key)


def test_batch_fields_with_different_lengths_are_rejected(key):
    def data(step):
        return {"x": np.zeros((8, 4), np.float32), "y": np.zeros((7, 1), np.float32)}

    with pytest.raises(ValueError, match="share the leading"):
        ht.fit(toy.model(), mse, optax.sgd(1e-3), data, steps=1, key=key)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be a positive int"),
        ({"clip_norm": -1.0}, "clip_norm must be a positive number"),
        ({"ema_decay": 1.0}, "ema_decay must be in"),
    ],
)
def test_bad_arguments(key, kwargs, message):
    args = {"steps": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        ht.fit(toy.model(), mse, optax.sgd(1e-3), toy.batches(), key=key, **args)


def test_bad_data_and_optimizer_types(key):
    with pytest.raises(TypeError, match="data must be a hepjax.data.Batches"):
        ht.fit(toy.model(), mse, optax.sgd(1e-3), [1, 2], steps=1, key=key)
    with pytest.raises(TypeError, match="optimizer"):
        ht.fit(toy.model(), mse, "adam", toy.batches(), steps=1, key=key)


def test_stops_at_first_non_finite_loss_and_keeps_last_good_checkpoint(key, tmp_path):
    stream = toy.batches()

    def data(step):
        batch = stream[step]
        if step == 6:  # the 7th step sees a corrupted batch
            batch = {**batch, "x": np.full_like(batch["x"], np.nan)}
        return batch

    with pytest.raises(
        ht.NonFiniteLossError, match="at step 7.*after step 6.*checkpoint is step 6"
    ):
        ht.fit(
            toy.model(),
            mse,
            optax.adam(1e-2),
            data,
            steps=20,
            key=key,
            checkpoint_dir=tmp_path,
            checkpoint_every=2,
        )
    ckpt = ht.Checkpointer(tmp_path, every=2)
    assert ckpt.latest_step() == 6
    ckpt.close()
    try:
        ht.fit(toy.model(), mse, optax.adam(1e-2), data, steps=20, key=key)
    except ht.NonFiniteLossError as err:
        good = err.result
    assert good.step == 6 and len(good.losses) == 6
    assert all(np.isfinite(x).all() for x in toy.leaves(good.model))
    clean = ht.fit(toy.model(), mse, optax.adam(1e-2), stream, steps=6, key=key)
    for x, y in zip(toy.leaves(good.model), toy.leaves(clean.model), strict=True):
        np.testing.assert_array_equal(x, y)


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {here!r})
    import jax
    import hepjax.train as ht
    import toy

    def kill(info):
        if info.step == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)

    ht.fit(toy.model(), toy.noisy_loss, toy.optimizer(), toy.batches(), steps={steps},
           key=jax.random.key(3), ema_decay=0.9, clip_norm=1.0, callbacks=[kill],
           checkpoint_dir={ckpt!r}, checkpoint_every={every})
    """
)


@pytest.mark.slow  # default suite time budget: runs in make test-slow
def test_killed_run_resumes_bit_identical(tmp_path):
    steps, every, kill_at = 30, 10, 25
    ckpt = tmp_path / "ckpt"
    script = tmp_path / "kill.py"
    script.write_text(
        KILL_SCRIPT.format(
            here=str(HERE), kill_at=kill_at, steps=steps, ckpt=str(ckpt), every=every
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    run = dict(
        optimizer=toy.optimizer(),
        data=toy.batches(),
        steps=steps,
        key=jax.random.key(3),
        ema_decay=0.9,
        clip_norm=1.0,
    )
    resumed = ht.fit(toy.model(), toy.noisy_loss, checkpoint_dir=ckpt, **run)
    assert resumed.resumed_from == 20
    fresh = ht.fit(toy.model(), toy.noisy_loss, **run)
    assert resumed.step == fresh.step == steps
    for a, b in [
        (resumed.model, fresh.model),
        (resumed.ema_model, fresh.ema_model),
        (resumed.opt_state, fresh.opt_state),
    ]:
        for x, y in zip(toy.leaves(a), toy.leaves(b), strict=True):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(jax.random.key_data(resumed.key), jax.random.key_data(fresh.key))
    np.testing.assert_array_equal(resumed.losses, fresh.losses)


def test_finished_run_is_not_repeated(key, tmp_path):
    first = ht.fit(
        toy.model(), mse, optax.adam(1e-2), toy.batches(), steps=4, key=key, checkpoint_dir=tmp_path
    )
    again = ht.fit(
        toy.model(), mse, optax.adam(1e-2), toy.batches(), steps=4, key=key, checkpoint_dir=tmp_path
    )
    assert again.resumed_from == 4 and again.step == 4
    for x, y in zip(toy.leaves(first.model), toy.leaves(again.model), strict=True):
        np.testing.assert_array_equal(x, y)


def test_resume_with_other_data_is_rejected(key, tmp_path):
    ht.fit(
        toy.model(),
        mse,
        optax.adam(1e-2),
        toy.batches(32),
        steps=2,
        key=key,
        checkpoint_dir=tmp_path,
    )
    with pytest.raises(ht.CheckpointError, match="written with data"):
        ht.fit(
            toy.model(),
            mse,
            optax.adam(1e-2),
            toy.batches(16),
            steps=4,
            key=key,
            checkpoint_dir=tmp_path,
        )


def test_resume_with_other_model_is_rejected(key, tmp_path):
    ht.fit(
        toy.model(), mse, optax.adam(1e-2), toy.batches(), steps=2, key=key, checkpoint_dir=tmp_path
    )
    wider = eqx.nn.MLP(4, 1, 8, 2, key=jax.random.key(0))
    with pytest.raises(ht.CheckpointError, match="leaf_.*has shape"):
        ht.fit(
            wider, mse, optax.adam(1e-2), toy.batches(), steps=4, key=key, checkpoint_dir=tmp_path
        )


def test_checkpoint_dir_that_is_a_file_is_rejected(key, tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_text("x")
    with pytest.raises(ht.CheckpointError, match="exists and is not a directory"):
        ht.fit(
            toy.model(), mse, optax.sgd(1e-3), toy.batches(), steps=1, key=key, checkpoint_dir=path
        )


def test_unwritable_checkpoint_dir_is_rejected(key):
    # /proc refuses new folders even to root, unlike a chmod-ed folder.
    with pytest.raises(
        ht.CheckpointError, match="checkpoint_dir /proc/hepjax-ckpt is not writable"
    ):
        ht.fit(
            toy.model(),
            mse,
            optax.sgd(1e-3),
            toy.batches(),
            steps=1,
            key=key,
            checkpoint_dir="/proc/hepjax-ckpt",
        )


def test_corrupted_checkpoint_is_reported(key, tmp_path):
    adam_fit(key, steps=2, checkpoint_dir=tmp_path, checkpoint_every=2)
    step_dir = tmp_path / "2"
    for path in step_dir.rglob("*"):
        if path.is_file() and path.suffix != ".json" and "record" not in str(path):
            path.write_bytes(b"garbage")
    with pytest.raises(ht.CheckpointError, match="corrupted or unreadable"):
        adam_fit(key, steps=4, checkpoint_dir=tmp_path)


def test_crash_during_save_keeps_previous_checkpoint(key, tmp_path, monkeypatch):
    adam_fit(key, steps=2, checkpoint_dir=tmp_path, checkpoint_every=2)
    import orbax.checkpoint as ocp

    def crash(self, *args, **kwargs):  # the arrays are written, the record is not
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ocp.JsonCheckpointHandler, "async_save", crash)
    with pytest.raises(ht.CheckpointError, match="could not write checkpoint 4"):
        adam_fit(key, steps=4, checkpoint_dir=tmp_path, checkpoint_every=2)
    monkeypatch.undo()
    resumed = adam_fit(key, steps=4, checkpoint_dir=tmp_path, checkpoint_every=2)
    assert resumed.resumed_from == 2
    fresh = ht.fit(toy.model(), mse, optax.adam(1e-2), toy.batches(), steps=4, key=key)
    for x, y in zip(toy.leaves(resumed.model), toy.leaves(fresh.model), strict=True):
        np.testing.assert_array_equal(x, y)
