r"""Design optimisers: local generative surrogates, direct gradients, finite differences.

All three minimise

$$L(\psi) = \mathbb{E}_{x \sim p(x\mid\psi)}\bigl[\,\cdot\,\bigr] \to
  R(\psi) = \mathrm{objective}\bigl(\{x_i\}_{i=1}^n\bigr) + P(\psi),
  \qquad x_i = \mathrm{simulate}(k_i, \psi),$$

where ``objective`` maps either one simulator output to a scalar (then $R$ is
its sample mean, L-GSO's $\mathbb{E}[f(x)]$) or a whole batch of outputs to a
scalar (a resolution, a mutual-information bound), and $P$ is an optional
penalty (:class:`~hepjax.design.LinearPenalty`). Each ``run(key, psi0,
steps=...)`` returns a :class:`DesignResult` with the path of designs, the
objective measured by the *simulator* at each of them and the cumulative
number of simulator calls (one call = one ``simulate(key, psi)``, one event),
and logs every simulated design to HDF5 (:class:`~hepjax.design.CampaignLog`)
so that an interrupted run resumes: step $k$ uses ``jax.random.fold_in(key,
k)``, so a resumed run repeats the uninterrupted one.

**Local generative surrogate** (L-GSO; Shirobokov, Belavin, Kagan, Ustyuzhanin
& Baydin, arXiv:2002.04632, Algorithm 1). At step $k$:

1. draw ``designs_per_step`` designs in the trust box $\psi_k \pm \delta$
   (a Latin hypercube, the current design included) and simulate
   ``samples_per_design`` outputs at each;
2. add them to the replay buffer and take the buffer's samples whose designs
   lie inside the trust box (L-GSO's experience replay);
3. train a conditional generative model $q_\phi(x \mid \psi)$ on them
   by maximum likelihood, starting from the previous step's weights
   (warm start): a :class:`~hepjax.generative.ConditionalSplineFlow`, whose
   samples $x = f_\phi^{-1}(z; \psi)$ are differentiable in $\psi$;
4. estimate $\nabla_\psi R$ from surrogate samples at fixed base noise $z$,
   $\nabla_\psi\,\mathrm{objective}(\{f_\phi^{-1}(z_i;\psi)\}) + \nabla P$,
   and take ``surrogate_steps`` optax steps, each projected onto the trust
   box and the space.

Training goes through :func:`hepjax.train.fit`. Designs whose outputs are not
finite are reported (a warning with the design) and left out.

**Direct gradients** through the stochastic simulator: pathwise
(reparametrisation, ``jax.grad`` of $R$ with the simulator's random numbers
fixed) when the simulator is differentiable, or any :mod:`hepjax.estimators`
estimator (stochastic derivatives, score function) for simulators with
discrete randomness.

**Finite differences**: central differences $\partial_j R \approx
[R(\psi + h_j e_j) - R(\psi - h_j e_j)]/(2h_j)$ with common random numbers
at the $2p + 1$ designs of a step; the baseline whose simulator calls the
surrogate should beat.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import PRNGKeyArray

from .._core import check_positive, check_positive_int
from ._log import CampaignLog
from ._space import Box, latin_hypercube

__all__ = [
    "DesignResult",
    "DirectGradientOptimizer",
    "FiniteDifferenceOptimizer",
    "LocalSurrogateOptimizer",
]


@dataclasses.dataclass
class DesignResult:
    """What the optimisers' ``run`` returns.

    Attributes:
        path: the designs $\\psi_0, \\dots, \\psi_K$, ``(K+1, p)``.
        objective: the objective measured with the simulator at each design of
            the path, ``(K+1,)`` (the last one by a final evaluation).
        simulations: the total number of simulator calls (events), including
            those of the final evaluation.
        simulations_at: the cumulative calls when each design of the path had
            been measured, ``(K+1,)``.
        designs: every simulated design, ``(N, p)``.
        skipped: ``(step, design)`` of each design whose outputs were not finite.
        resumed_from: the step the run resumed from its log (``None``: fresh).
        names: the parameters' names.
    """

    path: np.ndarray
    objective: np.ndarray
    simulations: int
    simulations_at: np.ndarray
    designs: np.ndarray
    skipped: list
    resumed_from: int | None
    names: tuple[str, ...]

    @property
    def optimum(self) -> np.ndarray:
        """The last design of the path."""
        return self.path[-1]


def _batch_objective(objective: Callable, out_shape: tuple, n: int, per_sample: bool | None):
    """``objective`` as a function of a ``(n, *out_shape)`` batch returning a scalar."""
    single = jax.ShapeDtypeStruct(out_shape, jnp.float32)
    batch = jax.ShapeDtypeStruct((n, *out_shape), jnp.float32)
    problem = ""
    if per_sample is not False:
        try:
            out = jax.eval_shape(objective, single)
        except Exception as e:
            out, problem = None, f"{type(e).__name__}: {e}"
        if out is not None and getattr(out, "shape", None) == ():
            return lambda xs: jnp.mean(jax.vmap(objective)(xs)), True
        if out is not None:
            problem = f"it returns shape {getattr(out, 'shape', type(out).__name__)} on one output"
        if per_sample:
            raise ValueError(
                f"objective must map one simulator output of shape {out_shape} to a scalar; "
                f"{problem}"
            )
    try:
        out = jax.eval_shape(objective, batch)
    except Exception as e:
        raise ValueError(
            f"objective must map one simulator output {out_shape} or a batch "
            f"{(n, *out_shape)} to a scalar; on one output {problem or 'not scalar'}, "
            f"on a batch it raised {type(e).__name__}: {e}"
        ) from None
    if getattr(out, "shape", None) != ():
        raise ValueError(
            f"objective must return a scalar; on one simulator output {out_shape}: "
            f"{problem or 'not scalar'}; on a batch {(n, *out_shape)} it returns shape "
            f"{getattr(out, 'shape', type(out).__name__)}"
        )
    return objective, False


def _output_shape(simulate: Callable, psi: Any) -> tuple[int, ...]:
    try:
        out = jax.eval_shape(simulate, jax.random.key(0), psi)
    except Exception as e:
        raise ValueError(
            f"simulate(key, psi) failed on a design of shape {psi.shape}: {type(e).__name__}: {e}"
        ) from None
    shape = getattr(out, "shape", None)
    if shape is None or len(shape) > 1:
        raise ValueError(
            f"simulate(key, psi) must return a scalar or a 1-d array, got {shape or type(out)}"
        )
    return tuple(shape)


def _finite_rows(outputs: np.ndarray) -> np.ndarray:
    """Which designs (leading axis) have all-finite outputs."""
    return np.all(np.isfinite(outputs.reshape(outputs.shape[0], -1)), axis=1)


def _report_skipped(step: int, designs: np.ndarray, ok: np.ndarray, names, skipped: list) -> None:
    for psi in designs[~ok]:
        text = ", ".join(f"{n}={v:.6g}" for n, v in zip(names, psi, strict=True))
        warnings.warn(
            f"simulate returned a non-finite output at the design ({text}) in step {step}; "
            "that design is skipped",
            RuntimeWarning,
            stacklevel=3,
        )
        skipped.append((step, psi.copy()))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _simulate_all(simulate, num, key, designs):
    # one compiled function per simulator and sample count, shared by every optimiser
    keys = jax.random.split(key, num)
    per_design = jax.vmap(simulate, in_axes=(0, None))
    return jax.vmap(per_design, in_axes=(None, 0))(keys, designs)


class _AbstractDesignOptimizer(abc.ABC):
    """The loop shared by the optimisers: checks, log, resume, final evaluation."""

    simulate: Callable
    objective: Callable
    space: Box
    penalty: Callable | None
    per_sample: bool | None

    def _setup(self, simulate, objective, space, penalty, per_sample, optimizer):
        if not callable(simulate):
            raise TypeError(f"simulate must be a function (key, psi) -> output, got {simulate!r}")
        if not callable(objective):
            raise TypeError(f"objective must be a function of outputs, got {objective!r}")
        if not isinstance(space, Box):
            raise TypeError(f"space must be a hepjax.design.Box, got {type(space).__name__}")
        if penalty is not None and not callable(penalty):
            raise TypeError(f"penalty must be a function psi -> scalar, got {penalty!r}")
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(f"optimizer must be an optax.GradientTransformation, got {optimizer!r}")
        self.simulate = simulate
        self.objective = objective
        self.space = space
        self.penalty = penalty
        self.per_sample = per_sample
        self.optimizer = optimizer

    # --- hooks -------------------------------------------------------------------------
    @abc.abstractmethod
    def _config(self) -> dict: ...

    @abc.abstractmethod
    def _init_state(self, psi: jax.Array, out_shape: tuple) -> Any: ...

    @abc.abstractmethod
    def _step(self, key, step, psi, state, ctx) -> tuple[np.ndarray, Any, dict]: ...

    # --- shared pieces -----------------------------------------------------------------
    def _penalty(self, psi):
        return 0.0 if self.penalty is None else self.penalty(psi)

    def _simulate_designs(self, key, designs: Any, num: int) -> np.ndarray:
        """``(m, num, *out)`` outputs; the same keys at every design (common random numbers)."""
        return np.asarray(_simulate_all(self.simulate, num, key, jnp.asarray(designs, jnp.float32)))

    def _evaluate(self, key, psi, num: int, ctx) -> float:
        # padded to the rows of a step's simulations, so that no new shape is compiled
        rows = np.repeat(np.asarray(psi, np.float32)[None], self._rows(), axis=0)
        out = self._simulate_designs(key, rows, num)[0]
        if not np.all(np.isfinite(out)):
            return float("nan")
        return float(ctx["total_objective"](jnp.asarray(out), jnp.asarray(psi, jnp.float32)))

    def _rows(self) -> int:
        """How many designs a step simulates at once."""
        return 1

    def _project(self, psi):
        return self.space.clip(psi)

    # --- the loop ----------------------------------------------------------------------
    def run(
        self,
        key: PRNGKeyArray,
        psi0: Any,
        *,
        steps: int,
        log: str | os.PathLike | None = None,
    ) -> DesignResult:
        """Optimise from ``psi0`` for ``steps`` steps.

        Args:
            key: PRNG key; step ``k`` uses ``jax.random.fold_in(key, k)``.
            psi0: the starting design, inside the space.
            steps: the number of steps (a resumed run continues up to it).
            log: an HDF5 file for the campaign log; an existing log of the same
                configuration is resumed from.

        Returns:
            A :class:`DesignResult`.
        """
        steps = check_positive_int("steps", steps)
        psi = jnp.asarray(self.space.check(psi0, "psi0"), jnp.float32)
        out_shape = _output_shape(self.simulate, psi)
        n_eval = self._evaluation_samples()
        batch_objective, per_sample = _batch_objective(
            self.objective, out_shape, n_eval, self.per_sample
        )
        ctx = {
            "batch_objective": batch_objective,
            "per_sample": per_sample,
            "out_shape": out_shape,
            "total_objective": jax.jit(lambda x, p: batch_objective(x) + self._penalty(p)),
        }
        state = self._init_state(psi, out_shape)
        dim_out = int(np.prod(out_shape)) if out_shape else 1
        history: dict[str, list] = {
            "designs": [np.zeros((0, self.space.dim), np.float32)],
            "design_step": [np.zeros(0, np.int64)],
            "design_valid": [np.zeros(0, bool)],
            "outputs": [np.zeros((0, dim_out), np.float32)],
            "output_design": [np.zeros(0, np.int64)],
            "path": [np.asarray(psi, np.float32)[None]],
            "objective": [np.zeros(0)],
            "simulations": [np.zeros(0, np.int64)],
        }
        skipped: list = []
        start, resumed_from = 0, None
        campaign = None
        if log is not None:
            config = {**self._config(), "space": [self.space.lower, self.space.upper]}
            config["names"] = list(self.space.names)
            config["psi0"] = [float(v) for v in np.asarray(psi)]
            campaign = CampaignLog(log, config)
            if campaign.exists():
                stored, state = campaign.load(state)
                history = {k: [v] for k, v in stored.items()}
                start = resumed_from = len(stored["objective"])
                psi = jnp.asarray(
                    self.space.check(stored["path"][-1], f"the last design in {log}"), jnp.float32
                )
                bad = ~stored["design_valid"].astype(bool)
                skipped = [
                    (int(s), d)
                    for s, d in zip(stored["design_step"][bad], stored["designs"][bad], strict=True)
                ]
        ctx["history"] = history
        total = int(np.concatenate(history["simulations"])[-1]) if start else 0
        for k in range(start, steps):
            step_key = jax.random.fold_in(key, k)
            new_psi, state, rec = self._step(step_key, k, psi, state, ctx)
            designs = np.asarray(rec["designs"], np.float32)
            valid = np.asarray(rec["valid"], bool)
            _report_skipped(k, designs, valid, self.space.names, skipped)
            offset = sum(len(d) for d in history["designs"])
            outputs = rec.get("outputs")
            if outputs is not None:
                keep = np.flatnonzero(valid)
                out = np.asarray(outputs, np.float32)[keep].reshape(len(keep), -1, dim_out)
                history["outputs"].append(out.reshape(-1, dim_out))
                history["output_design"].append(np.repeat(offset + keep, out.shape[1]))
            history["designs"].append(designs)
            history["design_step"].append(np.full(len(designs), k, np.int64))
            history["design_valid"].append(valid)
            total += int(rec["calls"])
            history["objective"].append(np.asarray([rec["objective"]], np.float64))
            history["simulations"].append(np.asarray([total], np.int64))
            psi = jnp.asarray(new_psi, jnp.float32)
            history["path"].append(np.asarray(psi, np.float32)[None])
            if campaign is not None:
                flat = {k2: np.concatenate(v) for k2, v in history.items()}
                history = {k2: [v] for k2, v in flat.items()}
                ctx["history"] = history
                campaign.save(flat, state)
        flat = {k2: np.concatenate(v) for k2, v in history.items()}
        final = self._evaluate(jax.random.fold_in(key, steps), psi, n_eval, ctx)
        total += n_eval
        return DesignResult(
            path=flat["path"].astype(np.float64),
            objective=np.append(flat["objective"], final),
            simulations=total,
            simulations_at=np.append(flat["simulations"], total),
            designs=flat["designs"],
            skipped=skipped,
            resumed_from=resumed_from,
            names=self.space.names,
        )

    @abc.abstractmethod
    def _evaluation_samples(self) -> int: ...


@functools.lru_cache(maxsize=8)
def _flow_optimizer(learning_rate: float) -> optax.GradientTransformation:
    # one object per learning rate, so that hepjax.train.fit reuses its compiled step
    return optax.adam(learning_rate)


def _flow_nll(flow, batch):
    y, c = batch
    return -jnp.mean(jax.vmap(flow.log_prob)(y, c))


class LocalSurrogateOptimizer(_AbstractDesignOptimizer):
    """L-GSO: local conditional generative surrogates of the simulator (module docstring).

    Args:
        simulate: ``simulate(key, psi) -> x``, one event (a scalar or a 1-d output).
        objective: ``objective(x) -> scalar`` on one output (averaged over the
            samples) or ``objective(xs) -> scalar`` on an ``(n, d)`` batch; to be
            minimised, and differentiable in the outputs.
        space: the :class:`~hepjax.design.Box` of designs.
        box_width: the trust box's half-width $\\delta$ (a float, or one per parameter).
        designs_per_step: designs simulated per step (the current one included).
        samples_per_design: simulator calls per design.
        optimizer: the optax optimiser of the design (default ``optax.adam(0.1 *
            min(box_width))``); its state carries over the steps.
        surrogate_steps: design updates per surrogate (each kept in the trust box).
        train_steps: flow training steps per design step (twice that on the first).
        batch_size: the flow's training batch.
        hidden_size: width of the flow's conditioner MLPs.
        num_transforms: spline coupling layers of the flow.
        learning_rate: the flow's Adam learning rate.
        penalty: an optional ``penalty(psi) -> scalar`` added to the objective.
        per_sample: whether ``objective`` acts on one output (``None``: detected
            from its output shape on one output).
        num_given: the first ``num_given`` outputs are properties of the event
            that the design does not change (the particle's true energy): the
            surrogate models the others given them and the design,
            $q(x_{g:} \\mid \\psi, x_{:g})$, and its samples reuse the simulated
            values of the given outputs.
        key: PRNG key of the flow's initial weights (keyword-only).
    """

    def __init__(
        self,
        simulate: Callable,
        objective: Callable,
        space: Box,
        *,
        box_width: float | Any,
        designs_per_step: int = 8,
        samples_per_design: int = 256,
        optimizer: optax.GradientTransformation | None = None,
        surrogate_steps: int = 1,
        train_steps: int = 200,
        batch_size: int = 256,
        hidden_size: int = 32,
        num_transforms: int = 2,
        learning_rate: float = 3e-3,
        penalty: Callable | None = None,
        per_sample: bool | None = None,
        num_given: int = 0,
        key: PRNGKeyArray | None = None,
    ):
        width = np.broadcast_to(np.asarray(box_width, np.float64), (space.dim,)).copy()
        if not np.all(width > 0) or not np.all(np.isfinite(width)):
            raise ValueError(f"box_width must be positive and finite, got {box_width}")
        self.box_width = width
        self.designs_per_step = check_positive_int("designs_per_step", designs_per_step)
        self.samples_per_design = check_positive_int("samples_per_design", samples_per_design)
        self.surrogate_steps = check_positive_int("surrogate_steps", surrogate_steps)
        self.train_steps = check_positive_int("train_steps", train_steps)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_transforms = check_positive_int("num_transforms", num_transforms)
        check_positive("learning_rate", learning_rate)
        self.learning_rate = float(learning_rate)
        self.num_given = check_positive_int("num_given", num_given) if num_given != 0 else 0
        if optimizer is None:
            optimizer = optax.adam(0.1 * float(width.min()))
        self._setup(simulate, objective, space, penalty, per_sample, optimizer)
        self.key = jax.random.key(0) if key is None else key
        self.flow_optimizer = _flow_optimizer(self.learning_rate)
        self._grad_fn = None

    def _config(self):
        return {
            "optimizer": "LocalSurrogateOptimizer",
            "box_width": self.box_width.tolist(),
            "designs_per_step": self.designs_per_step,
            "samples_per_design": self.samples_per_design,
            "surrogate_steps": self.surrogate_steps,
            "train_steps": self.train_steps,
            "batch_size": self.batch_size,
            "hidden_size": self.hidden_size,
            "num_transforms": self.num_transforms,
            "learning_rate": self.learning_rate,
            "num_given": self.num_given,
        }

    def _evaluation_samples(self):
        return self.samples_per_design

    def _rows(self):
        return self.designs_per_step

    def _init_state(self, psi, out_shape):
        from hepjax.generative import ConditionalSplineFlow

        dim = int(np.prod(out_shape)) if out_shape else 1
        if not 0 <= self.num_given < dim:
            raise ValueError(
                f"num_given must be in [0, {dim}) for a simulator with {dim} outputs, "
                f"got {self.num_given}"
            )
        make = lambda key: ConditionalSplineFlow(
            dim - self.num_given,
            self.space.dim + self.num_given,
            hidden_size=self.hidden_size,
            num_transforms=self.num_transforms,
            num_layers=1,
            key=key,
        )
        flow = eqx.filter_jit(make)(self.key)  # one compiled call, not many small ones
        return {
            "opt_state": self.optimizer.init(psi),
            "flow": flow,
            "mean": jnp.zeros(dim, jnp.float32),
            "std": jnp.ones(dim, jnp.float32),
        }

    def _surrogate_grad(self, ctx):
        if self._grad_fn is None:
            batch_objective = ctx["batch_objective"]
            out_shape = ctx["out_shape"]

            @eqx.filter_jit
            def value_and_grad(psi, flow, z, given, mean, std):
                def loss(psi):
                    c = jnp.broadcast_to(self.space.normalise(psi), (z.shape[0], self.space.dim))
                    c = jnp.concatenate([c, given], axis=1)
                    y = jax.vmap(lambda zi, ci: flow.transform_and_log_det(zi, ci)[0])(z, c)
                    y = jnp.concatenate([given, y], axis=1)
                    x = (y * std + mean).reshape(z.shape[0], *out_shape)
                    return batch_objective(x) + self._penalty(psi)

                return jax.value_and_grad(loss)(psi)

            self._grad_fn = value_and_grad
        return self._grad_fn

    def _step(self, key, step, psi, state, ctx):
        from hepjax.train import fit

        k_lhs, k_sim, k_fit, k_z = jax.random.split(key, 4)
        lo, hi = self.space.trust_box(np.asarray(psi), self.box_width)
        designs = np.asarray(psi, np.float32)[None]
        if self.designs_per_step > 1:
            lhs = latin_hypercube(k_lhs, self.designs_per_step - 1, lo, hi)
            designs = np.concatenate([designs, np.asarray(lhs, np.float32)])
        outputs = self._simulate_designs(k_sim, designs, self.samples_per_design)
        valid = _finite_rows(outputs)
        dim = state["mean"].shape[0]
        calls = len(designs) * self.samples_per_design
        objective = float("nan")
        if valid[0]:
            objective = float(ctx["total_objective"](jnp.asarray(outputs[0]), psi))
        # the replay buffer: every valid sample so far whose design is in the trust box
        history = ctx["history"]
        past_designs = np.concatenate(history["designs"])
        past_out = np.concatenate(history["outputs"])
        past_index = np.concatenate(history["output_design"])
        inside = np.all((past_designs >= lo - 1e-6) & (past_designs <= hi + 1e-6), axis=1)
        rows = inside[past_index] if len(past_index) else np.zeros(0, bool)
        new_out = outputs[valid].reshape(-1, dim)
        new_ctx = np.repeat(designs[valid], self.samples_per_design, axis=0)
        y = np.concatenate([past_out[rows], new_out]).astype(np.float32)
        c_raw = np.concatenate([past_designs[past_index[rows]], new_ctx]).astype(np.float32)
        if len(y) == 0:
            raise ValueError(
                f"step {step}: every design in the trust box gave non-finite outputs; "
                "nothing to train the surrogate on"
            )
        if step == 0:  # the standardisation of the outputs is fixed at the first step
            mean, std = y.mean(0), y.std(0)
            state = {**state, "mean": jnp.asarray(mean), "std": jnp.asarray(np.maximum(std, 1e-6))}
        mean, std = np.asarray(state["mean"]), np.asarray(state["std"])
        y_std = ((y - mean) / std).astype(np.float32)
        g = self.num_given
        c = np.concatenate([np.asarray(self.space.normalise(c_raw), np.float32), y_std[:, :g]], 1)
        y_std = np.ascontiguousarray(y_std[:, g:])
        seed = int(jax.random.randint(k_fit, (), 0, 2**31 - 1))
        n, size = len(y_std), min(self.batch_size, len(y_std))

        def batches(i):
            idx = np.random.default_rng((seed, i)).choice(n, size, replace=False)
            return y_std[idx], c[idx]

        trained = fit(
            state["flow"],
            _flow_nll,
            self.flow_optimizer,
            batches,
            steps=self.train_steps * (2 if step == 0 else 1),
            key=k_fit,
            steps_per_call=min(50, self.train_steps),
            progress=False,
        )
        flow = trained.model
        grad_fn = self._surrogate_grad(ctx)
        z = jax.random.normal(k_z, (self.samples_per_design, dim - g), jnp.float32)
        # the given outputs (e.g. the true energy) as simulated at the first valid design
        at = outputs[int(np.argmax(valid))].reshape(self.samples_per_design, dim)[:, :g]
        given = jnp.asarray((at - mean[:g]) / std[:g], jnp.float32)
        opt_state = state["opt_state"]
        new = jnp.asarray(psi)
        lo_j, hi_j = jnp.asarray(lo, jnp.float32), jnp.asarray(hi, jnp.float32)
        for _ in range(self.surrogate_steps):
            _, grad = grad_fn(new, flow, z, given, state["mean"], state["std"])
            if not bool(jnp.all(jnp.isfinite(grad))):
                warnings.warn(
                    f"step {step}: the surrogate's gradient is not finite at {np.asarray(new)}; "
                    "the design is not moved by this surrogate",
                    RuntimeWarning,
                    stacklevel=2,
                )
                break
            updates, opt_state = self.optimizer.update(grad, opt_state, new)
            new = jnp.clip(optax.apply_updates(new, updates), lo_j, hi_j)
        new = self._project(new)
        state = {**state, "opt_state": opt_state, "flow": flow}
        rec = {
            "designs": designs,
            "valid": valid,
            "outputs": outputs,
            "calls": calls,
            "objective": objective,
        }
        return np.asarray(new), state, rec


class DirectGradientOptimizer(_AbstractDesignOptimizer):
    """Gradient descent with gradients through the stochastic simulator (module docstring).

    Args:
        simulate: ``simulate(key, psi) -> x``, one event.
        objective: per-output or batch objective, as for :class:`LocalSurrogateOptimizer`.
        space: the :class:`~hepjax.design.Box` of designs.
        samples_per_step: simulator calls per gradient.
        optimizer: the optax optimiser of the design (default ``optax.adam(0.05 *
            min(width))`` of the space).
        estimator: ``None`` for pathwise gradients (``jax.grad`` through the
            simulator), or a :mod:`hepjax.estimators` estimator (e.g.
            ``AlternativePath()``, ``ScoreFunction()``), which needs a
            per-output objective (the program ``objective(simulate(key, psi))``).
        penalty: an optional ``penalty(psi) -> scalar``.
        per_sample: as for :class:`LocalSurrogateOptimizer`.
    """

    def __init__(
        self,
        simulate: Callable,
        objective: Callable,
        space: Box,
        *,
        samples_per_step: int = 1024,
        optimizer: optax.GradientTransformation | None = None,
        estimator: Any = None,
        penalty: Callable | None = None,
        per_sample: bool | None = None,
    ):
        self.samples_per_step = check_positive_int("samples_per_step", samples_per_step)
        if optimizer is None:
            optimizer = optax.adam(0.05 * float(space.width.min()))
        self._setup(simulate, objective, space, penalty, per_sample, optimizer)
        self.estimator = estimator
        self._grad_fn = None

    def _config(self):
        return {
            "optimizer": "DirectGradientOptimizer",
            "samples_per_step": self.samples_per_step,
            "estimator": type(self.estimator).__name__,
        }

    def _evaluation_samples(self):
        return self.samples_per_step

    def _init_state(self, psi, out_shape):
        return {"opt_state": self.optimizer.init(psi)}

    def _gradient(self, ctx):
        if self._grad_fn is not None:
            return self._grad_fn
        batch_objective, n = ctx["batch_objective"], self.samples_per_step
        if self.estimator is None:

            @jax.jit
            def fn(key, psi):
                def loss(psi):
                    x = jax.vmap(self.simulate, in_axes=(0, None))(jax.random.split(key, n), psi)
                    return batch_objective(x) + self._penalty(psi), x

                (value, x), g = jax.value_and_grad(loss, has_aux=True)(psi)
                return value, g, x

        else:
            import hepjax.estimators as hje

            if not ctx["per_sample"]:
                raise ValueError(
                    "an estimator of hepjax.estimators needs a per-output objective "
                    "(objective(x) -> scalar on one simulator output), got a batch objective"
                )
            program = lambda key, psi: self.objective(self.simulate(key, psi))
            est = hje.value_and_grad(program, estimator=self.estimator, num_samples=n)

            def fn(key, psi):
                value, g = est(key, psi)
                pv, pg = (
                    (0.0, 0.0) if self.penalty is None else jax.value_and_grad(self.penalty)(psi)
                )
                return value + pv, g + pg, None

        self._grad_fn = fn
        return fn

    def _step(self, key, step, psi, state, ctx):
        value, g, x = self._gradient(ctx)(key, psi)
        g = np.asarray(g)
        ok = np.all(np.isfinite(g)) and np.isfinite(float(value))
        if x is not None:
            ok = ok and bool(np.all(np.isfinite(np.asarray(x))))
        opt_state, new = state["opt_state"], psi
        if ok:
            updates, opt_state = self.optimizer.update(jnp.asarray(g), opt_state, psi)
            new = self._project(optax.apply_updates(psi, updates))
        rec = {
            "designs": np.asarray(psi)[None],
            "valid": np.asarray([ok]),
            "outputs": None if x is None else np.asarray(x)[None],
            "calls": self.samples_per_step,
            "objective": float(value) if ok else float("nan"),
        }
        return np.asarray(new), {"opt_state": opt_state}, rec


class FiniteDifferenceOptimizer(_AbstractDesignOptimizer):
    """Gradient descent with central finite differences of the simulated objective.

    Args:
        simulate: ``simulate(key, psi) -> x``, one event.
        objective: per-output or batch objective, as for :class:`LocalSurrogateOptimizer`.
        space: the :class:`~hepjax.design.Box` of designs.
        samples_per_design: simulator calls at each of the $2p+1$ designs of a step.
        step_size: $h_j$ as a fraction of the space's width in parameter $j$.
        optimizer: the optax optimiser of the design (default ``optax.adam(0.05 *
            min(width))``).
        penalty: an optional ``penalty(psi) -> scalar``.
        per_sample: as for :class:`LocalSurrogateOptimizer`.
    """

    def __init__(
        self,
        simulate: Callable,
        objective: Callable,
        space: Box,
        *,
        samples_per_design: int = 1024,
        step_size: float = 0.05,
        optimizer: optax.GradientTransformation | None = None,
        penalty: Callable | None = None,
        per_sample: bool | None = None,
    ):
        self.samples_per_design = check_positive_int("samples_per_design", samples_per_design)
        check_positive("step_size", step_size)
        self.step_size = float(step_size)
        if optimizer is None:
            optimizer = optax.adam(0.05 * float(space.width.min()))
        self._setup(simulate, objective, space, penalty, per_sample, optimizer)

    def _config(self):
        return {
            "optimizer": "FiniteDifferenceOptimizer",
            "samples_per_design": self.samples_per_design,
            "step_size": self.step_size,
        }

    def _evaluation_samples(self):
        return self.samples_per_design

    def _rows(self):
        return 2 * self.space.dim + 1

    def _init_state(self, psi, out_shape):
        return {"opt_state": self.optimizer.init(psi)}

    def _step(self, key, step, psi, state, ctx):
        p = self.space.dim
        h = self.step_size * self.space.width
        base = np.asarray(psi, np.float64)
        plus = np.minimum(base + h * np.eye(p), self.space.upper)
        minus = np.maximum(base - h * np.eye(p), self.space.lower)
        designs = np.concatenate([base[None], plus, minus]).astype(np.float32)
        outputs = self._simulate_designs(key, designs, self.samples_per_design)
        valid = _finite_rows(outputs)
        values = np.asarray(
            [
                float(ctx["total_objective"](jnp.asarray(o), jnp.asarray(d))) if ok else np.nan
                for o, d, ok in zip(outputs, designs, valid, strict=True)
            ]
        )
        opt_state, new = state["opt_state"], psi
        if np.all(valid):
            dist = np.diag(plus - minus)
            g = (values[1 : p + 1] - values[p + 1 :]) / dist
            updates, opt_state = self.optimizer.update(jnp.asarray(g, jnp.float32), opt_state, psi)
            new = self._project(optax.apply_updates(psi, updates))
        rec = {
            "designs": designs,
            "valid": valid,
            "outputs": outputs,
            "calls": len(designs) * self.samples_per_design,
            "objective": float(values[0]),
        }
        return np.asarray(new), {"opt_state": opt_state}, rec
