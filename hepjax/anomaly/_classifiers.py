r"""CWoLa classifiers with k-fold out-of-fold scores.

Classification without labels (Metodiev, Nachman & Thaler 2017,
arXiv:1708.02949): a classifier trained to separate two mixed samples, here
the signal-region data (label 1) from the background template (label 0), is
the optimal signal/background classifier, since the likelihood ratio of the
mixtures is monotone in that of the pure classes. :func:`cwola` splits both
samples into ``folds`` stratified folds; the classifiers trained without fold
$k$ score the data of fold $k$, so every data event gets an *out-of-fold*
score from models that never saw it. The classes are weighted to equal total
weight (the template is usually oversampled).

Classifiers are strategy objects:

- :class:`BoostedTrees`: an ensemble of scikit-learn
  ``HistGradientBoostingClassifier`` models per fold (TRANSIT's classifier;
  ``pip install 'hepjax[anomaly]'``), averaging their probabilities.
- :class:`MLPEnsemble`: an ensemble of JAX MLPs per fold (CATHODE's
  classifier); all ``folds x num_models`` networks are one stacked model
  trained at once by :func:`hepjax.train.fit`.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from .._core import check_positive, check_positive_int
from ..train import fit
from ._regions import check_features


class AbstractClassifier(eqx.Module):
    """A classifier strategy for :func:`cwola`: out-of-fold scores for every row."""

    @abc.abstractmethod
    def out_of_fold(
        self,
        key: PRNGKeyArray,
        x: np.ndarray,
        y: np.ndarray,
        weight: np.ndarray,
        fold: np.ndarray,
        num_folds: int,
    ) -> np.ndarray:
        """Scores ``(n,)``, each from the models trained on the other folds.

        Args:
            key: PRNG key.
            x: ``(n, d)`` finite float32 features.
            y: ``(n,)`` 0/1 labels.
            weight: ``(n,)`` per-row training weights.
            fold: ``(n,)`` the fold of every row, in ``0 .. num_folds - 1``.
            num_folds: the number of folds.
        """


class BoostedTrees(AbstractClassifier):
    """An ensemble of scikit-learn ``HistGradientBoostingClassifier`` per fold.

    Each member uses its own random state for the early-stopping split; the
    score is the mean of the members' signal probabilities. Needs the
    ``anomaly`` extra (``pip install 'hepjax[anomaly]'``).

    Attributes:
        num_models: members per fold (TRANSIT: 50).
        max_iter: boosting iterations of each member.
        learning_rate: the boosting learning rate.
        max_leaf_nodes: leaves per tree.
        early_stopping: stop a member on its held-out 10 % of the training rows.
        num_threads: OpenMP threads of each fit (``None``: scikit-learn's default,
            all cores). One thread is the default: in a process that also runs
            JAX, or on a shared machine, OpenMP's busy-waiting threads were
            measured 100x slower (61 s against 0.5 s for three fits of 5000 rows
            on 2 loaded cores).
    """

    num_models: int = 10
    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    early_stopping: bool = True
    num_threads: int | None = 1

    def __check_init__(self):
        if self.num_threads is not None:
            check_positive_int("num_threads", self.num_threads)
        for name in ("num_models", "max_iter", "max_leaf_nodes"):
            check_positive_int(name, getattr(self, name))
        check_positive("learning_rate", self.learning_rate)

    def out_of_fold(self, key, x, y, weight, fold, num_folds) -> np.ndarray:
        try:
            from sklearn.ensemble import HistGradientBoostingClassifier
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "BoostedTrees needs scikit-learn: pip install 'hepjax[anomaly]'"
            ) from err
        from threadpoolctl import threadpool_limits

        seeds = np.asarray(jax.random.randint(key, (num_folds, self.num_models), 0, 2**31 - 1))
        with threadpool_limits(self.num_threads, user_api="openmp"):
            return self._folds(HistGradientBoostingClassifier, seeds, x, y, weight, fold, num_folds)

    def _folds(self, model_class, seeds, x, y, weight, fold, num_folds) -> np.ndarray:
        scores = np.zeros(len(y))
        for f in range(num_folds):
            train, test = fold != f, fold == f
            total = np.zeros(int(test.sum()))
            for seed in seeds[f]:
                model = model_class(
                    max_iter=self.max_iter,
                    learning_rate=self.learning_rate,
                    max_leaf_nodes=self.max_leaf_nodes,
                    early_stopping=self.early_stopping,
                    random_state=int(seed),
                )
                model.fit(x[train], y[train], sample_weight=weight[train])
                total += model.predict_proba(x[test])[:, 1]
            scores[test] = total / self.num_models
        return scores


class MLPEnsemble(AbstractClassifier):
    """An ensemble of JAX MLPs per fold, trained together by :func:`hepjax.train.fit`.

    Each member is an ``eqx.nn.MLP`` with ReLU, trained with AdamW on the
    class-weighted binary cross-entropy on minibatches of its fold's training
    rows (inputs standardised with the statistics of all rows); the score is
    the mean of the members' sigmoid outputs.

    Attributes:
        num_models: members per fold.
        hidden_size: width of the hidden layers (CATHODE: 64).
        num_layers: hidden layers (CATHODE: 3).
        steps: optimizer steps.
        batch_size: minibatch size of every member.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
    """

    num_models: int = 3
    hidden_size: int = 64
    num_layers: int = 3
    steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4

    def __check_init__(self):
        for name in ("num_models", "hidden_size", "num_layers", "steps", "batch_size"):
            check_positive_int(name, getattr(self, name))
        check_positive("learning_rate", self.learning_rate)

    def out_of_fold(self, key, x, y, weight, fold, num_folds) -> np.ndarray:
        mean, std = x.mean(0), x.std(0)
        xs = jnp.asarray((x - mean) / np.where(std > 0, std, 1.0), jnp.float32)
        num = num_folds * self.num_models
        member_fold = np.repeat(np.arange(num_folds), self.num_models)
        rows = [np.flatnonzero(fold != f) for f in member_fold]
        n_train = np.array([len(r) for r in rows])
        table = np.zeros((num, n_train.max()), np.int32)
        for i, r in enumerate(rows):
            table[i, : len(r)] = r
        k_init, k_seed, k_fit = jax.random.split(key, 3)
        d = x.shape[1]
        models = eqx.filter_vmap(
            lambda k: eqx.nn.MLP(
                d, "scalar", self.hidden_size, self.num_layers, activation=jax.nn.relu, key=k
            )
        )(jax.random.split(k_init, num))
        yj, wj = jnp.asarray(y, jnp.float32), jnp.asarray(weight, jnp.float32)

        def member_loss(model, idx):
            logits = jax.vmap(model)(xs[idx])
            bce = optax.sigmoid_binary_cross_entropy(logits, yj[idx])
            return jnp.sum(wj[idx] * bce) / jnp.sum(wj[idx])

        def loss_fn(models, batch):
            return jnp.sum(eqx.filter_vmap(member_loss)(models, batch["rows"].T))

        seed = int(jax.random.randint(k_seed, (), 0, 2**31 - 1))
        batch_size = int(min(self.batch_size, n_train.min()))

        def batch(step: int) -> dict:
            rng = np.random.default_rng([seed, step])
            pick = (rng.random((batch_size, num)) * n_train).astype(np.int64)
            return {"rows": table[np.arange(num), pick]}

        result = fit(
            models,
            loss_fn,
            optax.adamw(self.learning_rate, weight_decay=self.weight_decay),
            batch,
            steps=self.steps,
            key=k_fit,
            steps_per_call=min(self.steps, 500),
            progress=False,
        )
        predict = lambda ms: eqx.filter_vmap(lambda m: jax.nn.sigmoid(jax.vmap(m)(xs)))(ms)
        probs = np.asarray(eqx.filter_jit(predict)(result.model))  # (num, n)
        scores = np.zeros(len(y))
        for f in range(num_folds):
            test = fold == f
            scores[test] = probs[member_fold == f][:, test].mean(0)
        return scores


def stratified_folds(key: PRNGKeyArray, y: np.ndarray, num_folds: int) -> np.ndarray:
    """``(n,)`` fold of every row: each class shuffled and dealt round-robin into the folds."""
    fold = np.empty(len(y), np.int32)
    for label, k in zip((0, 1), jax.random.split(key), strict=True):
        rows = np.flatnonzero(y == label)
        perm = np.asarray(jax.random.permutation(k, len(rows)))
        fold[rows[perm]] = np.arange(len(rows)) % num_folds
    return fold


def out_of_fold_scores(
    key: PRNGKeyArray,
    first: np.ndarray,
    second: np.ndarray,
    classifier: AbstractClassifier,
    folds: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold scores of ``first`` (label 1) against ``second`` (label 0), classes balanced.

    Returns ``(scores of first (n1,), scores of second (n2,))``.
    """
    if not isinstance(classifier, AbstractClassifier):
        raise TypeError(
            f"classifier must be an anomaly classifier (BoostedTrees(), MLPEnsemble()), "
            f"got {classifier!r}"
        )
    if isinstance(folds, bool) or not isinstance(folds, int | np.integer) or folds < 2:
        raise ValueError(f"folds must be an int >= 2, got {folds!r}")
    n1, n2 = len(first), len(second)
    if folds > min(n1, n2):
        raise ValueError(
            f"folds={folds} is more than the sample size: the smaller sample has "
            f"{min(n1, n2)} rows, and every fold needs rows of both samples"
        )
    x = np.concatenate([first, second])
    y = np.concatenate([np.ones(n1), np.zeros(n2)]).astype(np.float32)
    weight = np.where(y == 1, (n1 + n2) / (2 * n1), (n1 + n2) / (2 * n2)).astype(np.float32)
    k_fold, k_fit = jax.random.split(key)
    fold = stratified_folds(k_fold, y, folds)
    scores = np.asarray(classifier.out_of_fold(k_fit, x, y, weight, fold, folds), np.float64)
    return scores[:n1], scores[n1:]


def cwola(
    key: PRNGKeyArray,
    sr_features: Float[ArrayLike, "n d"],
    samples: Float[ArrayLike, "m d"],
    *,
    classifier: AbstractClassifier,
    folds: int = 5,
) -> Float[np.ndarray, " n"]:
    """Out-of-fold CWoLa scores of the signal-region data against a background template.

    Args:
        key: PRNG key for the folds and the classifiers.
        sr_features: ``(n, d)`` the signal-region data (label 1).
        samples: ``(m, d)`` the template's samples (label 0), e.g. from
            ``template.sample(key, sample_masses(key, sr_mass, 4 * n))``.
        classifier: :class:`BoostedTrees` or :class:`MLPEnsemble`.
        folds: $k$ of the stratified k-fold split (at least 2).

    Returns:
        ``(n,)`` scores of the data, higher meaning more signal-like; each from
        classifiers that never saw its row.

    Raises:
        TypeError: an unknown classifier.
        ValueError: features that are not ``(n, d)`` of one width, rows with NaN
            or inf (counted in the message), or ``folds`` above the sample size.
    """
    data = check_features("sr_features", sr_features)
    template = check_features("samples", samples, data.shape[1])
    return out_of_fold_scores(key, data, template, classifier, folds)[0]
