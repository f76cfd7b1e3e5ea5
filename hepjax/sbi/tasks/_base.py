"""The abstract task and the task registry.

Every concrete task class carries its registry name as the class attribute
``name`` and is registered with :func:`register` where it is defined;
:func:`get` builds a task by name with keyword arguments for its fields and
:func:`names` lists the registered names. The task modules import this one,
never each other's registry, so there is no import cycle.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..._core import check_positive_int


def check_n(n) -> int:
    """The number of draws: a positive int."""
    return check_positive_int("n", n)


class AbstractTask(eqx.Module):
    """A simulation-based inference task: a prior and a simulator (and, where tractable,
    the exact likelihood and a reference posterior sampler).

    Functions on one example are pure (``simulator(key, theta)``,
    ``log_prior(theta)``, ``log_likelihood(theta, x)``); :meth:`simulate`
    draws a whole training set. Subclasses set the class attribute ``name``
    (their registry name).
    """

    name: ClassVar[str]

    @property
    @abc.abstractmethod
    def dim_theta(self) -> int:
        """Number of parameters."""

    @property
    @abc.abstractmethod
    def dim_x(self) -> int:
        """Size of one simulation (for ensembles: of one flattened event)."""

    @abc.abstractmethod
    def sample_prior(self, key: PRNGKeyArray, n: int) -> Float[Array, "n d"]:
        """``n`` draws from the prior."""

    @abc.abstractmethod
    def log_prior(self, theta: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        """The prior log density of one parameter vector (``-inf`` outside the support)."""

    @abc.abstractmethod
    def simulator(self, key: PRNGKeyArray, theta: Float[ArrayLike, " d"]) -> Float[Array, "..."]:
        """One simulation at ``theta``."""

    def log_likelihood(
        self, theta: Float[ArrayLike, " d"], x: Float[ArrayLike, "..."]
    ) -> Float[Array, ""]:
        """The exact log likelihood $\\log p(x \\mid \\theta)$ of one simulation."""
        raise NotImplementedError(
            f"task {self.name!r} has no tractable likelihood: only simulations"
        )

    def reference_posterior(
        self, key: PRNGKeyArray, x_obs: Float[ArrayLike, "..."], n: int
    ) -> Float[Array, "n d"]:
        """``n`` samples of the true posterior $p(\\theta \\mid x_{obs})$.

        Args:
            key: PRNG key of the draw.
            x_obs: one observation, of the task's observation shape.
            n: the number of samples.
        """
        raise NotImplementedError(f"task {self.name!r} has no reference posterior")

    def simulate(
        self, key: PRNGKeyArray, n: int
    ) -> tuple[Float[Array, "n d"], Float[Array, "n ..."]]:
        """``n`` prior draws ``theta`` and their simulations ``x``."""
        return _simulate(self, key, check_n(n))

    def observation(self, key: PRNGKeyArray) -> tuple[Float[Array, " d"], Float[Array, "..."]]:
        """A true parameter drawn from the prior and one observation ``x_obs`` simulated at it."""
        theta, x = self.simulate(key, 1)
        return theta[0], x[0]

    def check_observation(self, x_obs) -> Array:
        """``x_obs`` as a ``(dim_x,)`` array, or a ValueError naming the expected size."""
        x_obs = jnp.asarray(x_obs)
        if x_obs.ndim == 2 and x_obs.shape[0] == 1:
            x_obs = x_obs[0]
        if x_obs.shape != (self.dim_x,):
            raise ValueError(
                f"x_obs must be one observation of shape ({self.dim_x},) for task "
                f"{self.name!r}, got shape {x_obs.shape}"
            )
        return x_obs


@eqx.filter_jit
def _simulate(task: AbstractTask, key, n: int):
    k_prior, k_sim = jax.random.split(key)
    theta = task.sample_prior(k_prior, n)
    x = jax.vmap(task.simulator)(jax.random.split(k_sim, n), theta)
    return theta, x


_REGISTRY: dict[str, type[AbstractTask]] = {}


def register(cls: type[AbstractTask]) -> type[AbstractTask]:
    """Add a task class to the registry under its ``name`` (a class decorator)."""
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a class attribute name: ClassVar[str] to register")
    if _REGISTRY.get(name, cls) is not cls:
        raise ValueError(f"task name {name!r} is taken by {_REGISTRY[name].__name__}")
    _REGISTRY[name] = cls
    return cls


def names() -> tuple[str, ...]:
    """The names of every registered task, sorted."""
    return tuple(sorted(_REGISTRY))


def get(name: str, **kwargs) -> AbstractTask:
    """The task called ``name`` (one of :func:`names`), built with ``kwargs`` for its fields.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(names())}")
    return _REGISTRY[name](**kwargs)
