r"""``fit``: the training loop for Equinox and Flax NNX models.

One compiled step performs

.. math::
    \ell, g = \nabla_\theta\, \mathcal{L}(\theta; b_s, k_s), \qquad
    \theta \leftarrow \theta + \mathrm{optax}(g), \qquad
    \bar\theta \leftarrow \beta\,\bar\theta + (1-\beta)\,\theta,

where $b_s$ is the batch at step $s$ (a pure function of the step), $k_s$ a key
split from the carried PRNG key, and $\bar\theta$ the optional EMA of the
weights. The loop adds the rest of what a long run needs: gradient clipping in
the Optax chain, a progress bar with loss and throughput, evaluation
callbacks, early stopping on a validation loss that keeps the best model
(:class:`EarlyStopping`), atomic Orbax checkpoints with exact resume, a stop at
the first non-finite loss, and data parallelism over all devices.

One compiled call runs ``steps_per_call`` steps with ``lax.scan`` over a stack
of batches, so that small models (a step of about a millisecond, as in
simulation-based inference) are not dominated by Python's per-step dispatch.
A call always scans the same number of steps (one compilation); when a
callback, an evaluation, a checkpoint or the last step falls inside it, the
steps past that point are inactive and change nothing, so every chunking gives
the same training run.

Runs that share the loss function and the optimizer (the same Python objects),
the clipping, the EMA decay and the model's static structure reuse one jitted
call: a learning curve of many short fine-tunes traces and compiles its step
once, not once per run (JAX's own cache then keys it on the shapes).
"""

import dataclasses
import inspect
import math
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._core import check_positive_int
from ._callbacks import StepInfo, due
from ._checkpoint import Checkpointer, CheckpointError
from ._early_stopping import EarlyStopping, _Tracker
from ._sharding import DataParallel
from ._state import _is_nnx_module, split_model


class NonFiniteLossError(FloatingPointError):
    """Training met a non-finite loss or gradient; ``.result`` holds the last good state."""

    def __init__(self, message: str, result: "FitResult"):
        super().__init__(message)
        self.result = result


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (same type as the input model); with early
            stopping, the model at the best validation loss.
        ema_model: the model with EMA weights, or ``None`` without ``ema_decay``.
        opt_state: the optimizer state.
        key: the PRNG key after the last step (continue a run from it).
        step: the number of completed steps.
        losses: training loss at every step from 1 to ``step``.
        evals: one dict per evaluation, with its ``"step"``.
        resumed_from: the checkpoint step this run resumed from, if any.
        examples_per_second: throughput of this run, excluding the first (compiling) call.
        best_step: the step of the best validation loss (``None`` without early stopping).
        best_validation_loss: that loss (``nan`` without early stopping).
        validation_steps: the steps at which the validation loss was evaluated.
        validation_losses: the validation loss at each of them.
        stopped_early: whether early stopping ended the run before ``steps``.
    """

    model: Any
    ema_model: Any
    opt_state: Any
    key: Any
    step: int
    losses: np.ndarray
    evals: list[dict]
    resumed_from: int | None
    examples_per_second: float
    best_step: int | None = None
    best_validation_loss: float = float("nan")
    validation_steps: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, int))
    validation_losses: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    stopped_early: bool = False


def _accepts_key(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return "key" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _batch_getter(data: Any) -> Callable[[int], Any]:
    from hepjax.data import Batches

    if isinstance(data, Batches):
        return data.__getitem__
    if callable(data):
        return data
    raise TypeError(
        "data must be a hepjax.data.Batches or a function step -> batch, so that the "
        f"data position can be resumed exactly; got {type(data).__name__}"
    )


def _batch_signature(batch: Any) -> Any:
    return jax.tree.map(lambda x: (np.shape(x), np.asarray(x).dtype.str), batch)


def _describe_mismatch(first: Any, now: Any) -> str:
    flat_first = jax.tree_util.tree_flatten_with_path(first, is_leaf=lambda x: isinstance(x, tuple))
    flat_now = jax.tree_util.tree_flatten_with_path(now, is_leaf=lambda x: isinstance(x, tuple))
    if flat_first[1] != flat_now[1]:
        return f"its structure {flat_now[1]} differs from the first batch's {flat_first[1]}"
    for (path, a), (_, b) in zip(flat_first[0], flat_now[0], strict=True):
        if a != b:
            name = jax.tree_util.keystr(path)
            return f"field {name} has shape/dtype {b}, but the first batch had {a}"
    return "it differs from the first batch"


def _leading_size(batch: Any) -> int:
    leaves = jax.tree.leaves(batch)
    if not leaves or np.ndim(leaves[0]) == 0:
        raise ValueError("a batch must be a pytree of arrays with a leading batch axis")
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if len(sizes) != 1:
        raise ValueError(
            f"every array in a batch must share the leading (batch) dimension, got sizes {sizes}"
        )
    return sizes.pop()


class _BatchFeeder:
    """Fetches the batches of a chunk of steps, checks them against the first one, shards them."""

    def __init__(self, get_batch: Callable[[int], Any], parallel: DataParallel):
        self.get_batch = get_batch
        self.parallel = parallel
        self.signature = None
        self.batch_size = 0

    def _checked(self, step: int) -> Any:
        batch = self.get_batch(step)
        signature = _batch_signature(batch)
        if self.signature is None:
            self.batch_size = _leading_size(batch)
            self.parallel.check_batch_size(self.batch_size)
            self.signature = signature
        elif signature != self.signature:
            raise ValueError(
                f"the batch at step {step} does not match the first batch: "
                f"{_describe_mismatch(self.signature, signature)}"
            )
        return batch

    def chunk(self, start: int, length: int, active: int) -> Any:
        """The batches of steps ``start .. start + length - 1`` stacked on a leading axis.

        Only the first ``active`` steps are trained; the rest repeat the last
        active batch (their updates are discarded) so the stack keeps its shape.
        """
        batches = [self._checked(start + i) for i in range(active)]
        batches += [batches[-1]] * (length - active)
        if length == 1:
            stacked = jax.tree.map(lambda x: np.asarray(x)[None], batches[0])
        else:
            stacked = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *batches)
        return self.parallel.shard_stacked_batch(stacked)


def _key_data(key: Any) -> tuple[np.ndarray, Callable[[Any], Any]]:
    """Raw ``uint32`` key data for checkpoints, and how to rebuild the key."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(key)
        return np.asarray(jax.random.key_data(key)), lambda d: jax.random.wrap_key_data(
            jnp.asarray(d), impl=impl
        )
    if key.dtype != jnp.uint32:
        raise TypeError(f"key must be a jax.random.key or uint32 key data, got dtype {key.dtype}")
    return np.asarray(key), jnp.asarray


_STEPS_CACHE: dict = {}
_STEPS_CACHE_SIZE = 32


def _static_key(model: Any) -> Any:
    """A hashable description of the model's static structure (``None`` if it has none)."""
    if _is_nnx_module(model):
        return None
    import equinox as eqx

    _, static = eqx.partition(model, eqx.is_inexact_array)
    leaves, treedef = jax.tree_util.tree_flatten(static)
    key = (treedef, tuple(leaves))
    try:
        hash(key)
    except TypeError:  # an unhashable static leaf (e.g. an integer array): no reuse
        return None
    return key


def _cached_steps(model, loss_fn, optimizer, clip_norm, rebuild, ema_decay, pass_key):
    """``_make_steps`` of the chained optimizer, reused for the same objects and structure."""
    chained = optimizer
    if clip_norm is not None:
        chained = optax.chain(optax.clip_by_global_norm(clip_norm), optimizer)
    static = _static_key(model)
    if static is None:
        return _make_steps(loss_fn, chained, rebuild, ema_decay, pass_key), chained
    key = (loss_fn, optimizer, clip_norm, static, ema_decay, pass_key)
    try:
        hit = _STEPS_CACHE.get(key)
    except TypeError:  # an unhashable loss function or optimizer
        return _make_steps(loss_fn, chained, rebuild, ema_decay, pass_key), chained
    if hit is None:
        if len(_STEPS_CACHE) >= _STEPS_CACHE_SIZE:
            _STEPS_CACHE.pop(next(iter(_STEPS_CACHE)))
        hit = (_make_steps(loss_fn, chained, rebuild, ema_decay, pass_key), chained)
        _STEPS_CACHE[key] = hit
    return hit


def _make_steps(loss_fn, optimizer, rebuild, ema_decay, pass_key):
    """The compiled call: ``lax.scan`` of optimizer steps over a stack of batches.

    Step ``i`` of the stack runs only if ``i < num_active`` and no earlier step
    of the call met a non-finite loss or gradient; otherwise it leaves the
    state (and the key) unchanged. Returns the new state, the per-step losses
    and whether each step was good.
    """

    def objective(params, batch, key):
        model = rebuild(params)
        return loss_fn(model, batch, key=key) if pass_key else loss_fn(model, batch)

    def one_step(carry, inputs):
        params, opt_state, ema, key, failed = carry
        batch, index, num_active = inputs
        next_key, sub = jax.random.split(key)
        loss, grads = jax.value_and_grad(objective)(params, batch, sub)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        new_ema = None
        if ema is not None:
            new_ema = optax.incremental_update(new_params, ema, step_size=1.0 - ema_decay)
        ok = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(grads))
        active = (index < num_active) & ~failed
        take = active & ok
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(take, a, b), new, old)
        carry = (
            keep(new_params, params),
            keep(new_opt_state, opt_state),
            None if ema is None else keep(new_ema, ema),
            jnp.where(active, next_key, key),
            failed | (active & ~ok),
        )
        return carry, (loss, ok)

    def steps(params, opt_state, ema, key, batches, num_active):
        first = jax.tree.map(lambda b: b[0], batches)
        out = jax.eval_shape(objective, params, first, key)
        if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != ():
            got = getattr(out, "shape", type(out).__name__)
            raise ValueError(f"loss_fn must return a scalar loss, got {got}")
        if not jnp.issubdtype(out.dtype, jnp.floating):
            raise TypeError(f"loss_fn must return a floating-point loss, got dtype {out.dtype}")
        length = jax.tree.leaves(batches)[0].shape[0]
        carry = (params, opt_state, ema, key, jnp.zeros((), bool))
        inputs = (batches, jnp.arange(length), jnp.full(length, num_active))
        (params, opt_state, ema, key, _), (losses, oks) = jax.lax.scan(one_step, carry, inputs)
        return params, opt_state, ema, key, losses, oks

    return jax.jit(steps, donate_argnums=(0, 1, 2))


def _progress_bar(total: int, initial: int, enabled: bool | None):
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(total=total, initial=initial, disable=disable, unit="step", dynamic_ncols=True)


def fit(
    model: Any,
    loss_fn: Callable[..., jax.Array],
    optimizer: optax.GradientTransformation,
    data: Any,
    *,
    steps: int,
    key: Any,
    clip_norm: float | None = None,
    ema_decay: float | None = None,
    callbacks: Sequence[Callable[[StepInfo], dict | None]] = (),
    early_stopping: EarlyStopping | None = None,
    steps_per_call: int = 1,
    checkpoint_dir: str | pathlib.Path | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 3,
    resume: bool = True,
    devices: Sequence[jax.Device] | None = None,
    progress: bool | None = None,
) -> FitResult:
    """Train ``model`` for ``steps`` optimizer steps.

    Args:
        model: an Equinox module (or pytree of arrays) or a Flax NNX module.
        loss_fn: ``loss_fn(model, batch, *, key) -> scalar`` (``key`` may be
            omitted from its signature when the loss is deterministic). It sees
            one whole global batch; write it with ``jax.vmap`` over examples.
        optimizer: an Optax gradient transformation.
        data: a :class:`hepjax.data.Batches` or a function ``step -> batch``.
            Batches must be pure functions of the step so that a resumed run
            sees exactly the data an uninterrupted run would.
        steps: total number of steps (a resumed run continues up to it).
        key: PRNG key; the step keys are split from it, and it is checkpointed.
        clip_norm: clip gradients to this global norm (``optax.clip_by_global_norm``
            prepended to the optimizer chain).
        ema_decay: keep an exponential moving average of the weights with this
            decay (e.g. ``0.999``), returned as ``FitResult.ema_model``.
        callbacks: called as ``cb(info)`` after each step where due (every
            ``cb.every`` steps, default every step, and at the end); a returned
            dict is logged in ``FitResult.evals``. See :class:`Evaluate`.
        early_stopping: an :class:`EarlyStopping` rule: evaluate a validation
            loss every ``early_stopping.every`` steps, stop after ``patience``
            evaluations without improvement, and return the best model.
        steps_per_call: optimizer steps per compiled call (a ``lax.scan`` over
            that many batches). Values above 1 pay off for small models whose
            steps take about a millisecond; a callback due every step makes
            every call a single active step.
        checkpoint_dir: write Orbax checkpoints here; an existing checkpoint is
            resumed from (unless ``resume=False``).
        checkpoint_every: steps between checkpoints (default ``max(1, steps // 10)``);
            the final step is always saved.
        keep_checkpoints: how many recent checkpoints to keep.
        resume: continue from the latest checkpoint in ``checkpoint_dir``.
        devices: devices for data parallelism (default: all of ``jax.devices()``).
            The batch is split over them and the parameters replicated.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        A :class:`FitResult`.

    Raises:
        NonFiniteLossError: at the first non-finite loss or gradient. The update
            of that step is discarded, no further checkpoint is written, and
            ``err.result`` holds the last good state.
        CheckpointError: an unwritable, corrupted or mismatched ``checkpoint_dir``.
    """
    check_positive_int("steps", steps)
    check_positive_int("steps_per_call", steps_per_call)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {optimizer!r}")
    if clip_norm is not None and not (math.isfinite(clip_norm) and clip_norm > 0):
        raise ValueError(f"clip_norm must be a positive number, got {clip_norm!r}")
    if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay!r}")
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise TypeError(
            f"early_stopping must be a hepjax.train.EarlyStopping, got {early_stopping!r}"
        )
    get_batch = _batch_getter(data)
    fingerprint = data.fingerprint() if hasattr(data, "fingerprint") else None
    params, adapter = split_model(model)
    pass_key = _accepts_key(loss_fn)
    run_steps, optimizer = _cached_steps(
        model, loss_fn, optimizer, clip_norm, adapter.rebuild, ema_decay, pass_key
    )
    opt_state = optimizer.init(params)
    ema = jax.tree.map(jnp.copy, params) if ema_decay is not None else None
    key_data, wrap_key = _key_data(key)
    start, losses, evals, resumed_from = 0, [], [], None
    finished_early = False  # a resumed run that early stopping had already ended
    parallel = DataParallel(devices)
    tracker = None
    if early_stopping is not None:
        tracker = _Tracker(early_stopping, loss_fn, adapter.rebuild, pass_key, parallel.replicate)

    checkpointer = None
    if checkpoint_dir is not None:
        every = checkpoint_every if checkpoint_every is not None else max(1, steps // 10)
        checkpointer = Checkpointer(checkpoint_dir, every=every, keep=keep_checkpoints)
        if resume and checkpointer.latest_step() is not None:
            template = {"params": params, "opt_state": opt_state, "ema": ema, "key": key_data}
            if tracker is not None:
                template["best"] = params
            restored, record, resumed_from = checkpointer.restore(template)
            if record.get("data") != fingerprint:
                raise CheckpointError(
                    f"checkpoint {resumed_from} in {checkpointer.directory} was written with "
                    f"data {record.get('data')}, but this run's data is {fingerprint}; use "
                    "the same data stream, a fresh checkpoint_dir, or resume=False"
                )
            if (tracker is not None) != ("early_stopping" in record):
                raise CheckpointError(
                    f"checkpoint {resumed_from} in {checkpointer.directory} was written "
                    f"{'with' if 'early_stopping' in record else 'without'} early stopping; "
                    "resume with the same early_stopping, a fresh checkpoint_dir, or resume=False"
                )
            params, opt_state, ema = restored["params"], restored["opt_state"], restored["ema"]
            key_data = restored["key"]
            start, losses, evals = resumed_from, list(record["losses"]), list(record["evals"])
            finished_early = bool(record.get("stopped_early", False))
            if tracker is not None:
                tracker.restore(record["early_stopping"], parallel.replicate(restored["best"]))

    params, opt_state, ema = parallel.replicate((params, opt_state, ema))
    run_key = parallel.replicate(wrap_key(key_data))

    def result(step: int, seconds: float, examples: int, stopped: bool = False) -> FitResult:
        best = tracker is not None and tracker.best_params is not None
        return FitResult(
            model=adapter.rebuild(tracker.best_params if best else params),
            ema_model=None if ema is None else adapter.rebuild(ema),
            opt_state=opt_state,
            key=run_key,
            step=step,
            losses=np.asarray(losses, dtype=np.float64),
            evals=evals,
            resumed_from=resumed_from,
            examples_per_second=examples / seconds if seconds > 0 else float("nan"),
            best_step=tracker.best_step if tracker is not None else None,
            best_validation_loss=tracker.best if best else float("nan"),
            validation_steps=np.asarray(tracker.steps if tracker else [], dtype=int),
            validation_losses=np.asarray(tracker.losses if tracker else [], dtype=np.float64),
            stopped_early=stopped,
        )

    def save(step: int) -> None:
        state = {"params": params, "opt_state": opt_state, "ema": ema}
        state["key"] = _key_data(run_key)[0]
        record = {"losses": losses, "evals": evals, "data": fingerprint, "step": step}
        if tracker is not None:
            state["best"] = tracker.best_params if tracker.best_params is not None else params
            record["early_stopping"] = tracker.state()
            record["stopped_early"] = stopped
        checkpointer.save(step, state, record)

    def next_stop(step: int) -> int:
        """The end of the call that starts after ``step``: at most ``steps_per_call``
        steps, cut at the next step where the host has to look (a callback, an
        evaluation, a checkpoint, the end)."""
        end = min(steps, step + steps_per_call)
        periods = [getattr(cb, "every", 1) for cb in callbacks]
        if tracker is not None:
            periods.append(early_stopping.every)
        if checkpointer is not None:
            periods.append(checkpointer.every)
        for every in periods:
            end = min(end, (step // every + 1) * every)
        return end

    feeder = _BatchFeeder(get_batch, parallel)
    timed_seconds, timed_examples = 0.0, 0
    started = time.perf_counter()
    bar = _progress_bar(steps, start, progress)
    stopped = finished_early
    try:
        step = start
        running = step < steps and not stopped
        end = next_stop(step) if running else step
        batches = feeder.chunk(step, steps_per_call, end - step) if running else None
        while running:
            tick = time.perf_counter()
            num_active = end - step
            new = run_steps(params, opt_state, ema, run_key, batches, num_active)
            following = next_stop(end)
            if end < steps:  # prepare the next batches while the devices compute (a batch
                # after an early stop is fetched in vain, a small price for the overlap)
                batches = feeder.chunk(end, steps_per_call, following - end)
            params, opt_state, ema, run_key, chunk_losses, oks = jax.block_until_ready(new)
            chunk_losses = np.asarray(chunk_losses)[:num_active]
            oks = np.asarray(oks)[:num_active]
            if not oks.all():
                bad = int(np.argmin(oks))
                losses.extend(float(v) for v in chunk_losses[:bad])
                last = checkpointer.latest_step() if checkpointer else None
                where = (
                    f"; the last checkpoint is step {last} in {checkpointer.directory}"
                    if last is not None
                    else ""
                )
                raise NonFiniteLossError(
                    f"non-finite loss ({chunk_losses[bad]}) or gradient at step "
                    f"{step + bad + 1}; training stopped with the parameters after step "
                    f"{step + bad}{where}",
                    result(step + bad, timed_seconds, timed_examples),
                )
            if step > start:
                timed_seconds += time.perf_counter() - tick
                timed_examples += feeder.batch_size * num_active
            losses.extend(float(v) for v in chunk_losses)
            step = done = end
            end = following
            final = done == steps
            shown = {"loss": f"{losses[-1]:.4g}"}
            if tracker is not None and tracker.due(done, final):
                stopped = tracker(done, params) and not final
                shown["val_loss"] = f"{tracker.losses[-1]:.4g}"
            info = StepInfo(done, losses[-1], params, ema, adapter.rebuild, started)
            for callback in callbacks:
                if due(callback, done, final or stopped):
                    metrics = callback(info)
                    if metrics:
                        evals.append({"step": done, **metrics})
                        shown.update({k: f"{v:.4g}" for k, v in metrics.items()})
            if timed_seconds > 0:
                shown["ex/s"] = f"{timed_examples / timed_seconds:.4g}"
            bar.set_postfix(shown, refresh=False)
            bar.update(num_active)
            if checkpointer is not None and (done % checkpointer.every == 0 or final or stopped):
                save(done)
            running = step < steps and not stopped
    finally:
        bar.close()
        if checkpointer is not None:
            checkpointer.close()
    return result(max(start, step), timed_seconds, timed_examples, stopped)
