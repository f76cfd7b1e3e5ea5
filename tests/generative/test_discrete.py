"""Discrete and hybrid flow matching: losses, CTMC samplers with exact posteriors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import generative as gen
from hepjax import manifolds

K = 4
PI = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])


def exact_posterior(path: gen.MixturePath, pi=PI):
    """p_{1|t}(y | x_t) for data with independent positions of marginals ``pi``."""
    log_pi = jnp.log(jnp.asarray(pi, jnp.float32))

    def denoiser(t, x, args):
        onehot = jax.nn.one_hot(x, K)
        if path.source == "mask":
            known = jnp.where(onehot > 0, 0.0, -1e9)
            return jnp.where((x == path.mask_token)[:, None], log_pi, known)
        kappa = path.kappa(t)
        return log_pi + jnp.log(kappa * onehot + (1 - kappa) / K)

    return denoiser


def test_uniform_logits_give_log_k_and_padding_is_ignored(key):
    path = gen.MixturePath(K, "uniform")
    tokens = jnp.array([[0, 1, 2], [3, 3, 0]])
    mask = jnp.array([[True, True, False], [True, False, False]])

    def denoiser(t, x, args):
        garbage = jnp.where(args["mask"][:, None], 0.0, jnp.arange(K) * 50.0)
        return jnp.zeros((x.shape[0], K)) + garbage

    loss = gen.discrete_flow_matching_loss(denoiser, tokens, key=key, path=path, mask=mask)
    assert np.isclose(loss, np.log(K), atol=1e-6)


def test_masked_source_exact_posterior_loss_is_entropy(key):
    """With exact posteriors the loss is E_t[(1 - t) H(π)] = H(π)/2 per token on average."""
    path = gen.MixturePath(K, "mask")
    n = 3
    entropy = -np.sum(PI * np.log(PI), -1)  # per position

    def one(k):
        k1, k2 = jax.random.split(k)
        tokens = jax.random.categorical(k1, jnp.log(jnp.asarray(PI)), shape=(64, n))
        return gen.discrete_flow_matching_loss(exact_posterior(path), tokens, key=k2, path=path)

    losses = jax.jit(jax.vmap(one))(jax.random.split(key, 400))
    stderr = losses.std(ddof=1) / np.sqrt(losses.size)
    assert abs(losses.mean() - entropy.mean() / 2) < 4 * stderr


def _check_marginals(samples, pi=PI):
    onehot = np.eye(K)[np.asarray(samples)]  # (N, n, K)
    mean = onehot.mean(0)
    stderr = onehot.std(0, ddof=1) / np.sqrt(onehot.shape[0]) + 1e-12
    z = np.abs(mean - pi) / stderr
    assert np.all(z < 4), (mean, pi, z.max())


@pytest.mark.parametrize(
    "source, method, exponent",
    [
        ("mask", "euler", 1.0),
        ("mask", "tau_leaping", 1.0),
        ("uniform", "euler", 1.0),
        ("uniform", "euler", 2.0),
    ],
)
def test_ctmc_sampler_reproduces_the_data_marginals(key, source, method, exponent):
    """Euler on a mixture path with the exact posterior is exact in its marginals."""
    path = gen.MixturePath(K, source, exponent)
    n_samples = 4000
    k0, ks = jax.random.split(key)
    x0 = jax.vmap(lambda k: path.sample_source(k, (3,)))(jax.random.split(k0, n_samples))
    run = jax.jit(
        jax.vmap(
            lambda k, x: gen.sample_ctmc(
                k, exact_posterior(path), x, path=path, num_steps=12, method=method
            )
        )
    )
    samples = run(jax.random.split(ks, n_samples), x0)
    assert samples.min() >= 0 and samples.max() < K
    _check_marginals(samples)


def test_tau_leaping_uniform_converges(key):
    path = gen.MixturePath(K, "uniform")
    n_samples = 4000
    x0 = jax.random.randint(key, (n_samples, 3), 0, K)
    run = jax.jit(
        jax.vmap(
            lambda k, x: gen.sample_ctmc(
                k, exact_posterior(path), x, path=path, num_steps=100, method="tau_leaping"
            )
        )
    )
    samples = run(jax.random.split(jax.random.fold_in(key, 1), n_samples), x0)
    freq = np.eye(K)[np.asarray(samples)].mean(0)
    assert np.max(np.abs(freq - PI)) < 0.04


def test_ctmc_padding_is_left_alone(key):
    path = gen.MixturePath(K, "mask")
    x0 = jnp.full((3,), path.mask_token)
    mask = jnp.array([True, True, False])
    out = gen.sample_ctmc(key, exact_posterior(path), x0, path=path, num_steps=5, mask=mask)
    assert out[2] == path.mask_token and bool(jnp.all(out[:2] < K))


def test_hybrid_loss_is_the_sum_of_its_parts(key):
    path = gen.MixturePath(K, "uniform")
    target = jnp.array([0.3, -0.2])
    tokens = jnp.array([[0, 1, 2], [3, 3, 0]])
    x1 = jnp.tile(target, (2, 3, 1))
    mask = jnp.array([[True, True, False], [True, True, True]])

    def model(t, state, args):
        types, x = state
        return jnp.zeros((types.shape[0], K)), (target - x) / (1.0 - t) + 0.5

    for w in (1.0, 3.0):
        loss = gen.hybrid_flow_matching_loss(
            model, tokens, x1, key=key, discrete_path=path, mask=mask, weight=w
        )
        assert np.isclose(loss, np.log(K) + w * 0.5**2 * 2, rtol=1e-4)


def test_hybrid_sampler_on_a_manifold(key):
    """Exact posteriors for the types and the exact point-mass field on Sphere(2)."""
    path = gen.MixturePath(K, "mask")
    S = manifolds.Sphere(2)
    p = jnp.array([0.0, 0.6, 0.8])
    types_model = exact_posterior(path)

    def model(t, state, args):
        types, x = state
        return types_model(t, types, args), jax.vmap(lambda y: S.logmap(y, p))(x) / (1.0 - t)

    n_samples = 2000
    k0, k1 = jax.random.split(key)
    x0 = jax.vmap(lambda k: jax.vmap(S.random_uniform)(jax.random.split(k, 3)))(
        jax.random.split(k0, n_samples)
    )
    tok0 = jnp.full((n_samples, 3), path.mask_token)
    run = jax.jit(
        jax.vmap(
            lambda k, t, x: gen.sample_hybrid(
                k, model, t, x, discrete_path=path, num_steps=10, manifold=S
            )
        )
    )
    types, x = run(jax.random.split(k1, n_samples), tok0, x0)
    _check_marginals(types)
    assert np.allclose(x, jnp.broadcast_to(p, x.shape), atol=1e-5)


def test_discrete_bad_inputs(key, no_jaxtyping):
    path = gen.MixturePath(K, "mask")
    den = exact_posterior(path)
    with pytest.raises(ValueError, match=r"source must be one of \['mask', 'uniform'\]"):
        gen.MixturePath(K, "absorbing")
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        gen.MixturePath(1)
    with pytest.raises(ValueError, match=r"method must be one of \['euler', 'tau_leaping'\]"):
        gen.sample_ctmc(key, den, jnp.zeros(3, int), path=path, num_steps=3, method="gillespie")
    with pytest.raises(TypeError, match="tokens must hold integer class labels"):
        gen.discrete_flow_matching_loss(den, jnp.zeros((2, 3)), key=key, path=path)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 3\)"):
        gen.discrete_flow_matching_loss(
            den, jnp.zeros((2, 3), int), key=key, path=path, mask=jnp.ones((2, 4), bool)
        )
    with pytest.raises(ValueError, match="a set is all padding"):
        gen.discrete_flow_matching_loss(
            den, jnp.zeros((2, 3), int), key=key, path=path, mask=jnp.zeros((2, 3), bool)
        )
    with pytest.raises(ValueError, match=r"cond must have one row per example \(2\)"):
        gen.discrete_flow_matching_loss(
            den, jnp.zeros((2, 3), int), key=key, path=path, cond=jnp.zeros((5, 1))
        )
    with pytest.raises(ValueError, match=r"logits of shape \(n, num_classes\)"):
        gen.discrete_flow_matching_loss(
            lambda t, x, a: jnp.zeros((3, 7)), jnp.zeros((2, 3), int), key=key, path=path
        )
    with pytest.raises(ValueError, match="must share the"):
        gen.hybrid_flow_matching_loss(
            lambda t, s, a: s,
            jnp.zeros((2, 3), int),
            jnp.zeros((2, 4, 2)),
            key=key,
            discrete_path=path,
        )


def test_hybrid_loss_on_a_manifold_uses_the_geodesic_path(key):
    path = gen.MixturePath(K, "mask")
    S = manifolds.Sphere(2)
    p = jnp.array([0.0, 0.6, 0.8])
    tokens = jnp.array([[0, 1, 2], [2, 2, 1]])
    x1 = jnp.where(jnp.array([[1, 1, 0], [1, 1, 1]], bool)[..., None], p, 0.0)
    mask = jnp.array([[True, True, False], [True, True, True]])

    def model(t, state, args):
        types, x = state
        v = jax.vmap(lambda y: S.logmap(y, p))(x) / (1.0 - t) + 2.0 * x  # normal part projected
        return jnp.zeros((types.shape[0], K)), v

    loss = jax.jit(
        lambda x1: gen.hybrid_flow_matching_loss(
            model, tokens, x1, key=key, discrete_path=path, path=S, mask=mask
        )
    )(x1)
    assert np.isclose(loss, np.log(K), atol=1e-4)
