"""A tiny regression problem shared by the training tests and their subprocesses."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import hepjax.data as hd

WEIGHTS = np.array([1.0, -2.0, 0.5, 3.0], np.float32)


def dataset(n: int = 256, seed: int = 0) -> hd.ArrayDataset:
    x = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    y = (x @ WEIGHTS + 0.1)[:, None].astype(np.float32)
    return hd.ArrayDataset(x=x, y=y)


def batches(batch_size: int = 32) -> hd.Batches:
    return hd.Batches(dataset(), batch_size, key=jax.random.key(7))


def model(seed: int = 1) -> eqx.nn.MLP:
    return eqx.nn.MLP(4, 1, 16, 2, key=jax.random.key(seed))


def noisy_loss(m, batch, *, key):
    """MSE on inputs jittered with key-driven noise, so the PRNG key matters."""
    x = batch["x"] + 0.01 * jax.random.normal(key, batch["x"].shape)
    return jnp.mean((jax.vmap(m)(x) - batch["y"]) ** 2)


def optimizer() -> optax.GradientTransformation:
    return optax.adamw(3e-3)


def leaves(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]
