r"""Classifier-based metrics: a ParticleNet tells truth jets from generated ones.

**Multi-model metric** (EPiC-FM paper, Buhmann et al., arXiv:2310.00049): one
classifier with $K+1$ classes is trained to tell the truth jets (class 0) from
the samples of $K$ generative models at once. On held-out jets $x$ of model
$k$ the metric is the mean negative log-posterior of the *truth* class,

$$
\mathcal{L}_k = -\frac{1}{|T_k|}\sum_{x \in T_k} \log p_\theta(\text{truth} \mid x),
$$

which is small when the classifier mistakes model $k$'s jets for truth
(a perfect model gives about $\log(K+1)$ when all classes are balanced,
lower is better, and models are ranked on one common classifier).

**Two-class AUC**: the simpler truth-vs-model classifier; its ROC AUC on held-out
jets is 0.5 for a perfect model and 1 for a fully separable one.
"""

from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hepjax._core import check_positive_int

from ...data import ArrayDataset, Batches
from ...nn import ParticleNet
from ...train import fit
from .._classification import roc_auc
from ._inputs import jets_and_mask

_SMALL = dict(k=7, channels=((32, 32, 32), (64, 64, 64)), hidden_size=128, dropout=0.1)


def _inputs(jets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-particle inputs: etarel, phirel, log ptrel (0 on padding)."""
    logpt = np.log(np.where(mask, np.maximum(jets[..., 2], 1e-8), 1.0))
    return np.where(mask[..., None], np.stack([jets[..., 0], jets[..., 1], logpt], -1), 0.0)


def _prepare(named: Mapping[str, Any]) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    names, xs, ms = [], [], []
    num_slots = None
    for name, arr in named.items():
        x, m = jets_and_mask(name, arr)
        if num_slots is not None and x.shape[1] != num_slots:
            raise ValueError(
                f"all samples must have the same number of particle slots, {name} has "
                f"{x.shape[1]} and the truth has {num_slots}"
            )
        num_slots = x.shape[1]
        names.append(name)
        xs.append(_inputs(x, m).astype(np.float32))
        ms.append(m)
    return names, xs, ms


def _train_and_predict(
    xs: list[np.ndarray],
    ms: list[np.ndarray],
    *,
    key: jax.Array,
    steps: int,
    batch_size: int,
    test_fraction: float,
    learning_rate: float,
    model_kwargs: dict | None,
) -> list[np.ndarray]:
    """Train on the first part of every sample; return held-out log-probs per sample."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    k_split, k_model, k_batches, k_fit = jax.random.split(key, 4)
    split_keys = jax.random.split(k_split, len(xs))
    tr_x, tr_m, tr_y, te = [], [], [], []
    for c, (x, m, sk) in enumerate(zip(xs, ms, split_keys, strict=True)):
        perm = np.asarray(jax.random.permutation(sk, len(x)))
        n_test = max(1, round(test_fraction * len(x)))
        if n_test >= len(x):
            raise ValueError("every sample needs at least 2 jets (one to train, one to test)")
        test, train = perm[:n_test], perm[n_test:]
        tr_x.append(x[train])
        tr_m.append(m[train])
        tr_y.append(np.full(len(train), c, np.int32))
        te.append((x[test], m[test]))
    # Balance the classes: sample weights make every class count equally in the loss.
    counts = np.array([len(y) for y in tr_y], np.float64)
    weights = np.concatenate([np.full(len(y), counts.mean() / len(y), np.float32) for y in tr_y])
    data = ArrayDataset(
        {
            "x": np.concatenate(tr_x),
            "mask": np.concatenate(tr_m),
            "y": np.concatenate(tr_y),
            "w": weights,
        }
    )
    batches = Batches(data, min(batch_size, data.num_examples), key=k_batches)
    kwargs = {**_SMALL, **(model_kwargs or {})}
    model = ParticleNet(3, len(xs), **kwargs, key=k_model)

    def loss_fn(model, batch, *, key):
        keys = jax.random.split(key, batch["x"].shape[0])
        logits = jax.vmap(lambda x, m, k: model(x, m, key=k))(batch["x"], batch["mask"], keys)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])
        return jnp.sum(batch["w"] * ce) / jnp.sum(batch["w"])

    result = fit(
        model,
        loss_fn,
        optax.adamw(learning_rate, weight_decay=1e-4),
        batches,
        steps=steps,
        key=k_fit,
        progress=False,
    )
    trained = eqx.nn.inference_mode(result.model)

    @eqx.filter_jit
    def log_probs(model, x, m):
        return jax.nn.log_softmax(jax.vmap(model)(x, m), axis=-1)

    out = []
    for x, m in te:
        parts = [
            np.asarray(log_probs(trained, x[s : s + 2048], m[s : s + 2048]))
            for s in range(0, len(x), 2048)
        ]
        out.append(np.concatenate(parts))
    return out


def multi_model_classifier_metric(
    truth: Any,
    samples: Mapping[str, Any],
    *,
    key: jax.Array,
    steps: int = 2_000,
    batch_size: int = 256,
    test_fraction: float = 0.5,
    learning_rate: float = 1e-3,
    model_kwargs: dict | None = None,
) -> dict[str, tuple[float, float]]:
    r"""Negative log-posterior of the truth class on each model's held-out jets.

    Trains one [`ParticleNet`][hepjax.nn.ParticleNet] (ParticleNet-Lite size by
    default; inputs $\eta^{\rm rel}, \phi^{\rm rel}, \log p_T^{\rm rel}$) with
    ``hepjax.train.fit`` on the first ``1 - test_fraction`` of the truth and
    of every model's jets (class-balanced cross-entropy), and evaluates
    $\mathcal{L}_k = -\overline{\log p(\text{truth}\mid x)}$ on the held-out
    jets of each model $k$ (EPiC-FM paper, arXiv:2310.00049). Lower is better.

    Cost: with the default ParticleNet-Lite and batch 256 (30 particles) a step
    takes about 0.5-1 s on a busy 2-core CPU; for quick runs pass a smaller
    model, e.g. ``model_kwargs=dict(k=4, channels=((16, 16), (32, 32)), hidden_size=32)``,
    and fewer ``steps``.

    Args:
        truth: ``(N, n, 4)`` JetNet-format truth jets.
        samples: ``{model name: (N_k, n, 4) jets}``, at least one model.
        key: PRNG key for the split, the initialisation and the batches.
        steps: training steps.
        batch_size: jets per step.
        test_fraction: held-out fraction of every sample.
        learning_rate: AdamW learning rate.
        model_kwargs: overrides of the ParticleNet constructor arguments.

    Returns:
        ``{name: (value, error)}`` with the error the standard error of the mean
        over the held-out jets, plus ``"truth"``: the same quantity on held-out
        truth jets (the classifier's reference level).
    """
    if not isinstance(samples, Mapping) or len(samples) == 0:
        raise ValueError("samples must be a non-empty mapping {model name: jets}")
    if "truth" in samples:
        raise ValueError("'truth' is reserved for the truth sample; rename that model")
    names, xs, ms = _prepare({"truth": truth, **samples})
    logp = _train_and_predict(
        xs,
        ms,
        key=key,
        steps=steps,
        batch_size=batch_size,
        test_fraction=test_fraction,
        learning_rate=learning_rate,
        model_kwargs=model_kwargs,
    )
    out = {}
    for name, lp in zip(names, logp, strict=True):
        nll = -lp[:, 0]
        err = float(np.std(nll, ddof=1) / np.sqrt(len(nll))) if len(nll) > 1 else float("nan")
        out[name] = (float(np.mean(nll)), err)
    return out


def classifier_auc(
    truth: Any,
    generated: Any,
    *,
    key: jax.Array,
    steps: int = 2_000,
    batch_size: int = 256,
    test_fraction: float = 0.5,
    learning_rate: float = 1e-3,
    model_kwargs: dict | None = None,
) -> tuple[float, float]:
    r"""ROC AUC of a truth-vs-generated ParticleNet on held-out jets: ``(auc, error)``.

    Same training as
    [`multi_model_classifier_metric`][hepjax.metrics.jets.multi_model_classifier_metric]
    with two classes. The score is $\log p(\text{gen}\mid x) - \log
    p(\text{truth}\mid x)$; AUC 0.5 means indistinguishable. The error is the
    Hanley & McNeil (1982) standard error
    $\sqrt{(A(1-A) + (n_g - 1)(Q_1 - A^2) + (n_t - 1)(Q_2 - A^2))/(n_g n_t)}$,
    $Q_1 = A/(2-A)$, $Q_2 = 2A^2/(1+A)$.

    Args:
        truth: ``(N1, n, 4)`` JetNet-format truth jets (etarel, phirel, ptrel, mask).
        generated: ``(N2, n, 4)`` generated jets with the same number of particle slots.
        key: PRNG key for the train/test split, initialisation and batches.
        steps: number of optimiser steps of the classifier.
        batch_size: jets per training batch.
        test_fraction: fraction of each sample held out to compute the AUC.
        learning_rate: Adam learning rate.
        model_kwargs: keyword arguments of the ``ParticleNet`` classifier (``None``: its defaults).
    """
    _, xs, ms = _prepare({"truth": truth, "generated": generated})
    lp_t, lp_g = _train_and_predict(
        xs,
        ms,
        key=key,
        steps=steps,
        batch_size=batch_size,
        test_fraction=test_fraction,
        learning_rate=learning_rate,
        model_kwargs=model_kwargs,
    )
    scores = np.concatenate([lp_t[:, 1] - lp_t[:, 0], lp_g[:, 1] - lp_g[:, 0]])
    labels = np.concatenate([np.zeros(len(lp_t), int), np.ones(len(lp_g), int)])
    a = roc_auc(scores, labels)
    nt, ng = len(lp_t), len(lp_g)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (ng - 1) * (q1 - a * a) + (nt - 1) * (q2 - a * a)) / (ng * nt)
    return float(a), float(np.sqrt(max(var, 0.0)))
