r"""Feature-space attacks (FGSM, PGD) and adversarial training with a scheduled attacked fraction.

The fast gradient sign method (Goodfellow, Shlens and Szegedy, arXiv:1412.6572)
moves the input by one step to the corner of the $L_\infty$ ball of radius
$\epsilon$ that raises the loss to first order,

.. math::
    x' = x + \epsilon\,\operatorname{sign}\nabla_x \mathcal{L}(f_\theta(x), y).

Projected gradient descent (Madry et al., arXiv:1706.06083) repeats signed
steps of size $\alpha$ and projects back onto the ball after each,

.. math::
    x_{t+1} = \Pi_{\|x' - x\|_\infty \le \epsilon}\big(x_t + \alpha\,
    \operatorname{sign}\nabla_x \mathcal{L}(f_\theta(x_t), y)\big),

with the jet-tagging settings of Rothen et al. (arXiv:2411.09296):
$\epsilon = 0.007$, $\alpha = 0.002$, 10 steps. Both optionally clip to a valid
range of the features. The inputs may be any pytree: its floating leaves are
attacked, the rest (a boolean mask of a padded set) is passed through.

Adversarial training replaces a scheduled fraction $f(s)$ of each batch by its
attacked copy, :func:`adversarial_loss` with :func:`attack_schedule`.
"""

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._core import check_positive, check_positive_int, is_concrete


def check_radius(name: str, value: Any) -> None:
    """A static radius or step must be a finite number >= 0 (a traced one is not checked)."""
    if isinstance(value, jax.Array) and not is_concrete(value):
        return
    if isinstance(value, jax.Array | np.ndarray) and np.ndim(value) == 0:
        value = float(value)
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        if np.isfinite(value) and value < 0:
            raise ValueError(f"{name} must be >= 0 (an attack radius below zero), got {value!r}")
    check_positive(name, value, allow_zero=True)


def _check_bounds(bounds: Any) -> None:
    if bounds is None:
        return
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise ValueError(f"bounds must be None or a pair (low, high), got {bounds!r}")


def _input_grad(loss_fn: Callable, model: Any, x: Any, y: Any) -> Any:
    """``grad_x loss_fn(model, x, y)`` on the floating leaves of ``x`` (``None`` elsewhere)."""
    floats, rest = eqx.partition(x, eqx.is_inexact_array)
    if not jax.tree.leaves(floats):
        raise TypeError("x must contain at least one floating-point array to attack")

    def loss(f):
        out = loss_fn(model, eqx.combine(f, rest), y)
        if jnp.shape(out) != ():
            raise ValueError(f"loss_fn must return a scalar, got shape {jnp.shape(out)}")
        return out

    return jax.grad(loss)(floats), floats, rest


def _clip(x: Any, bounds: Any) -> Any:
    if bounds is None:
        return x
    low, high = bounds
    return jax.tree.map(lambda a: jnp.clip(a, low, high), x)


def fgsm(
    loss_fn: Callable[[Any, Any, Any], jax.Array],
    model: Any,
    x: Any,
    y: Any,
    eps: float = 0.007,
    *,
    bounds: tuple[float, float] | None = None,
) -> Any:
    r"""The fast gradient sign attack $x' = x + \epsilon\,\operatorname{sign}\nabla_x\mathcal{L}$.

    Args:
        loss_fn: ``loss_fn(model, x, y) -> scalar`` (a batch or one example).
        model: the model, passed through to ``loss_fn``.
        x: the inputs, an array or a pytree; its floating leaves are attacked.
        y: the targets, passed through.
        eps: the $L_\infty$ radius (Rothen et al.: 0.007), ``>= 0``.
        bounds: optional ``(low, high)``: the attacked inputs are clipped to it.

    Returns:
        ``x'`` with the structure of ``x``, within ``eps`` of ``x`` in every
        entry; gradients do not flow through it (``stop_gradient``).

    Raises:
        ValueError: ``eps < 0``, malformed ``bounds`` or a non-scalar loss.
    """
    check_radius("eps", eps)
    _check_bounds(bounds)
    grads, floats, rest = _input_grad(loss_fn, model, x, y)
    moved = jax.tree.map(lambda a, g: a + eps * jnp.sign(g).astype(a.dtype), floats, grads)
    return jax.lax.stop_gradient(eqx.combine(_clip(moved, bounds), rest))


def pgd(
    loss_fn: Callable[[Any, Any, Any], jax.Array],
    model: Any,
    x: Any,
    y: Any,
    eps: float = 0.007,
    step: float = 0.002,
    steps: int = 10,
    *,
    bounds: tuple[float, float] | None = None,
    key: Any = None,
) -> Any:
    r"""Projected gradient ascent on the loss within the $L_\infty$ ball of radius ``eps``.

    Args:
        loss_fn: ``loss_fn(model, x, y) -> scalar``.
        model: the model, passed through to ``loss_fn``.
        x: the inputs, an array or a pytree; its floating leaves are attacked.
        y: the targets, passed through.
        eps: the radius of the ball (Rothen et al.: 0.007), ``>= 0``.
        step: the size $\alpha$ of each signed step (0.002), ``>= 0``.
        steps: the number of steps (10).
        bounds: optional ``(low, high)`` valid range, applied after each projection.
        key: optional PRNG key for a uniform random start inside the ball
            (Madry et al.); without it the attack starts at ``x``.

    Returns:
        ``x'`` with the structure of ``x`` and ``|x' - x| <= eps`` entrywise.

    Raises:
        ValueError: ``eps < 0``, ``step < 0``, ``steps < 1`` or malformed ``bounds``.
    """
    check_radius("eps", eps)
    check_radius("step", step)
    check_positive_int("steps", steps)
    _check_bounds(bounds)
    floats, rest = eqx.partition(x, eqx.is_inexact_array)
    if not jax.tree.leaves(floats):
        raise TypeError("x must contain at least one floating-point array to attack")

    def project(z):
        z = jax.tree.map(lambda a, a0: a0 + jnp.clip(a - a0, -eps, eps), z, floats)
        return _clip(z, bounds)

    start = floats
    if key is not None:
        leaves, treedef = jax.tree.flatten(floats)
        keys = jax.random.split(key, len(leaves))
        moved = [
            a + jax.random.uniform(k, a.shape, a.dtype, -eps, eps)
            for k, a in zip(keys, leaves, strict=True)
        ]
        start = project(jax.tree.unflatten(treedef, moved))

    def body(_, z):
        grads = jax.grad(lambda f: loss_fn(model, eqx.combine(f, rest), y))(z)
        return project(jax.tree.map(lambda a, g: a + step * jnp.sign(g).astype(a.dtype), z, grads))

    out = jax.lax.fori_loop(0, steps, body, start)
    return jax.lax.stop_gradient(eqx.combine(out, rest))


class AbstractAttack(eqx.Module):
    """A feature-space attack: ``attack(loss_fn, model, x, y, key) -> x'``."""

    @abc.abstractmethod
    def __call__(self, loss_fn: Callable, model: Any, x: Any, y: Any, key: Any) -> Any:
        """The attacked inputs (see :func:`fgsm`, :func:`pgd`).

        Args:
            loss_fn: ``loss_fn(model, x, y) -> scalar``.
            model: the model under attack.
            x: the inputs (array or pytree; floating leaves are attacked).
            y: the targets.
            key: PRNG key (used by randomised attacks, e.g. PGD's random start).
        """
        ...


class FGSM(AbstractAttack):
    """The fast gradient sign attack as a strategy (:func:`fgsm`).

    Attributes:
        eps: the $L_\\infty$ radius.
        bounds: optional valid range ``(low, high)``.
    """

    eps: float = eqx.field(static=True, default=0.007)
    bounds: tuple[float, float] | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        check_radius("eps", self.eps)
        _check_bounds(self.bounds)

    def __call__(self, loss_fn, model, x, y, key):
        del key
        return fgsm(loss_fn, model, x, y, self.eps, bounds=self.bounds)


class PGD(AbstractAttack):
    """Projected gradient descent as a strategy (:func:`pgd`).

    Attributes:
        eps: the $L_\\infty$ radius.
        step: the size of each signed step.
        steps: the number of steps.
        bounds: optional valid range ``(low, high)``.
        random_start: start from a uniform point in the ball (uses the key).
    """

    eps: float = eqx.field(static=True, default=0.007)
    step: float = eqx.field(static=True, default=0.002)
    steps: int = eqx.field(static=True, default=10)
    bounds: tuple[float, float] | None = eqx.field(static=True, default=None)
    random_start: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        check_radius("eps", self.eps)
        check_radius("step", self.step)
        check_positive_int("steps", self.steps)
        _check_bounds(self.bounds)

    def __call__(self, loss_fn, model, x, y, key):
        return pgd(
            loss_fn,
            model,
            x,
            y,
            self.eps,
            self.step,
            self.steps,
            bounds=self.bounds,
            key=key if self.random_start else None,
        )


def _check_fraction(value: float) -> float:
    if not isinstance(value, int | float | np.number) or isinstance(value, bool):
        raise TypeError(f"fraction must be a number in [0, 1], got {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {value!r}")
    return float(value)


def attack_schedule(
    data: Any, fraction: float | Callable[[int], Any]
) -> Callable[[int], tuple[Any, Any, np.ndarray]]:
    r"""A data stream for :func:`adversarial_loss`: batches with flags on the attacked examples.

    At step $s$ the first $\operatorname{round}(f(s)\,B)$ of the $B$ examples are
    flagged (the batches are shuffled, so these are a random subset).

    Args:
        data: a function ``step -> (x, y)`` or a :class:`hepjax.data.Batches` of
            ``(x, y)`` pairs (``x`` any pytree with a leading batch axis).
        fraction: the attacked fraction, a number in ``[0, 1]`` or a schedule
            ``step -> fraction`` (an Optax schedule, e.g. ``optax.linear_schedule``).

    Returns:
        ``step -> (x, y, attacked)`` with ``attacked`` a boolean ``(B,)`` array,
        to pass to :func:`hepjax.train.fit` as ``data``.
    """
    from hepjax.data import Batches

    get = data.__getitem__ if isinstance(data, Batches) else data
    if not callable(get):
        raise TypeError(f"data must be a function step -> (x, y) or Batches, got {data!r}")
    schedule = fraction if callable(fraction) else (lambda _, f=_check_fraction(fraction): f)

    def batch(step: int):
        got = get(step)
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise ValueError("each batch of data must be a pair (x, y)")
        x, y = got
        size = np.shape(jax.tree.leaves(x)[0])[0]
        f = _check_fraction(float(schedule(step)))
        return x, y, np.arange(size) < round(f * size)

    return batch


def adversarial_loss(
    loss_fn: Callable[[Any, Any, Any], jax.Array], attack: AbstractAttack
) -> Callable[..., jax.Array]:
    r"""The training loss on a batch whose flagged examples are replaced by their attacked copies.

    .. math::
        \mathcal{L}_{\mathrm{adv}}(\theta) = \mathcal{L}\big(f_\theta(\tilde x), y\big),\qquad
        \tilde x_i = \begin{cases} x'_i & \text{attacked}_i \\ x_i & \text{otherwise,}\end{cases}

    with $x'$ the attack on the whole batch at the current weights (held
    constant in the gradient, as in Madry et al.'s min-max training).

    Args:
        loss_fn: ``loss_fn(model, x, y) -> scalar`` on a batch (the attack uses it too).
        attack: an :class:`AbstractAttack` strategy, e.g. ``FGSM(0.007)`` or ``PGD()``.

    Returns:
        ``loss(model, (x, y, attacked), *, key) -> scalar`` for :func:`hepjax.train.fit`,
        with the batches of :func:`attack_schedule`.
    """
    if not isinstance(attack, AbstractAttack):
        raise TypeError(f"attack must be a hepjax.robust attack (FGSM, PGD), got {attack!r}")

    def loss(model, batch, *, key):
        x, y, attacked = batch
        x_adv = attack(loss_fn, model, x, y, key)

        def mix(a, b):
            if not eqx.is_inexact_array(a):
                return a
            flags = attacked.reshape(attacked.shape + (1,) * (a.ndim - 1))
            return jnp.where(flags, b, a)

        return loss_fn(model, jax.tree.map(mix, x, x_adv), y)

    return loss
