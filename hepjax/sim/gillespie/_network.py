r"""Reaction networks: stoichiometry plus propensities.

A network with $R$ reactions and $S$ species is given by two non-negative
integer matrices, ``reactants`` $\nu^-$ and ``products`` $\nu^+$ of shape
``(R, S)``; reaction $r$ changes the state by $\nu^+_r-\nu^-_r$. Mass-action
propensities use the stochastic (combinatorial) convention

$$a_r(x)=k_r\prod_s\binom{x_s}{\nu^-_{rs}},$$

so $2A\to\cdot$ has $a=k\,x_A(x_A-1)/2$ (as GillesPy2). A user-defined
``propensity(x, rates) -> (R,)`` replaces mass action, e.g. Hill kinetics.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


def _int_matrix(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (reactions, species), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
            raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative stoichiometric coefficients")
    return arr


class ReactionNetwork(eqx.Module):
    """A reaction network; build it with :func:`mass_action` or :func:`custom`.

    Attributes:
        reactants, products: ``(R, S)`` stoichiometry as nested tuples (static).
        propensity: ``None`` for mass action, else ``propensity(x, rates) -> (R,)``.
        species, rate_names: labels (static).
    """

    reactants: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    products: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    propensity: Callable | None = eqx.field(static=True, default=None)
    species: tuple[str, ...] = eqx.field(static=True, default=())
    rate_names: tuple[str, ...] = eqx.field(static=True, default=())

    @property
    def num_rates(self) -> int:
        """Length of the ``rates`` vector (one per reaction for mass action)."""
        return len(self.rate_names)

    @property
    def num_reactions(self) -> int:
        return len(self.reactants)

    @property
    def num_species(self) -> int:
        return len(self.reactants[0]) if self.reactants else 0

    @property
    def stoichiometry(self) -> np.ndarray:
        """``products - reactants``, shape ``(R, S)``."""
        return np.asarray(self.products, np.int64) - np.asarray(self.reactants, np.int64)

    def propensities(self, x: Float[Array, " s"], rates: Float[Array, " r"]) -> Array:
        """Propensities $a(x)$, shape ``(R,)``, clipped at 0."""
        if self.propensity is not None:
            a = jnp.asarray(self.propensity(x, rates))
            if a.shape != (self.num_reactions,):
                raise ValueError(
                    f"propensity must return shape ({self.num_reactions},), got {a.shape}"
                )
            return jnp.maximum(a, 0)
        nu = np.asarray(self.reactants, np.int64)
        h = jnp.ones((self.num_reactions,), x.dtype)
        for order in range(1, int(nu.max(initial=0)) + 1):
            mask = nu >= order
            term = jnp.where(mask, (x[None, :] - (order - 1)) / order, 1.0)
            h = h * jnp.prod(term, axis=1)
        return rates * jnp.maximum(h, 0)


def _labels(name, value, n, prefix):
    if value is None:
        return tuple(f"{prefix}{i}" for i in range(n))
    value = tuple(str(v) for v in value)
    if n is not None and len(value) != n:
        raise ValueError(f"{name} must have {n} entries, got {len(value)}")
    return value


def mass_action(
    reactants,
    products,
    *,
    species=None,
    rate_names=None,
) -> ReactionNetwork:
    """A mass-action network from two ``(reactions, species)`` integer arrays.

    Args:
        reactants: ``(R, S)`` non-negative integer stoichiometry of the reactants of each reaction.
        products: ``(R, S)`` non-negative integer stoichiometry of the products.
        species: optional ``S`` species names (default ``x0, x1, ...``).
        rate_names: optional ``R`` names of the rate constants (default ``k0, k1, ...``).
    """
    return custom(reactants, products, None, species=species, rate_names=rate_names)


def custom(
    reactants,
    products,
    propensity: Callable | None,
    *,
    species=None,
    rate_names=None,
) -> ReactionNetwork:
    """A network with user-defined ``propensity(x, rates) -> (R,)`` (``None``: mass action).

    For mass action ``rates`` has one entry per reaction; a custom propensity
    takes as many rates as ``rate_names`` lists (default: one per reaction).

    Args:
        reactants: ``(R, S)`` non-negative integer stoichiometry of the reactants of each reaction.
        products: ``(R, S)`` non-negative integer stoichiometry of the products.
        propensity: ``propensity(x, rates) -> (R,)`` non-negative propensities at state ``x``
            ``(S,)``, or ``None`` for mass action.
        species: optional ``S`` species names.
        rate_names: optional names of the rates ``propensity`` takes (default: one per reaction).
    """
    r = _int_matrix("reactants", reactants)
    p = _int_matrix("products", products)
    if r.shape != p.shape:
        raise ValueError(
            f"reactants and products must have the same shape (reactions, species), "
            f"got {r.shape} and {p.shape}"
        )
    if r.shape[0] == 0 or r.shape[1] == 0:
        raise ValueError(f"a network needs at least one reaction and one species, got {r.shape}")
    if propensity is not None and not callable(propensity):
        raise TypeError(f"propensity must be callable or None, got {type(propensity).__name__}")
    return ReactionNetwork(
        tuple(map(tuple, r.tolist())),
        tuple(map(tuple, p.tolist())),
        propensity,
        _labels("species", species, r.shape[1], "X"),
        _labels("rate_names", rate_names, r.shape[0] if propensity is None else None, "k"),
    )


def birth_death() -> ReactionNetwork:
    r"""$\varnothing\xrightarrow{k_1}X$, $X\xrightarrow{k_2}\varnothing$; rates ``(k1, k2)``.

    From $X(0)=0$: $E[X(t)]=\frac{k_1}{k_2}(1-e^{-k_2t})$ (Poisson at all times).
    """
    return mass_action([[0], [1]], [[1], [0]], species=["X"], rate_names=["k1", "k2"])


def bimolecular() -> ReactionNetwork:
    r"""Association $A+B\xrightarrow{k_f}C$ and dissociation $C\xrightarrow{k_b}A+B$.

    Species ``(A, B, C)``, rates ``(kf, kb)``: the relaxation system of
    arXiv:2604.02121.
    """
    return mass_action(
        [[1, 1, 0], [0, 0, 1]],
        [[0, 0, 1], [1, 1, 0]],
        species=["A", "B", "C"],
        rate_names=["kf", "kb"],
    )


def lotka_volterra() -> ReactionNetwork:
    r"""Prey birth $X\to2X$, predation $X+Y\to2Y$, predator death $Y\to\varnothing$.

    Species ``(X, Y)``, rates ``(c1, c2, c3)``.
    """
    return mass_action(
        [[1, 0], [1, 1], [0, 1]],
        [[2, 0], [0, 2], [0, 0]],
        species=["prey", "predator"],
        rate_names=["c1", "c2", "c3"],
    )


def repressilator(hill: float = 2.0) -> ReactionNetwork:
    r"""The repressilator (Elowitz & Leibler 2000): 3 genes, mRNA $m_i$ and protein $p_i$.

    Species ``(m1, m2, m3, p1, p2, p3)``; rates ``(alpha, alpha0, beta, gamma_m,
    gamma_p)`` with reactions, for $i=1,2,3$ and repressor $j=i-1 \bmod 3$:

    * transcription $\varnothing\to m_i$ at $\alpha_0+\alpha/(1+p_j^n)$,
    * mRNA decay $m_i\to\varnothing$ at $\gamma_m m_i$,
    * translation $m_i\to m_i+p_i$ at $\beta m_i$,
    * protein decay $p_i\to\varnothing$ at $\gamma_p p_i$.

    ``hill`` is the Hill coefficient $n$ (static).
    """
    n_hill = float(hill)
    reactants = np.zeros((12, 6), np.int64)
    products = np.zeros((12, 6), np.int64)
    for i in range(3):
        products[i, i] = 1  # transcription
        reactants[3 + i, i] = 1  # mRNA decay
        reactants[6 + i, i] = 1  # translation
        products[6 + i, i] = 1
        products[6 + i, 3 + i] = 1
        reactants[9 + i, 3 + i] = 1  # protein decay

    def propensity(x, rates):
        alpha, alpha0, beta, gamma_m, gamma_p = (rates[i] for i in range(5))
        m, p = x[:3], x[3:]
        repressor = jnp.roll(p, 1)
        transcription = alpha0 + alpha / (1 + repressor**n_hill)
        return jnp.concatenate([transcription, gamma_m * m, beta * m, gamma_p * p])

    return custom(
        reactants,
        products,
        propensity,
        species=["m1", "m2", "m3", "p1", "p2", "p3"],
        rate_names=["alpha", "alpha0", "beta", "gamma_m", "gamma_p"],
    )
