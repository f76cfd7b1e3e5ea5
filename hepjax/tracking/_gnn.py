r"""An interaction-network edge classifier for hit graphs, and its training.

The classifier runs :class:`hepjax.nn.InteractionNetwork` (Battaglia et al.,
arXiv:1612.00222; as used for tracking by Ju et al., arXiv:2103.16701, and in
the GNN + CKF chain of arXiv:2401.16016) on a :class:`HitGraph` (hits are the
nodes, edges point outwards from the inner hit) and scores every edge with
$\sigma(\phi_o([h_i, h_j, e_{ij}]))$, $\phi_o$ an ``eqx.nn.MLP`` on the final node
and edge latents. Padded edges send no messages, so the scores of real edges do
not depend on the padding, and one compiled function serves every event of a
padded size.

Training minimises the class-weighted binary cross-entropy over the real edges
with :func:`hepjax.train.fit` and its :class:`hepjax.train.EarlyStopping`: the
validation loss is evaluated every ``eval_every`` steps, training stops after
``patience`` evaluations without improvement, and the best model is returned.
"""

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .._core import check_positive, check_positive_int
from ..nn import InteractionNetwork
from ._gnn_graph import EDGE_FEATURES, NODE_FEATURES, HitGraph, stack_graphs


class EdgeClassifier(eqx.Module):
    """Interaction-network edge classifier on a :class:`HitGraph` (see the module docstring).

    Args:
        hidden_size: size of the node and edge latents and of the MLPs' hidden layers.
        num_iterations: message-passing iterations (weights shared across them).
        num_layers: hidden layers per MLP.
        key: PRNG key for the initialisation.

    Calling it on one (unbatched) graph returns the ``(E,)`` edge logits; use
    :func:`edge_scores` for probabilities (it also handles batched graphs).
    """

    network: InteractionNetwork
    output: eqx.nn.MLP

    def __init__(
        self,
        *,
        hidden_size: int = 32,
        num_iterations: int = 4,
        num_layers: int = 2,
        key: PRNGKeyArray,
    ):
        k_net, k_out = jax.random.split(key)
        self.network = InteractionNetwork(
            NODE_FEATURES,
            EDGE_FEATURES,
            hidden_size=hidden_size,
            num_layers=num_layers,
            num_iterations=num_iterations,
            key=k_net,
        )
        self.output = eqx.nn.MLP(
            3 * hidden_size, 1, hidden_size, num_layers, activation=jax.nn.silu, key=k_out
        )

    def __call__(self, graph: HitGraph) -> Float[Array, " e"]:
        if jnp.ndim(graph.edge_mask) != 1:
            raise ValueError(
                "EdgeClassifier takes one graph (no batch axis); use edge_scores or jax.vmap "
                f"for a batch, got edge_mask of shape {jnp.shape(graph.edge_mask)}"
            )
        return self._logits(
            graph.nodes,
            graph.senders,
            graph.receivers,
            graph.edges,
            graph.edge_mask,
            graph.node_mask,
        )

    def _logits(self, nodes, senders, receivers, edges, edge_mask, node_mask) -> Float[Array, " e"]:
        s, r = jnp.asarray(senders), jnp.asarray(receivers)
        h, e = self.network(
            nodes, edges, s, r, node_mask=jnp.asarray(node_mask), edge_mask=jnp.asarray(edge_mask)
        )
        return jax.vmap(self.output)(jnp.concatenate([h[s], h[r], e], -1))[:, 0]


def _batch_logits(model: "EdgeClassifier", graphs: HitGraph) -> Float[Array, "*b e"]:
    """Logits of a stacked batch as one disjoint graph (node indices offset per graph).

    Equivalent to ``jax.vmap(model)``, but the gathers and segment sums stay
    unbatched, which XLA runs several times faster (above all their gradients).
    """
    lead = graphs.edge_mask.shape[:-1]
    if not lead:
        return model(graphs)
    n, e = graphs.nodes.shape[-2], graphs.edge_mask.shape[-1]
    b = math.prod(lead)
    offset = (jnp.arange(b, dtype=jnp.int32) * n)[:, None]
    senders = (jnp.reshape(graphs.senders, (b, e)) + offset).reshape(-1)
    receivers = (jnp.reshape(graphs.receivers, (b, e)) + offset).reshape(-1)
    logits = model._logits(
        jnp.reshape(graphs.nodes, (b * n, -1)),
        senders,
        receivers,
        jnp.reshape(graphs.edges, (b * e, -1)),
        jnp.reshape(graphs.edge_mask, (b * e,)),
        jnp.reshape(graphs.node_mask, (b * n,)),
    )
    return logits.reshape(*lead, e)


def _check_graph(graph: Any, name: str = "graph") -> None:
    if not isinstance(graph, HitGraph):
        raise TypeError(f"{name} must be a HitGraph, got {type(graph).__name__}")


@eqx.filter_jit
def _scores(model: EdgeClassifier, graph: HitGraph) -> Float[Array, "*b e"]:
    fn = lambda g: jnp.where(g.edge_mask, jax.nn.sigmoid(model(g)), 0.0)
    for _ in range(jnp.ndim(graph.edge_mask) - 1):
        fn = jax.vmap(fn)
    return fn(graph)


def edge_scores(model: EdgeClassifier, graph: HitGraph) -> Float[Array, "*b e"]:
    """Edge probabilities $\\sigma(\\ell)$ of one graph or a stacked batch (0 on padding)."""
    if not isinstance(model, EdgeClassifier):
        raise TypeError(f"model must be an EdgeClassifier, got {type(model).__name__}")
    _check_graph(graph)
    return _scores(model, graph)


def edge_loss(
    model: EdgeClassifier, graphs: HitGraph, *, pos_weight: float = 1.0
) -> Float[Array, ""]:
    """Class-weighted binary cross-entropy, averaged over the real edges of a stacked batch.

    .. math::
        \\mathcal L = -\\frac{\\sum_{\\rm edges} m\\,[w_+ y \\log\\sigma(\\ell)
            + (1-y)\\log(1-\\sigma(\\ell))]}{\\sum m}

    Args:
        model: the edge classifier.
        graphs: a stacked batch of padded :class:`HitGraph` (from :func:`stack_graphs`).
        pos_weight: the weight $w_+$ of the true edges (above 1 when they are rare).
    """
    logits = _batch_logits(model, graphs)
    y = jnp.asarray(graphs.labels, jnp.float32)
    m = jnp.asarray(graphs.edge_mask, jnp.float32)
    per = -(pos_weight * y * jax.nn.log_sigmoid(logits) + (1 - y) * jax.nn.log_sigmoid(-logits))
    return jnp.sum(per * m) / jnp.maximum(jnp.sum(m), 1.0)


@dataclasses.dataclass(frozen=True)
class EdgeClassifierResult:
    """What :func:`train_edge_classifier` returns.

    Attributes:
        model: the classifier at the best validation loss (the last one
            without validation graphs).
        best_step: the step of ``model`` (``None`` without validation graphs).
        best_validation_loss: its validation loss (NaN without validation graphs).
        validation_steps: the steps at which the validation loss was evaluated.
        validation_losses: the validation loss at those steps.
        stopped_early: training stopped before ``steps`` (no improvement).
        losses: the training loss at every step run.
        pos_weight: the weight of the true edges in the loss.
    """

    model: EdgeClassifier
    best_step: int | None
    best_validation_loss: float
    validation_steps: np.ndarray
    validation_losses: np.ndarray
    stopped_early: bool
    losses: np.ndarray
    pos_weight: float

    @property
    def steps(self) -> int:
        """Optimiser steps run."""
        return int(self.losses.size)


def train_edge_classifier(
    key: PRNGKeyArray,
    graphs: Sequence[HitGraph],
    *,
    val_graphs: Sequence[HitGraph] | None = None,
    model: EdgeClassifier | None = None,
    hidden_size: int = 32,
    num_iterations: int = 4,
    num_layers: int = 2,
    steps: int = 1000,
    batch_size: int = 4,
    learning_rate: float = 2e-3,
    pos_weight: float | None = None,
    eval_every: int = 50,
    patience: int = 5,
    progress: bool | None = False,
) -> EdgeClassifierResult:
    """Train an :class:`EdgeClassifier` on truth-labelled hit graphs with early stopping.

    Args:
        key: PRNG key (initialisation, batch order).
        graphs: training graphs from :func:`build_graph` (any sizes: they are
            padded to a common size).
        val_graphs: validation graphs (default: the last fifth of ``graphs``,
            at least one, when there are two or more; otherwise no early stopping).
        model: a classifier to continue training (default: a new one with
            ``hidden_size``, ``num_iterations``, ``num_layers``).
        steps: maximum optimiser steps (Adam with cosine decay).
        batch_size: graphs per step.
        learning_rate: peak learning rate.
        pos_weight: weight of the true edges in the loss (default: the ratio
            of false to true edges in the training graphs, which balances them).
        eval_every: steps between validation evaluations.
        patience: evaluations without improvement before stopping.
        progress: show a progress bar.
        hidden_size: latent size of a new model (ignored with ``model``).
        num_iterations: message-passing iterations of a new model.
        num_layers: hidden layers per MLP of a new model.

    Returns:
        An :class:`EdgeClassifierResult` with the best model and the losses.
    """
    from ..train import EarlyStopping, fit

    if isinstance(graphs, HitGraph) or not isinstance(graphs, Sequence):
        raise TypeError(f"graphs must be a sequence of HitGraph, got {type(graphs).__name__}")
    if not graphs:
        raise ValueError("graphs must be a non-empty sequence of HitGraph")
    for g in graphs:
        _check_graph(g, "graphs[i]")
        if np.ndim(g.edge_mask) != 1:
            raise ValueError("graphs must be single (unbatched) HitGraphs")
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    eval_every = check_positive_int("eval_every", eval_every)
    patience = check_positive_int("patience", patience)
    check_positive("learning_rate", learning_rate)
    graphs = list(graphs)
    if val_graphs is None and len(graphs) >= 2:
        n_val = max(1, len(graphs) // 5)
        graphs, val_graphs = graphs[:-n_val], graphs[-n_val:]
    n_pos = sum(int(np.sum(np.asarray(g.labels) & np.asarray(g.edge_mask))) for g in graphs)
    n_all = sum(int(np.sum(g.edge_mask)) for g in graphs)
    if n_pos == 0:
        raise ValueError("the training graphs have no true edges (were they built with truth?)")
    if pos_weight is None:
        pos_weight = max(1.0, (n_all - n_pos) / n_pos)
    batch_size = min(batch_size, len(graphs))
    train = stack_graphs(graphs)
    k_model, k_order, k_fit = jax.random.split(key, 3)
    if model is None:
        model = EdgeClassifier(
            hidden_size=hidden_size,
            num_iterations=num_iterations,
            num_layers=num_layers,
            key=k_model,
        )
    elif not isinstance(model, EdgeClassifier):
        raise TypeError(f"model must be an EdgeClassifier, got {type(model).__name__}")
    n_train = len(graphs)
    per_epoch = max(1, n_train // batch_size)

    def batch(step: int) -> HitGraph:
        epoch, within = divmod(step, per_epoch)
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(k_order, epoch), n_train))
        rows = perm[within * batch_size : (within + 1) * batch_size]
        return jax.tree.map(lambda x: x[rows], train)

    loss_fn = lambda m, b: edge_loss(m, b, pos_weight=pos_weight)
    stopping = None
    if val_graphs:
        val = stack_graphs(list(val_graphs))
        stopping = EarlyStopping(val, patience=patience, every=eval_every)
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.05)
    result = fit(
        model,
        loss_fn,
        optax.adam(schedule),
        batch,
        steps=steps,
        key=k_fit,
        clip_norm=1.0,
        early_stopping=stopping,
        progress=progress,
    )
    return EdgeClassifierResult(
        model=result.model,
        best_step=result.best_step,
        best_validation_loss=float(result.best_validation_loss)
        if stopping is not None
        else float("nan"),
        validation_steps=np.asarray(result.validation_steps),
        validation_losses=np.asarray(result.validation_losses),
        stopped_early=bool(result.stopped_early),
        losses=np.asarray(result.losses),
        pos_weight=float(pos_weight),
    )


def edge_metrics(graph: HitGraph, scores: Any, *, threshold: float = 0.5) -> dict[str, float]:
    """Edge efficiency and purity of the classifier at ``threshold``, and its AUC.

    Efficiency = true edges kept / true edges in the graph; purity = true edges
    kept / edges kept; also the overall efficiency (true kept / all true
    segments of the event, counting those the graph missed). Works on one graph
    or a stacked batch.

    Args:
        graph: one :class:`HitGraph` or a stacked batch, with truth labels.
        scores: edge scores in ``[0, 1]`` of the shape of the graph's edge mask (from
            :func:`edge_scores`).
        threshold: the score above which an edge is kept.
    """
    from ..metrics import roc_auc

    _check_graph(graph)
    scores = np.asarray(scores)
    mask = np.asarray(graph.edge_mask)
    if scores.shape != mask.shape:
        raise ValueError(f"scores must have shape {mask.shape}, got {scores.shape}")
    y = np.asarray(graph.labels)[mask]
    s = scores[mask]
    kept = s > threshold
    n_true = int(np.sum(graph.n_true))
    both = y.any() and (~y).any()
    return {
        "efficiency": float((kept & y).sum() / max(y.sum(), 1)),
        "purity": float((kept & y).sum() / max(kept.sum(), 1)),
        "total_efficiency": float((kept & y).sum() / n_true) if n_true > 0 else float("nan"),
        "auc": roc_auc(s, y.astype(int)) if both else float("nan"),
        "threshold": float(threshold),
    }
