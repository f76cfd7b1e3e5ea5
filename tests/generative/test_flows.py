"""ConditionalSplineFlow: a normalised density, exact inverse and log-determinant, sampling
that matches the density, and conditioning that learns."""

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from hepjax.generative import ConditionalSplineFlow

# (dim, num_transforms): the scan over one-dimensional layers; pairs of coupling layers plus a
# last layer, with halves of unequal size. The density and the Jacobian tests together check
# the change of variables in any dimension.
SHAPES = [(1, 2), (3, 3)]


def _perturbed(flow, key, scale=0.2):
    """The flow with random parameters (a new flow is the identity)."""
    params, static = eqx.partition(flow, eqx.is_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    return eqx.combine(unravel(flat + scale * jax.random.normal(key, flat.shape)), static)


@pytest.fixture(scope="module")
def flows():
    """New flows and perturbed copies, built once for the module."""
    out = {}
    for i, (dim, num_transforms) in enumerate(SHAPES):
        k_init, k_perturb = jax.random.split(jax.random.key(i))
        new = ConditionalSplineFlow(
            dim, 1, hidden_size=8, num_transforms=num_transforms, key=k_init
        )
        out[dim] = (new, _perturbed(new, k_perturb))
    return out


@eqx.filter_jit
def _log_prob(flow, y, context):
    return jax.vmap(flow.log_prob, in_axes=(0, None))(y, context)


@eqx.filter_jit
def _sample(flow, keys, context):
    return jax.vmap(flow.sample, in_axes=(0, None))(keys, context)


@eqx.filter_jit
def _round_trip(flow, y, context):
    z, log_det = flow.inverse_and_log_det(y, context)
    y_back, log_det_back = flow.transform_and_log_det(z, context)
    jac = jax.jacobian(lambda a: flow.inverse_and_log_det(a, context)[0])(y)
    return z, y_back, log_det, log_det_back, jnp.linalg.slogdet(jac)[1]


def _grid(dim, half_width, num):
    g = np.linspace(-half_width, half_width, num)
    mesh = np.stack(np.meshgrid(*([g] * dim), indexing="ij"), -1).reshape(-1, dim)
    return jnp.asarray(mesh, jnp.float32), (g[1] - g[0]) ** dim


def test_a_new_flow_is_a_standard_normal(flows):
    new, _ = flows[3]
    y = jnp.array([[0.3, -1.2, 6.0]])  # 6 is outside the splines' range [-5, 5]
    expected = stats.norm.logpdf(np.asarray(y)).sum()
    np.testing.assert_allclose(_log_prob(new, y, jnp.ones(1))[0], expected, rtol=1e-6)


@pytest.mark.parametrize("dim", [dim for dim, _ in SHAPES])
def test_inverse_and_log_det_against_jacobian(dim, flows, key):
    _, flow = flows[dim]
    context = jnp.array([0.7])
    # points inside and outside the splines' range [-5, 5]
    ys = jnp.concatenate([jax.random.normal(key, (3, dim)), jnp.full((1, dim), 7.0)])
    for y in ys:
        z, y_back, log_det, log_det_back, ref = _round_trip(flow, y, context)
        assert not np.allclose(z, y, atol=1e-3)  # the flow is not the identity any more
        np.testing.assert_allclose(y_back, y, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(log_det, ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(log_det_back, -log_det, rtol=1e-4, atol=1e-4)


def test_density_normalises_and_sampling_matches_it(flows, key):
    _, flow = flows[1]
    context = jnp.array([0.5])
    grid, cell = _grid(1, 12.0, 4001)
    dens = np.exp(np.asarray(_log_prob(flow, grid, context), np.float64))
    assert abs(dens.sum() * cell - 1.0) < 2e-3
    # the mean of draws from sample() agrees with the mean under log_prob within 4 stderr
    n = 20_000
    draws = np.asarray(_sample(flow, jax.random.split(key, n), context))
    mean = (dens[:, None] * np.asarray(grid)).sum(0) * cell
    stderr = draws.std(0) / np.sqrt(n)
    assert np.all(np.abs(draws.mean(0) - mean) < 4 * stderr)
    assert np.all(draws.std(0) > 0.1)
    # another context, another density
    other = np.asarray(_log_prob(flow, grid[:50], -context))
    assert np.max(np.abs(other - np.log(dens[:50]))) > 1e-2


def test_jit_and_vmap_agree(flows, key):
    _, flow = flows[3]
    ys, cs = jax.random.normal(key, (4, 3)), jnp.linspace(-1, 1, 4)[:, None]
    one = eqx.filter_jit(lambda f, y, c: f.log_prob(y, c))
    loop = np.array([float(one(flow, y, c)) for y, c in zip(ys, cs, strict=True)])
    batched = eqx.filter_jit(lambda f, y, c: jax.vmap(f.log_prob)(y, c))
    np.testing.assert_allclose(batched(flow, ys, cs), loop, rtol=1e-5)


def test_conditioning_is_learned(flows, key):
    """y | c ~ N(2c, 0.3^2): a short fit puts the conditional law where it belongs."""
    k_c, k_e, k_sample = jax.random.split(key, 3)
    flow, _ = flows[1]
    c = jax.random.uniform(k_c, (2048, 1), minval=-1.0, maxval=1.0)
    y = 2.0 * c + 0.3 * jax.random.normal(k_e, (2048, 1))
    opt = optax.adam(1e-2)
    state = opt.init(eqx.filter(flow, eqx.is_array))

    @eqx.filter_jit
    def step(flow, state, i):
        idx = (i * 256 + jnp.arange(256)) % 2048
        loss = lambda f: -jnp.mean(jax.vmap(f.log_prob)(y[idx], c[idx]))
        updates, state = opt.update(eqx.filter_grad(loss)(flow), state)
        return eqx.apply_updates(flow, updates), state

    for i in range(300):
        flow, state = step(flow, state, jnp.asarray(i))
    n = 4000
    for c_value in (-0.8, 0.8):
        draws = np.asarray(_sample(flow, jax.random.split(k_sample, n), jnp.array([c_value])))
        assert np.all(np.abs(draws.mean(0) - 2 * c_value) < 0.1)
        assert np.all(np.abs(draws.std(0) - 0.3) < 0.1)


def test_errors(flows, key, no_jaxtyping):
    flow, _ = flows[3]
    with pytest.raises(ValueError, match=r"y must have shape \(3\), got \(2\)"):
        flow.log_prob(jnp.zeros(2), jnp.zeros(1))
    with pytest.raises(ValueError, match=r"context must have shape \(1\), got \(2\)"):
        flow.log_prob(jnp.zeros(3), jnp.zeros(2))
    with pytest.raises(ValueError, match=r"z must have shape \(3\)"):
        flow.transform_and_log_det(jnp.zeros((4, 3)), jnp.zeros(1))
    with pytest.raises(ValueError, match="num_transforms must be a positive int, got 0"):
        ConditionalSplineFlow(2, 3, num_transforms=0, key=key)
    with pytest.raises(ValueError, match="num_layers must be a positive int, got 0"):
        ConditionalSplineFlow(2, 3, num_layers=0, key=key)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        ConditionalSplineFlow(2, 3, hidden_size=2.5, key=key)
    with pytest.raises(ValueError, match="tail_bound must be finite and > 0"):
        ConditionalSplineFlow(2, 3, tail_bound=-1.0, key=key)
