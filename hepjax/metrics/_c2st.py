r"""Classifier two-sample test (C2ST), as in sbibm (Lueckmann et al. 2021, arXiv:2101.04653).

A classifier is trained to tell samples $A$ from samples $B$; its held-out
accuracy estimates how distinguishable the two distributions are: $0.5$ when
they are equal, $1$ when they do not overlap (Lopez-Paz & Oquab 2017,
arXiv:1610.06545). As in sbibm, both samples are z-scored with the mean and
standard deviation of $A$, the classifier is an MLP with two hidden layers of
$10\,d$ ReLU units trained with Adam, and the accuracy is averaged over a
shuffled $k$-fold cross-validation. The $k$ classifiers are one stacked model
(``eqx.filter_vmap``) trained at once by :func:`hepjax.train.fit`, on the sum
of the folds' losses (Adam is elementwise, so each fold trains as if alone),
all steps in one compiled call.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from .._core import as_2d_float, check_positive_int
from ..train import fit
from ._classification import roc_auc


def _mlp(key, d: int, width: int) -> eqx.nn.MLP:
    return eqx.nn.MLP(d, "scalar", width, 2, activation=jax.nn.relu, key=key)


def _fold_loss(data, labels, l2):
    """The summed minibatch losses of the folds; ``batch["rows"] (b, k)`` holds data rows."""

    def one(model, rows):
        logits = jax.vmap(model)(data[rows])
        bce = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels[rows]))
        weights = [w for w in jax.tree.leaves(eqx.filter(model, eqx.is_array)) if w.ndim == 2]
        return bce + 0.5 * l2 * sum(jnp.sum(w**2) for w in weights) / rows.shape[0]

    def loss_fn(models, batch):
        return jnp.sum(eqx.filter_vmap(one)(models, batch["rows"].T))

    return loss_fn


def _fold_batches(seed: int, train_idx: np.ndarray, n_train: np.ndarray, batch_size: int):
    """``step -> {"rows": (batch_size, k)}``: each fold's minibatch, drawn with replacement."""

    def batch(step: int) -> dict:
        rng = np.random.default_rng([seed, step])
        pick = (rng.random((batch_size, len(n_train))) * n_train).astype(np.int64)
        return {"rows": train_idx[np.arange(len(n_train)), pick].astype(np.int32)}

    return batch


@eqx.filter_jit
def _init_models(keys, d: int, width: int):
    return eqx.filter_vmap(lambda k: _mlp(k, d, width))(keys)


def _train_folds(key, data, labels, train_idx, n_train, d, width, steps, batch_size, lr, l2):
    k_init, k_seed, k_fit = jax.random.split(key, 3)
    models = _init_models(jax.random.split(k_init, train_idx.shape[0]), d, width)
    seed = int(jax.random.randint(k_seed, (), 0, 2**31 - 1))
    result = fit(
        models,
        _fold_loss(jnp.asarray(data), jnp.asarray(labels), l2),
        optax.adam(lr),
        _fold_batches(seed, train_idx, n_train, batch_size),
        steps=steps,
        key=k_fit,
        steps_per_call=steps,
        progress=False,
    )
    return result.model


@eqx.filter_jit
def _fold_logits(models, data):
    """``(k, n)``: every fold's classifier on every row (each fold keeps its held-out rows)."""
    return eqx.filter_vmap(lambda model: jax.vmap(model)(data))(models)


def _assign_folds(key, na: int, nb: int, groups_a, groups_b, num_folds: int) -> np.ndarray:
    """``(na + nb,)`` fold of every row: shuffled rows, or shuffled groups when given."""
    if (groups_a is None) != (groups_b is None):
        raise ValueError("groups_a and groups_b must be given together (or neither)")
    if groups_a is None:
        perm = np.asarray(jax.random.permutation(key, na + nb))
        folds = np.empty(na + nb, np.int32)
        folds[perm] = np.arange(na + nb) % num_folds
        return folds
    groups = []
    for name, g, n in (("groups_a", groups_a, na), ("groups_b", groups_b, nb)):
        g = np.asarray(g)
        if g.shape != (n,) or not np.issubdtype(g.dtype, np.integer):
            raise ValueError(f"{name} must be ({n},) integer group labels, got {g.dtype} {g.shape}")
        groups.append(g)
    labels, group_of_row = np.unique(np.concatenate(groups), return_inverse=True)
    if len(labels) < num_folds:
        raise ValueError(f"need at least num_folds={num_folds} groups, got {len(labels)}")
    perm = np.asarray(jax.random.permutation(key, len(labels)))
    fold_of_group = np.empty(len(labels), np.int32)
    fold_of_group[perm] = np.arange(len(labels)) % num_folds
    return fold_of_group[group_of_row]


def _fit_folds(
    samples_a,
    samples_b,
    *,
    key,
    groups_a,
    groups_b,
    num_folds,
    z_score,
    epochs,
    batch_size,
    learning_rate,
    l2,
    min_steps,
):
    """Check the inputs, split the rows into folds, train the fold classifiers.

    Returns ``(logits (k, n), labels (n,), folds (n,))``.
    """
    a = as_2d_float("samples_a", samples_a).astype(np.float32)
    b = as_2d_float("samples_b", samples_b).astype(np.float32)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"samples_a and samples_b must have the same dimension, got {a.shape[1]} and "
            f"{b.shape[1]}"
        )
    if check_positive_int("num_folds", num_folds) < 2:
        raise ValueError(f"num_folds must be an int >= 2, got {num_folds!r}")
    if min(a.shape[0], b.shape[0]) < num_folds:
        raise ValueError(
            f"need at least num_folds={num_folds} samples on each side, got {a.shape[0]} "
            f"and {b.shape[0]}"
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("samples_a and samples_b must be finite (found NaN or inf)")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("min_steps", min_steps)):
        check_positive_int(name, value)
    if z_score:
        mean, std = a.mean(0), a.std(0)
        std = np.where(std > 0, std, 1.0)
        a, b = (a - mean) / std, (b - mean) / std
    key = jax.random.key(1) if key is None else key
    k_perm, k_train = jax.random.split(key)
    data = np.concatenate([a, b])
    labels = np.concatenate([np.zeros(len(a)), np.ones(len(b))]).astype(np.float32)
    d = data.shape[1]
    folds = _assign_folds(k_perm, len(a), len(b), groups_a, groups_b, num_folds)
    n_train = np.array([(folds != f).sum() for f in range(num_folds)], np.int32)
    train_idx = np.zeros((num_folds, n_train.max()), np.int32)
    for f in range(num_folds):
        rows = np.flatnonzero(folds != f)
        train_idx[f, : len(rows)] = rows
    batch = min(batch_size, int(n_train.min()))
    steps = max(min_steps, epochs * max(1, int(np.ceil(n_train.max() / batch))))
    models = _train_folds(
        k_train, data, labels, train_idx, n_train, d, 10 * d, steps, batch, learning_rate, l2
    )
    return np.asarray(_fold_logits(models, jnp.asarray(data))), labels, folds


def c2st(
    samples_a: Float[ArrayLike, "na d"],
    samples_b: Float[ArrayLike, "nb d"],
    *,
    key: PRNGKeyArray | None = None,
    groups_a: ArrayLike | None = None,
    groups_b: ArrayLike | None = None,
    num_folds: int = 5,
    z_score: bool = True,
    epochs: int = 50,
    batch_size: int = 200,
    learning_rate: float = 1e-3,
    l2: float = 1e-4,
    min_steps: int = 1000,
) -> float:
    """C2ST accuracy of telling ``samples_a`` from ``samples_b``, in ``[0.5, 1]``.

    Args:
        samples_a: ``(na, d)`` samples (e.g. from an estimated posterior, or generated).
        samples_b: ``(nb, d)`` samples (e.g. from the reference posterior, or the truth).
        key: PRNG key for the folds, initialisation and batches (default: a fixed key,
            so the test is deterministic like sbibm's ``seed=1``).
        groups_a: optional ``(na,)`` integer group labels of ``samples_a`` (e.g. the
            event or the condition a row was generated for). Rows sharing a label, in
            either sample, are kept in the same fold, so no classifier is tested on rows
            paired with rows it was trained on (grouped k-fold).
        groups_b: optional ``(nb,)`` integer group labels of ``samples_b``, given
            together with ``groups_a``.
            Without them, paired samples (two samples drawn for the same conditions)
            make a cross-validated classifier *anti*-learn and score below chance.
        num_folds: folds of the cross-validation.
        z_score: standardise both samples with the mean and std of ``samples_a``.
        epochs: training passes over each fold's training rows.
        batch_size: minibatch size (sklearn's default 200).
        learning_rate: Adam learning rate (sklearn's default 1e-3).
        l2: L2 penalty on the weights (sklearn's default ``alpha=1e-4``).
        min_steps: train for at least this many steps (small samples need more
            passes than ``epochs``).

    Returns:
        The mean held-out accuracy over the folds, clipped below at 0.5 (a
        smaller value is a chance fluctuation of indistinguishable samples).

    Raises:
        TypeError: non-numeric samples.
        ValueError: samples that are not ``(n, d)`` with the same ``d``, too few
            rows (or groups) for ``num_folds``, group labels of the wrong shape, or
            NaN/inf values.
    """
    logits, labels, folds = _fit_folds(
        samples_a,
        samples_b,
        key=key,
        groups_a=groups_a,
        groups_b=groups_b,
        num_folds=num_folds,
        z_score=z_score,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        l2=l2,
        min_steps=min_steps,
    )
    correct = (logits > 0) == (labels > 0.5)
    accuracy = [correct[f, folds == f].mean() for f in range(num_folds)]
    return float(np.clip(np.mean(accuracy), 0.5, 1.0))


def c2st_auc(
    samples_a: Float[ArrayLike, "na d"],
    samples_b: Float[ArrayLike, "nb d"],
    *,
    key: PRNGKeyArray | None = None,
    groups_a: ArrayLike | None = None,
    groups_b: ArrayLike | None = None,
    num_folds: int = 5,
    z_score: bool = True,
    epochs: int = 50,
    batch_size: int = 200,
    learning_rate: float = 1e-3,
    l2: float = 1e-4,
    min_steps: int = 1000,
) -> float:
    """Held-out ROC AUC of a classifier telling ``samples_b`` from ``samples_a``.

    The same classifiers and folds as :func:`c2st`; the statistic is the area
    under the ROC curve of each fold's held-out scores, averaged over the
    folds: 0.5 for indistinguishable samples, 1 for separable ones. Unlike
    the accuracy it is not clipped, so values a little below 0.5 are chance
    fluctuations. Generative-model papers quote it (e.g. BRICKS,
    arXiv:2605.06591, per-particle features against Geant4).

    Args:
        samples_a: ``(na, d)`` samples (e.g. from an estimated posterior, or generated).
        samples_b: ``(nb, d)`` samples (e.g. from the reference posterior, or the truth).
        key: PRNG key for the folds, initialisation and batches (default: a fixed key,
            so the test is deterministic like sbibm's ``seed=1``).
        groups_a: optional ``(na,)`` integer group labels of ``samples_a`` (e.g. the
            event or the condition a row was generated for). Rows sharing a label, in
            either sample, are kept in the same fold, so no classifier is tested on rows
            paired with rows it was trained on (grouped k-fold).
        groups_b: optional ``(nb,)`` integer group labels of ``samples_b``, given
            together with ``groups_a``.
            Without them, paired samples (two samples drawn for the same conditions)
            make a cross-validated classifier *anti*-learn and score below chance.
        num_folds: folds of the cross-validation.
        z_score: standardise both samples with the mean and std of ``samples_a``.
        epochs: training passes over each fold's training rows.
        batch_size: minibatch size (sklearn's default 200).
        learning_rate: Adam learning rate (sklearn's default 1e-3).
        l2: L2 penalty on the weights (sklearn's default ``alpha=1e-4``).
        min_steps: train for at least this many steps (small samples need more
            passes than ``epochs``).

    Returns:
        The mean held-out AUC over the folds.

    Raises:
        TypeError: non-numeric samples.
        ValueError: samples that are not ``(n, d)`` with the same ``d``, too few
            rows (or groups) for ``num_folds``, group labels of the wrong shape, or
            NaN/inf values.
    """
    logits, labels, folds = _fit_folds(
        samples_a,
        samples_b,
        key=key,
        groups_a=groups_a,
        groups_b=groups_b,
        num_folds=num_folds,
        z_score=z_score,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        l2=l2,
        min_steps=min_steps,
    )
    aucs = [roc_auc(logits[f, folds == f], labels[folds == f]) for f in range(num_folds)]
    return float(np.mean(aucs))
