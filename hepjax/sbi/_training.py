r"""Training of the estimators: a validation split, whole epochs in one compiled call,
and early stopping on the validation loss.

The optimizer is Adam (with optional global-norm clipping). One call of a
compiled function runs a chunk of optimizer steps with ``lax.scan`` (a whole
epoch unless the batches are large), so the host syncs once per epoch instead
of once per step: for the small networks of SBI a step takes about a
millisecond and Python's per-step dispatch would otherwise dominate. The
training rows live on the device when they fit in ``_DEVICE_BYTES`` and are
gathered there by index; larger data (image ensembles) are gathered on the
host one chunk at a time. After each epoch the loss on the held-out rows is
evaluated with a fixed key; training stops after ``patience`` epochs without a
lower validation loss, and the parameters of the best epoch are returned.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..train import FitResult, NonFiniteLossError
from ..train._fit import _accepts_key
from ..train._state import split_model

_DEVICE_BYTES = 256 * 2**20  # training data kept on the device up to this size
_CHUNK_BYTES = 64 * 2**20  # host-gathered batches per compiled call up to this size


def check_training_options(
    *,
    batch_size,
    learning_rate,
    max_steps,
    validation_fraction,
    patience,
) -> None:
    for name, value in (
        ("batch_size", batch_size),
        ("max_steps", max_steps),
        ("patience", patience),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not (isinstance(learning_rate, float | int) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")


def _make_chunk(loss_fn, optimizer, rebuild):
    """``chunk(params, opt_state, key, data, idx, active)``: one optimizer step per row of
    ``idx (k, batch)``; steps with ``active`` false (past ``max_steps``) change nothing."""

    pass_key = _accepts_key(loss_fn)

    def objective(params, batch, key):
        model = rebuild(params)
        return loss_fn(model, batch, key=key) if pass_key else loss_fn(model, batch)

    def chunk(params, opt_state, key, data, idx, active):
        def step(carry, inputs):
            params, opt_state, bad = carry
            rows, on, k = inputs
            batch = jax.tree.map(lambda a: a[rows], data)
            loss, grads = jax.value_and_grad(objective)(params, batch, k)
            updates, new_state = optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            ok = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(grads))
            take = on & ok & (bad == 0)
            keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(take, a, b), new, old)
            bad = jnp.where(on & ~ok & (bad == 0), 1, bad)
            return (keep(new_params, params), keep(new_state, opt_state), bad), loss

        keys = jax.random.split(key, idx.shape[0])
        init = (params, opt_state, jnp.zeros((), jnp.int32))
        (params, opt_state, bad), losses = jax.lax.scan(step, init, (idx, active, keys))
        return params, opt_state, losses, bad

    return jax.jit(chunk, donate_argnums=(0, 1))


def _copy(tree):
    return jax.tree.map(lambda a: jnp.copy(a) if eqx.is_array(a) else a, tree)


def train(
    key,
    model,
    loss_fn,
    data: dict,
    *,
    batch_size: int,
    learning_rate: float,
    max_steps: int,
    validation_fraction: float,
    patience: int,
    clip_norm: float | None,
    progress: bool | None,
):
    """Train ``model`` on ``data`` (dict of ``(n, ...)`` arrays) with early stopping.

    ``loss_fn(model, batch, *, key)`` is the mean loss of a batch. A fraction of
    the rows is held out; its loss (with a fixed key) is evaluated after every
    epoch, training stops after ``patience`` epochs without improvement (or at
    ``max_steps`` optimizer steps), and the model of the best epoch is returned
    with the history.

    Raises:
        hepjax.train.NonFiniteLossError: a non-finite loss or gradient (its
            ``.result.model`` holds the parameters before that step).
    """
    n = next(iter(data.values())).shape[0]
    n_val = max(1, round(validation_fraction * n))
    if n - n_val < 2:
        raise ValueError(
            f"need at least {n_val + 2} simulations (after dropping bad rows) to train with "
            f"validation_fraction={validation_fraction}, got {n}"
        )
    k_split, k_batches, k_val, k_fit = jax.random.split(key, 4)
    perm = np.asarray(jax.random.permutation(k_split, n))
    val = {k: jnp.asarray(v[perm[:n_val]]) for k, v in data.items()}
    tr = {k: np.asarray(v[perm[n_val:]]) for k, v in data.items()}
    n_train = n - n_val
    batch_size = min(batch_size, n_train)
    steps_per_epoch = max(1, n_train // batch_size)

    row_bytes = sum(v[0].nbytes for v in tr.values())
    on_device = row_bytes * n_train <= _DEVICE_BYTES
    if on_device:
        chunks_per_epoch = 1
    else:
        per_chunk = max(1, _CHUNK_BYTES // max(1, row_bytes * batch_size))
        chunks_per_epoch = -(-steps_per_epoch // per_chunk)
    chunk_steps = steps_per_epoch // chunks_per_epoch
    steps_per_epoch = chunk_steps * chunks_per_epoch
    device_data = {k: jnp.asarray(v) for k, v in tr.items()} if on_device else None
    local_idx = np.arange(chunk_steps * batch_size, dtype=np.int32).reshape(chunk_steps, -1)

    optimizer = optax.adam(learning_rate)
    if clip_norm is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(clip_norm), optimizer)
    params, adapter = split_model(model)
    params = _copy(params)  # the chunks donate their inputs
    opt_state = optimizer.init(params)
    run_chunk = _make_chunk(loss_fn, optimizer, adapter.rebuild)
    pass_key = _accepts_key(loss_fn)
    evaluate = jax.jit(
        lambda p: (
            loss_fn(adapter.rebuild(p), val, key=k_val)
            if pass_key
            else loss_fn(adapter.rebuild(p), val)
        )
    )

    bar = _progress_bar(math.ceil(max_steps / steps_per_epoch), progress)
    history = {"step": [], "train_loss": [], "val_loss": []}
    best, best_params, best_step, bad_epochs, step, epoch = math.inf, None, 0, 0, 0, 0
    stopped_early = False
    try:
        while step < max_steps:
            k_epoch = jax.random.fold_in(k_batches, epoch)
            order = np.asarray(jax.random.permutation(k_epoch, n_train))
            losses = []
            for c in range(chunks_per_epoch):
                rows = order[(c * chunk_steps) * batch_size : (c + 1) * chunk_steps * batch_size]
                active = step + np.arange(chunk_steps) < max_steps
                if on_device:
                    source, idx = device_data, rows.reshape(chunk_steps, batch_size)
                else:
                    source = {k: jnp.asarray(v[rows]) for k, v in tr.items()}
                    idx = local_idx
                k_chunk = jax.random.fold_in(k_fit, step)
                params, opt_state, chunk_losses, nonfinite = run_chunk(
                    params, opt_state, k_chunk, source, jnp.asarray(idx), jnp.asarray(active)
                )
                chunk_losses = np.asarray(chunk_losses)[active]
                if int(nonfinite):
                    raise NonFiniteLossError(
                        f"non-finite loss or gradient in optimizer steps {step + 1}.."
                        f"{step + int(active.sum())} (the parameters before it are kept in "
                        "err.result); check the training data and the learning rate",
                        FitResult(
                            model=adapter.rebuild(params),
                            ema_model=None,
                            opt_state=opt_state,
                            key=k_fit,
                            step=step,
                            losses=np.asarray(history["train_loss"]),
                            evals=[],
                            resumed_from=None,
                            examples_per_second=float("nan"),
                        ),
                    )
                losses.append(chunk_losses)
                step += int(active.sum())
            epoch += 1
            value = float(evaluate(params))
            history["step"].append(step)
            history["train_loss"].append(float(np.mean(np.concatenate(losses))))
            history["val_loss"].append(value)
            bar.set_postfix({"val_loss": f"{value:.4g}"}, refresh=False)
            bar.update(1)
            if value < best:
                best, best_step, bad_epochs = value, step, 0
                best_params = _copy(params)
            else:
                bad_epochs += 1
                if bad_epochs >= patience:
                    stopped_early = True
                    break
    finally:
        bar.close()
    if best_params is None:  # every validation loss was NaN
        best_params = params
    history.update(
        best_step=best_step,
        best_val_loss=best,
        stopped_early=stopped_early,
        num_train=n_train,
        num_val=n_val,
        epochs=epoch,
    )
    return adapter.rebuild(best_params), history


def _progress_bar(total: int, enabled: bool | None):
    import sys

    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(total=total, disable=disable, unit="epoch", dynamic_ncols=True)
