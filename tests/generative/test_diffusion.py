"""EDM preconditioning and loss, SDE samplers against exact Gaussian recursions, SDEdit."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import generative as gen

MU, S = 1.5, 0.7  # data N(MU, S^2) per coordinate


def gaussian_denoiser(sigma, x, args):
    """The exact D(x; σ) = E[y | y + σn = x] for y ~ N(MU, S^2)."""
    return MU + S**2 / (S**2 + sigma**2) * (x - MU)


def test_preconditioning_coefficients():
    net = lambda c_noise, x, args: jnp.full_like(x, c_noise)
    den = gen.EDMDenoiser(net, sigma_data=0.5)
    x, sigma = jnp.array([2.0, -1.0]), 0.3
    sd2, s2 = 0.25, 0.09
    expected = sd2 / (s2 + sd2) * x + sigma * 0.5 / math.sqrt(s2 + sd2) * 0.25 * math.log(sigma)
    assert np.allclose(den(sigma, x), expected, atol=1e-6)
    seen = {}

    def net2(c, x, args):
        seen["x"] = x
        return x

    gen.EDMDenoiser(net2, sigma_data=0.5)(sigma, x)
    assert np.allclose(seen["x"], x / math.sqrt(s2 + sd2))


def test_edm_loss_of_the_exact_denoiser_is_one_per_coordinate(key, x64):
    """For data N(0, σ_d^2), λ(σ) E||D* - y||^2 = 1 per coordinate at every σ."""
    sd = 0.5
    exact = lambda sigma, x, args: sd**2 / (sd**2 + sigma**2) * x
    d = 3

    def one(k):
        k1, k2 = jax.random.split(k)
        y = sd * jax.random.normal(k1, (32, 4, d))
        mask = jnp.arange(4) < jnp.array([4, 1] * 16)[:, None]
        return gen.edm_loss(exact, y, key=k2, sigma_data=sd, mask=mask)

    losses = jax.jit(jax.vmap(one))(jax.random.split(key, 300))
    stderr = losses.std(ddof=1) / np.sqrt(losses.size)
    assert abs(losses.mean() - d) < 4 * stderr


def recursion(sigmas, method, s_churn=0.0, m0=0.3):
    """Exact mean offset and variance of the sampler's output for Gaussian data."""
    m, v = m0, S**2 + sigmas[0] ** 2  # start: N(MU + m0, S^2 + σ_0^2)
    n = len(sigmas) - 1
    gamma = min(s_churn / n, math.sqrt(2) - 1)
    for s, s_next in itertools.pairwise(sigmas):
        if method == "euler_maruyama":
            if s_next > 0:
                a = 1 - (s**2 - s_next**2) / (S**2 + s**2)
                m, v = a * m, a * a * v + s**2 - s_next**2
            else:
                a = S**2 / (S**2 + s**2)
                m, v = a * m, a * a * v
        else:
            s_hat = s * (1 + gamma)
            v = v + s_hat**2 - s**2
            d1 = s_hat / (S**2 + s_hat**2)
            e = 1 + (s_next - s_hat) * d1
            c = (
                e
                if s_next == 0
                else 1 + (s_next - s_hat) / 2 * (d1 + e * s_next / (S**2 + s_next**2))
            )
            m, v = c * m, c * c * v
    return m, v


@pytest.mark.parametrize(
    "method, churn", [("euler_maruyama", 0.0), ("karras", 0.0), ("karras", 10.0)]
)
def test_sde_samplers_match_their_exact_gaussian_recursion(key, x64, method, churn):
    sigmas = np.asarray(gen.karras_sigmas(20, sigma_min=0.01, sigma_max=10.0))
    n = 20000
    k0, k1 = jax.random.split(key)
    x0 = MU + 0.3 + np.sqrt(S**2 + sigmas[0] ** 2) * jax.random.normal(k0, (n, 1))
    run = jax.jit(
        jax.vmap(
            lambda k, x: gen.sample_sde(
                k, gaussian_denoiser, x, sigmas, method=method, s_churn=churn
            )
        )
    )
    out = np.asarray(run(jax.random.split(k1, n), x0))[:, 0] - MU
    m, v = recursion(sigmas, method, churn)
    assert abs(out.mean() - m) < 4 * out.std(ddof=1) / np.sqrt(n)
    sq = (out - out.mean()) ** 2
    assert abs(sq.mean() - v) < 4 * sq.std(ddof=1) / np.sqrt(n)


def test_samplers_converge_to_the_data_distribution():
    """The exact recursions approach N(MU, S^2) as the grid is refined."""
    for method in ("euler_maruyama", "karras"):
        errs = []
        for steps in (10, 40, 160):
            sig = np.asarray(gen.karras_sigmas(steps, sigma_min=1e-3, sigma_max=10.0))
            m, v = recursion(sig, method, m0=0.0)
            errs.append(abs(v - S**2) + abs(m))
            print(method, steps, "steps: |var - S^2| + |mean offset| =", errs[-1])
        assert errs[2] < errs[1] < errs[0], (method, errs)
        # 4x more steps: at least first-order (EM) / second-order (Heun) gains
        assert errs[1] / errs[2] > (3.0 if method == "euler_maruyama" else 10.0), errs
    sig = np.asarray(gen.karras_sigmas(40, sigma_min=1e-3, sigma_max=10.0))
    assert abs(recursion(sig, "karras", m0=0.0)[1] - S**2) < 0.01  # Heun: accurate with few steps


def test_karras_sigmas():
    s = np.asarray(gen.karras_sigmas(5, sigma_min=0.002, sigma_max=80.0, rho=7.0))
    assert s.shape == (6,) and s[-1] == 0.0
    assert np.isclose(s[0], 80.0) and np.isclose(s[4], 0.002)
    assert np.all(np.diff(s) < 0)


def test_sdedit_keeps_the_input_at_small_noise_and_padding_fixed(key):
    x = jnp.array([[1.0, 2.0], [0.5, -0.5], [9.0, 9.0]])
    mask = jnp.array([True, True, False])
    small = gen.sdedit(key, gaussian_denoiser, x, sigma_start=0.01, num_steps=5, mask=mask)
    assert np.allclose(small[:2], gaussian_denoiser(0.0, x[:2], None), atol=0.03)
    assert np.array_equal(small[2], x[2])
    big = jax.vmap(
        lambda k: gen.sdedit(k, gaussian_denoiser, x[0], sigma_start=50.0, num_steps=30)
    )(jax.random.split(key, 4000))
    # a large sigma_start forgets the input: the output follows the data distribution
    assert abs(float(big.mean()) - MU) < 4 * float(big.std()) / np.sqrt(big.size) + 0.02
    assert abs(float(big.std()) - S) < 0.03


def test_diffusion_bad_inputs(key, no_jaxtyping):
    sigmas = gen.karras_sigmas(4)
    with pytest.raises(ValueError, match=r"method must be one of \['euler_maruyama', 'karras'\]"):
        gen.sample_sde(key, gaussian_denoiser, jnp.zeros(2), sigmas, method="ddim")
    with pytest.raises(ValueError, match="sigmas must be a 1-d grid"):
        gen.sample_sde(key, gaussian_denoiser, jnp.zeros(2), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="num_steps must be an int >= 2"):
        gen.karras_sigmas(1)
    with pytest.raises(ValueError, match="sigma_data must be finite and > 0"):
        gen.EDMDenoiser(gaussian_denoiser, sigma_data=0.0)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 3\)"):
        gen.edm_loss(gaussian_denoiser, jnp.zeros((2, 3, 1)), key=key, mask=jnp.ones((2, 2), bool))
    with pytest.raises(ValueError, match=r"cond must have one row per example \(2\)"):
        gen.edm_loss(gaussian_denoiser, jnp.zeros((2, 3)), key=key, cond=jnp.ones((3, 1)))
