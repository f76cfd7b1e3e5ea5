r"""Tokenisers of jet constituents: k-means and a VQ-VAE (the targets of masked particle modelling).

**k-means** (Lloyd 1982): on the standardised features $\tilde x$ of the real
particles, alternate
$t_i = \arg\min_k \lVert \tilde x_i - c_k\rVert^2$ and
$c_k = \mathrm{mean}\{\tilde x_i : t_i = k\}$ (an empty cluster keeps its
centre). The token of a particle is its nearest centre.

**VQ-VAE** (van den Oord et al. 2017, arXiv:1711.00937; as configured by
masked particle modelling, Golling et al. 2024, arXiv:2401.13537 and
rodem-hep/mpm): a set encoder maps each particle to $z_e \in \mathbb{R}^L$
(in the context of its jet), quantised to the nearest codebook vector
$z_q = e_{t}$, $t = \arg\min_k \lVert z_e - e_k\rVert$, and a set decoder
reconstructs the particle from $z_q$ (straight-through gradient
$z_e + \mathrm{sg}(z_q - z_e)$). The loss per real particle is

$$
\mathcal{L} = \lVert \hat x - \tilde x\rVert_1
  + \lVert \mathrm{sg}(z_e) - z_q\rVert^2
  + \beta\,\lVert z_e - \mathrm{sg}(z_q)\rVert^2 ,
$$

with the commitment weight $\beta$ (0.25). The codebook starts at k-means
centres of the initial encoder outputs, and every ``replace_every`` steps the
codes no particle of a large sample uses ("dead codes") are moved onto
randomly chosen encoder outputs (Dhariwal et al. 2020, arXiv:2005.00341).
Training runs through :func:`hepjax.train.fit`, in rounds of
``replace_every`` steps with the replacement between them (the optimiser
state restarts each round).
"""

import dataclasses
from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from hepjax import train
from hepjax._core import check_positive, check_positive_int
from hepjax.nn import TransformerEncoder

from ._util import batches, map_chunks, vmap_method


def _real_points(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    x, mask = np.asarray(x, np.float32), np.asarray(mask)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (num_jets, n, num_features), got {x.shape}")
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape {x.shape[:2]}, got {mask.shape}")
    if mask.dtype != bool:
        raise TypeError(f"mask must be boolean, got dtype {mask.dtype}")
    if not mask.any(axis=1).all():
        raise ValueError("mask: some jets have no real particles; every jet needs at least one")
    return x[mask]


@jax.jit
def _nearest(points: Float[Array, "m f"], centres: Float[Array, "k f"]) -> Int[Array, " m"]:
    d = (
        jnp.sum(points**2, -1, keepdims=True)
        - 2 * points @ centres.T
        + jnp.sum(centres**2, -1)[None]
    )
    return jnp.argmin(d, axis=-1)


def kmeans(
    key: PRNGKeyArray, points: Float[ArrayLike, "m f"], num_codes: int, *, num_iterations: int = 30
) -> Float[Array, "k f"]:
    r"""Lloyd's k-means: ``num_codes`` centres of ``points``, started at distinct random points.

    An empty cluster keeps its centre. With fewer points than codes the extra
    centres are points repeated (their clusters stay empty).

    Args:
        key: PRNG key for the starting centres.
        points: ``(M, F)`` the points.
        num_codes: the number of centres $K$.
        num_iterations: Lloyd iterations.
    """
    points = jnp.asarray(points, jnp.float32)
    num_codes = check_positive_int("num_codes", num_codes)
    m = points.shape[0]
    if m == 0:
        raise ValueError("kmeans needs at least one point")
    start = jax.random.choice(key, m, (num_codes,), replace=num_codes > m)
    centres = points[start]

    @jax.jit
    def step(centres, _):
        t = _nearest(points, centres)
        one_hot = jax.nn.one_hot(t, num_codes, dtype=points.dtype)
        count = one_hot.sum(0)
        total = one_hot.T @ points
        new = jnp.where(count[:, None] > 0, total / jnp.maximum(count, 1)[:, None], centres)
        return new, None

    centres, _ = jax.lax.scan(step, centres, None, length=num_iterations)
    return centres


def _standardise(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = _real_points(x, mask)
    mean = pts.mean(0)
    std = np.where(pts.std(0) > 0, pts.std(0), 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


class KMeansTokenizer(eqx.Module):
    """Tokens of particles: the index of the nearest of ``num_codes`` k-means centres.

    Build with the size, then ``tok = KMeansTokenizer(num_codes=512).fit(key, x, mask)``
    on many jets (``x: (N, n, f)``, ``mask: (N, n)``); ``tok.encode(x, mask)``
    maps one jet to token ids ``(n,)`` (padded rows get ``-1``).

    Attributes:
        num_codes: the number of tokens $K$ (default 512).
        codebook: ``(K, F)`` the centres in standardised features (``None`` until fitted).
        mean, std: ``(F,)`` the standardisation of the particle features (fitted).
    """

    num_codes: int = eqx.field(static=True, default=512)
    codebook: Float[Array, "k f"] | None = None
    mean: Float[Array, " f"] | None = None
    std: Float[Array, " f"] | None = None

    def __check_init__(self):
        check_positive_int("num_codes", self.num_codes)

    def fit(
        self,
        key: PRNGKeyArray,
        x: Float[ArrayLike, "N n f"],
        mask: Bool[ArrayLike, "N n"],
        *,
        num_iterations: int = 30,
        max_points: int = 50_000,
    ) -> "KMeansTokenizer":
        """Fit the centres on (at most ``max_points``) real particles of the jets ``x``.

        Args:
            key: PRNG key (subsampling and k-means starts).
            x: ``(N, n, F)`` particle features of the jets.
            mask: ``(N, n)`` the real particles.
            num_iterations: Lloyd iterations of :func:`kmeans`.
            max_points: the most particles used (a random subset beyond).
        """
        mean, std = _standardise(x, mask)
        pts = (_real_points(x, mask) - mean) / std
        ksub, kfit = jax.random.split(key)
        if pts.shape[0] > max_points:
            pts = pts[np.asarray(jax.random.choice(ksub, pts.shape[0], (max_points,), False))]
        centres = kmeans(kfit, pts, self.num_codes, num_iterations=num_iterations)
        return KMeansTokenizer(self.num_codes, centres, jnp.asarray(mean), jnp.asarray(std))

    def encode(self, x: Float[Array, "n f"], mask: Bool[Array, " n"]) -> Int[Array, " n"]:
        """Token ids of one jet (``-1`` on padded rows)."""
        if self.codebook is None:
            raise ValueError("the tokenizer is not fitted: call .fit(key, x, mask) first")
        t = _nearest((x - self.mean) / self.std, self.codebook)
        return jnp.where(mask, t, -1)


class _VQNet(eqx.Module):
    enc_in: eqx.nn.Linear
    encoder: TransformerEncoder
    enc_out: eqx.nn.Linear
    codebook: Float[Array, "k l"]
    dec_in: eqx.nn.Linear
    decoder: TransformerEncoder
    dec_out: eqx.nn.Linear

    def __init__(self, f, k, latent, hidden, heads, layers, *, key):
        keys = jax.random.split(key, 7)
        self.enc_in = eqx.nn.Linear(f, hidden, key=keys[0])
        self.encoder = TransformerEncoder(hidden, heads, layers, key=keys[1])
        self.enc_out = eqx.nn.Linear(hidden, latent, key=keys[2])
        self.codebook = jax.random.normal(keys[3], (k, latent))
        self.dec_in = eqx.nn.Linear(latent, hidden, key=keys[4])
        self.decoder = TransformerEncoder(hidden, heads, layers, key=keys[5])
        self.dec_out = eqx.nn.Linear(hidden, f, key=keys[6])

    def encode(self, x, mask):
        h = jax.vmap(self.enc_in)(x)
        return jax.vmap(self.enc_out)(self.encoder(h, mask))

    def decode(self, z, mask):
        return jax.vmap(self.dec_out)(self.decoder(jax.vmap(self.dec_in)(z), mask))


def _vq_loss(net: _VQNet, x, mask, beta):
    ze = net.encode(x, mask)
    t = _nearest(ze, net.codebook)
    zq = net.codebook[t]
    z = ze + jax.lax.stop_gradient(zq - ze)
    xhat = net.decode(z, mask)
    per = (
        jnp.sum(jnp.abs(xhat - x), -1)
        + jnp.sum((jax.lax.stop_gradient(ze) - zq) ** 2, -1)
        + beta * jnp.sum((ze - jax.lax.stop_gradient(zq)) ** 2, -1)
    )
    return jnp.sum(jnp.where(mask, per, 0.0)), jnp.sum(mask)


class VQVAETokenizer(eqx.Module):
    """A VQ-VAE over jet constituents; a particle's token is its codebook index.

    Configure, then fit:
    ``tok = VQVAETokenizer(num_codes=512, latent_size=16).fit(key, x, mask)``
    with ``x: (N, n, f)``, ``mask: (N, n)``; ``tok.encode(x, mask)`` maps one
    jet to token ids ``(n,)`` (padded rows ``-1``). See the module notes.

    Attributes:
        num_codes: codebook size (MPM: 512).
        latent_size: code dimension (MPM: 16).
        hidden_size, num_heads, num_layers: the set encoder and decoder
            (one :class:`hepjax.nn.TransformerEncoder` each).
        commitment: $\\beta$.
        net: the trained network (``None`` before ``fit``).
        mean, std: the feature standardisation (fitted).
        usage: the fraction of codes used on the last usage sample (fitted).
        losses: the training loss at every step (fitted).
    """

    num_codes: int = eqx.field(static=True, default=512)
    latent_size: int = eqx.field(static=True, default=16)
    hidden_size: int = eqx.field(static=True, default=64)
    num_heads: int = eqx.field(static=True, default=4)
    num_layers: int = eqx.field(static=True, default=1)
    commitment: float = eqx.field(static=True, default=0.25)
    net: Any = None
    mean: Float[Array, " f"] | None = None
    std: Float[Array, " f"] | None = None
    usage: float = float("nan")
    losses: np.ndarray | None = None

    def __check_init__(self):
        for name in ("num_codes", "latent_size", "hidden_size", "num_heads", "num_layers"):
            check_positive_int(name, getattr(self, name))
        check_positive("commitment", self.commitment)

    def fit(
        self,
        key: PRNGKeyArray,
        x: Float[ArrayLike, "N n f"],
        mask: Bool[ArrayLike, "N n"],
        *,
        steps: int = 1000,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        replace_every: int = 200,
    ) -> "VQVAETokenizer":
        """Train on the jets ``x`` (``(N, n, f)``) and return the fitted tokenizer.

        Args:
            key: PRNG key (initialisation, batches, dead-code replacement).
            x: ``(N, n, F)`` particle features of the jets.
            mask: ``(N, n)`` the real particles.
            steps: optimisation steps.
            batch_size: jets per step.
            learning_rate: the optimiser's learning rate.
            replace_every: steps between replacements of unused codes.
        """
        steps = check_positive_int("steps", steps)
        replace_every = check_positive_int("replace_every", replace_every)
        x = np.asarray(x, np.float32)
        mean, std = _standardise(x, mask)
        xs = np.where(np.asarray(mask)[..., None], (x - mean) / std, 0.0).astype(np.float32)
        mask = np.asarray(mask)
        knet, kinit, kdata, kfit, kdead = jax.random.split(key, 5)
        net = _VQNet(
            x.shape[2],
            self.num_codes,
            self.latent_size,
            self.hidden_size,
            self.num_heads,
            self.num_layers,
            key=knet,
        )
        pick = np.asarray(jax.random.permutation(kdata, x.shape[0]))[:2048]

        def latents(net):
            z = map_chunks(partial(vmap_method, net, "encode"), (xs[pick], mask[pick]), chunk=512)
            return z[mask[pick]]

        net = eqx.tree_at(lambda m: m.codebook, net, kmeans(kinit, latents(net), self.num_codes))
        beta = self.commitment

        def loss_fn(net, batch):
            total, count = jax.vmap(lambda a, b: _vq_loss(net, a, b, beta))(
                batch["x"], batch["mask"]
            )
            return jnp.sum(total) / jnp.maximum(jnp.sum(count), 1)

        data = batches({"x": xs, "mask": mask}, batch_size, kdata)
        losses, done, usage = [], 0, float("nan")
        while done < steps:
            length = min(replace_every, steps - done)
            offset = done
            result = train.fit(
                net,
                loss_fn,
                optax.adam(learning_rate),
                lambda s, o=offset: data[s + o],
                steps=length,
                key=jax.random.fold_in(kfit, done),
                progress=False,
            )
            net = result.model
            losses.extend(result.losses.tolist())
            done += length
            z = latents(net)
            used = np.bincount(np.asarray(_nearest(z, net.codebook)), minlength=self.num_codes)
            usage = float(np.mean(used > 0))
            dead = np.flatnonzero(used == 0)
            if dead.size and done < steps:
                kdead, sub = jax.random.split(kdead)
                rows = np.asarray(jax.random.choice(sub, z.shape[0], (dead.size,)))
                noise = 0.01 * np.asarray(jax.random.normal(sub, (dead.size, z.shape[1])))
                book = np.array(net.codebook)
                book[dead] = z[rows] + noise
                net = eqx.tree_at(lambda m: m.codebook, net, jnp.asarray(book))
        return dataclasses.replace(
            self,
            net=net,
            mean=jnp.asarray(mean),
            std=jnp.asarray(std),
            usage=usage,
            losses=np.asarray(losses),
        )

    def encode(self, x: Float[Array, "n f"], mask: Bool[Array, " n"]) -> Int[Array, " n"]:
        """Token ids of one jet (``-1`` on padded rows)."""
        if self.net is None:
            raise ValueError("the tokenizer is not fitted: call .fit(key, x, mask) first")
        xs = jnp.where(mask[:, None], (x - self.mean) / self.std, 0.0)
        t = _nearest(self.net.encode(xs, mask), self.net.codebook)
        return jnp.where(mask, t, -1)

    def reconstruct(self, x: Float[Array, "n f"], mask: Bool[Array, " n"]) -> Float[Array, "n f"]:
        """The decoded jet from its codes, in the original feature units."""
        if self.net is None:
            raise ValueError("the tokenizer is not fitted: call .fit(key, x, mask) first")
        xs = jnp.where(mask[:, None], (x - self.mean) / self.std, 0.0)
        ze = self.net.encode(xs, mask)
        xhat = self.net.decode(self.net.codebook[_nearest(ze, self.net.codebook)], mask)
        return xhat * self.std + self.mean
