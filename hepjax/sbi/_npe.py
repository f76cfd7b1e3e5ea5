r"""Neural posterior estimation (NPE).

A conditional density $q_\phi(\theta \mid x)$ is fitted to pairs
$(\theta_i, x_i)$ drawn from the prior and the simulator by maximum likelihood,

.. math::
    \mathcal L(\phi) = -\frac1N \sum_i \log q_\phi(\theta_i \mid x_i),

whose minimiser is the posterior $p(\theta \mid x)$ for every $x$ at once
(amortised: no retraining per observation). Papamakarios & Murray 2016
(arXiv:1605.06376); Greenberg et al. 2019 (arXiv:1905.07488). Here
$q_\phi$ is a conditional neural spline flow on z-scored $\theta$ and $x$.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import ArrayLike, PRNGKeyArray

from .._core import check_positive, check_positive_int
from ..generative import ConditionalSplineFlow
from ._base import (
    AbstractFlowPosterior,
    ConditionedNet,
    batch_contexts,
    check_prior,
)


def _npe_loss(net, batch, *, key=None):
    del key
    context = batch_contexts(net, batch)
    return -jnp.mean(jax.vmap(net.log_prob_z)(batch["theta"], context))


@eqx.filter_jit
def _make_flow(dim, context_dim, embedding, *, key, **kwargs):
    # one compilation instead of one per eager initialiser
    return ConditionedNet(embedding, ConditionalSplineFlow(dim, context_dim, key=key, **kwargs))


class NPE(AbstractFlowPosterior):
    """Neural posterior estimation with a conditional neural spline flow.

    Sizes are inferred at :meth:`fit`; ``NPE()`` works with its defaults.

    Args:
        num_transforms: number of coupling layers.
        hidden_size: width of the conditioner MLPs. 64 for every spline-flow
            conditioner in :mod:`hepjax.sbi` (NPE, NLE, the local flow of
            HierarchicalNPE): each conditioner only predicts spline knots for
            half of the parameters, and 64 matches the ``sbi`` package's 50
            at the same cost per step.
        num_layers: hidden layers per conditioner.
        num_bins: spline bins per dimension.
        tail_bound: splines act on $[-B, B]$ of the z-scored parameters (identity outside).
        embedding: optional Equinox module mapping one z-scored ``x`` to a
            feature vector, trained jointly with the flow (``None``: identity);
            for ensembles a set embedding, called as ``embedding(x, mask)``.
        prior: optional prior (a task, or an object with ``log_prior(theta)``):
            samples outside its support are rejected and redrawn (the flow's
            leakage out of a bounded prior), and
            :meth:`relative_log_likelihood` divides the posterior by it.
        training: the :class:`~hepjax.sbi.TrainingOptions` (keyword-only).

    Example:
        ```python notest
        est = sbi.NPE().fit(key, theta, x)
        samples = est.sample(key, x_obs, 1000)
        ```
    """

    num_transforms: int = 5
    hidden_size: int = 64
    num_layers: int = 2
    num_bins: int = 8
    tail_bound: float = 5.0
    embedding: Any = None
    prior: Any = None

    def __check_init__(self):
        check_prior(self.prior, ("log_prior",), "NPE")
        for name in ("num_transforms", "hidden_size", "num_layers", "num_bins"):
            check_positive_int(name, getattr(self, name))
        check_positive("tail_bound", self.tail_bound)

    def fit(
        self, key: PRNGKeyArray, theta: ArrayLike, x: ArrayLike, mask: ArrayLike | None = None
    ) -> "NPE":
        """Train on ``theta (n, d)`` and ``x (n, dx)``; returns the fitted estimator.

        ``x`` may hold ensembles ``(n, m, *event_shape)`` with ``mask (n, m)``
        marking the real events (``None``: events that are all NaN are padding);
        they need a set ``embedding``.

        Args:
            key: PRNG key for the split, initialisation and batches.
            theta: ``(n, d)`` parameters drawn from the prior.
            x: ``(n, dx)`` simulations at ``theta``, or ensembles ``(n, m, *event_shape)``.
            mask: ``(n, m)`` true on the real events of ensembles.

        Raises:
            TypeError: non-numeric or boolean ``theta``/``x``.
            ValueError: wrong shapes, different numbers of rows, too few
                simulations, empty ensembles, or NaN rows with ``nan_policy="raise"``.
        """
        build = lambda dim, context_dim, k: _make_flow(
            dim,
            context_dim,
            self.embedding,
            num_transforms=self.num_transforms,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_bins=self.num_bins,
            tail_bound=self.tail_bound,
            key=k,
        )
        return self._fit_conditioned(key, theta, x, mask, build, _npe_loss)
