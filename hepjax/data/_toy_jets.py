r"""A fast toy generator of quark- and gluon-like jets as padded particle sets.

Not a parton shower: a few lines of physics-flavoured randomness that give two
classes a classifier can learn but not trivially separate. Per jet of class
$c \in \{q, g\}$:

- multiplicity $n = 1 + \mathrm{Poisson}(\bar n_c)$, with $\bar n_g > \bar n_q$
  (gluons radiate more, $C_A/C_F = 9/4$ asymptotically; here $\bar n_g/\bar n_q = 1.3$);
- momentum fractions $z \sim \mathrm{Dirichlet}(\alpha_c \mathbf 1_n)$, with
  $\alpha_q < \alpha_g$ (quark fragmentation is harder);
- angles $(\Delta\eta, \Delta\phi) \sim \mathcal N(0, \sigma_i^2)$ with
  $\sigma_i = \min(s_c\, \sigma_0 / \sqrt{z_i n}, R)$: soft particles are wider,
  and gluon jets are broader ($s_g > s_q$).

The output follows the JetNet layout: constituents sorted by $p_T$ fraction,
features $(\eta^{\rm rel}, \phi^{\rm rel}, p_T^{\rm rel})$ relative to the
$p_T$-weighted jet axis, and a mask.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from hepjax._core import check_positive_int

from ._dataset import ArrayDataset

_MEAN_MULTIPLICITY = (16.0, 21.0)  # quark, gluon
_DIRICHLET_ALPHA = (0.7, 0.9)
_WIDTH_SCALE = (1.0, 1.12)
_SIGMA0 = 0.05
_RADIUS = 0.4


def toy_jet(
    key: PRNGKeyArray, label: Int[Array, ""] | int, *, max_particles: int = 64
) -> tuple[Float[Array, "n 3"], Bool[Array, " n"]]:
    """One toy jet of class ``label`` (0 quark-like, 1 gluon-like) as ``(x, mask)``.

    Args:
        key: PRNG key; the jet is a deterministic function of it.
        label: 0 for a quark-like jet, 1 for a gluon-like one (wider, more particles).
        max_particles: padded set size ``n``.
    """
    k_n, k_z, k_angle = jax.random.split(key, 3)
    label = jnp.asarray(label)
    pick = lambda pair: jnp.where(label == 1, pair[1], pair[0])
    n = jnp.minimum(1 + jax.random.poisson(k_n, pick(_MEAN_MULTIPLICITY)), max_particles)
    mask = jnp.arange(max_particles) < n
    gamma = jax.random.gamma(k_z, pick(_DIRICHLET_ALPHA), (max_particles,))
    gamma = jnp.where(mask, gamma + 1e-12, 0.0)
    z = gamma / jnp.sum(gamma)
    sigma = jnp.minimum(pick(_WIDTH_SCALE) * _SIGMA0 / jnp.sqrt(jnp.maximum(z * n, 1e-6)), _RADIUS)
    angles = sigma[:, None] * jax.random.normal(k_angle, (max_particles, 2))
    axis = jnp.sum(z[:, None] * angles, axis=0)
    rel = angles - axis
    order = jnp.argsort(jnp.where(mask, -z, jnp.inf))
    x = jnp.concatenate([rel, z[:, None]], axis=1)[order]
    mask = mask[order]
    return jnp.where(mask[:, None], x, 0.0), mask


@functools.partial(jax.jit, static_argnames="max_particles")
def _toy_jets(keys, labels, max_particles):
    return jax.vmap(lambda k, y: toy_jet(k, y, max_particles=max_particles))(keys, labels)


def toy_quark_gluon(
    key: PRNGKeyArray, num_jets: int, *, max_particles: int = 64, gluon_fraction: float = 0.5
) -> ArrayDataset:
    """A labelled toy quark/gluon dataset: fields ``x (N, n, 3)``, ``mask (N, n)``, ``y (N,)``.

    Args:
        key: PRNG key; the dataset is a deterministic function of it.
        num_jets: number of jets ``N``.
        max_particles: padded set size ``n``.
        gluon_fraction: the probability that a jet is gluon-like (label 1).
    """
    num_jets = check_positive_int("num_jets", num_jets)
    max_particles = check_positive_int("max_particles", max_particles)
    if not 0.0 <= gluon_fraction <= 1.0:
        raise ValueError(f"gluon_fraction must be in [0, 1], got {gluon_fraction!r}")
    k_label, k_jets = jax.random.split(key)
    labels = jax.random.bernoulli(k_label, gluon_fraction, (num_jets,)).astype(jnp.int32)
    keys = jax.random.split(k_jets, num_jets)
    x, mask = _toy_jets(keys, labels, max_particles)
    return ArrayDataset(x=np.asarray(x, np.float32), mask=np.asarray(mask), y=np.asarray(labels))
