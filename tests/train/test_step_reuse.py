"""fit reuses its jitted step across runs with the same loss, optimizer and model structure."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import hepjax.train as ht

from . import toy


def _counting_loss():
    traces = []

    def loss(m, batch):
        traces.append(None)  # runs only while JAX traces the step
        return jnp.mean((jax.vmap(m)(batch["x"]) - batch["y"]) ** 2)

    return loss, traces


def test_same_loss_and_optimizer_reuse_the_step_and_train_alike(key):
    loss, traces = _counting_loss()
    opt = optax.adam(1e-2)
    ht.fit(toy.model(1), loss, opt, toy.batches(), steps=4, key=key, clip_norm=1.0)
    traced = len(traces)
    assert traced > 0
    reused = ht.fit(toy.model(2), loss, opt, toy.batches(), steps=4, key=key, clip_norm=1.0)
    assert len(traces) == traced  # not traced again
    # a new optimizer object is traced anew, and trains exactly as the reused step did
    fresh = ht.fit(
        toy.model(2), loss, optax.adam(1e-2), toy.batches(), steps=4, key=key, clip_norm=1.0
    )
    assert len(traces) > traced
    for a, b in zip(toy.leaves(reused.model), toy.leaves(fresh.model), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(reused.losses, fresh.losses)


def test_other_structure_or_clipping_is_not_reused(key):
    loss, traces = _counting_loss()
    opt = optax.adam(1e-2)
    ht.fit(toy.model(1), loss, opt, toy.batches(), steps=2, key=key)
    traced = len(traces)
    ht.fit(toy.model(1), loss, opt, toy.batches(), steps=2, key=key, clip_norm=0.5)
    assert len(traces) > traced
    traced = len(traces)
    wide = eqx.nn.MLP(4, 1, 32, 2, key=jax.random.key(3))
    result = ht.fit(wide, loss, opt, toy.batches(), steps=2, key=key)
    assert len(traces) > traced
    assert result.model.layers[0].weight.shape == (32, 4)


def test_a_model_with_an_unhashable_static_part_still_trains(key):
    class WithIntArray(eqx.Module):
        mlp: eqx.nn.MLP
        index: np.ndarray  # an integer array: static and unhashable

        def __call__(self, x):
            return self.mlp(x[self.index])

    model = WithIntArray(toy.model(1), np.arange(4))
    loss, _ = _counting_loss()
    result = ht.fit(model, loss, optax.adam(1e-2), toy.batches(), steps=20, key=key)
    assert result.losses[-1] < result.losses[0]
