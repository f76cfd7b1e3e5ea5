r"""TRANSIT: a conditional transport of sideband events to signal-region masses.

Oleksiyuk, Raine, Voloshynovskiy & Golling 2025 (arXiv:2503.04342). An
encoder $E(x, m) \to z \in \mathbb R^8$ and a decoder $G(z, m) \to x$, MLPs of
residual blocks with the mass fed into every block, move an event $x$ at mass
$m$ to a target mass $m'$ as $x' = G(E(x, m), m')$. With $m'$ a shuffled copy
of the batch's sideband masses, the generator minimises

.. math::
    \mathcal L_G = \underbrace{\|G(z, m) - x\|^2}_{\text{reconstruction}}
    + 0.1\,\underbrace{\|E(x', m') - z\|^2}_{\text{latent consistency}}
    + 0.2\,\underbrace{\big(-\log \sigma(D(x', m'))\big)}_{\text{adversarial}},
    \qquad z = E(x, m),

while a discriminator $D(x, m)$ learns to tell real pairs $(x, m)$ from
transported ones $(x', m')$ with the binary cross-entropy
$\mathcal L_D = -\tfrac12[\log\sigma(D(x, m)) + \log(1 - \sigma(D(x', m')))]$.
Generator steps are skipped while $\mathcal L_D > \ln 2$ (the discriminator
is no better than chance, so its gradient carries no information). Both
networks are trained by AdamW with learning rate $2\cdot 10^{-4}$.

One run of :func:`hepjax.train.fit` trains both: the loss is
$\mathcal L_G(E, G; \bar D)\,[\bar{\mathcal L}_D < \ln 2] + \mathcal L_D(\bar E, \bar G; D)$
with bars denoting ``stop_gradient``, so the gradient with respect to each
network is its own objective's, and ``optax.multi_transform`` gives each its
AdamW; the generator's is wrapped so that a step with an exactly zero gradient
(a skipped step) changes neither its parameters nor its moments. The
template samples sideband events and moves them to the requested masses; the
latent $z$ is a mass-decorrelated representation (:meth:`TRANSITTemplate.encode`).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check_positive
from ._regions import check_features, check_mass
from ._templates import (
    AbstractTemplate,
    AbstractTemplateMethod,
    _Scaling,
    check_training,
    chunked,
    train_on_sidebands,
)


class _Block(eqx.Module):
    first: eqx.nn.Linear
    second: eqx.nn.Linear

    def __init__(self, hidden_size: int, cond_size: int, *, key):
        k1, k2 = jax.random.split(key)
        self.first = eqx.nn.Linear(hidden_size + cond_size, hidden_size, key=k1)
        self.second = eqx.nn.Linear(hidden_size + cond_size, hidden_size, key=k2)

    def __call__(self, h, c):
        u = jax.nn.silu(self.first(jnp.concatenate([h, c])))
        return h + self.second(jnp.concatenate([u, c]))


class ConditionalResidualMLP(eqx.Module):
    """An MLP of residual blocks with a condition concatenated at every layer (one example).

    $h_0 = W_0[x, c]$, $h_{k+1} = h_k + W_{k,2}[\\mathrm{SiLU}(W_{k,1}[h_k, c]), c]$,
    output $W_\\text{out}[\\mathrm{SiLU}(h_K), c]$.

    Args:
        in_size: size of the input.
        out_size: size of the output.
        cond_size: size of the condition.
        hidden_size: width of the blocks.
        num_layers: number of residual blocks.
        key: PRNG key (keyword-only).
    """

    inp: eqx.nn.Linear
    blocks: tuple[_Block, ...]
    out: eqx.nn.Linear

    def __init__(
        self,
        in_size: int,
        out_size: int,
        cond_size: int,
        *,
        hidden_size: int,
        num_layers: int,
        key: PRNGKeyArray,
    ):
        keys = jax.random.split(key, num_layers + 2)
        self.inp = eqx.nn.Linear(in_size + cond_size, hidden_size, key=keys[0])
        self.blocks = tuple(_Block(hidden_size, cond_size, key=k) for k in keys[1:-1])
        self.out = eqx.nn.Linear(hidden_size + cond_size, out_size, key=keys[-1])

    def __call__(self, x: Float[Array, " i"], c: Float[Array, " c"]) -> Float[Array, "*o"]:
        """The output for one input ``x`` and condition ``c``."""
        h = self.inp(jnp.concatenate([x, c]))
        for block in self.blocks:
            h = block(h, c)
        return self.out(jnp.concatenate([jax.nn.silu(h), c]))


class _Nets(eqx.Module):
    encoder: ConditionalResidualMLP
    decoder: ConditionalResidualMLP
    discriminator: ConditionalResidualMLP


def _skip_zero_steps(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """``inner``, except that an all-zero gradient leaves parameters and state unchanged."""

    def update(updates, state, params=None):
        leaves = jax.tree.leaves(updates)
        skip = jnp.all(jnp.stack([jnp.all(u == 0) for u in leaves])) if leaves else True
        new_updates, new_state = inner.update(updates, state, params)
        new_updates = jax.tree.map(lambda u: jnp.where(skip, jnp.zeros_like(u), u), new_updates)
        new_state = jax.tree.map(lambda a, b: jnp.where(skip, a, b), state, new_state)
        return new_updates, new_state

    return optax.GradientTransformation(inner.init, update)


def _frozen(module):
    return jax.tree.map(lambda a: jax.lax.stop_gradient(a) if eqx.is_array(a) else a, module)


class TRANSITTemplate(AbstractTemplate):
    """Sideband events transported to the requested masses by a trained TRANSIT model.

    Attributes:
        encoder: $E(x, m) \\to z$ on standardised features and mass.
        decoder: $G(z, m) \\to x$.
        scaling: the sideband standardisation.
        source_features: ``(n, d)`` standardised sideband features to transport.
        source_mass: ``(n, 1)`` their standardised masses.
        train_seconds: wall time of the fit.
    """

    encoder: ConditionalResidualMLP
    decoder: ConditionalResidualMLP
    scaling: _Scaling
    source_features: Array
    source_mass: Array
    train_seconds: float = math.nan

    @property
    def dim(self) -> int:
        return int(self.source_features.shape[1])

    def _sample_at(self, key, mass):
        k_src, k_run = jax.random.split(key)
        n, num_src = mass.shape[0], self.source_features.shape[0]
        reps = -(-n // num_src)
        perms = [jax.random.permutation(k, num_src) for k in jax.random.split(k_src, reps)]
        src = np.concatenate([np.asarray(p) for p in perms])[:n]
        x, m = np.asarray(self.source_features)[src], np.asarray(self.source_mass)[src]
        target = np.asarray(self.scaling.mass(mass))
        return self.scaling.unscale(self._transport(k_run, x, m, target))

    def _transport(self, key, x, m, target):
        def move(keys, x, m, t):
            z = jax.vmap(self.encoder)(x, m)
            return jax.vmap(self.decoder)(z, t)

        return chunked(move, key, (x, m, target))

    def transport(
        self,
        features: Float[ArrayLike, "n d"],
        mass: Float[ArrayLike, " n"],
        target_mass: Float[ArrayLike, " n"],
    ) -> Float[np.ndarray, "n d"]:
        """Move events at ``mass`` to ``target_mass``: $G(E(x, m), m')$, original units.

        Args:
            features: ``(n, d)`` the events.
            mass: ``(n,)`` their masses.
            target_mass: ``(n,)`` the masses to move them to.
        """
        x = check_features("features", features, self.dim)
        m = check_mass("mass", mass, x.shape[0])
        t = check_mass("target_mass", target_mass, x.shape[0])
        scaled = np.asarray(self.scaling.features(x))
        out = self._transport(
            jax.random.key(0), scaled, np.asarray(self.scaling.mass(m)), self.scaling.mass(t)
        )
        return self.scaling.unscale(out)

    def encode(
        self, features: Float[ArrayLike, "n d"], mass: Float[ArrayLike, " n"]
    ) -> Float[np.ndarray, "n latent"]:
        """The latent features $z = E(x, m)$ ``(n, latent_size)``, decorrelated from the mass."""
        x = check_features("features", features, self.dim)
        m = check_mass("mass", mass, x.shape[0])

        def enc(keys, x, m):
            return jax.vmap(self.encoder)(x, m)

        return chunked(
            enc, jax.random.key(0), (np.asarray(self.scaling.features(x)), self.scaling.mass(m))
        )


class TRANSIT(AbstractTemplateMethod):
    """TRANSIT: transport sideband events to signal-region masses (see the module docs).

    Attributes:
        hidden_size: width of the residual blocks (paper: 128).
        num_layers: residual blocks per network.
        latent_size: size of the latent $z$ (paper: 8).
        latent_weight: weight of the latent consistency loss (paper: 0.1).
        adversarial_weight: weight of the generator's adversarial loss (paper: 0.2).
        steps: optimizer steps.
        batch_size: minibatch size (paper: 2048).
        learning_rate: AdamW learning rate (paper: 2e-4).
        weight_decay: AdamW weight decay.
    """

    hidden_size: int = 128
    num_layers: int = 2
    latent_size: int = 8
    latent_weight: float = 0.1
    adversarial_weight: float = 0.2
    steps: int = 3000
    batch_size: int = 512
    learning_rate: float = 2e-4
    weight_decay: float = 1e-4

    def __check_init__(self):
        check_training(
            {
                "hidden_size": self.hidden_size,
                "num_layers": self.num_layers,
                "latent_size": self.latent_size,
                "steps": self.steps,
                "batch_size": self.batch_size,
                "learning_rate": self.learning_rate,
            }
        )
        for name in ("latent_weight", "adversarial_weight", "weight_decay"):
            value = getattr(self, name)
            if value != 0:
                check_positive(name, value)

    def loss(self, nets: _Nets, batch: dict, *, key: PRNGKeyArray) -> Float[Array, ""]:
        """The combined objective of one batch (see the module docs).

        Args:
            nets: the encoder, decoder and discriminator.
            batch: ``{"x": (b, d), "m": (b, 1)}`` standardised sideband rows.
            key: PRNG key for the target masses.
        """
        x, m = batch["x"], batch["m"]
        target = m[jax.random.permutation(key, m.shape[0])]
        disc = _frozen(nets.discriminator)
        z = jax.vmap(nets.encoder)(x, m)
        rec = jnp.mean(jnp.sum((jax.vmap(nets.decoder)(z, m) - x) ** 2, -1))
        moved = jax.vmap(nets.decoder)(z, target)
        latent = jnp.mean(jnp.sum((jax.vmap(nets.encoder)(moved, target) - z) ** 2, -1))
        adv = jnp.mean(jax.nn.softplus(-jax.vmap(disc)(moved, target)))
        gen = rec + self.latent_weight * latent + self.adversarial_weight * adv
        real = jax.vmap(nets.discriminator)(x, m)
        fake = jax.vmap(nets.discriminator)(jax.lax.stop_gradient(moved), target)
        d_loss = 0.5 * (jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake)))
        gate = jax.lax.stop_gradient(d_loss) < math.log(2.0)
        return jnp.where(gate, gen, 0.0) + d_loss

    def fit(self, key, features, mass) -> TRANSITTemplate:
        scaling = _Scaling.fit(features, mass)
        d = features.shape[1]
        k_e, k_g, k_d, k_train = jax.random.split(key, 4)
        size = {"hidden_size": self.hidden_size, "num_layers": self.num_layers}
        nets = _Nets(
            ConditionalResidualMLP(d, self.latent_size, 1, key=k_e, **size),
            ConditionalResidualMLP(self.latent_size, d, 1, key=k_g, **size),
            ConditionalResidualMLP(d, 1, 1, key=k_d, **size),
        )
        nets = eqx.tree_at(lambda n: n.discriminator.out, nets, _Squeeze(nets.discriminator.out))
        adamw = lambda: optax.adamw(self.learning_rate, weight_decay=self.weight_decay)

        def labels(params):
            tag = lambda t: lambda tree: jax.tree.map(lambda _: t, tree)
            return _Nets(
                tag("gen")(params.encoder),
                tag("gen")(params.decoder),
                tag("disc")(params.discriminator),
            )

        optimizer = optax.multi_transform(
            {"gen": _skip_zero_steps(adamw()), "disc": adamw()}, labels
        )
        x, m = scaling.features(features), scaling.mass(mass)
        nets = train_on_sidebands(
            nets,
            self.loss,
            optimizer,
            x,
            m,
            key=k_train,
            steps=self.steps,
            batch_size=self.batch_size,
            validation_fraction=0.0,
            patience=1,
        )
        return TRANSITTemplate(nets.encoder, nets.decoder, scaling, x, m)


class _Squeeze(eqx.Module):
    """A linear layer of one output, returned as a scalar (the discriminator's logit)."""

    linear: eqx.nn.Linear

    def __call__(self, h):
        return self.linear(h)[0]
