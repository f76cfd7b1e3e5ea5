r"""An interaction-network edge classifier for hit graphs, and its training.

The classifier (Battaglia et al., arXiv:1612.00222; as used for tracking by
Ju et al., arXiv:2103.16701, and in the GNN + CKF chain of arXiv:2401.16016)
encodes nodes and edges, $h_i = \phi_n(x_i)$ and $e_{ij} = \phi_e(x_{ij})$, then
repeats $K$ message-passing iterations

.. math::
    e_{ij} &\leftarrow e_{ij} + \Phi_E\big([h_i, h_j, e_{ij}]\big), \\
    h_i &\leftarrow h_i + \Phi_N\Big(\big[h_i, \textstyle\sum_{k \to i} e_{ki},
        \sum_{i \to k} e_{ik}\big]\Big),

(messages from the inner and the outer neighbours are summed separately) and
scores every edge with $\sigma(\phi_o([h_i, h_j, e_{ij}]))$. MLPs have layer
norm and SiLU activations. Graphs are padded (:class:`HitGraph`): padded edges
send no messages, so the scores of real edges do not depend on the padding,
and one compiled function serves every event of a padded size.

Training minimises the class-weighted binary cross-entropy over the real edges
with :func:`hepjax.train.fit`, evaluates the validation loss every
``eval_every`` steps, stops after ``patience`` evaluations without
improvement, and returns the best model.
"""

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ._gnn_graph import EDGE_FEATURES, NODE_FEATURES, HitGraph, stack_graphs


class _MLP(eqx.Module):
    """Row-wise MLP: (Linear, LayerNorm, SiLU) x depth, then a Linear.

    Weights are ``(out, in)`` with PyTorch's default initialisation
    $U(-1/\\sqrt{\text{in}}, 1/\\sqrt{\text{in}})$, drawn on the host from a
    generator seeded by the JAX key (no XLA compilation at construction).
    """

    weights: tuple[Float[Array, "o i"], ...]
    biases: tuple[Float[Array, " o"], ...]
    gains: tuple[Float[Array, " w"], ...]
    shifts: tuple[Float[Array, " w"], ...]

    def __init__(self, d_in: int, d_out: int, width: int, depth: int, *, rng: np.random.Generator):
        sizes = [d_in] + [width] * depth + [d_out]
        ws, bs = [], []
        for a, b in itertools.pairwise(sizes):
            lim = 1.0 / math.sqrt(a)
            ws.append(jnp.asarray(rng.uniform(-lim, lim, (b, a)), jnp.float32))
            bs.append(jnp.asarray(rng.uniform(-lim, lim, (b,)), jnp.float32))
        self.weights, self.biases = tuple(ws), tuple(bs)
        self.gains = tuple(jnp.ones(width, jnp.float32) for _ in range(depth))
        self.shifts = tuple(jnp.zeros(width, jnp.float32) for _ in range(depth))

    def __call__(self, x: Float[Array, "n i"]) -> Float[Array, "n o"]:
        for w, b, g, s in zip(self.weights, self.biases, self.gains, self.shifts, strict=False):
            x = x @ w.T + b
            mu = jnp.mean(x, axis=-1, keepdims=True)
            var = jnp.var(x, axis=-1, keepdims=True)
            x = jax.nn.silu((x - mu) * jax.lax.rsqrt(var + 1e-5) * g + s)
        return x @ self.weights[-1].T + self.biases[-1]


def _host_rng(key: PRNGKeyArray) -> np.random.Generator:
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return np.random.default_rng(np.asarray(data, np.uint32).ravel().tolist())


class EdgeClassifier(eqx.Module):
    """Interaction-network edge classifier on a :class:`HitGraph` (see the module docstring).

    Args:
        hidden: width of the node and edge latent vectors and of the MLPs.
        iterations: message-passing iterations $K$ (weights shared across them).
        depth: hidden layers per MLP.
        key: PRNG key for the initialisation.

    Calling it on one (unbatched) graph returns the ``(E,)`` edge logits; use
    :func:`edge_scores` for probabilities (it also handles batched graphs).
    """

    node_encoder: _MLP
    edge_encoder: _MLP
    edge_update: _MLP
    node_update: _MLP
    output: _MLP
    iterations: int = eqx.field(static=True)

    def __init__(
        self,
        *,
        hidden: int = 32,
        iterations: int = 4,
        depth: int = 2,
        key: PRNGKeyArray,
    ):
        for name, v in (("hidden", hidden), ("iterations", iterations), ("depth", depth)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        rng = _host_rng(key)
        self.node_encoder = _MLP(NODE_FEATURES, hidden, hidden, depth, rng=rng)
        self.edge_encoder = _MLP(EDGE_FEATURES, hidden, hidden, depth, rng=rng)
        self.edge_update = _MLP(3 * hidden, hidden, hidden, depth, rng=rng)
        self.node_update = _MLP(3 * hidden, hidden, hidden, depth, rng=rng)
        self.output = _MLP(3 * hidden, 1, hidden, depth, rng=rng)
        self.iterations = iterations

    def __call__(self, graph: HitGraph) -> Float[Array, " e"]:
        if jnp.ndim(graph.edge_mask) != 1:
            raise ValueError(
                "EdgeClassifier takes one graph (no batch axis); use edge_scores or jax.vmap "
                f"for a batch, got edge_mask of shape {jnp.shape(graph.edge_mask)}"
            )
        return self._logits(
            graph.nodes, graph.senders, graph.receivers, graph.edges, graph.edge_mask
        )

    def _logits(self, nodes, senders, receivers, edges, edge_mask) -> Float[Array, " e"]:
        n = nodes.shape[0]
        s, r = senders, receivers
        emask = jnp.asarray(edge_mask, jnp.float32)[:, None]
        h = self.node_encoder(jnp.asarray(nodes, jnp.float32))
        e = self.edge_encoder(jnp.asarray(edges, jnp.float32)) * emask
        for _ in range(self.iterations):
            e = (e + self.edge_update(jnp.concatenate([h[s], h[r], e], -1))) * emask
            m_in = jax.ops.segment_sum(e, r, num_segments=n)
            m_out = jax.ops.segment_sum(e, s, num_segments=n)
            h = h + self.node_update(jnp.concatenate([h, m_in, m_out], -1))
        return self.output(jnp.concatenate([h[s], h[r], e], -1))[:, 0]


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
    """
    logits = _batch_logits(model, graphs)
    y = jnp.asarray(graphs.labels, jnp.float32)
    m = jnp.asarray(graphs.edge_mask, jnp.float32)
    per = -(pos_weight * y * jax.nn.log_sigmoid(logits) + (1 - y) * jax.nn.log_sigmoid(-logits))
    return jnp.sum(per * m) / jnp.maximum(jnp.sum(m), 1.0)


class _Stop(Exception):
    pass


@dataclasses.dataclass
class _EarlyStopping:
    val_fn: Any
    every: int
    patience: int
    best: float = math.inf
    best_model: Any = None
    best_step: int = 0
    bad: int = 0
    history: list = dataclasses.field(default_factory=list)

    def __call__(self, info):
        value = float(self.val_fn(info.model))
        self.history.append((info.step, info.loss, value))
        if value < self.best:
            self.best, self.best_step, self.bad = value, info.step, 0
            self.best_model = jax.tree.map(jnp.copy, info.model)
        else:
            self.bad += 1
            if self.bad >= self.patience:
                raise _Stop
        return {"val_loss": value}


@dataclasses.dataclass
class EdgeClassifierFit:
    """What :func:`train_edge_classifier` returns.

    Attributes:
        model: the classifier at the best validation loss.
        history: ``step``, ``train_loss``, ``val_loss`` lists (one entry per
            evaluation), ``best_step``, ``best_val_loss``, ``stopped_early``,
            ``pos_weight`` and ``steps``.
    """

    model: EdgeClassifier
    history: dict


def train_edge_classifier(
    key: PRNGKeyArray,
    graphs: Sequence[HitGraph],
    *,
    val_graphs: Sequence[HitGraph] | None = None,
    model: EdgeClassifier | None = None,
    hidden: int = 32,
    iterations: int = 4,
    depth: int = 2,
    steps: int = 1000,
    batch_size: int = 4,
    learning_rate: float = 2e-3,
    pos_weight: float | None = None,
    eval_every: int = 50,
    patience: int = 5,
    progress: bool | None = False,
) -> EdgeClassifierFit:
    """Train an :class:`EdgeClassifier` on truth-labelled hit graphs with early stopping.

    Args:
        key: PRNG key (initialisation, batch order).
        graphs: training graphs from :func:`build_graph` (any sizes: they are
            padded to a common size).
        val_graphs: validation graphs (default: the last fifth of ``graphs``,
            at least one, when there are two or more; otherwise no early stopping).
        model: a classifier to continue training (default: a new one with
            ``hidden``, ``iterations``, ``depth``).
        steps: maximum optimiser steps (Adam with cosine decay).
        batch_size: graphs per step.
        learning_rate: peak learning rate.
        pos_weight: weight of the true edges in the loss (default: the ratio
            of false to true edges in the training graphs, which balances them).
        eval_every: steps between validation evaluations.
        patience: evaluations without improvement before stopping.
        progress: show a progress bar.

    Returns:
        An :class:`EdgeClassifierFit` with the best model and the history.
    """
    from ..train import fit

    if isinstance(graphs, HitGraph) or not isinstance(graphs, Sequence):
        raise TypeError(f"graphs must be a sequence of HitGraph, got {type(graphs).__name__}")
    if not graphs:
        raise ValueError("graphs must be a non-empty sequence of HitGraph")
    for g in graphs:
        _check_graph(g, "graphs[i]")
        if np.ndim(g.edge_mask) != 1:
            raise ValueError("graphs must be single (unbatched) HitGraphs")
    for name, v in (("steps", steps), ("batch_size", batch_size), ("eval_every", eval_every)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"patience must be a positive int, got {patience!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
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
        model = EdgeClassifier(hidden=hidden, iterations=iterations, depth=depth, key=k_model)
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
    callbacks = []
    stopper = None
    if val_graphs:
        val = stack_graphs(list(val_graphs))
        val_loss = eqx.filter_jit(loss_fn)
        stopper = _EarlyStopping(lambda m: val_loss(m, val), every=eval_every, patience=patience)
        callbacks.append(stopper)
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.05)
    stopped = False
    try:
        result = fit(
            model,
            loss_fn,
            optax.adam(schedule),
            batch,
            steps=steps,
            key=k_fit,
            clip_norm=1.0,
            callbacks=callbacks,
            progress=progress,
        )
        final = result.model
    except _Stop:
        stopped, final = True, None
    best = stopper.best_model if stopper is not None and stopper.best_model is not None else final
    hist = stopper.history if stopper is not None else []
    history = {
        "step": [h[0] for h in hist],
        "train_loss": [h[1] for h in hist],
        "val_loss": [h[2] for h in hist],
        "best_step": stopper.best_step if stopper else steps,
        "best_val_loss": stopper.best if stopper else float("nan"),
        "stopped_early": stopped,
        "pos_weight": float(pos_weight),
        "steps": hist[-1][0] if hist else steps,
    }
    return EdgeClassifierFit(model=best, history=history)


def edge_metrics(graph: HitGraph, scores: Any, *, threshold: float = 0.5) -> dict[str, float]:
    """Edge efficiency and purity of the classifier at ``threshold``, and its AUC.

    Efficiency = true edges kept / true edges in the graph; purity = true edges
    kept / edges kept; also the overall efficiency (true kept / all true
    segments of the event, counting those the graph missed). Works on one graph
    or a stacked batch.
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
