r"""The learned next-particle kernel of BRICKS (Hildebrandt et al., arXiv:2605.06591).

One event is an incident particle $I$ (type, energy, entry point, direction),
a cube $C$ (material, density, size) and what leaves: a pass-through flag
$\pi$, the counts $n = (n_\gamma, n_{e^-}, n_{e^+})$, the continuous features
$x_{1..N}$ of the $N = \sum_t n_t$ outgoing particles on
$\mathcal M = \mathbb R \times S^2 \times S^2$ (log-momentum, direction,
exit point) and the deposited fraction $f = E_\text{dep}/E_\text{in}$. With
the conditioning vector $c = c(I, C)$ the kernel's density factorises as

.. math::
    p(\pi, n, x, f \mid c) = P(\pi \mid c)\,\Big[P(n \mid c)\;
    \textstyle\prod_t n_t!\; p_\theta(x_{1..N} \mid n, c)\; q(f \mid n, c)\Big]^{1 - \pi}.

- :class:`MultiplicityModel`: $P(\pi \mid c)$ is a Bernoulli (a pass-through
  is a point mass: the incident particle leaves unchanged, nothing is
  deposited) and $P(n \mid c) = P(n_\gamma \mid c) P(n_{e^-} \mid n_\gamma, c)
  P(n_{e^+} \mid n_\gamma, n_{e^-}, c)$ an autoregressive categorical, each
  factor an MLP (the paper uses a small autoregressive transformer over the
  three counts; with three tokens an MLP per factor is the same model class).
- :class:`SetVectorField`: a transformer vector field $v_\theta(t, x, \cdot)$
  over the padded set, one token per particle with a learned type embedding,
  the time and $c$ added to every token, trained by Riemannian flow matching
  with geodesic paths (Chen & Lipman 2023, arXiv:2302.03660). Base: a
  standard normal on the standardised log-momentum $(u - \mu_u)/\sigma_u$ and
  **uniform** on both spheres (:meth:`hepjax.manifolds.Sphere.random_base`);
  legofmt uses a von Mises-Fisher around the incident direction, which needs
  a concentration per type and energy to be tuned and a closed-form density
  that :func:`hepjax.generative.log_likelihood` would then have to take
  explicitly. The uniform base keeps the likelihood of
  :func:`hepjax.generative.log_likelihood` as it is, and the field learns the
  forward peak.
  $p_\theta$ is the density of the ordered tuple (rows sorted by type) of a
  permutation-equivariant flow; the factor $\prod_t n_t!$ turns it into the
  density of the unordered set.
- :class:`~hepjax.generative.ConditionalSplineFlow` $q(f \mid n, c)$ on
  $y = \operatorname{logit}(f / f_\text{max})$, with $f_\text{max} = 1$
  ($1 + 2m_e/E_\text{in}$ for positrons, whose annihilation deposits their
  rest mass), conditioned on the counts. It models $E[f \mid c]$ directly,
  which is what mean deposits per cube need: conditioning it on the energy
  the sampled set carries, or deriving $f$ from it, passes the continuous
  model's small energy biases on to the deposit, a large relative error in
  thin cubes where almost all the energy passes through. When
  nothing leaves ($N = 0$) the whole energy stays in the cube,
  $f = f_\text{max}$, with probability one; that term is then absent. With
  ``conserve_energy=True`` the kernel does not sample $f$ at all: for data
  from the transport MC with the kernel's cut, $f$ is a function of the
  outgoing set (energy conservation, checked to $10^{-7}$ on the BRICKS
  set-up), so it can be derived from the sampled particles (every event then
  conserves energy exactly, and there is no likelihood term for $f$).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .._core import check_positive_int
from ..data import ArrayDataset, Batches
from ..generative import ConditionalSplineFlow, ExactDivergence, GeodesicPath, sample_ode
from ..generative import log_likelihood as flow_log_likelihood
from ..manifolds import Euclidean, Product, Sphere
from ..nn import SinusoidalEmbedding, TransformerEncoder
from ..train import fit
from ._data import (
    ELECTRON_MASS_MEV,
    MATERIALS,
    Cube,
    Incident,
    Interactions,
    KernelResult,
    canonical_rotation,
    kinetic_energy,
    momentum,
    outgoing_particles,
)
from ._kernels import AbstractKernel, exit_distance

MANIFOLD = Product(Euclidean(1), Sphere(2), Sphere(2))
"""Log-momentum x direction x exit point: the manifold of one outgoing particle."""

LOG_P_LOC, LOG_P_SCALE = -1.0, 1.0
"""Standardisation of the log-momentum ratio $u$: $(u - \\mu_u) / \\sigma_u$."""

_FRACTION_EPS = 1e-5


def context_size(num_materials: int) -> int:
    """Length of the conditioning vector :func:`condition` builds."""
    return 3 + 1 + 2 + 3 + num_materials + 2


def condition(incident: Incident, cube: Cube, num_materials: int) -> Float[Array, " c"]:
    r"""The conditioning vector $c$ of one event (canonical frame).

    One-hot incident type, $\log(E/55\,\mathrm{MeV})$, the entry point
    $(x, y) / (a/2)$ on the entry face, the direction, one-hot material,
    $\log(\rho / 2.2\,\mathrm{g\,cm^{-3}})$ and $\log(a / 1\,\mathrm{cm})$.
    """
    half = 0.5 * cube.size_cm
    return jnp.concatenate(
        [
            jax.nn.one_hot(incident.type, 3),
            jnp.log(incident.energy_mev / 55.0)[None],
            incident.position[:2] / half,
            incident.direction,
            jax.nn.one_hot(cube.material, num_materials),
            jnp.log(cube.density_g_cm3 / 2.2)[None],
            jnp.log(cube.size_cm)[None],
        ]
    ).astype(jnp.float32)


def max_fraction(incident_type, energy_mev):
    r"""$f_\text{max}$: 1, or $1 + 2 m_e / E_\text{in}$ for positrons."""
    return jnp.where(incident_type == 2, 1.0 + 2 * ELECTRON_MASS_MEV / energy_mev, 1.0)


class MultiplicityModel(eqx.Module):
    r"""$P(\pi \mid c)$ and the autoregressive $P(n_\gamma, n_{e^-}, n_{e^+} \mid c)$.

    Each count is a categorical over $0, \dots, K$ (``max_count``) whose
    logits come from an MLP of $c$ and the counts before it.
    """

    passthrough: eqx.nn.MLP
    heads: tuple[eqx.nn.MLP, eqx.nn.MLP, eqx.nn.MLP]
    max_count: int = eqx.field(static=True)

    def __init__(self, cond_size: int, max_count: int, *, hidden_size: int = 64, key):
        self.max_count = check_positive_int("max_count", max_count)
        keys = jax.random.split(key, 4)
        mlp = lambda i, k: eqx.nn.MLP(
            cond_size + i * (max_count + 1),
            max_count + 1,
            hidden_size,
            2,
            activation=jax.nn.silu,
            key=k,
        )
        self.passthrough = eqx.nn.MLP(cond_size, "scalar", hidden_size, 2, jax.nn.silu, key=keys[0])
        self.heads = tuple(mlp(i, k) for i, k in enumerate(keys[1:]))

    def _inputs(self, c, counts, i):
        prev = [jax.nn.one_hot(counts[j], self.max_count + 1) for j in range(i)]
        return jnp.concatenate([c, *prev])

    def log_prob(self, c, counts, passthrough) -> Float[Array, ""]:
        """$\\log P(\\pi, n \\mid c)$; ``counts`` are clipped to ``max_count``."""
        counts = jnp.minimum(counts, self.max_count)
        logit = self.passthrough(c)
        lp_pass = jnp.where(passthrough, jax.nn.log_sigmoid(logit), jax.nn.log_sigmoid(-logit))
        lp = jnp.zeros(())
        for i, head in enumerate(self.heads):
            logits = jax.nn.log_softmax(head(self._inputs(c, counts, i)))
            lp = lp + logits[counts[i]]
        return lp_pass + jnp.where(passthrough, 0.0, lp)

    def sample(self, key, c):
        """Draw $(\\pi, n)$; returns ``(passthrough, counts)``."""
        keys = jax.random.split(key, 4)
        passthrough = jax.random.bernoulli(keys[0], jax.nn.sigmoid(self.passthrough(c)))
        counts = jnp.zeros(3, jnp.int32)
        for i, head in enumerate(self.heads):
            n = jax.random.categorical(keys[i + 1], head(self._inputs(c, counts, i)))
            counts = counts.at[i].set(n)
        return passthrough, counts


class SetVectorField(eqx.Module):
    r"""Transformer vector field on padded sets of $\mathbb R \times S^2 \times S^2$ points.

    Token $i$: $h_i = W x_i + E[\text{type}_i] + \mathrm{MLP}([\gamma(t), c])$,
    then a masked pre-LN :class:`hepjax.nn.TransformerEncoder` and a linear
    read-out to the 7 ambient coordinates (projected onto the tangent space
    by the samplers and losses). ``args = {"mask": (n,), "cond": {"types":
    (n,), "context": (c,)}}``, diffrax's signature ``f(t, x, args)``.
    """

    embed: eqx.nn.Linear
    type_embedding: eqx.nn.Embedding
    context: eqx.nn.MLP
    encoder: TransformerEncoder
    readout: eqx.nn.Linear
    time_embedding: SinusoidalEmbedding

    def __init__(
        self,
        cond_size: int,
        *,
        hidden_size: int = 64,
        num_layers: int = 3,
        num_heads: int = 4,
        time_dim: int = 16,
        key,
    ):
        k = jax.random.split(key, 5)
        d = MANIFOLD.ambient_dim
        self.time_embedding = SinusoidalEmbedding(time_dim)
        self.embed = eqx.nn.Linear(d, hidden_size, key=k[0])
        self.type_embedding = eqx.nn.Embedding(3, hidden_size, key=k[1])
        self.context = eqx.nn.MLP(
            time_dim + cond_size, hidden_size, hidden_size, 1, jax.nn.gelu, key=k[2]
        )
        self.encoder = TransformerEncoder(hidden_size, num_heads, num_layers, key=k[3])
        self.readout = eqx.nn.Linear(hidden_size, d, key=k[4])

    def __call__(self, t, x: Float[Array, "n 7"], args) -> Float[Array, "n 7"]:
        mask = args["mask"]
        types, c = args["cond"]["types"], args["cond"]["context"]
        ctx = self.context(jnp.concatenate([self.time_embedding(jnp.asarray(t, x.dtype)), c]))
        h = jax.vmap(self.embed)(x) + jax.vmap(self.type_embedding)(types) + ctx
        h = self.encoder(h, mask)
        return jnp.where(mask[:, None], jax.vmap(self.readout)(h), 0.0)


class NextParticleKernel(AbstractKernel):
    r"""The learned kernel: multiplicity model, set vector field and deposit flow.

    Acts like every :class:`AbstractKernel` (``kernel(key, incident, cube)``,
    canonical frame) and carries everything :func:`sample`,
    :func:`log_likelihood` and :func:`kernel_loss` need.

    Args:
        max_particles: $K$, the outgoing buffer (and the largest count per type).
        num_materials: the number of material indices (default: :data:`MATERIALS`).
        hidden_size: width of the transformer and the MLPs.
        num_layers: transformer layers of the vector field.
        num_heads: attention heads.
        num_steps: midpoint steps of the sampling ODE.
        conserve_energy: derive the deposit from energy conservation,
            $f = f_\text{max} - \sum_i T_i / E_\text{in} - 2 m_e n_{e^+} / E_\text{in}$
            (clipped to $[0, f_\text{max}]$), instead of sampling the deposit
            flow. Exact for data from the transport MC run with the kernel's
            cut (:func:`to_interaction` deposits sub-cut particles), where the
            deposit is a function of the outgoing set; then the likelihood has
            no deposit term and the flow is not trained. The default samples
            the flow, whose mean deposits are more accurate in thin cubes.
        key: PRNG key (keyword-only).
    """

    multiplicity: MultiplicityModel
    field: SetVectorField
    edep: ConditionalSplineFlow
    max_particles: int = eqx.field(static=True)
    num_materials: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    conserve_energy: bool = eqx.field(static=True)

    def __init__(
        self,
        max_particles: int = 16,
        *,
        num_materials: int = len(MATERIALS),
        hidden_size: int = 64,
        num_layers: int = 3,
        num_heads: int = 4,
        num_steps: int = 16,
        conserve_energy: bool = False,
        key: PRNGKeyArray,
    ):
        self.max_particles = check_positive_int("max_particles", max_particles)
        self.num_materials = check_positive_int("num_materials", num_materials)
        self.num_steps = check_positive_int("num_steps", num_steps)
        self.conserve_energy = bool(conserve_energy)
        cs = context_size(num_materials)
        k1, k2, k3 = jax.random.split(key, 3)
        self.multiplicity = MultiplicityModel(cs, max_particles, hidden_size=hidden_size, key=k1)
        self.field = SetVectorField(
            cs, hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads, key=k2
        )
        self.edep = ConditionalSplineFlow(1, cs + 3, hidden_size=hidden_size, key=k3)

    @property
    def capacity(self) -> int:
        return self.max_particles

    def __call__(self, key: PRNGKeyArray, incident: Incident, cube: Cube) -> KernelResult:
        out = sample(key, self, incident, cube)
        particles = outgoing_particles(out)
        deposit = out.edep_fraction * incident.energy_mev
        overflow = jnp.sum(out.counts) > self.max_particles
        return KernelResult(particles, deposit, overflow)


# ----------------------------------------------------------------- features


def _features(inter: Interactions) -> Float[Array, "... k 7"]:
    xe = (inter.out_log_p[..., None] - LOG_P_LOC) / LOG_P_SCALE
    return jnp.concatenate([xe, inter.out_direction, inter.out_exit], axis=-1)


def _carried(incident_type, energy_mev, out_type, log_p, mask):
    r"""$r = \sum_i T_i / E_\text{in}$: the fraction of the energy carried out by the set."""
    energy_mev = jnp.asarray(energy_mev)
    p = momentum(incident_type, energy_mev)[..., None] * jnp.exp(log_p)
    t = kinetic_energy(out_type, p)
    return jnp.sum(jnp.where(mask, t, 0.0), axis=-1) / energy_mev


def _edep_context(c, counts, carried):
    del carried  # conditioning on the sampled set's energy carries its errors into f
    return jnp.concatenate([c, jnp.log1p(counts.astype(c.dtype))])


def _edep_y(inter: Interactions):
    """$y = \\operatorname{logit}(f/f_\\text{max})$ and $\\log|dy/df|$."""
    fmax = max_fraction(inter.incident_type, inter.incident_energy_mev)
    g = jnp.clip(inter.edep_fraction / fmax, _FRACTION_EPS, 1 - _FRACTION_EPS)
    y = jnp.log(g) - jnp.log1p(-g)
    log_jac = -jnp.log(g) - jnp.log1p(-g) - jnp.log(fmax)
    return y, log_jac


def _safe_mask(mask):
    """A mask with at least one real row (row 0 stands in for an empty set; weight it out)."""
    return mask.at[..., 0].set(mask[..., 0] | ~jnp.any(mask, axis=-1))


def _check_interactions(name, x):
    if not isinstance(x, Interactions):
        raise TypeError(f"{name} must be a hepjax.radiation.Interactions, got {type(x).__name__}")


# --------------------------------------------------------------------- loss


def kernel_loss(
    kernel: NextParticleKernel, batch: Interactions, *, key: PRNGKeyArray
) -> Float[Array, ""]:
    r"""Training loss on a batch: count NLL + Riemannian flow matching + deposit NLL.

    $\mathcal L = -\overline{\log P(\pi, n \mid c)}
    + \mathcal L_\text{RFM} - \overline{\log q(f \mid n, c)}$. The three parts
    train disjoint parameters, so their relative weight does not matter for
    Adam. $\mathcal L_\text{RFM}$ is the loss of
    :func:`hepjax.generative.riemannian_flow_matching_loss` (geodesic path on
    :data:`MANIFOLD`, squared metric norm of the velocity error per real
    particle), written out here with per-event weights: events with no
    outgoing particle or a pass-through contribute nothing (that function
    refuses all-padding sets, which are physical here: the particle was absorbed).

    Args:
        kernel: the kernel being trained.
        batch: a batch of canonical interactions (a leading batch axis on every field).
        key: PRNG key for the flow-matching times and noise.
    """
    _check_interactions("batch", batch)
    b, k = batch.out_mask.shape
    c = jax.vmap(condition, in_axes=(0, 0, None))(batch.incident, batch.cube, kernel.num_materials)
    counts = batch.counts
    lp_mult = jax.vmap(kernel.multiplicity.log_prob)(c, counts, batch.passthrough)
    nll_mult = -jnp.mean(lp_mult)

    active = ~batch.passthrough & jnp.any(batch.out_mask, axis=-1)
    weight = active.astype(jnp.float32)
    mask = _safe_mask(batch.out_mask)
    x1 = _features(batch)
    path = GeodesicPath(MANIFOLD)
    k_t, k_0 = jax.random.split(key)
    t = jax.random.uniform(k_t, (b,))
    x0 = jax.vmap(lambda kk: path.sample_base(kk, (k, MANIFOLD.ambient_dim)))(
        jax.random.split(k_0, b)
    )
    x1 = jnp.where(mask[..., None], x1, x0)
    xt, ut = jax.vmap(path.interpolate)(x0, x1, t)
    cond = {"types": batch.out_type, "context": c}
    v = jax.vmap(kernel.field)(t, xt, {"mask": mask, "cond": cond})
    v = jax.vmap(path.project)(xt, v)
    sq = jax.vmap(path.sq_norm)(xt, v - ut)
    w = mask * weight[:, None]
    fm = jnp.sum(sq * w) / jnp.maximum(jnp.sum(w), 1.0)

    y, _ = _edep_y(batch)
    carried = _carried(
        batch.incident_type,
        batch.incident_energy_mev,
        batch.out_type,
        batch.out_log_p,
        batch.out_mask,
    )
    lq = jax.vmap(kernel.edep.log_prob)(y[:, None], jax.vmap(_edep_context)(c, counts, carried))
    nll_edep = -jnp.sum(lq * weight) / jnp.maximum(jnp.sum(weight), 1.0)
    if kernel.conserve_energy:
        return nll_mult + fm
    return nll_mult + fm + nll_edep


def train_kernel(
    key: PRNGKeyArray,
    data: Interactions,
    *,
    steps: int,
    batch_size: int = 256,
    learning_rate: float = 3e-4,
    kernel: NextParticleKernel | None = None,
    progress: bool | None = None,
    **kernel_kwargs,
):
    """Train a :class:`NextParticleKernel` on a batch of interactions with :func:`hepjax.train.fit`.

    Args:
        key: PRNG key (initialisation, batches, training noise).
        data: :class:`Interactions` with a leading event axis.
        steps: optimizer steps.
        batch_size: events per batch.
        learning_rate: peak Adam learning rate (cosine decay, gradient clipping at 1).
        kernel: a kernel to continue training; default a new one with
            ``max_particles`` = the data's padding and ``kernel_kwargs``.
        progress: show the progress bar (default: when stderr is a terminal).
        **kernel_kwargs: passed to :class:`NextParticleKernel`.

    Returns:
        The :class:`hepjax.train.FitResult`; ``.model`` is the trained kernel.
    """
    _check_interactions("data", data)
    if data.out_mask.ndim != 2:
        raise ValueError(
            f"data must be a batch of events, got out_mask of shape {data.out_mask.shape}"
        )
    k_init, k_data, k_fit = jax.random.split(key, 3)
    if kernel is None:
        kernel_kwargs.setdefault("max_particles", data.out_mask.shape[1])
        kernel = NextParticleKernel(key=k_init, **kernel_kwargs)
    batches = Batches(ArrayDataset(data.to_dict()), batch_size, key=k_data)
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.05)
    optimizer = optax.adam(schedule)

    def loss_fn(model, batch, *, key):
        return kernel_loss(model, Interactions.from_dict(batch), key=key)

    return fit(
        kernel,
        loss_fn,
        optimizer,
        batches,
        steps=steps,
        key=k_fit,
        clip_norm=1.0,
        progress=progress,
    )


# ---------------------------------------------------------------- sampling


def sample(
    key: PRNGKeyArray,
    kernel: NextParticleKernel,
    incident: Incident,
    cube: Cube,
) -> Interactions:
    r"""Draw what leaves ``cube`` for one ``incident`` particle; vmappable.

    The incident particle is first turned into the cube's canonical frame
    (:func:`hepjax.radiation.canonical_rotation`; the identity for one
    already there) and the result is in that frame. The counts come from the
    multiplicity model, the continuous features from the flow (midpoint ODE,
    ``kernel.num_steps`` steps, rows ordered by type), $f$ from the spline
    flow; a pass-through returns the incident particle on its straight line
    through the cube with $f = 0$; a set truncated to ``max_particles`` keeps
    its first rows.

    Args:
        key: PRNG key of the draw.
        kernel: the trained kernel.
        incident: the incident particle (rotated into the canonical frame here).
        cube: the cube of material it enters.

    Returns:
        One event of :class:`Interactions`.
    """
    r = canonical_rotation(incident.position)
    incident = Incident(
        incident.type, incident.energy_mev, r @ incident.direction, r @ incident.position
    )
    c = condition(incident, cube, kernel.num_materials)
    k_mult, k_base, k_edep = jax.random.split(key, 3)
    passthrough, counts = kernel.multiplicity.sample(k_mult, c)
    kmax = kernel.max_particles
    rows = jnp.arange(kmax)
    ends = jnp.cumsum(counts)
    types = jnp.sum(rows[:, None] >= ends[None, :], axis=1).astype(jnp.int32)
    types = jnp.minimum(types, 2)
    mask = rows < jnp.minimum(ends[-1], kmax)
    x0 = GeodesicPath(MANIFOLD).sample_base(k_base, (kmax, MANIFOLD.ambient_dim))
    safe = _safe_mask(mask)
    x1 = sample_ode(
        kernel.field,
        x0,
        solver="midpoint",
        num_steps=kernel.num_steps,
        manifold=MANIFOLD,
        mask=safe,
        cond={"types": types, "context": c},
    )
    log_p = x1[:, 0] * LOG_P_SCALE + LOG_P_LOC
    direction, exit_ = x1[:, 1:4], x1[:, 4:7]

    carried = _carried(incident.type, incident.energy_mev, types, jnp.where(mask, log_p, 0.0), mask)
    y = kernel.edep.sample(k_edep, _edep_context(c, counts, carried))[0]
    fmax = max_fraction(incident.type, incident.energy_mev)
    if kernel.conserve_energy:
        n_pos = jnp.sum(mask & (types == 2))
        fraction = fmax - carried - 2 * ELECTRON_MASS_MEV * n_pos / incident.energy_mev
        fraction = jnp.clip(fraction, 0.0, fmax)
    else:
        fraction = jnp.where(jnp.any(mask), jax.nn.sigmoid(y) * fmax, fmax)

    # pass-through: the incident particle on its straight line
    s = exit_distance(incident.position, incident.direction, 0.5 * cube.size_cm)
    through_exit = incident.position + s * incident.direction
    through_exit = through_exit / jnp.sqrt(jnp.sum(through_exit**2))
    first = rows == 0
    mask = jnp.where(passthrough, first, mask)
    types = jnp.where(passthrough, jnp.where(first, incident.type, 0), types)
    log_p = jnp.where(passthrough, 0.0, log_p)
    direction = jnp.where(passthrough & first[:, None], incident.direction, direction)
    exit_ = jnp.where(passthrough & first[:, None], through_exit, exit_)
    fraction = jnp.where(passthrough, 0.0, fraction)
    return Interactions(
        incident_type=incident.type,
        incident_energy_mev=incident.energy_mev,
        incident_direction=incident.direction,
        incident_position=incident.position,
        material=cube.material,
        density_g_cm3=cube.density_g_cm3,
        size_cm=cube.size_cm,
        out_type=types.astype(jnp.int32),
        out_log_p=jnp.where(mask, log_p, 0.0),
        out_direction=direction,
        out_exit=exit_,
        out_mask=mask,
        edep_fraction=fraction,
        passthrough=passthrough,
    )


# -------------------------------------------------------------- likelihood


class LogLikelihoodResult(eqx.Module):
    """The terms of :func:`log_likelihood` for one event (all scalars).

    Attributes:
        total: $\\log p$ of the whole event.
        counts: $\\log P(\\pi, n \\mid c)$.
        continuous: $\\sum_t \\log n_t! + \\log p_\\theta(x \\mid n, c)$ in the
            features $(u, \\omega, e)$ (0 for pass-through or empty sets).
        deposit: $\\log q(f \\mid n, c)$ in $f$ (0 when $f$ is determined: a
            pass-through, nothing leaving, or ``kernel.conserve_energy``).
    """

    total: Float[Array, ""]
    counts: Float[Array, ""]
    continuous: Float[Array, ""]
    deposit: Float[Array, ""]


def log_likelihood(
    kernel: NextParticleKernel,
    interaction: Interactions,
    *,
    solver="dopri5",
    num_steps: int | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> LogLikelihoodResult:
    r"""Exact log-density of one whole event under the kernel.

    $\log p = \log P(\pi, n \mid c) + (1 - \pi)\,[\sum_t \log n_t!
    + \log p_\theta(x \mid n, c) + \log q(f \mid n, c)]$ with $p_\theta$ from
    the reverse-time integral of the exact Riemannian divergence
    (:func:`hepjax.generative.log_likelihood` with
    :class:`~hepjax.generative.ExactDivergence`) and the Jacobian of the
    log-momentum standardisation, $-N \log\sigma_u$. Densities are with
    respect to $du\,d\omega\,de$ per particle (area measure on the spheres)
    and $df$.

    Args:
        kernel: the kernel.
        interaction: one event, canonical frame (as from :func:`to_interaction`).
        solver: diffrax solver of the likelihood ODE (adaptive by default).
        num_steps: fixed steps instead of adaptive stepping.
        rtol: relative tolerance.
        atol: absolute tolerance.

    Returns:
        A :class:`LogLikelihoodResult`.
    """
    _check_interactions("interaction", interaction)
    if interaction.out_mask.ndim != 1:
        raise ValueError(
            "interaction must be one event (vmap over a batch), got out_mask of shape "
            f"{interaction.out_mask.shape}"
        )
    c = condition(interaction.incident, interaction.cube, kernel.num_materials)
    counts = interaction.counts
    lp_counts = kernel.multiplicity.log_prob(c, counts, interaction.passthrough)
    mask = interaction.out_mask
    n = jnp.sum(mask)
    active = ~interaction.passthrough & (n > 0)
    safe = _safe_mask(mask)
    x = _features(interaction)
    lp_flow = flow_log_likelihood(
        kernel.field,
        x,
        manifold=MANIFOLD,
        mask=safe,
        cond={"types": interaction.out_type, "context": c},
        divergence=ExactDivergence(),
        solver=solver,
        num_steps=num_steps,
        rtol=rtol,
        atol=atol,
    )
    lp_flow = lp_flow - n * math.log(LOG_P_SCALE)
    lp_flow = lp_flow + jnp.sum(jax.scipy.special.gammaln(counts + 1.0))
    y, log_jac = _edep_y(interaction)
    carried = _carried(
        interaction.incident_type,
        interaction.incident_energy_mev,
        interaction.out_type,
        interaction.out_log_p,
        mask,
    )
    lq = kernel.edep.log_prob(y[None], _edep_context(c, counts, carried)) + log_jac
    continuous = jnp.where(active, lp_flow, 0.0)
    deposit = jnp.where(active & (not kernel.conserve_energy), lq, 0.0)
    return LogLikelihoodResult(lp_counts + continuous + deposit, lp_counts, continuous, deposit)
