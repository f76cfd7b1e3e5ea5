r"""Compute accounting: parameters, FLOPs per example with the attention term, XLA's own count.

For a transformer over a set of $n$ particles (each particle a token) with $N$
parameters applied per token, $L$ attention layers of width $d$, one forward
pass costs (Kaplan et al., arXiv:2001.08361, table 1, with $n$ tokens)

.. math::
    C_{\mathrm{fwd}} = 2Nn + 4Ln^2d

FLOPs: a multiply-add per parameter and token, plus $QK^\top$ and the
attention-weighted sum of the values, $2n^2d$ each per layer. The backward
pass costs twice the forward one, so training takes $C = 3C_{\mathrm{fwd}} =
6Nn + 12Ln^2d$ per example. :func:`xla_flops` reads XLA's cost analysis of a
compiled function to check the count. The formula counts the matrix products
only, as Kaplan et al. do; XLA also counts the elementwise operations (GELU,
layer norms, softmax), which add about 5% at $d = 128$ and 12-20% at
$d \le 64$ for :class:`hepjax.nn.ParticleTransformerClassifier`.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import numpy as np

from .._core import check_positive_int


def count_params(model: Any) -> int:
    """The number of floating-point parameters of a model (any pytree)."""
    leaves = jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))
    return int(sum(np.size(leaf) for leaf in leaves))


def transformer_flops(
    num_params: int,
    num_particles: int,
    hidden_size: int,
    num_layers: int,
    *,
    training: bool = True,
) -> float:
    r"""FLOPs per example, $6Nn + 12Ln^2d$ for training or $2Nn + 4Ln^2d$ forward.

    Args:
        num_params: parameters $N$ applied to every particle (:func:`count_params`
            of the model; a small pooled head counted per particle is an overestimate
            of a few percent).
        num_particles: the (padded) multiplicity $n$ the attention runs over.
        hidden_size: the attention width $d$.
        num_layers: the attention layers $L$ (0 for a model without attention).
        training: forward and backward (3x) or the forward pass only.
    """
    check_positive_int("num_params", num_params)
    check_positive_int("num_particles", num_particles)
    check_positive_int("hidden_size", hidden_size)
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
        raise ValueError(f"num_layers must be an int >= 0, got {num_layers!r}")
    n = float(num_particles)
    forward = 2.0 * num_params * n + 4.0 * num_layers * n * n * hidden_size
    return 3.0 * forward if training else forward


def xla_flops(fn: Callable, *args: Any) -> float:
    """The FLOPs XLA counts for ``jax.jit(fn)(*args)`` (``compile().cost_analysis()``).

    Args:
        fn: the function (e.g. a model's forward pass on one example).
        args: its arguments (arrays, or ``jax.ShapeDtypeStruct``).
    """
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(analysis, list | tuple):
        analysis = analysis[0]
    if not analysis or "flops" not in analysis:
        raise RuntimeError("XLA's cost analysis reported no FLOP count on this backend")
    return float(analysis["flops"])
